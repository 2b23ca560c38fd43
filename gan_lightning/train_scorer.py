"""Train the segmenter behind the FCN-score (Isola et al. 2017, sec. 4.2).

    python -m gan_lightning.train_scorer data=labels2fashion            # -> <cache_dir>/scorers/labels2fashion_32.pt
    python -m gan_lightning.train_scorer data=labels2fashion data.image_size=64
    python -m gan_lightning.train_scorer data=aligned data.data_dir=/abs/cityscapes data.direction=BtoA \\
        label_decoder=cityscapes data.image_size=256                    # pix2pix's cityscapes (B = label maps)

Use the data config of the labels -> photo run being scored: after ``direction``, batch "A" holds the label maps
and batch "B" the real photos. A plain PyTorch loop (Adam, cosine-decayed learning rate, per-pixel cross-entropy)
teaches an :class:`~gan_lightning.nets.fcn.FCNSegmenter` to predict the ids decoded from A out of the photo B,
over the train split; the scores on the real test photos (the paper's "ground truth" row) go into the file's meta.
"""

from __future__ import annotations

import warnings
from typing import Any

import hydra
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from gan_lightning import CONFIG_DIR
from gan_lightning.metrics.fcn_score import fcn_score, get_label_decoder, save_scorer
from gan_lightning.nets.fcn import FCNSegmenter
from gan_lightning.utils.net_files import seeded_train_data, train_steps

# Per-pixel accuracy on the real test photos below which the score is a weak judge; we still save, with a warning.
TARGET_PIXEL_ACCURACY = {"labels2fashion": 0.9}


def train_scorer(cfg: DictConfig) -> dict[str, Any]:
    """Train, evaluate on the real test photos and save to ``cfg.output``.

    Returns:
        ``{"path", "pixel_accuracy", "class_accuracy", "class_iou", "steps", "seconds"}``, the scores being those
        of the real test photos.

    Raises:
        ValueError: an unknown ``label_decoder`` or ``max_steps < 1``.
        DataNotFoundError: the data is missing (from the datamodule).
    """
    decoder = get_label_decoder(str(cfg.label_decoder))
    if int(cfg.max_steps) < 1:
        raise ValueError(f"max_steps must be >= 1, got {cfg.max_steps}")
    dm, loader = seeded_train_data(cfg)
    model = FCNSegmenter(in_channels=int(dm.channels_b), num_classes=decoder.num_classes, width=int(cfg.width))
    workers = int(cfg.data.num_workers)
    steps = int(cfg.max_steps)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    ignore = -100 if decoder.ignore_index is None else decoder.ignore_index  # cross_entropy's "none"

    seconds = train_steps(
        model, loader, steps, lambda m, b: F.cross_entropy(m(b["B"]), decoder.decode(b["A"]), ignore_index=ignore),
        opt, sched, log_every=50)
    step = steps

    model.eval()
    test_loader = DataLoader(dm.test_set, batch_size=250, num_workers=workers)
    scores = fcn_score(model, ((b["B"], decoder.decode(b["A"])) for b in test_loader), decoder.num_classes,
                       decoder.ignore_index)
    dataset = str(cfg.dataset)
    meta = dict(dataset=dataset, image_size=int(dm.image_size), label_decoder=str(cfg.label_decoder),
                real_scores=scores, steps=step, seed=int(cfg.seed), train_seconds=round(seconds, 1))
    path = save_scorer(model, cfg.output, meta)
    print(f"{dataset}: real test photos pixel acc {scores['pixel_accuracy']:.4f}, class acc "
          f"{scores['class_accuracy']:.4f}, class IoU {scores['class_iou']:.4f} after {step} steps ({seconds:.0f}s); "
          f"saved {path}")
    target = TARGET_PIXEL_ACCURACY.get(dataset)
    if target is not None and scores["pixel_accuracy"] < target:
        warnings.warn(f"{dataset} segmenter per-pixel accuracy {scores['pixel_accuracy']:.4f} < target {target} on "
                      "the real test photos: the FCN-score will be a weak judge (train longer: max_steps=...)",
                      stacklevel=1)
    return {"path": str(path), **scores, "steps": step, "seconds": seconds}


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train_scorer")
def main(cfg: DictConfig) -> None:
    train_scorer(cfg)


if __name__ == "__main__":
    main()
