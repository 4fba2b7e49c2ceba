"""OCR of scanned PDFs and page images with the real engine (rapidocr, offline): small pages of
a few lines drawn with the Noto CJK font, so the whole file runs in about half a minute.
Index builds use the HashEmbedder (no embedding model)."""

from __future__ import annotations

import difflib
import io
import json
import os
import random
import struct
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from policyqa import ocr, ocr_layout
from policyqa import build as build_module
from policyqa.build import build_index
from policyqa.cli import format_summary
from policyqa.config import load_settings
from policyqa.embed import HashEmbedder
from policyqa.engine import Engine
from policyqa.errors import LoadError
from policyqa.index import load_index
from policyqa.loaders import PAGE_SEPARATOR, load_file, load_warnings, page_of
from policyqa.ocr import OcrOptions
from policyqa.ocr_layout import OcrLine, page_text
from tests.test_formats import make_pdf

PIL = pytest.importorskip("PIL")
from PIL import Image, ImageDraw, ImageFilter, ImageFont  # noqa: E402

FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
if not FONT.is_file():
    pytest.skip("the Noto CJK font (fonts-noto-cjk) is needed to draw test pages", allow_module_level=True)

PAGE1 = ["某县教育局关于加强学前教育的通知", "县教发〔2023〕12号", "全县学前三年毛入园率达到92%以上。"]
PAGE2 = ["二、推进义务教育优质均衡", "完成44所标准化学校建设，", "辍学率控制在0.5%以内。"]
MIXED_TEXT = ["一、指导思想", "坚持立德树人，办好人民满意的教育。"]
MIXED_SCAN = ["三、加强教师队伍建设", "组织500名教师参加全员培训。"]


