"""Drive the real page in Debian's headless Chromium (design.md §7).

Set ``PQA_SCREENSHOTS=/some/dir`` to save a screenshot of each tab.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.fake_engine import EVIL_TITLE, FakeEngine

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="Debian chromium not installed at /usr/bin/chromium (apt-get install -y chromium)"),
]


IN_VIEW = (
    "() => { const m = document.querySelector('#doc-view mark.pqa-hit');"
    " if (!m) return false; const r = m.getBoundingClientRect();"
    " return r.top >= 0 && r.bottom <= window.innerHeight; }"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    from policyqa.config import Settings
    from policyqa.web import build_app, launch

    engine = FakeEngine()
    settings = Settings(model="hash:256", host="127.0.0.1", port=_free_port())
    app = build_app(engine)
    launch(app, settings, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    yield f"http://127.0.0.1:{settings.port}/"
    app.close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 700}, locale="zh-CN")
    pg = ctx.new_page()
    pg.set_default_timeout(15_000)
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    pg.goto(server)
    pg.get_by_text("教育政策文件问答与检索").wait_for()
    yield pg
    ctx.close()


def _shot(page, name: str) -> None:
    folder = os.environ.get("PQA_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _tab(page, name: str):
    page.get_by_role("tab", name=name).click()


def test_ask_cite_and_open_source(page):
    box = page.locator("#ask-input textarea")
    box.fill("教师交流轮岗有什么要求？")
    box.press("Enter")
    chat = page.locator("#chat")
    chat.get_by_text("每年交流轮岗教师比例不低于10%").first.wait_for()
    assert "[1]" in chat.inner_text()
    _shot(page, "1-ask")
    page.locator("#cite-1").click()
    hit = page.locator("#doc-view mark.pqa-hit").first
    hit.wait_for(state="visible")
    assert "交流轮岗" in hit.inner_text()
    page.wait_for_function(IN_VIEW, timeout=5_000)  # scrolled into view
    assert "二、教师队伍建设" in page.locator("#doc-outline").inner_text()
    _shot(page, "3-doc")
    # a second citation, opened while the document view already exists, scrolls too
    _tab(page, "问答")
    box.fill("学前三年毛入园率目标是多少")
    box.press("Enter")
    chat.get_by_text("学前三年毛入园率达到90%以上").first.wait_for()
    page.locator("#cite-1").click()
    page.locator("#doc-view mark.pqa-hit", has_text="90%").wait_for(state="visible")
    page.wait_for_function(IN_VIEW, timeout=5_000)
    assert page.dialogs == []


def test_filtered_search(page):
    _tab(page, "检索")
    page.locator("#search-input textarea").fill("教师")
    page.locator("#filter-region input").click()
    page.get_by_role("option", name="某縣").click()
    page.locator("#search-btn").click()
    results = page.locator("#search-results")
    results.get_by_text("某縣教育局2024年工作總結").first.wait_for()
    assert "东城区" not in results.inner_text()
    assert "2023年教育局工作计划" not in results.inner_text()
    assert results.locator("mark").count() > 0
    _shot(page, "2-search")
    page.locator("#search-input textarea").fill("火星探测器发射窗口")
    page.locator("#search-btn").click()
    results.get_by_text("没有找到相关内容").wait_for()


def test_hostile_document_renders_inert(page):
    # the hostile text reaches the chat, search results and the document view
    box = page.locator("#ask-input textarea")
    box.fill("校园安全制度")
    box.press("Enter")
    chat = page.locator("#chat")
    chat.get_by_text("javascript:alert(1)").first.wait_for()
    for t in chat.locator(".thought-group .title").all():
        t.click()  # expand the sources
    chat.get_by_text("onerror=alert(1)").first.wait_for()
    assert "<script>alert(1)</script>" in chat.inner_text()
    assert "[点我](javascript:alert(1))" in chat.inner_text()
    _tab(page, "检索")
    page.locator("#search-input textarea").fill("校园安全")
    page.locator("#search-btn").click()
    page.locator("#search-results").get_by_text("<script>alert(1)</script>").first.wait_for()
    _tab(page, "文档")
    page.locator("#doc-select input").click()
    page.get_by_role("option", name=EVIL_TITLE).click()
    view = page.locator("#doc-view")
    view.get_by_text("onerror=alert(1)").first.wait_for()
    view.get_by_text("${alert(2)}").first.wait_for()
    _shot(page, "4-hostile")
    page.wait_for_timeout(300)
    for sel in ("#doc-view", "#doc-outline", "#search-results", "#chat"):
        root = page.locator(sel)
        assert root.locator("img").count() == 0, sel
        assert root.locator("script").count() == 0, sel
        assert root.locator("a[href^='javascript']").count() == 0, sel
    assert page.evaluate("document.querySelectorAll('img[src=x], img[onerror]').length") == 0
    assert page.dialogs == []
