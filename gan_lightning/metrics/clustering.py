"""Unsupervised clustering accuracy: accuracy under a cluster -> class mapping read off the labels.

A common score of unsupervised classification (e.g. CatGAN's unsupervised MNIST error, Springenberg
2016): cluster ids are arbitrary, so each cluster is mapped to the class it should stand for.

- ``"hungarian"``: the best one-to-one mapping, by the Hungarian algorithm on the confusion matrix (Kuhn
  1955); two clusters can never claim the same class. The score for K = number of classes.
- ``"majority"``: each cluster takes its most frequent class (many-to-one), the score for K > classes,
  e.g. CatGAN's K = 20 MNIST figure (as reported in Dilokthanakul et al. 2016, Table 1).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def _as_int_array(values, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer ids, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def confusion_matrix(pred, target, num_classes: int) -> np.ndarray:
    """Counts ``C[cluster, class]``, int64 (num_classes, num_classes); arguments as in :func:`clustering_accuracy`."""
    pred, target = _as_int_array(pred, "pred"), _as_int_array(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same length, got {pred.shape[0]} and {target.shape[0]}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    for name, arr in (("pred", pred), ("target", target)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(f"{name} ids must be in [0, {num_classes}), got range [{arr.min()}, {arr.max()}]")
    counts = np.bincount(pred * num_classes + target, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def hungarian_mapping(pred, target, num_classes: int) -> dict[int, int]:
    """The best one-to-one mapping ``{cluster id: class id}`` (maximizes the matched count)."""
    rows, cols = linear_sum_assignment(confusion_matrix(pred, target, num_classes), maximize=True)
    return {int(r): int(c) for r, c in zip(rows, cols)}


MAPPINGS = ("hungarian", "majority")


def majority_mapping(pred, target, num_classes: int) -> dict[int, int]:
    """The many-to-one mapping ``{cluster id: its most frequent class}``, over the clusters that occur."""
    confusion = confusion_matrix(pred, target, num_classes)
    return {int(c): int(confusion[c].argmax()) for c in np.flatnonzero(confusion.sum(1))}


def clustering_accuracy(pred, target, num_classes: int, mapping: str = "hungarian") -> float:
    """Fraction of samples whose cluster maps to their class, in [0, 1].

    Args:
        pred: predicted cluster ids (N,), integers in [0, num_classes) (tensor, array or list).
        target: true class ids (N,), integers in [0, num_classes).
        num_classes: the larger of the number of clusters K and the number of classes.
        mapping: ``"hungarian"`` (one-to-one; with K > classes the unmatched clusters count as errors) or
            ``"majority"`` (many-to-one; every cluster scores its most frequent class).

    Returns:
        hungarian: ``max_perm sum_i [perm(pred_i) == target_i] / N``; majority: ``sum_c max_y C[c, y] / N``.
        1.0 for a perfect clustering with permuted ids.

    Raises:
        ValueError: N == 0, lengths differ, non-integer ids, ids outside [0, num_classes), or an unknown mapping.
    """
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping must be one of {MAPPINGS}, got {mapping!r}")
    confusion = confusion_matrix(pred, target, num_classes)
    total = int(confusion.sum())
    if total == 0:
        raise ValueError("clustering_accuracy needs at least one sample, got N=0")
    if mapping == "majority":
        return float(confusion.max(axis=1).sum()) / total
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    return float(confusion[rows, cols].sum()) / total
