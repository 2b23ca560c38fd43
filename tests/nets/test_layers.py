"""Weight-normalized linear layer, its data-dependent init, Gaussian noise, frozen BatchNorm statistics, maxout, the
max-norm constraint."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_lightning.nets.layers import (
    GaussianNoise,
    Maxout,
    WeightNormLinear,
    data_dependent_init_,
    frozen_batchnorm_stats,
    precise_batchnorm_stats,
    max_norm_,
    uniform_init_,
)


def test_weight_norm_rows_have_norm_g():
    layer = WeightNormLinear(6, 4, train_scale=True)
    with torch.no_grad():
        layer.g.copy_(torch.tensor([1.0, 2.0, 0.5, 3.0]))
        layer.v.mul_(17.0)  # the scale of v does not matter
    torch.testing.assert_close(layer.weight().norm(dim=1), torch.tensor([1.0, 2.0, 0.5, 3.0]))
    x = torch.randn(5, 6)
    torch.testing.assert_close(layer(x), x @ layer.weight().T + layer.b)
    assert isinstance(layer.g, nn.Parameter) and not isinstance(WeightNormLinear(6, 4).g, nn.Parameter)
    zero = WeightNormLinear(3, 2)
    with torch.no_grad():
        zero.v.zero_()  # how an average of the parameters starts
    assert torch.equal(zero.weight(), torch.zeros(2, 3)) and torch.isfinite(zero(torch.ones(1, 3))).all()


def test_data_dependent_init_gives_zero_mean_unit_variance_preactivations():
    torch.manual_seed(0)
    net = nn.Sequential(WeightNormLinear(20, 30), nn.ReLU(), WeightNormLinear(30, 10, train_scale=True))
    x = torch.randn(200, 20) * 3 + 1.5
    pre: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, i, o: pre.append(o)) for m in net if isinstance(m, WeightNormLinear)]
    before = net[0](x)
    assert before.mean(0).abs().max() > 0.5  # not normalized before the init
    pre.clear()
    data_dependent_init_(net, x)
    pre.clear()
    with torch.no_grad():
        net(x)
    for out in pre:
        torch.testing.assert_close(out.mean(0), torch.zeros(out.shape[1]), atol=1e-4, rtol=0)
        torch.testing.assert_close(out.var(0, unbiased=False), torch.ones(out.shape[1]), atol=1e-4, rtol=0)
    for h in hooks:
        h.remove()
    assert not any(m._init_pending for m in net if isinstance(m, WeightNormLinear))  # a one-off


def test_gaussian_noise_only_in_train_mode():
    noise = GaussianNoise(0.5)
    x = torch.zeros(20000)
    torch.manual_seed(0)
    y = noise.train()(x)
    assert y.std().item() == pytest.approx(0.5, rel=0.03) and y.mean().abs() < 0.02
    assert torch.equal(noise.eval()(x), x)
    with pytest.raises(ValueError, match="sigma"):
        GaussianNoise(-0.1)


def test_frozen_batchnorm_stats_normalises_but_does_not_update():
    bn = nn.BatchNorm1d(3).train()
    x = torch.randn(16, 3) * 4 + 2
    with frozen_batchnorm_stats(bn):
        y = bn(x)
    assert torch.equal(bn.running_mean, torch.zeros(3)) and torch.equal(bn.running_var, torch.ones(3))
    assert bn.num_batches_tracked.item() == 0 and bn.track_running_stats
    torch.testing.assert_close(y.mean(0), torch.zeros(3), atol=1e-5, rtol=0)  # batch statistics used
    bn(x)
    assert not torch.equal(bn.running_mean, torch.zeros(3))  # updated again outside


def _noisy_bn_net() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), GaussianNoise(3.0), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.5),
                        nn.Linear(4, 3), nn.BatchNorm1d(3, momentum=0.3))
    for _ in range(3):  # training's running statistics, taken with the noise on
        net(torch.randn(8, 5))
    return net


def test_precise_batchnorm_stats_average_the_clean_batch_statistics_and_restore_everything():
    net = _noisy_bn_net()
    net[5].eval()  # a flag that must come back as it was
    before = {k: v.clone() for k, v in net.state_dict().items()}
    batches = [torch.randn(8, 5) * 2 + 1 for _ in range(3)]
    rng = torch.random.get_rng_state()
    with precise_batchnorm_stats(net, net, batches):
        assert not any(m.training for m in net.modules())
        clean = [net[0](x) for x in batches]  # no noise: the first BatchNorm sees these
        torch.testing.assert_close(net[2].running_mean, torch.stack([h.mean(0) for h in clean]).mean(0))
        torch.testing.assert_close(net[2].running_var, torch.stack([h.var(0) for h in clean]).mean(0))
        assert net[2].num_batches_tracked.item() == 3
        bn = net[2]  # all BatchNorm layers take batch statistics at once, as in training
        second = [net[5](net[3](nn.functional.batch_norm(h, None, None, bn.weight, bn.bias, True))) for h in clean]
        torch.testing.assert_close(net[6].running_mean, torch.stack([h.mean(0) for h in second]).mean(0))
        inside = net(batches[0])
    assert torch.equal(torch.random.get_rng_state(), rng)  # noise and dropout off: nothing drawn
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert net[2].momentum == 0.1 and net[6].momentum == 0.3
    assert net.training and net[1].training and not net[5].training
    net.eval()
    assert not torch.allclose(net(batches[0]), inside)  # the running statistics are back


def test_precise_batchnorm_stats_without_batches_is_an_error_and_restores():
    net = _noisy_bn_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match="at least one batch"):
        with precise_batchnorm_stats(net, net, []):
            pass
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()) and net[2].training


def test_maxout_takes_the_max_over_pieces():
    m = Maxout(3, units=2, pieces=4)
    x = torch.randn(5, 3)
    pieces = m.linear(x).view(5, 2, 4)
    torch.testing.assert_close(m(x), pieces.max(dim=2).values)
    assert m(x).shape == (5, 2)
    with pytest.raises(ValueError, match="pieces"):
        Maxout(3, 2, 0)


def test_uniform_init_range():
    net = nn.Sequential(nn.Linear(50, 40), nn.ReLU(), nn.Linear(40, 3))
    uniform_init_(net, 0.005)
    weights = torch.cat([net[0].weight.flatten(), net[2].weight.flatten()])
    assert weights.abs().max() <= 0.005 and weights.abs().max() > 0.004
    assert torch.equal(net[0].bias, torch.zeros(40))


def test_max_norm_rescales_only_the_long_rows_of_every_linear():
    net = nn.Sequential(Maxout(3, units=2, pieces=2), nn.Linear(2, 3))
    with torch.no_grad():
        net[0].linear.weight.copy_(torch.tensor([[3.0, 4.0, 0.0], [0.3, 0.4, 0.0], [0.0, 0.0, 2.0], [6.0, 8.0, 0.0]]))
        net[1].weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 10.0], [0.5, 0.0]]))
        net[1].bias.fill_(7.0)
    max_norm_(net, 2.0)
    # per piece (row): norms 5 -> 2 in the same direction, 0.5 kept, 2 kept, 10 -> 2
    torch.testing.assert_close(net[0].linear.weight, torch.tensor(
        [[1.2, 1.6, 0.0], [0.3, 0.4, 0.0], [0.0, 0.0, 2.0], [1.2, 1.6, 0.0]]))
    torch.testing.assert_close(net[1].weight, torch.tensor([[1.0, 1.0], [0.0, 2.0], [0.5, 0.0]]))
    assert torch.equal(net[1].bias, torch.full((3,), 7.0))  # biases are free
    with pytest.raises(ValueError, match="max_norm must be > 0, got 0"):
        max_norm_(net, 0)


def test_max_norm_bounds_each_output_filter_of_convolutions():
    conv, deconv = nn.Conv2d(3, 4, 3), nn.ConvTranspose2d(3, 4, 3)  # weights (4, 3, 3, 3) and (3, 4, 3, 3)
    with torch.no_grad():
        conv.weight.mul_(100)
        deconv.weight.mul_(100)
        deconv.weight[:, 0].fill_(0.01)  # a short filter stays as it is
    kept = deconv.weight[:, 0].clone()
    max_norm_(nn.Sequential(conv, deconv), 1.0)
    torch.testing.assert_close(conv.weight.flatten(1).norm(dim=1), torch.ones(4))
    torch.testing.assert_close(deconv.weight.transpose(0, 1).flatten(1).norm(dim=1)[1:], torch.ones(3))
    assert torch.equal(deconv.weight[:, 0], kept)