def draw_page(lines: list[str], size: int = 30, background: int = 255) -> Image.Image:
    font = ImageFont.truetype(str(FONT), size)
    width = max(int(font.getlength(line)) for line in lines) + 2 * size
    img = Image.new("RGB", (width, size * 2 * len(lines) + size), (background,) * 3)
    d = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        d.text((size, size // 2 + i * size * 2), line, font=font, fill=(20, 20, 20))
    return img


def image_pdf(pages: list[Image.Image]) -> bytes:
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", resolution=200, save_all=True, append_images=pages[1:])
    return buf.getvalue()


def mixed_pdf() -> bytes:
    """Page 1 with a text layer, page 2 a scan."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.add_page(PdfReader(io.BytesIO(make_pdf([MIXED_TEXT]))).pages[0])
    writer.add_page(PdfReader(io.BytesIO(image_pdf([draw_page(MIXED_SCAN)]))).pages[0])
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares a huge image."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    raw = bytearray(buf.getvalue())
    ihdr = raw[12:29]  # type + data (13 bytes)
    ihdr[4:12] = struct.pack(">II", width, height)
    raw[12:29] = ihdr
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(raw)


def similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One corpus, built once: an image-only PDF, a mixed PDF, a text file, a corrupt image
    and a decompression bomb."""
    base = tmp_path_factory.mktemp("ocr")
    corpus = base / "corpus"
    corpus.mkdir()
    (corpus / "scan.pdf").write_bytes(image_pdf([draw_page(PAGE1), draw_page(PAGE2)]))
    (corpus / "mixed.pdf").write_bytes(mixed_pdf())
    (corpus / "plan.txt").write_text("某市教育局2022年工作总结\n校园足球活动广泛开展，组建足球队120支。\n", encoding="utf-8")
    (corpus / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(random.Random(1).randrange(256) for _ in range(300)))
    (corpus / "bomb.png").write_bytes(bomb_png())
    settings = load_settings(env={}, corpus=corpus, index_dir=base / "index", model="hash:128")
    events = []
    engine = Engine.open(settings, build_if_needed=True, progress=events.append, embedder=HashEmbedder(dim=128))
    yield settings, engine, events
    engine.close()


def test_image_only_pdf_is_indexed_found_and_cited_by_page(built) -> None:
    settings, engine, events = built
    data = engine.data
    text = data.text("scan.pdf")
    pages = text.split(PAGE_SEPARATOR)
    assert len(pages) == 2 and similar(pages[1], "\n".join(PAGE2)) > 0.9, text
    assert "毛入园率达到92%以上" in pages[0]
    assert data.manifest.files["scan.pdf"]["pages"] == [0, len(pages[0]) + len(PAGE_SEPARATOR)]
    assert data.manifest.files["scan.pdf"]["ocr_pages"] == [1, 2]
    hits = engine.search("标准化学校建设").hits
    assert hits and hits[0].chunk.source == "scan.pdf"
    assert hits[0].page == 2 and hits[0].to_json()["page"] == 2  # where its best sentence is
    answer = engine.ask("完成多少所标准化学校建设？")
    cited = [c for c in answer.citations if c.source == "scan.pdf"]
    assert cited and cited[0].page == 2 and "第2页" in cited[0].where()
    assert cited[0].text == text[cited[0].start:cited[0].end]
    details = [e.detail for e in events]
    assert "OCR scan.pdf page 1/2" in details and "OCR scan.pdf page 2/2" in details


def test_line_boxes_are_recorded_with_exact_offsets(built) -> None:
    settings, engine, _ = built
    data = engine.data
    sha = data.manifest.files["scan.pdf"]["sha256"]
    layout = ocr.read_layout(settings.index_dir / ocr.OCR_CACHE, sha)
    text = data.text("scan.pdf")
    assert layout and layout["pages"]["1"]["angle"] == 0 and layout["pages"]["1"]["dpi"] == 200
    lines = layout["lines"]
    assert {line[0] for line in lines} == {1, 2}
    for _page, start, end, x0, y0, x1, y1 in lines:
        assert text[start:end] and "\n" not in text[start:end] and 0 <= x0 < x1 and 0 <= y0 < y1
    first = next(line for line in lines if line[0] == 2)
    assert text[first[1]:first[2]] == PAGE2[0]  # the top line of page 2 comes first


def test_mixed_pdf_keeps_its_text_layer_and_reads_the_scanned_page(built) -> None:
    _, engine, _ = built
    text = engine.data.text("mixed.pdf")
    layer, scanned = text.split(PAGE_SEPARATOR)
    assert layer == "\n".join(MIXED_TEXT)  # the text layer as extracted, not OCR
    assert similar(scanned, "\n".join(MIXED_SCAN)) > 0.9, scanned
    assert engine.data.manifest.files["mixed.pdf"]["ocr_pages"] == [2]
    assert engine.data.page("mixed.pdf", text.index("教师")) == 2


def test_bad_images_are_reported_by_name_and_reason_and_the_rest_indexed(built) -> None:
    _, engine, _ = built
    skipped = {s["source"]: s["reason"] for s in engine.data.manifest.skipped}
    assert "corrupt image" in skipped["broken.png"]
    assert "decompression bomb" in skipped["bomb.png"] and "ocr_max_pixels" in skipped["bomb.png"]
    assert "10000000000 pixels" in skipped["bomb.png"]
    assert set(engine.data.manifest.files) == {"scan.pdf", "mixed.pdf", "plan.txt"}


def test_a_rebuild_reads_ocr_from_the_cache(built, monkeypatch) -> None:
    settings, engine, _ = built
    cache = settings.index_dir / ocr.OCR_CACHE
    files = sorted(cache.glob("*.json"))
    assert len(files) == 2  # the two PDFs
    mtimes = [f.stat().st_mtime_ns for f in files]
    (cache / f"{'0' * 64}.json").write_text("{}", encoding="utf-8")  # a file gone from the corpus

    def no_ocr(self, task, timeout_s):
        raise AssertionError("OCR ran again")

    monkeypatch.setattr(ocr.OcrWorker, "run", no_ocr)
    summary = build_index(settings, HashEmbedder(dim=128))  # no previous index: every file parsed
    assert summary.files == 3
    assert load_index(settings.index_dir).text("scan.pdf") == engine.data.text("scan.pdf")
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    assert sorted(cache.glob("*.json")) == files  # the stale entry is pruned


def test_a_page_turned_90_degrees_is_read_upright(tmp_path: Path) -> None:
    lines = ["关于做好2024年秋季学期开学工作的通知", "各中小学要落实安全责任。", "全面排查校舍安全隐患。"]
    draw_page(lines).rotate(90, expand=True).save(tmp_path / "turned.png")
    sf = load_file(tmp_path / "turned.png", tmp_path, 10**8)
    assert similar(sf.text, "\n".join(lines)) > 0.9, sf.text
    assert sf.fmt == "png" and page_of(sf, 0) == 1


def test_a_photo_like_page_is_read(tmp_path: Path) -> None:
    lines = ["县教育局关于开展课后服务的实施方案", "每周五天课后服务全覆盖。"]
    img = draw_page(lines, size=32, background=200).rotate(1.2, expand=True, fillcolor=(200, 200, 200))
    rng = random.Random(7)
    noisy = Image.effect_noise(img.size, 24).convert("RGB")
    img = Image.blend(img, noisy, 0.15).filter(ImageFilter.GaussianBlur(0.8))
    img.save(tmp_path / "photo.jpg", quality=70 + rng.randrange(10))
    sf = load_file(tmp_path / "photo.jpg", tmp_path, 10**8)
    assert similar(sf.text, "\n".join(lines)) > 0.85, sf.text


TRADITIONAL = ["加強綜合隊伍建設", "完善獎勵標準與榮譽稱號", "堅持實踐擴大覆蓋範圍"]


def test_the_default_model_is_ppocr_v6() -> None:
    assert OcrOptions().model == load_settings(env={}).ocr_model == ocr.DEFAULT_OCR_MODEL == "ppocr-v6"


def test_a_traditional_page_is_read_with_its_traditional_characters_by_ppocr_v6(tmp_path: Path) -> None:
    draw_page(TRADITIONAL).save(tmp_path / "trad.png")
    sf = load_file(tmp_path / "trad.png", tmp_path, 10**8, OcrOptions(model="ppocr-v6"))
    for word in ("綜合", "隊伍", "獎勵", "標準", "榮譽", "稱號", "堅持", "實踐", "擴大"):
        assert word in sf.text, sf.text
    assert similar(sf.text, "\n".join(TRADITIONAL)) > 0.95, sf.text


def test_an_a4_page_holding_one_short_line_is_read(tmp_path: Path) -> None:
    # (PP-OCRv6's detector finds nothing on it as given: the page is read again scaled down)
    img = Image.new("RGB", (1240, 1754), "white")
    ImageDraw.Draw(img).text((190, 150), "规划纲要warm-up", font=ImageFont.truetype(str(FONT), 25), fill=(0, 0, 0))
    img.save(tmp_path / "cover.png")
    sf = load_file(tmp_path / "cover.png", tmp_path, 10**8)
    assert sf.text == "规划纲要warm-up"


def test_the_ppocr_v4_model_still_reads_a_page(tmp_path: Path) -> None:
    draw_page(PAGE1).save(tmp_path / "page.png")
    settings = load_settings(env={"POLICYQA_OCR_MODEL": "ppocr-v4"}, corpus=tmp_path, index_dir=tmp_path / "index")
    assert settings.ocr_model == "ppocr-v4"
    sf = load_file(tmp_path / "page.png", tmp_path, 10**8, replace(build_module.ocr_options(settings), cache_dir=None))
    assert "毛入园率达到92%以上" in sf.text and similar(sf.text, "\n".join(PAGE1)) > 0.9, sf.text
    assert json.loads(sf.meta["ocr_model"]) == "ppocr-v4"


def test_switching_the_ocr_model_reads_the_pages_again_and_reindexes_the_file(tmp_path: Path, monkeypatch) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    draw_page(["一行字"]).save(corpus / "scan.png")
    asked: list[str] = []

    def run(self, task, timeout_s):  # no real OCR: each model reads its own text
        asked.append(self.model)
        line = OcrLine(f"由{self.model}识别的扫描页文字，县教育局关于加强学前教育的通知。", 0.99, (10, 10, 400, 40))
        return ocr.OcrPage((line,), 0, 600, 800, task.dpi)

    monkeypatch.setattr(ocr.OcrWorker, "run", run)
    v4 = load_settings(env={}, corpus=corpus, index_dir=tmp_path / "index", model="hash:128", ocr_model="ppocr-v4")
    build_index(v4, HashEmbedder(dim=64))
    assert build_index(v4, HashEmbedder(dim=64), previous=load_index(v4.index_dir)).up_to_date
    assert asked == ["ppocr-v4"]  # the second build read the cache
    v6 = replace(v4, ocr_model="ppocr-v6")
    summary = build_index(v6, HashEmbedder(dim=64), previous=load_index(v6.index_dir))
    assert asked == ["ppocr-v4", "ppocr-v6"] and summary.updated == ["scan.png"]
    data = load_index(v6.index_dir)
    assert "ppocr-v6" in data.text("scan.png") and data.manifest.files["scan.png"]["ocr_model"] == "ppocr-v6"
    with pytest.raises(LoadError, match="the OCR worker runs .ppocr-v6., the options ask for .ppocr-v4."):
        load_file(corpus / "scan.png", corpus, 10**8, OcrOptions(model="ppocr-v4", worker=ocr.OcrWorker("ppocr-v6")))


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    (tmp_path / "huge.png").write_bytes(bomb_png(2_000, 2_000))  # (below Pillow's own limit)
    with pytest.raises(LoadError) as e:
        load_file(tmp_path / "huge.png", tmp_path, 10**8, OcrOptions(max_pixels=1_000_000))
    assert e.value.source == "huge.png" and "2000×2000" in e.value.reason and "ocr_max_pixels" in e.value.reason


def test_a_page_past_the_time_limit_is_reported_and_the_rest_indexed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    draw_page(PAGE1).save(corpus / "slow.png")
    (corpus / "plan.txt").write_text("某市教育局2022年工作总结\n校园足球活动广泛开展。\n", encoding="utf-8")
    settings = load_settings(env={}, corpus=corpus, index_dir=tmp_path / "index", model="hash:128",
                             ocr_page_timeout_s=0.05)
    summary = build_index(settings, HashEmbedder(dim=64))
    reasons = {s["source"]: s["reason"] for s in summary.skipped}
    assert "timed out after 0.05 s" in reasons["slow.png"] and "ocr_page_timeout_s" in reasons["slow.png"]
    assert summary.files == 1
    assert not list((tmp_path / "index" / ocr.OCR_CACHE).glob("*.json"))  # a failure is tried again


class FailingPages:
    """A stand-in worker: pages in ``failing`` fail with ``reason``, the others read ``text``."""

    def __init__(self, failing: set[int], reason: str = "the OCR process stopped (out of memory or a crash)"):
        self.failing, self.reason, self.asked = failing, reason, []

    def run(self, task, timeout_s):
        self.asked.append(task.index)
        if task.index in self.failing:
            raise ocr.OcrError(self.reason)
        line = OcrLine(f"第{task.index + 1}页的文字内容", 0.99, (10, 10, 400, 40))
        return ocr.OcrPage((line,), 0, 600, 800, task.dpi)


def test_a_failed_page_is_an_empty_page_and_the_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "four.pdf").write_bytes(image_pdf([draw_page([str(n)]) for n in range(4)]))
    opts = OcrOptions(worker=FailingPages({2}), cache_dir=tmp_path / "cache")
    sf = load_file(tmp_path / "four.pdf", tmp_path, 10**8, opts)
    pages = sf.text.split(PAGE_SEPARATOR)
    assert pages == ["第1页的文字内容", "第2页的文字内容", "", "第4页的文字内容"]
    assert json.loads(sf.meta["pages"]) == [0, 10, 20, 22] and page_of(sf, sf.text.index("第4页")) == 4
    assert json.loads(sf.meta["ocr_failed"]) == [3] and json.loads(sf.meta["ocr_pages"]) == [1, 2, 4]
    assert load_warnings(sf) == ["page 3 not recognised (the OCR process stopped (out of memory or a crash)); "
                                 "the other 3 pages are indexed; the next build tries again"]
    again = FailingPages(set())
    sf = load_file(tmp_path / "four.pdf", tmp_path, 10**8, replace(opts, worker=again))
    assert again.asked == [2] and not load_warnings(sf)  # only the failed page is read again
    assert sf.text.split(PAGE_SEPARATOR)[2] == "第3页的文字内容"


def test_a_mixed_pdf_whose_scanned_page_fails_keeps_its_text_layer(tmp_path: Path) -> None:
    (tmp_path / "mixed.pdf").write_bytes(mixed_pdf())
    sf = load_file(tmp_path / "mixed.pdf", tmp_path, 10**8, OcrOptions(worker=FailingPages({1}, "corrupt image: X")))
    assert sf.text.split(PAGE_SEPARATOR) == ["\n".join(MIXED_TEXT), ""]
    assert load_warnings(sf) == ["page 2 not recognised (corrupt image: X); the other page is indexed; "
                                 "the next build tries again"]


def test_a_file_whose_pages_all_fail_is_skipped_with_each_reason(tmp_path: Path) -> None:
    (tmp_path / "two.pdf").write_bytes(image_pdf([draw_page(["一"]), draw_page(["二"])]))
    with pytest.raises(LoadError) as e:
        load_file(tmp_path / "two.pdf", tmp_path, 10**8, OcrOptions(worker=FailingPages({0, 1}, "corrupt image: X")))
    assert e.value.reason == "no page recognised (page 1: corrupt image: X; page 2: corrupt image: X)"


def test_a_page_past_its_time_in_a_build_leaves_the_other_pages_found_and_cited(tmp_path: Path, monkeypatch,
                                                                               spawned) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "three.pdf").write_bytes(image_pdf([draw_page(PAGE1), draw_page(PAGE2), draw_page(MIXED_SCAN)]))

    class SecondPageSlow(ocr.OcrWorker):
        def run(self, task, timeout_s):  # the real time limit, met by page 2 only
            return super().run(task, 0.001 if task.index == 1 else timeout_s)

    monkeypatch.setattr(build_module, "OcrWorker", SecondPageSlow)
    settings = load_settings(env={}, corpus=corpus, index_dir=tmp_path / "index", model="hash:128")
    summary = build_index(settings, HashEmbedder(dim=64))
    assert summary.files == 1 and [s["source"] for s in summary.skipped] == ["three.pdf"]
    reason = summary.skipped[0]["reason"]
    assert reason.startswith("page 2 not recognised (OCR timed out after 0.001 s; raise the setting "
                             "ocr_page_timeout_s") and "the other 2 pages are indexed" in reason
    assert "skipped three.pdf: page 2 not recognised" in format_summary(summary)
    assert all(_gone(p) for p in spawned) and len(spawned) == 2  # killed at the timeout, then a fresh one
    data = load_index(settings.index_dir)
    text = data.text("three.pdf")
    first, second, third = text.split(PAGE_SEPARATOR)
    assert second == "" and "毛入园率" in first and "500名教师" in third
    entry = data.manifest.files["three.pdf"]
    assert entry["ocr_failed"] == [2] and entry["ocr_pages"] == [1, 3]
    assert data.page("three.pdf", text.index("500名教师")) == 3
    cached = json.loads(next((settings.index_dir / ocr.OCR_CACHE).glob("*.json")).read_text(encoding="utf-8"))
    assert sorted(cached["pages"]) == ["0", "2"] and "failure" not in cached

    monkeypatch.undo()  # the next build's worker waits the usual time
    summary = build_index(settings, HashEmbedder(dim=64), previous=data)
    assert summary.skipped == [] and not summary.up_to_date
    data = load_index(settings.index_dir)
    text = data.text("three.pdf")
    assert similar(text.split(PAGE_SEPARATOR)[1], "\n".join(PAGE2)) > 0.9
    assert data.manifest.files["three.pdf"]["ocr_pages"] == [1, 2, 3]
    assert all(c.text == text[c.start:c.end] for c in data.chunks)  # not the chunks of the text with a gap
    assert data.page("three.pdf", text.index("500名教师")) == 3


