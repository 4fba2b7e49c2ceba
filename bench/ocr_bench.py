#!/usr/bin/env python3
"""OCR accuracy and speed of policyqa's loader on generated scans of real plan text.

    python bench/ocr_bench.py [--pages 2] [--dpi 150,200,300] [--variants clean,noise,blur,skew,rotated]
                              [--as pdf,png] [--cells 150/clean,200/noise,...] [--seed 0]
                              [--out bench/out/ocr_bench.json] [--work DIR --keep] [--ocr-dpi N]
                              [--ocr-model ppocr-v6|ppocr-v4] [--files 004,...]
                              [--search-check [--search-file NAME]] [--rescore FILE]

1. Picks ``--pages`` paragraphs of 150–400 characters from the sample corpus (corpus/*.txt),
   round-robin over the files, deterministic by ``--seed``; one paragraph per page.
   ``--files`` keeps only the files whose names start with one of its prefixes (``004``:
   the traditional-character one).
2. Renders each as an A4 page (Noto Sans CJK SC, 12 pt, 25 mm margins, first-line indent of
   two ideographic spaces) at each dpi, and perturbs it:
   ``clean``; ``noise`` (Gaussian σ=20 grey levels, then 1% salt-and-pepper pixels);
   ``blur`` (Gaussian, radius 0.2 mm: 1.2 px at 150 dpi, 2.4 px at 300); ``skew`` (2°, page
   size kept, white fill); ``rotated`` (90° counter-clockwise: a landscape page).
   Each page is saved as an image-only PDF (Pillow: one JPEG-compressed image per page, no
   text layer) and as a PNG (dpi recorded in the file).
3. OCRs every file through policyqa's product path, ``policyqa.loaders.load_file`` (whatever
   ``policyqa`` is first on ``sys.path``: set PYTHONPATH to test another worktree), timed
   per file (one page each) after one untimed warm-up page (model loading, reported apart).
   When ``load_file`` takes OCR options they are a build's (``build.ocr_options`` of the
   default settings) without the cache folder; ``--ocr-dpi`` changes the dpi PDF pages are
   rendered at for OCR, ``--ocr-model`` the recognition model (setting ``ocr_model``).
4. Character error rate: Levenshtein distance (insertions, deletions, substitutions, each
   1) between the rendered text and the loader's text, both with all whitespace removed,
   over the reference length; summed over a cell's pages (total edits / total reference
   characters; a page the loader fails on counts as all its characters lost, and is left
   out of s/page). ``CER-NFKC`` folds both sides with NFKC first: the corpus writes ASCII
   punctuation ("," "(") that OCR reads back full-width (，（) — without folding that alone
   dominates the raw figure. ``CER-NFKC-t2s`` also folds traditional characters to simplified
   as policyqa's search does (``text.fold``, OpenCC t2s): an OCR that returns 综 for 綜 loses
   nothing there, one that drops 準 or reads 隊 as 隧 does.

Prints a markdown table per (dpi, variant, format) — pages, CER, CER-NFKC, CER-NFKC-t2s, s/page,
pages/min, failures — and writes it with per-page details and the machine to ``--out``.

``--rescore FILE`` recomputes the CERs and the table of a saved ``--out`` file from the OCR
text it keeps (timings as measured then), without OCR.

``--search-check``: renders the whole of one sample file as a scanned PDF (200 dpi, clean),
indexes it and its text original in two throwaway indexes, and compares the top hits of the
dev-set queries (eval/dev.jsonl) whose evidence is in that file: same top-1 passage, and
a graded evidence text in the top 3 of each (both compared as character bigrams after NFKC
and t2s folding). ``--pages 0`` skips the table; with ``--work DIR --keep`` a second run
reuses the rendered file and both indexes.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the other bench scripts (docs/performance.md)

import argparse
import inspect
import json
import platform
import random
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Appended, not prepended: PYTHONPATH (another worktree's src) wins when it is set.
sys.path.append(str(REPO / "src"))

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
FONT_INDEX = 2  # Noto Sans CJK SC (index 0 is JP: other glyph forms)
A4_MM = (210.0, 297.0)
MARGIN_MM = 25.0
FONT_PT = 12.0
LINE_SPACING = 1.6
INDENT = "\u3000\u3000"
VARIANTS = ("clean", "noise", "blur", "skew", "rotated")
FORMATS = ("pdf", "png")
NOISE_SIGMA = 20.0
SALT_PEPPER = 0.01
BLUR_MM = 0.2
SKEW_DEG = 2.0
MIN_CHARS, MAX_CHARS = 150, 400
MAX_BYTES = 20_000_000  # Settings.max_file_bytes default
_WS = re.compile(r"\s+")
_PDF_DATE = time.gmtime(1767225600)  # 2026-01-01


# ---------------------------------------------------------------- text and CER


def pick_paragraphs(corpus: Path, n: int, seed: int = 0, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS,
                    files: Sequence[str] = ()) -> list[tuple[str, str]]:
    """``n`` (file name, paragraph) pairs: lines of min..max characters, round-robin over the
    corpus files (sorted; only those whose name starts with one of ``files`` when given),
    each file's candidates shuffled by ``seed``."""
    pools = []
    for path in sorted(corpus.glob("*.txt")):
        if files and not path.name.startswith(tuple(files)):
            continue
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
        cands = [ln for ln in lines if min_chars <= len(ln) <= max_chars]
        random.Random(f"{seed}:{path.name}").shuffle(cands)
        if cands:
            pools.append((path.name, cands))
    out: list[tuple[str, str]] = []
    i = 0
    while len(out) < n and any(pools_left := [p for p in pools if p[1]]):
        name, cands = pools_left[i % len(pools_left)]
        out.append((name, cands.pop()))
        i += 1
    return out


