"""Handler-level tests of the 文库, 对比 and 找先例 tabs (FakeEngine, no browser)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import gradio as gr
import pytest

from policyqa import web
from policyqa.errors import PolicyQAError
from tests.conftest import PLAN_A, PLAN_B, write
from tests.fake_engine import EVIL_TITLE, FakeEngine

NEW_DOC = "2025年北区教育局工作计划\n一、冰雪运动\n推进冰雪运动进校园，建设冰雪特色学校8所。\n"


class Progress:
    """Records calls like ``gr.Progress`` receives them."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, fraction, desc=None, **_kw):
        self.calls.append((fraction, desc))


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


def _upload(tmp_path: Path, name: str, data: bytes) -> str:
    folder = tmp_path / f"u{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    path = folder / name
    path.write_bytes(data)
    return str(path)


def _no_markup(html_text: str) -> None:
    low = html_text.lower()
    assert "<script" not in low and "<img" not in low and "${" not in html_text


# ---------------------------------------------------------------------------- 文库


def test_library_table_lists_documents_escaped(engine):
    rows = web.library_rows(engine)
    assert len(rows) == len(engine.documents())
    row = next(r for r in rows if r[0].endswith("篇二"))
    assert row[1:6] == ["计划", "2023", "西城区", "plan_2023.txt", "2"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", row[6])
    page = web.library_html(engine)
    _no_markup(page)
    assert web.esc(EVIL_TITLE) in page and "<th>索引时间</th>" in page
    assert page.count("<tr>") == len(rows) + 1


def test_format_time_is_local_minutes():
    ts = 1_700_000_000.0
    assert web.format_time(ts) == time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))
    assert web.format_time(None) == "" and web.format_time("x") == ""