def test_reading_order_rows_and_paragraph_joining() -> None:
    def box(text, x0, y0, x1, y1):
        return OcrLine(text, 0.99, (x0, y0, x1, y1))

    lines = [  # given out of order; the body's first row reaches the right margin
        box("全县学前三年毛入园率达到", 60, 200, 1000, 230),
        box("92%以上。", 0, 245, 200, 275),
        box("通知", 400, 10, 520, 40),
        box("县教发〔2023〕12号", 300, 80, 700, 110),
        box("签发人：张三", 760, 80, 1000, 110),
        box("Plan", 0, 320, 100, 350),
        box("2023", 0, 365, 100, 395),
    ]
    text, placed = page_text(lines)
    assert text == "通知\n县教发〔2023〕12号 签发人：张三\n全县学前三年毛入园率达到92%以上。\nPlan\n2023"
    assert all(text[p.start:p.end] == p.line.text for p in placed)
    assert page_text([]) == ("", [])


def test_two_columns_are_read_column_by_column_under_a_full_width_title() -> None:
    def box(text, x0, y0, x1, y1):
        return OcrLine(text, 0.99, (x0, y0, x1, y1))

    lines = [box("全省教育工作会议召开", 200, 0, 800, 40)]
    for i, (a, b) in enumerate([("左一行文字内容", "右一行文字内容"), ("左二行文字内容", "右二行文字内容"),
                                ("左三行。", "右三行。")]):
        y = 80 + 45 * i
        lines += [box(a, 0, y, 440 if i < 2 else 150, y + 30), box(b, 560, y, 1000 if i < 2 else 700, y + 30)]
    text, placed = page_text(lines)
    assert text == "全省教育工作会议召开\n左一行文字内容左二行文字内容左三行。\n右一行文字内容右二行文字内容右三行。"
    assert all(text[p.start:p.end] == p.line.text for p in placed)


