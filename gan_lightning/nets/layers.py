"""Building blocks shared by the networks: the normalization choice of Isola 2017 / Zhu 2017 (U-Net, PatchGAN,
ResNet generator), the weight-normalized layers and Gaussian noise of Salimans et al. 2016's MNIST nets, and
argument checks that name the config key."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

NORMS: tuple[str, ...] = ("batch", "instance")


def check_norm(norm: str, key: str) -> None:
    """Raise ValueError naming the config ``key`` unless ``norm`` is one of :data:`NORMS`."""
    if norm not in NORMS:
        raise ValueError(f"{key} must be one of {NORMS}, got {key}={norm!r}")


def make_norm2d(norm: str, channels: int) -> nn.Module:
    """BatchNorm2d, or InstanceNorm2d(affine=False, track_running_stats=False) as in the CycleGAN /
    Pix2Pix reference code (no learnable affine, statistics of each image at train and test time)."""
    check_norm(norm, "norm")
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def conv_bias(norm: str) -> bool:
    """Bias of a conv followed by ``norm``: BatchNorm's shift makes it redundant; kept with instance
    norm, as the reference code does."""
    return norm != "batch"


def check_int(key: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {key}={value!r}")


def check_dropout(key: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{key} must be in [0, 1), got {key}={value!r}")


class GaussianNoise(nn.Module):
    """Additive Gaussian noise ``x + sigma * eps``, eps ~ N(0, 1), in train mode only; the identity in eval mode.

    The regulariser of Salimans et al. 2016's MNIST discriminator (openai/improved-gan, ``GaussianNoiseLayer``).
    Draws from the global torch RNG (saved in checkpoints, so a resume is exact).

    Raises:
        ValueError: ``sigma < 0``.
    """

    def __init__(self, sigma: float) -> None:
        super().__init__()
        if not sigma >= 0:
            raise ValueError(f"sigma must be >= 0, got sigma={sigma!r}")
        self.sigma = float(sigma)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.sigma == 0:
            return x
        return x + self.sigma * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


class MinibatchStdDev(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, "Progressive Growing of GANs", sec. 3): appends, to
    every item of features (N, F), one feature: the standard deviation over the batch of each of the F features,
    averaged over F. D can then tell a batch of near-identical samples from a varied one, which pushes G
    towards variety. Output (N, F + 1); a batch of one item gets 0. Call it on real and fake batches
    separately: a mixed batch would leak one into the other's statistic.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2:
            raise ValueError(f"MinibatchStdDev expects features of shape (N, F), got {tuple(x.shape)}")
        std = x.std(0, unbiased=False).mean() if x.shape[0] > 1 else x.new_zeros(())
        return torch.cat([x, std.expand(x.shape[0], 1)], 1)


class FeatureAffine(nn.Module):
    """Learned per-feature scale and shift ``gamma * x + beta`` on (N, F), initialised to the identity.

    BatchNorm's affine step kept apart, so that noise can be added between the normalisation and it, as in the
    ladder network's encoder (Rasmus et al. 2015, sec. 3, Algorithm 1): noise added after the normalisation cannot
    be outgrown by scaling the weights, as noise on the raw pre-activation can.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.weight + self.bias


