#!/usr/bin/env python3
"""policyqa and the peer pipeline side by side on one corpus and one query set.

Builds (or reuses) both indexes under ``--work``, runs every query through both with k=10,
scores both with the same rules (policyqa.evaluate, the reference scorer's), and prints one
table: per kind and per language R@1 / R@5 / MRR / nDCG for each system, the negatives'
abstentions, the top score's ROC AUC (answerable vs negative queries) and the mean length
of the top-5 passages.

    python eval/side_by_side.py --corpus corpus --queries eval/dev.jsonl
    python eval/side_by_side.py --corpus ../shared/corpus2 --queries eval/corpus2_blind.jsonl --json out.json

The peer is Langchain-Chatchat's default pipeline (``../shared/peers/chatchat_default.py``:
250/50 recursive split, the same model, FAISS flat, jieba BM25, 0.5/0.5 rank fusion); it reads
only the corpus's ``.txt`` files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policyqa.api import Engine, index_is_current
from policyqa.cli import tqdm_progress
from policyqa.config import load_settings
from policyqa.evaluate import evaluate, load_queries

DEFAULT_PEER = Path(__file__).resolve().parents[2] / "shared" / "peers" / "chatchat_default.py"
SHOWN = ("r@1", "r@5", "mrr@10", "ndcg@10")


@dataclass
class Run:
    name: str
    runs: dict[str, dict[str, Any]]
    build_seconds: float | None  # None when an existing index was reused
    query_seconds: float


def work_dir(base: Path, corpus: Path) -> Path:
    """One cache folder per corpus, so several corpora can be compared without rebuilding."""
    key = hashlib.sha1(str(corpus.resolve()).encode()).hexdigest()[:8]
    return base / f"{corpus.resolve().name}-{key}"


def run_policyqa(corpus: Path, work: Path, queries: list[dict], model: str | None) -> Run:
    settings = load_settings(corpus=corpus, index_dir=work / "policyqa", model=model)
    current = index_is_current(settings)
    progress, done = tqdm_progress()
    t0 = time.perf_counter()
    # an outdated index is updated incrementally: unchanged files are not re-embedded
    with Engine.open(settings, build_if_needed=True, progress=progress) as engine:
        done()
        built = None if current else time.perf_counter() - t0
        t0 = time.perf_counter()
        runs = {q["id"]: engine.search(q["query"], k=10).to_json() for q in queries}
    return Run("policyqa", runs, built, time.perf_counter() - t0)


def run_peer(peer: Path, corpus: Path, work: Path, queries_file: Path) -> Run:
    if not peer.is_file():
        raise SystemExit(f"peer pipeline not found at {peer}: pass --peer PATH")
    out = work / "peer"
    built = None
    if not (out / "chunks.json").is_file():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(peer), "build", str(corpus), str(out)], check=True)
        built = time.perf_counter() - t0
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, str(peer), "search", str(out), str(queries_file)],
                          check=True, capture_output=True, text=True)
    runs = {}
    for line in done.stdout.splitlines():
        row = json.loads(line)
        runs[row["id"]] = row
    return Run("peer", runs, built, time.perf_counter() - t0)


def _cells(row: dict[str, Any] | None) -> str:
    if row is None:
        return "  ".join(" " * 5 for _ in SHOWN)
    return "  ".join(f"{row[m]:5.3f}" for m in SHOWN)


def format_table(reports: dict[str, dict[str, Any]], runs: list[Run]) -> str:
    names = list(reports)
    head = "  ".join(f"{'R@1':>5}  {'R@5':>5}  {'MRR':>5}  {'nDCG':>5}" for _ in names)
    lines = [f"{'':18}{'':4}  " + "   |  ".join(f"{n:^26}" for n in names), f"{'kind':18}{'n':>4}  {head}"]
    first = reports[names[0]]
    groups = [("all", first["summary"], "summary")]
    groups += [(k, v, ("by_kind", k)) for k, v in first["by_kind"].items()]
    groups += [(f"lang {k}", v, ("by_lang", k)) for k, v in first["by_lang"].items()]
    for label, row, where in groups:
        cells = []
        for n in names:
            rep = reports[n]
            cells.append(_cells(rep["summary"] if where == "summary" else rep[where[0]].get(where[1])))
        lines.append(f"{label:18}{row['n']:>4}  " + "   |  ".join(cells))
    lines.append("")
    for n in names:
        rep, run = reports[n], next(r for r in runs if r.name == n)
        neg = rep["negatives"]
        auc = "n/a" if neg["auc"] is None else f"{neg['auc']:.3f}"
        cov = rep["summary"].get("file_cov@10(compare)")
        lines.append(
            f"{n:9} negatives abstained {neg['abstained']}/{neg['n']}, positives abstained "
            f"{rep['positives_abstained']}/{rep['summary']['n']}, top-score AUC {auc}, "
            f"mean top-5 passage {rep['mean_passage_chars@5']:.0f} chars"
            + (f", compare file coverage@10 {cov:.3f}" if cov is not None else "")
            + (f", build {run.build_seconds:.0f} s" if run.build_seconds is not None else ", index reused")
            + f", {len(run.runs)} queries in {run.query_seconds:.1f} s")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("corpus"))
    ap.add_argument("--queries", type=Path, default=Path("eval/dev.jsonl"))
    ap.add_argument("--peer", type=Path, default=DEFAULT_PEER, help=f"peer script (default {DEFAULT_PEER})")
    ap.add_argument("--work", type=Path, default=Path("bench/out/side_by_side"), help="where both indexes are kept")
    ap.add_argument("--model", help="policyqa's embedding model (default: the settings')")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write both full reports as JSON")
    args = ap.parse_args()
    queries = load_queries(args.queries)
    work = work_dir(args.work, args.corpus)
    runs = [run_policyqa(args.corpus, work, queries, args.model), run_peer(args.peer, args.corpus, work, args.queries)]
    reports = {r.name: evaluate(queries, r.runs) for r in runs}
    print(f"{args.queries} on {args.corpus} ({len(queries)} queries)")
    print(format_table(reports, runs))
    if args.json:
        args.json.write_text(json.dumps(reports, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
