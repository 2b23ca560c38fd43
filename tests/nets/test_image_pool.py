"""Image history buffer (Shrivastava et al. 2017) used by CycleGAN: pool behaviour and exact resume."""

import io
from collections import Counter

import pytest
import torch

from gan_lightning.nets.image_pool import ImagePool


def tagged(*tags):
    """Images (N, 2, 4, 4) filled with their tag, so outputs can be traced back to inputs."""
    return torch.tensor(tags, dtype=torch.float32)[:, None, None, None].expand(-1, 2, 4, 4).contiguous()


def tags_of(images):
    return [int(v) for v in images[:, 0, 0, 0]]


def test_fills_then_returns_new_images():
    pool = ImagePool(3)
    out = pool.query(tagged(0, 1))
    assert tags_of(out) == [0, 1] and len(pool) == 2
    out = pool.query(tagged(2))
    assert tags_of(out) == [2] and len(pool) == 3
    assert tags_of(torch.stack(pool.images)) == [0, 1, 2]


def test_swaps_with_probability_half_and_conserves_images():
    torch.manual_seed(0)
    pool = ImagePool(4)
    pool.query(tagged(0, 1, 2, 3))
    swapped = 0
    for t in range(4, 404):
        before = Counter(tags_of(torch.stack(pool.images)))
        out = tags_of(pool.query(tagged(t)))[0]
        after = Counter(tags_of(torch.stack(pool.images)))
        assert len(pool) == 4
        # Every image is either in the pool or handed out: before + new == after + returned.
        assert before + Counter([t]) == after + Counter([out])
        if out != t:
            assert out in before
            swapped += 1
    assert 150 < swapped < 250  # Binomial(400, 0.5): mean 200, sd 10


def test_batch_straddling_the_fill_point():
    torch.manual_seed(1)
    pool = ImagePool(3)
    out = tags_of(pool.query(tagged(0, 1, 2, 3, 4, 5, 6, 7)))
    assert out[:3] == [0, 1, 2]  # stored while not full
    assert len(pool) == 3
    assert any(o != t for o, t in zip(out[3:], range(3, 8)))  # some came from the pool (p = 1 - 2**-5)


def test_output_and_pool_are_detached():
    pool = ImagePool(4)
    x = tagged(0, 1, 2, 3).requires_grad_()
    out = pool.query(x)
    assert not out.requires_grad and not any(img.requires_grad for img in pool.images)
    x.data.zero_()  # the pool holds copies, not views of the caller's tensor
    assert tags_of(torch.stack(pool.images)) == [0, 1, 2, 3]


def test_pool_size_zero_returns_input():
    pool = ImagePool(0)
    x = torch.randn(3, 2, 4, 4, requires_grad=True)
    assert pool.query(x) is x and len(pool) == 0
    assert pool.state_dict()["images"].numel() == 0


def sequence(pool, start, n=30):
    return [tags_of(pool.query(tagged(t, t + 1000))) for t in range(start, start + n)]


def test_state_round_trip_gives_identical_outputs():
    torch.manual_seed(0)
    pool = ImagePool(5)
    sequence(pool, 0, 10)  # full and mixed
    state = pool.state_dict()
    assert state["pool_size"] == 5 and state["images"].shape == (5, 2, 4, 4)

    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)

    torch.manual_seed(123)
    expected = sequence(pool, 100)
    resumed = ImagePool(5)
    resumed.load_state_dict(loaded)
    torch.manual_seed(123)
    assert sequence(resumed, 100) == expected
    # Without the state the same RNG draws give other outputs (the test would catch a lost pool).
    fresh = ImagePool(5)
    torch.manual_seed(123)
    assert sequence(fresh, 100) != expected


def test_empty_state_round_trip():
    pool = ImagePool(4)
    buf = io.BytesIO()
    torch.save(pool.state_dict(), buf)
    buf.seek(0)
    other = ImagePool(4)
    other.images = [torch.zeros(2, 4, 4)]
    other.load_state_dict(torch.load(buf, weights_only=True))
    assert len(other) == 0
    assert tags_of(other.query(tagged(7))) == [7]


def test_errors():
    with pytest.raises(ValueError, match="pool_size"):
        ImagePool(-1)
    with pytest.raises(ValueError, match="pool_size"):
        ImagePool(2).load_state_dict(ImagePool(3).state_dict())
    with pytest.raises(ValueError, match="images must be"):
        ImagePool(2).query(torch.zeros(2, 4, 4))