class WeightNormLinear(nn.Module):
    """Linear layer with weight normalization, ``y = x (g * v / ||v||)^T + b`` (Salimans & Kingma 2016, eq. 2).

    ``v`` (out, in) ~ N(0, ``init_std``) and ``b`` = 0 are trained; ``g`` (out,) starts at 1 and is trained only
    when ``train_scale`` (a buffer otherwise), as in the ``DenseLayer`` of the authors' MNIST code for Salimans et
    al. 2016 (openai/improved-gan), where only the output layer trains its scale. :func:`data_dependent_init_`
    sets ``g`` and ``b`` from a batch (Salimans & Kingma 2016, sec. 3).

    Input (N, in_features), output (N, out_features).

    Raises:
        ValueError: a size < 1 or ``init_std <= 0``.
    """

    def __init__(self, in_features: int, out_features: int, train_scale: bool = False, init_std: float = 0.1) -> None:
        super().__init__()
        check_int("in_features", in_features, 1)
        check_int("out_features", out_features, 1)
        if not init_std > 0:
            raise ValueError(f"init_std must be > 0, got init_std={init_std!r}")
        self.in_features, self.out_features = in_features, out_features
        self.v = nn.Parameter(torch.randn(out_features, in_features) * init_std)
        self.b = nn.Parameter(torch.zeros(out_features))
        scale = torch.ones(out_features)
        if train_scale:
            self.g = nn.Parameter(scale)
        else:
            self.register_buffer("g", scale)
        self._init_pending = False

    def weight(self) -> Tensor:
        """The effective weight (out, in), each row of norm ``g`` (a zero ``v`` gives a zero row, not NaN)."""
        return self.v * (self.g * self.v.pow(2).sum(1).add(1e-12).rsqrt()).unsqueeze(1)

    def forward(self, x: Tensor) -> Tensor:
        if self._init_pending:
            self._init_from(x)
        return nn.functional.linear(x, self.weight(), self.b)

    @torch.no_grad()
    def _init_from(self, x: Tensor) -> None:
        pre = nn.functional.linear(x, self.weight())
        mean = pre.mean(0)
        std = (pre - mean).pow(2).mean(0).add(1e-12).sqrt()
        self.g.div_(std)
        self.b.copy_(-mean / std)
        self._init_pending = False

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, train_scale={isinstance(self.g, nn.Parameter)}"


@torch.no_grad()
def data_dependent_init_(net: nn.Module, x: Tensor) -> None:
    """Data-dependent initialization of every :class:`WeightNormLinear` in ``net``, in place (Salimans & Kingma
    2016, sec. 3): one forward pass of the batch ``x`` in which each layer, in order, sets ``g <- g / std`` and
    ``b <- -mean / std`` of its pre-activations, so they have zero mean and unit variance on that batch (given
    the layers below, already initialized). The pass runs in ``net``'s current train/eval mode (the authors'
    code runs it with the noise on) and its output is discarded.
    """
    layers = [m for m in net.modules() if isinstance(m, WeightNormLinear)]
    for layer in layers:
        layer._init_pending = True
    try:
        net(x)
    finally:
        for layer in layers:
            layer._init_pending = False


