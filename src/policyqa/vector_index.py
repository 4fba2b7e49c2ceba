"""Vector index choice by corpus size.

* ``flat``: exact inner product (``IndexFlatIP``) while a brute-force scan stays fast
  (up to ``FLAT_MAX`` vectors; 384-d float32 = 1.5 KB per chunk).
* ``ivf``: ``IndexIVFScalarQuantizer`` with 8-bit codes (384 B per 384-d vector plus an
  8-byte id), ``nlist ≈ 4·sqrt(n)`` lists, ``nprobe`` tuned so recall@10 against exact
  search stays ≥ 0.95 (see ``bench/tune_vector.py`` and ``docs/performance.md``).
* ``hnsw``: ``IndexHNSWSQ`` (HNSW32 graph over 8-bit codes) — supported and tested, but not
  chosen automatically: it builds ~N× slower on two cores and loses recall under restrictive
  filters (see docs/performance.md).

Vectors are L2-normalised, so inner product is cosine similarity.

Filters: every kind searches with an ``IDSelector`` through ``SearchParameters(sel=...)``.
With a restrictive filter an approximate index would find few allowed vectors in the part it
visits, so ``search_params_for`` widens the search by the inverse of the allowed share (IVF
probes more lists, up to all of them: still exact over the allowed ids' codes), and
``search`` scans the allowed ids exactly when they are few.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Exact search up to this many vectors: a flat scan of 384-d float32 costs ~0.1 ms per 1k
# vectors on 2 cores (≈ 15-25 ms at 150k, measured in bench/bench_scale.py) and 1.5 KB each.
FLAT_MAX = 30_000
# IVF parameters: nlist = IVF_LISTS_PER_SQRT · sqrt(n) (power of two), nprobe as below.
IVF_LISTS_PER_SQRT = 2
IVF_PROBE_SHARE = 0.25  # nprobe = this share of the lists (at least IVF_MIN_NPROBE)
IVF_MIN_NPROBE = 96
IVF_TRAIN_PER_LIST = 40  # k-means training sample: this many vectors per list (capped by n)
IVF_KMEANS_ITER = 10
# HNSW parameters.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 96
# HNSW only: below this many allowed ids a filtered search is an exact scan of just those
# vectors (decoding HNSW's flat code storage is cheap; IVF instead probes more lists).
EXACT_SUBSET_MAX = 20_000

KINDS = ("flat", "ivf", "hnsw")


def _code():
    import faiss

    return faiss.ScalarQuantizer.QT_fp16


def choose_index_kind(n: int, dim: int) -> str:
    """``flat`` while exact search is fast enough, else ``ivf`` (IVF, 8-bit scalar codes)."""
    # The brute-force cost is n·dim multiply-adds; scale the threshold for other dims.
    return "flat" if n * dim <= FLAT_MAX * 384 else "ivf"


def _ivf_nlist(n: int) -> int:
    target = IVF_LISTS_PER_SQRT * math.sqrt(max(n, 1))
    return max(16, 2 ** round(math.log2(target)))


def _train_sample(vectors: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    if len(vectors) <= size:
        return vectors
    rng = np.random.default_rng(seed)
    return vectors[np.sort(rng.choice(len(vectors), size, replace=False))]


def build_vector_index(vectors: np.ndarray, dim: int, kind: str | None = None) -> Any:
    """A FAISS inner-product index over ``vectors`` (n × dim, L2-normalised)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
    n = len(vectors)
    kind = kind or choose_index_kind(n, dim)
    CODE = _code()
    if kind not in KINDS:
        raise ValueError(f"unknown vector index kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "ivf":
        nlist = _ivf_nlist(n)
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, CODE, faiss.METRIC_INNER_PRODUCT)
        index.cp.min_points_per_centroid = 5  # small corpora in tests: no warning spam
        index.cp.niter = IVF_KMEANS_ITER
        index.train(_train_sample(vectors, nlist * IVF_TRAIN_PER_LIST))
        index.nprobe = min(nlist, max(IVF_MIN_NPROBE, math.ceil(IVF_PROBE_SHARE * nlist)))
        index.make_direct_map()  # reconstruct() for the embedding cache and exact subsets
    else:
        index = faiss.IndexHNSWSQ(dim, CODE, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        index.train(_train_sample(vectors, 100_000))
    if n:
        index.add(vectors)
    return index


def kind_of(index: Any) -> str:
    import faiss

    if isinstance(index, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(index, faiss.IndexIVF):
        return "ivf"
    return "flat"


def describe(index: Any) -> str:
    """One line for the manifest, e.g. ``ivf4096-fp16 nprobe=48``."""
    import faiss

    kind = kind_of(index)
    if kind == "ivf":
        ivf = faiss.extract_index_ivf(index)
        return f"ivf{ivf.nlist}-fp16 nprobe={ivf.nprobe}"
    if kind == "hnsw":
        return f"hnsw{index.hnsw.nb_neighbors(1)}-fp16 efSearch={index.hnsw.efSearch}"
    return "flat-ip"


def search_params_for(index: Any, selector: Any = None, n_allowed: int | None = None) -> Any:
    """Search parameters with the tuned ``nprobe``/``efSearch`` and an optional id selector.

    ``n_allowed`` (how many ids the selector lets through) widens the search so that a
    restrictive filter still finds its nearest allowed vectors."""
    import faiss

    kind = kind_of(index)
    widen = 1.0
    if selector is not None and n_allowed is not None and index.ntotal:
        # The 10 nearest allowed vectors of a filter keeping share s of the ids lie about as
        # far out as the 10/s nearest overall; widening by 1/sqrt(s) keeps recall@10 ≥ 0.95
        # on the synthetic benchmark (bench/bench_scale.py, 10% and 1% filters).
        widen = 1.0 / math.sqrt(max(n_allowed / index.ntotal, 1e-12))
    if kind == "ivf":
        ivf = faiss.extract_index_ivf(index)
        nprobe = min(ivf.nlist, math.ceil(ivf.nprobe * widen))
        return faiss.SearchParametersIVF(sel=selector, nprobe=nprobe) if selector is not None \
            else faiss.SearchParametersIVF(nprobe=nprobe)
    if kind == "hnsw":
        ef = min(math.ceil(index.hnsw.efSearch * widen), 4096)
        return faiss.SearchParametersHNSW(sel=selector, efSearch=ef) if selector is not None \
            else faiss.SearchParametersHNSW(efSearch=ef)
    return faiss.SearchParameters(sel=selector) if selector is not None else None


def _exact_subset(index: Any, q: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vecs = index.reconstruct_batch(allowed)
    sims = q @ vecs.T
    k = min(k, len(allowed))
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(top, np.argsort(-np.take_along_axis(sims, top, 1), axis=1, kind="stable"), 1)
    return np.take_along_axis(sims, order, 1).astype(np.float32), allowed[order]


def search(index: Any, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) like ``index.search``; ``allowed`` is an int64 array of permitted ids
    (a filter). Missing results are id -1."""
    import faiss

    q = np.ascontiguousarray(np.asarray(queries, dtype=np.float32).reshape(-1, index.d))
    if allowed is None:
        params = search_params_for(index)
        k = min(k, index.ntotal)
        return index.search(q, k, params=params) if params is not None else index.search(q, k)
    allowed = np.ascontiguousarray(allowed, dtype=np.int64)
    if not len(allowed):
        return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
    if kind_of(index) == "hnsw" and len(allowed) <= EXACT_SUBSET_MAX:
        return _exact_subset(index, q, k, allowed)
    selector, _keep = id_selector(allowed, index.ntotal)
    params = search_params_for(index, selector, len(allowed))
    return index.search(q, min(k, len(allowed)), params=params)


def id_selector(allowed: np.ndarray, n: int) -> tuple[Any, np.ndarray]:
    """A bitmap ``IDSelector`` over ids ``0..n-1`` (one bit per id: O(1) membership, n/8
    bytes); returns the selector and the bitmap, which must stay alive while it is used."""
    import faiss

    mask = np.zeros(n, dtype=bool)
    mask[allowed[(allowed >= 0) & (allowed < n)]] = True
    bits = np.packbits(mask, bitorder="little")
    return faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits)), bits
