"""Speed options that change how the networks run, not what they compute: channels_last and torch.compile."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn


def trained_networks(pl_module: pl.LightningModule) -> list[nn.Module]:
    """The networks a GAN module optimizes: ``generator`` and ``discriminator``, each a module or a
    ``ModuleDict`` of them (CycleGAN's two directions)."""
    nets = []
    for name in ("generator", "discriminator"):
        net = getattr(pl_module, name, None)
        if isinstance(net, nn.ModuleDict):
            nets.extend(net.values())
        elif isinstance(net, nn.Module):
            nets.append(net)
    return nets


def prefer_channels_last(pl_module: pl.LightningModule) -> bool:
    """True when every network of :func:`trained_networks` declares ``prefers_channels_last`` (a class attribute set
    where NHWC was measured to win; docs/RESULTS.md, issue 16) and there is at least one."""
    nets = trained_networks(pl_module)
    return bool(nets) and all(getattr(net, "prefers_channels_last", False) for net in nets)


class PerformanceOptions(pl.Callback):
    """Applies ``channels_last`` memory format to the whole module and ``torch.compile`` to G and D at setup.

    ``channels_last`` converts 4-D weights; convolutions then run (and return) NHWC, which Tensor Cores prefer
    under bf16 / 16-mixed. Inputs need no conversion: a convolution follows its weight's format. It changes the
    order of the convolutions' floating-point sums, so a run's numbers differ in the last bits from an NCHW run's
    (each is still bit-exact on resume).
    ``compile`` uses ``nn.Module.compile`` in place, so parameter names, and so checkpoints, stay the same as
    without it; the first steps are slow while it compiles.

    Args:
        channels_last: convert the module to ``torch.channels_last``: ``true``, ``false``, or ``"auto"`` (the default):
            convert when every network prefers it (:func:`prefer_channels_last`; the DCGAN nets, 1.2 to 1.3x
            images/s on a 2-core CPU), else leave NCHW (Pix2Pix's U-Net and CycleGAN's ResNet gained nothing or lost).
        compile: compile each network of :func:`trained_networks`.
        compile_mode: ``torch.compile`` mode (``default``, ``reduce-overhead``, ``max-autotune``; null: default).
        compile_backend: ``torch.compile`` backend (``inductor``; ``aot_eager`` or ``eager`` to debug).

    Raises:
        ValueError: ``channels_last`` not true, false or "auto"; at setup, ``compile`` set and the module has no
            generator or discriminator.
    """

    def __init__(self, channels_last: bool | str = "auto", compile: bool = False, compile_mode: str | None = None,
                 compile_backend: str = "inductor") -> None:
        if channels_last not in (True, False, "auto"):
            raise ValueError(f"callbacks.performance.channels_last={channels_last!r}: use true, false or auto")
        self.channels_last, self.compile = channels_last, compile
        self.compile_mode, self.compile_backend = compile_mode, compile_backend

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.channels_last is True or (self.channels_last == "auto" and prefer_channels_last(pl_module)):
            pl_module.to(memory_format=torch.channels_last)
        if self.compile:
            nets = trained_networks(pl_module)
            if not nets:
                raise ValueError(f"callbacks.performance.compile=true: {type(pl_module).__name__} has no generator "
                                 "or discriminator to compile; set it to false.")
            for net in nets:
                if getattr(net, "_compiled_call_impl", None) is None:  # setup runs once per fit; compile once
                    net.compile(mode=self.compile_mode, backend=self.compile_backend)
