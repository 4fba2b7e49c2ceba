"""Follow-up questions: how well retrieval finds a follow-up's evidence when it is searched
alone, made standalone by policyqa (``followup.standalone``: the rule, or the chat model when
``llm_url`` is set), and as the set's hand-written standalone question.

    python eval/followup_eval.py eval/samples_followup.jsonl [--json]

Each line: ``{"id", "first", "followup", "standalone", "evidence": [...]}``; a hit covers an
evidence span as in ``policyqa eval`` (same file, overlapping at least half the span).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from policyqa.config import load_settings
from policyqa.engine import Engine
from policyqa.evaluate import Returned, covers
from policyqa.followup import standalone


def first_rank(hits: list, evidence: list[dict]) -> int | None:
    for rank, h in enumerate(hits, start=1):
        c = h.chunk
        if any(e["grade"] == 2 and covers(Returned(c.source, c.start, c.end), e) for e in evidence):
            return rank
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", type=Path)
    ap.add_argument("--index-dir", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in args.set.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if "followup" in r]
    engine = Engine.open(load_settings(index_dir=args.index_dir))
    ways = {"alone": lambda r: r["followup"], "policyqa": lambda r: standalone(r["followup"], [r["first"]], engine.chat),
            "gold standalone": lambda r: r["standalone"]}
    report: dict[str, dict] = {}
    per_query = []
    for name, make in ways.items():
        ranks = []
        for r in rows:
            query = make(r)
            rank = first_rank(list(engine.search(query, k=10).hits), r["evidence"])
            ranks.append(rank)
            per_query.append({"id": r["id"], "way": name, "query": query, "rank": rank})
        n = len(ranks)
        report[name] = {"n": n, "R@1": round(sum(1 for x in ranks if x == 1) / n, 3),
                        "R@5": round(sum(1 for x in ranks if x and x <= 5) / n, 3),
                        "MRR@10": round(sum(1 / x for x in ranks if x) / n, 3)}
    if args.json:
        print(json.dumps({"report": report, "queries": per_query}, ensure_ascii=False))
        return 0
    print(f"{'searched':<16} {'n':>3} {'R@1':>6} {'R@5':>6} {'MRR@10':>7}")
    for name, v in report.items():
        print(f"{name:<16} {v['n']:>3} {v['R@1']:>6} {v['R@5']:>6} {v['MRR@10']:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
