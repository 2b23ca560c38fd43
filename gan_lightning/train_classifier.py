"""Train the domain classifier behind the offline domain FID / IS.

    python -m gan_lightning.train_classifier data=mnist            # -> <classifier_dir>/mnist_28.pt
    python -m gan_lightning.train_classifier data=fashion_mnist

A plain PyTorch loop (AdamW + one-cycle LR) over the datamodule's train split, then accuracy on its test split.
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
from gan_lightning.metrics.domain import save_classifier
from gan_lightning.nets.classifier import DomainClassifier
from gan_lightning.utils.net_files import seeded_train_data, train_steps

# Test accuracy a classifier should reach to be a meaningful feature space; below it we still save, with a warning.
TARGET_ACCURACY = {"mnist": 0.99, "fashion_mnist": 0.90}


@torch.no_grad()
def evaluate_accuracy(model: torch.nn.Module, loader: DataLoader) -> float:
    """Top-1 accuracy of ``model`` over ``(images, labels)`` batches."""
    model.eval()
    correct = total = 0
    for x, y in loader:
        correct += int((model(x).argmax(1) == y).sum())
        total += len(y)
    return correct / total


def train_classifier(cfg: DictConfig) -> dict[str, Any]:
    """Train, evaluate and save; returns ``{"path", "test_accuracy", "steps", "seconds"}``."""
    dm, loader = seeded_train_data(cfg)
    model = DomainClassifier(channels=dm.channels, num_classes=dm.num_classes, image_size=dm.image_size, **cfg.classifier)
    workers = int(cfg.data.num_workers)
    test_loader = DataLoader(dm.test_set, batch_size=500, num_workers=workers)
    steps = cfg.epochs * len(loader) if cfg.max_steps is None else min(int(cfg.max_steps), cfg.epochs * len(loader))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)

    seconds = train_steps(model, loader, steps, lambda m, b: F.cross_entropy(m(b[0]), b[1]), opt, sched)
    step = steps
    accuracy = evaluate_accuracy(model, test_loader)

    dataset = str(cfg.dataset)
    meta = dict(dataset=dataset, image_size=int(dm.image_size), test_accuracy=accuracy, epochs=int(cfg.epochs),
                steps=step, seed=int(cfg.seed), train_seconds=round(seconds, 1))
    path = save_classifier(model, cfg.output, meta)
    print(f"{dataset}: test accuracy {accuracy:.4f} after {step} steps ({seconds:.0f}s); saved {path}")
    target = TARGET_ACCURACY.get(dataset)
    if target is not None and accuracy < target:
        warnings.warn(f"{dataset} classifier test accuracy {accuracy:.4f} < target {target}: domain FID/IS will be less "
                      "reliable (train longer: epochs=...)", stacklevel=1)
    return {"path": str(path), "test_accuracy": accuracy, "steps": step, "seconds": seconds}


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train_classifier")
def main(cfg: DictConfig) -> None:
    train_classifier(cfg)


if __name__ == "__main__":
    main()
