"""What the Hydra launcher decides for a job: whether it is one of a multirun, whether its DDP strategy can start
under that launcher, and where a requeued cluster job resumes from."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from gan_lightning.checkpoint import AUTO


def launcher_target() -> str:
    """The ``_target_`` of the job's Hydra launcher, ``""`` outside a Hydra job (tests composing a config)."""
    return str(HydraConfig.get().launcher.get("_target_", "")) if HydraConfig.initialized() else ""


def is_multirun() -> bool:
    """Whether this job is one of a Hydra multirun (``-m``, a sweeper or a cluster launcher)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def requested_ckpt_path(cfg: DictConfig) -> str | None:
    """``cfg.ckpt_path``; when unset under a submitit launcher ``auto``: a requeued job reruns the same command
    line in the same folder and must find the last.ckpt of its previous attempt by itself."""
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is None and "submitit" in launcher_target():
        return AUTO
    return ckpt_path


def check_launcher(cfg: DictConfig) -> None:
    """Refuse a multirun with subprocess DDP on a local launcher: Lightning's ``ddp`` re-runs ``sys.argv``, so
    every rank would start the whole sweep again (Lightning #15737).

    Raises:
        ValueError: naming ``trainer.strategy`` and the two launch modes that work.
    """
    if not is_multirun() or "submitit" in launcher_target():
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