def strip_ws(text: str) -> str:
    return _WS.sub("", text)


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def levenshtein(a: str, b: str) -> int:
    """Edit distance over characters (unit costs), two-row DP."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def t2s(text: str) -> str:
    """Traditional → simplified as policyqa's search folds it (``text.fold``, OpenCC t2s)."""
    from policyqa.text import fold

    return fold(text)


def cer_counts(ref: str, hyp: str, fold: bool = False, simplify: bool = False) -> tuple[int, int]:
    """(edits, reference length) after removing whitespace (and NFKC-folding when ``fold``,
    then traditional → simplified when ``simplify``)."""
    if fold:
        ref, hyp = nfkc(ref), nfkc(hyp)
    if simplify:
        ref, hyp = t2s(ref), t2s(hyp)
    ref, hyp = strip_ws(ref), strip_ws(hyp)
    return levenshtein(ref, hyp), len(ref)


def cer(ref: str, hyp: str, fold: bool = False, simplify: bool = False) -> float:
    edits, n = cer_counts(ref, hyp, fold, simplify)
    return edits / n if n else float(bool(strip_ws(hyp)))


# ---------------------------------------------------------------- pages


def load_font(dpi: int, pt: float = FONT_PT, path: str = FONT, index: int = FONT_INDEX) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, round(pt * dpi / 72), index=index)


