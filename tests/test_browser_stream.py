"""The chat streams a chat model's answer in Chromium: a finished sentence is marked ✓ while
the model is still writing, a sentence with an invented figure is struck through, and the
final answer shows only verified sentences (a stub chat server on loopback)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.browser_support import MARKS, free_port, launch_browser, open_page, shot
from tests.test_generate import QUESTION, engine_with, first_sentence, passages_in, stub  # noqa: F401 - a fixture

pytestmark = MARKS


@pytest.fixture
def page(stub):  # noqa: F811 - the imported fixture
    from policyqa.web import build_app, launch

    def reply(body):  # a verified sentence, an invented figure, then more text to come
        good = first_sentence(passages_in(body)[1])
        return f"{good}[1]另外，交流轮岗教师比例要达到97.5%以上。[1]{good}[1]"

    stub.reply = reply
    stub.chunk_delay = 0.3  # slow enough to watch each state of the answer being written
    engine = engine_with(stub)
    settings = replace(engine.settings, host="127.0.0.1", port=free_port())
    app = build_app(engine)
    launch(app, settings, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        for browser in launch_browser():
            yield from open_page(browser, f"http://127.0.0.1:{settings.port}/", height=700)
    finally:
        app.close()


def test_the_chat_marks_sentences_as_they_are_checked(page):
    box = page.locator("#ask-input textarea")
    box.fill(QUESTION)
    box.press("Enter")
    chat = page.locator("#chat")
    chat.locator(".pqa-ok").first.wait_for()  # a verified sentence, while the model writes on
    assert chat.locator(".pqa-pending").count() + chat.locator("del.pqa-bad").count() >= 1
    chat.locator("del.pqa-bad").first.wait_for()
    assert "97.5" in chat.locator("del.pqa-bad").first.inner_text()
    shot(page, "13-ask-streaming", "ask")
    chat.get_by_text("由模型概括，每句已与所引原文核对").first.wait_for()  # the final answer
    final = chat.inner_text()
    assert "97.5" not in final and "[1]" in final
    assert chat.locator("del.pqa-bad").count() == 0 and chat.locator(".pqa-pending").count() == 0
    shot(page, "13-ask-streamed", "ask")