def test_a_multi_page_tiff_is_read_page_by_page(tmp_path: Path) -> None:
    first, second = draw_page(["第一页：总体要求"]), draw_page(["第二页：保障措施"])
    first.save(tmp_path / "scan.tif", save_all=True, append_images=[second])
    sf = load_file(tmp_path / "scan.tif", tmp_path, 10**8)
    assert sf.fmt == "tif" and json.loads(sf.meta["ocr_pages"]) == [1, 2]
    assert page_of(sf, sf.text.index("保障")) == 2 and "总体要求" in sf.text


def test_rows_of_a_skewed_scan_stay_apart() -> None:
    """Lines 55 px apart on a page skewed by 3°: their bounding boxes overlap, their
    detected quadrilaterals do not."""
    def skewed(text: str, y: int) -> OcrLine:
        drop = 52  # 1000 px × tan 3°
        quad = (0, y, 1000, y + drop, 1000, y + drop + 33, 0, y + 33)
        return OcrLine(text, 0.99, (0, y, 1000, y + drop + 33), quad)

    lines = [skewed("第一行", 0), skewed("第二行", 55), skewed("第三行", 110)]
    assert page_text(lines[::-1])[0] == "第一行第二行第三行"  # one paragraph, rows in order
    assert [len(r) for r in ocr_layout._rows(lines)] == [1, 1, 1]

    def half(text: str, x: int, y: int) -> OcrLine:  # a box of 500 px starting at x on a line through (0, y)
        y0 = y + round(x * 0.0524)
        quad = (x, y0, x + 500, y0 + 26, x + 500, y0 + 59, x, y0 + 33)
        return OcrLine(text, 0.99, (x, y0, x + 500, y0 + 59), quad)

    halves = [half("左一", 0, 0), half("右一", 520, 0), half("左二", 0, 55), half("右二", 520, 55)]
    text, placed = page_text(halves[::-1])
    assert text == "左一右一左二右二"  # each line's two boxes form one row once straightened
    assert {p.line for p in placed} == set(halves) and all(text[p.start:p.end] == p.line.text for p in placed)


