"""The 问答 tab: a chat turn, its messages and the citation buttons."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import gradio as gr

from ..export import heading_label, answer_docx_bytes, write_file
from ..types import Answer, Citation
from .common import (MAX_CITES, PRIVATE, _short, esc, esc_lines, guard, limit_note, query_input, shown,
                     text_validator)
from .protocol import EngineLike

_MARKER = re.compile(r"\[(\d+)\]")  # a citation marker, as answer.build_answer writes it
EMPTY_QUESTION = "请输入问题，例如：学前三年毛入园率的目标是多少？"


def citation_label(c: Citation) -> str:
    """Plain text (rendered as text by the button) for a citation (its library first, on a
    server holding several)."""
    path = heading_label(c.heading_path, c.title)
    return _short(f"[{c.n}] " + (f"{c.library} · " if c.library else "") + c.title + (f" › {path}" if path else ""), 48)


def answer_note(answer: Answer) -> str:
    """Lines above the answer: what a follow-up was searched as; a model wrote it (verified),
    or why the model's answer is not shown."""
    searched = f'<div class="pqa-notice">按“{esc(answer.searched_as)}”检索</div>' if answer.searched_as else ""
    return searched + _generator_note(answer)


def _generator_note(answer: Answer) -> str:
    if answer.notice:
        return f'<div class="pqa-notice">{esc(answer.notice)}</div>'
    if answer.generator == "llm":
        return '<div class="pqa-notice">由模型概括，每句已与所引原文核对（数字、用词）。</div>'
    return ""


def shown_citation(c: Citation, simplified: bool) -> Citation:
    """``c`` with its title, heading path and passage as the page shows them (``shown``:
    simplified when 显示为简体 is on); its source and offsets stay the original's."""
    if not simplified:
        return c
    return replace(c, title=shown(c.title, True), text=shown(c.text, True),
                   heading_path=tuple(shown(h, True) for h in c.heading_path))


