"""``result.json``: how a job ended, its final metrics and the objective a sweeper optimizes (read by
``gan_lightning.compare``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only


def objective(metrics: dict[str, float], cfg: DictConfig) -> float | None:
    """The value a sweeper optimizes: ``metrics[cfg.optimized_metric]`` at the end of the run, or
    ``cfg.diverged_value`` when the run diverged, failed or never logged it (optuna needs a finite number).
    None when no metric is configured."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    value = metrics.get(name)
    if value is None or not math.isfinite(value):
        return float(cfg.diverged_value)
    return float(value)


@rank_zero_only  # under subprocess DDP every rank runs this job
def write_result(output_dir: str, status: str, metrics: dict[str, float], value: float | None,
                 error: str | None = None) -> None:
    """``<output_dir>/result.json``: ``status`` (completed / failed / diverged / interrupted), the final
    ``metrics``, the objective ``value`` and the ``error`` line of a job that did not complete."""
    path = Path(output_dir) / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {"status": status, "objective": value, "metrics": metrics, "error": error}
    path.write_text(json.dumps(result, indent=2, allow_nan=True))
