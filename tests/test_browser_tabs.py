"""Drive the 文库 / 对比 / 找先例 tabs of the real page in headless Chromium, over the REAL
engine on a small temporary corpus indexed with the deterministic ``HashEmbedder``.

Screenshots of each tab land in tests/artifacts/screenshots/ (browser_support.shot).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.browser_support import MARKS, TITLE, free_port, launch_browser, open_page, shot, tab
from tests.conftest import PLAN_A, PLAN_B, write

pytestmark = MARKS

PLAN_C = "某区教育局2024年工作计划\n\n一、学前教育\n到2025年，学前三年毛入园率达到95%。\n二、队伍\n开展教师培训。\n"
NEW_TEXT = "北区教育局2025年工作计划\n\n一、冰雪运动\n推进冰雪运动进校园，建设冰雪特色学校8所。\n"


@pytest.fixture(scope="module")
def real_site(tmp_path_factory):
    """(url, engine, base folder): the real Engine over plan_a/plan_b, served."""
    from policyqa.api import Engine
    from policyqa.config import load_settings
    from policyqa.embed import HashEmbedder
    from policyqa.web import build_app, launch

    base = tmp_path_factory.mktemp("site")
    corpus = base / "data" / "corpus"
    write(corpus / "plan_a.txt", PLAN_A)
    write(corpus / "sub" / "plan_b_gbk.txt", PLAN_B, encoding="gbk")
    write(corpus / "plan_c.txt", PLAN_C)
    settings = load_settings(env={}, corpus=corpus, index_dir=base / "data" / "index", model="hash:128",
                             host="127.0.0.1", port=free_port())
    engine = Engine.open(settings, build_if_needed=True, embedder=HashEmbedder(128))
    app = build_app(engine)
    launch(app, settings, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    yield f"http://127.0.0.1:{settings.port}/", engine, base
    app.close()


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


@pytest.fixture
def page(browser, real_site):
    yield from open_page(browser, real_site[0], height=800)


def _download(page, link) -> Path:
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    return Path(info.value.path())


def _docx_text(path: Path) -> str:
    from docx import Document

    doc = Document(str(path))
    return "\n".join([p.text for p in doc.paragraphs] + [c.text for t in doc.tables for r in t.rows for c in r.cells])


def _search(page, text: str) -> str:
    tab(page, "检索")
    page.locator("#search-input textarea").fill(text)
    results = page.locator("#search-results")
    before = results.inner_text()
    page.locator("#search-btn").click()
    page.wait_for_function(
        "(before) => { const t = document.querySelector('#search-results').innerText;"
        " return t !== before && !/processing|\\d+\\.\\d+s/.test(t)"
        " && !!document.querySelector('#search-results .pqa-card, #search-results .pqa-empty'); }",
        arg=before)
    return results.inner_text()


def _upload(page, name: str, text: str, done: str = "新增") -> None:
    """Upload one file on the 文库 tab and wait for the report (``done``, a word in it)."""
    tab(page, "文库")
    upload = page.locator("#lib-upload")
    upload.get_by_text("点击上传").wait_for()
    shown = name.rsplit("/", 1)[-1]
    # the box is cleared after each upload: wait for it, or the previous file is still shown
    # (and sent again) when the next one has the same name
    page.wait_for_function("n => !document.querySelector('#lib-upload').innerText.includes(n)", arg=shown)
    for attempt in range(3):  # the file input can be swapped while the tab first renders
        # (on a busy machine the first file can show late: setting it again would upload two)
        if not upload.get_by_text(shown).count():
            upload.locator("input[type=file]").set_input_files(
                files=[{"name": name, "mimeType": "text/plain", "buffer": text.encode("utf-8")}])
        try:
            upload.get_by_text(shown).first.wait_for(timeout=10_000)
            break
        except Exception:
            if attempt == 2:
                raise
    page.locator("#lib-upload-btn").click()
    page.locator("#lib-msg").get_by_text(done).first.wait_for()


def _options(page, selector: str) -> list[str]:
    page.locator(f"{selector} input").click()
    page.get_by_role("option").first.wait_for()
    names = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return names


def _wait_offered(page, selector: str, name: str) -> None:
    page.locator(f"{selector} input").click()
    page.get_by_role("option", name=name).wait_for()
    page.keyboard.press("Escape")


def test_library_change_reaches_another_session(browser, real_site):
    """Session B, open before session A uploads, sees the new document in its lists when it
    opens a tab that shows them, and after a reload."""
    url, engine, _ = real_site
    title = "西区教育局2026年工作计划"
    for other in open_page(browser, url):
        tab(other, "检索")
        assert title not in _options(other, "#filter-doc")
        tab(other, "问答")
        for uploader in open_page(browser, url):
            _upload(uploader, "west.txt", f"{title}\n\n一、劳动教育\n每周开设劳动课不少于1课时。\n")
        tab(other, "文档")
        _wait_offered(other, "#doc-select", title)
        tab(other, "检索")
        _wait_offered(other, "#filter-doc", title)
        tab(other, "文库")
        other.locator("#lib-table").get_by_text("west.txt").first.wait_for()
        shot(other, "10-library-other-session", "library")
        other.reload()
        other.get_by_text(TITLE).wait_for()
        tab(other, "检索")
        assert title in _options(other, "#filter-doc")  # a fresh page's filters too
    engine.remove_source("west.txt")
    engine.reindex()


def test_library_upload_search_remove(page, real_site):
    _, engine, base = real_site
    corpus = engine.settings.corpus
    tab(page, "文库")
    table = page.locator("#lib-table")
    table.get_by_text("plan_a.txt").first.wait_for()
    assert "sub/plan_b_gbk.txt" in table.inner_text()
    before = {p for p in base.rglob("*") if p.is_file() and corpus not in p.parents}

    # upload a file with a hostile name
    _upload(page, "../../evil.txt", NEW_TEXT)
    msg = page.locator("#lib-msg")
    assert "evil.txt" in msg.inner_text()
    table.get_by_text("evil.txt").first.wait_for()
    assert "北区教育局2025年工作计划" in table.inner_text()
    assert (corpus / "evil.txt").is_file()
    after = {p for p in base.rglob("*") if p.is_file() and corpus not in p.parents}
    assert {p for p in after - before if "evil" in p.name} == set()  # nothing outside the corpus
    shot(page, "5-library", "library")

    # the new document is searchable at once and offered in the filters
    assert "冰雪特色学校8所" in _search(page, "冰雪运动进校园")
    page.locator("#filter-doc input").click()
    page.get_by_role("option", name="北区教育局2025年工作计划").wait_for()
    page.keyboard.press("Escape")

    # remove it: the first click without confirmation is refused
    tab(page, "文库")
    page.locator("#lib-remove input").click()
    page.get_by_role("option", name="evil.txt — 北区教育局2025年工作计划").click()
    page.locator("#lib-remove-btn").click()
    page.get_by_text("请先勾选“确认删除”").first.wait_for()
    assert (corpus / "evil.txt").is_file()
    page.locator("#lib-confirm input").check()
    page.locator("#lib-remove-btn").click()
    msg.get_by_text("已从文库删除").wait_for()
    page.wait_for_function("() => !document.querySelector('#lib-table').innerText.includes('evil.txt')")
    assert not (corpus / "evil.txt").exists()
    assert "冰雪特色学校" not in _search(page, "冰雪运动进校园")
    assert page.dialogs == []


def test_upload_of_a_name_in_the_library_keeps_both(page, real_site):
    _, engine, _ = real_site
    corpus = engine.settings.corpus
    _upload(page, "同名计划.txt", "东区教育局2025年工作计划\n\n一、体育\n新建足球场3块。\n")
    _upload(page, "同名计划.txt", "东区教育局2026年工作计划\n\n一、体育\n新建足球场5块。\n", done="两份都保留")
    msg = page.locator("#lib-msg").inner_text()
    assert "文库中已有同名文件 同名计划.txt，新文件另存为 同名计划(2).txt，两份都保留" in msg
    table = page.locator("#lib-table")
    table.get_by_text("同名计划(2).txt").first.wait_for()
    assert "东区教育局2025年工作计划" in table.inner_text() and "东区教育局2026年工作计划" in table.inner_text()
    assert "3块" in (corpus / "同名计划.txt").read_text(encoding="utf-8")  # the first is not replaced
    assert "5块" in (corpus / "同名计划(2).txt").read_text(encoding="utf-8")
    shot(page, "5-library-same-name", "library")
    for name in ("同名计划.txt", "同名计划(2).txt"):
        engine.remove_source(name)
    engine.reindex()


def test_compare_table_csv_and_open_row(page):
    tab(page, "对比")
    box = page.locator("#compare-input textarea")
    box.fill("学前教育毛入园率")
    box.press("Enter")
    table = page.locator("#compare-table")
    table.locator("mark", has_text="95%").wait_for()
    text = table.inner_text()
    assert "全县学前三年毛入园率达到92%以上" in text and "某区教育局2024年工作计划" in text
    assert "到2025年" in text
    page.wait_for_timeout(400)  # let the pending-state fade finish before the screenshot
    shot(page, "6-compare", "compare")
    # CSV download: UTF-8 with BOM
    link = page.locator("#compare-csv a").first
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    raw = Path(info.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "学前三年毛入园率达到95%" in raw.decode("utf-8-sig")
    # the same table as Excel and Word, downloaded from the page and read back
    sheet = _download(page, page.locator("#compare-csv a[download$='.xlsx']"))
    from openpyxl import load_workbook

    cells = [c for row in load_workbook(io.BytesIO(sheet.read_bytes())).active.iter_rows(values_only=True) for c in row]
    assert "学前三年毛入园率达到95%。" in " ".join(str(c) for c in cells if c)
    assert "学前三年毛入园率达到95%" in _docx_text(_download(page, page.locator("#compare-csv a[download$='.docx']")))
    # click a row: the document view opens with its sentence highlighted
    table.locator("tr", has_text="某区教育局2024年工作计划").click()
    page.locator("#doc-view mark.pqa-hit", has_text="学前三年毛入园率达到95%").wait_for(state="visible")
    assert page.dialogs == []


def test_precedents_grouped_marked_and_openable(page):
    tab(page, "找先例")
    page.locator("#prec-input textarea").fill(
        "到2026年，全区学前三年毛入园率要达到96%以上。开展幼儿园保教质量评估，防止小学化。")
    page.locator("#prec-btn").click()
    results = page.locator("#prec-results")
    results.locator(".pqa-group mark").first.wait_for()
    text = results.inner_text()
    assert "某区教育局2024年工作计划" in text and "某县教育局2023年工作计划" in text
    assert "与草稿" in text and "句对应" in text
    page.wait_for_timeout(400)
    shot(page, "7-precedents", "precedents")
    assert "某区教育局2024年工作计划" in _docx_text(_download(page, page.locator("#prec-docx a").first))
    group = results.locator(".pqa-group", has_text="某区教育局2024年工作计划")
    group.locator(".pqa-pass").first.click()
    page.locator("#doc-view mark.pqa-hit").first.wait_for(state="visible")
    marked = "".join(page.locator("#doc-view mark.pqa-hit").all_inner_texts())
    assert "学前三年毛入园率达到95%" in marked
    assert page.dialogs == []


TRADITIONAL_SAMPLE = "004_4a79f1c835e673f9.txt"  # the sample corpus's traditional-Chinese file


@pytest.fixture(scope="module")
def traditional_site(tmp_path_factory):
    """The real Engine over the sample corpus's traditional-Chinese file alone, served."""
    import shutil

    from policyqa.api import Engine
    from policyqa.config import load_settings
    from policyqa.embed import HashEmbedder
    from policyqa.web import build_app, launch
    from tests.conftest import SAMPLE_CORPUS

    base = tmp_path_factory.mktemp("tw")
    (base / "corpus").mkdir()
    shutil.copy(SAMPLE_CORPUS / TRADITIONAL_SAMPLE, base / "corpus")
    settings = load_settings(env={}, corpus=base / "corpus", index_dir=base / "index", model="hash:128",
                             host="127.0.0.1", port=free_port())
    engine = Engine.open(settings, build_if_needed=True, embedder=HashEmbedder(128))
    app = build_app(engine)
    launch(app, settings, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    yield f"http://127.0.0.1:{settings.port}/", engine
    app.close()


def test_simplified_view_of_the_traditional_sample(browser, traditional_site):
    """The traditional sample: a search result opened in 文档, then 显示为简体 — the document,
    its outline and the highlight in simplified characters, the highlight on the same
    characters (the same length, converted); unticked, the original again."""
    from policyqa.text import fold

    url, engine = traditional_site
    for page in open_page(browser, url):
        _search(page, "督導評估")
        results = page.locator("#search-results")
        results.locator(".pqa-card").first.click()
        view = page.locator("#doc-view")
        view.locator("mark.pqa-hit").first.wait_for(state="visible")
        original = "".join(view.locator("mark.pqa-hit").all_inner_texts())
        title = view.locator(".pqa-title").inner_text()
        assert "督導" in title and original and fold(original) != original
        page.locator("#simplified input").check()
        view.get_by_text(fold(title)).first.wait_for()
        marked = "".join(view.locator("mark.pqa-hit").all_inner_texts())
        assert marked == fold(original) and len(marked) == len(original)
        assert "督导" in page.locator("#doc-outline").inner_text()
        shot(page, "12-traditional-sample-simplified", "doc")
        tab(page, "检索")  # the results were re-rendered too
        results.get_by_text(fold(title)).first.wait_for()
        tab(page, "文档")
        page.locator("#simplified input").uncheck()
        view.get_by_text(title).first.wait_for()
        assert "".join(view.locator("mark.pqa-hit").all_inner_texts()) == original
        shot(page, "12-traditional-sample-original", "doc")
        assert page.dialogs == []
