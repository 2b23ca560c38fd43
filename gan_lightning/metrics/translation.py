"""Evaluators of image-to-image models on the real test pairs: L1 / PSNR / SSIM (Pix2Pix), translation success
(CycleGAN sneaker -> boot) and the FCN-score (Isola et al. 2017, sec. 4.2)."""

from __future__ import annotations

from typing import Any

from pytorch_lightning.utilities import rank_zero_warn
from torch import nn
from torchmetrics import MeanAbsoluteError
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from gan_lightning.metrics.domain import DomainFeatureExtractor, load_domain_classifier
from gan_lightning.metrics.evaluator import EvalContext, SplitEvaluator
from gan_lightning.metrics.fcn_score import fcn_score, get_label_decoder, load_scorer
from gan_lightning.nets.fcn import FCNSegmenter


def _translator(module: nn.Module, evaluator: SplitEvaluator) -> None:
    if not callable(getattr(module, "translate", None)):
        raise RuntimeError(f"{type(module).__name__} has no translate(x); {type(evaluator).__name__} scores "
                           "image-to-image models.")


class PairedEvaluator(SplitEvaluator):
    """``l1`` (mean absolute error in [-1, 1] units), ``psnr`` (dB) and ``ssim`` (in [-1, 1], 1 = identical) of
    ``module.translate(x)`` against y over the datamodule's ``test_set`` (items ``{"A": x, "B": y}``), all through
    torchmetrics. L1 is ``MeanAbsoluteError`` over every pixel of the split: mean |G(x) - y| on images in [-1, 1]
    (G(x) clamped to [-1, 1]), so in [0, 2]. PSNR and SSIM are computed on images mapped to [0, 1]
    (``data_range=1``; SSIM with an 11x11 Gaussian window, sigma 1.5, Wang et al. 2004); PSNR is that of the
    whole split's mean squared error.

    The translation is the model's test-time one (Pix2Pix keeps its dropout noise unless configured off), so the
    values carry that noise. Test items: :class:`~gan_lightning.metrics.evaluator.SplitEvaluator`.

    Raises:
        ValueError: ``batch_size < 1`` or ``max_samples < 1``.
        RuntimeError: at evaluation, a module without ``translate`` or a datamodule without ``test_set``.
    """

    config_key = "metrics.evaluators.paired"

    def __init__(self, batch_size: int = 64, max_samples: int | None = None) -> None:
        super().__init__(batch_size=batch_size, max_samples=max_samples)

    def compute(self, module: nn.Module) -> dict[str, Any]:
        _translator(module, self)
        pairs = self.test_data()
        device = module.device
        psnr = PeakSignalNoiseRatio(data_range=1.0).to(device)
        ssim = StructuralSimilarityIndexMeasure(data_range=1.0).to(device)
        l1 = MeanAbsoluteError().to(device)  # flattens: the mean over every pixel of the split
        for x, y in zip(pairs["A"].split(self.batch_size), pairs["B"].split(self.batch_size)):
            x, y = x.to(device), y.to(device)
            fake = module.translate(x).float().clamp(-1, 1)
            l1.update(fake, y)
            fake01, y01 = (fake + 1) / 2, (y + 1) / 2
            psnr.update(fake01, y01)
            ssim.update(fake01, y01)
        return {"l1": float(l1.compute()), "psnr": float(psnr.compute()), "ssim": float(ssim.compute())}


class TranslationSuccessEvaluator(SplitEvaluator):
    """``translation_success``: the fraction in [0, 1] of ``module.translate(x)`` over the test split's inputs x
    (``test_set`` items ``{"A": x, ...}``) that the domain classifier predicts as ``target_class`` (cf. Zhu 2017,
    sec. 5.1.1's FCN-based scores). The classifier gets images in [0, 1] with its own preprocessing (channel
    matching, antialiased resize).

    Args:
        classifier_path: a file written by ``python -m gan_lightning.train_classifier`` on the data the target
            domain comes from (Fashion-MNIST for sneaker2boot).
        target_class: the class index of the target domain (9, ankle boot, for sneaker2boot AtoB).
        batch_size, max_samples: see :class:`~gan_lightning.metrics.evaluator.SplitEvaluator`.

    Raises:
        ValueError: a negative ``target_class`` or one the classifier does not have (at ``setup``).
        FileNotFoundError: at ``setup`` (before training) when ``classifier_path`` does not exist.
    """

    config_key = "metrics.evaluators.translation_success"

    def __init__(self, classifier_path: str, target_class: int, batch_size: int = 250,
                 max_samples: int | None = None) -> None:
        super().__init__(batch_size=batch_size, max_samples=max_samples)
        if not isinstance(target_class, int) or target_class < 0:
            raise ValueError(f"{self.config_key}.target_class must be a class index >= 0, got {target_class!r}.")
        self.classifier_path, self.target_class = str(classifier_path), target_class
        self._classify: DomainFeatureExtractor | None = None

    def setup(self, module: nn.Module, datamodule: Any, context: EvalContext = EvalContext()) -> None:
        super().setup(module, datamodule, context)
        if self._classify is not None:
            return
        classifier = load_domain_classifier(self.classifier_path)  # fail before the first step
        if self.target_class >= classifier.num_classes:
            raise ValueError(f"{self.config_key}.target_class={self.target_class} but "
                             f"{self.classifier_path} has {classifier.num_classes} classes.")
        self._classify = DomainFeatureExtractor(classifier, "logits")

    def compute(self, module: nn.Module) -> dict[str, Any]:
        if self._classify is None:
            raise RuntimeError(f"{type(self).__name__}.compute() called before setup()")
        classify = self._classify.to(module.device)
        inputs = self.test_data()["A"]
        hits = 0
        for x in inputs.split(self.batch_size):
            fake = module.translate(x.to(module.device)).float().clamp(-1, 1)
            hits += int((classify((fake + 1) / 2).argmax(1) == self.target_class).sum())
        return {"translation_success": hits / len(inputs)}


