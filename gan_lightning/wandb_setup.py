"""The W&B logger's settings for a run: its group, its name, and the run a resume continues."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from gan_lightning.launcher import is_multirun

log = logging.getLogger(__name__)


def configure_wandb(cfg: DictConfig, resumed_run_id: str | None = None) -> None:
    """Fill in ``cfg.logger.wandb`` in place (``cfg`` open for new keys), when configured: group by sweep (the
    multirun dir) or experiment, name by the job's overrides (conf/logger/wandb.yaml) or else the experiment, and continue the W&B run ``resumed_run_id``
    (the id a resumed checkpoint stores, see ``callbacks.tracking.WandbTracking``) unless ``id`` is set."""
    entry = (cfg.get("logger") or {}).get("wandb")
    if not entry:
        return
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    experiment = choices.get("experiment") or choices.get("model") or "train"
    if entry.get("group") is None:
        sweep_dir = Path(HydraConfig.get().sweep.dir) if is_multirun() else None
        entry.group = f"sweep-{sweep_dir.parent.name}_{sweep_dir.name}" if sweep_dir else experiment
    if not entry.get("name"):
        entry.name = experiment
    if resumed_run_id and entry.get("id") is None:
        entry.id = resumed_run_id
        # "must" asks the server; an offline run can only append to the same id and sync later.
        offline = entry.get("offline") or os.environ.get("WANDB_MODE") in ("offline", "dryrun", "disabled")
        entry.resume = "allow" if offline else "must"
        log.info("Resuming W&B run %s.", entry.id)
