"""FCN-score of a labels -> photo translation on the real test pairs (Isola et al. 2017, sec. 4.2), with the same
score of the real photos as its upper bound (see :mod:`gan_lightning.metrics.fcn_score`)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_warn

from gan_lightning.callbacks.evaluation import TestSplitEvaluation
from gan_lightning.metrics.fcn_score import fcn_score, get_label_decoder, load_scorer
from gan_lightning.nets.fcn import FCNSegmenter


class FCNScoreCallback(TestSplitEvaluation):
    """Log ``metrics/fcn_pixel_accuracy``, ``metrics/fcn_class_accuracy`` and ``metrics/fcn_class_iou`` (all in
    [0, 1], higher is better): the segmenter of ``scorer_path`` segments ``pl_module.translate(x)`` for the label
    maps x of the test pairs (``test_set`` items ``{"A": label map, "B": photo}``), scored against the ids that
    ``label_decoder`` reads from x. Also logged, as ``metrics/fcn_*_real``: the same scores of the real photos y,
    the paper's "ground truth" upper bound; computed at the first evaluation and kept in the checkpointed state, so
    a resumed run reuses it (recomputed only if the number of test pairs changes).

    Every process scores all ``max_samples`` evenly spaced pairs (all if None; ``batch_size`` under
    ``trainer.fast_dev_run``), so no cross-process sync is needed. Cadence and mechanics:
    :class:`~gan_lightning.callbacks.evaluation.PeriodicEvaluation`; evaluated before the first step too.

    Args:
        scorer_path: a file written by ``python -m gan_lightning.train_scorer`` with the run's data config.
        label_decoder: a key of :data:`~gan_lightning.metrics.fcn_score.LABEL_DECODERS` (``labels2fashion``,
            ``cityscapes``).
        every_n_g_steps, every_n_epochs, batch_size, max_samples: see
            :class:`~gan_lightning.callbacks.evaluation.TestSplitEvaluation`.

    Raises:
        ValueError: an unknown ``label_decoder`` or bad cadence / sizes; at ``setup``, a segmenter whose classes,
            input channels or label decoder do not match.
        FileNotFoundError: at ``setup`` (before training) when ``scorer_path`` does not exist; the message names
            the command that creates it.
        RuntimeError: at evaluation, a module without ``translate`` or a datamodule without ``test_set``.
    """

    config_key = "metrics.evaluators.fcn_score"

    def __init__(self, scorer_path: str, label_decoder: str = "labels2fashion", every_n_g_steps: int | None = 1000,
                 every_n_epochs: int = 0, batch_size: int = 64, max_samples: int | None = None) -> None:
        super().__init__(every_n_g_steps=every_n_g_steps, every_n_epochs=every_n_epochs, at_train_start=True,
                         batch_size=batch_size, max_samples=max_samples)
        self.decoder = get_label_decoder(label_decoder, key="metrics.evaluators.fcn_score.label_decoder")
        self.scorer_path, self.label_decoder = str(scorer_path), label_decoder
        self._scorer: FCNSegmenter | None = None
        self.real_scores: dict[str, Any] | None = None  # {"num_samples": M, "scores": {"fcn_*_real": float}}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self._scorer is not None:
            return
        scorer = load_scorer(self.scorer_path)  # fail before the first step
        trained_with = scorer.meta.get("label_decoder")
        if scorer.num_classes != self.decoder.num_classes or trained_with not in (None, self.label_decoder):
            raise ValueError(f"metrics.evaluators.fcn_score.scorer_path={self.scorer_path} predicts {scorer.num_classes} "
                             f"classes (label decoder {trained_with!r}), but metrics.evaluators.fcn_score.label_decoder="
                             f"{self.label_decoder} has {self.decoder.num_classes}: train a scorer for this task.")
        dm = getattr(trainer, "datamodule", None)
        channels = getattr(dm, "channels_b", None)
        if channels is not None and channels != scorer.in_channels:
            raise ValueError(f"metrics.evaluators.fcn_score.scorer_path={self.scorer_path} segments {scorer.in_channels}-"
                             f"channel photos, but the generated photos (batch B) have {channels} channels.")
        size, trained_size = getattr(dm, "image_size", None), scorer.meta.get("image_size")
        if size is not None and trained_size is not None and size != trained_size:
            rank_zero_warn(f"FCN-score segmenter {self.scorer_path} was trained at {trained_size} px, the data is "
                           f"{size} px: its scores will be unreliable (python -m gan_lightning.train_scorer "
                           f"data.image_size={size}).")
        self._scorer = scorer

    def compute(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        if self._scorer is None:
            raise RuntimeError("FCNScoreCallback.evaluate() called before setup(stage='fit')")
        if not callable(getattr(pl_module, "translate", None)):
            raise RuntimeError(f"{type(pl_module).__name__} has no translate(x); FCNScoreCallback scores "
                               "labels -> photo models.")
        pairs = self.test_data(trainer.datamodule, self.fast_dev_limit(trainer))
        labels, photos = pairs["A"].split(self.batch_size), pairs["B"].split(self.batch_size)
        device, (decode, k, ignore) = pl_module.device, self.decoder
        scorer = self._scorer.to(device)
        fake = ((pl_module.translate(x.to(device)), decode(x.to(device))) for x in labels)
        values = {f"fcn_{name}": v for name, v in fcn_score(scorer, fake, k, ignore).items()}
        m = len(pairs["A"])
        if self.real_scores is None or self.real_scores["num_samples"] != m:
            real = ((y.to(device), decode(x.to(device))) for x, y in zip(labels, photos))
            scores = {f"fcn_{name}_real": v for name, v in fcn_score(scorer, real, k, ignore).items()}
            self.real_scores = {"num_samples": m, "scores": scores}
        return {**values, **self.real_scores["scores"]}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "real_scores": self.real_scores}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.real_scores = state_dict.get("real_scores")
