"""`python -m gan_lightning.train [group=option ...] [key=value ...]`: train a GAN from Hydra configs.

Resume with `ckpt_path=<run dir>/checkpoints/last.ckpt`; print the resolved config with `--cfg job`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import pytorch_lightning as pl
from pytorch_lightning.callbacks import LearningRateMonitor
from pytorch_lightning.loggers import WandbLogger
from omegaconf import DictConfig, OmegaConf

from gan_lightning import CONFIG_DIR
from gan_lightning.checkpoint import resolve_ckpt_path
from gan_lightning.metrics.generative import verify_inception_weights
from gan_lightning.models import build_model
from gan_lightning.train_classifier import train_classifier
from gan_lightning.train_scorer import train_scorer
from gan_lightning.utils.config import instantiate

log = logging.getLogger(__name__)


def instantiate_group(group: DictConfig | None) -> list:
    """Instantiate every `_target_` entry of a dict-of-objects group (callbacks, logger)."""
    if not group:
        return []
    return [instantiate(entry) for entry in group.values() if entry is not None and "_target_" in entry]


def ensure_domain_classifier(cfg: DictConfig, dataset: str) -> None:
    """Train the domain classifier the generative metrics read (``metrics.feature_extractor=domain``), if it
    does not exist yet.

    Uses conf/train_classifier.yaml with this run's data and paths, so it is the same file as
    `python -m gan_lightning.train_classifier data=<dataset> data.image_size=<size>` writes.
    """
    entry = cfg.get("metrics") or {}
    if entry.get("generative") is None or entry.get("feature_extractor") != "domain" or Path(entry.classifier_path).is_file():
        return
    log.warning("No domain classifier at %s: training it first (about a minute per epoch on CPU).",
                entry.classifier_path)
    clf_cfg = OmegaConf.load(CONFIG_DIR / "train_classifier.yaml")
    del clf_cfg["defaults"]
    clf_cfg = OmegaConf.merge(clf_cfg, {
        "data": OmegaConf.to_container(cfg.data, resolve=True),
        "paths": OmegaConf.to_container(cfg.paths, resolve=True),
        "dataset": dataset,
        "output": entry.classifier_path,
    })
    clf_cfg.data.batches_per_step = 1
    train_classifier(clf_cfg)


def ensure_fcn_scorer(cfg: DictConfig) -> None:
    """Train the labels2fashion FCN-score segmenter (``metrics.evaluators.fcn_score``) if it does not exist yet,
    as `python -m gan_lightning.train_scorer data=labels2fashion data.image_size=<size>` would (on the paired
    task, also for CycleGAN's unpaired variant). Other label decoders need a scorer trained by the user."""
    entry = ((cfg.get("metrics") or {}).get("evaluators") or {}).get("fcn_score")
    if not entry or Path(entry.scorer_path).is_file() or entry.get("label_decoder") != "labels2fashion":
        return
    log.warning("No FCN-score segmenter at %s: training it first (about two minutes on CPU).", entry.scorer_path)
    scorer_cfg = OmegaConf.load(CONFIG_DIR / "train_scorer.yaml")
    del scorer_cfg["defaults"]
    paths = OmegaConf.to_container(cfg.paths, resolve=True)
    scorer_cfg = OmegaConf.merge(scorer_cfg, {"data": OmegaConf.load(CONFIG_DIR / "data" / "labels2fashion.yaml")}, {
        "data": {"data_dir": paths["data_dir"], "cache_dir": paths["cache_dir"], "image_size": cfg.data.image_size,
                 "seed": 0, "batches_per_step": 1, "jitter": False, "num_workers": cfg.data.num_workers},
        "paths": paths, "dataset": "labels2fashion", "output": entry.scorer_path,
    })
    train_scorer(scorer_cfg)


def train(cfg: DictConfig) -> dict[str, float]:
    """Build data, model, callbacks, loggers and trainer from `cfg`; fit; return final metrics.

    Raises:
        FileNotFoundError: if `ckpt_path` is set but does not exist, or the data is missing.
    """
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"))
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()  # fail on missing data before anything else is built
    metrics_cfg = cfg.get("metrics") or {}
    if metrics_cfg.get("generative") is not None and metrics_cfg.get("feature_extractor") == "inception":
        verify_inception_weights(metrics_cfg.inception_weights)  # a missing file stops the run before anything is built
    if cfg.get("train_missing_classifier"):
        ensure_domain_classifier(cfg, datamodule.name)
        ensure_fcn_scorer(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    model = build_model(cfg)
    model.run_config = OmegaConf.to_container(cfg, resolve=True)

    loggers = instantiate_group(cfg.get("logger"))
    callbacks = instantiate_group(cfg.get("callbacks"))
    if "_target_" in metrics_cfg:  # metrics=none: no evaluation
        callbacks.append(instantiate(metrics_cfg))
    if not loggers:  # LearningRateMonitor refuses to run without a logger (logger=none)
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer_kwargs = {}
    if cfg.get("max_g_steps"):
        trainer_kwargs["max_steps"] = int(cfg.max_g_steps) * model.optimizer_steps_per_g_step
        trainer_kwargs["max_epochs"] = -1
    trainer: pl.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, **trainer_kwargs
    )
    for logger in loggers:
        logger.log_hyperparams(model.run_config)

    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    finally:
        if any(isinstance(logger, WandbLogger) for logger in loggers):
            import wandb

            wandb.finish()  # a later job in the same process (multirun) must not reuse this run
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    log.info("Finished at generator step %d. Outputs: %s", model.g_step, cfg.paths.output_dir)
    return metrics


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