@contextmanager
def frozen_batchnorm_stats(net: nn.Module) -> Iterator[None]:
    """Inside, BatchNorm layers of ``net`` in train mode still normalise with the batch statistics but leave their
    running statistics (and ``num_batches_tracked``) untouched; restored on exit."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in norms:
            m.track_running_stats = True


@contextmanager
def precise_batchnorm_stats(net: nn.Module, forward: Callable[[Tensor], object], batches: Iterable[Tensor]
                            ) -> Iterator[None]:
    """Inside, the BatchNorm layers of ``net`` hold *precise* population statistics of clean inputs: the exact
    average, over ``batches``, of the batch means and (unbiased) variances that ``forward`` produces, in place of
    the running (exponential) averages of training ("PreciseBN", Wu & Johnson 2021, "Rethinking 'Batch' in
    BatchNorm", sec. 3); as in training, each layer sees inputs that the layers before it normalised with batch
    statistics. Every other layer is in eval mode while they are computed, so GaussianNoise and Dropout
    are off: the statistics match the noise-free inputs an eval-mode net sees, where training's were taken with
    the noise on. On exit the running statistics, ``momentum``, ``num_batches_tracked`` and every train/eval flag
    of ``net`` are restored exactly.

    Args:
        net: the module whose BatchNorm layers are recomputed (e.g. a discriminator or a LightningModule).
        forward: runs (part of) ``net`` on a batch, e.g. ``lambda x: model.classify(x)``; called without gradients.
        batches: inputs for ``forward``, e.g. training images (B, C, H, W) in [-1, 1]; each of at least 2 rows.

    Raises:
        ValueError: ``batches`` is empty.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    modes = {m: m.training for m in net.modules()}
    saved = [(m.momentum, {k: b.clone() for k, b in m.named_buffers(recurse=False)}) for m in norms]
    try:
        net.eval()
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches
            m.train()
        seen = 0
        with torch.no_grad():
            for x in batches:
                forward(x)
                seen += 1
        if not seen:
            raise ValueError("precise_batchnorm_stats needs at least one batch of inputs, got none")
        for m in norms:
            m.eval()
        yield
    finally:
        for m, (momentum, buffers) in zip(norms, saved):
            m.momentum = momentum
            for k, b in buffers.items():
                getattr(m, k).copy_(b)
        for m, mode in modes.items():
            m.training = mode


class Maxout(nn.Module):
    """Maxout units (Goodfellow et al. 2013): ``units`` outputs, each the max over ``pieces`` linear pieces.

    Input (N, in_features), output (N, units). Used by the discriminators of Goodfellow et al. 2014 (240 units x
    5 pieces) and Mirza & Osindero 2014 (sec. 4.1).

    Raises:
        ValueError: a size < 1.
    """

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        for key, value in (("in_features", in_features), ("units", units), ("pieces", pieces)):
            check_int(key, value, 1)
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(dim=2)

    def extra_repr(self) -> str:
        return f"units={self.units}, pieces={self.pieces}"


@torch.no_grad()
def max_norm_(net: nn.Module, max_norm: float) -> None:
    """The max-norm constraint, in place (Srebro & Shraibman 2005; used with dropout by Hinton et al. 2012, sec. A.1,
    and with maxout by Goodfellow et al. 2013, sec. 6): every unit's incoming weight vector longer than ``max_norm``
    (L2) is rescaled to that length, its direction kept. A unit is a row of a Linear weight (out, in) (each piece of a
    :class:`Maxout`) or an output filter of a convolution; biases are free. pylearn2's ``max_col_norm`` /
    ``max_kernel_norm``, applied after each update.

    Raises:
        ValueError: ``max_norm`` not > 0.
    """
    if not (isinstance(max_norm, (int, float)) and max_norm > 0):
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}.")
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
            # ConvTranspose weights are (in, out, ...): the output filters lie along dim 1
            out_dim = 1 if isinstance(m, nn.modules.conv._ConvTransposeNd) else 0
            m.weight.renorm_(2, out_dim, max_norm)


def uniform_init_(net: nn.Module, init_range: float) -> None:
    """Weights of every Linear in ``net`` ~ U(-init_range, init_range), biases 0, in place: pylearn2's ``irange``
    (the init of Goodfellow et al. 2014's and Mirza & Osindero 2014's code)."""
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -init_range, init_range)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def marginal_output_bias(images: Tensor, output: str) -> Tensor:
    """The output bias that makes a generator with zero weights produce the mean image: per pixel, the logit of the
    mean of ``images`` (N, C, H, W) in [-1, 1] mapped to [0, 1], clipped to [1e-7, 1 - 1e-7] (pylearn2's
    ``init_sigmoid_bias_from_marginals``, used by Goodfellow 2014's code), halved for ``output="tanh"``
    (``tanh(a) = 2 sigmoid(2a) - 1``). Shape (C * H * W,)."""
    mean = ((images.flatten(1) + 1) / 2).mean(0).clamp(1e-7, 1 - 1e-7)
    logit = torch.log(mean) - torch.log1p(-mean)
    return logit if output == "sigmoid" else logit / 2


def signed_sigmoid(x: Tensor) -> Tensor:
    """``2 sigmoid(x) - 1``: the papers' sigmoid output units (pixels in [0, 1]) on the [-1, 1] image scale."""
    return 2 * torch.sigmoid(x) - 1


class SignedSigmoid(nn.Module):
    """:func:`signed_sigmoid` as a layer."""

    def forward(self, x: Tensor) -> Tensor:
        return signed_sigmoid(x)