def test_with_ocr_off_scans_are_reported_and_bad_limits_refused(tmp_path: Path) -> None:
    from policyqa.build import ocr_options
    from policyqa.errors import ConfigError

    draw_page(["一行字"]).save(tmp_path / "page.png")
    (tmp_path / "scan.pdf").write_bytes(image_pdf([draw_page(["一行字"])]))
    settings = load_settings(env={"POLICYQA_OCR": "false"}, corpus=tmp_path, index_dir=tmp_path / "index")
    assert ocr_options(settings) is None
    with pytest.raises(LoadError, match="OCR is turned off"):
        load_file(tmp_path / "page.png", tmp_path, 10**8, ocr_options(settings))
    with pytest.raises(LoadError, match="turn the setting ocr on"):
        load_file(tmp_path / "scan.pdf", tmp_path, 10**8, None)
    for bad in ({"ocr_dpi": 10}, {"ocr_max_pages": 0}, {"ocr_page_timeout_s": 0}, {"ocr_model": "tesseract"}):
        with pytest.raises(ConfigError):
            load_settings(env={}, **bad)


def test_a_scan_with_more_pages_than_the_limit_is_refused_before_any_ocr(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "long.pdf").write_bytes(image_pdf([draw_page(["一"]), draw_page(["二"]), draw_page(["三"])]))
    monkeypatch.setattr(ocr.OcrWorker, "run", lambda self, task, timeout_s: pytest.fail("OCR ran"))
    with pytest.raises(LoadError) as e:
        load_file(tmp_path / "long.pdf", tmp_path, 10**8, OcrOptions(max_pages=2))
    assert e.value.source == "long.pdf" and "3 pages to OCR" in e.value.reason and "ocr_max_pages" in e.value.reason


