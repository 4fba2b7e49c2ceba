"""Precision and recall of the sentence verifier (``policyqa.generate.verify_sentence``) on a
labelled set built by perturbing real answers.

For every answerable query of the given sets, policyqa's extractive answer over the sample
index gives real sentences and the passages they come from (the top hits, numbered as the
model would see them). Each sentence yields labelled variants:

* correct: the sentence citing its passage; and the same opened by a reporting phrase
  ("文件提出，…"), as a model writes;
* wrong number: one digit of a number changed;
* wrong citation: the sentence citing another of the passages, one that does not contain it;
* unsupported claim: a clause of a sentence from another query's answer appended to it.

Reports, per variant kind, how many the verifier accepts, then precision and recall of
"accepted" for the correct ones, and the time one verification takes.

    python eval/verifier_eval.py eval/dev.jsonl eval/answer_extra.jsonl eval/answer_blind*.jsonl

``--labelled FILE`` scores a hand-written set instead (no index needed): lines of
``{"passage", "sentence", "label": "supported"|"unsupported", "kind"}``, the sentence citing
the passage as ``[1]`` — e.g. eval/verifier_paraphrase.jsonl, free paraphrases a model might
write, written blind.

    python eval/verifier_eval.py --labelled eval/verifier_paraphrase.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

from policyqa.answer_check import answer_segments
from policyqa.config import load_settings
from policyqa.engine import Engine
from policyqa.generate import Passage, passages_of, verify_sentence
from policyqa.types import Chunk, DocMeta, Hit

REPORTING = "文件提出，"


def load(paths: list[Path]) -> list[dict]:
    rows = []
    for p in paths:
        for line in p.read_text(encoding="utf-8").splitlines():
            q = json.loads(line) if line.strip() else {}
            if q.get("query") and q.get("evidence"):
                rows.append(q)
    return rows


def changed_number(sentence: str, rng: random.Random) -> str | None:
    found = list(re.finditer(r"\d", sentence))
    if not found:
        return None
    m = rng.choice(found)
    return sentence[:m.start()] + str((int(m.group()) + rng.randint(1, 8)) % 10) + sentence[m.end():]


def cases_for(engine: Engine, query: str, rng: random.Random, strangers: list[str]) -> list[tuple[str, str, dict]]:
    """(kind, sentence with markers, passages by number) for one query."""
    answer = engine.ask(query)
    if answer.abstained:
        return []
    passages = {p.n: p for p in passages_of(engine.search(query).hits, engine.settings.llm_passages)}
    cases = []
    segments = answer_segments(answer)
    for c in answer.citations:
        segment = segments[c.n].strip()
        home = [n for n, p in passages.items() if p.hit.chunk.source == c.source
                and p.hit.chunk.start <= c.start and c.end <= p.hit.chunk.end]
        if not home or len(segment) < 8:
            continue
        n = home[0]
        cases += [("correct", f"{segment}[{n}]", passages), ("correct", f"{REPORTING}{segment}[{n}]", passages)]
        wrong = changed_number(segment, rng)
        if wrong:
            cases.append(("wrong number", f"{wrong}[{n}]", passages))
        others = [m for m, p in passages.items() if m != n and segment not in p.text]
        if others:
            cases.append(("wrong citation", f"{segment}[{rng.choice(others)}]", passages))
        if strangers:
            clause = rng.choice(strangers)
            cases.append(("unsupported claim", f"{segment.rstrip('。；;')}，{clause}[{n}]", passages))
        strangers.append(re.split(r"[，。；]", segment)[0])
    return cases


def labelled_cases(path: Path) -> list[tuple[str, str, dict]]:
    """(kind, sentence, passages) of a hand-labelled set; supported sentences count as
    "correct" and every unsupported kind keeps its own name."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line) if line.strip() else {}
        if "sentence" not in row:
            continue
        chunk = Chunk(0, row.get("file", "?"), row.get("file", "?"), 0, len(row["passage"]), row["passage"],
                      "", (), DocMeta())
        kind = "correct" if row["label"] == "supported" else row["kind"]
        cases.append((kind, row["sentence"], {1: Passage(1, Hit(chunk, 0.0))}))
    return cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="*", type=Path)
    ap.add_argument("--labelled", type=Path, help="a hand-labelled set of sentences instead of the query sets")
    ap.add_argument("--index-dir", type=Path)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.labelled:
        cases = labelled_cases(args.labelled)
    elif args.sets:
        rng = random.Random(args.seed)
        engine = Engine.open(load_settings(index_dir=args.index_dir))
        cases = []
        strangers: list[str] = []
        for q in load(args.sets):
            cases += cases_for(engine, q["query"], rng, strangers)
    else:
        ap.error("give query sets, or --labelled FILE")
    accepted: Counter[str] = Counter()
    total: Counter[str] = Counter()
    t0 = time.perf_counter()
    for kind, sentence, passages in cases:
        total[kind] += 1
        accepted[kind] += verify_sentence(sentence, passages).ok
    per_check_ms = (time.perf_counter() - t0) * 1000 / max(len(cases), 1)
    tp = accepted["correct"]
    fp = sum(accepted[k] for k in total if k != "correct")
    report = {"cases": len(cases), "per_kind": {k: {"n": total[k], "accepted": accepted[k]} for k in total},
              "precision": round(tp / (tp + fp), 3) if tp + fp else None,
              "recall": round(tp / total["correct"], 3) if total["correct"] else None,
              "ms_per_sentence": round(per_check_ms, 3)}
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    print(f"{'kind':<18} {'n':>5} {'accepted':>9}")
    for k, v in report["per_kind"].items():
        print(f"{k:<18} {v['n']:>5} {v['accepted']:>9}")
    print(f"precision {report['precision']}  recall {report['recall']}  "
          f"{report['ms_per_sentence']} ms per sentence")
    return 0


if __name__ == "__main__":
    sys.exit(main())