def cite_markers(answer_html: str, answer: Answer, turn: int | None) -> str:
    """The escaped answer with each ``[n]`` of a citation made a link to it (chat turn
    ``turn``, opened by ``CHAT_CITE_JS``); unchanged when ``turn`` is None."""
    if turn is None:
        return answer_html
    numbers = {c.n for c in answer.citations}

    def link(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in numbers:
            return m.group()
        return (f'<span class="pqa-cite pqa-t{int(turn)} pqa-n{n}" role="button" '
                f'tabindex="0" title="查看引用 [{n}] 的原文">[{n}]</span>')

    return _MARKER.sub(link, answer_html)


def answer_messages(answer: Answer, turn: int | None = None, simplified: bool = False) -> list[dict]:
    """Chat messages for one answer: the answer, then one collapsible item per source. With
    ``turn`` (the answer's index in the chat) its ``[n]`` markers open their citations;
    ``simplified``: document text shown in simplified characters."""
    body = cite_markers(esc_lines(shown(answer.answer, simplified)), answer, turn)
    msgs = [{"role": "assistant", "content": answer_note(answer) + body}]
    for c in answer.citations:
        c = shown_citation(c, simplified)
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


def cite_button_updates(citations: Sequence[Citation], simplified: bool = False) -> list[Any]:
    ups = []
    for i in range(MAX_CITES):
        if i < len(citations):
            ups.append(gr.update(value=citation_label(shown_citation(citations[i], simplified)), visible=True))
        else:
            ups.append(gr.update(value="", visible=False))
    return ups


def ask_turn(engine: EngineLike, question: str | None, history: list[dict] | None,
             progress: Callable | None = None, simplified: bool = False,
             earlier: Sequence[str] = ()) -> tuple[list[dict], list[Citation], Answer]:
    """One chat turn: the new history (our own escaped messages) and the answer's citations.
    ``earlier``: the chat's previous questions, so a follow-up ("那农村呢？") is made standalone.
    An empty or over-long question is a message (PolicyQAError), the history unchanged."""
    *_, last = ask_turn_stream(engine, question, history, progress, simplified, earlier)
    return last  # type: ignore[return-value]


def ask_turn_stream(engine: EngineLike, question: str | None, history: list[dict] | None,
                    progress: Callable | None = None, simplified: bool = False,
                    earlier: Sequence[str] = ()) -> Iterator[list[dict] | tuple[list[dict], list[Citation], Answer]]:
    """``ask_turn`` as it happens: with a chat model, the chat as the model writes (each
    finished sentence marked verified or not, ``streaming_message``), then, last, what
    ``ask_turn`` returns."""
    history = list(history or [])
    question = query_input(engine, question, EMPTY_QUESTION, "问题")
    turn = sum(1 for m in history if m.get("role") == "user")  # this answer's index in the chat
    if progress:
        progress(0.2, desc="检索相关段落…")
    asked = [*history, {"role": "user", "content": esc_lines(question)}]
    written, verdicts = "", []
    for event in engine.ask_stream(question, history=list(earlier)):
        if event.kind == "token":
            written += event.text
        elif event.kind == "sentence" and event.verdict is not None:
            verdicts.append(event.verdict)
        if event.answer is not None:
            if progress:
                progress(1.0, desc="完成")
            yield asked + answer_messages(event.answer, turn, simplified), list(event.answer.citations), event.answer
            return
        yield asked + [streaming_message(written, verdicts)]


def streaming_message(written: str, verdicts: Sequence) -> dict:
    """The model's answer while it is written: finished sentences marked ✓ (verified against
    the passages it cites) or struck through with the reason (never shown as fact), the rest
    in grey until it is checked. The final answer replaces this message."""
    parts = []
    for v in verdicts:
        if v.ok:
            parts.append(f'<span class="pqa-ok" title="已与所引原文核对">✓ {esc(v.sentence)}</span>')
        else:
            parts.append(f'<del class="pqa-bad" title="未通过核对：{esc(v.reason)}">{esc(v.sentence)}</del>')
    rest = written.strip()
    for v in verdicts:  # what follows the last finished sentence (markers may have moved)
        at = rest.find(v.sentence[:8])
        rest = rest[at + len(v.sentence):] if at >= 0 else rest[len(v.sentence):]
    rest = rest.strip()
    tail = f'<span class="pqa-pending" style="color:#888">{esc(rest)}…</span>' if rest else ""
    note = '<div class="pqa-notice">模型生成中，每句写完即与原文核对；未通过的句子不作为答案。</div>'
    return {"role": "assistant", "content": note + " ".join(parts) + tail}


def chat_history(answers: Sequence[Answer], simplified: bool = False) -> list[dict]:
    """The chat's messages for ``answers`` (in order), as ``ask_turn`` builds them turn by turn:
    re-rendered when 显示为简体 changes."""
    history: list[dict] = []
    for turn, answer in enumerate(answers):
        history.append({"role": "user", "content": esc_lines(answer.question)})
        history.extend(answer_messages(answer, turn, simplified))
    return history


def turn_citations(answers: Sequence[Answer] | None, data: dict | None) -> tuple[list[Citation], int | None]:
    """(citations of chat turn ``data["turn"]``, the index of citation ``data["n"]``) for a
    click on an ``[n]`` in the chat (``DocumentOpener.connect_clicks``); a turn or number no
    longer there (the chat was cleared) is an index out of range."""
    data = data or {}
    answers = list(answers or [])
    try:
        turn, n = int(data.get("turn")), int(data.get("n"))
    except (TypeError, ValueError):
        return [], None
    if not 0 <= turn < len(answers):
        return [], -1
    cites = list(answers[turn].citations)
    return cites, next((i for i, c in enumerate(cites) if c.n == n), -1)


# A click (or Enter) on an ``[n]`` of any answer in the chat: its turn and number as this
# component's click event. The chat's sanitiser drops data attributes but keeps classes, so
# the marker says them in its classes: pqa-cite pqa-t<turn> pqa-n<n>.
CHAT_CITE_JS = (
    "const pqaCite = (e) => {"
    " const t = e.target.closest ? e.target.closest('#chat .pqa-cite') : null;"
    " if (!t) return;"
    " if (e.type === 'keydown' && e.key !== 'Enter' && e.key !== ' ') return;"
    " const turn = /(?:^| )pqa-t(\\d+)(?: |$)/.exec(t.className), n = /(?:^| )pqa-n(\\d+)(?: |$)/.exec(t.className);"
    " if (!turn || !n) return;"
    " e.preventDefault(); e.stopPropagation();"
    " trigger('click', {turn: Number(turn[1]), n: Number(n[1])}); };"
    " if (window.pqaCite) { document.removeEventListener('click', window.pqaCite, true);"
    " document.removeEventListener('keydown', window.pqaCite, true); }"
    " window.pqaCite = pqaCite;"
    " document.addEventListener('click', pqaCite, true); document.addEventListener('keydown', pqaCite, true);"
)


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
    answers: gr.State  # every answer in the chat, in order (``turn_citations``)
    chat_cites: gr.HTML  # receives clicks on the chat's ``[n]`` markers (``CHAT_CITE_JS``)


def build_ask_tab(engine: EngineLike, simplified: gr.Checkbox) -> AskTab:
    """The 问答 tab's components (inside the current ``gr.Tab``) and its own events; opening a
    citation is wired by the page (``DocumentOpener``); ``simplified`` is the page's 显示为简体
    setting."""
    history, cites, answers = gr.State([]), gr.State([]), gr.State([])
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
    # the hint line also receives the clicks on the chat's [n] markers (no empty component)
    chat_cites = gr.HTML('<div style="color:#666;font-size:13px">查看引用原文（也可点击回答中的 [n]）：</div>',
                         js_on_load=CHAT_CITE_JS, elem_id="cite-hint")
    with gr.Row(elem_id="cite-row"):
        buttons = [gr.Button("", visible=False, size="sm", elem_id=f"cite-{i + 1}") for i in range(MAX_CITES)]
    export = gr.File(label="下载本次回答（Word）", elem_id="ask-docx", interactive=False, visible=False)

    @guard
    def on_ask(q, hist, done, simp, progress=gr.Progress()):
        earlier = [a.question for a in done or []]
        for step in ask_turn_stream(engine, q, hist, progress, simp, earlier):
            if isinstance(step, list):  # the model is still writing: only the chat changes
                yield [gr.update(), step] + [gr.update()] * (len(outputs) - 2)
                continue
            hist, cs, answer = step
            yield [hist, hist, cs, "", gr.update(value=write_answer_docx(answer), visible=True),
                   list(done or []) + [answer]] + cite_button_updates(cs, simp)

    @guard
    def on_script(simp, done):
        done = list(done or [])
        hist = chat_history(done, simp)
        return [hist, hist] + cite_button_updates(done[-1].citations if done else [], simp)

    outputs = [history, chatbot, cites, question, export, answers] + buttons
    checked = text_validator(lambda q: query_input(engine, q, EMPTY_QUESTION, "问题"))
    question.submit(on_ask, [question, history, answers, simplified], outputs, validator=checked, **PRIVATE)
    ask_btn.click(on_ask, [question, history, answers, simplified], outputs, validator=checked, **PRIVATE)
    simplified.change(on_script, [simplified, answers], [history, chatbot] + buttons, **PRIVATE)
    clear_btn.click(lambda: [[], [], [], "", gr.update(value=None, visible=False), []] + cite_button_updates([]),
                    None, outputs, **PRIVATE)
    return AskTab(history, cites, question, buttons, answers, chat_cites)