def test_an_engine_that_cannot_start_is_reported_and_not_cached(tmp_path: Path, monkeypatch) -> None:
    def broken(self, task, timeout_s):
        raise ocr.OcrError("the OCR engine cannot start: ImportError: no onnxruntime", of_file=False)

    monkeypatch.setattr(ocr.OcrWorker, "run", broken)
    draw_page(["一行字"]).save(tmp_path / "page.png")
    with pytest.raises(LoadError, match="cannot start"):
        load_file(tmp_path / "page.png", tmp_path, 10**8, OcrOptions(cache_dir=tmp_path / "cache"))
    assert not list((tmp_path / "cache").glob("*.json"))  # tried again at the next build


def test_importing_loads_no_ocr_engine() -> None:
    import subprocess
    import sys

    code = ("import sys, policyqa.loaders, policyqa.build, policyqa.ocr, policyqa.ocr_worker; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'rapidocr', 'rapidocr_onnxruntime', 'onnxruntime', 'omegaconf', 'pypdfium2', 'PIL', 'cv2'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(ocr.__file__).parents[1])
    assert out.stdout.strip() == "[]"


@pytest.fixture
def spawned(monkeypatch) -> list:
    """Every recognition process an ``OcrWorker`` starts during the test."""
    procs: list = []
    spawn = ocr.OcrWorker._spawn

    def spy(self):
        procs.append(spawn(self))
        return procs[-1]

    monkeypatch.setattr(ocr.OcrWorker, "_spawn", spy)
    return procs


def _gone(proc) -> bool:
    """True when the process has exited and been reaped (its pid no longer exists)."""
    try:
        os.kill(proc.pid, 0)
    except ProcessLookupError:
        return proc.returncode is not None
    return False


def test_a_build_owns_its_ocr_worker_and_stops_it(tmp_path: Path, spawned) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    draw_page(PAGE1).save(corpus / "page.png")
    settings = load_settings(env={}, corpus=corpus, index_dir=tmp_path / "index", model="hash:128")
    assert build_index(settings, HashEmbedder(dim=64)).files == 1
    assert len(spawned) == 1 and all(_gone(p) for p in spawned)


def test_a_cancelled_build_stops_its_ocr_worker(tmp_path: Path, spawned) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(3):
        draw_page([f"第{n + 1}页", *PAGE2]).save(corpus / f"p{n}.png")
    settings = load_settings(env={}, corpus=corpus, index_dir=tmp_path / "index", model="hash:128")

    class Cancel(Exception):
        pass

    def progress(event) -> None:
        if "OCR p1.png" in (event.detail or ""):
            raise Cancel  # (a web page's progress callback raises when the user cancels)

    with pytest.raises(Cancel):
        build_index(settings, HashEmbedder(dim=64), progress=progress)
    assert spawned and all(_gone(p) for p in spawned)


def test_closing_a_worker_stops_the_page_it_reads(spawned) -> None:
    buf = io.BytesIO()
    draw_page(PAGE1 + PAGE2).save(buf, "PNG")
    worker = ocr.OcrWorker()
    failed: list = []

    def read() -> None:
        try:
            worker.run(ocr.PageTask("image", buf.getvalue(), 0, 0, 10**8), 600)
        except ocr.OcrError as e:
            failed.append(e.reason)

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 30
    while not spawned and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.close()
    reader.join(10)
    assert not reader.is_alive() and failed and "closed" in failed[0]
    assert all(_gone(p) for p in spawned)
    with pytest.raises(ocr.OcrError, match="closed"):  # a closed worker starts no process again
        worker.run(ocr.PageTask("image", buf.getvalue(), 0, 0, 10**8), 600)
    assert len(spawned) == 1


def test_a_page_past_its_time_kills_the_process_and_the_next_page_gets_a_fresh_one(spawned) -> None:
    buf = io.BytesIO()
    draw_page(PAGE1).save(buf, "PNG")
    task = ocr.PageTask("image", buf.getvalue(), 0, 0, 10**8)
    with ocr.OcrWorker() as worker:
        with pytest.raises(ocr.OcrError, match="timed out after 0.001 s"):
            worker.run(task, 0.001)
        assert _gone(spawned[0])
        page = worker.run(task, 120)
    assert "毛入园率" in "".join(ln.text for ln in page.lines)
    assert len(spawned) == 2 and all(_gone(p) for p in spawned)


def _shaded(jpeg: bytes, box: tuple[int, int, int, int]) -> tuple[float, float, float]:
    """Mean RGB of a region's box on the JPEG page_region returns."""
    import numpy as np

    with Image.open(io.BytesIO(jpeg)) as im:
        crop = np.asarray(im.convert("RGB").crop(box), dtype=float)
    return tuple(crop.reshape(-1, 3).mean(axis=0))


def test_a_scanned_passage_is_boxed_on_its_page_image(built) -> None:
    from policyqa.page_view import MAX_SIDE

    _, engine, _ = built
    text = engine.data.text("scan.pdf")
    start = text.index("完成44所")
    region = engine.page_region("scan.pdf", start, start + 10)
    assert region is not None and region.source == "scan.pdf" and region.page == 2
    assert len(region.boxes) == 1 and max(region.width, region.height) <= MAX_SIDE
    with Image.open(io.BytesIO(region.image)) as im:
        assert im.format == "JPEG" and im.size == (region.width, region.height)
    # the box covers the line 完成44所… (second of three on the page) and is shaded yellow
    x0, y0, x1, y1 = region.boxes[0]
    assert region.height / 3 < (y0 + y1) / 2 < 2 * region.height / 3 and x1 - x0 > region.width / 2
    r, g, b = _shaded(region.image, region.boxes[0])
    assert r > 180 and g > 160 and b < 200 and b < r - 20, (r, g, b)
    # a passage over two lines boxes both; one on the first page is drawn on page 1
    two = engine.page_region("scan.pdf", text.index("二、推进"), start + 3)
    assert two is not None and two.page == 2 and len(two.boxes) == 2
    assert engine.page_region("scan.pdf", text.index("毛入园率"), text.index("毛入园率") + 4).page == 1


def test_passages_not_read_by_ocr_have_no_page_image(built) -> None:
    _, engine, _ = built
    assert engine.page_region("plan.txt", 0, 10) is None
    mixed = engine.data.text("mixed.pdf")
    assert engine.page_region("mixed.pdf", mixed.index("立德树人"), mixed.index("立德树人") + 4) is None
    scanned = engine.page_region("mixed.pdf", mixed.index("全员培训"), mixed.index("全员培训") + 4)
    assert scanned is not None and scanned.page == 2
    assert engine.page_region("missing.pdf", 0, 5) is None


def test_a_file_changed_since_indexing_shows_no_region(built, tmp_path: Path) -> None:
    from policyqa.page_view import page_region

    settings, engine, _ = built
    known = dict(engine.data.manifest.files["scan.pdf"])
    text = engine.data.text("scan.pdf")
    start = text.index("完成44所")
    cache = settings.index_dir / ocr.OCR_CACHE
    args = (settings.corpus, "scan.pdf", known, cache, start, start + 5, settings.max_file_bytes, settings.ocr_max_pixels)
    assert page_region(*args) is not None
    assert page_region(settings.corpus, "scan.pdf", {**known, "sha256": "0" * 64}, *args[3:]) is None
    # a link in place of the file is never followed (the file is read as a build reads it)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "scan.pdf").symlink_to(settings.corpus / "scan.pdf")
    assert page_region(corpus, "scan.pdf", known, *args[3:]) is None


def test_a_turned_page_is_shown_upright_with_its_boxes() -> None:
    import numpy as np

    from policyqa.page_view import draw_region, passage_boxes, upright_page

    page = draw_page(PAGE2)  # wide and short
    buf = io.BytesIO()
    page.rotate(90, expand=True).save(buf, "PNG")  # scanned turned a quarter: tall and narrow
    img = upright_page(buf.getvalue(), "png", 1, {"angle": 270, "width": page.width, "height": page.height, "dpi": 0},
                       10_000_000)
    assert img.shape[1] == page.width and img.shape[0] == page.height
    original = np.asarray(page.convert("RGB"))[:, :, ::-1]
    assert np.abs(img.astype(int) - original.astype(int)).mean() < 2  # turned back exactly
    layout = {"lines": [[1, 0, 10, 30, 15, 300, 50], [1, 11, 20, 30, 75, 300, 110], [2, 21, 30, 0, 0, 5, 5]]}
    assert passage_boxes(layout, 5, 15) == (1, [(30, 15, 300, 50), (30, 75, 300, 110)])
    assert passage_boxes(layout, 40, 50) is None
    jpeg, w, h, drawn = draw_region(img, [(30, 15, 300, 50)], (page.width * 2, page.height * 2), max_side=5000)
    assert (w, h) == (page.width, page.height) and drawn == ((15, 8, 150, 25),)  # layout pixels → image pixels


def test_the_start_up_check_notices_changed_ocr_settings(built, tmp_path: Path) -> None:
    from policyqa.build import index_is_current

    settings, engine, _ = built
    assert engine.data.manifest.files["scan.pdf"]["ocr_dpi"] == settings.ocr_dpi
    assert index_is_current(settings)
    other = "ppocr-v4" if settings.ocr_model == "ppocr-v6" else "ppocr-v6"
    for changed in ({"ocr_model": other}, {"ocr": False}, {"ocr_dpi": settings.ocr_dpi + 100}):
        assert not index_is_current(replace(settings, **changed)), changed
    # scans refused while OCR was off make the index stale once it is on
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    draw_page(["一行字"]).save(corpus / "page.png")
    (corpus / "plan.txt").write_text("某市教育局2022年工作总结\n组建足球队120支。\n", encoding="utf-8")
    off = load_settings(env={"POLICYQA_OCR": "false"}, corpus=corpus, index_dir=tmp_path / "index", model="hash:128")
    build_index(off, HashEmbedder(dim=128))
    assert index_is_current(off) and not index_is_current(replace(off, ocr=True))
