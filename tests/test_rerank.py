"""Reranking through the /v1/rerank API against a stub server on loopback."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from policyqa.config import Settings
from policyqa.errors import PolicyQAError
from policyqa.rerank import RerankBackend, RerankError, rerank_backend
from tests.fake_engine import FakeEngine

QUERY = "教师交流轮岗"
FAVOURED = "安全"  # the stub scores documents holding this word first


@pytest.fixture
def stub():
    state = {"mode": "ok", "bodies": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["bodies"].append(body)
            if state["mode"] == "error":
                self.send_response(503)
                self.end_headers()
                return
            results = [{"index": i, "relevance_score": (1.0 if FAVOURED in d else 0.0) - i / 1000}
                       for i, d in enumerate(body["documents"])]
            if state["mode"] == "partial":
                results = results[:1]
            payload = b"{oops" if state["mode"] == "malformed" else json.dumps({"results": results}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()


def _engine(url: str, candidates: int = 20) -> FakeEngine:
    engine = FakeEngine()
    engine.reranker = RerankBackend(url, "bge-reranker", candidates=candidates)
    return engine


def test_the_top_candidates_are_reordered_by_the_reranker_then_cut_to_k(stub):
    plain = FakeEngine().search(QUERY, k=3)
    result = _engine(stub["url"]).search(QUERY, k=3)
    body = stub["bodies"][0]
    assert body["query"] == QUERY and body["model"] == "bge-reranker" and len(body["documents"]) > 3
    assert len(result.hits) == 3 and FAVOURED in result.hits[0].chunk.text
    assert [h.chunk.chunk_id for h in result.hits] != [h.chunk.chunk_id for h in plain.hits]
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert result.abstained == plain.abstained


@pytest.mark.parametrize("mode", ["error", "malformed", "partial"])
def test_a_failing_reranker_leaves_the_search_order(stub, mode):
    stub["mode"] = mode
    plain = FakeEngine().search(QUERY, k=3)
    result = _engine(stub["url"]).search(QUERY, k=3)
    assert stub["bodies"]  # the reranker was asked, and its failure ignored
    assert [h.chunk.chunk_id for h in result.hits] == [h.chunk.chunk_id for h in plain.hits]


def test_errors_say_what_to_check(stub):
    stub["mode"] = "malformed"
    with pytest.raises(RerankError, match="not the rerank API's JSON"):
        RerankBackend(stub["url"], "m").scores("q", ["a", "b"])
    with pytest.raises(RerankError, match="POLICYQA_RERANK_URL"):
        RerankBackend("http://127.0.0.1:9", "m", timeout_s=1).scores("q", ["a"])
    with pytest.raises(PolicyQAError, match="POLICYQA_RERANK_MODEL"):
        rerank_backend(Settings(rerank_url="http://127.0.0.1:1"))
    assert rerank_backend(Settings()) is None


def _with_threshold(engine: FakeEngine, threshold: float) -> FakeEngine:
    engine.settings = replace(engine.settings, abstain_rerank=threshold)
    return engine


def test_a_rerank_threshold_declines_when_the_best_reranked_passage_scores_under_it(stub):
    plain = FakeEngine().search(QUERY, k=3)
    assert not plain.abstained
    kept = _with_threshold(_engine(stub["url"]), 0.5).search(QUERY, k=3)
    assert not kept.abstained and kept.hits[0].score > 0.5  # a favoured passage scores ~1
    declined = _with_threshold(_engine(stub["url"]), 1.5).search(QUERY, k=3)
    assert declined.abstained and declined.hits  # the nearest passages are still listed


def test_a_failing_reranker_does_not_decline_by_its_threshold(stub):
    stub["mode"] = "error"
    result = _with_threshold(_engine(stub["url"]), 1.5).search(QUERY, k=3)
    assert stub["bodies"] and not result.abstained


def test_calibration_is_per_configuration(tmp_path):
    from policyqa.calibration import calibration_for, configuration_name
    from policyqa.engine import calibration, rerank_threshold

    path = tmp_path / "c.toml"
    path.write_text('[m]\nabstain_cjk = 0.8\noff_topic_margin = 0.01\nfitted_on = ["a"]\n'
                    '["m+rerank:r"]\nabstain_rerank = 0.3\nfitted_on = ["b"]\n', encoding="utf-8")
    assert configuration_name("m", "r") == "m+rerank:r"
    both = calibration_for("m", "r", path=path)
    assert (both.abstain_cjk, both.off_topic_margin, both.abstain_rerank, both.fitted_on) == (0.8, 0.01, 0.3, ("b",))
    assert calibration_for("m", "other", path=path) == calibration_for("m", path=path)  # no entry: the model's
    assert calibration_for("m", path=path).abstain_rerank is None
    # the engine asks for its own configuration; the shipped file has no reranker entry
    with_reranker = Settings(rerank_url="http://127.0.0.1:1", rerank_model="bge-reranker-v2-m3")
    assert calibration(with_reranker) == calibration(Settings()) and rerank_threshold(with_reranker) is None
    assert rerank_threshold(replace(with_reranker, abstain_rerank=0.2)) == 0.2
