"""Checkpoint paths and loading a trained model back from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from gan_lightning.models import build_model
from gan_lightning.models.base import CHECKPOINT_KEY, AdversarialModule


def resolve_ckpt_path(ckpt_path: str | None) -> str | None:
    """Return `ckpt_path` as an absolute path, or None when unset.

    Raises:
        FileNotFoundError: if the path is set but no file exists there (a resume never silently
            becomes a fresh start).
    """
    if ckpt_path in (None, "", "null"):
        return None
    path = Path(str(ckpt_path)).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(
            f"ckpt_path={ckpt_path!r}: no checkpoint at {path}. Pass the path of an existing file, "
            "e.g. outputs/<date>/<time>/checkpoints/last.ckpt, or drop ckpt_path to start a new run."
        )
    return str(path)


def load_checkpoint(ckpt_path: str) -> dict:
    """Load a checkpoint dict with `torch.load(weights_only=True)` onto the CPU."""
    path = resolve_ckpt_path(ckpt_path)
    if path is None:
        raise ValueError("ckpt_path is required: the path of a checkpoint written by gan_lightning.train.")
    return torch.load(path, map_location="cpu", weights_only=True)


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
