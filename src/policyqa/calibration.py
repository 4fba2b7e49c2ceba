"""Per-model calibrations (abstain thresholds, off-topic margin), kept as data.

``data/calibration.toml`` holds one table per model name with its values, the query sets
they were fitted on and the procedure, so the numbers can be re-fitted rather than edited.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError

CALIBRATION_FILE = Path(__file__).parent / "data" / "calibration.toml"


@dataclass(frozen=True)
class Calibration:
    abstain_cjk: float = 0.0  # 0 = never abstain
    abstain_other: float = 0.0
    off_topic_margin: float | None = None  # None = no off-topic check
    fitted_on: tuple[str, ...] = ()
    method: str = ""


@lru_cache(maxsize=8)  # a small read-only file, read once per path
def load_calibrations(path: Path = CALIBRATION_FILE) -> dict[str, Calibration]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read the calibration file {path}: {e}") from None
    out = {}
    for model, row in data.items():
        try:
            out[model] = Calibration(**{**row, "fitted_on": tuple(row.get("fitted_on", ()))})
        except TypeError as e:
            raise ConfigError(f"{path}: [{model}]: {e}") from None
    return out


def calibration_for(model: str, path: Path = CALIBRATION_FILE) -> Calibration:
    """The model's calibration, or one that never abstains for a model without an entry."""
    return load_calibrations(path).get(model, Calibration())
