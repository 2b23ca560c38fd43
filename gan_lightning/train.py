"""`python -m gan_lightning.train [group=option ...] [key=value ...]`: train a GAN from Hydra configs.

Resume with `ckpt_path=<run dir>/checkpoints/last.ckpt`, or `ckpt_path=auto` (the default under
`hydra/launcher=submitit_slurm`) to resume this run directory's own last.ckpt when there is one; print the resolved
config with `--cfg job`. A stop signal (SIGTERM, Ctrl-C, SIGUSR1/2) writes last.ckpt at the batch end and exits
with status 128 + the signal number.
An unknown config-group option (``model=nope``) or missing Inception weights exit with status 2 and one
``error: ...`` line on stderr.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class
from hydra.types import RunMode
import pytorch_lightning as pl
from pytorch_lightning.callbacks import LearningRateMonitor
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.plugins import CheckpointIO
from pytorch_lightning.utilities import rank_zero_only
from pytorch_lightning.utilities.exceptions import SIGTERMException
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from gan_lightning import CONFIG_DIR
from gan_lightning.callbacks.nan_guard import NonFiniteLossError
from gan_lightning.callbacks.tracking import WandbTracking
from gan_lightning.checkpoint import AUTO, AtomicCheckpointIO, resolve_ckpt_path
from gan_lightning.loggers import ResumableCSVLogger
from gan_lightning.metrics.generative import InceptionWeightsError, ensure_inception_weights
from gan_lightning.models import build_model
from gan_lightning.models.base import CHECKPOINT_KEY
from gan_lightning.metric_nets import ensure_metric_nets
from gan_lightning.utils.config import instantiate
from gan_lightning.utils.signals import spawned_ranks_stop_together

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


def configure_wandb(cfg: DictConfig, ckpt_path: str | None) -> None:
    """Fill in ``logger.wandb``: group by sweep (the multirun dir) or experiment, name by the job's overrides (or
    the experiment), and on resume continue the W&B run whose id the checkpoint stores."""
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
    if ckpt_path and entry.get("id") is None:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True).get(CHECKPOINT_KEY, {})
        if state.get("wandb_run_id"):
            entry.id = state["wandb_run_id"]
            # "must" asks the server; an offline run can only append to the same id and sync later.
            offline = entry.get("offline") or os.environ.get("WANDB_MODE") in ("offline", "dryrun", "disabled")
            entry.resume = "allow" if offline else "must"
            log.info("Resuming W&B run %s.", entry.id)


class ConfigGroupError(ValueError):
    """A command-line override picks an option that its config group does not have."""


def group_options(group_dir: Path) -> list[str]:
    """The options of a config group: its yaml files, without the suffix, relative to the group folder."""
    return sorted(p.relative_to(group_dir).with_suffix("").as_posix() for p in group_dir.rglob("*.yaml"))


_GROUP_OVERRIDE = re.compile(r"(?P<prefix>~|\+\+|\+)?(?P<group>[A-Za-z_]\w*(?:/\w+)*)(?:@[\w.]*)?(?:=(?P<value>.*))?")


def check_group_overrides(args: list[str], config_dir: Path = CONFIG_DIR) -> None:
    """Check the ``group=option`` overrides in command-line ``args`` against the yaml files of ``config_dir``,
    before Hydra composes (whose own error spans several lines). Also ``+group=``, ``~group=`` and, with
    ``-m``, every item of ``group=a,b``. Anything else (keys, sweep functions, lists, interpolations, ``null``,
    Hydra's own groups, an extra ``--config-dir`` or ``hydra.searchpath``) is left to Hydra.

    Raises:
        ConfigGroupError: one line naming the override, the group and its allowed options.
    """
    if any(a in ("-cd", "--config-dir") or a.startswith(("-cd=", "--config-dir=", "hydra.searchpath")) for a in args):
        return  # options may come from another directory
    multirun = "-m" in args or "--multirun" in args
    for arg in args:
        match = _GROUP_OVERRIDE.fullmatch(arg)
        if arg.startswith("-") or not match or not match["value"]:
            continue
        group, value = match["group"], match["value"]
        group_dir = config_dir / group
        if group.split("/")[0] == "hydra" or not group_dir.is_dir() or any(c in value for c in "[]{}()$'\"\\*? "):
            continue
        if "," in value and not multirun:
            continue  # Hydra reports the ambiguity
        for option in value.split(","):
            if option != "null" and not (group_dir / f"{option}.yaml").is_file():
                raise ConfigGroupError(f"{match['prefix'] or ''}{group}={option} is not a config of group '{group}'; "
                                       f"allowed: {', '.join(group_options(group_dir))}")


def check_checkpoint_model(ckpt_path: str, cfg: DictConfig) -> None:
    """Refuse a checkpoint written by another model class before anything is built (the model's
    ``on_load_checkpoint`` checks again).

    Raises:
        ValueError: one line naming the checkpoint's model class and the configured one.
    """
    state = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True).get(CHECKPOINT_KEY) or {}
    written_by = ((state.get("config") or {}).get("model") or {}).get("_target_", "")
    configured = str((cfg.get("model") or {}).get("_target_", ""))
    if written_by and configured and written_by.rsplit(".", 1)[-1] != configured.rsplit(".", 1)[-1]:
        raise ValueError(
            f"ckpt_path={ckpt_path} holds a {written_by.rsplit('.', 1)[-1]} checkpoint ({written_by}), but this run "
            f"builds {configured.rsplit('.', 1)[-1]} (model._target_={configured}): pick the model (and experiment) "
            "it was trained with.")


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


def requested_ckpt_path(cfg: DictConfig) -> str | None:
    """``cfg.ckpt_path``; when unset under a submitit launcher ``auto``: a requeued job reruns the same command
    line in the same folder and must find the last.ckpt of its previous attempt by itself."""
    ckpt_path = cfg.get("ckpt_path")
    launcher = str(HydraConfig.get().launcher.get("_target_", "")) if HydraConfig.initialized() else ""
    if ckpt_path is None and "submitit" in launcher:
        return AUTO
    return ckpt_path


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
    if ckpt_path:
        check_checkpoint_model(ckpt_path, cfg)
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
        configure_wandb(cfg, ckpt_path)
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


def is_multirun() -> bool:
    """Whether this job is one of a Hydra multirun (``-m``, a sweeper or a cluster launcher)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def check_launcher(cfg: DictConfig) -> None:
    """Refuse a multirun with subprocess DDP on a local launcher: Lightning's ``ddp`` re-runs ``sys.argv``, so
    every rank would start the whole sweep again (Lightning #15737).

    Raises:
        ValueError: naming ``trainer.strategy`` and the two launch modes that work.
    """
    if not is_multirun() or "submitit" in str(HydraConfig.get().launcher.get("_target_", "")):
        return
    strategy = cfg.trainer.get("strategy", "auto")
    if isinstance(strategy, DictConfig):
        subprocess_ddp = "DDPStrategy" in str(strategy.get("_target_", "")) and strategy.get("start_method", "popen") == "popen"
    else:
        subprocess_ddp = str(strategy).startswith("ddp") and not any(m in str(strategy) for m in ("spawn", "fork", "notebook"))
    several = cfg.trainer.get("devices", 1) not in (1, "1", [0]) or int(cfg.trainer.get("num_nodes", 1)) > 1
    if subprocess_ddp and several:
        raise ValueError(
            f"trainer.strategy={strategy if isinstance(strategy, str) else strategy.get('_target_')} starts its ranks by "
            "re-running the command line, which a Hydra multirun cannot do (each rank would start the sweep again). "
            "Use trainer.strategy.start_method=spawn (or trainer=ddp_cpu), or launch the sweep on a cluster with "
            "hydra/launcher=submitit_slurm.")


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
    """``<output_dir>/result.json``: how the job ended, its final metrics and its objective (read by
    ``gan_lightning.compare``)."""
    path = Path(output_dir) / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {"status": status, "objective": value, "metrics": metrics, "error": error}
    path.write_text(json.dumps(result, indent=2, allow_nan=True))


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