def wrap(text: str, font: ImageFont.FreeTypeFont, width_px: int) -> list[str]:
    """Lines of at most ``width_px``, broken between any two characters (CJK text has no
    word spaces; the few Latin runs in plan text may break mid-word, which OCR does not
    care about)."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for ch in para:
            if line and font.getlength(line + ch) > width_px:
                lines.append(line)
                line = ""
            line += ch
        lines.append(line)
    return lines


def render_page(text: str, dpi: int, font: ImageFont.FreeTypeFont | None = None,
                indent: bool = True) -> list[Image.Image]:
    """``text`` on A4 pages (greyscale, white background), as many as it needs."""
    font = font or load_font(dpi)
    w, h = (round(mm / 25.4 * dpi) for mm in A4_MM)
    margin = round(MARGIN_MM / 25.4 * dpi)
    line_h = round(font.size * LINE_SPACING)
    paras = [(INDENT + p if indent else p) for p in text.split("\n")]
    lines = wrap("\n".join(paras), font, w - 2 * margin)
    per_page = max(1, (h - 2 * margin) // line_h)
    pages = []
    for start in range(0, len(lines), per_page):
        img = Image.new("L", (w, h), 255)
        draw = ImageDraw.Draw(img)
        for k, line in enumerate(lines[start:start + per_page]):
            draw.text((margin, margin + k * line_h), line, font=font, fill=0)
        pages.append(img)
    return pages


def perturb(img: Image.Image, variant: str, dpi: int, seed: int = 0) -> Image.Image:
    """One scan defect. Sizes are kept except for ``rotated`` (width and height swap)."""
    if variant == "clean":
        return img.copy()
    if variant == "noise":
        rng = np.random.default_rng(seed)
        a = np.asarray(img, dtype=np.float32)
        a = a + rng.normal(0.0, NOISE_SIGMA, a.shape)
        u = rng.random(a.shape)
        a[u < SALT_PEPPER / 2] = 0
        a[u > 1 - SALT_PEPPER / 2] = 255
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "L")
    if variant == "blur":
        return img.filter(ImageFilter.GaussianBlur(BLUR_MM / 25.4 * dpi))
    if variant == "skew":
        return img.rotate(SKEW_DEG, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    if variant == "rotated":
        return img.transpose(Image.Transpose.ROTATE_90)
    raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")


def save_page(pages: list[Image.Image], path: Path, dpi: int) -> Path:
    """``.pdf``: an image-only PDF (one page per image, no text layer); ``.png``: the first page."""
    if path.suffix == ".pdf":
        # fixed dates: the same pages give the same bytes (and the same OCR cache key)
        pages[0].save(path, "PDF", resolution=float(dpi), save_all=True, append_images=pages[1:],
                      creationDate=_PDF_DATE, modDate=_PDF_DATE)
    elif path.suffix == ".png":
        pages[0].save(path, "PNG", dpi=(dpi, dpi))
    else:
        raise ValueError(f"unknown format {path.suffix}")
    return path


# ---------------------------------------------------------------- table


@dataclass
class Cell:
    dpi: int
    variant: str
    fmt: str
    pages: int = 0
    failures: int = 0
    edits: int = 0
    ref_chars: int = 0
    edits_nfkc: int = 0
    ref_chars_nfkc: int = 0
    edits_t2s: int = 0
    ref_chars_t2s: int = 0
    seconds: float = 0.0  # of the pages read without failure

    def row(self) -> dict:
        n = self.pages
        ok = n - self.failures
        return {
            "dpi": self.dpi, "variant": self.variant, "format": self.fmt, "pages": n,
            "failures": self.failures,
            "cer": round(self.edits / self.ref_chars, 4) if self.ref_chars else None,
            "cer_nfkc": round(self.edits_nfkc / self.ref_chars_nfkc, 4) if self.ref_chars_nfkc else None,
            "cer_nfkc_t2s": round(self.edits_t2s / self.ref_chars_t2s, 4) if self.ref_chars_t2s else None,
            "s_per_page": round(self.seconds / ok, 3) if ok else None,
            "pages_per_min": round(60 * ok / self.seconds, 1) if ok and self.seconds > 0 else None,
        }


_MEASURES = (("cer", {}), ("cer_nfkc", {"fold": True}), ("cer_nfkc_t2s", {"fold": True, "simplify": True}))


def score_page(page: dict, ref: str) -> dict:
    """Adds a page's edit counts and CERs (raw, NFKC, NFKC + t2s) against ``ref``."""
    for key, kw in _MEASURES:
        edits, n = cer_counts(ref, page["ocr_text"], **kw)
        page[f"{key}_counts"] = [edits, n]
        page[key] = round(edits / n, 4) if n else None
    return page


def tabulate(pages: list[dict]) -> list[dict]:
    """Table rows, one per (dpi, variant, format) in first-seen order, from scored pages."""
    cells: dict[tuple, Cell] = {}
    for p in pages:
        c = cells.setdefault((p["dpi"], p["variant"], p["format"]), Cell(p["dpi"], p["variant"], p["format"]))
        c.pages += 1
        if p.get("error"):
            c.failures += 1
        else:
            c.seconds += p["seconds"]
        (e1, n1), (e2, n2), (e3, n3) = (p[f"{key}_counts"] for key, _ in _MEASURES)
        c.edits += e1
        c.ref_chars += n1
        c.edits_nfkc += e2
        c.ref_chars_nfkc += n2
        c.edits_t2s += e3
        c.ref_chars_t2s += n3
    return [c.row() for c in cells.values()]


