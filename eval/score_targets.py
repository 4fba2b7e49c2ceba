"""Score target extraction against the hand-labelled sample ``eval/targets_labelled.jsonl``.

    python eval/score_targets.py [--labels eval/targets_labelled.jsonl] [--corpus corpus] [-v]

Each labelled line names a sentence (source, start, end). The extractor runs on the
documents of the sample corpus (``extract_targets``) and its targets whose sentence span is
that labelled sentence are compared with the labels:

* sentence level: "states a number-bearing target" (≥ 1 target) — precision and recall;
* pair level: the multiset of (value, unit) pairs per sentence (placeholders compare as
  (None, unit)) — precision and recall.

Reads the corpus directly (no index, no model).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from policyqa.chunk import ChunkSettings  # noqa: E402
from policyqa.text import matching_copy  # noqa: E402
from policyqa.ingest import parse_corpus  # noqa: E402
from policyqa.targets import extract_all  # noqa: E402


def _pair(value, unit: str) -> tuple:
    return (None if value is None else round(float(value), 4), matching_copy(unit))


def score(labels_path: Path, corpus: Path, verbose: bool = False) -> dict:
    labels = [json.loads(line) for line in labels_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    labels = [r for r in labels if "_meta" not in r]
    parsed = parse_corpus(corpus, ChunkSettings(), 10**8)
    texts = {f.source: f.text for f in parsed.files}
    found: dict[tuple, list] = {}
    for t in extract_all(parsed.documents, texts):
        found.setdefault((t.source, t.sentence_start, t.sentence_end), []).append(t)
    tp_s = fp_s = fn_s = 0
    tp_p = fp_p = fn_p = 0
    for r in labels:
        key = (r["source"], r["start"], r["end"])
        assert texts[r["source"]][r["start"] : r["end"]] == r["text"], f"label span drifted: {key}"
        gold = Counter(_pair(t["value"], t["unit"]) for t in r["targets"])
        pred = Counter(_pair(t.value, t.unit) for t in found.get(key, []))
        g, p = bool(gold), bool(pred)
        tp_s += g and p
        fp_s += p and not g
        fn_s += g and not p
        common = sum((gold & pred).values())
        tp_p += common
        fp_p += sum(pred.values()) - common
        fn_p += sum(gold.values()) - common
        if verbose and gold != pred:
            print(f"- {r['source']}[{r['start']}:{r['end']}] {r['text'][:70]}")
            print(f"    gold {sorted(gold.elements(), key=str)}  pred {sorted(pred.elements(), key=str)}")

    def pr(tp: int, fp: int, fn: int) -> dict:
        return {"precision": round(tp / (tp + fp), 3) if tp + fp else 1.0,
                "recall": round(tp / (tp + fn), 3) if tp + fn else 1.0, "tp": tp, "fp": fp, "fn": fn}

    return {"sentences": len(labels), "sentence_level": pr(tp_s, fp_s, fn_s), "pairs": pr(tp_p, fp_p, fn_p)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, default=ROOT / "eval" / "targets_labelled.jsonl")
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every sentence that disagrees")
    args = ap.parse_args()
    report = score(args.labels, args.corpus, args.verbose)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
