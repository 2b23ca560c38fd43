"""FCN-score measures (Isola 2017, sec. 4.2) on hand-computed confusion matrices, the label decoders and the
segmenter file."""

from __future__ import annotations

import pytest
import torch

from gan_lightning.data.fashion_tasks import encode_label_map
from gan_lightning.metrics.fcn_score import (
    CITYSCAPES_PALETTE,
    LABEL_DECODERS,
    FCNScore,
    decode_cityscapes,
    get_label_decoder,
    load_scorer,
    save_scorer,
    segmentation_scores,
)
from gan_lightning.nets.fcn import FCNSegmenter

# rows = true, cols = predicted; class 2 appears nowhere, class 3 only as a (wrong) prediction
CONFUSION = torch.tensor([[6, 1, 0, 1],
                          [2, 2, 0, 0],
                          [0, 0, 0, 0],
                          [0, 0, 0, 0]])


def test_scores_of_a_hand_computed_confusion():
    s = segmentation_scores(CONFUSION)
    assert s["pixel_accuracy"] == pytest.approx(8 / 12)
    assert s["class_accuracy"] == pytest.approx((6 / 8 + 2 / 4) / 2)  # classes with true pixels: 0, 1
    # IoU over classes in truth or prediction (0, 1, 3): 6 / (8 + 8 - 6), 2 / (4 + 3 - 2), 0 / (0 + 1 - 0)
    assert s["class_iou"] == pytest.approx((6 / 10 + 2 / 5 + 0) / 3)
    assert segmentation_scores(torch.eye(3, dtype=torch.int64) * 5) == {
        "pixel_accuracy": 1.0, "class_accuracy": 1.0, "class_iou": 1.0}
    with pytest.raises(ValueError, match="no pixels"):
        segmentation_scores(torch.zeros(3, 3, dtype=torch.int64))


def ids_of(confusion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pred, true) id vectors whose confusion matrix is ``confusion``."""
    k = confusion.shape[0]
    true = torch.arange(k).repeat_interleave(k)
    pred = torch.arange(k).repeat(k)
    counts = confusion.flatten()
    return pred.repeat_interleave(counts), true.repeat_interleave(counts)


def test_metric_counts_pixels_and_skips_ignore_index():
    pred, true = ids_of(CONFUSION)  # 12 pixels
    metric = FCNScore(4, ignore_index=255)
    # as a (1, 4, 5) image with 8 ignored pixels, whatever was predicted there
    metric.update(torch.cat([pred, torch.tensor([0, 1, 2, 3] * 2)]).view(1, 4, 5),
                  torch.cat([true, torch.full((8,), 255)]).view(1, 4, 5))
    assert torch.equal(metric.confusion, CONFUSION)
    assert metric.compute() == segmentation_scores(CONFUSION)
    metric.reset()
    assert int(metric.confusion.sum()) == 0
    with pytest.raises(ValueError, match=r"true_ids must lie in 0..3 or be 255, got 0..4"):
        FCNScore(4, ignore_index=255).update(torch.zeros(3, dtype=torch.int64), torch.tensor([0, 4, 255]))
    with pytest.raises(ValueError, match="pred_ids must lie in 0..3"):
        FCNScore(4).update(torch.tensor([0, 9]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="differ in shape"):
        FCNScore(4).update(torch.zeros(2, 3), torch.zeros(3, 2))


def test_batches_accumulate_to_the_one_big_batch():
    g = torch.Generator().manual_seed(0)
    pred, true = torch.randint(0, 5, (2, 6, 8, 8), generator=g)
    true[true == 4] = 255  # some ignored pixels
    whole, parts = FCNScore(4, 255), FCNScore(4, 255)
    whole.update(pred.where(pred < 4, 0), true)
    for p, t in zip(pred.where(pred < 4, 0).split(2), true.split(2)):
        parts.update(p, t)
    assert torch.equal(whole.confusion, parts.confusion) and whole.compute() == parts.compute()
    assert int(whole.confusion.sum()) == int((true != 255).sum())


def to_image(rgb: list[tuple[int, int, int]]) -> torch.Tensor:
    """A (1, 3, 1, len) image in [-1, 1] holding the given colours."""
    return torch.tensor(rgb, dtype=torch.float32).T[None, :, None, :] / 127.5 - 1


def test_cityscapes_decoder():
    ids = decode_cityscapes(to_image([(128, 64, 128), (0, 0, 142), (119, 11, 32), (0, 60, 100), (0, 80, 100)]))
    assert ids.tolist() == [[[0, 13, 18, 15, 16]]] and ids.dtype == torch.int64
    palette = to_image([tuple(c) for c in CITYSCAPES_PALETTE.tolist()])
    assert decode_cityscapes(palette).flatten().tolist() == list(range(19))
    # void, parking, caravan (unevaluated) -> ignore; slight JPEG-like noise on a palette colour still decodes
    odd = to_image([(0, 0, 0), (250, 170, 160), (0, 0, 90), (131, 62, 129)])
    assert decode_cityscapes(odd).tolist() == [[[255, 255, 255, 0]]]
    assert decode_cityscapes(to_image([(70, 130, 180)])[0]).shape == (1, 1)  # (3, H, W) -> (H, W)
    with pytest.raises(ValueError, match="colour label maps"):
        decode_cityscapes(torch.zeros(1, 1, 4, 4))


def test_label_decoder_registry():
    decode, k, ignore = LABEL_DECODERS["labels2fashion"]
    ids = torch.arange(11).view(1, 1, 11)
    assert (k, ignore) == (11, None) and torch.equal(decode(encode_label_map(ids)), ids)
    assert tuple(LABEL_DECODERS["cityscapes"])[1:] == (19, 255)
    with pytest.raises(ValueError, match="callbacks.x.label_decoder='facades' .* labels2fashion, cityscapes"):
        get_label_decoder("facades", key="callbacks.x.label_decoder")


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = FCNSegmenter(in_channels=1, num_classes=11, width=4).eval()
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    meta = {"dataset": "labels2fashion", "image_size": 16, "label_decoder": "labels2fashion",
            "real_scores": {"pixel_accuracy": 0.9}, "steps": 3}
    path = save_scorer(model, tmp_path / "scorers" / "labels2fashion_16.pt", meta)
    assert sorted(p.name for p in path.parent.iterdir()) == ["labels2fashion_16.pt"]  # no temp file left
    assert torch.load(path, weights_only=True)["meta"] == meta
    rng = torch.get_rng_state()
    loaded = load_scorer(path)
    assert torch.equal(torch.get_rng_state(), rng)  # loading draws nothing (bit-exact resume)
    assert loaded.meta == meta and not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    assert torch.equal(loaded(x), model(x))


def test_missing_scorer_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"python -m gan_lightning.train_scorer data=labels2fashion") as err:
        load_scorer(tmp_path / "labels2fashion_64.pt")
    assert "data=labels2fashion data.image_size=64" in str(err.value)