def rescore(result: dict) -> dict:
    """Scores and table of a saved result again from its stored OCR text (no OCR)."""
    texts = [p["text"] for p in result["paragraphs"]]
    for page in result["pages"]:
        score_page(page, texts[page["page"]])
    result["cells"] = tabulate(result["pages"])
    result["rescored"] = True
    return result


def _fmt(v, pct: bool = False) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.1f}%" if pct else str(v)


def markdown_table(rows: list[dict]) -> str:
    head = "| dpi | variant | format | pages | CER | CER-NFKC | CER-NFKC-t2s | s/page | pages/min | failed |"
    out = [head, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['dpi']} | {r['variant']} | {r['format']} | {r['pages']} | {_fmt(r['cer'], True)} | "
                   f"{_fmt(r['cer_nfkc'], True)} | {_fmt(r.get('cer_nfkc_t2s'), True)} | {_fmt(r['s_per_page'])} | {_fmt(r['pages_per_min'])} | "
                   f"{r['failures']} |")
    return "\n".join(out)


def parse_cells(spec: str | None, dpis: list[int], variants: list[str]) -> list[tuple[int, str]]:
    """``--cells 150/clean,200/noise`` or, without it, every dpi × every variant."""
    if not spec:
        return [(d, v) for d in dpis for v in variants]
    cells = []
    for item in spec.split(","):
        d, _, v = item.strip().partition("/")
        if v not in VARIANTS:
            raise SystemExit(f"--cells: unknown variant {v!r} in {item!r}")
        cells.append((int(d), v))
    return cells


# ---------------------------------------------------------------- OCR under test


def product_loader(ocr_dpi: int | None = None, ocr_model: str | None = None):
    """``(path, root) -> text`` through ``policyqa.loaders.load_file``, a description of
    what was called, and a function closing what it holds. When ``load_file`` takes OCR
    options (``ocr=``), they are the ones a build uses (``build.ocr_options`` of the default
    settings) without the cache folder, so every page is really read, and one OCR worker for
    the whole run when the options take one (as a build has); ``ocr_dpi`` overrides the dpi
    PDF pages are rendered at, ``ocr_model`` the recognition model (a loader whose options
    have no model refuses it)."""
    import dataclasses

    from policyqa import loaders

    sig = inspect.signature(loaders.load_file)
    desc: dict = {"module": loaders.__file__, "load_file": f"load_file{sig}", **_git_state(Path(loaders.__file__))}
    kwargs: dict = {}
    close = lambda: None  # noqa: E731 — nothing to close unless the loader takes a worker
    if "ocr" in sig.parameters:
        from policyqa.build import ocr_options
        from policyqa.config import load_settings

        opts = ocr_options(load_settings(env={}))
        if opts is None:
            raise SystemExit("OCR is off in the default settings")
        opts = dataclasses.replace(opts, cache_dir=None)
        if ocr_dpi:
            opts = dataclasses.replace(opts, dpi=ocr_dpi)
        if ocr_model:
            if not hasattr(opts, "model"):
                raise SystemExit("--ocr-model: the loader under test has no choice of OCR model")
            opts = dataclasses.replace(opts, model=ocr_model)
        desc["ocr_options"] = {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)
                               if f.name not in ("on_page", "worker")}
        if any(f.name == "worker" for f in dataclasses.fields(opts)):
            from policyqa.ocr import OcrWorker  # one recognition process for the run, as a build has

            worker = OcrWorker(opts.model) if hasattr(opts, "model") else OcrWorker()
            opts = dataclasses.replace(opts, worker=worker)
            close = worker.close
        kwargs["ocr"] = opts

    def run(path: Path, root: Path) -> str:
        return loaders.load_file(path, root, MAX_BYTES, **kwargs).text

    return run, desc, close


def _git_state(path: Path) -> dict:
    """Commit and dirtiness of the checkout the module under test comes from, if any."""
    import subprocess

    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(path.parent), *a], capture_output=True, text=True,
                              timeout=10).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        return {"git_commit": head, "git_dirty": bool(git("status", "--porcelain", "--", "src"))} if head else {}
    except (OSError, subprocess.SubprocessError):
        return {}


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()]}


