"""Word, Excel and CSV exports, read back with python-docx, openpyxl and csv, from the API,
the CLI and the page's writers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook

from policyqa import export
from policyqa.errors import PolicyQAError

HOSTILE = "=HYPERLINK(\"http://x\",\"点我\")"

TABLE = {"topic": "学前教育毛入园率", "rows": [
    {"doc_id": "a", "title": "某县教育局2023年工作计划", "source": "plan_a.txt", "region": "某县", "year": 2023,
     "phrasing": "全县学前三年毛入园率城区达到92%以上。", "indicator": "学前三年毛入园率（城区）", "comparator": "以上",
     "value": 92.0, "value_text": "92%", "unit": "%", "deadline": "到2025年", "placeholder": False, "start": 10,
     "end": 30},
    {"doc_id": "b", "title": "模板", "source": "t.txt", "region": None, "year": None, "phrasing": HOSTILE,
     "indicator": "毛入园率", "comparator": None, "value": None, "value_text": "xx%", "unit": "%", "deadline": None,
     "placeholder": True, "start": 0, "end": 5},
]}


def _docx_text(data: bytes | Path) -> str:
    doc = Document(io.BytesIO(data) if isinstance(data, bytes) else str(data))
    cells = [c.text for t in doc.tables for r in t.rows for c in r.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def test_heading_label_never_repeats_the_piece_or_dangles():
    assert export.heading_label(("篇四", "一、目标"), "某县2023年计划 篇四") == "一、目标"
    assert export.citation_line("标题", ()) == "标题"
    assert export.citation_line("标题", ("", " ")) == "标题"
    assert export.citation_line("某县 篇四", ("篇四", "一、目标", "（一）学前")) == "某县 篇四 › 一、目标 › （一）学前"


def test_compare_xlsx_has_the_csv_columns_and_no_formula():
    wb = load_workbook(io.BytesIO(export.compare_xlsx_bytes(TABLE)))
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0] == export.COMPARE_COLUMNS
    first = dict(zip(rows[0], rows[1]))
    assert (first["文档"], first["年份"], first["数值"], first["期限"]) == ("某县教育局2023年工作计划", 2023, "92", "到2025年")
    assert first["指标"] == "学前三年毛入园率（城区）"
    hostile = wb.active.cell(3, export.COMPARE_COLUMNS.index("表述") + 1)
    assert hostile.value == HOSTILE and hostile.data_type == "s"  # text, not a formula
    assert dict(zip(rows[0], rows[2]))["数值"] == "x"  # a template's placeholder, as in the text


def test_compare_csv_defuses_formulas_and_matches_the_xlsx_columns():
    header, *rows = csv.reader(io.StringIO(export.compare_csv(TABLE)))
    assert tuple(header) == export.COMPARE_COLUMNS and len(rows) == 2
    assert rows[1][header.index("表述")] == "'" + HOSTILE


def test_answer_docx_has_question_answer_and_numbered_citations():
    answer = {"question": "学前三年毛入园率的目标是多少？", "abstained": False,
              "answer": "全县学前三年毛入园率达到92%以上。[1]",
              "citations": [{"n": 1, "title": "某县教育局2023年工作计划", "source": "plan_a.txt", "start": 10, "end": 30,
                             "text": "全县学前三年毛入园率达到92%以上。", "heading_path": ["一、加强学前教育"],
                             "year": 2023, "region": "某县", "placeholder": False}]}
    text = _docx_text(export.answer_docx_bytes(answer))
    for part in ("问答记录", "学前三年毛入园率的目标是多少？", "[1] 某县教育局2023年工作计划 › 一、加强学前教育",
                 "某县 · 2023", "plan_a.txt [10:30]"):
        assert part in text
    assert text.count("全县学前三年毛入园率达到92%以上。") == 2  # the answer and the quoted passage


def test_compare_and_precedents_docx():
    text = _docx_text(export.compare_docx_bytes(TABLE))
    assert "对比：学前教育毛入园率" in text and "学前三年毛入园率（城区）" in text and "到2025年" in text
    assert HOSTILE in text  # Word has no formulas: the text as written
    result = {"results": [{"title": "某区计划", "source": "c.txt", "start": 3, "end": 9, "text": "开展教师培训。",
                           "heading_path": ["二、队伍"], "metadata": {"region": "某区", "year": 2024},
                           "from_source": False}]}
    text = _docx_text(export.precedents_docx_bytes(result, "草稿：加强教师培训"))
    assert "草稿：加强教师培训" in text and "[1] 某区计划 › 二、队伍" in text and "某区 · 2024" in text
    assert "没有找到相似的段落" in _docx_text(export.precedents_docx_bytes({"results": []}))


def test_write_file_reports_an_unwritable_path_in_one_line(tmp_path):
    with pytest.raises(PolicyQAError, match="cannot write"):
        export.write_file(tmp_path / "missing" / "x.docx", b"data")


def test_cli_writes_word_and_excel(fake_settings, fake_embedder, tmp_path, capsys, monkeypatch):
    from policyqa import cli
    from policyqa.api import Engine, build_index

    build_index(fake_settings, fake_embedder)
    monkeypatch.setattr(cli, "open_engine", lambda s: Engine.open(fake_settings, embedder=fake_embedder))
    xlsx, docx, csv_path = tmp_path / "t.xlsx", tmp_path / "t.docx", tmp_path / "t.csv"
    assert cli.main(["compare", "学前三年毛入园率", "--xlsx", str(xlsx), "--docx", str(docx), "--csv", str(csv_path)]) == 0
    sheet = list(load_workbook(xlsx).active.iter_rows(values_only=True))
    header, *rows = csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8-sig")))
    assert sheet[0] == tuple(header) == export.COMPARE_COLUMNS and len(sheet) - 1 == len(rows) >= 1
    assert "全县学前三年毛入园率达到92%以上" in _docx_text(docx)

    answer = tmp_path / "a.docx"
    assert cli.main(["ask", "学前三年毛入园率达到多少？", "--docx", str(answer)]) == 0
    out = capsys.readouterr().out
    assert "学前三年毛入园率达到多少？" in _docx_text(answer)
    assert not any(line.rstrip().endswith("›") for line in out.splitlines())

    prec = tmp_path / "p.docx"
    assert cli.main(["precedents", "--text", "组织教师参加全员培训，培训经费不低于公用经费的5%。", "--docx", str(prec)]) == 0
    assert "组织教师参加全员培训" in _docx_text(prec) and "[1]" in _docx_text(prec)


def test_page_writers_make_the_same_files(tmp_path):
    from policyqa import web

    paths = [Path(p) for p in web.write_compare_exports(TABLE, tmp_path)]
    assert [p.suffix for p in paths] == [".csv", ".xlsx", ".docx"]
    assert paths[0].read_bytes().startswith(b"\xef\xbb\xbf")
    assert paths[0].read_bytes().decode("utf-8-sig") == export.compare_csv(TABLE)
    assert "<" not in paths[0].name and "/" not in paths[0].name
