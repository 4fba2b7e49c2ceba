"""Spreadsheets and tables: .xlsx (openpyxl writes the fixtures) and .csv files become one
line per row with the header's names repeated; .docx tables are rendered the same way; bad,
huge and corrupt workbooks are refused by name; a row of a workbook is found by search."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest

from policyqa.chunk import ChunkSettings
from policyqa.errors import LoadError
from policyqa.ingest import parse_corpus
from policyqa.loaders import SUPPORTED_SUFFIXES, load_file
from policyqa.spreadsheets import format_number, format_value, read_csv, read_xlsx, table_lines

LIMIT = 5_000_000
TITLE = "2024年各县区学前教育统计表"
HEADER = ("县区", "毛入园率", "普惠率", "在园幼儿数", "统计日期")


def make_stats_xlsx() -> bytes:
    """Two sheets: a merged title row above the header, percent and thousands formats, a
    formula with a cached value, float noise, an empty row and an empty column; then a
    plain sheet with its header on the first row."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "学前教育"
    ws.append([TITLE])
    ws.merge_cells("A1:F1")
    ws.append([HEADER[0], HEADER[1], HEADER[2], None, HEADER[3], HEADER[4]])  # column D empty
    ws.append(["颍州区", 0.925, 0.85, None, 12345, dt.date(2024, 3, 1)])
    ws.append([])  # an empty row
    ws.append(["颍东区", 0.9250000001, "=C3*1", None, 9876.5, dt.datetime(2024, 3, 1, 8, 30)])
    for ref in ("B3", "B5"):
        ws[ref].number_format = "0.0%"
    ws["C3"].number_format = ws["C5"].number_format = "0%"
    ws["E3"].number_format = ws["E5"].number_format = "#,##0"
    ws["F3"].number_format = "yyyy年m月d日"
    second = wb.create_sheet("义务教育")
    second.append(["学校", "班额"])
    second.append(["颍州区第一小学", 45])
    buf = io.BytesIO()
    wb.save(buf)
    return with_cached_value(buf.getvalue(), "<f>C3*1</f><v></v>", "<f>C3*1</f><v>0.8</v>")


def with_cached_value(xlsx: bytes, old: str, new: str) -> bytes:
    """The workbook with a formula's cached value filled in, as Excel leaves it on saving
    (openpyxl writes formulas without one)."""
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                assert old.encode() in data
                data = data.replace(old.encode(), new.encode())
            dst.writestr(info, data)
    return out.getvalue()


def make_docx_tables() -> bytes:
    import docx

    d = docx.Document()
    d.add_paragraph("一、主要指标")
    table = d.add_table(rows=5, cols=3)
    table.cell(0, 0).merge(table.cell(0, 2)).text = "表1 主要指标"
    for r, row in enumerate((("指标", "目标", "期限"), ("毛入园率", "90%以上", "2025年"),
                             ("普惠率", "85%", ""))):
        for c, value in enumerate(row):
            table.cell(r + 1, c).text = value
    table.cell(4, 0).merge(table.cell(4, 1)).text = "公办园占比过半"  # merged across two columns
    table.cell(4, 2).text = "2026年"
    single = d.add_table(rows=1, cols=2)  # one row: nothing to repeat
    single.cell(0, 0).text, single.cell(0, 1).text = "附件", "统计表"
    layout = d.add_table(rows=2, cols=1)  # a one-column layout table
    layout.cell(0, 0).text, layout.cell(1, 0).text = "关于学前教育的通知", "各县区教育局："
    blank = d.add_table(rows=2, cols=2)  # an empty first row: no header
    blank.cell(1, 0).text, blank.cell(1, 1).text = "甲", "乙"
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _load(root: Path, name: str):
    return load_file(root / name, root, LIMIT)


def _error(root: Path, name: str) -> LoadError:
    with pytest.raises(LoadError) as info:
        _load(root, name)
    assert info.value.source == name and name in str(info.value)
    return info.value


# ---------------------------------------------------------------- rendering


def test_new_suffixes_are_supported() -> None:
    assert {".xlsx", ".csv", ".doc", ".wps"} <= set(SUPPORTED_SUFFIXES)


def test_header_repeated_on_each_row_title_row_kept_once() -> None:
    lines = table_lines([[TITLE, "", ""], ["县区", "毛入园率", "普惠率"], ["颍州区", "92.5%", "85%"],
                         ["县区", "毛入园率", "普惠率"], ["颍东区", "", "80%"]])
    assert lines == [TITLE, "县区 | 毛入园率 | 普惠率", "县区：颍州区 | 毛入园率：92.5% | 普惠率：85%",
                     "县区：颍东区 | 普惠率：80%"]  # header repeated by a page break: once; empty values left out


