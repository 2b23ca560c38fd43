"""Checkpoint paths, atomic checkpoint writes, and loading a trained model back from a checkpoint."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from omegaconf import OmegaConf
from pytorch_lightning.plugins import TorchCheckpointIO

from gan_lightning.models import build_model
from gan_lightning.models.base import CHECKPOINT_KEY, AdversarialModule

log = logging.getLogger(__name__)


AUTO = "auto"


def resolve_ckpt_path(ckpt_path: str | None, auto_dir: str | Path | None = None) -> str | None:
    """Return `ckpt_path` as an absolute path, or None when unset.

    ``ckpt_path="auto"`` resumes from ``<auto_dir>/last.ckpt`` (the run directory's own checkpoint folder) when
    that file exists and starts fresh otherwise, logging one line that says which: a requeued cluster job runs
    the same command line in the same folder and finds the checkpoint its previous attempt wrote.

    Raises:
        FileNotFoundError: if an explicit path is set but no file exists there (a resume never silently
            becomes a fresh start).
        ValueError: ``auto`` without ``auto_dir``.
    """
    if ckpt_path in (None, "", "null"):
        return None
    if str(ckpt_path) == AUTO:
        if auto_dir is None:
            raise ValueError("ckpt_path=auto needs the run's checkpoint folder (callbacks.model_checkpoint.dirpath).")
        last = Path(auto_dir).expanduser().resolve() / "last.ckpt"
        if last.is_file():
            log.info("ckpt_path=auto: resuming from %s.", last)
            return str(last)
        log.info("ckpt_path=auto: no checkpoint at %s, starting a new run.", last)
        return None
    path = Path(str(ckpt_path)).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(
            f"ckpt_path={ckpt_path!r}: no checkpoint at {path}. Pass the path of an existing file, "
            "e.g. outputs/<date>/<time>/checkpoints/last.ckpt, ckpt_path=auto to resume the run directory's own "
            "last.ckpt if there is one, or drop ckpt_path to start a new run."
        )
    return str(path)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O with crash-safe local writes: a kill at any point of a save leaves the
    previous file at the target path (e.g. ``last.ckpt``) intact and loadable.

    A local checkpoint is written to ``<path>.tmp<pid>`` in the target's own directory, flushed and fsynced,
    then ``os.replace``d onto the target (a rename within one file system is atomic); the directory is fsynced
    so the rename survives a power loss. Remote (fsspec) paths keep Lightning's own transactional write.
    A process killed mid-write can leave its ``.tmp<pid>`` file behind, never a truncated target.

    Raises (from ``save_checkpoint``):
        TypeError: if ``storage_options`` is given (as ``TorchCheckpointIO``).
        OSError / RuntimeError: from writing or serializing; the temporary file is removed first and the
            target is left as it was.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        fs, local_path = url_to_fs(str(path))
        if storage_options is not None or not isinstance(fs, LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)  # raises on storage_options
            return
        target = Path(local_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")  # same directory: the rename stays atomic
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(ckpt_path: str) -> dict:
    """Load a checkpoint dict with `torch.load(weights_only=True)` onto the CPU."""
    path = resolve_ckpt_path(ckpt_path)
    if path is None:
        raise ValueError("ckpt_path is required: the path of a checkpoint written by gan_lightning.train.")
    return torch.load(path, map_location="cpu", weights_only=True)


def run_state(ckpt_path: str) -> dict:
    """The ``"gan_lightning"`` entry of a checkpoint (g_step, run config, RNG states, W&B run id; ``{}`` when
    absent), read before training starts: memory-mapped, so the weights are not read into memory.

    Raises:
        FileNotFoundError / RuntimeError: from ``torch.load``, for a missing or unreadable file.
    """
    return torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True).get(CHECKPOINT_KEY) or {}


def load_module(ckpt_path: str, map_location: str | torch.device = "cpu") -> AdversarialModule:
    """Rebuild the trained model from a checkpoint's stored run config and load its weights.

    Returns the module in eval mode with `g_step` restored.

    Raises:
        FileNotFoundError: if the file does not exist.
        KeyError: if the checkpoint was not written by gan_lightning.train.
    """
    checkpoint = load_checkpoint(ckpt_path)
    state = checkpoint.get(CHECKPOINT_KEY) or {}
    config = state.get("config")
    if config is None:
        raise KeyError(f"{ckpt_path} holds no run config under '{CHECKPOINT_KEY}': not a gan_lightning checkpoint.")
    model = build_model(OmegaConf.create(config))
    model.load_state_dict(checkpoint["state_dict"])
    model.g_step = int(state["g_step"])
    model.run_config = config
    return model.to(map_location).eval()
