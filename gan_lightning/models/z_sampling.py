"""What the GANs that draw from z (GAN / DCGAN, cGAN, SGAN, CatGAN) share on top of the adversarial loop: the
latent prior, the fixed latent batch of the sample grids (buffers saved in checkpoints), and `generate(n)`."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from gan_lightning.models.base import AdversarialModule

LATENT_DISTRIBUTIONS = ("normal", "uniform", "uniform_centered")  # a generator's `latent_distribution` picks one


def draw_latent(n: int, dim: int, distribution: str, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> Tensor:
    """z (n, dim) on ``device``: N(0, I) for ``"normal"``, U(0, 1) per coordinate for ``"uniform"`` (Salimans 2016;
    Mirza 2014), U(-sqrt 3, sqrt 3) for ``"uniform_centered"`` (zero mean, unit variance: Goodfellow 2014's code);
    drawn on the ``generator``'s device when one is given (the global RNG otherwise)."""
    where = generator.device if generator is not None else device
    if distribution == "normal":
        return torch.randn(n, dim, device=where, generator=generator).to(device)
    z = torch.rand(n, dim, device=where, generator=generator)
    if distribution == "uniform_centered":
        z = (2 * z - 1) * math.sqrt(3.0)
    return z.to(device)


def check_num_fixed_samples(n: Any) -> None:
    """Refuse a sample grid without items.

    Raises:
        ValueError: ``n`` is not an integer >= 1, naming ``model.num_fixed_samples``.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"model.num_fixed_samples must be an integer >= 1, got {n!r}; e.g. 64.")


class ZSamplingModule(AdversarialModule):
    """Base of the GANs whose generator maps z (N, latent_dim) to images (N, C, H, W) in [-1, 1].

    z follows the generator's ``latent_distribution`` (:func:`draw_latent`; N(0, I) when it sets none). The sample
    grids show G(fixed z): ``fixed_z`` (num_fixed_samples, latent_dim) is drawn at construction from its own
    ``torch.Generator`` seeded with ``fixed_seed`` (the global RNG is untouched), and saved in the state dict with
    ``fixed_condition`` (the fixed generator inputs besides z: empty here; a class-conditional subclass stores its
    labels there in its own constructor, after this one).

    Subclass hooks: :meth:`sample_condition` (extra generator inputs of n random samples, e.g. labels) and
    :meth:`generate_with` (how G consumes z and them).

    Args:
        generator: maps z (N, latent_dim) to images (N, C, H, W) in [-1, 1]; must expose ``latent_dim`` and may
            set ``latent_distribution`` (one of ``LATENT_DISTRIBUTIONS``).
        discriminator, *args, **kwargs: :class:`AdversarialModule` arguments.
        num_fixed_samples: size of the fixed latent batch of the sample grids (>= 1).
        fixed_seed: seed of the fixed latent batch (independent of the training seed).

    Raises:
        ValueError: a generator without ``latent_dim`` or with an unknown ``latent_distribution``,
            ``num_fixed_samples < 1``, and :class:`AdversarialModule`'s checks.
    """

    uses_latent = True

    def __init__(self, generator: nn.Module, discriminator: nn.Module, *args: Any, num_fixed_samples: int = 64,
                 fixed_seed: int = 0, **kwargs: Any) -> None:
        if not hasattr(generator, "latent_dim"):
            raise ValueError(f"{type(generator).__name__} has no `latent_dim` attribute.")
        check_num_fixed_samples(num_fixed_samples)
        super().__init__(generator, discriminator, *args, **kwargs)
        self.latent_dim = int(generator.latent_dim)
        self.latent_distribution = str(getattr(generator, "latent_distribution", "normal"))
        if self.latent_distribution not in LATENT_DISTRIBUTIONS:
            raise ValueError(f"{type(generator).__name__}.latent_distribution must be one of {LATENT_DISTRIBUTIONS}, "
                             f"got {self.latent_distribution!r}.")
        fixed = torch.Generator().manual_seed(fixed_seed)
        self.register_buffer("fixed_z", draw_latent(num_fixed_samples, self.latent_dim, self.latent_distribution, fixed))
        self.register_buffer("fixed_condition", torch.empty(0))  # no fixed condition: G(z) alone

    # ----------------------------------------------------------------- subclass hooks
    def sample_condition(self, n: int, generator: torch.Generator | None = None) -> Tensor | None:
        """Extra generator input for n samples (class labels for conditional models); None here."""
        return None

    def generate_with(self, net: nn.Module, z: Tensor, condition: Tensor | None) -> Tensor:
        """Run generator `net` (G or its EMA) on z (N, latent_dim); conditional models override."""
        return net(z)

    def forward(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        """Generate images (N, C, H, W) in [-1, 1] from z of shape (N, latent_dim) with G."""
        return self.generate_with(self.generator, z, condition)

    # ----------------------------------------------------------------- sampling
    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z of shape (n, latent_dim) on the module's device, from the generator's ``latent_distribution``
        (:func:`draw_latent`; N(0, I) by default)."""
        return draw_latent(n, self.latent_dim, self.latent_distribution, generator, self.device)

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n samples (n, C, H, W) in [-1, 1] from the sampling generator in eval mode.

        With a `torch.Generator` the draw is reproducible and leaves the global RNG untouched.
        """
        z = self.sample_latent(n, generator)
        return self.generate_from(z, self.sample_condition(n, generator))

    @torch.no_grad()
    def generate_from(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        """Images (N, C, H, W) in [-1, 1] for given z (N, latent_dim), sampling generator, eval mode."""
        net = self.sampling_generator
        was_training = net.training
        net.eval()  # BatchNorm uses running statistics and is not updated by sampling
        try:
            return self.generate_with(net, z, condition)
        finally:
            net.train(was_training)

    # ----------------------------------------------------------------- sample grids
    @property
    def num_fixed_samples(self) -> int:
        """Items in the sample grid: the rows of the fixed latent batch."""
        return int(self.fixed_z.shape[0])

    @torch.no_grad()
    def fixed_parts(self, index: Tensor) -> list[Tensor]:
        """The samples G(fixed z) of the fixed items ``index`` (a 1-D index tensor): one (len(index), C, H, W)
        tensor in [-1, 1]."""
        cond = self.fixed_condition[index] if self.fixed_condition.numel() else None
        return [self.generate_from(self.fixed_z[index], cond)]


__all__ = ["LATENT_DISTRIBUTIONS", "ZSamplingModule", "draw_latent"]
