"""The 问答 tab: a chat turn, its messages and the citation buttons."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import gradio as gr

from ..types import Answer, Citation
from .common import MAX_CITES, _short, esc, esc_lines, heading_label


def citation_label(c: Citation) -> str:
    """Plain text (rendered as text by the button) for a citation."""
    path = heading_label(c.heading_path, c.title)
    return _short(f"[{c.n}] {c.title}" + (f" › {path}" if path else ""), 48)


def answer_messages(answer: Answer) -> list[dict]:
    """Chat messages for one answer: the answer, then one collapsible item per source."""
    msgs = [{"role": "assistant", "content": esc_lines(answer.answer)}]
    for c in answer.citations:
        path = heading_label(c.heading_path, c.title)
        title = f"[{c.n}] {c.title}" + (f" › {path}" if path else "")
        content = (
            f"<div><b>{esc(c.title)}</b></div>"
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


def ask_turn(engine, question: str, history: list[dict] | None,
             progress: Callable | None = None) -> tuple[list[dict], list[Citation], Answer | None]:
    """One chat turn: the new history (our own escaped messages) and the answer's citations."""
    history = list(history or [])
    question = (question or "").strip()
    if not question:
        return history, [], None
    if progress:
        progress(0.2, desc="检索相关段落…")
    answer = engine.ask(question)
    if progress:
        progress(1.0, desc="完成")
    history.append({"role": "user", "content": esc_lines(question)})
    history.extend(answer_messages(answer))
    return history, list(answer.citations), answer
