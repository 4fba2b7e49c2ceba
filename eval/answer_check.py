#!/usr/bin/env python3
"""Check `policyqa ask` answers against a query set with evidence: how often the first
citation overlaps a grade-2 (or any) evidence span, citation problems found by
`answer_check.check_citations`, negatives declined, and warm answer latency.

    python eval/answer_check.py [eval/dev.jsonl] [--index-dir index]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from policyqa.answer_check import check_citations
from policyqa.api import Engine
from policyqa.config import load_settings
from policyqa.evaluate import load_queries


def overlaps(c, evidence, min_grade: int) -> bool:
    return any(
        c.source.rsplit("/", 1)[-1] == e["file"] and min(c.end, e["end"]) > max(c.start, e["start"]) and e["grade"] >= min_grade
        for e in evidence
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("queries", type=Path, nargs="?", default=Path("eval/dev.jsonl"))
    ap.add_argument("--index-dir", type=Path, default=None)
    args = ap.parse_args()
    engine = Engine.open(load_settings(index_dir=args.index_dir))
    n = ok2 = ok1 = problems = declined = negatives = 0
    latency = []
    for q in load_queries(args.queries):
        t = time.perf_counter()
        a = engine.ask(q["query"])
        latency.append(time.perf_counter() - t)
        problems += len(check_citations(a, engine.source_text))
        if not q.get("evidence"):
            negatives += 1
            declined += a.abstained
            continue
        n += 1
        first = a.citations[0] if a.citations else None
        ok2 += bool(first and overlaps(first, q["evidence"], 2))
        ok1 += bool(first and overlaps(first, q["evidence"], 1))
        if not (first and overlaps(first, q["evidence"], 2)):
            print(f"miss {q['id']} {q['query']} -> {a.answer[:80]!r}")
    print(f"first citation on grade-2 evidence: {ok2}/{n}; on any evidence: {ok1}/{n}; "
          f"citation problems: {problems}; negatives declined: {declined}/{negatives}; "
          f"ask p50 {np.percentile(latency, 50) * 1000:.0f} ms (first call includes warm-up)")


if __name__ == "__main__":
    main()
