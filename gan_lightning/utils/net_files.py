"""Saving, loading and training the small helper networks the metrics use (the domain classifier, the FCN-score
segmenter): one file format, atomic writes, ``weights_only`` loading that draws no random numbers."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import hydra
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_net(model: nn.Module, path: str | os.PathLike, meta: dict) -> Path:
    """Write ``{"state_dict", "config", "meta"}`` to ``path`` atomically (``path.tmp`` then ``os.replace``).

    ``model.config`` rebuilds the net; ``meta`` must hold plain Python values so that the file loads with
    ``torch.load(..., weights_only=True)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"state_dict": state, "config": dict(model.config), "meta": dict(meta)}, tmp)
    os.replace(tmp, path)  # readers never see a half-written file
    return path


def load_net(net_cls: type[nn.Module], path: str | os.PathLike, what: str, command: str,
             map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a net written by :func:`save_net`, in eval mode with frozen weights, ``meta`` attached as
    ``model.meta``.

    Raises:
        FileNotFoundError: ``path`` does not exist; the message names ``command`` (``... data=<name>``), with the
            exact data and size when the file name is ``<data>_<image_size>.pt``.
    """
    path = Path(path)
    if not path.is_file():
        hint = command
        if m := re.fullmatch(r"(.+)_(\d+)", path.stem):
            hint += f" (here probably: {command.split(' data=')[0]} data={m[1]} data.image_size={m[2]})"
        raise FileNotFoundError(f"{what} not found at {path}. Create it with: {hint}")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    with torch.device("meta"):  # no random init: loading must not consume the global RNG (bit-exact resume)
        model = net_cls(**ckpt["config"])
    model.load_state_dict(ckpt["state_dict"], assign=True)
    model.meta = dict(ckpt.get("meta", {}))
    return model.eval().requires_grad_(False)


def seeded_train_data(cfg: Any) -> tuple[Any, DataLoader]:
    """Seed torch (``cfg.seed``; ``cfg.threads`` CPU threads if set), build ``cfg.data`` ready for fitting, and a
    shuffled, ``drop_last`` train loader of ``cfg.batch_size`` whose order depends on the seed only.

    The loader is the datamodule's ``shuffled_train_loader`` (from memory where ``data.on_device`` resolves to
    true). Returns ``(datamodule, loader)``."""
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    torch.manual_seed(cfg.seed)
    dm = hydra.utils.instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    return dm, dm.shuffled_train_loader(int(cfg.batch_size), torch.Generator().manual_seed(cfg.seed))


def train_steps(model: nn.Module, loader: Iterable[Any], steps: int, loss_fn: Callable[[nn.Module, Any], Tensor],
                optimizer: torch.optim.Optimizer, scheduler: Any, log_every: int = 100) -> float:
    """``steps`` optimizer steps over ``loader`` (cycled), scheduler stepped each time; returns the seconds taken."""
    start, step = time.perf_counter(), 0
    model.train()
    while step < steps:
        for batch in loader:
            loss = loss_fn(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if step % log_every == 0 or step == steps:
                print(f"step {step}/{steps}  loss {loss.item():.4f}  {time.perf_counter() - start:.0f}s", flush=True)
            if step == steps:
                break
    return time.perf_counter() - start