class FCNScoreEvaluator(SplitEvaluator):
    """``fcn_pixel_accuracy``, ``fcn_class_accuracy`` and ``fcn_class_iou`` (all in [0, 1], higher is better):
    the segmenter of ``scorer_path`` segments ``module.translate(x)`` for the label maps x of the test pairs
    (``test_set`` items ``{"A": label map, "B": photo}``), scored against the ids that ``label_decoder`` reads from
    x (:mod:`gan_lightning.metrics.fcn_score`). Also returned, as ``fcn_*_real``: the same scores of the real photos
    y, the paper's "ground truth" upper bound; computed at the first evaluation and kept in :meth:`state_dict`, so a
    resumed run reuses it (recomputed only if the number of test pairs changes).

    Every process scores all ``max_samples`` evenly spaced pairs, so no cross-process sync is needed.

    Args:
        scorer_path: a file written by ``python -m gan_lightning.train_scorer`` with the run's data config.
        label_decoder: a key of :data:`~gan_lightning.metrics.fcn_score.LABEL_DECODERS` (``labels2fashion``,
            ``cityscapes``).
        batch_size, max_samples: see :class:`~gan_lightning.metrics.evaluator.SplitEvaluator`.

    Raises:
        ValueError: an unknown ``label_decoder`` or bad sizes; at ``setup``, a segmenter whose classes, input
            channels or label decoder do not match.
        FileNotFoundError: at ``setup`` (before training) when ``scorer_path`` does not exist; the message names
            the command that creates it.
        RuntimeError: at evaluation, a module without ``translate`` or a datamodule without ``test_set``.
    """

    config_key = "metrics.evaluators.fcn_score"

    def __init__(self, scorer_path: str, label_decoder: str = "labels2fashion", batch_size: int = 64,
                 max_samples: int | None = None) -> None:
        super().__init__(batch_size=batch_size, max_samples=max_samples)
        self.decoder = get_label_decoder(label_decoder, key=f"{self.config_key}.label_decoder")
        self.scorer_path, self.label_decoder = str(scorer_path), label_decoder
        self._scorer: FCNSegmenter | None = None
        self.real_scores: dict[str, Any] | None = None  # {"num_samples": M, "scores": {"fcn_*_real": float}}

    def setup(self, module: nn.Module, datamodule: Any, context: EvalContext = EvalContext()) -> None:
        super().setup(module, datamodule, context)
        if self._scorer is not None:
            return
        scorer = load_scorer(self.scorer_path)  # fail before the first step
        trained_with, key = scorer.meta.get("label_decoder"), self.config_key
        if scorer.num_classes != self.decoder.num_classes or trained_with not in (None, self.label_decoder):
            raise ValueError(f"{key}.scorer_path={self.scorer_path} predicts {scorer.num_classes} classes (label "
                             f"decoder {trained_with!r}), but {key}.label_decoder={self.label_decoder} has "
                             f"{self.decoder.num_classes}: train a scorer for this task.")
        channels = getattr(datamodule, "channels_b", None)
        if channels is not None and channels != scorer.in_channels:
            raise ValueError(f"{key}.scorer_path={self.scorer_path} segments {scorer.in_channels}-channel photos, "
                             f"but the generated photos (batch B) have {channels} channels.")
        size, trained_size = getattr(datamodule, "image_size", None), scorer.meta.get("image_size")
        if size is not None and trained_size is not None and size != trained_size:
            rank_zero_warn(f"FCN-score segmenter {self.scorer_path} was trained at {trained_size} px, the data is "
                           f"{size} px: its scores will be unreliable (python -m gan_lightning.train_scorer "
                           f"data.image_size={size}).")
        self._scorer = scorer

    def compute(self, module: nn.Module) -> dict[str, Any]:
        if self._scorer is None:
            raise RuntimeError(f"{type(self).__name__}.compute() called before setup()")
        _translator(module, self)
        pairs = self.test_data()
        labels, photos = pairs["A"].split(self.batch_size), pairs["B"].split(self.batch_size)
        device, (decode, k, ignore) = module.device, self.decoder
        scorer = self._scorer.to(device)
        fake = ((module.translate(x.to(device)), decode(x.to(device))) for x in labels)
        values = {f"fcn_{name}": v for name, v in fcn_score(scorer, fake, k, ignore).items()}
        m = len(pairs["A"])
        if self.real_scores is None or self.real_scores["num_samples"] != m:
            real = ((y.to(device), decode(x.to(device))) for x, y in zip(labels, photos))
            scores = {f"fcn_{name}_real": v for name, v in fcn_score(scorer, real, k, ignore).items()}
            self.real_scores = {"num_samples": m, "scores": scores}
        return {**values, **self.real_scores["scores"]}

    def state_dict(self) -> dict[str, Any]:
        return {"real_scores": self.real_scores}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.real_scores = state_dict.get("real_scores")
