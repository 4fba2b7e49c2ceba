"""A reranker behind the Jina/Cohere ``POST <url>/v1/rerank`` API that TEI, vLLM and
Xinference serve (bge-reranker and the like): the top candidates of a search are reordered by
its scores before the result is cut to ``k``, judged and answered from.

Abstaining is calibrated per configuration (``calibration.py``): the embedding model's evidence
threshold always applies (reordering does not change it: it is taken over the best evidence of
the candidates), and a calibration fitted with this reranker (eval/calibrate.py --rerank-url)
adds ``abstain_rerank``: a query whose best reranked candidate scores under it is declined too.
Without one the reranker only reorders. A failing reranker is logged, the search keeps its own
order and its verdict.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Sequence

import httpx

from .errors import PolicyQAError
from .types import Hit, SearchResult

log = logging.getLogger(__name__)


class RerankError(PolicyQAError):
    """The rerank server could not score the candidates; the message says why."""


@dataclass(frozen=True)
class RerankBackend:
    url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 10.0
    candidates: int = 20

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        return (base if base.endswith("/v1") else base + "/v1") + "/rerank"

    def scores(self, query: str, documents: Sequence[str]) -> list[float]:
        """One relevance score per document, in the documents' order."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.model, "query": query, "documents": list(documents), "top_n": len(documents)}
        try:
            r = httpx.post(self.endpoint, json=body, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as e:
            raise RerankError(f"the rerank server at {self.url} cannot be reached or timed out "
                              f"({type(e).__name__}): check rerank_url / POLICYQA_RERANK_URL") from None
        if r.status_code != 200:
            raise RerankError(f"the rerank server answered HTTP {r.status_code} at {self.endpoint}: {r.text[:200]}")
        try:
            results = r.json()["results"]
            by_index = {int(x["index"]): float(x.get("relevance_score", x.get("score"))) for x in results}
        except (ValueError, KeyError, TypeError) as e:
            raise RerankError(f"the rerank server at {self.endpoint} sent a reply that is not the rerank API's "
                              f"JSON ({type(e).__name__}): {r.text[:120]!r}") from None
        if set(by_index) != set(range(len(documents))):
            raise RerankError(f"the rerank server at {self.endpoint} scored {len(by_index)} of {len(documents)} documents")
        return [by_index[i] for i in range(len(documents))]


def reranked(result: SearchResult, backend: RerankBackend, k: int, abstain_below: float | None = None) -> SearchResult:
    """``result`` with its hits reordered by the reranker and cut to ``k``, and declined when
    ``abstain_below`` is given and the best reranker score is under it; as it was (cut to
    ``k``) when the reranker fails."""
    hits: list[Hit] = list(result.hits)
    if not hits:
        return result
    try:
        scores = backend.scores(result.query, [h.chunk.text for h in hits])
    except RerankError as e:
        log.warning("reranking skipped: %s", e)
        return replace(result, hits=tuple(hits[:k]))
    order = sorted(range(len(hits)), key=lambda i: -scores[i])
    hits = [replace(hits[i], score=scores[i]) for i in order]
    declined = abstain_below is not None and hits[0].score < abstain_below
    return replace(result, hits=tuple(hits[:k]), abstained=result.abstained or declined)


def rerank_backend(settings) -> RerankBackend | None:
    if not settings.rerank_url:
        return None
    if not settings.rerank_model:
        raise PolicyQAError("rerank_url is set but rerank_model is not: set POLICYQA_RERANK_MODEL (or rerank_model)")
    return RerankBackend(settings.rerank_url, settings.rerank_model, settings.rerank_api_key,
                         candidates=settings.rerank_candidates)
