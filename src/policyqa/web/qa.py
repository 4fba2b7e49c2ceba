"""The 问答 tab: a chat turn, its messages and the citation buttons."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr

from ..export import heading_label, answer_docx_bytes, write_file
from ..types import Answer, Citation
from .common import (MAX_CITES, PRIVATE, _short, esc, esc_lines, guard, limit_note, query_input,
                     text_validator)
from .protocol import EngineLike

EMPTY_QUESTION = "请输入问题，例如：学前三年毛入园率的目标是多少？"


def citation_label(c: Citation) -> str:
    """Plain text (rendered as text by the button) for a citation."""
    path = heading_label(c.heading_path, c.title)
    return _short(f"[{c.n}] {c.title}" + (f" › {path}" if path else ""), 48)


def answer_note(answer: Answer) -> str:
    """A line above the answer: a model wrote it (verified), or why the model's is not shown."""
    if answer.notice:
        return f'<div class="pqa-notice">{esc(answer.notice)}</div>'
    if answer.generator == "llm":
        return '<div class="pqa-notice">由模型概括，每句已与所引原文核对（数字、用词）。</div>'
    return ""


def answer_messages(answer: Answer) -> list[dict]:
    """Chat messages for one answer: the answer, then one collapsible item per source."""
    msgs = [{"role": "assistant", "content": answer_note(answer) + esc_lines(answer.answer)}]
    for c in answer.citations:
        path = heading_label(c.heading_path, c.title)
        title = f"[{c.n}] {c.title}" + (f" › {path}" if path else "")
        content = (
            f"<div><b>{esc(c.title)}</b>" + (f"（{esc(c.where())}）" if c.where() else "") + "</div>"
            + (f"<div>{esc(path)}</div>" if path else "")
            + f"<div>{esc_lines(c.text)}</div>"
            + f"<div><small>{esc(c.source)} [{c.start}:{c.end}]</small></div>"
        )
        msgs.append({"role": "assistant", "content": content,
                     "metadata": {"title": esc(title), "status": "done"}})
    return msgs


def cite_button_updates(citations: Sequence[Citation]) -> list[Any]:
    ups = []
    for i in range(MAX_CITES):
        if i < len(citations):
            ups.append(gr.update(value=citation_label(citations[i]), visible=True))
        else:
            ups.append(gr.update(value="", visible=False))
    return ups


def ask_turn(engine: EngineLike, question: str | None, history: list[dict] | None,
             progress: Callable | None = None) -> tuple[list[dict], list[Citation], Answer]:
    """One chat turn: the new history (our own escaped messages) and the answer's citations.
    An empty or over-long question is a message (PolicyQAError), the history unchanged."""
    history = list(history or [])
    question = query_input(engine, question, EMPTY_QUESTION, "问题")
    if progress:
        progress(0.2, desc="检索相关段落…")
    answer = engine.ask(question)
    if progress:
        progress(1.0, desc="完成")
    history.append({"role": "user", "content": esc_lines(question)})
    history.extend(answer_messages(answer))
    return history, list(answer.citations), answer


def write_answer_docx(answer: Answer, folder: str | Path | None = None) -> str:
    """The answer with its numbered citations as a Word file in a fresh temporary folder."""
    folder = Path(folder or tempfile.mkdtemp(prefix="pqa-answer-"))
    return str(write_file(folder / "问答记录.docx", answer_docx_bytes(answer.to_json())))


@dataclass
class AskTab:
    history: gr.State
    cites: gr.State  # the latest answer's citations, in button order
    question: gr.Textbox
    cite_buttons: list[gr.Button]


def build_ask_tab(engine: EngineLike) -> AskTab:
    """The 问答 tab's components (inside the current ``gr.Tab``) and its own events; opening a
    citation is wired by the page (``DocumentOpener``)."""
    history, cites = gr.State([]), gr.State([])
    chatbot = gr.Chatbot(
        elem_id="chat", label="问答", height=460, render_markdown=False,
        sanitize_html=True, allow_tags=False, latex_delimiters=[],
        buttons=["copy", "copy_all"], feedback_options=None,
        placeholder="请输入问题，例如：教师交流轮岗有什么要求？",
    )
    limit = engine.settings.max_query_chars
    with gr.Row(elem_id="ask-row"):
        # min_width: on a phone the buttons wrap below instead of squeezing the box
        question = gr.Textbox(elem_id="ask-input", label="问题", show_label=False, scale=6, min_width=280, max_length=limit,
                              placeholder="输入问题后按回车，例如：学前三年毛入园率的目标是多少？")
        ask_btn = gr.Button("提问", elem_id="ask-btn", variant="primary", scale=1, min_width=80)
        clear_btn = gr.Button("清空", elem_id="clear-btn", scale=1, min_width=80)
    limit_note(question, limit, "ask-limit")
    gr.HTML('<div style="color:#666;font-size:13px">查看引用原文：</div>', js_on_load=None, elem_id="cite-hint")
    with gr.Row(elem_id="cite-row"):
        buttons = [gr.Button("", visible=False, size="sm", elem_id=f"cite-{i + 1}") for i in range(MAX_CITES)]
    export = gr.File(label="下载本次回答（Word）", elem_id="ask-docx", interactive=False, visible=False)

    @guard
    def on_ask(q, hist, progress=gr.Progress()):
        hist, cs, answer = ask_turn(engine, q, hist, progress)
        return [hist, hist, cs, "", gr.update(value=write_answer_docx(answer), visible=True)] + cite_button_updates(cs)

    outputs = [history, chatbot, cites, question, export] + buttons
    checked = text_validator(lambda q: query_input(engine, q, EMPTY_QUESTION, "问题"))
    question.submit(on_ask, [question, history], outputs, validator=checked, **PRIVATE)
    ask_btn.click(on_ask, [question, history], outputs, validator=checked, **PRIVATE)
    clear_btn.click(lambda: [[], [], [], "", gr.update(value=None, visible=False)] + cite_button_updates([]), None,
                    outputs, **PRIVATE)
    return AskTab(history, cites, question, buttons)
