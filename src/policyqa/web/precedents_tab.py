"""The 找先例 tab: passages of other documents similar to a draft, grouped by document."""

from __future__ import annotations

from typing import Callable, Sequence

from .common import NO_RESULTS, _short, esc, heading_label, mark_spans, required


def run_precedents(engine, text: str, k: int = 10, progress: Callable | None = None) -> dict:
    """Precedents for a draft as JSON (``engine.precedents(...).to_json()``)."""
    text = required(text, "请粘贴一段正在起草的文字。")
    if progress:
        progress(0.3, desc="查找相似段落…")
    return engine.precedents(text, k=int(k), exclude_self=True).to_json()


def _spans_of(item: dict) -> list[tuple[int, int, str]]:
    """Absolute [start, end) spans of the corpus sentences matching the draft's sentences,
    with the draft sentence each corresponds to ("" when not given)."""
    spans = []
    for m in item.get("matches") or []:
        if isinstance(m, dict):
            a, b, label = m.get("start"), m.get("end"), str(m.get("draft_sentence") or "")
        else:
            a, b, label = m[0], m[1], ""
        if a is not None and b is not None:
            spans.append((int(a), int(b), label))
    return spans


def precedent_groups(results: Sequence[dict]) -> list[tuple[dict, list[tuple[int, dict]]]]:
    """Results grouped by document, documents in order of their best passage; each passage
    keeps its overall rank (1-based)."""
    groups: dict[str, list[tuple[int, dict]]] = {}
    for n, r in enumerate(results, start=1):
        groups.setdefault(str(r.get("doc_id") or r.get("source")), []).append((n, r))
    return [(items[0][1], items) for items in groups.values()]


def precedents_html(result: dict) -> str:
    results = result.get("results") or []
    if not results:
        return f'<div class="pqa-results"><div class="pqa-empty">{NO_RESULTS}</div></div>'
    out = []
    for first, items in precedent_groups(results):
        meta = first.get("metadata") if isinstance(first.get("metadata"), dict) else first
        facts = [str(x) for x in (meta.get("region"), meta.get("year")) if x]
        if any(r.get("from_source") for _, r in items):
            facts.append("疑似草稿出处")
        passages = []
        for n, r in items:
            path = heading_label(r.get("heading_path") or [], r.get("title") or "")
            text = str(r.get("text") or "")
            passages.append(
                '<div class="pqa-pass">'
                f'<span class="pqa-score">相似度 {float(r.get("score") or 0):.3f}</span>'
                f'<div class="pqa-path">{n}. {esc(path) if path else "（正文）"}</div>'
                f'<div class="pqa-passage">{mark_spans(text, int(r.get("start") or 0), _spans_of(r))}</div>'
                "</div>")
        out.append(
            '<div class="pqa-group">'
            f'<div class="pqa-group-title">{esc(first.get("title") or "")}'
            f'<span class="pqa-meta"> {esc(" · ".join(facts + [str(first.get("source") or "")]))}</span></div>'
            f'{"".join(passages)}</div>')
    return f'<div class="pqa-results">{"".join(out)}</div>'


def precedent_choices(result: dict) -> list[tuple[str, str]]:
    out = []
    for n, r in enumerate(result.get("results") or [], start=1):
        path = heading_label(r.get("heading_path") or [], r.get("title") or "")
        out.append((_short(f"{n}. {r.get('title')}" + (f" › {path}" if path else ""), 70), str(n - 1)))
    return out


def precedent_ref(item: dict) -> dict:
    return {"doc_id": item.get("doc_id"), "source": item["source"], "start": int(item["start"]),
            "end": int(item["end"])}
