#!/usr/bin/env python3
"""Coverage and values of `policyqa compare` tables on the "compare" queries of a query set.

    python eval/compare_coverage.py [eval/dev.jsonl] [--index-dir index]

Per query: file coverage, the share of files holding grade-2 evidence that get a row in the
table; and, for queries whose writer recorded the expected phrasing per file (``expected``:
``[{"file", "value", "phrasing"}]``), coverage of those files and "values right": the share of
them with a row whose sentence holds the expected phrasing (at least 60% of its character
bigrams, after NFKC, traditional→simplified folding and dropping punctuation and spaces).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from policyqa.api import Engine
from policyqa.config import load_settings
from policyqa.evaluate import load_queries
from policyqa.text import fold

_DROP = re.compile(r"[\W_]+")


def bigrams(text: str) -> set[str]:
    t = _DROP.sub("", fold(text))
    return {t[i:i + 2] for i in range(len(t) - 1)} or ({t} if t else set())


def holds(phrasing: str, row_text: str, share: float = 0.6) -> bool:
    want = bigrams(phrasing)
    return bool(want) and len(want & bigrams(row_text)) >= share * len(want)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("queries", type=Path, nargs="?", default=Path("eval/dev.jsonl"))
    ap.add_argument("--index-dir", type=Path, default=None)
    args = ap.parse_args()
    engine = Engine.open(load_settings(index_dir=args.index_dir))
    covs, exp_cov, right = [], [], []
    for q in load_queries(args.queries):
        if q.get("kind") != "compare":
            continue
        rows = engine.compare(q["query"]).to_json()["rows"]
        by_file: dict[str, list[str]] = {}
        for r in rows:
            by_file.setdefault(r["source"].rsplit("/", 1)[-1], []).append(r["phrasing"])
        files = {e["file"] for e in q["evidence"] if e["grade"] == 2}
        covs.append(len(files & set(by_file)) / len(files))
        line = f"{q['id']}  rows={len(rows):<3} file coverage {len(files & set(by_file))}/{len(files)}"
        expected = q.get("expected") or []
        if expected:
            got = [e for e in expected if e["file"] in by_file]
            ok = [e for e in got if any(holds(e["phrasing"], p) for p in by_file[e["file"]])]
            exp_cov.append(len(got) / len(expected))
            right.append(len(ok) / len(expected))
            line += f"  expected files {len(got)}/{len(expected)}, values right {len(ok)}/{len(expected)}"
        print(f"{line}  {q['query']}")
    if covs:
        print(f"mean file coverage: {sum(covs) / len(covs):.3f} over {len(covs)} compare queries")
    if exp_cov:
        print(f"expected files covered: {sum(exp_cov) / len(exp_cov):.3f}, values right: "
              f"{sum(right) / len(right):.3f} over {len(exp_cov)} queries with expected values")


if __name__ == "__main__":
    main()
