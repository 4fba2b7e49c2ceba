"""The REST API (``/api/v1``, ``/healthz``, ``/readyz``) on a real server on loopback, beside
the page in the same process, over the test engine."""

from __future__ import annotations

import base64
import socket

import httpx
import pytest

from policyqa import web
from policyqa.config import Settings
from policyqa.web.rest import Credentials, RateLimit, ApiError
from tests.fake_engine import FakeEngine

TOKEN = "t0ken-for-the-statistics-office"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(**settings_kwargs):
    settings = Settings(model="hash:256", port=_free_port(), **settings_kwargs)
    engine = FakeEngine()
    app = web.build_app(engine)
    web.launch(app, settings, engine=engine, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    return f"http://127.0.0.1:{settings.port}", app, engine


@pytest.fixture(scope="module")
def open_server():
    url, app, engine = _serve()
    yield url, engine
    app.close()


@pytest.fixture(scope="module")
def locked_server():
    url, app, engine = _serve(auth="clerk:s3cret", api_tokens=f"other, {TOKEN}", api_rate_per_minute=1000)
    yield url, engine
    app.close()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_search_ask_compare_precedents_answer_as_the_cli_does(open_server):
    url, engine = open_server
    api = url + "/api/v1"
    s = httpx.post(f"{api}/search", json={"query": "校园安全", "k": 2}, timeout=30)
    assert s.status_code == 200 and s.json() == engine.search("校园安全", k=2).to_json()
    a = httpx.post(f"{api}/ask", json={"question": "交流轮岗教师比例有什么要求？"}, timeout=30).json()
    cited = a["citations"][0]
    assert engine.source_text(cited["source"])[cited["start"]:cited["end"]] == cited["text"]
    follow = httpx.post(f"{api}/ask", json={"question": "比例呢？", "history": ["教师交流轮岗有什么要求？"]},
                        timeout=30).json()
    assert follow["question"] == "比例呢？" and "交流轮岗" in follow["searched_as"]
    c = httpx.post(f"{api}/compare", json={"topic": "学前教育毛入园率"}, timeout=30).json()
    assert c == engine.compare("学前教育毛入园率").to_json()
    draft = "全面推进教师交流轮岗，每年交流轮岗教师比例不低于应交流人数的10%。"
    p = httpx.post(f"{api}/precedents", json={"text": draft, "k": 3}, timeout=30).json()
    assert p == engine.precedents(draft, k=3).to_json()


def test_documents_and_a_documents_text(open_server):
    url, engine = open_server
    docs = httpx.get(f"{url}/api/v1/documents", timeout=10).json()["documents"]
    assert {d["doc_id"] for d in docs} == {d.doc_id for d in engine.documents()}
    first = engine.documents()[0]
    text = httpx.get(f"{url}/api/v1/documents/{first.doc_id}/text", timeout=10).json()
    assert text["text"] == engine.source_text(first.source)[first.start:first.end]
    missing = httpx.get(f"{url}/api/v1/documents/nope/text", timeout=10)
    assert missing.status_code == 404 and "GET /api/v1/documents" in missing.json()["error"]


def test_errors_are_json_with_the_messages_the_cli_gives(open_server):
    url, engine = open_server
    api = url + "/api/v1"
    empty = httpx.post(f"{api}/ask", json={"question": "  "}, timeout=10)
    assert empty.status_code == 400 and "请输入问题" in empty.json()["error"]
    long = httpx.post(f"{api}/search", json={"query": "教" * (engine.settings.max_query_chars + 1)}, timeout=10)
    assert long.status_code == 400 and "超过上限" in long.json()["error"]
    bad_k = httpx.post(f"{api}/search", json={"query": "教师", "k": -1}, timeout=10)
    assert bad_k.status_code == 400 and bad_k.json()["error"]
    malformed = httpx.post(f"{api}/search", content=b"{not json", headers={"Content-Type": "application/json"},
                           timeout=10)
    assert malformed.status_code == 400 and malformed.json()["error"].startswith("请求格式有误")
    missing = httpx.post(f"{api}/search", json={"k": 3}, timeout=10)
    assert missing.status_code == 400 and "query" in missing.json()["error"]


def test_health_readiness_and_the_openapi_description(open_server):
    url, engine = open_server
    assert httpx.get(f"{url}/healthz", timeout=10).json() == {"ok": True}
    ready = httpx.get(f"{url}/readyz", timeout=10).json()
    assert ready["ready"] is True and ready["documents"] == len(engine.documents())
    paths = httpx.get(f"{url}/api/v1/openapi.json", timeout=10).json()["paths"]
    assert {"/search", "/ask", "/compare", "/precedents", "/documents", "/documents/{doc_id}/text",
            "/library/files", "/library/reindex", "/readyz"} <= set(paths)
    assert httpx.get(f"{url}/config", timeout=10).status_code == 200  # the page is still served


def test_without_a_login_library_changes_are_refused(open_server):
    url, engine = open_server
    before = engine.library()
    r = httpx.post(f"{url}/api/v1/library/files", files={"file": ("new.txt", "内容".encode())}, timeout=10)
    assert r.status_code == 403 and "--auth" in r.json()["error"]
    assert httpx.post(f"{url}/api/v1/library/reindex", timeout=10).status_code == 403
    assert engine.library() == before


def test_a_login_or_a_token_is_required_and_library_changes_work_with_one(locked_server):
    url, engine = locked_server
    api = url + "/api/v1"
    refused = httpx.post(f"{api}/search", json={"query": "教师"}, timeout=10)
    assert refused.status_code == 401 and "Bearer" in refused.json()["error"]
    assert refused.headers["WWW-Authenticate"].startswith("Basic")
    wrong = httpx.post(f"{api}/search", json={"query": "教师"}, headers=_basic("clerk", "nope"), timeout=10)
    assert wrong.status_code == 401
    assert httpx.post(f"{api}/search", json={"query": "教师"}, headers={"Authorization": "Bearer x"},
                      timeout=10).status_code == 401
    ok = httpx.post(f"{api}/search", json={"query": "教师"}, headers=_basic("clerk", "s3cret"), timeout=10)
    assert ok.status_code == 200 and ok.json()["results"]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    text = "北区2025年工作计划\n\n一、冰雪运动\n推进冰雪运动进校园，建设冰雪特色学校8所。\n"
    saved = httpx.post(f"{api}/library/files", files={"file": ("北区计划.txt", text.encode())}, headers=bearer,
                       timeout=10)
    assert saved.status_code == 200, saved.text
    summary = httpx.post(f"{api}/library/reindex", headers=bearer, timeout=60)
    assert summary.status_code == 200 and summary.json()["added"]
    found = httpx.post(f"{api}/search", json={"query": "冰雪运动进校园", "k": 1}, headers=bearer, timeout=10).json()
    assert found["results"][0]["source"] == saved.json()["saved"]
    gone = httpx.delete(f"{api}/library/files/{saved.json()['saved']}", headers=bearer, timeout=10)
    assert gone.status_code == 200
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200  # health needs no login


def test_bodies_over_the_limit_are_refused_before_they_are_read():
    url, app, _engine = _serve(api_max_body_bytes=2000)
    try:
        r = httpx.post(f"{url}/api/v1/precedents", json={"text": "教" * 3000}, timeout=10)
        assert r.status_code == 413 and "api_max_body_bytes" in r.json()["error"]
    finally:
        app.close()


def test_a_client_over_its_rate_is_told_when_to_come_back():
    url, app, _engine = _serve(api_rate_per_minute=3)
    try:
        codes = [httpx.get(f"{url}/api/v1/documents", timeout=10).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        last = httpx.get(f"{url}/api/v1/documents", timeout=10)
        assert 1 <= int(last.headers["Retry-After"]) <= 60 and "每分钟最多 3 次" in last.json()["error"]
    finally:
        app.close()


def test_rate_limit_window_slides():
    now = [0.0]
    limit = RateLimit(2, clock=lambda: now[0])
    limit.check("a")
    limit.check("a")
    limit.check("b")
    with pytest.raises(ApiError) as refused:
        limit.check("a")
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "60"
    now[0] = 60.5
    limit.check("a")


def test_credentials_compare_tokens_and_logins_exactly():
    creds = Credentials(("clerk", "a:b"), ("tok",))
    assert creds.accepts("Bearer tok") and creds.accepts("bearer  tok")
    assert not creds.accepts("Bearer tok2") and not creds.accepts("Bearer ") and not creds.accepts("")
    assert creds.accepts(_basic("clerk", "a:b")["Authorization"])
    assert not creds.accepts(_basic("clerk", "a")["Authorization"]) and not creds.accepts("Basic %%%")
    assert not Credentials().configured and not Credentials().accepts("Bearer ")