def run_bench(args) -> dict:
    dpis = [int(x) for x in args.dpi.split(",")]
    variants = [v.strip() for v in args.variants.split(",")]
    formats = [f.strip() for f in args.as_.split(",")]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}; known: {', '.join(VARIANTS)}")
    for f in formats:
        if f not in FORMATS:
            raise SystemExit(f"unknown format {f!r}; known: {', '.join(FORMATS)}")
    cells_spec = parse_cells(args.cells, dpis, variants)
    files = [f.strip() for f in (args.files or "").split(",") if f.strip()]
    paras = pick_paragraphs(REPO / "corpus", args.pages, args.seed, files=files)
    if args.pages and not paras:
        raise SystemExit(f"no paragraph found in corpus files starting with {', '.join(files)}")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="ocr_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict = {"machine": machine(), "argv": sys.argv[1:], "seed": args.seed,
                    "settings": {"font": FONT, "font_index": FONT_INDEX, "font_pt": FONT_PT,
                                 "noise_sigma": NOISE_SIGMA, "salt_pepper": SALT_PEPPER, "blur_mm": BLUR_MM,
                                 "skew_deg": SKEW_DEG},
                    "paragraphs": [{"file": f, "chars": len(p), "text": p} for f, p in paras]}
    close_ocr = lambda: None  # noqa: E731 — replaced once the loader under test holds a worker
    try:
        ocr, called, close_ocr = product_loader(args.ocr_dpi, args.ocr_model)
        result["under_test"] = called
        # Warm-up (model loading): one small clean page, not counted.
        warm = save_page(render_page("规划纲要warm-up", 150), work / f"warmup.{formats[0]}", 150)
        t = time.perf_counter()
        try:
            ocr(warm, work)
            result["warmup_s"] = round(time.perf_counter() - t, 2)
        except Exception as e:
            result["warmup_s"] = None
            result["warmup_error"] = f"{type(e).__name__}: {e}"
        details = []
        for dpi, variant in cells_spec:
            font = load_font(dpi)
            for k, (fname, text) in enumerate(paras):
                pages = render_page(text, dpi, font)[:1]
                img = perturb(pages[0], variant, dpi, seed=args.seed * 1000 + k)
                for fmt in formats:
                    path = save_page([img], work / f"p{k:02d}_{dpi}_{variant}.{fmt}", dpi)
                    t = time.perf_counter()
                    error = None
                    try:
                        hyp = ocr(path, work)
                    except Exception as e:
                        hyp, error = "", f"{type(e).__name__}: {e}"
                    page = {"dpi": dpi, "variant": variant, "format": fmt, "page": k, "file": fname,
                            "seconds": round(time.perf_counter() - t, 3), "error": error, "ocr_text": hyp}
                    score_page(page, text)
                    details.append(page)
                    print(f"  {dpi} {variant:8s} {fmt} p{k}: {page['seconds']:5.2f}s CER {page['cer']:.3f} "
                          f"NFKC {page['cer_nfkc']:.3f} t2s {page['cer_nfkc_t2s']:.3f}"
                          f"{'  ' + error if error else ''}", file=sys.stderr, flush=True)
        result["pages"] = details
        result["cells"] = tabulate(details)
        if args.search_check:
            result["search_check"] = search_check(work, args)
        result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        close_ocr()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            result["work"] = str(work)
    return result


# ---------------------------------------------------------------- search check


def _bigrams(text: str) -> set[str]:
    """Character bigrams as search sees the text (NFKC, traditional folded to simplified)."""
    t = strip_ws(t2s(nfkc(text)))
    return {t[i:i + 2] for i in range(len(t) - 1)} or {t}


def _contains(hit: str, evidence: str, share: float = 0.8) -> bool:
    """``evidence`` is in ``hit`` up to OCR errors: most of its character bigrams are."""
    ev = _bigrams(evidence)
    return len(ev & _bigrams(hit)) >= share * len(ev)


def _same_passage(a: str, b: str) -> bool:
    """Two hits cover the same passage (chunk boundaries and OCR errors differ)."""
    x, y = _bigrams(a), _bigrams(b)
    return len(x & y) >= 0.5 * min(len(x), len(y))


