"""CycleGAN ResNet generator (Zhu et al. 2017, appendix 7.2): shapes, layout, residual blocks, errors."""

import pytest
import torch
from torch import nn

from gan_lightning.nets.resnet import ResnetBlock, ResnetGenerator, default_n_blocks
from tests.hydra_utils import compose_config


@pytest.mark.parametrize("norm", ["instance", "batch"])
@pytest.mark.parametrize("h,w,cin,cout", [(32, 32, 3, 3), (64, 64, 1, 3), (32, 48, 3, 1), (8, 8, 3, 3)])
def test_shapes_and_range(h, w, cin, cout, norm):
    g = ResnetGenerator(cin, cout, n_blocks=2, base_width=8, norm=norm)
    assert (g.in_channels, g.out_channels, g.n_blocks) == (cin, cout, 2)
    y = g(torch.randn(2, cin, h, w) * 10)
    assert y.shape == (2, cout, h, w)
    assert y.min() >= -1 and y.max() <= 1


def test_paper_layout():
    with torch.device("meta"):  # c7s1-64, d128, d256, R256 x 9, u128, u64, c7s1-3 at paper scale
        g = ResnetGenerator(3, 3, image_size=256)
    layers = list(g.net)
    convs = [m for m in layers if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert [(type(m), m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs] == [
        (nn.Conv2d, 64, 7, 1), (nn.Conv2d, 128, 3, 2), (nn.Conv2d, 256, 3, 2),
        (nn.ConvTranspose2d, 128, 3, 2), (nn.ConvTranspose2d, 64, 3, 2), (nn.Conv2d, 3, 7, 1),
    ]
    blocks = [m for m in layers if isinstance(m, ResnetBlock)]
    assert len(blocks) == 9
    for b in blocks:
        cs = [m for m in b.modules() if isinstance(m, nn.Conv2d)]
        assert [(m.in_channels, m.out_channels, m.kernel_size) for m in cs] == [(256, 256, (3, 3))] * 2
        assert sum(isinstance(m, nn.ReflectionPad2d) for m in b.modules()) == 2
    # 7x7 convs are reflection-padded, not zero-padded.
    for i, m in enumerate(layers):
        if isinstance(m, nn.Conv2d) and m.kernel_size == (7, 7):
            assert isinstance(layers[i - 1], nn.ReflectionPad2d) and layers[i - 1].padding == (3, 3, 3, 3)
            assert m.padding == (0, 0)
    assert isinstance(layers[-1], nn.Tanh)
    norms = [m for m in g.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 5 + 2 * 9 and all(not m.affine and not m.track_running_stats for m in norms)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.Dropout)) for m in g.modules())
    assert sum(p.numel() for p in g.parameters()) == pytest.approx(11.378e6, rel=1e-3)  # reference count


def test_batch_norm_drops_biases():
    g = ResnetGenerator(3, 3, n_blocks=1, base_width=4, norm="batch")
    convs = [m for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(m.bias is None for m in convs[:-1]) and convs[-1].bias is not None
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 5 + 2


def test_residual_block_is_identity_plus_branch():
    b = ResnetBlock(4, norm="batch").eval()
    x = torch.randn(2, 4, 8, 8)
    assert not torch.allclose(b(x), x)
    last_norm = b.block[-1]
    nn.init.zeros_(last_norm.weight)  # branch output 0 -> the block is the identity
    assert torch.equal(b(x), x)


@pytest.mark.parametrize("n_blocks", [1, 3])
def test_n_blocks_and_dropout(n_blocks):
    g = ResnetGenerator(3, 3, n_blocks=n_blocks, base_width=4, dropout=0.5)
    assert sum(isinstance(m, ResnetBlock) for m in g.modules()) == n_blocks
    assert sum(isinstance(m, nn.Dropout) for m in g.modules()) == n_blocks
    x = torch.randn(1, 3, 16, 16)
    assert not torch.equal(g(x), g(x))  # train mode: dropout active
    g.eval()
    assert torch.equal(g(x), g(x))


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_n_blocks(bad):
    with pytest.raises(ValueError, match=r"model\.generator\.n_blocks"):
        ResnetGenerator(3, 3, n_blocks=bad)


@pytest.mark.parametrize("image_size,expected", [(32, 6), (128, 6), (255, 6), (256, 9), (512, 9)])
def test_n_blocks_follows_the_image_size(image_size, expected):
    # Zhu 2017, appendix 7.2: 6 residual blocks at 128x128, 9 at 256x256 and higher resolution
    assert default_n_blocks(image_size) == expected
    with torch.device("meta"):
        g = ResnetGenerator(3, 3, image_size=image_size, base_width=4)
    assert g.n_blocks == expected and sum(isinstance(m, ResnetBlock) for m in g.modules()) == expected


def test_explicit_n_blocks_wins_over_the_image_size():
    for image_size in (None, 128, 256):
        assert ResnetGenerator(3, 3, n_blocks=2, base_width=4, image_size=image_size).n_blocks == 2
    with pytest.raises(ValueError, match=r"model\.generator\.n_blocks is null and model\.generator\.image_size"):
        ResnetGenerator(3, 3)
    with pytest.raises(ValueError, match=r"model\.generator\.image_size must be an integer >= 1"):
        ResnetGenerator(3, 3, image_size=0)


@pytest.mark.parametrize("data,expected", [("sneaker2boot", 6), ("unaligned", 9)])
def test_cyclegan_config_follows_data_image_size(data, expected, tmp_path):
    from hydra.utils import instantiate

    cfg = compose_config("train", ["model=cyclegan", f"data={data}", "loss=lsgan"], tmp_path)
    gens = cfg.model.generator.modules
    assert gens.AtoB.n_blocks is None and gens.AtoB.image_size == gens.BtoA.image_size == cfg.data.image_size
    with torch.device("meta"):
        assert [instantiate(gens[k]).n_blocks for k in ("AtoB", "BtoA")] == [expected, expected]
    cfg = compose_config("train", ["model=cyclegan", f"data={data}", "loss=lsgan",
                                   "model.generator.modules.AtoB.n_blocks=3"], tmp_path)
    with torch.device("meta"):
        assert instantiate(cfg.model.generator.modules.BtoA).n_blocks == 3  # explicit, and BtoA follows AtoB


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"model\.generator\.norm.*'batch', 'instance'"):
        ResnetGenerator(3, 3, n_blocks=1, norm="group")
    with pytest.raises(ValueError, match=r"model\.generator\.dropout"):
        ResnetGenerator(3, 3, n_blocks=1, dropout=-0.1)
    g = ResnetGenerator(3, 3, n_blocks=1, base_width=4)
    for shape in [(1, 3, 30, 32), (1, 3, 4, 4), (1, 1, 32, 32), (3, 32, 32)]:
        with pytest.raises(ValueError, match="x must be"):
            g(torch.randn(*shape))


def test_init_and_finite_grads():
    torch.manual_seed(0)
    g = ResnetGenerator(3, 3, n_blocks=2, base_width=8)
    big = g.net[-2]  # Conv2d(8, 3, 7)
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert w.std().item() == pytest.approx(0.02, rel=0.05) and w.numel() > 50_000
    assert torch.all(big.bias == 0)
    g(torch.randn(2, 3, 16, 16)).square().mean().backward()
    for p in g.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
