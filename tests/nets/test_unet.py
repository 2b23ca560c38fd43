"""Pix2Pix U-Net generator (Isola et al. 2017): depth per size, widths, skips, dropout as noise, errors."""

import pytest
import torch
from torch import nn

from gan_lightning.nets.unet import UNetGenerator


def stride2_convs(g):
    return [m for m in g.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]


@pytest.mark.parametrize("norm", ["batch", "instance"])
@pytest.mark.parametrize("size,cin,cout", [(32, 3, 3), (64, 1, 3)])
def test_shapes_and_range(size, cin, cout, norm):
    g = UNetGenerator(cin, cout, size, base_width=8, norm=norm)
    assert (g.in_channels, g.out_channels, g.image_size) == (cin, cout, size)
    y = g(torch.randn(2, cin, size, size) * 10)
    assert y.shape == (2, cout, size, size)
    assert y.min() >= -1 and y.max() <= 1
    assert isinstance(g.out[-1], nn.Tanh)


@pytest.mark.parametrize("size,depth", [(16, 4), (32, 5), (64, 6), (128, 7), (256, 8)])
def test_depth_follows_image_size_and_bottleneck_is_1x1(size, depth):
    g = UNetGenerator(3, 3, size, base_width=1)
    assert g.num_downs == depth
    assert len(stride2_convs(g)) == depth
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in g.modules()) == depth
    seen = []
    g.down[-1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    g.eval()
    assert g(torch.randn(1, 3, size, size)).shape == (1, 3, size, size)
    assert seen == [(1, 8, 1, 1)]  # 1 * min(2**(depth-1), 8) channels


def test_paper_widths_at_256():
    with torch.device("meta"):  # paper scale without allocating 54M weights
        g = UNetGenerator(3, 3, 256)
    enc = [m.out_channels for m in stride2_convs(g)]
    assert enc == [64, 128, 256, 512, 512, 512, 512, 512]  # C64-C128-C256-C512-C512-C512-C512-C512
    dec = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in dec] == [512, 512, 512, 512, 256, 128, 64, 3]
    # Appendix 6.1.1, U-Net decoder input widths: CD512-CD1024-CD1024-C1024-C1024-C512-C256-C128.
    assert [m.in_channels for m in dec] == [512, 1024, 1024, 1024, 1024, 512, 256, 128]
    # The reference implementation's unet_256 has 54.414 M parameters.
    assert sum(p.numel() for p in g.parameters()) == pytest.approx(54.414e6, rel=1e-4)
    with torch.device("meta"):
        ed = UNetGenerator(3, 3, 256, skip_connections=False)
    dec = [m for m in ed.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.in_channels for m in dec] == [512, 512, 512, 512, 512, 256, 128, 64]


def test_layer_layout_batch_norm():
    g = UNetGenerator(3, 3, 64, base_width=8)
    first, bottleneck = g.down[0], g.down[-1]
    # No activation / norm around the first conv, no norm on the 1x1 bottleneck; both keep a bias.
    assert len(first) == 1 and isinstance(first[0], nn.Conv2d) and first[0].bias is not None
    assert not any(isinstance(m, nn.BatchNorm2d) for m in bottleneck) and bottleneck[-1].bias is not None
    for block in g.down[1:]:
        assert isinstance(block[0], nn.LeakyReLU) and block[0].negative_slope == 0.2
    for block in g.down[1:-1]:
        assert isinstance(block[2], nn.BatchNorm2d) and block[1].bias is None
    for block in g.up:
        assert isinstance(block[0], nn.ReLU) and not isinstance(block[0], nn.LeakyReLU)
        assert isinstance(block[2], nn.BatchNorm2d) and block[1].bias is None
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 4 + 5
    assert not any(isinstance(m, nn.InstanceNorm2d) for m in g.modules())


