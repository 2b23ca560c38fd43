"""CatGAN entropies and losses (Springenberg 2016, eq. 7 / 8): closed forms, hand-computed values, stability."""

import math

import pytest
import torch

from gan_lightning.losses.adversarial import AdversarialLoss
from gan_lightning.losses.categorical import (
    CategoricalLoss,
    conditional_entropy,
    entropy,
    marginal_entropy,
)

BIG = 1e4  # saturates the softmax: p = exp(-BIG) underflows to exactly 0


def h(*p: float) -> float:
    """Entropy of a distribution, written out by hand (nats)."""
    return -sum(q * math.log(q) for q in p if q > 0)


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_entropy_of_uniform_and_one_hot(k):
    uniform = torch.zeros(4, k, dtype=torch.float64) + 3.0  # equal logits, any offset
    assert torch.allclose(entropy(uniform), torch.full((4,), math.log(k), dtype=torch.float64))
    assert conditional_entropy(uniform).item() == pytest.approx(math.log(k))
    one_hot = torch.full((k, k), -BIG, dtype=torch.float64).fill_diagonal_(BIG)
    assert torch.equal(entropy(one_hot), torch.zeros(k, dtype=torch.float64))  # exactly 0, no 0 * log 0 = nan
    assert conditional_entropy(one_hot).item() == 0.0
    # k one-hot rows of k different classes: p(y) is uniform.
    assert marginal_entropy(one_hot).item() == pytest.approx(math.log(k))
    assert marginal_entropy(uniform).item() == pytest.approx(math.log(k))


def test_marginal_entropy_of_a_batch():
    two_classes = t([[BIG, 0.0, 0.0, 0.0], [0.0, BIG, 0.0, 0.0]])  # one-hot rows of classes 0 and 1, K = 4
    assert marginal_entropy(two_classes).item() == pytest.approx(math.log(2))
    same_class = t([[BIG, 0.0, 0.0], [BIG, 0.0, 0.0]])
    assert marginal_entropy(same_class).item() == pytest.approx(0.0, abs=1e-12)
    # Rows [3/4, 1/4] and [1/2, 1/2] (logits ln 3, 0 and 0, 0): p(y) = [5/8, 3/8].
    rows = t([[math.log(3), 0.0], [0.0, 0.0]])
    assert marginal_entropy(rows).item() == pytest.approx(h(5 / 8, 3 / 8))
    assert conditional_entropy(rows).item() == pytest.approx((h(3 / 4, 1 / 4) + math.log(2)) / 2)
    # The marginal is not the mean of the row entropies: concave, H[mean p] >= mean H[p].
    assert marginal_entropy(rows) >= conditional_entropy(rows)


def test_losses_on_hand_computed_logits():
    # Real rows [3/4, 1/4], [1/4, 3/4]: H_cond = h(3/4), p(y) = [1/2, 1/2] -> H_marg = ln 2.
    real = t([[math.log(3), 0.0], [0.0, math.log(3)]])
    # Fake rows [1/2, 1/2], [3/4, 1/4]: H_cond = (ln 2 + h(3/4)) / 2, p(y) = [5/8, 3/8] -> H_marg = h(5/8).
    fake = t([[0.0, 0.0], [math.log(3), 0.0]])
    h34, ln2 = h(3 / 4, 1 / 4), math.log(2)
    loss = CategoricalLoss()
    # L_D = H_cond(real) - H_marg(real) - H_cond(fake)
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(h34 - ln2 - (ln2 + h34) / 2)
    # L_G = H_cond(fake) - H_marg(fake)
    assert loss.generator_loss(fake).item() == pytest.approx((ln2 + h34) / 2 - h(5 / 8, 3 / 8))


def test_loss_optima():
    """D's best case: confident, balanced on real, uniform on fake -> -log 2 - log K; G's best: confident, balanced."""
    k = 5
    confident = torch.full((k, k), -BIG, dtype=torch.float64).fill_diagonal_(BIG)
    uniform = torch.zeros(k, k, dtype=torch.float64)
    loss = CategoricalLoss()
    assert loss.discriminator_loss(confident, uniform).item() == pytest.approx(-2 * math.log(k))
    assert loss.generator_loss(confident).item() == pytest.approx(-math.log(k))
    assert loss.generator_loss(uniform).item() == pytest.approx(0.0, abs=1e-12)  # D unsure: no gain from balance
    collapsed = torch.full((k, k), -BIG, dtype=torch.float64)
    collapsed[:, 0] = BIG  # every fake in one class: confident but no diversity
    assert loss.generator_loss(collapsed).item() == pytest.approx(0.0, abs=1e-12)


