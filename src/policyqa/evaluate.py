"""Retrieval evaluation: Recall@1/5/10, MRR@10, nDCG@10 overall and per query kind,
file coverage for compare queries, and abstaining on negatives.

Query sets are JSONL lines ``{"id", "query", "kind", "lang", "evidence": [{"file", "start",
"end", "grade"}]}``; a query without evidence is a negative (should abstain). A returned
passage hits an evidence item when it is in the same file and covers at least half of the
item's span (the rule of the reference scorer in ../shared/eval).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import PolicyQAError

METRICS = ("r@1", "r@5", "r@10", "mrr@10", "ndcg@10")


@dataclass(frozen=True)
class Returned:
    source: str
    start: int
    end: int


def load_queries(path: Path) -> list[dict[str, Any]]:
    """The query rows of a JSONL file; a line that is only ``{"_meta": ...}`` (a note on
    where the set came from) is skipped."""
    rows = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise PolicyQAError(f"cannot read query file {path}: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise PolicyQAError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        if isinstance(row, dict) and set(row) == {"_meta"}:
            continue
        if "id" not in row or "query" not in row:
            raise PolicyQAError(f"{path}:{n}: each line needs at least \"id\" and \"query\"")
        rows.append(row)
    return rows


def _basename(source: str) -> str:
    return source.rsplit("/", 1)[-1]


def covers(r: Returned, ev: dict[str, Any]) -> bool:
    if _basename(r.source) != _basename(ev["file"]):
        return False
    overlap = min(r.end, ev["end"]) - max(r.start, ev["start"])
    return overlap > 0 and 2 * overlap >= ev["end"] - ev["start"]


def score_query(evidence: Sequence[dict[str, Any]], results: Sequence[Returned], k: int = 10) -> dict[str, float]:
    first: int | None = None
    credited: set[int] = set()
    dcg = 0.0
    for rank, r in enumerate(results[:k], 1):
        gain = 0
        for i, ev in enumerate(evidence):
            if covers(r, ev):
                if i not in credited:
                    credited.add(i)
                    gain += ev["grade"]
                if ev["grade"] == 2 and first is None:
                    first = rank
        dcg += gain / math.log2(rank + 1) if gain else 0.0
    ideal = sorted((ev["grade"] for ev in evidence), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    out = {
        "r@1": float(first is not None and first <= 1),
        "r@5": float(first is not None and first <= 5),
        "r@10": float(first is not None and first <= 10),
        "mrr@10": 1.0 / first if first else 0.0,
        "ndcg@10": min(1.0, dcg / idcg) if idcg else 0.0,
    }
    files = {ev["file"] for ev in evidence if ev["grade"] == 2}
    hit_files = {evidence[i]["file"] for i in credited if evidence[i]["grade"] == 2}
    out["file_cov@10"] = len(hit_files) / len(files) if files else 0.0
    return out


def _mean(xs: Iterable[float]) -> float:
    xs = list(xs)
    return round(sum(xs) / len(xs), 4) if xs else 0.0


def roc_auc(negative_scores: Sequence[float], positive_scores: Sequence[float]) -> float | None:
    """Probability that a random positive query's top score is above a random negative's (ties
    count half): how well the top score separates answerable from uncovered queries."""
    if not negative_scores or not positive_scores:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positive_scores for n in negative_scores)
    return round(wins / (len(positive_scores) * len(negative_scores)), 4)


def mean_passage_chars(runs: dict[str, dict[str, Any]], k: int = 5) -> float:
    """Mean length in characters of the top-``k`` returned passages (what a reader must read)."""
    return _mean(r["end"] - r["start"] for run in runs.values() for r in run["results"][:k])


def evaluate(queries: Sequence[dict[str, Any]], runs: dict[str, dict[str, Any]], k: int = 10) -> dict[str, Any]:
    """``runs[id] = {"abstained": bool, "top_score": float, "results": [{"source","start","end"}]}``."""
    per_query: list[dict[str, Any]] = []
    for q in queries:
        run = runs[q["id"]]
        results = [Returned(r["source"], int(r["start"]), int(r["end"])) for r in run["results"]]
        row = {"id": q["id"], "kind": q.get("kind", "?"), "query": q["query"],
               "abstained": bool(run["abstained"]), "top_score": run.get("top_score")}
        if q.get("evidence"):
            row.update(score_query(q["evidence"], results, k))
        per_query.append(row)
    positives = [r for r in per_query if "r@1" in r]
    negatives = [r for r in per_query if "r@1" not in r]
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in positives:
        by_kind[r["kind"]].append(r)
    summary = {m: _mean(r[m] for r in positives) for m in METRICS}
    summary["n"] = len(positives)
    compare = [r["file_cov@10"] for r in positives if r["kind"] == "compare"]
    if compare:
        summary["file_cov@10(compare)"] = _mean(compare)
    return {
        "summary": summary,
        "by_kind": {kind: {"n": len(rows), **{m: _mean(r[m] for r in rows) for m in METRICS}}
                    for kind, rows in sorted(by_kind.items())},
        "by_lang": {lang: {"n": len(rows), **{m: _mean(r[m] for r in rows) for m in METRICS}}
                    for lang, rows in sorted(_group(positives, queries, "lang").items())},
        "negatives": {
            "n": len(negatives),
            "abstained": sum(r["abstained"] for r in negatives),
            "top_scores": [r["top_score"] for r in negatives],
            "auc": roc_auc([r["top_score"] for r in negatives if r["top_score"] is not None],
                           [r["top_score"] for r in positives if r["top_score"] is not None]),
        },
        "mean_passage_chars@5": mean_passage_chars(runs),
        "positives_abstained": sum(r["abstained"] for r in positives),
        "per_query": per_query,
    }


def _group(rows: Sequence[dict[str, Any]], queries: Sequence[dict[str, Any]], field: str) -> dict[str, list]:
    value = {q["id"]: q.get(field, "?") for q in queries}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[value[r["id"]]].append(r)
    return groups


def format_report(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [
        f"queries with evidence: {s['n']}",
        "overall   " + "  ".join(f"{m}={s[m]:.3f}" for m in METRICS),
    ]
    if "file_cov@10(compare)" in s:
        lines.append(f"compare file coverage@10: {s['file_cov@10(compare)']:.3f}")
    lines.append("by kind:")
    for kind, row in report["by_kind"].items():
        lines.append(f"  {kind:<12} n={row['n']:<3} " + "  ".join(f"{m}={row[m]:.2f}" for m in METRICS))
    neg = report["negatives"]
    if neg.get("auc") is not None:
        lines.append(f"top-score ROC AUC (positives vs negatives): {neg['auc']:.3f}")
    lines.append(f"negatives abstained: {neg['abstained']}/{neg['n']}   "
                 f"positives abstained: {report['positives_abstained']}/{s['n']}")
    misses = [r for r in report["per_query"] if r.get("r@5") == 0.0]
    if misses:
        lines.append("missed at 5: " + "; ".join(f"{r['id']} {r['query']}" for r in misses))
    return "\n".join(lines)