def test_build_progress_has_one_fixed_total(fake_settings, fake_embedder, small_corpus):
    """A real build's events on the page: one bar that only moves forward, and every label
    counts files out of the same total (the files counted before parsing)."""
    from policyqa.build import build_index

    for i in range(6):  # enough files that parsing and embedding interleave
        write(small_corpus / f"more_{i}.txt", PLAN_A.replace("92%", f"{80 + i}%"))
    progress = Progress()
    events = []
    reporter = web.engine_progress(progress)
    build_index(fake_settings, fake_embedder, lambda e: (events.append(e), reporter(e)))
    fractions = [f for f, _ in progress.calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    totals = {int(m.group(2)) for _, d in progress.calls if (m := re.search(r"(\d+)/(\d+) 个文件", d or ""))}
    assert totals == {next(e.total for e in events if e.stage == "embed")} == {9}  # 3 + 6 files
    assert {e.stage for e in events} >= {"embed", "targets", "write", "done"}
    # the stages' own totals differ (files, then steps): the page does not show them
    assert len({(e.stage, e.total) for e in events if e.total}) > 1
    assert not any(re.search(r"\d+/[1-3] 步", d or "") for _, d in progress.calls)


def test_upload_sanitises_names_reindexes_and_is_searchable(engine, tmp_path):
    progress = Progress()
    path = _upload(tmp_path, "bei_plan.txt", NEW_DOC.encode())
    msg = web.upload_files(engine, [path], progress)
    assert "已保存" in msg and "bei_plan.txt" in msg and "新增" in msg
    assert engine.reindex_calls == 1
    assert progress.calls and progress.calls[-1][0] == 1.0
    assert all(desc and not desc.startswith(("reading", "building")) for _, desc in progress.calls)
    assert any(r[4] == "bei_plan.txt" for r in web.library_rows(engine))
    hits = web.run_search(engine, "冰雪运动进校园", k=3).hits
    assert hits and hits[0].chunk.source == "bei_plan.txt"


def test_upload_reports_renamed_and_refused_files(engine, tmp_path):
    good = _upload(tmp_path, "ok.txt", NEW_DOC.encode())
    refused_type = _upload(tmp_path, "macro.exe", b"MZ")
    empty = _upload(tmp_path, "empty.txt", b"")
    msg = web.upload_files(engine, [good, refused_type, empty])
    assert "已保存（1）" in msg and "未保存（2）" in msg
    assert "macro.exe" in msg and "empty.txt" in msg
    # a name that the engine sanitises is reported with its original form
    engine2 = FakeEngine()

    class Named(str):
        orig_name = "../../x<y>.txt"

    msg = web.upload_files(engine2, [Named(_upload(tmp_path, "x.txt", NEW_DOC.encode()))])
    assert "x_y_.txt" in msg and "原文件名 ../../x&lt;y&gt;.txt" in msg
    _no_markup(msg)
    assert any(r[4] == "x_y_.txt" for r in web.library_rows(engine2))


def test_upload_of_a_name_in_the_library_keeps_both(tmp_path):
    engine = FakeEngine()
    first = web.upload_files(engine, [_upload(tmp_path, "同名.txt", NEW_DOC.encode())])
    assert "已保存（1）" in first and "另存为" not in first
    second = web.upload_files(engine, [_upload(tmp_path, "同名.txt", NEW_DOC.replace("8所", "9所").encode())])
    assert "文库中已有同名文件 同名.txt，新文件另存为 同名(2).txt，两份都保留" in second
    sources = [r[4] for r in web.library_rows(engine)]
    assert "同名.txt" in sources and "同名(2).txt" in sources
    texts = {s: engine.source_text(s) for s in ("同名.txt", "同名(2).txt")}
    assert "8所" in texts["同名.txt"] and "9所" in texts["同名(2).txt"]  # the first was not replaced


def test_upload_size_limit_and_nothing_selected(tmp_path):
    from dataclasses import replace

    engine = FakeEngine()
    engine.settings = replace(engine.settings, max_file_bytes=100)
    big = _upload(tmp_path, "big.txt", ("很长" * 100).encode())
    msg = web.upload_files(engine, [big])
    assert "未保存" in msg and "超过上限" in msg and engine.reindex_calls == 0
    with pytest.raises(PolicyQAError):
        web.upload_files(engine, [])


def test_remove_needs_confirmation_then_drops_document(engine):
    with pytest.raises(PolicyQAError, match="确认删除"):
        web.remove_document(engine, "summary_tw.txt", False)
    with pytest.raises(PolicyQAError):
        web.remove_document(engine, None, True)
    assert engine.reindex_calls == 0
    msg = web.remove_document(engine, "summary_tw.txt", True)
    assert "已从文库删除：summary_tw.txt" in msg and "移除" in msg
    assert not any(r[4] == "summary_tw.txt" for r in web.library_rows(engine))
    result = web.run_search(engine, "教师", k=10)
    assert all(h.chunk.source != "summary_tw.txt" for h in result.hits)
    with pytest.raises(PolicyQAError):
        web.remove_document(engine, "summary_tw.txt", True)


def test_reindex_reports_up_to_date(engine):
    msg = web.reindex_library(engine, Progress())
    assert "索引已是最新" in msg and "4 篇文档" in msg


def test_library_updates_refresh_every_document_list(engine, tmp_path):
    web.upload_files(engine, [_upload(tmp_path, "bei.txt", NEW_DOC.encode())])
    web.remove_document(engine, "summary_tw.txt", True)
    table, remove, f_type, f_year, f_region, f_doc, doc_select = web.library_updates(
        engine, (web.ALL, "2024", "某縣", "plan-1", "tw-1"))
    assert "bei.txt" in table and "summary_tw.txt" not in table
    assert ("bei.txt" in [v for _, v in remove["choices"]]) and remove["value"] is None
    assert ("2025", "2025") in f_year["choices"] and ("2024", "2024") not in f_year["choices"]
    assert f_year["value"] == web.ALL  # 2024 is gone: reset
    assert f_region["value"] == web.ALL
    assert f_doc["value"] == "plan-1"  # still there: kept
    assert "up-bei.txt" in [v for _, v in doc_select["choices"]] and doc_select["value"] is None
    assert all(v != web.ALL for _, v in doc_select["choices"])


def test_library_errors_become_gr_error(engine):
    @web.guard
    def remove():
        return web.remove_document(engine, "nope.txt", True)

    with pytest.raises(gr.Error, match="nope.txt"):
        remove()


def test_library_tab_components(engine):
    app = web.build_app(engine)
    files = [b for b in app.blocks.values() if isinstance(b, gr.File) and b.elem_id == "lib-upload"]
    assert files and files[0].file_count == "multiple"
    from policyqa.loaders import SUPPORTED_SUFFIXES

    assert set(files[0].file_types) == set(SUPPORTED_SUFFIXES)
    ids = {b.elem_id for b in app.blocks.values()}
    assert {"lib-table", "lib-upload-btn", "lib-remove", "lib-confirm", "lib-remove-btn",
            "lib-reindex-btn", "lib-msg"} <= ids


# ---------------------------------------------------------------------------- 对比

EVIL_ROW_PHRASING = "=HYPERLINK(\"http://x\")<img src=x onerror=alert(1)>毛入园率达到85%"


def _compare_table(engine) -> dict:
    """A table in the ``compare(...).to_json()`` shape, over the FakeEngine's text."""
    rows = []
    for d in engine.documents():
        text = engine.source_text(d.source)
        for sentence, value, unit, comp in (("学前三年毛入园率达到90%以上", 90.0, "%", "不低于"),
                                            ("新建、改扩建公办幼儿园12所", 12.0, "所", "新建")):
            i = text.find(sentence, d.start, d.end)
            if i >= 0:
                rows.append({"doc_id": d.doc_id, "title": d.title, "source": d.source,
                             "region": d.metadata.region, "year": d.metadata.year, "phrasing": sentence,
                             "indicator": "学前三年毛入园率" if unit == "%" else "公办幼儿园",
                             "comparator": comp, "value": value, "unit": unit, "deadline": None,
                             "start": i, "end": i + len(sentence)})
    evil = next(d for d in engine.documents() if d.title == EVIL_TITLE)
    rows.append({"doc_id": evil.doc_id, "title": evil.title, "source": evil.source, "region": "南区",
                 "year": 2022, "phrasing": EVIL_ROW_PHRASING, "indicator": "<b>毛入园率</b>",
                 "comparator": None, "value": None, "unit": "", "deadline": "2025年",
                 "start": evil.start, "end": evil.start + 5})
    return {"topic": "学前教育<script>", "rows": rows}


def test_compare_html_one_row_per_document_escaped(engine):
    table = _compare_table(engine)
    page = web.compare_html(table)
    _no_markup(page)
    assert page.count("<tr>") == 1  # the header; each row opens its own item when clicked
    assert re.findall(r'<tr data-pqa-open="(\d+)"', page) == [str(i) for i in range(len(table["rows"]))]
    assert "90%" in page
    assert web.NO_NUMBER in page  # a row without a number is marked as such
    assert "&lt;b&gt;毛入园率&lt;/b&gt;" in page and "学前教育&lt;script&gt;" in page
    assert web.NO_RESULTS in web.compare_html({"topic": "火星", "rows": []})


def test_value_text_forms():
    assert web.value_text({"value": 90.0, "unit": "%"}) == "90%"
    assert web.value_text({"value": 1.5, "unit": "%"}) == "1.5%"
    assert web.value_text({"value": 3.0, "value_max": 5.0, "unit": "所"}) == "3-5所"
    assert web.value_text({"value": None, "placeholder": True, "unit": "所"}) == "x所"
    assert web.value_text({"value": None, "unit": ""}) == ""


def test_compare_csv_has_bom_and_defuses_formulas(engine, tmp_path):
    import csv

    table = _compare_table(engine)
    path = Path(web.write_compare_csv(table, tmp_path))
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert tuple(rows[0]) == web.CSV_COLUMNS and len(rows) == len(table["rows"]) + 1
    assert rows[1][0] == table["rows"][0]["title"] and rows[1][6] == "90" and rows[1][7] == "%"
    evil = rows[-1]
    assert evil[3].startswith("'=HYPERLINK") and evil[6] == web.NO_NUMBER
    assert path.parent == tmp_path and path.name.endswith(".csv") and "<" not in path.name


def test_compare_row_opens_in_document_view(engine):
    table = _compare_table(engine)
    row = table["rows"][0]
    doc_id, _, body = web.open_citation(engine, web.row_ref(row))
    assert doc_id == row["doc_id"]
    marked = "".join(re.findall(r'<mark class="pqa-hit"[^>]*>(.*?)</mark>', body))
    assert marked == web.esc(row["phrasing"])


def test_compare_needs_a_topic(engine):
    with pytest.raises(PolicyQAError):
        web.run_compare(engine, "  ")


# -- with the real engine (compare needs its sentence table), indexed with HashEmbedder

PLAN_C = "某区教育局2024年工作计划\n\n一、学前教育\n到2025年，学前三年毛入园率达到95%。\n二、队伍\n开展教师培训。\n"


def _real_engine(base: Path):
    from policyqa.api import Engine
    from policyqa.config import load_settings
    from policyqa.embed import HashEmbedder

    corpus = base / "corpus"
    write(corpus / "plan_a.txt", PLAN_A)
    write(corpus / "sub" / "plan_b_gbk.txt", PLAN_B, encoding="gbk")
    write(corpus / "plan_c.txt", PLAN_C)
    settings = load_settings(env={}, corpus=corpus, index_dir=base / "index", model="hash:128")
    return Engine.open(settings, build_if_needed=True, embedder=HashEmbedder(128))


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return _real_engine(tmp_path_factory.mktemp("real-small"))


def test_run_compare_real_engine_rows_cite_their_values(real, tmp_path):
    table = web.run_compare(real, "学前教育毛入园率", progress=Progress())
    rows = table["rows"]
    assert {r["source"] for r in rows} >= {"plan_a.txt", "plan_c.txt"}
    assert len({r["doc_id"] for r in rows}) == len(rows)  # one row per document
    for r in rows:
        span = real.source_text(r["source"])[r["start"]:r["end"]]
        assert span == r["phrasing"]
        if r["value"] is not None:
            assert r["value_text"] in span
    page = web.compare_html(table)
    assert "<mark>92%</mark>" in page and "<mark>95%</mark>" in page and "到2025年" in page
    doc_id, _, body = web.open_citation(real, web.row_ref(rows[0]))
    assert doc_id == rows[0]["doc_id"]
    assert "".join(re.findall(r'<mark class="pqa-hit"[^>]*>(.*?)</mark>', body)) == web.esc(rows[0]["phrasing"])
    csv_text = Path(web.write_compare_csv(table, tmp_path)).read_text(encoding="utf-8-sig")
    assert "全县学前三年毛入园率达到92%以上。" in csv_text
    index = real.target_index()
    web.run_compare(real, "标准化学校")
    assert real.target_index() is index  # built once per loaded index


def test_compare_sees_library_changes(tmp_path):
    engine = _real_engine(tmp_path)
    assert not any(r["source"] == "new.txt" for r in web.run_compare(engine, "毛入园率")["rows"])
    path = _upload(tmp_path, "new.txt", "某镇教育办2026年工作计划\n\n一、学前\n学前三年毛入园率达到98%。\n".encode())
    web.upload_files(engine, [path])
    rows = web.run_compare(engine, "毛入园率")["rows"]
    assert any(r["source"] == "new.txt" and r["value"] == 98.0 for r in rows)


# ---------------------------------------------------------------------------- 找先例


def _precedents(engine) -> dict:
    out = []
    for c, score in ((engine.data.chunks[0], 0.91), (engine.data.chunks[-1], 0.5), (engine.data.chunks[1], 0.8)):
        first = c.text.split("。")[0] + "。"
        out.append({"doc_id": c.doc_id, "title": c.title, "source": c.source, "start": c.start, "end": c.end,
                    "text": c.text, "heading_path": list(c.heading_path), "score": score,
                    "matches": [{"start": c.start, "end": c.start + len(first)}]})
    return {"results": out}


def test_precedents_grouped_by_document_with_marks(engine):
    result = _precedents(engine)
    page = web.precedents_html(result)
    _no_markup(page)
    assert page.count('class="pqa-group"') == 2  # chunks 0 and 1 share a document
    first = page.index("1. ")
    assert page.index("3. ", first) < page.index(web.esc(result["results"][1]["title"]))
    assert "<mark>学前三年毛入园率达到90%以上。</mark>" in page
    assert "与草稿 1 句对应" in page and 'title="score 0.9100"' in page and "一、总体目标" in page
    assert web.NO_RESULTS in web.precedents_html({"results": []})
    # each passage opens its own item (its overall rank - 1), grouped or not
    assert sorted(re.findall(r'class="pqa-pass" data-pqa-open="(\d+)"', page)) == ["0", "1", "2"]


def test_mark_spans_escapes_and_clips():
    assert web.mark_spans("<b>甲乙</b>丙", 10, [(13, 15), (0, 2), (30, 40)]) == "&lt;b&gt;<mark>甲乙</mark>&lt;/b&gt;丙"


def test_precedent_opens_in_document_view(engine):
    item = _precedents(engine)["results"][0]
    doc_id, _, body = web.open_citation(engine, web.precedent_ref(item))
    assert doc_id == item["doc_id"] and web.esc(item["text"]) in body


def test_precedents_need_text(engine):
    with pytest.raises(PolicyQAError):
        web.run_precedents(engine, "\n ")


DRAFT = "到2026年，全区学前三年毛入园率要达到96%以上。开展幼儿园保教质量评估，防止小学化。"


def test_run_precedents_real_engine_grouped_and_marked(real):
    result = web.run_precedents(real, DRAFT, progress=Progress())
    results = result["results"]
    assert results and {r["source"] for r in results} >= {"plan_a.txt", "plan_c.txt"}
    page = web.precedents_html(result)
    assert page.count('class="pqa-group"') == len({r["doc_id"] for r in results})
    assert "<mark" in page and "对应草稿：" in page and "句对应" in page
    titles = [m.group(1) for m in re.finditer(r'class="pqa-group-title">([^<]*)<', page)]
    assert len(titles) == len(set(titles))  # each document once
    item = next(r for r in results if r["source"] == "plan_c.txt")
    doc_id, _, body = web.open_citation(real, web.precedent_ref(item))
    assert doc_id == item["doc_id"] and "pqa-hit" in body


def test_precedents_leave_out_the_draft_itself(real):
    own = "到2025年，学前三年毛入园率达到95%。"
    kept = real.precedents(own, exclude_self=False).to_json()["results"]
    assert own in kept[0]["text"]  # the passage holding the draft is the best match …
    results = web.run_precedents(real, own)["results"]
    assert results and all(own not in r["text"] for r in results)  # … and is left out
