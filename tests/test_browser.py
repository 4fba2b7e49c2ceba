"""Drive the real page in Debian's headless Chromium (design.md §7), over the FakeEngine.

Screenshots of each step land in tests/artifacts/screenshots/ (browser_support.shot).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.browser_support import MARKS, free_port, launch_browser, open_page, shot, tab
from policyqa.web.qa import EMPTY_QUESTION
from tests.fake_engine import EVIL_TITLE, FakeEngine

pytestmark = MARKS

QUERY_LIMIT = 60


IN_VIEW = (
    "() => { const m = document.querySelector('#doc-view mark.pqa-hit');"
    " if (!m) return false; const r = m.getBoundingClientRect();"
    " return r.top >= 0 && r.bottom <= window.innerHeight; }"
)


@pytest.fixture(scope="module")
def server():
    from policyqa.config import Settings
    from policyqa.web import build_app, launch

    engine = FakeEngine()
    engine.settings = replace(engine.settings, max_query_chars=QUERY_LIMIT)
    settings = Settings(model="hash:256", host="127.0.0.1", port=free_port())
    app = build_app(engine)
    launch(app, settings, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    yield f"http://127.0.0.1:{settings.port}/"
    app.close()


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


@pytest.fixture
def page(browser, server):
    yield from open_page(browser, server, height=700)


def test_ask_cite_and_open_source(page):
    box = page.locator("#ask-input textarea")
    box.fill("交流轮岗教师比例有什么要求？")
    box.press("Enter")
    chat = page.locator("#chat")
    chat.get_by_text("每年交流轮岗教师比例不低于10%").first.wait_for()
    assert "[1]" in chat.inner_text()
    shot(page, "1-ask", "ask")
    # the answer with its citations as Word, downloaded from the page
    link = page.locator("#ask-docx a").first
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    from docx import Document

    saved = "\n".join(p.text for p in Document(info.value.path()).paragraphs)
    assert "交流轮岗教师比例有什么要求？" in saved and "每年交流轮岗教师比例不低于10%" in saved and "[1]" in saved
    page.locator("#cite-1").click()
    hit = page.locator("#doc-view mark.pqa-hit").first
    hit.wait_for(state="visible")
    assert "交流轮岗" in hit.inner_text()
    page.wait_for_function(IN_VIEW, timeout=5_000)  # scrolled into view
    assert "二、教师队伍建设" in page.locator("#doc-outline").inner_text()
    # the outline is left-aligned: entries of one level and different lengths start at one edge
    entries = page.locator("#doc-outline a")
    starts: dict[str, set[int]] = {}
    for i in range(entries.count()):
        level, left = entries.nth(i).evaluate(
            "a => { const r = document.createRange(); r.selectNodeContents(a);"
            " return [a.className, Math.round(r.getBoundingClientRect().left)]; }")
        starts.setdefault(level, set()).add(left)
    assert entries.count() >= 3 and all(len(lefts) == 1 for lefts in starts.values()), starts
    shot(page, "3-doc", "doc")
    # a second citation, opened while the document view already exists, scrolls too
    tab(page, "问答")
    box.fill("学前三年毛入园率目标是多少")
    box.press("Enter")
    chat.get_by_text("学前三年毛入园率达到90%以上").first.wait_for()
    page.locator("#cite-1").click()
    page.locator("#doc-view mark.pqa-hit", has_text="90%").wait_for(state="visible")
    page.wait_for_function(IN_VIEW, timeout=5_000)
    # the first answer's [1], still in the chat history, opens its own citation
    tab(page, "问答")
    first = chat.locator(".pqa-cite.pqa-t0.pqa-n1")
    assert first.inner_text() == "[1]"
    assert chat.locator(".pqa-cite.pqa-t1").count() >= 1
    first.click()
    page.locator("#doc-view mark.pqa-hit", has_text="交流轮岗").wait_for(state="visible")
    page.wait_for_function(IN_VIEW, timeout=5_000)
    assert "90%" not in "".join(page.locator("#doc-view mark.pqa-hit").all_inner_texts())
    shot(page, "3-doc-from-history", "doc")
    # an outline entry scrolls the view to its heading
    entry = page.locator("#doc-outline a", has_text="一、总体目标")
    entry.click()
    page.wait_for_function(
        "() => { const v = document.querySelector('#doc-view'); const h = [...v.querySelectorAll('.pqa-h')]"
        ".find(e => e.innerText.includes('一、总体目标')); if (!h) return false;"
        " const r = h.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; }",
        timeout=5_000)
    assert page.dialogs == []


def test_filtered_search(page):
    tab(page, "检索")
    page.locator("#search-input textarea").fill("教师")
    page.locator("#filter-region input").click()
    page.get_by_role("option", name="某縣").click()
    page.locator("#search-btn").click()
    results = page.locator("#search-results")
    results.get_by_text("某縣教育局2024年工作總結").first.wait_for()
    assert "东城区" not in results.inner_text()
    assert "2023年教育局工作计划" not in results.inner_text()
    assert results.locator("mark").count() > 0
    shot(page, "2-search", "search")
    # a result opens where it is: click its card, the document shows its passage highlighted
    card = results.locator(".pqa-card").first
    passage = card.locator(".pqa-passage").inner_text()
    card.click()
    hit = page.locator("#doc-view mark.pqa-hit").first
    hit.wait_for(state="visible")
    assert "".join(page.locator("#doc-view mark.pqa-hit").all_inner_texts()) == passage
    assert "某縣教育局2024年工作總結" in page.locator("#doc-view .pqa-title").inner_text()
    page.wait_for_function(IN_VIEW, timeout=5_000)
    page.wait_for_timeout(400)  # the document lists refresh when 文档 opens: let it finish
    shot(page, "2-search-opened", "doc")
    tab(page, "检索")
    page.locator("#search-input textarea").fill("火星探测器发射窗口")
    page.locator("#search-btn").click()
    # an uncovered query gets the same verdict as in the chat, with the nearest passages below
    results.get_by_text("文档中没有直接回答这个问题的内容", exact=False).wait_for()


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
    tab(page, "检索")
    page.locator("#search-input textarea").fill("校园安全")
    page.locator("#search-btn").click()
    page.locator("#search-results").get_by_text("<script>alert(1)</script>").first.wait_for()
    tab(page, "文档")
    page.locator("#doc-select input").click()
    page.get_by_role("option", name=EVIL_TITLE).click()
    view = page.locator("#doc-view")
    view.get_by_text("onerror=alert(1)").first.wait_for()
    view.get_by_text("${alert(2)}").first.wait_for()
    page.wait_for_timeout(300)  # let the dropdown's list fade out before the screenshot
    shot(page, "4-hostile", "doc")
    for sel in ("#doc-view", "#doc-outline", "#search-results", "#chat"):
        root = page.locator(sel)
        assert root.locator("img").count() == 0, sel
        assert root.locator("script").count() == 0, sel
        assert root.locator("a[href^='javascript']").count() == 0, sel
    assert page.evaluate("document.querySelectorAll('img[src=x], img[onerror]').length") == 0
    assert page.dialogs == []


def test_empty_and_over_long_questions_say_so(page):
    box = page.locator("#ask-input textarea")
    box.fill("   ")
    box.press("Enter")
    page.locator("#ask-input").get_by_text(EMPTY_QUESTION).wait_for()  # said at the box
    # the box stops at the limit and says so …
    box.fill("教" * (QUERY_LIMIT + 5))  # as a paste does
    assert len(box.input_value()) == QUERY_LIMIT
    page.locator("#ask-limit").get_by_text(f"已达到 {QUERY_LIMIT} 字的上限").wait_for()
    shot(page, "8-ask-limit", "ask")
    box.fill("教师")
    page.locator("#ask-limit .pqa-limit").wait_for(state="detached")
    # … and a page whose box lost its limit gets the server's message, and nothing is asked
    page.evaluate("document.querySelector('#ask-input textarea').removeAttribute('maxlength')")
    box.fill("教" * (QUERY_LIMIT + 5))
    box.press("Enter")
    page.locator("#ask-input").get_by_text(f"问题有 {QUERY_LIMIT + 5} 字，超过上限 {QUERY_LIMIT} 字").wait_for()
    shot(page, "8-ask-too-long", "ask")
    assert "教教教" not in page.locator("#chat").inner_text()
    assert page.dialogs == []


def test_empty_question_says_so_on_every_tab(page):
    """A box left empty (not even spaces) and its button clicked: the message shows at the
    box and nothing runs, on each tab that takes a question."""
    for name, box, button, message in (
            ("问答", "#ask-input", "#ask-btn", EMPTY_QUESTION),
            ("检索", "#search-input", "#search-btn", "请输入要检索的内容。"),
            ("对比", "#compare-input", "#compare-btn", "请输入要对比的主题，例如：学前教育毛入园率。"),
            ("找先例", "#prec-input", "#prec-btn", "请粘贴一段正在起草的文字。")):
        tab(page, name)
        page.locator(f"{box} textarea").fill("")
        page.locator(button).click()
        page.locator(box).get_by_text(message).wait_for()
        if name == "对比":
            shot(page, "8-compare-empty", "compare")
    assert page.locator(".toast-body").count() == 0  # said at the box, not as an error toast
    assert page.dialogs == []


def test_narrow_screen_keeps_the_question_box_usable(browser, server):
    for pg in open_page(browser, server, height=800, width=390):
        # the buttons wrap below the boxes instead of squeezing them; the page's margins shrink
        for name, box in (("检索", "#search-input"), ("对比", "#compare-input"), ("问答", "#ask-input")):
            tab(pg, name)
            width = pg.locator(f"{box} textarea").bounding_box()["width"]
            assert width >= 0.7 * 390, (box, width)
        box = pg.locator("#ask-input textarea")
        assert pg.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
        box.fill("交流轮岗教师比例有什么要求？")
        pg.locator("#ask-btn").click()
        pg.locator("#chat").get_by_text("每年交流轮岗教师比例不低于10%").first.wait_for()
        shot(pg, "9-ask-390px", "ask")


def test_simplified_view_of_a_traditional_document(page):
    """显示为简体: a traditional document's passages, the answer and the document view shown in
    simplified characters with the highlight on the same characters; one click back to the
    original."""
    from policyqa.web import shown

    box = page.locator("#ask-input textarea")
    box.fill("教師交流輪崗")
    box.press("Enter")
    chat = page.locator("#chat")
    chat.get_by_text("推進教師交流輪崗", exact=False).first.wait_for()
    assert "某縣教育局" in chat.inner_text()
    toggle = page.locator("#simplified input")
    toggle.check()
    page.wait_for_function("() => { const t = document.querySelector('#chat').innerText;"
                           " return t.includes('推进教师交流轮岗') && !t.includes('推進教師'); }")
    assert "某县教育局" in chat.inner_text() and "教師交流輪崗" in chat.inner_text()  # the question as typed
    shot(page, "11-ask-simplified", "ask")
    # open the traditional citation: the view is simplified, the mark on the cited characters
    chat.locator(".pqa-cite.pqa-t0.pqa-n1").click()
    view = page.locator("#doc-view")
    view.get_by_text("某县教育局2024年工作总结").first.wait_for()
    marked = "".join(view.locator("mark.pqa-hit").all_inner_texts())
    assert marked.startswith("推进教师交流轮岗") and "總結" not in view.inner_text()
    assert "一、教师队伍" in page.locator("#doc-outline").inner_text()
    shot(page, "11-doc-simplified", "doc")
    toggle.uncheck()  # the original, one click away
    view.get_by_text("某縣教育局2024年工作總結").first.wait_for()
    original = "".join(view.locator("mark.pqa-hit").all_inner_texts())
    assert original.startswith("推進教師交流輪崗") and shown(original, True) == marked
    shot(page, "11-doc-original", "doc")
    # search results follow the setting too
    toggle.check()
    tab(page, "检索")
    page.locator("#search-input textarea").fill("教師交流輪崗")
    page.locator("#search-btn").click()
    results = page.locator("#search-results")
    results.get_by_text("某县教育局2024年工作总结").first.wait_for()
    shot(page, "11-search-simplified", "search")
    toggle.uncheck()
    results.get_by_text("某縣教育局2024年工作總結").first.wait_for()
    assert page.dialogs == []