def test_score_is_confidence():
    loss = CategoricalLoss()
    assert isinstance(loss, AdversarialLoss) and loss.name == "categorical"
    scores = loss.score(t([[BIG, -BIG, -BIG], [0.0, 0.0, 0.0], [math.log(3), 0.0, 0.0]]))
    torch.testing.assert_close(scores, t([1.0, 0.0, 1 - h(3 / 5, 1 / 5, 1 / 5) / math.log(3)]))


def test_gradients_are_finite_for_saturated_logits():
    real = t([[BIG, -BIG, 0.0], [-BIG, BIG, 0.0]]).requires_grad_(True)
    fake = t([[BIG, -BIG, -BIG], [0.0, 0.0, 0.0]]).requires_grad_(True)
    loss = CategoricalLoss()
    total = loss.discriminator_loss(real, fake) + loss.generator_loss(fake)
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(real.grad).all() and torch.isfinite(fake.grad).all()


def test_gradient_direction_matches_the_objective():
    """One gradient step on D's loss makes real rows more confident and fake rows less confident."""
    real = t([[1.0, 0.0, 0.0], [0.0, 0.5, 0.0]]).requires_grad_(True)
    fake = t([[2.0, 0.0, 0.0], [0.0, 0.0, 1.5]]).requires_grad_(True)
    CategoricalLoss().discriminator_loss(real, fake).backward()
    with torch.no_grad():
        new_real, new_fake = real - 0.1 * real.grad, fake - 0.1 * fake.grad
    assert conditional_entropy(new_real) < conditional_entropy(real.detach())
    assert conditional_entropy(new_fake) > conditional_entropy(fake.detach())


@pytest.mark.parametrize("shape", [(4,), (3, 1), (0, 3), (2, 3, 4)])
def test_bad_logit_shapes_are_refused(shape):
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        conditional_entropy(torch.zeros(shape))
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        marginal_entropy(torch.zeros(shape))


def test_non_saturating_generator_loss_values():
    """CE to D's own top class minus H_marg: hand-computed, and equal to the entropy form at one-hot rows."""
    ns = CategoricalLoss("non_saturating")
    # Fake rows [3/4, 1/4], [1/2, 1/2]: top classes 0 and 0 (ties go to the first): CE = (-ln 3/4 + ln 2) / 2.
    fake = t([[math.log(3), 0.0], [0.0, 0.0]])
    assert ns.generator_loss(fake).item() == pytest.approx((-math.log(3 / 4) + math.log(2)) / 2 - h(5 / 8, 3 / 8))
    k = 4
    confident = torch.full((k, k), -BIG, dtype=torch.float64).fill_diagonal_(BIG)
    assert ns.generator_loss(confident).item() == pytest.approx(CategoricalLoss().generator_loss(confident).item())
    # D is unchanged by the generator objective.
    real = t([[1.0, 0.0], [0.0, 2.0]])
    assert ns.discriminator_loss(real, fake).item() == CategoricalLoss().discriminator_loss(real, fake).item()


def test_non_saturating_generator_keeps_a_gradient_where_d_wins():
    """At a near-uniform posterior on fakes (D winning) the entropy's gradient nearly vanishes, the CE's does not."""
    k = 10
    near_uniform = 1e-3 * torch.randn(8, k, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grads = {}
    for objective in ("entropy", "non_saturating"):
        logits = near_uniform.clone().requires_grad_(True)
        CategoricalLoss(objective).generator_loss(logits).backward()
        grads[objective] = logits.grad.norm().item()
    assert grads["entropy"] < 1e-3
    assert grads["non_saturating"] > 0.1
    # A step along the non-saturating gradient makes the fakes more confident.
    logits = near_uniform.clone().requires_grad_(True)
    CategoricalLoss("non_saturating").generator_loss(logits).backward()
    with torch.no_grad():
        assert conditional_entropy(logits - 1.0 * logits.grad) < conditional_entropy(near_uniform)


def test_unknown_generator_objective_is_refused():
    with pytest.raises(ValueError, match="generator_objective.*'saturating'"):
        CategoricalLoss("saturating")
