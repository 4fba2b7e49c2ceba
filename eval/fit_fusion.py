#!/usr/bin/env python3
"""Fit the fusion parameters of search over several corpora and query sets, and check the fit
by leaving one set out.

Each ``--set INDEX:SET`` pairs a built index with a query set over its corpus. Every
combination of the grid below is scored by MRR@10 over each set's answerable queries; the
objective is the mean over sets (each set weighs the same, whatever its size, so one corpus
cannot outvote another). Leave-one-out: for every set, the combination that is best on the
others, and what it scores on the one left out beside the shipped settings.

    python eval/fit_fusion.py --set /work/sbs/corpus-XXXX/policyqa:eval/dev.jsonl \
        --set /work/sbs/c2-XXXX/policyqa:eval/corpus2_blind.jsonl

Only query-time parameters are fitted (no rebuild): the RRF constant, the weights of the dense,
lexical and best-sentence rankings, and how deep the best-sentence reranking goes.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from policyqa.config import load_settings
from policyqa.engine import Engine, search_params
from policyqa.evaluate import evaluate, load_queries
from policyqa.search import lexical_side, search
from policyqa.text import is_cjk_query

GRID = {
    "rrf_k": (5, 10, 20, 60),
    "dense_weight": (0.5, 1.0, 1.5),
    "lexical_weight": (0.5, 1.0, 1.5),
    "sentence_weight": (0.5, 1.0, 1.5, 2.0),
    "rerank_depth": (30, 60),
}
METRIC = "mrr@10"


@dataclass
class Prepared:
    """One set's queries with what search needs that does not depend on the fusion."""

    name: str
    engine: Engine
    queries: list[dict]
    inputs: list[tuple[str, np.ndarray, object]]


def prepare(index_dir: Path, set_path: Path) -> Prepared:
    settings = load_settings(index_dir=index_dir)
    engine = Engine.open(settings)
    queries = [q for q in load_queries(set_path) if q.get("evidence")]
    data = engine.data
    inputs = []
    for q in queries:
        text = q["query"].strip()
        cjk = is_cjk_query(text)
        glossary, thesaurus = (None, engine.thesaurus()) if cjk else (engine.glossary(), None)
        inputs.append((text, engine.query_vector(text), lexical_side(data, text, glossary, thesaurus)))
    return Prepared(set_path.stem, engine, queries, inputs)


def score(p: Prepared, combo: dict) -> float:
    data = p.engine.data
    params = replace(search_params(p.engine.settings, 10), **combo)
    runs = {}
    for q, (text, qvec, side) in zip(p.queries, p.inputs):
        runs[q["id"]] = search(data, qvec, text, params, None, side).to_json()
    return float(evaluate(p.queries, runs)["summary"][METRIC])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", action="append", required=True, metavar="INDEX:SET")
    ap.add_argument("--json", type=Path, help="write every combination's scores here")
    args = ap.parse_args()
    sets = [prepare(Path(a.split(":", 1)[0]), Path(a.split(":", 1)[1])) for a in args.set]
    shipped = {k: getattr(search_params(sets[0].engine.settings, 10), k) for k in GRID}
    combos = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
    if shipped not in combos:
        combos.append(shipped)
    table = []
    for i, combo in enumerate(combos):
        table.append((combo, [score(p, combo) for p in sets]))
        if i % 20 == 0:
            print(f"{i + 1}/{len(combos)} combinations", flush=True)
    names = [p.name for p in sets]
    base = next(s for c, s in table if c == shipped)
    best_combo, best = max(table, key=lambda t: np.mean(t[1]))
    print(f"\n{METRIC} per set: " + ", ".join(names))
    print(f"shipped {shipped}: " + " ".join(f"{x:.3f}" for x in base) + f"  mean {np.mean(base):.3f}")
    print(f"best on all {best_combo}: " + " ".join(f"{x:.3f}" for x in best) + f"  mean {np.mean(best):.3f}")
    print("\nleave one set out: fitted on the others → on the left-out set (shipped)")
    for j, name in enumerate(names):
        combo, scores = max(table, key=lambda t: np.mean([x for k, x in enumerate(t[1]) if k != j]))
        print(f"  {name}: {combo} → {scores[j]:.3f} ({base[j]:.3f})")
    if args.json:
        args.json.write_text(json.dumps({"sets": names, "shipped": shipped,
                                         "table": [{"combo": c, "scores": s} for c, s in table]}, indent=1))
    for p in sets:
        p.engine.close()


if __name__ == "__main__":
    main()
