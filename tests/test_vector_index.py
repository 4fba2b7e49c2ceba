"""Vector index choice by size, recall of the approximate kinds, and filtered search."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from policyqa import vector_index as vi


def _vectors(n: int, dim: int = 128, seed: int = 0) -> np.ndarray:
    """Normalised vectors with a decaying spectrum, like real sentence embeddings (uniform
    random unit vectors in high dimension have no near neighbours worth the name, and no
    approximate index finds them — see docs/performance.md)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(np.arange(1, dim + 1, dtype=np.float32))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


@pytest.fixture(scope="module")
def data():
    x = _vectors(20_100)
    base, queries = x[:20_000], x[20_000:]
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    return base, queries, flat


def test_choice_by_size():
    assert vi.choose_index_kind(0, 384) == "flat"
    assert vi.choose_index_kind(5_000, 384) == "flat"
    assert vi.choose_index_kind(vi.FLAT_MAX, 384) == "flat"
    assert vi.choose_index_kind(vi.FLAT_MAX + 1, 384) != "flat"
    assert vi.choose_index_kind(1_000_000, 384) in ("ivf", "hnsw")


def test_small_input_builds_flat_and_empty_works():
    index = vi.build_vector_index(_vectors(50), 128)
    assert vi.describe(index) == "flat-ip" and index.ntotal == 50
    empty = vi.build_vector_index(np.zeros((0, 128), np.float32), 128)
    assert empty.ntotal == 0


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_recall_at_10(data, kind):
    base, queries, flat = data
    truth = flat.search(queries, 10)[1]
    index = vi.build_vector_index(base, base.shape[1], kind)
    assert index.ntotal == len(base)
    assert vi.describe(index).startswith(kind)
    _, ids = vi.search(index, queries, 10)
    assert _recall(ids, truth) >= 0.95


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
@pytest.mark.parametrize("share", [0.3, 0.01])
def test_filtered_search_returns_only_allowed_and_finds_them(data, kind, share):
    base, queries, flat = data
    rng = np.random.default_rng(1)
    allowed = np.sort(rng.choice(len(base), int(len(base) * share), replace=False)).astype(np.int64)
    sel = faiss.IDSelectorBatch(allowed)
    truth = flat.search(queries, 10, params=faiss.SearchParameters(sel=sel))[1]
    index = vi.build_vector_index(base, base.shape[1], kind)
    scores, ids = vi.search(index, queries, 10, allowed)
    assert np.isin(ids[ids >= 0], allowed).all()
    assert _recall(ids, truth) >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_search_params_carry_selector_and_tuning(data, kind):
    base = data[0][:3000]
    index = vi.build_vector_index(base, base.shape[1], kind)
    sel, _bits = vi.id_selector(np.arange(10, dtype=np.int64), index.ntotal)
    params = vi.search_params_for(index, sel, 10)
    _, ids = index.search(base[:2], 5, params=params)
    assert set(ids.ravel()) <= set(range(10))
    if kind == "ivf":
        assert params.nprobe == faiss.extract_index_ivf(index).nlist  # a 0.3% filter probes every list
    if kind == "hnsw":
        assert params.efSearch > index.hnsw.efSearch


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_round_trip_and_reconstruct(tmp_path, data, kind):
    base = data[0][:3000]
    index = vi.build_vector_index(base, base.shape[1], kind)
    faiss.write_index(index, str(tmp_path / "v.faiss"))
    back = faiss.read_index(str(tmp_path / "v.faiss"))
    assert vi.describe(back) == vi.describe(index)
    # the embedding cache reads vectors back (fp16 codes: close, not bit-exact)
    np.testing.assert_allclose(back.reconstruct_n(0, 5), base[:5], atol=2e-3)
    np.testing.assert_array_equal(vi.search(back, base[:3], 5)[1], vi.search(index, base[:3], 5)[1])


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown vector index kind"):
        vi.build_vector_index(_vectors(10), 128, "lsh")
