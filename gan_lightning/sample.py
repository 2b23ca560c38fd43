"""`python -m gan_lightning.sample ckpt_path=... [mode=grid|interpolate|class_grid] output=grid.png`, or for
image-to-image models `python -m gan_lightning.sample ckpt_path=... input_dir=... output_dir=... [direction=BtoA]`.

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
from gan_lightning.data.image_folder import IMAGE_EXTENSIONS
from gan_lightning.data.translation import PairTransform, image_files
from gan_lightning.models.translation import TranslationModule
from gan_lightning.models.z_sampling import ZSamplingModule
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


def class_labels(model: ZSamplingModule, num_per_class: int) -> Tensor:
    """Labels (K * num_per_class,) int64 `0, .., 0, 1, .., 1, ..., K-1`: row k of a class grid is class k.

    Raises:
        ValueError: if the model is not class-conditional (``class_conditional`` False: its G ignores labels, even
            when the model has ``num_classes`` like SGAN and CatGAN) or num_per_class < 1.
    """
    if not getattr(model, "class_conditional", False):
        raise ValueError(f"mode=class_grid needs a class-conditional checkpoint (e.g. a cGAN); "
                         f"{type(model).__name__}'s generator takes no class label. Use mode=grid.")
    k = model.num_classes
    if num_per_class < 1:
        raise ValueError(f"num_per_class must be >= 1, got num_per_class={num_per_class}.")
    return torch.arange(int(k), device=model.device).repeat_interleave(num_per_class)


def class_names(model: ZSamplingModule) -> list[str]:
    """Names of the model's classes from its run's dataset (torchvision `classes`), else "0", "1", ..."""
    k = int(getattr(model, "num_classes", 0))
    try:
        target = (model.run_config or {})["data"]["_target_"]
        names = list(get_class(target).dataset_cls.classes)
    except Exception:  # another datamodule, or a config without data: plain indices
        names = []
    return [str(n) for n in names] if len(names) == k else [str(i) for i in range(k)]


@torch.no_grad()
def sample_images(model: ZSamplingModule, cfg: DictConfig) -> tuple[Tensor, int]:
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


def translate_folder(model: TranslationModule, input_dir: str, output_dir: str, direction: str = "AtoB",
                     batch_size: int = 64) -> list[Path]:
    """Translate every image of ``input_dir`` (png / jpg / bmp / webp) with the model's test-time generator and
    write ``output_dir/<name>.png`` for each; returns the written paths.

    Inputs are prepared as the run's test split was: converted to the input domain's channels, resized to the
    run's ``data.image_size`` (nearest-neighbour for label maps), mapped to [-1, 1].

    Raises:
        FileNotFoundError: ``input_dir`` is missing or holds no images.
        ValueError: an unknown ``direction`` (Pix2Pix translates AtoB only).
    """
    data = (model.run_config or {}).get("data", {})
    source = Path(input_dir).expanduser().resolve()
    files = image_files(source) if source.is_dir() else []
    if not files:
        raise FileNotFoundError(f"input_dir={source} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
                                "point input_dir at a folder of input-domain images.")
    channels = int(data.get("channels_a" if direction == "AtoB" else "channels_b", 3))
    # a_is_label_map describes the stored A domain; data.direction may have put it under the key "B"
    label_map = bool(data.get("a_is_label_map")) and (data.get("direction", "AtoB") == "AtoB") == (direction == "AtoB")
    size = int(data.get("image_size", 256))
    prepare = PairTransform(size, size, jitter=False, flip=False)
    out = Path(output_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        x = torch.stack([prepare(Image.open(f), "L" if channels == 1 else "RGB", label_map, None) for f in chunk])
        pixels = to_uint8(model.translate(x.to(model.device), direction)).cpu()
        for f, img in zip(chunk, pixels):
            written.append(out / f"{f.stem}.png")
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(written[-1])
    return written


def sample(cfg: DictConfig) -> Path:
    """Write the PNG grid for `cfg` (or, with `input_dir`, the translated folder) and return its path."""
    model = load_module(cfg.ckpt_path, map_location=cfg.device)
    if cfg.get("input_dir"):
        if not isinstance(model, TranslationModule):
            raise ValueError(f"input_dir is for image-to-image checkpoints (Pix2Pix, CycleGAN); {type(model).__name__} "
                             "samples from z: drop input_dir and use mode=grid.")
        if not cfg.get("output_dir"):
            raise ValueError("input_dir needs output_dir=<folder> for the translated images.")
        written = translate_folder(model, cfg.input_dir, cfg.output_dir, cfg.direction, int(cfg.batch_size))
        print(f"wrote {len(written)} translated images ({cfg.direction}) to {written[0].parent} "
              f"(generator step {model.g_step})")
        return written[0].parent
    if not isinstance(model, ZSamplingModule):
        raise ValueError(f"mode={cfg.mode} draws from z, which {type(model).__name__} does not take (it translates "
                         "images): pass input_dir=<folder> output_dir=<folder> to translate a folder.")
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
