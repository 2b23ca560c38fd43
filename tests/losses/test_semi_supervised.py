"""Semi-supervised (K+1)-class losses: hand-computed values, Odena's decomposition, stability, shapes."""

import math

import pytest
import torch
import torch.nn.functional as F

from gan_lightning.losses import (
    feature_matching_loss,
    real_logit,
    supervised_loss,
    unsupervised_loss,
)

LN = math.log
# K = 2 real classes + "fake" (last column). Logits chosen so the softmax is in small integers:
# [0, 0, 0] -> p = (1/3, 1/3, 1/3);  [ln 3, 0, ln 4] -> (3/8, 1/8, 4/8);  [0, 0, ln 2] -> (1/4, 1/4, 1/2).
REAL = torch.tensor([[0.0, 0.0, 0.0], [LN(3), 0.0, LN(4)]])
FAKE = torch.tensor([[0.0, 0.0, LN(2)], [0.0, 0.0, 0.0]])


def test_real_logit_and_probability_by_hand():
    # p(real) = 1 - p_fake: 2/3 and 1/2 for REAL, 1/2 and 2/3 for FAKE; log-odds ln 2, 0 / 0, ln 2.
    torch.testing.assert_close(torch.sigmoid(real_logit(REAL)), torch.tensor([2 / 3, 1 / 2]))
    torch.testing.assert_close(real_logit(REAL), torch.tensor([LN(2), 0.0]))
    torch.testing.assert_close(torch.sigmoid(real_logit(FAKE)), torch.tensor([1 / 2, 2 / 3]))
    # Same as 1 - softmax(l)[:, K], computed the naive way.
    torch.testing.assert_close(torch.sigmoid(real_logit(REAL)), 1 - REAL.softmax(1)[:, 2])


def test_unsupervised_loss_by_hand():
    # -E_real log(1 - p_fake) - E_gen log p_fake:
    # real: -log(2/3) = ln 1.5, -log(1/2) = ln 2;  fake: p_fake = 1/2 -> ln 2, p_fake = 1/3 -> ln 3.
    expected = (LN(1.5) + LN(2)) / 2 + (LN(2) + LN(3)) / 2
    assert unsupervised_loss(REAL, FAKE).item() == pytest.approx(expected, rel=1e-6)


def test_supervised_loss_by_hand_ignores_fake_column():
    # Over the K = 2 real classes only: row 1 softmax([0, ln 3]) = (1/4, 3/4), y = 1 -> ln(4/3);
    # row 2 softmax([ln 2, 0]) = (2/3, 1/3), y = 0 -> ln 1.5. The fake logits (5, -7) must not matter.
    logits = torch.tensor([[0.0, LN(3), 5.0], [LN(2), 0.0, -7.0]])
    labels = torch.tensor([1, 0])
    assert supervised_loss(logits, labels).item() == pytest.approx((LN(4 / 3) + LN(1.5)) / 2, rel=1e-6)
    changed = logits.clone()
    changed[:, 2] = torch.tensor([-3.0, 9.0])
    assert supervised_loss(changed, labels).item() == pytest.approx(supervised_loss(logits, labels).item())


def test_k_plus_1_cross_entropy_is_supervised_plus_real_term():
    # Odena's (K+1)-way cross-entropy = Salimans' L_sup + (-log p(real)): [0, ln 3, ln 4], y = 1:
    # -log(3/8) = ln(8/3) = ln(4/3) + ln 2.
    logits = torch.tensor([[0.0, LN(3), LN(4)]])
    y = torch.tensor([1])
    k_plus_1 = F.cross_entropy(logits, y).item()
    assert k_plus_1 == pytest.approx(LN(8 / 3), rel=1e-6)
    decomposed = supervised_loss(logits, y) + F.softplus(-real_logit(logits)).mean()
    assert decomposed.item() == pytest.approx(k_plus_1, rel=1e-6)


def test_feature_matching_by_hand_and_gradient():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]], requires_grad=True)  # mean (1, 1)
    loss = feature_matching_loss(real, fake)
    assert loss.item() == pytest.approx(1.0 + 4.0)  # ||(1, 2)||^2
    loss.backward()
    # d/d fake_i = 2 (mean_fake - mean_real) / M = 2 * (-1, -2) / 2 for each of the M = 2 rows.
    torch.testing.assert_close(fake.grad, torch.tensor([[-1.0, -2.0], [-1.0, -2.0]]))
    assert feature_matching_loss(real, real.clone()).item() == 0.0


def test_losses_are_finite_for_huge_logits():
    big = 1e4
    confident_real = torch.tensor([[big, 0.0, -big]], requires_grad=True)  # sure it is class 0 and real
    confident_fake = torch.tensor([[-big, -big, big]], requires_grad=True)  # sure it is fake
    loss = unsupervised_loss(confident_real, confident_fake)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)  # both right: no loss, no log(0)
    wrong = unsupervised_loss(confident_fake, confident_real)  # both wrong: ~ 2 * 2e4, finite
    assert math.isfinite(wrong.item()) and wrong.item() == pytest.approx(4 * big, rel=1e-3)
    (loss + wrong + supervised_loss(confident_fake, torch.tensor([1]))).backward()
    assert torch.isfinite(confident_real.grad).all() and torch.isfinite(confident_fake.grad).all()


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\(N, K\+1\)"):
        real_logit(torch.zeros(3))
    with pytest.raises(ValueError, match="same number of columns"):
        unsupervised_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="labels must have shape"):
        supervised_loss(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="features"):
        feature_matching_loss(torch.zeros(2, 3), torch.zeros(2, 4))