def test_tables_without_a_sensible_header_keep_plain_rows() -> None:
    assert table_lines([["附件", "统计表"]]) == ["附件 | 统计表"]  # one row
    assert table_lines([["甲"], ["乙"]]) == ["甲", "乙"]  # one column
    assert table_lines([["", ""], ["甲", "乙"], ["丙", "丁"]]) == ["甲 | 乙", "丙 | 丁"]  # a blank first row: no header
    assert table_lines([["2022", "2023"], ["1", "2"]]) == ["2022 | 2023", "1 | 2"]  # numbers are no names
    long = "这是一段很长的说明文字" * 5
    assert table_lines([["说明", long], ["甲", "乙"]]) == [f"说明 | {long}", "甲 | 乙"]


def test_cells_are_one_line_each() -> None:
    assert table_lines([["县区", "备注"], ["颍州区", "第一行\n第二行\x07"]]) == [
        "县区 | 备注", "县区：颍州区 | 备注：第一行 第二行"]


@pytest.mark.parametrize(("value", "code", "shown"), [
    (0.925, "0.0%", "92.5%"), (0.85, "0%", "85%"), (0.9250000001, "General", "0.925"),
    (0.1 + 0.2, None, "0.3"), (12345, "#,##0", "12,345"), (9876.5, "#,##0", "9,877"),
    (2.5, "0", "3"), (3.14159, "0.00", "3.14"), (1234567.891, '"¥"#,##0.00;[Red]-#,##0.00', "1,234,567.89"),
    (42, "General", "42"), (1.5e-7, "General", "0.00000015"), (0.000125, "0.00E+00", "1.25E-04"),
])
def test_numbers_as_excel_shows_them(value: float, code: str | None, shown: str) -> None:
    assert format_number(value, code) == shown


def test_dates_times_and_booleans() -> None:
    assert format_value(dt.datetime(2024, 3, 1), "yyyy-mm-dd") == "2024-03-01"
    assert format_value(dt.datetime(2024, 3, 1), "yyyy年m月d日") == "2024年3月1日"
    assert format_value(dt.datetime(2024, 3, 1, 8, 30), "yyyy-mm-dd h:mm") == "2024-03-01 08:30"
    assert format_value(dt.time(8, 30, 15), "h:mm:ss") == "08:30:15"
    assert format_value(True, None) == "TRUE" and format_value(None, None) == ""


