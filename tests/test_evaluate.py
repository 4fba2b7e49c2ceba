import math
from pathlib import Path

import pytest

from policyqa.errors import PolicyQAError
from policyqa.evaluate import Returned, evaluate, load_queries, score_query

EV = [{"file": "a.txt", "start": 100, "end": 120, "grade": 2},
      {"file": "b.txt", "start": 0, "end": 10, "grade": 1}]


def test_hit_needs_half_the_span_in_the_same_file():
    assert score_query(EV, [Returned("a.txt", 109, 300)])["r@1"] == 1.0
    assert score_query(EV, [Returned("a.txt", 111, 300)])["r@1"] == 0.0
    assert score_query(EV, [Returned("b.txt", 100, 120)])["r@1"] == 0.0


def test_rank_metrics():
    res = [Returned("x.txt", 0, 5), Returned("b.txt", 0, 10), Returned("dir/a.txt", 100, 120)]
    s = score_query(EV, res)
    assert (s["r@1"], s["r@5"], s["mrr@10"]) == (0.0, 1.0, 1 / 3)
    ideal = 2 + 1 / math.log2(3)
    assert abs(s["ndcg@10"] - (1 / math.log2(3) + 2 / 2) / ideal) < 1e-9


def test_negatives_and_kinds():
    queries = [{"id": "p", "query": "q", "kind": "keyword", "evidence": EV},
               {"id": "n", "query": "none", "kind": "negative", "evidence": []}]
    runs = {"p": {"abstained": False, "top_score": 0.9, "results": [{"source": "a.txt", "start": 100, "end": 120}]},
            "n": {"abstained": True, "top_score": 0.1, "results": []}}
    rep = evaluate(queries, runs)
    assert rep["summary"]["r@1"] == 1.0 and rep["summary"]["n"] == 1
    assert rep["negatives"] == {"n": 1, "abstained": 1, "top_scores": [0.1], "auc": 1.0}
    assert rep["by_kind"]["keyword"]["n"] == 1
    assert rep["mean_passage_chars@5"] == 20.0


def test_roc_auc_counts_ties_half():
    from policyqa.evaluate import roc_auc

    assert roc_auc([0.1, 0.5], [0.5, 0.9]) == 0.875  # 0.9 beats both, 0.5 beats 0.1 and ties 0.5
    assert roc_auc([], [0.3]) is None


def test_load_queries_skips_a_meta_line(tmp_path):
    from policyqa.evaluate import load_queries

    path = tmp_path / "q.jsonl"
    path.write_text('{"_meta": "written by hand"}\n{"id": "x1", "query": "校园足球", "evidence": []}\n',
                    encoding="utf-8")
    assert [q["id"] for q in load_queries(path)] == ["x1"]
    path.write_text('{"_meta": "note", "query": "no id"}\n', encoding="utf-8")
    with pytest.raises(PolicyQAError):
        load_queries(path)


@pytest.mark.parametrize("name", ["dev.jsonl", "answer_extra.jsonl", "answer_blind.jsonl", "answer_blind2.jsonl",
                                  "answer_blind3.jsonl", "answer_blind4.jsonl", "answer_blind5.jsonl",
                                  "answer_blind6.jsonl"])
def test_shipped_query_sets_quote_the_corpus_exactly(name):
    """Every evidence span of the query sets in eval/ is the sample corpus's text at its
    offsets, and every answerable query has a grade-2 span."""
    root = Path(__file__).resolve().parents[1]
    queries = load_queries(root / "eval" / name)
    assert queries
    for q in queries:
        for ev in q.get("evidence", []):
            text = (root / "corpus" / ev["file"]).read_text(encoding="utf-8")
            assert text[ev["start"]:ev["end"]] == ev["text"], (q["id"], ev)
        if q.get("evidence"):
            assert any(ev["grade"] == 2 for ev in q["evidence"]), q["id"]