def search_check(work: Path, args) -> dict:
    """Dev queries with evidence in one sample file, searched in an index of its text
    original and in one of its scan (the whole file rendered at 200 dpi, clean, as an
    image-only PDF, read by the loader under test): top-1 agreement and evidence found in
    the top 3 of each."""
    from policyqa.api import Engine
    from policyqa.config import load_settings

    name = args.search_file
    text = (REPO / "corpus" / name).read_text(encoding="utf-8")
    queries = []
    for line in (REPO / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        ev = [e["text"] for e in q.get("evidence", []) if e.get("file") == name]
        if ev:
            queries.append((q["query"], ev))
    dpi = 200
    paras = [p.strip() for p in text.splitlines() if p.strip()]
    pages = render_page("\n".join(paras), dpi, load_font(dpi))
    out: dict = {"file": name, "pages": len(pages), "dpi": dpi, "queries": len(queries)}
    corp_txt, corp_scan = work / "sc_txt", work / "sc_scan"
    for d in (corp_txt, corp_scan):
        d.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "corpus" / name, corp_txt / name)
    scan = corp_scan / (Path(name).stem + ".pdf")
    if not scan.exists():  # a kept --work is reused: its indexes (and OCR cache) stay valid
        save_page(pages, scan, dpi)
    hits: dict[str, list[list[str]]] = {}
    for label, corp in (("text", corp_txt), ("scan", corp_scan)):
        s = load_settings(env={}, corpus=corp, index_dir=work / f"idx_{label}")
        t = time.perf_counter()
        engine = Engine.open(s, build_if_needed=True)
        out[f"open_and_build_{label}_s"] = round(time.perf_counter() - t, 1)
        hits[label] = [[h.chunk.text for h in engine.search(q).hits[:3]] for q, _ in queries]
    per_query = []
    for (q, ev), a, b in zip(queries, hits["text"], hits["scan"]):
        per_query.append({"query": q, "top3_text": [h[:60] for h in a], "top3_scan": [h[:60] for h in b],
                          "same_top1": bool(a and b and _same_passage(a[0], b[0])),
                          "evidence_top3_text": any(_contains(h, e) for h in a for e in ev),
                          "evidence_top3_scan": any(_contains(h, e) for h in b for e in ev)})
    for key in ("same_top1", "evidence_top3_text", "evidence_top3_scan"):
        out[key] = sum(r[key] for r in per_query)
    out["per_query"] = per_query
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=2, help="pages (paragraphs) per cell")
    ap.add_argument("--dpi", default="150,200,300")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--as", dest="as_", default="pdf,png", help="formats: pdf,png")
    ap.add_argument("--cells", help="explicit dpi/variant list, e.g. 150/clean,300/clean,200/noise")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "out" / "ocr_bench.json"))
    ap.add_argument("--work", help="folder for the rendered files (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the rendered files")
    ap.add_argument("--ocr-dpi", type=int, help="dpi the loader renders PDF pages at (default: the settings')")
    ap.add_argument("--ocr-model", help="recognition model the loader uses (ppocr-v6, ppocr-v4; default: the settings')")
    ap.add_argument("--files", help="draw paragraphs only from corpus files whose names start with these "
                                    "(comma-separated, e.g. 004 for the traditional one)")
    ap.add_argument("--search-check", action="store_true")
    ap.add_argument("--search-file", default="001_f04b9f986299fbce.txt")
    ap.add_argument("--rescore", metavar="JSON",
                    help="recompute the CERs and the table of a saved --out file from its OCR text (no OCR)")
    args = ap.parse_args()
    if args.rescore:
        result = rescore(json.loads(Path(args.rescore).read_text(encoding="utf-8")))
    else:
        result = run_bench(args)
    table = markdown_table(result["cells"])
    u = result["under_test"]
    print(f"under test: {u['load_file']} from {u['module']} (commit {u.get('git_commit')}, "
          f"dirty {u.get('git_dirty')})")
    if "ocr_options" in result["under_test"]:
        print(f"OCR options: {result['under_test']['ocr_options']}")
    print(f"warm-up (model load) {result.get('warmup_s')} s {result.get('warmup_error', '')}"
          f"{' (rescored from stored OCR text)' if result.get('rescored') else ''}")
    print(table)
    if "search_check" in result:
        print("search check:", json.dumps(result["search_check"], ensure_ascii=False))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result["table_markdown"] = table
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
