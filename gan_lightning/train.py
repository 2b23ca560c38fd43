"""`python -m gan_lightning.train [group=option ...] [key=value ...]`: train a GAN from Hydra configs.

Resume with `ckpt_path=<run dir>/checkpoints/last.ckpt`, or `ckpt_path=auto` (the default under
`hydra/launcher=submitit_slurm`) to resume this run directory's own last.ckpt when there is one; print the resolved
config with `--cfg job`. A stop signal (SIGTERM, Ctrl-C, SIGUSR1/2) writes last.ckpt at the batch end and exits
with status 128 + the signal number.
An unknown config-group option (``model=nope``) or missing Inception weights exit with status 2 and one
``error: ...`` line on stderr.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class
import pytorch_lightning as pl
from pytorch_lightning.callbacks import LearningRateMonitor
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.plugins import CheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from gan_lightning import CONFIG_DIR
from gan_lightning.callbacks.nan_guard import NonFiniteLossError
from gan_lightning.callbacks.tracking import WandbTracking
from gan_lightning.checkpoint import AtomicCheckpointIO, resolve_ckpt_path, run_state
from gan_lightning.launcher import check_launcher, is_multirun, requested_ckpt_path
from gan_lightning.loggers import ResumableCSVLogger
from gan_lightning.metrics.generative import InceptionWeightsError, ensure_inception_weights
from gan_lightning.models import build_model
from gan_lightning.models.base import check_model_class
from gan_lightning.metric_nets import ensure_metric_nets
from gan_lightning.result import objective, write_result
from gan_lightning.utils.config import instantiate
from gan_lightning.utils.overrides import ConfigGroupError, check_group_overrides
from gan_lightning.utils.signals import spawned_ranks_stop_together
from gan_lightning.wandb_setup import configure_wandb

log = logging.getLogger(__name__)


def instantiate_group(group: DictConfig | None) -> list:
    """Instantiate every `_target_` entry of a dict-of-objects group (callbacks, logger)."""
    if not group:
        return []
    return [instantiate(entry) for entry in group.values() if entry is not None and "_target_" in entry]


def metrics_for_unlabeled_data(cfg: DictConfig, datamodule) -> None:
    """Pick the generative metrics' extractor for data without class labels (``datamodule.labeled`` False: an
    image folder such as CelebA), on which no domain classifier can be trained: ``metrics.feature_extractor=domain``
    (the default) becomes ``inception``, with one warning line; :func:`train` then fetches the weights when they
    are missing, or stops with one line naming ``metrics.feature_extractor``, the weights file and ``metrics=none``.

    Raises:
        ValueError: generative metrics for a model that takes no z (Pix2Pix, CycleGAN; ``uses_latent`` False):
            naming ``metrics=translation``.
    """
    entry = cfg.get("metrics") or {}
    if entry.get("generative") is None:
        return
    target = (cfg.get("model") or {}).get("_target_")
    if target and not getattr(get_class(target), "uses_latent", True):
        raise ValueError(f"metrics.generative scores samples drawn from z, which {target.rsplit('.', 1)[-1]} does not "
                         "take (it translates images): use metrics=translation (L1 / PSNR / SSIM on test pairs), or "
                         "metrics=none.")
    if entry.get("feature_extractor") != "domain" or getattr(datamodule, "labeled", True):
        return
    log.warning("data %s has no class labels for a domain classifier: scoring with Inception (%s) instead, as "
                "metrics.feature_extractor=inception would.", datamodule.name, entry.inception_weights)
    with open_dict(cfg):
        cfg.metrics.feature_extractor = "inception"


def name_interpolated_key(err: ValueError, cfg: DictConfig) -> ValueError:
    """``err`` with its leading ``key=value`` renamed to the key the user sets when ``key`` is a plain
    interpolation (``model.generator.image_size: ${data.image_size}`` becomes ``data.image_size=...``)."""
    match = re.match(r"([\w.]+)=", str(err))
    if not match:
        return err
    parent, _, leaf = match[1].rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if not isinstance(node, DictConfig) or leaf not in node or not OmegaConf.is_interpolation(node, leaf):
        return err
    source = re.fullmatch(r"\$\{([\w.]+)\}", str(OmegaConf.to_container(node, resolve=False)[leaf]))
    if not source:
        return err
    rest = str(err)[len(match[1]) + 1:]
    value, _, tail = rest.partition(" ")
    return type(err)(f"{source[1]}={value} ({match[1]}) {tail}")


def build_trainer(cfg: DictConfig, callbacks: list, loggers: list, **kwargs) -> pl.Trainer:
    """The Trainer of ``cfg.trainer`` with :class:`AtomicCheckpointIO` added to its plugins, unless the config
    already gives a CheckpointIO (in ``trainer.plugins`` or the strategy's ``checkpoint_io``).

    Raises:
        ValueError / MisconfigurationException: from the Trainer's own checks of the config.
    """
    configured = cfg.trainer.get("plugins")
    configured = [] if configured is None else configured if isinstance(configured, ListConfig) else [configured]
    plugins = [instantiate(p) for p in configured]
    strategy = cfg.trainer.get("strategy")
    own_io = isinstance(strategy, DictConfig) and strategy.get("checkpoint_io") is not None
    if not own_io and not any(isinstance(p, CheckpointIO) for p in plugins):
        plugins.append(AtomicCheckpointIO())
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins or None, **kwargs)


def checkpoint_dir(cfg: DictConfig) -> str:
    """Where this run writes its checkpoints (``callbacks.model_checkpoint.dirpath``, else
    ``<paths.output_dir>/checkpoints``): the folder ``ckpt_path=auto`` looks in."""
    dirpath = OmegaConf.select(cfg, "callbacks.model_checkpoint.dirpath", default=None)
    return str(dirpath) if dirpath else str(Path(cfg.paths.output_dir) / "checkpoints")


def train(cfg: DictConfig) -> dict[str, float]:
    """Build data, model, callbacks, loggers and trainer from `cfg`; fit; return final metrics.

    Raises:
        FileNotFoundError: if `ckpt_path` is set but does not exist, or the data is missing.
        ValueError: a checkpoint of another model class, or an invalid config value (one line naming the key).
        InceptionWeightsError: ``metrics.feature_extractor=inception`` without the weights file (and no download),
            also when chosen for data without class labels (:func:`metrics_for_unlabeled_data`).
    """
    ckpt_path = resolve_ckpt_path(requested_ckpt_path(cfg), checkpoint_dir(cfg))
    resumed = run_state(ckpt_path) if ckpt_path else {}  # read once; Lightning loads the whole file in fit
    check_model_class(resumed, str((cfg.get("model") or {}).get("_target_", "")), ckpt_path)
    if "_target_" not in (cfg.get("metrics") or {}):
        with open_dict(cfg):  # metrics=none, also under an experiment that sets metrics.* keys: no evaluation
            cfg.metrics = {}
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()  # fail on missing data before anything else is built
    metrics_for_unlabeled_data(cfg, datamodule)
    metrics_cfg = cfg.get("metrics") or {}
    if metrics_cfg.get("generative") is not None and metrics_cfg.get("feature_extractor") == "inception":
        # downloaded when missing and online; otherwise the run stops before anything is built
        try:
            ensure_inception_weights(metrics_cfg.inception_weights, metrics_cfg.get("inception_weights_url"))
        except InceptionWeightsError as err:
            if getattr(datamodule, "labeled", True):
                raise
            raise InceptionWeightsError(
                f"{err} (Not for data {datamodule.name}: it has no class labels, so metrics.feature_extractor=inception "
                "with the weights above is the only extractor that scores it; without them there is no domain "
                "classifier; use metrics=none.)"
            ) from err
    if cfg.get("train_missing_classifier"):
        ensure_metric_nets(cfg)  # every evaluator's missing classifier / scorer, trained as its CLI would
    pl.seed_everything(cfg.seed, workers=True)
    try:
        model = build_model(cfg)
    except ValueError as err:
        raise name_interpolated_key(err, cfg).with_traceback(err.__traceback__) from None
    if hasattr(model, "check_data"):
        model.check_data(datamodule)  # a model that needs class labels, on unlabeled data
    model.run_config = OmegaConf.to_container(cfg, resolve=True)

    with open_dict(cfg):
        configure_wandb(cfg, resumed.get("wandb_run_id"))
    loggers = instantiate_group(cfg.get("logger"))
    for logger in loggers:
        if isinstance(logger, ResumableCSVLogger):
            logger.append = ckpt_path is not None  # a resumed run keeps its metric history
    callbacks = instantiate_group(cfg.get("callbacks"))
    if "_target_" in metrics_cfg:  # metrics=none: no evaluation
        callbacks.append(instantiate(metrics_cfg))
    if any(isinstance(logger, WandbLogger) for logger in loggers):
        callbacks.insert(0, WandbTracking())
    if not loggers:  # LearningRateMonitor refuses to run without a logger (logger=none)
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer_kwargs = {}
    if cfg.get("max_g_steps"):
        trainer_kwargs["max_steps"] = int(cfg.max_g_steps) * model.optimizer_steps_per_g_step
        trainer_kwargs["max_epochs"] = -1
    trainer = build_trainer(cfg, callbacks, loggers, **trainer_kwargs)
    for logger in loggers:
        logger.log_hyperparams(model.run_config)

    try:
        with spawned_ranks_stop_together(trainer):
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    finally:
        if any(isinstance(logger, WandbLogger) for logger in loggers):
            import wandb

            wandb.finish()  # a later job in the same process (multirun) must not reuse this run
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    # Under ddp_spawn the ranks trained copies: this process's module got the weights back, not g_step (still 0).
    if model.g_step > 0:
        metrics["trainer/g_step"] = float(model.g_step)
    log.info("Finished at generator step %s. Outputs: %s", int(metrics.get("trainer/g_step", -1)), cfg.paths.output_dir)
    return metrics


def run_job(cfg: DictConfig) -> float | None:
    """One job of a run or sweep: train, write result.json, return the objective.

    In a multirun a failing job (divergence, a bad value in its overrides) is logged with its traceback and
    recorded as ``failed`` or ``diverged``; it returns ``diverged_value`` instead of raising, so the sweep and
    its sampler go on. A single run raises as usual.
    """
    check_launcher(cfg)
    try:
        metrics = train(cfg)
    except SIGTERMException as stop:  # a stop signal: last.ckpt is written; the process exits (a sweep too)
        write_result(cfg.paths.output_dir, "interrupted", {}, None, f"stopped by a signal (exit status {stop.code})")
        raise
    except Exception as err:
        status = "diverged" if isinstance(err, NonFiniteLossError) else "failed"
        write_result(cfg.paths.output_dir, status, {}, objective({}, cfg), f"{type(err).__name__}: {err}")
        if not is_multirun():
            raise
        log.exception("Job %s %s; the sweep goes on.", HydraConfig.get().job.num, status)
        return objective({}, cfg)
    value = objective(metrics, cfg)
    write_result(cfg.paths.output_dir, "completed", metrics, value)
    return value


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    try:
        return run_job(cfg)
    except InceptionWeightsError as e:  # a set-up problem, not a crash: the message says what to do
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    """``python -m gan_lightning.train``: check the config-group overrides, then run Hydra's main."""
    try:
        check_group_overrides(sys.argv[1:])
    except ConfigGroupError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    hydra_main()


if __name__ == "__main__":
    main()
