"""`python -m gan_lightning.sample ckpt_path=... [mode=grid|interpolate|class_grid] output=grid.png`.

Draws samples from a trained checkpoint (the EMA generator when the run had one). `class_grid` needs a
class-conditional model (cGAN): one row per class, `num_per_class` columns.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import torch
from hydra.utils import get_class
from omegaconf import DictConfig
from PIL import Image
from torch import Tensor
from torchvision.utils import make_grid

from gan_lightning import CONFIG_DIR
from gan_lightning.checkpoint import load_module
from gan_lightning.models.base import AdversarialModule
from gan_lightning.utils.images import to_uint8


def interpolate_latents(z0: Tensor, z1: Tensor, steps: int, method: str = "linear") -> Tensor:
    """Points on the path from z0 to z1, both (N, D): returns (N, steps, D), endpoints included.

    `linear` is the straight line used by Radford et al. 2015 (sec. 6.1, fig. 4); `slerp` follows
    the great circle, which keeps Gaussian samples at a typical norm (White 2016).

    Raises:
        ValueError: for steps < 2 or an unknown method.
    """
    if steps < 2:
        raise ValueError(f"steps must be >= 2 to include both endpoints, got {steps}.")
    t = torch.linspace(0, 1, steps, device=z0.device).view(1, steps, 1)
    a, b = z0.unsqueeze(1), z1.unsqueeze(1)
    if method == "linear":
        return a + t * (b - a)
    if method == "slerp":
        cos = torch.nn.functional.cosine_similarity(z0, z1, dim=1).clamp(-1 + 1e-7, 1 - 1e-7)
        omega = torch.acos(cos).view(-1, 1, 1)
        return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
    raise ValueError(f"interpolation must be 'linear' or 'slerp', got {method!r}.")


def class_labels(model: AdversarialModule, num_per_class: int) -> Tensor:
    """Labels (K * num_per_class,) int64 `0, .., 0, 1, .., 1, ..., K-1`: row k of a class grid is class k.

    Raises:
        ValueError: if the model is not class-conditional (no `num_classes`) or num_per_class < 1.
    """
    k = getattr(model, "num_classes", None)
    if k is None:
        raise ValueError(f"mode=class_grid needs a class-conditional checkpoint (e.g. a cGAN); "
                         f"{type(model).__name__} has no num_classes. Use mode=grid.")
    if num_per_class < 1:
        raise ValueError(f"num_per_class must be >= 1, got num_per_class={num_per_class}.")
    return torch.arange(int(k), device=model.device).repeat_interleave(num_per_class)


def class_names(model: AdversarialModule) -> list[str]:
    """Names of the model's classes from its run's dataset (torchvision `classes`), else "0", "1", ..."""
    k = int(getattr(model, "num_classes", 0))
    try:
        target = (model.run_config or {})["data"]["_target_"]
        names = list(get_class(target).dataset_cls.classes)
    except Exception:  # another datamodule, or a config without data: plain indices
        names = []
    return [str(n) for n in names] if len(names) == k else [str(i) for i in range(k)]


@torch.no_grad()
def sample_images(model: AdversarialModule, cfg: DictConfig) -> tuple[Tensor, int]:
    """Images (N, C, H, W) in [-1, 1] for `cfg.mode`, and the number of images per grid row."""
    rng = torch.Generator(model.device).manual_seed(int(cfg.seed))
    if cfg.mode == "grid":
        return model.generate(int(cfg.num_samples), generator=rng), int(cfg.nrow)
    if cfg.mode == "interpolate":
        z0, z1 = model.sample_latent(cfg.num_rows, rng), model.sample_latent(cfg.num_rows, rng)
        z = interpolate_latents(z0, z1, int(cfg.steps), cfg.interpolation).flatten(0, 1)
        condition = model.sample_condition(int(cfg.num_rows), rng)
        if condition is not None:  # one condition per row, held along the walk
            condition = condition.repeat_interleave(int(cfg.steps), dim=0)
        return model.generate_from(z, condition), int(cfg.steps)
    if cfg.mode == "class_grid":
        labels = class_labels(model, int(cfg.num_per_class))
        return model.generate_from(model.sample_latent(labels.shape[0], rng), labels), int(cfg.num_per_class)
    raise ValueError(f"mode must be 'grid', 'interpolate' or 'class_grid', got {cfg.mode!r}.")


def sample(cfg: DictConfig) -> Path:
    """Write the PNG grid for `cfg` and return its path."""
    model = load_module(cfg.ckpt_path, map_location=cfg.device)
    images, nrow = sample_images(model, cfg)
    grid = make_grid(to_uint8(images).cpu(), nrow=nrow, padding=2)
    output = Path(cfg.output).expanduser().resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid.permute(1, 2, 0).numpy()).save(output)
    print(f"wrote {output} ({images.shape[0]} images, generator step {model.g_step})")
    if cfg.mode == "class_grid":
        print("rows: " + ", ".join(f"{i}={name}" for i, name in enumerate(class_names(model))))
    return output


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="sample")
def main(cfg: DictConfig) -> None:
    sample(cfg)


if __name__ == "__main__":
    main()