# ---------------------------------------------------------------- files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sheets") / "corpus"
    root.mkdir()
    good = make_stats_xlsx()
    files = {
        "stats.xlsx": good,
        "gbk.csv": "县区;毛入园率;普惠率\n颍州区;92.5%;85%\n颍东区;90%;\"80%;待核\"\n".encode("gbk"),
        "bom.csv": "\ufeff学校,班额\r\n颍州区第一小学,45\r\n".encode("utf-8"),
        "tables.docx": make_docx_tables(),
        "truncated.xlsx": good[: len(good) // 2],
        "not_zip.xlsx": "这不是表格".encode("utf-8") * 20,
        "no_workbook.xlsx": _zip({"[Content_Types].xml": b"<Types/>"}),
        "broken.xlsx": _replaced(good, "xl/workbook.xml", b"<workbook><sheets><sheet"),
        "old.xlsx": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2000),
        "empty.xlsx": _empty_xlsx(),
        "empty.csv": b" ,, \n,,\n",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return root


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _replaced(xlsx: bytes, member: str, data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    return _zip({i.filename: (data if i.filename == member else src.read(i)) for i in src.infolist()})


def _empty_xlsx() -> bytes:
    import openpyxl

    buf = io.BytesIO()
    openpyxl.Workbook().save(buf)
    return buf.getvalue()


def test_xlsx_sheets_become_sections_of_header_named_rows(corpus: Path) -> None:
    sf = _load(corpus, "stats.xlsx")
    assert sf.fmt == "xlsx" and sf.encoding == "xlsx"
    assert sf.text.split("\n") == [
        "学前教育",
        TITLE,  # the merged title cell, read once
        " | ".join(HEADER),  # the empty column D is gone
        "县区：颍州区 | 毛入园率：92.5% | 普惠率：85% | 在园幼儿数：12,345 | 统计日期：2024年3月1日",
        "县区：颍东区 | 毛入园率：92.5% | 普惠率：80% | 在园幼儿数：9,877 | 统计日期：2024-03-01 08:30",
        "义务教育",
        "学校 | 班额",
        "学校：颍州区第一小学 | 班额：45",
    ]


def test_csv_in_gbk_with_semicolons_and_quoted_delimiter(corpus: Path) -> None:
    sf = _load(corpus, "gbk.csv")
    assert sf.fmt == "csv" and sf.encoding == "gb18030"
    assert sf.text == ("县区 | 毛入园率 | 普惠率\n县区：颍州区 | 毛入园率：92.5% | 普惠率：85%\n"
                       "县区：颍东区 | 毛入园率：90% | 普惠率：80%;待核")


def test_csv_with_bom_and_crlf(corpus: Path) -> None:
    sf = _load(corpus, "bom.csv")
    assert sf.encoding == "utf-8-sig" and sf.text == "学校 | 班额\n学校：颍州区第一小学 | 班额：45"


@pytest.mark.parametrize(("name", "words"), [
    ("truncated.xlsx", "corrupt xlsx: not a zip archive"),
    ("not_zip.xlsx", "corrupt xlsx: not a zip archive"),
    ("no_workbook.xlsx", "no xl/workbook.xml"),
    ("broken.xlsx", "corrupt xlsx"),
    ("old.xlsx", "old Excel .xls format"),
    ("empty.xlsx", "empty workbook"),
    ("empty.csv", "empty table"),
])
def test_bad_spreadsheets_refused_by_name(corpus: Path, name: str, words: str) -> None:
    assert words in _error(corpus, name).reason


def test_too_many_cells_refused_clearly() -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    for r in range(30):
        wb.active.append([f"r{r}c{c}" for c in range(10)])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(LoadError) as info:
        read_xlsx(buf.getvalue(), "big.xlsx", LIMIT, max_cells=200)
    assert info.value.source == "big.xlsx"
    assert "spreadsheet too large: more than 200 cells (sheet 'Sheet')" in info.value.reason
    assert read_xlsx(buf.getvalue(), "big.xlsx", LIMIT, max_cells=300)[0].count("\n") == 30
    rows = "\n".join(",".join("x" * 3 for _ in range(10)) for _ in range(30)).encode()
    with pytest.raises(LoadError, match="spreadsheet too large"):
        read_csv(rows, "big.csv", LIMIT, decode=lambda raw, src: (raw.decode(), "utf-8"), max_cells=200)


def test_stray_far_cell_does_not_pad_the_whole_sheet() -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["县区", "普惠率"])
    wb.active.append(["颍州区", "85%"])
    wb.active["A100000"] = "备注"  # a far-away cell: empty rows in between cost no cells
    buf = io.BytesIO()
    wb.save(buf)
    text = read_xlsx(buf.getvalue(), "far.xlsx", LIMIT, max_cells=1000)[0]
    assert text.endswith("县区：颍州区 | 普惠率：85%\n县区：备注")


def test_xlsx_zip_bomb_refused() -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", b"<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", bytes(30 * 2**20))
    with pytest.raises(LoadError, match=r"suspicious xlsx \(zip bomb\?\)"):
        read_xlsx(bomb.getvalue(), "bomb.xlsx", LIMIT)


def test_docx_table_rows_carry_the_header(corpus: Path) -> None:
    lines = _load(corpus, "tables.docx").text.split("\n")
    assert lines == [
        "一、主要指标",
        "表1 主要指标",  # merged title row above the header
        "指标 | 目标 | 期限",
        "指标：毛入园率 | 目标：90%以上 | 期限：2025年",
        "指标：普惠率 | 目标：85%",
        "指标：公办园占比过半 | 期限：2026年",  # the value after a merged cell keeps its name
        "附件 | 统计表",  # single-row table as before
        "关于学前教育的通知", "各县区教育局：",  # one-column layout table as before
        "甲 | 乙",  # an empty first row is no header
    ]


def test_ingest_keeps_rows_whole_and_offsets_exact(corpus: Path) -> None:
    parsed = parse_corpus(corpus, ChunkSettings(size=60, max=120, min=10), LIMIT)
    files = {sf.source: sf for sf in parsed.files}
    assert {"stats.xlsx", "gbk.csv", "bom.csv", "tables.docx"} <= set(files)
    rows = [ln for ln in files["stats.xlsx"].text.split("\n") if "：" in ln]
    chunks = [c for c in parsed.chunks if c.source == "stats.xlsx"]
    for chunk in chunks:
        assert chunk.text == files["stats.xlsx"].text[chunk.start:chunk.end]
    for row in rows:  # small chunks still hold each row whole
        assert any(row in c.text for c in chunks), row


def test_rows_that_look_like_page_metadata_are_kept(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text("日期,事项,来源\n2024-03-01,春季开学,市教育局\n", encoding="utf-8")
    (tmp_path / "contacts.csv").write_text("学校,电话,邮箱\n颍州区第一小学,0558-1234567,yz1@example.cn\n",
                                           encoding="utf-8")
    parsed = parse_corpus(tmp_path, ChunkSettings(), LIMIT)
    kept = "\n".join(c.text for c in parsed.chunks)
    assert "日期：2024-03-01 | 事项：春季开学 | 来源：市教育局" in kept  # not a page's date line
    assert "电话：0558-1234567 | 邮箱：yz1@example.cn" in kept  # not a site's contact footer


# ---------------------------------------------------------------- search


def test_a_workbook_row_is_found_by_search(tmp_path: Path) -> None:
    from policyqa.api import Engine
    from policyqa.config import load_settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "stats.xlsx").write_bytes(make_stats_xlsx())
    (corpus / "plan.txt").write_text("某县教育局2024年工作计划\n一、加强师德师风建设\n开展教师全员培训。\n",
                                     encoding="utf-8")
    engine = Engine.open(load_settings(env={}, corpus=corpus, index_dir=tmp_path / "index"),
                         build_if_needed=True)
    hits = engine.search("颍东区的普惠率是多少", k=3).hits
    assert hits and hits[0].chunk.source == "stats.xlsx"
    assert "县区：颍东区 | 毛入园率：92.5% | 普惠率：80%" in hits[0].chunk.text
