"""The pure parts of bench/ocr_bench.py: CER, NFKC folding, page rendering, perturbations,
the table. No OCR is run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("ocr_bench", REPO / "bench" / "ocr_bench.py")
ob = importlib.util.module_from_spec(_spec)
sys.modules["ocr_bench"] = ob
_spec.loader.exec_module(ob)

needs_font = pytest.mark.skipif(not Path(ob.FONT).exists(), reason="fonts-noto-cjk not installed")


@pytest.mark.parametrize("a,b,d", [("", "", 0), ("abc", "", 3), ("", "abc", 3), ("kitten", "sitting", 3),
                                   ("规划纲要", "规划纲要", 0), ("规划纲要", "规刬纲要", 1),
                                   ("教育规划", "教育发展规划", 2), ("flaw", "lawn", 2)])
def test_levenshtein_known(a, b, d):
    assert ob.levenshtein(a, b) == d
    assert ob.levenshtein(b, a) == d


def test_cer_ignores_whitespace_and_counts_over_reference():
    assert ob.cer("教育 规划\n纲要", "教育规划纲要") == 0.0
    assert ob.cer("教育规划纲要", "教育规划") == pytest.approx(2 / 6)
    assert ob.cer_counts("ab c", "xbc") == (1, 3)
    # insertions can push CER above 1
    assert ob.cer("ab", "abcdef") == 2.0


def test_nfkc_folds_full_width_punctuation_only_when_asked():
    ref = "加强教育,健全制度(试行);目标:90%"
    hyp = "加强教育，健全制度（试行）；目标：９０％"
    assert ob.cer(ref, hyp) == pytest.approx(8 / len(ob.strip_ws(ref)))  # , ( ) ; : 9 0 %
    assert ob.cer(ref, hyp, fold=True) == 0.0
    assert ob.nfkc("（一）") == "(一)"


def test_t2s_folding_forgives_simplified_readings_only():
    pytest.importorskip("opencc")
    ref, hyp = "著力提高教師綜合素質", "著力提高教師综合素质"
    assert ob.cer(ref, hyp, fold=True) == pytest.approx(2 / 10)
    assert ob.cer(ref, hyp, fold=True, simplify=True) == 0.0
    assert ob.cer("教師隊伍", "教师隧伍", fold=True, simplify=True) == pytest.approx(1 / 4)


def test_pick_paragraphs_deterministic_and_from_several_files():
    a = ob.pick_paragraphs(REPO / "corpus", 5, seed=0)
    assert a == ob.pick_paragraphs(REPO / "corpus", 5, seed=0)
    assert a != ob.pick_paragraphs(REPO / "corpus", 5, seed=1)
    assert len({f for f, _ in a}) >= 3
    assert all(ob.MIN_CHARS <= len(p) <= ob.MAX_CHARS for _, p in a)


def test_pick_paragraphs_from_chosen_files_only():
    a = ob.pick_paragraphs(REPO / "corpus", 2, seed=0, files=["004"])
    assert len(a) == 2 and {f for f, _ in a} == {next(p.name for p in (REPO / "corpus").glob("004_*.txt"))}
    assert ob.pick_paragraphs(REPO / "corpus", 2, seed=0, files=["nothing"]) == []


@needs_font
def test_render_page_a4_with_ink():
    page = ob.render_page("规划纲要：加强教育,健全制度。", 150)
    assert len(page) == 1
    img = page[0]
    assert img.mode == "L" and img.size == (1240, 1754)  # A4 at 150 dpi
    a = np.asarray(img)
    ink = (a < 128).mean()
    assert 0 < ink < 0.05
    # ink sits inside the margins
    ys, xs = np.nonzero(a < 128)
    margin = round(ob.MARGIN_MM / 25.4 * 150)
    assert xs.min() >= margin and ys.min() >= margin - 5


@needs_font
def test_wrap_keeps_every_character():
    font = ob.load_font(150)
    text = "坚持以新时代中国特色社会主义思想为指导," * 10
    lines = ob.wrap(text, font, 600)
    assert "".join(lines) == text and len(lines) > 1
    assert all(font.getlength(ln) <= 600 for ln in lines)


def _page() -> Image.Image:
    img = Image.new("L", (200, 300), 255)
    img.paste(0, (50, 20, 150, 40))  # a horizontal bar near the top
    return img


@pytest.mark.parametrize("variant", ["clean", "noise", "blur", "skew"])
def test_perturb_keeps_size(variant):
    img = _page()
    out = ob.perturb(img, variant, 150, seed=3)
    assert out.size == img.size and out.mode == "L"
    if variant != "clean":
        assert np.asarray(out).tobytes() != np.asarray(img).tobytes()


def test_perturb_noise_deterministic_and_salted():
    img = Image.new("L", (200, 200), 255)
    a = np.asarray(ob.perturb(img, "noise", 150, seed=1))
    assert np.array_equal(a, np.asarray(ob.perturb(img, "noise", 150, seed=1)))
    assert 0.001 < (a == 0).mean() < 0.02  # pepper on white


def test_perturb_rotated_swaps_sides():
    out = ob.perturb(_page(), "rotated", 150)
    assert out.size == (300, 200)
    ys, xs = np.nonzero(np.asarray(out) < 128)
    assert xs.max() < 50  # the bar near the top is now at the left edge (counter-clockwise)


def test_perturb_unknown_variant():
    with pytest.raises(ValueError):
        ob.perturb(_page(), "smudge", 150)


def test_save_pdf_and_png(tmp_path):
    img = _page()
    pdf = ob.save_page([img, img], tmp_path / "a.pdf", 150)
    assert pdf.read_bytes().startswith(b"%PDF")
    pdfium = pytest.importorskip("pypdfium2")
    doc = pdfium.PdfDocument(str(pdf))
    try:
        assert len(doc) == 2
        assert doc[0].get_textpage().get_text_range() == ""  # image only: no text layer
        w, h = doc[0].get_size()
        assert (round(w), round(h)) == (96, 144)  # 200×300 px at 150 dpi, in points
    finally:
        doc.close()
    png = ob.save_page([img], tmp_path / "a.png", 150)
    with Image.open(png) as im:
        assert im.size == (200, 300)
        assert round(im.info["dpi"][0]) == 150


def test_cell_row_and_markdown():
    c = ob.Cell(200, "noise", "pdf", pages=2, failures=0, edits=10, ref_chars=400, edits_nfkc=4,
                ref_chars_nfkc=400, seconds=3.0)
    r = c.row()
    assert r["cer"] == 0.025 and r["cer_nfkc"] == 0.01 and r["s_per_page"] == 1.5 and r["pages_per_min"] == 40.0
    empty = ob.Cell(150, "clean", "png").row()
    assert empty["cer"] is None and empty["s_per_page"] is None
    md = ob.markdown_table([r, empty]).splitlines()
    assert md[0].startswith("| dpi | variant | format | pages | CER | CER-NFKC | CER-NFKC-t2s | s/page")
    assert md[2] == "| 200 | noise | pdf | 2 | 2.5% | 1.0% | – | 1.5 | 40.0 | 0 |"
    assert md[3].count("–") == 5


def test_parse_cells():
    assert ob.parse_cells(None, [150, 300], ["clean", "blur"]) == [(150, "clean"), (150, "blur"),
                                                                   (300, "clean"), (300, "blur")]
    assert ob.parse_cells("150/clean, 200/noise", [], []) == [(150, "clean"), (200, "noise")]
    with pytest.raises(SystemExit):
        ob.parse_cells("150/smudge", [], [])


def test_failed_pages_count_as_lost_text_but_not_in_speed():
    r = ob.Cell(200, "clean", "png", pages=2, failures=1, edits=300, ref_chars=300, edits_nfkc=300,
                ref_chars_nfkc=300, seconds=4.0).row()
    assert r["cer"] == 1.0 and r["s_per_page"] == 4.0 and r["failures"] == 1
    assert ob.Cell(200, "clean", "png", pages=1, failures=1).row()["s_per_page"] is None


def test_search_check_matching_tolerates_ocr_errors():
    hit = "进一步完善师德评价机制，通过召开教代会、教师座谈会"
    assert ob._contains(hit, "完善师德评价机制,通过召开教代会")
    assert ob._contains(hit, "完善师德评价机刮,通过召开教代会")  # one misread character
    assert not ob._contains(hit, "组织好青少年校园足球活动")
    assert ob._same_passage(hit, "师德评价机制,通过召开教代会、教师座谈会、学生座谈会")
    assert not ob._same_passage(hit, "组织好青少年校园足球活动,开展青少年校园足球联赛")


def test_score_tabulate_and_rescore():
    paras = [{"file": "a.txt", "chars": 6, "text": "加强教育,健全"}]
    pages = [{"dpi": 200, "variant": "clean", "format": "pdf", "page": 0, "seconds": 2.0, "error": None,
              "ocr_text": "加强教育，健全"},
             {"dpi": 200, "variant": "clean", "format": "pdf", "page": 0, "seconds": 4.0, "error": None,
              "ocr_text": "加强教\n育,健"},
             {"dpi": 200, "variant": "clean", "format": "png", "page": 0, "seconds": 0.1, "error": "LoadError: x",
              "ocr_text": ""}]
    for p in pages:
        ob.score_page(p, paras[0]["text"])
    assert pages[0]["cer"] == round(1 / 7, 4) and pages[0]["cer_nfkc"] == 0.0
    assert pages[1]["cer_counts"] == [1, 7]
    rows = ob.tabulate(pages)
    assert [(r["format"], r["pages"], r["failures"]) for r in rows] == [("pdf", 2, 0), ("png", 1, 1)]
    assert rows[0]["cer"] == pytest.approx(2 / 14, abs=1e-4) and rows[0]["s_per_page"] == 3.0
    assert rows[1]["cer"] == 1.0 and rows[1]["s_per_page"] is None
    saved = {"paragraphs": paras, "pages": [{k: v for k, v in p.items() if not k.startswith("cer")} for p in pages]}
    assert ob.rescore(saved)["cells"] == rows


def test_pdf_bytes_do_not_depend_on_the_time(tmp_path):
    import time

    ob.save_page([_page()], tmp_path / "a.pdf", 150)
    first = (tmp_path / "a.pdf").read_bytes()
    time.sleep(1.05)
    ob.save_page([_page()], tmp_path / "a.pdf", 150)
    assert (tmp_path / "a.pdf").read_bytes() == first
