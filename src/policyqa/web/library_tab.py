"""The 文库 tab: list, upload, remove, reindex; progress reports in Chinese."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr

from ..errors import PolicyQAError
from ..library import safe_name
from ..loaders import SUPPORTED_SUFFIXES
from ..types import ProgressEvent
from .common import ALL, CSS, PRIVATE, _short, esc, facet_choices, guard
from .protocol import EngineLike


LIBRARY_COLUMNS = ("标题", "类型", "年份", "地区", "源文件", "段落数", "索引时间")

_STAGES_ZH = {"scan": "读取文库", "embed": "解析文件并计算向量", "targets": "提取量化目标", "write": "写入索引",
              "done": "索引已更新"}


def progress_zh(event: ProgressEvent) -> str:
    """A build progress event as a Chinese line for the page (the numbers, not the English detail)."""
    stage = _STAGES_ZH.get(event.stage, event.stage)
    if event.total:
        done = f"{event.done:.0f}" if event.unit == "files" else f"{int(event.done)}"
        unit = "个文件" if event.unit == "files" else "步"
        return f"{stage} {done}/{event.total} {unit}"
    return stage


class BuildProgress:
    """One progress bar for a whole build, fed the engine's typed events: the corpus files
    are counted before parsing (the ``embed`` events' total), and the bar's total is those
    files plus the steps after them (``targets``, ``write``), fixed from the first ``embed``
    event on; ``done`` never goes back. The label counts files with that fixed total."""

    AFTER_FILES = 4  # targets (1 step) + write (3 steps)

    def __init__(self, progress: Callable) -> None:
        self.progress = progress
        self.files: int | None = None  # fixed by the first ``embed`` event
        self.done = 0.0

    def position(self, event: ProgressEvent) -> tuple[float, int]:
        """(done, total) of the whole build after ``event``."""
        if event.stage == "embed" and self.files is None:
            self.files = max(int(event.total), 0)
        files = self.files or 0
        total = files + self.AFTER_FILES
        step = {"embed": min(event.done, files), "targets": files + min(event.done, 1),
                "write": files + 1 + min(event.done, 3), "done": total}.get(event.stage, 0.0)
        self.done = max(self.done, float(step))
        return self.done, total

    def label(self, event: ProgressEvent) -> str:
        stage = _STAGES_ZH.get(event.stage, event.stage)
        if self.files is None or event.stage == "done":
            return stage
        return f"{stage}：{int(min(self.done, self.files))}/{self.files} 个文件"  # whole files done

    def __call__(self, event: ProgressEvent) -> None:
        done, total = self.position(event)
        self.progress(done / total if total else 0.0, desc=self.label(event))


def engine_progress(progress: Callable | None) -> Callable[[ProgressEvent], None] | None:
    """Adapt a ``gr.Progress`` (fraction, desc=…) to the engine's typed progress events: one
    bar with a fixed total for the whole build (``BuildProgress``)."""
    if progress is None:
        return None
    return BuildProgress(progress)


def format_time(ts: Any) -> str:
    """A unix time as local ``YYYY-MM-DD HH:MM`` ("" when unknown)."""
    if ts in (None, ""):
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(float(ts)))
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def library_rows(engine: EngineLike) -> list[list[str]]:
    """One row of display strings per indexed document, in ``LIBRARY_COLUMNS`` order."""
    rows = []
    for r in sorted(engine.library(), key=lambda r: (str(r.get("source", "")), str(r.get("title", "")))):
        rows.append([
            str(r.get("title") or ""), str(r.get("doc_type") or ""), str(r.get("year") or ""),
            str(r.get("region") or ""), str(r.get("source") or ""), str(r.get("chunks") or 0),
            format_time(r.get("indexed_at")),
        ])
    return rows


def library_html(engine: EngineLike) -> str:
    """The library table; every cell escaped."""
    rows = library_rows(engine)
    if not rows:
        return '<div class="pqa-empty">文库中还没有文档，请上传文件。</div>'
    head = "".join(f"<th>{esc(c)}</th>" for c in LIBRARY_COLUMNS)
    body = []
    for row in rows:
        cells = [f'<td class="pqa-num">{esc(v)}</td>' if i in (2, 5, 6) else f"<td>{esc(v)}</td>"
                 for i, v in enumerate(row)]
        body.append(f"<tr>{''.join(cells)}</tr>")
    n_docs, n_files = len(rows), len({r[4] for r in rows})
    return (f'<div class="pqa-meta">共 {n_docs} 篇文档，来自 {n_files} 个文件</div>'
            f'<table class="pqa-table" id="lib-rows"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def source_choices(engine: EngineLike) -> list[tuple[str, str]]:
    """(label, source) per indexed file, for the remove dropdown."""
    titles: dict[str, list[str]] = {}
    for r in engine.library():
        titles.setdefault(str(r["source"]), []).append(str(r.get("title") or ""))
    out = []
    for source in sorted(titles):
        t = titles[source]
        label = f"{source} — {t[0]}" + (f" 等 {len(t)} 篇" if len(t) > 1 else "")
        out.append((_short(label, 80), source))
    return out


def _renamed(orig: str, new: str) -> str:
    """Why an upload was saved under another name: a name already in the library (both kept),
    or a name that had to be made safe."""
    try:
        wanted = safe_name(orig)
    except PolicyQAError:
        wanted = orig
    if wanted != new:
        return f"（文库中已有同名文件 {esc(wanted)}，新文件另存为 {esc(new)}，两份都保留）"
    return f"（原文件名 {esc(orig)}，已改名）" if orig != new else ""


def summary_html(summary: Any = None, saved: Sequence[tuple[str, str]] = (),
                 refused: Sequence[tuple[str, str]] = (), removed_source: str | None = None) -> str:
    """A Chinese report of an upload/remove/reindex; file names and reasons escaped."""
    parts: list[str] = []

    def section(title: str, items: Sequence[str], bad: bool = False) -> None:
        if items:
            cls = ' class="pqa-bad"' if bad else ""
            lis = "".join(f"<li>{x}</li>" for x in items)
            parts.append(f"<div{cls}>{esc(title)}（{len(items)}）：<ul>{lis}</ul></div>")

    section("已保存", [esc(new) + _renamed(orig, new) for orig, new in saved])
    section("未保存", [f"{esc(name)}：{esc(reason)}" for name, reason in refused], bad=True)
    if removed_source:
        parts.append(f"<div>已从文库删除：{esc(removed_source)}</div>")
    if summary is not None:
        section("新增", [esc(x) for x in summary.added])
        section("更新", [esc(x) for x in summary.updated])
        section("移除", [esc(x) for x in summary.removed])
        section("跳过", [f"{esc(x.get('source', ''))}：{esc(x.get('reason', ''))}" for x in summary.skipped],
                bad=True)
        if getattr(summary, "up_to_date", False) or not (summary.added or summary.updated or summary.removed):
            parts.append("<div>索引已是最新，无需更新。</div>")
        parts.append(f"<div>索引现有 {summary.files} 个文件、{summary.documents} 篇文档、"
                     f"{summary.chunks} 个段落（用时 {summary.seconds:.1f} 秒）。</div>")
    if not parts:
        parts.append("<div>没有要处理的文件。</div>")
    return f'<div class="pqa-msg">{"".join(parts)}</div>'


def upload_files(engine: EngineLike, paths: Sequence[Any] | None, progress: Callable | None = None,
                 library: str = "") -> str:
    """Save each uploaded file into the corpus (names sanitised by the engine), reindex once,
    and report. Refused files are listed with their reason; the rest are still indexed.
    ``library``: the library to add them to, on a server holding several (``libraries``)."""
    paths = [p for p in (paths or []) if p]
    if not paths:
        raise PolicyQAError("请先选择要上传的文件。")
    limit = int(getattr(engine.settings, "max_file_bytes", 0) or 0)
    saved: list[tuple[str, str]] = []
    refused: list[tuple[str, str]] = []
    for p in paths:
        path = Path(str(p))
        name = getattr(p, "orig_name", None) or path.name
        try:
            size = path.stat().st_size
            if limit and size > limit:
                raise PolicyQAError(f"文件大小 {size:,} 字节，超过上限 {limit:,} 字节（设置 max_file_bytes）")
            saved.append((name, engine.add_file(f"{library}/{name}" if library else name, path.read_bytes())))
        except PolicyQAError as e:
            refused.append((name, str(e)))
        except OSError as e:
            refused.append((name, f"无法读取上传的文件（{type(e).__name__}）"))
    summary = engine.reindex(engine_progress(progress)) if saved else None
    return summary_html(summary, saved, refused)


def remove_document(engine: EngineLike, source: str | None, confirmed: bool, progress: Callable | None = None) -> str:
    """Delete a corpus file (after confirmation) and reindex."""
    if not source:
        raise PolicyQAError("请先选择要删除的文件。")
    if not confirmed:
        raise PolicyQAError("请先勾选“确认删除”，再点击删除。")
    engine.remove_source(source)
    summary = engine.reindex(engine_progress(progress))
    return summary_html(summary, removed_source=source)


def confirm_html(source: str) -> str:
    return (f'<div class="pqa-msg"><div class="pqa-bad">将删除文件 {esc(source)}：'
            "请先勾选“确认删除”，再点击删除。</div></div>")


def reindex_library(engine: EngineLike, progress: Callable | None = None) -> str:
    return summary_html(engine.reindex(engine_progress(progress)))


def upload_target_update(engine: EngineLike) -> Any:
    """The 上传到文库 choice: the libraries the user manages, shown when there are several
    (none with one library: ``engine`` has no ``names``)."""
    names = getattr(engine, "names", None)
    managed = [n["name"] for n in names() if n["manage"]] if names is not None else []
    return gr.update(choices=managed, value=managed[0] if managed else None, visible=len(managed) > 1)


def _keep_value(value: Any, choices: list[tuple[str, str]], default: Any) -> Any:
    return value if value in {v for _, v in choices} else default


def document_list_updates(engine: EngineLike, current: Sequence[Any] = ()) -> list[Any]:
    """Updates for every component that lists documents or facets (search filters type/year/
    region/document, the document selector), so library changes show without a restart.
    ``current`` holds those components' values: kept where still offered, else reset."""
    ch = facet_choices(engine)
    cur = list(current) + [None] * (5 - len(current))
    keys = ("doc_type", "year", "region", "doc")
    ups = [gr.update(choices=ch[k], value=_keep_value(cur[i], ch[k], ALL)) for i, k in enumerate(keys)]
    ups.append(gr.update(choices=ch["doc"][1:], value=_keep_value(cur[4], ch["doc"][1:], None)))
    return ups


def library_updates(engine: EngineLike, current: Sequence[Any] = ()) -> list[Any]:
    """(table HTML, remove-dropdown update) + ``document_list_updates``."""
    return [library_html(engine), gr.update(choices=source_choices(engine), value=None)] \
        + document_list_updates(engine, current)


@dataclass
class LibraryTab:
    """The 文库 tab's table and remove selector, and every other tab's list of documents or
    facets (``lists``: search filters type/year/region/document, the document selector)."""

    engine: EngineLike
    table: gr.HTML
    remove: gr.Dropdown
    lists: list[gr.Dropdown]
    target: gr.Dropdown | None = None  # 上传到文库 (several libraries)

    def refresh_on(self, event: Callable) -> None:
        """Refresh the table and all lists from the engine on ``event`` (a page load, a tab
        shown): another session's upload or removal, or another process's reindex, shows
        without a restart; the lists keep their values where still offered."""
        engine = self.engine

        @guard
        def refresh(t, y, r, d, doc):
            return library_updates(engine, (t, y, r, d, doc))

        event(refresh, self.lists, [self.table, self.remove] + self.lists, **PRIVATE)
        if self.target is not None:
            event(guard(lambda: upload_target_update(engine)), None, self.target, **PRIVATE)


def build_library_tab(engine: EngineLike, lists: Sequence[gr.Dropdown]) -> LibraryTab:
    """The 文库 tab's components (inside the current ``gr.Tab``) and its events; every library
    operation refreshes ``lists`` too. One library operation runs at a time."""
    max_mb = engine.settings.max_file_bytes / 1_000_000
    table = gr.HTML(library_html(engine), elem_id="lib-table", css_template=CSS, js_on_load=None, max_height=520)
    with gr.Row():
        with gr.Column(scale=3):
            files = gr.File(label=f"上传文件（{'、'.join(SUPPORTED_SUFFIXES)}；每个不超过 {max_mb:g} MB）",
                            file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), type="filepath",
                            elem_id="lib-upload", height=140)
            # several libraries (``engine.names``): the one to upload to, shown when the user manages several
            target = gr.Dropdown([], value=None, label="上传到文库", elem_id="lib-target", visible=False,
                                 interactive=True) if getattr(engine, "names", None) is not None else None
            upload_btn = gr.Button("上传并索引", elem_id="lib-upload-btn", variant="primary")
        with gr.Column(scale=2):
            remove = gr.Dropdown(source_choices(engine), value=None, label="删除文件", elem_id="lib-remove",
                                 interactive=True)
            confirm = gr.Checkbox(False, label="确认删除（文件将从文库文件夹中删除）", elem_id="lib-confirm")
            with gr.Row():
                remove_btn = gr.Button("删除", elem_id="lib-remove-btn", variant="stop")
                reindex_btn = gr.Button("重新索引", elem_id="lib-reindex-btn")
    message = gr.HTML("", elem_id="lib-msg", css_template=CSS, js_on_load=None)
    lists = list(lists)
    outputs = [message, table, remove] + lists
    opts = {**PRIVATE, "concurrency_limit": 1, "concurrency_id": "library", "show_progress_on": [message, table]}

    # (t, y, r, d, doc): the current values of ``lists``
    @guard
    def on_upload(paths, t, y, r, d, doc, progress=gr.Progress()):
        return [upload_files(engine, paths, progress)] + library_updates(engine, (t, y, r, d, doc))

    @guard
    def on_upload_to(paths, library, t, y, r, d, doc, progress=gr.Progress()):
        return [upload_files(engine, paths, progress, library or "")] + library_updates(engine, (t, y, r, d, doc))

    @guard
    def on_remove(source, confirmed, t, y, r, d, doc, progress=gr.Progress()):
        if source and not confirmed:  # the first click only asks for confirmation
            return [confirm_html(source)] + [gr.update()] * (len(outputs) - 1)
        return [remove_document(engine, source, confirmed, progress)] + library_updates(engine, (t, y, r, d, doc))

    @guard
    def on_reindex(t, y, r, d, doc, progress=gr.Progress()):
        return [reindex_library(engine, progress)] + library_updates(engine, (t, y, r, d, doc))

    upload = (on_upload, [files] + lists) if target is None else (on_upload_to, [files, target] + lists)
    upload_btn.click(*upload, outputs, **opts).success(lambda: None, None, files, **PRIVATE)
    remove_btn.click(on_remove, [remove, confirm] + lists, outputs, **opts).success(
        lambda: False, None, confirm, **PRIVATE)
    reindex_btn.click(on_reindex, lists, outputs, **opts)
    return LibraryTab(engine, table, remove, lists, target)