def test_layer_layout_instance_norm():
    g = UNetGenerator(3, 3, 64, base_width=8, norm="instance")
    norms = [m for m in g.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 4 + 5 and not any(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    assert all(not m.affine and not m.track_running_stats for m in norms)
    assert all(m.bias is not None for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))


@pytest.mark.parametrize("size", [32, 256])
def test_dropout_in_first_three_decoder_blocks(size):
    g = UNetGenerator(3, 3, size, base_width=1)
    has_dropout = [any(isinstance(m, nn.Dropout) for m in block) for block in g.up]
    assert has_dropout == [True] * 3 + [False] * (g.num_downs - 4)
    assert all(m.p == 0.5 for m in g.modules() if isinstance(m, nn.Dropout))
    assert not any(isinstance(m, nn.Dropout) for m in UNetGenerator(3, 3, size, base_width=1, dropout=0).modules())


def test_dropout_active_at_test_time():
    torch.manual_seed(0)
    g = UNetGenerator(3, 3, 32, base_width=8)
    x = torch.randn(1, 3, 32, 32)
    g.eval()
    with torch.no_grad():
        assert torch.equal(g(x), g(x))  # eval: deterministic
        g.set_dropout_active(True)
        assert not torch.allclose(g(x), g(x))
        g.eval()  # e.g. Lightning's validation loop: dropout stays on
        assert not torch.allclose(g(x), g(x))
        assert all(m.training == isinstance(m, nn.Dropout) for m in g.modules())  # BN keeps running stats
        g.set_dropout_active(False)
        assert torch.equal(g(x), g(x))
        assert not any(m.training for m in g.modules())
    g.train()
    assert all(m.training for m in g.modules())


def test_skip_connections_carry_the_input():
    # With the bottleneck conv zeroed, only the skips can carry x to the output.
    x1, x2 = torch.randn(2, 1, 3, 32, 32)
    outputs = {}
    for skips in (True, False):
        g = UNetGenerator(3, 3, 32, base_width=8, skip_connections=skips).eval()
        nn.init.zeros_(g.down[-1][-1].weight)
        nn.init.zeros_(g.down[-1][-1].bias)
        with torch.no_grad():
            outputs[skips] = g(x1), g(x2)
    assert not torch.allclose(*outputs[True])
    assert torch.equal(*outputs[False])


def test_skip_connections_change_parameter_count():
    count = {s: sum(p.numel() for p in UNetGenerator(3, 3, 32, base_width=8, skip_connections=s).parameters())
             for s in (True, False)}
    assert count[True] > count[False]


def test_explicit_num_downs():
    g = UNetGenerator(3, 2, 96, base_width=4, num_downs=5)
    assert g.num_downs == 5 and len(stride2_convs(g)) == 5
    assert g(torch.randn(1, 3, 96, 96)).shape == (1, 2, 96, 96)
    assert g(torch.randn(1, 3, 64, 128)).shape == (1, 2, 64, 128)  # fully convolutional


@pytest.mark.parametrize("bad", [8, 48, 100, 0, 320])
def test_bad_image_size(bad):
    with pytest.raises(ValueError, match=r"model\.generator\.image_size") as exc:
        UNetGenerator(3, 3, bad)
    assert "power of two" in str(exc.value) and "256" in str(exc.value)


def test_bad_image_size_for_num_downs():
    with pytest.raises(ValueError, match=r"model\.generator\.image_size=96.*2\*\*6=64"):
        UNetGenerator(3, 3, 96, num_downs=6)
    with pytest.raises(ValueError, match=r"model\.generator\.num_downs"):
        UNetGenerator(3, 3, 64, num_downs=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"model\.generator\.norm.*'batch', 'instance'"):
        UNetGenerator(3, 3, 32, norm="layer")
    with pytest.raises(ValueError, match=r"model\.generator\.dropout"):
        UNetGenerator(3, 3, 32, dropout=1.0)
    with pytest.raises(ValueError, match=r"model\.generator\.in_channels"):
        UNetGenerator(0, 3, 32)
    g = UNetGenerator(3, 3, 32, base_width=4)
    with pytest.raises(ValueError, match="x must be"):
        g(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="x must be"):
        g(torch.randn(1, 3, 48, 48))


def test_init_and_finite_grads():
    torch.manual_seed(0)
    g = UNetGenerator(3, 3, 64, base_width=8)
    big = g.down[4][1]  # Conv2d(64, 64, 4): 65k weights
    assert big.weight.std().item() == pytest.approx(0.02, rel=0.05)
    bn_w = torch.cat([m.weight.detach() for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert bn_w.mean().item() == pytest.approx(1.0, abs=0.01)
    g(torch.randn(2, 3, 64, 64)).square().mean().backward()
    for p in g.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
