#!/usr/bin/env python3
"""File coverage of `policyqa compare` tables on the "compare" queries of a query set:
for each query, the share of files holding grade-2 evidence that get a row in the table.

    python eval/compare_coverage.py [eval/dev.jsonl] [--index-dir index]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from policyqa.api import Engine
from policyqa.config import load_settings
from policyqa.evaluate import load_queries


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("queries", type=Path, nargs="?", default=Path("eval/dev.jsonl"))
    ap.add_argument("--index-dir", type=Path, default=None)
    args = ap.parse_args()
    engine = Engine.open(load_settings(index_dir=args.index_dir))
    covs = []
    for q in load_queries(args.queries):
        if q.get("kind") != "compare":
            continue
        rows = engine.compare(q["query"]).to_json()["rows"]
        files = {e["file"] for e in q["evidence"] if e["grade"] == 2}
        got = {r["source"].rsplit("/", 1)[-1] for r in rows}
        covs.append(len(files & got) / len(files))
        print(f"{q['id']}  rows={len(rows):<3} file coverage {len(files & got)}/{len(files)}  {q['query']}")
    if covs:
        print(f"mean file coverage: {sum(covs) / len(covs):.3f} over {len(covs)} compare queries")


if __name__ == "__main__":
    main()
