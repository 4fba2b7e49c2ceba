"""Real-world intake: .docx, .pdf, saved .html pages, legacy encodings and every kind of bad
file. The fixture corpus is generated here (python-docx writes the Word file; the PDFs are
written by hand, with a CJK font referenced by name and a ToUnicode map, and encrypted with
pypdf), then loaded file by file and through the whole ingest."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from policyqa.chunk import ChunkSettings
from policyqa.errors import LoadError
from policyqa.ingest import parse_corpus
from policyqa.loaders import PAGE_SEPARATOR, SUPPORTED_SUFFIXES, load_file, page_of

LIMIT = 1_000_000  # max_file_bytes for the fixture corpus

# ---------------------------------------------------------------- fixture builders

DOCX_TITLE = "某县教育局2023年工作计划"
DOCX_BODY = "全面贯彻党的教育方针，落实立德树人根本任务，推动全县教育高质量发展。"
DOCX_ITEMS = ("学前三年毛入园率达到90%以上，新建改扩建幼儿园5所。", "完成44所标准化学校建设，推进教师交流轮岗。")
DOCX_ROWS = (("指标", "目标", "期限"), ("学前三年毛入园率", "90%以上", "2025年"))


def make_docx() -> bytes:
    import docx

    d = docx.Document()
    d.core_properties.title = DOCX_TITLE
    d.add_heading(DOCX_TITLE, 0)
    d.add_heading("一、指导思想", 1)
    d.add_paragraph(DOCX_BODY)
    d.add_heading("二、主要任务", 1)
    for item in DOCX_ITEMS:
        d.add_paragraph(item, style="List Number")
    table = d.add_table(rows=3, cols=3)
    for r, row in enumerate(DOCX_ROWS):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    merged = table.cell(2, 0).merge(table.cell(2, 2))
    merged.text = "经费保障：教师培训经费不低于公用经费的5%"
    d.add_paragraph("三、保障措施")
    d.add_paragraph("加强组织领导，确保各项任务落到实处。")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def make_empty_docx() -> bytes:
    import docx

    buf = io.BytesIO()
    docx.Document().save(buf)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_zip_bomb(mib: int = 20) -> bytes:
    """A well-formed .docx zip whose media member inflates to ``mib`` MiB of zeros."""
    good = zipfile.ZipFile(io.BytesIO(make_docx()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for info in good.infolist():
            zf.writestr(info.filename, good.read(info))
        with zf.open("word/media/image1.png", "w", force_zip64=True) as member:
            block = bytes(2**20)
            for _ in range(mib):
                member.write(block)
    return buf.getvalue()


def _pdf_string(line: str) -> str:
    if line.isascii():
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return f"/F1 12 Tf ({escaped}) Tj"
    return f"/F2 12 Tf <{line.encode('utf-16-be').hex()}> Tj"


def _to_unicode_cmap() -> bytes:
    """CID = UTF-16 code unit (BMP): the identity map, in ranges a bfrange allows
    (one first byte each, at most 100 per block)."""
    ranges = [f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in range(256) if not 0xD8 <= hi <= 0xDF]
    blocks = "".join(
        f"{len(ranges[i:i + 100])} beginbfrange\n" + "\n".join(ranges[i:i + 100]) + "\nendbfrange\n"
        for i in range(0, len(ranges), 100)
    )
    return (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
        "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        + blocks
        + "endcmap CMapName currentdict /CMap defineresource pop end end\n"
    ).encode("ascii")


def make_pdf(pages: list[list], title: str | None = None) -> bytes:
    """A minimal valid PDF: one text line per entry (ASCII in Helvetica, Chinese in
    STSong-Light through Identity-H + ToUnicode), or texts placed at ``(x, y, text)``; a page
    with no lines has only a filled rectangle (a "scan" without a text layer)."""
    objs: list[bytes] = []

    def add(body: bytes) -> int:
        objs.append(body)
        return len(objs)

    def stream(data: bytes, extra: str = "") -> bytes:
        return f"<< /Length {len(data)} {extra}>>\nstream\n".encode() + data + b"\nendstream"

    catalog = add(b"")  # filled in below
    pages_obj = add(b"")
    helv = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    cmap = add(stream(_to_unicode_cmap()))
    cid = add(b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
              b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> "
              b"/FontDescriptor << /Type /FontDescriptor /FontName /STSong-Light /Flags 6 "
              b"/FontBBox [0 -200 1000 900] /ItalicAngle 0 /Ascent 880 /Descent -120 "
              b"/CapHeight 880 /StemV 80 >> /DW 1000 >>")
    cjk = add(f"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H "
              f"/DescendantFonts [{cid} 0 R] /ToUnicode {cmap} 0 R >>".encode())
    kids = []
    for lines in pages:
        if lines and isinstance(lines[0], tuple):  # (x, y, text): each text placed on its own
            ops = " ".join(f"1 0 0 1 {x} {y} Tm {_pdf_string(text)}" for x, y, text in lines)
            content = f"BT {ops} ET".encode()
        elif lines:
            ops = " T* ".join(_pdf_string(line) for line in lines)
            content = f"BT 72 760 Td 16 TL {ops} ET".encode()
        else:
            content = b"0.5 g 72 72 400 600 re f"
        c = add(stream(content))
        kids.append(add(
            f"<< /Type /Page /Parent {pages_obj} 0 R /MediaBox [0 0 612 792] /Contents {c} 0 R "
            f"/Resources << /Font << /F1 {helv} 0 R /F2 {cjk} 0 R >> >> >>".encode()))
    objs[catalog - 1] = f"<< /Type /Catalog /Pages {pages_obj} 0 R >>".encode()
    objs[pages_obj - 1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()
    info = add(f"<< /Title <{(chr(0xFEFF) + title).encode('utf-16-be').hex()}> >>".encode()) if title else None

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    trailer = f"<< /Size {len(objs) + 1} /Root {catalog} 0 R" + (f" /Info {info} 0 R" if info else "") + " >>"
    out += f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


PDF_PAGE1 = ["Education Bureau Work Plan 2023", "一、指导思想", "学前三年毛入园率达到90%以上。"]
PDF_PAGE2 = ["二、主要任务", "完成44所标准化学校建设。", "Teacher exchange: 15% of teachers rotate each year."]


def encrypt_pdf(pdf: bytes, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


HTML_BODY = ("以习近平新时代中国特色社会主义思想为指导，全面贯彻党的教育方针，落实立德树人根本任务，"
             "推动全县教育高质量发展。")
HTML_TARGET = "学前三年毛入园率达到90%以上，新建改扩建幼儿园5所。"
HTML_CHROME = ("某县人民政府门户网站", "办事服务", "ICP备12345678号", "联系电话")
HTML_PAGE = f"""<!DOCTYPE html>
<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">
<title>2023年某县教育局工作计划_某县人民政府</title>
<meta name="publishdate" content="2023-03-01">
<meta property="og:site_name" content="某县人民政府">
<script>var tracker = "不应出现的脚本文字";</script></head>
<body><header><div class="logo">某县人民政府门户网站</div></header>
<nav><ul><li><a href="/">首页</a></li><li><a href="/a">政务公开</a></li><li><a href="/b">办事服务</a></li></ul></nav>
<article><h1>2023年某县教育局工作计划</h1>
<p>一、指导思想</p><p>{HTML_BODY}</p>
<p>二、主要任务</p><p>（一）学前教育：{HTML_TARGET}</p>
<p>（二）义务教育：完成44所标准化学校建设，推进教师交流轮岗。</p>
</article>
<footer><p>版权所有：某县人民政府 ICP备12345678号</p><p>联系电话：0000-1234567</p></footer>
</body></html>"""
BARE_PAGE = """<html><head><meta charset="utf-8"><title>通知</title><style>p{color:red}</style></head>
<body><nav>首页 | 通知公告</nav><div>关于做好2024年春季开学工作的通知</div><footer>版权所有</footer></body></html>"""

SIMPLIFIED = "教育局工作计划\n一、指导思想\n（一）学前教育：学前三年毛入园率达到90%以上。\n"
TRADITIONAL = "教育督導工作計劃\n一、全力推進義務教育均衡發展督導評估工作\n認真落實全省教育督導工作會議。\n"
OLE_ENCRYPTED = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
                 + "EncryptedPackage".encode("utf-16-le") + bytes(1000))
OLE_DOC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "WordDocument".encode("utf-16-le") + bytes(1000)

GOOD = ("plan.docx", "plan.pdf", "owner_only.pdf", "page.html", "bare.htm", "gbk.txt", "big5.txt", "notes.md")
# bad file → words its reason must contain
BAD = {
    "empty.txt": "empty file",
    "blank.md": "empty file",
    "binary.txt": "not text",
    "binary.html": "not text",
    "chrome_only.html": "no text found in the page",
    "empty.docx": "empty document",
    "not_zip.docx": "not a zip archive",
    "truncated.docx": "not a zip archive",
    "no_document.docx": "no word/document.xml",
    "broken_xml.docx": "cannot read docx",
    "bomb.docx": "zip bomb",
    "encrypted.docx": "encrypted docx",
    "old.docx": "old Word .doc",
    "garbage.pdf": "corrupt pdf",
    "not_pdf.pdf": "not a PDF",
    "encrypted.pdf": "encrypted PDF: remove the password",
    "scanned.pdf": "no text layer (scanned?) and OCR found no text",
    "huge.txt": "max_file_bytes",
    "report.xyz": "unsupported file type '.xyz'",
    "old.doc": "save it as .docx",  # LibreOffice missing, or it cannot convert this fake
}


def build_corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    good_docx = make_docx()
    good_pdf = make_pdf([PDF_PAGE1, PDF_PAGE2], title="2023 Work Plan")
    files = {
        "plan.docx": good_docx,
        "plan.pdf": good_pdf,
        "owner_only.pdf": encrypt_pdf(good_pdf, user_password=""),
        "page.html": HTML_PAGE.encode("gbk"),
        "bare.htm": BARE_PAGE.encode("utf-8"),
        "gbk.txt": SIMPLIFIED.encode("gbk"),
        "big5.txt": TRADITIONAL.encode("big5"),
        "notes.md": "# 督导工作要点\n\n开展义务教育优质均衡发展督导评估。\n".encode("utf-8"),
        "empty.txt": b"",
        "blank.md": b" \n\n\t",
        "binary.txt": bytes(range(256)) * 8,
        "binary.html": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        "chrome_only.html": b"<html><head><title>t</title><script>var a = 1;</script></head>"
                            b"<body><script>document.write('x')</script></body></html>",
        "empty.docx": make_empty_docx(),
        "not_zip.docx": b"this is not a word file at all \xff\xfe" * 20,
        "truncated.docx": good_docx[: len(good_docx) // 2],
        "no_document.docx": _zip({"[Content_Types].xml": b"<Types/>", "readme.txt": b"hello"}),
        "broken_xml.docx": _zip({**{i.filename: zipfile.ZipFile(io.BytesIO(good_docx)).read(i)
                                    for i in zipfile.ZipFile(io.BytesIO(good_docx)).infolist()},
                                 "word/document.xml": b"<w:document><w:body><w:p>unclosed"}),
        "bomb.docx": make_zip_bomb(),
        "encrypted.docx": OLE_ENCRYPTED,
        "old.docx": OLE_DOC,
        "garbage.pdf": b"%PDF-1.7\n" + bytes(range(256)) * 16,
        "not_pdf.pdf": "这不是PDF文件".encode("utf-8"),
        "encrypted.pdf": encrypt_pdf(good_pdf, user_password="secret"),
        "scanned.pdf": make_pdf([[], []]),
        "huge.txt": ("很长的文本。" * (LIMIT // 18 + 1)).encode("utf-8"),
        "report.xyz": b"whatever",
        "old.doc": OLE_DOC,
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    assert set(files) == set(GOOD) | set(BAD)
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_corpus(tmp_path_factory.mktemp("formats") / "corpus")


def _load(root: Path, name: str, limit: int = LIMIT):
    return load_file(root / name, root, limit)


# ---------------------------------------------------------------- good files


def test_supported_suffixes() -> None:
    assert {".txt", ".md", ".docx", ".pdf", ".html", ".htm"} <= set(SUPPORTED_SUFFIXES)


def test_docx_paragraphs_headings_numbering_and_title(corpus: Path) -> None:
    sf = _load(corpus, "plan.docx")
    assert sf.fmt == "docx" and sf.meta["title"] == DOCX_TITLE
    lines = sf.text.split("\n")
    assert lines[:3] == [DOCX_TITLE, "一、指导思想", DOCX_BODY]
    # python-docx writes "List Number" paragraphs without the number in the text: kept as is
    assert lines[4:6] == list(DOCX_ITEMS)
    assert "" not in lines  # empty paragraphs dropped


def test_docx_table_rows_are_readable_lines_in_body_order(corpus: Path) -> None:
    lines = _load(corpus, "plan.docx").text.split("\n")
    header, row = DOCX_ROWS
    i = lines.index(" | ".join(header))
    # each data row carries the header's names, so the row reads on its own
    assert lines[i + 1] == " | ".join(f"{h}：{v}" for h, v in zip(header, row))
    assert lines[i + 2] == "经费保障：教师培训经费不低于公用经费的5%"  # merged cell once
    assert lines[i - 1] == DOCX_ITEMS[-1] and lines[i + 3] == "三、保障措施"


def test_pdf_text_pages_and_page_of(corpus: Path) -> None:
    sf = _load(corpus, "plan.pdf")
    assert sf.fmt == "pdf" and sf.meta["page_count"] == "2"
    assert sf.meta["title"] == "2023 Work Plan"
    starts = json.loads(sf.meta["pages"])
    assert starts[0] == 0 and sf.text[starts[1] - len(PAGE_SEPARATOR):starts[1]] == PAGE_SEPARATOR
    for n, lines in enumerate((PDF_PAGE1, PDF_PAGE2), 1):
        for line in lines:
            at = sf.text.index(line)  # Chinese comes through the ToUnicode map
            assert page_of(sf, at) == n
            assert page_of(sf, at + len(line) - 1) == n
    assert page_of(sf, len(sf.text)) == 2
    assert page_of(sf, -1) is None and page_of(sf, len(sf.text) + 1) is None
    assert page_of(_load(corpus, "gbk.txt"), 0) is None


def test_pdf_protected_only_by_owner_password_loads(corpus: Path) -> None:
    sf = _load(corpus, "owner_only.pdf")
    assert "完成44所标准化学校建设。" in sf.text


def test_html_main_text_without_chrome_and_metadata(corpus: Path) -> None:
    sf = _load(corpus, "page.html")
    assert sf.fmt == "html" and sf.encoding == "gb18030"  # declared gb2312, read as its superset
    assert HTML_BODY in sf.text and HTML_TARGET in sf.text and "一、指导思想" in sf.text
    for chrome in HTML_CHROME + ("不应出现的脚本文字",):
        assert chrome not in sf.text
    assert sf.meta["date"] == "2023-03-01"
    assert sf.meta["site"] == "某县人民政府"
    assert "2023年某县教育局工作计划" in sf.meta["title"]


def test_html_tiny_page_loads_without_guessed_date(corpus: Path) -> None:
    sf = _load(corpus, "bare.htm")
    assert "关于做好2024年春季开学工作的通知" in sf.text
    assert "color" not in sf.text
    assert "date" not in sf.meta  # no date in the markup: none guessed from "2024年"


def test_html_fallback_when_trafilatura_finds_nothing(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trafilatura

    monkeypatch.setattr(trafilatura, "bare_extraction", lambda *a, **k: None)
    sf = _load(corpus, "page.html")
    assert HTML_BODY in sf.text and HTML_TARGET in sf.text
    for chrome in HTML_CHROME + ("不应出现的脚本文字",):
        assert chrome not in sf.text
    assert sf.meta == {"title": "2023年某县教育局工作计划_某县人民政府"}
    sf = _load(corpus, "bare.htm")
    assert sf.text == "关于做好2024年春季开学工作的通知"


def test_html_charset_from_xml_declaration(tmp_path: Path) -> None:
    page = ('<?xml version="1.0" encoding="big5"?>\n<html><body><article>'
            f"<p>{TRADITIONAL.strip()}</p></article></body></html>")
    (tmp_path / "x.html").write_bytes(page.encode("big5"))
    assert "全力推進義務教育均衡發展督導評估工作" in _load(tmp_path, "x.html").text


def test_legacy_text_encodings(corpus: Path) -> None:
    assert _load(corpus, "gbk.txt").text == SIMPLIFIED
    assert _load(corpus, "big5.txt").text == TRADITIONAL


# ---------------------------------------------------------------- bad files


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_reported_by_name_with_reason(corpus: Path, name: str) -> None:
    with pytest.raises(LoadError) as info:
        _load(corpus, name)
    err = info.value
    assert err.source == name and name in str(err)
    assert BAD[name] in err.reason


def test_oversize_reason_says_size_limit_and_setting(corpus: Path) -> None:
    size = (corpus / "huge.txt").stat().st_size
    reason = _load_error(corpus, "huge.txt").reason
    assert str(size) in reason and str(LIMIT) in reason and "max_file_bytes" in reason


def test_zip_bomb_total_size_limit_follows_max_bytes(corpus: Path) -> None:
    bomb = corpus / "bomb.docx"
    assert bomb.stat().st_size < 200_000  # the file itself is small
    reason = _load_error(corpus, "bomb.docx", limit=100_000).reason
    assert "zip bomb" in reason and "5000000" in reason  # 50 × max_file_bytes
    assert "ratio" in _load_error(corpus, "bomb.docx").reason


def test_parser_failure_is_a_load_error(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pypdf

    def boom(self, *a, **k):
        raise RuntimeError("unexpected parser state\nmore detail")

    monkeypatch.setattr(pypdf.PageObject, "extract_text", boom)
    reason = _load_error(corpus, "plan.pdf").reason
    assert reason == "cannot read pdf: page 1: RuntimeError: unexpected parser state"


def _load_error(root: Path, name: str, limit: int = LIMIT) -> LoadError:
    with pytest.raises(LoadError) as info:
        _load(root, name, limit)
    return info.value


# ---------------------------------------------------------------- whole ingest


def test_ingest_indexes_every_good_file_and_reports_every_bad_one(corpus: Path) -> None:
    parsed = parse_corpus(corpus, ChunkSettings(), LIMIT)
    skipped = {e.source: e.reason for e in parsed.skipped}
    assert set(skipped) == set(BAD)
    for name, words in BAD.items():
        assert words in skipped[name]
    files = {sf.source: sf for sf in parsed.files}
    assert set(files) == set(GOOD)
    by_source: dict[str, list] = {}
    for chunk in parsed.chunks:
        sf = files[chunk.source]
        assert chunk.text == sf.text[chunk.start:chunk.end]
        by_source.setdefault(chunk.source, []).append(chunk)
    assert set(by_source) == set(GOOD)
    joined = {s: "".join(c.text for c in cs) for s, cs in by_source.items()}
    assert "指标：学前三年毛入园率 | 目标：90%以上 | 期限：2025年" in joined["plan.docx"]
    assert "完成44所标准化学校建设" in joined["plan.pdf"]
    assert HTML_TARGET in joined["page.html"]
    pdf = files["plan.pdf"]
    pdf_chunk = next(c for c in by_source["plan.pdf"] if "完成44所" in c.text)
    assert page_of(pdf, pdf_chunk.start + pdf_chunk.text.index("完成44所")) == 2
