"""split_steps: the one place a train batch is cut into its n_critic D minibatches."""

from __future__ import annotations

import pytest
import torch

from gan_lightning.data.base import split_steps


@pytest.mark.parametrize("n_critic", [1, 2, 3])
def test_split_steps_gives_disjoint_consecutive_minibatches(n_critic):
    images = torch.arange(n_critic * 4 * 2, dtype=torch.float32).reshape(n_critic * 4, 2)
    labels = torch.arange(n_critic * 4) + 100
    parts = split_steps((images, labels), n_critic)
    assert len(parts) == n_critic
    for i, (x, y) in enumerate(parts):
        assert torch.equal(x, images[4 * i: 4 * (i + 1)]) and torch.equal(y, labels[4 * i: 4 * (i + 1)])


def test_split_steps_refuses_a_batch_that_is_not_a_multiple():
    with pytest.raises(ValueError, match=r"^Batch of 5 pairs cannot be split into n_critic=2 .*data\.batches_per_step"):
        split_steps((torch.zeros(5, 1), torch.zeros(5, 1)), 2, "pairs")
