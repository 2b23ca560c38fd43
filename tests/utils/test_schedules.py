"""The SGD schedule of Goodfellow et al. 2014's and Mirza & Osindero 2014's code."""

from __future__ import annotations

import pytest
import torch

from gan_lightning.utils.schedules import ExponentialDecayWithMomentum, linear_decay


def _sgd():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.5)


def test_lr_decays_exponentially_to_the_floor_and_momentum_ramps():
    opt = _sgd()
    sched = ExponentialDecayWithMomentum(opt, decay_factor=1.5, min_lr=0.01, final_momentum=0.7,
                                         momentum_start_step=2, momentum_saturate_step=6)
    lrs, momenta = [], []
    for _ in range(8):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
        momenta.append(opt.param_groups[0]["momentum"])
    assert lrs[:5] == pytest.approx([0.1 / 1.5 ** t for t in range(1, 6)])
    assert lrs[-1] == pytest.approx(0.01)  # 0.1 / 1.5^8 < 0.01: floored
    assert momenta == pytest.approx([0.5, 0.5, 0.55, 0.6, 0.65, 0.7, 0.7, 0.7])


def test_state_round_trip_and_bad_settings():
    opt = _sgd()
    sched = ExponentialDecayWithMomentum(opt, decay_factor=1.1, final_momentum=0.7, momentum_saturate_step=10)
    for _ in range(3):
        opt.step()
        sched.step()
    opt2 = _sgd()
    again = ExponentialDecayWithMomentum(opt2, decay_factor=1.1, final_momentum=0.7, momentum_saturate_step=10)
    again.load_state_dict(sched.state_dict())
    opt2.load_state_dict(opt.state_dict())
    opt.step(), sched.step(), opt2.step(), again.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert opt2.param_groups[0]["momentum"] == opt.param_groups[0]["momentum"]
    with pytest.raises(ValueError, match="decay_factor"):
        ExponentialDecayWithMomentum(_sgd(), decay_factor=1.0)
    with pytest.raises(ValueError, match="momentum"):
        ExponentialDecayWithMomentum(torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]), decay_factor=1.1,
                                     final_momentum=0.7)


def test_linear_decay_schedule():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = linear_decay(opt, n_epochs=2, n_epochs_decay=4)
    lrs = []
    for _ in range(7):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1, 1, 0.8, 0.6, 0.4, 0.2, 0.0])  # 2 constant + 4 decaying epochs, then 0
    with pytest.raises(ValueError, match="n_epochs_decay"):
        linear_decay(opt, n_epochs=1, n_epochs_decay=0)
