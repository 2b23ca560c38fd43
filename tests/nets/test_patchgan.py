"""PatchGAN discriminator (Isola et al. 2017): receptive fields, output maps, layout, errors."""

import pytest
import torch
from torch import nn

from gan_lightning.nets.patchgan import PatchGANDiscriminator, receptive_field_of

RFS = (1, 16, 70, 286)


def convs(d):
    return [m for m in d.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("rf", RFS)
def test_receptive_field_of_each_option(rf):
    d = PatchGANDiscriminator(3, receptive_field=rf, base_width=2)
    assert receptive_field_of(d) == rf == d.receptive_field
    assert receptive_field_of(convs(d)) == rf


def test_receptive_field_of_generic_chains():
    assert receptive_field_of([nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Conv2d(1, 1, 3)]) == 5
    assert receptive_field_of([nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3)]) == 7
    assert receptive_field_of([nn.Conv2d(1, 1, 3, dilation=2), nn.MaxPool2d(2)]) == 6
    assert receptive_field_of(nn.Sequential()) == 1
    with pytest.raises(ValueError, match="transposed"):
        receptive_field_of([nn.ConvTranspose2d(1, 1, 4)])
    with pytest.raises(ValueError, match="square"):
        receptive_field_of([nn.Conv2d(1, 1, (3, 5))])


@pytest.mark.parametrize("rf,size", [(16, 48), (70, 128), (286, 352)])
def test_receptive_field_matches_gradient_support(rf, size):
    # The input pixels that reach one central output unit form an rf x rf square.
    d = PatchGANDiscriminator(1, receptive_field=rf, base_width=2).double().eval()  # eval: BN is per-pixel
    x = torch.randn(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    out = d(x)
    i, j = out.shape[2] // 2, out.shape[3] // 2
    out[0, 0, i, j].backward()
    rows, cols = (x.grad[0, 0] != 0).nonzero().unbind(1)
    assert rows.min() > 0 and cols.min() > 0 and rows.max() < size - 1 and cols.max() < size - 1  # not clipped
    assert (rows.max() - rows.min() + 1).item() == rf
    assert (cols.max() - cols.min() + 1).item() == rf


def test_pixelgan_is_per_pixel():
    d = PatchGANDiscriminator(3, receptive_field=1, base_width=4).eval()
    assert all(m.kernel_size == (1, 1) for m in convs(d))
    assert [m.out_channels for m in convs(d)] == [4, 8, 1]  # C64-C128, then 1 channel
    x = torch.randn(1, 3, 8, 8)
    y = d(x)
    assert y.shape == (1, 1, 8, 8)
    x2 = x.clone()
    x2[..., 3, 5] += 1
    changed = (d(x2) != y)[0, 0].nonzero().tolist()
    assert changed == [[3, 5]]


def test_70x70_on_256_gives_30x30():
    d = PatchGANDiscriminator(6, base_width=4)  # Pix2Pix: x and y concatenated, 3 + 3 channels
    assert d.receptive_field == 70
    assert d(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize("rf,size,out", [(16, 32, 14), (70, 32, 2), (286, 96, 1), (1, 5, 5)])
def test_small_inputs(rf, size, out):
    d = PatchGANDiscriminator(3, receptive_field=rf, base_width=2)
    assert d.min_input_size <= size
    assert d(torch.randn(2, 3, size, size)).shape == (2, 1, out, out)


def test_paper_layout_70():
    d = PatchGANDiscriminator(6)  # paper widths (2.77 M parameters)
    cs = convs(d)
    assert [m.out_channels for m in cs] == [64, 128, 256, 512, 1]  # C64-C128-C256-C512, then 1 channel
    assert [m.stride for m in cs] == [(2, 2)] * 3 + [(1, 1)] * 2
    assert all(m.kernel_size == (4, 4) for m in cs)
    assert sum(p.numel() for p in d.parameters()) == pytest.approx(2.769e6, rel=1e-3)  # reference count
    layers = list(d.net)
    assert isinstance(layers[1], nn.LeakyReLU) and layers[1].negative_slope == 0.2  # no norm on layer 1
    assert sum(isinstance(m, nn.BatchNorm2d) for m in layers) == 3
    assert all(m.negative_slope == 0.2 for m in layers if isinstance(m, nn.LeakyReLU))
    assert not any(isinstance(m, nn.Sigmoid) for m in d.modules())  # logits
    assert cs[0].bias is not None and cs[-1].bias is not None
    assert all(m.bias is None for m in cs[1:-1])


def test_paper_widths_16_and_286():
    with torch.device("meta"):
        d16, d286 = PatchGANDiscriminator(3, 16), PatchGANDiscriminator(3, 286)
    assert [m.out_channels for m in convs(d16)] == [64, 128, 1]
    assert [m.out_channels for m in convs(d286)] == [64, 128, 256, 512, 512, 512, 1]


def test_instance_norm():
    d = PatchGANDiscriminator(3, base_width=4, norm="instance")
    norms = [m for m in d.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 3 and all(not m.affine and not m.track_running_stats for m in norms)
    assert all(m.bias is not None for m in convs(d))
    assert d(torch.randn(1, 3, 32, 32)).shape == (1, 1, 2, 2)


@pytest.mark.parametrize("bad", [0, 2, 34, 64, 140])
def test_bad_receptive_field(bad):
    with pytest.raises(ValueError, match=r"model\.discriminator\.receptive_field") as exc:
        PatchGANDiscriminator(3, receptive_field=bad)
    assert "[1, 16, 70, 286]" in str(exc.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"model\.discriminator\.norm"):
        PatchGANDiscriminator(3, norm="spectral")
    with pytest.raises(ValueError, match=r"model\.discriminator\.in_channels"):
        PatchGANDiscriminator(0)
    d = PatchGANDiscriminator(3, base_width=2)
    with pytest.raises(ValueError, match="x must be"):
        d(torch.randn(1, 6, 64, 64))
    with pytest.raises(ValueError, match=">= 24"):
        d(torch.randn(1, 3, 16, 16))


def test_init_and_finite_grads():
    torch.manual_seed(0)
    d = PatchGANDiscriminator(6)
    big = convs(d)[3]  # Conv2d(256, 512, 4): 2M weights
    assert big.weight.std().item() == pytest.approx(0.02, rel=0.02)
    d = PatchGANDiscriminator(6, base_width=4)
    d(torch.randn(2, 6, 32, 32)).mean().backward()
    for p in d.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
