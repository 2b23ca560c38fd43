"""FCNSegmenter (the FCN-score's segmenter, after Long et al. 2015): shapes, sizes, receptive field, errors."""

import pytest
import torch
import torch.nn.functional as F

from gan_lightning.nets.fcn import FCNSegmenter


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("channels,classes", [(1, 11), (3, 19)])
def test_logits_have_the_input_size(size, channels, classes):
    net = FCNSegmenter(in_channels=channels, num_classes=classes, width=4)
    assert net(torch.rand(2, channels, size, size) * 2 - 1).shape == (2, classes, size, size)
    assert net(torch.zeros(1, channels, size, 2 * size)).shape == (1, classes, size, 2 * size)  # any H, W % 4 == 0


def test_config_rebuilds_the_same_net():
    net = FCNSegmenter(in_channels=3, num_classes=5, width=8)
    assert net.config == {"in_channels": 3, "num_classes": 5, "width": 8}
    rebuilt = FCNSegmenter(**net.config)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in net.state_dict().items()}


def test_upsampling_starts_bilinear():
    net = FCNSegmenter(width=2)
    coarse = torch.rand(1, 11, 4, 4)
    expected = F.interpolate(coarse, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(net.up3(coarse)[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], atol=1e-6)  # borders: zero pad


def test_receptive_field_spans_a_32px_image():
    net = FCNSegmenter(width=4).eval()
    x = torch.zeros(1, 1, 32, 32)
    y = x.clone()
    y[..., 0, 0] = 1
    with torch.no_grad():
        assert not torch.equal(net(x)[..., 31, 31], net(y)[..., 31, 31])  # the far corner sees the change


def test_learns_a_tiny_segmentation():
    torch.manual_seed(0)
    ids = torch.zeros(8, 16, 16, dtype=torch.int64)
    for i in range(8):
        ids[i, 2 + i % 4: 10 + i % 4, 4:12] = 1 + i % 2
    photos = (ids.float() - 1)[:, None]  # brightness -1 / 0 / 1 by class
    net = FCNSegmenter(in_channels=1, num_classes=3, width=4)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(40):
        loss = F.cross_entropy(net(photos), ids)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert (net.eval()(photos).argmax(1) == ids).float().mean() > 0.95


def test_errors():
    with pytest.raises(ValueError, match="divisible by 4"):
        FCNSegmenter(width=2)(torch.zeros(1, 1, 30, 32))
    with pytest.raises(ValueError, match=r"expects images \(N, 1, H, W\)"):
        FCNSegmenter(width=2)(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        FCNSegmenter(width=0)
