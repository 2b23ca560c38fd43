"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks")."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gan_lightning.losses import AdversarialLoss
from gan_lightning.losses.translation import cycle_consistency_loss, identity_loss
from gan_lightning.models.base import CHECKPOINT_KEY
from gan_lightning.models.translation import Batch, TranslationModule
from gan_lightning.nets.image_pool import ImagePool


class CycleGAN(TranslationModule):
    """Two generators G: A -> B and F: B -> A, two discriminators D_B (on domain B) and D_A, trained on unpaired
    images x (N, C_A, H, W) and y (N, C_B, H, W) in [-1, 1].

    ``generator`` is an ``nn.ModuleDict`` ``{"AtoB": G, "BtoA": F}`` and ``discriminator`` one ``{"A": D_A,
    "B": D_B}``, so one optimizer updates both generators and one both discriminators, as in the paper.

    Generator objective (sec. 3, eq. 3, and sec. 5.2 for the identity term)::

        L_G = L_GAN(G, D_B) + L_GAN(F, D_A) + lambda_cycle * (|F(G(x)) - x|_1 + |G(F(y)) - y|_1)
              + lambda_identity * lambda_cycle * (|G(y) - y|_1 + |F(x) - x|_1)

    with the loss group's G loss (``lsgan``: "least-squares loss", sec. 4; ``loss.scale=1`` gives the paper's
    (D(G(x)) - 1)^2). Each D's loss is ``d_loss_scale`` (0.5, sec. 4: "divide the objective by 2") times its
    loss on real images and on a generated image drawn from a pool of the last ``pool_size`` generated images
    (Shrivastava 2017; sec. 4). The identity term needs C_A == C_B.

    Logged per step besides ``loss/d`` and ``loss/g``: ``loss/g_gan``, ``loss/g_cycle``, ``loss/g_identity``,
    ``loss/d_a``, ``loss/d_b``.

    Args:
        generator: ``nn.ModuleDict`` with ``AtoB`` and ``BtoA`` (e.g. :class:`gan_lightning.nets.resnet.ResnetGenerator`).
        discriminator: ``nn.ModuleDict`` with ``A`` and ``B`` (:class:`gan_lightning.nets.patchgan.PatchGANDiscriminator`).
        loss: the adversarial loss (``loss`` group): minimax, non_saturating, lsgan or hinge (``supported_losses``).
        lambda_cycle: weight of the cycle-consistency loss (10, sec. 4).
        lambda_identity: weight of the identity loss relative to lambda_cycle (0.5, sec. 5.2; 0 disables it).
        pool_size: generated images kept for the D updates (50; 0 disables the pool).
        d_loss_scale: factor on each D's loss (0.5).
        **kwargs: :class:`AdversarialModule` arguments.

    Raises:
        ValueError: generator / discriminator without the keys above, negative weights, ``pool_size < 0``, an
            unsupported loss (wgan_gp).
    """

    # No regularizer: the D losses add no loss.regularizer term, so WGAN-GP is refused rather than trained without
    # its gradient penalty.
    supported_losses = ("minimax", "non_saturating", "lsgan", "hinge")
    loss_hint = "its D loss does not add WGAN-GP's gradient penalty"

    def __init__(self, generator: nn.Module, discriminator: nn.Module, loss: AdversarialLoss,
                 lambda_cycle: float = 10.0, lambda_identity: float = 0.5, pool_size: int = 50,
                 d_loss_scale: float = 0.5, **kwargs: Any) -> None:
        for name, net, keys in (("generator", generator, {"AtoB", "BtoA"}), ("discriminator", discriminator, {"A", "B"})):
            if not (isinstance(net, nn.ModuleDict) and set(net.keys()) == keys):
                raise ValueError(f"model.{name} must be a torch.nn.ModuleDict with keys {sorted(keys)} "
                                 f"(see conf/model/cyclegan.yaml), got {type(net).__name__}.")
        for key, value in (("lambda_cycle", lambda_cycle), ("lambda_identity", lambda_identity)):
            if not value >= 0:
                raise ValueError(f"model.{key} must be >= 0, got {value!r}.")
        if not isinstance(pool_size, int) or pool_size < 0:
            raise ValueError(f"model.pool_size must be an integer >= 0 (0: no image pool), got {pool_size!r}.")
        if not d_loss_scale > 0:
            raise ValueError(f"model.d_loss_scale must be > 0, got {d_loss_scale!r}; the paper halves D's loss (0.5).")
        super().__init__(generator, discriminator, loss, **kwargs)
        self.lambda_cycle, self.lambda_identity = float(lambda_cycle), float(lambda_identity)
        self.d_loss_scale = float(d_loss_scale)
        self.pools = {"A": ImagePool(pool_size), "B": ImagePool(pool_size)}  # generated images of each domain

    def generator_for(self, net: nn.Module, direction: str) -> nn.Module:
        return net[direction]

    def on_fit_start(self) -> None:
        dm = self.trainer.datamodule
        c_a, c_b = getattr(dm, "channels_a", None), getattr(dm, "channels_b", None)
        if self.lambda_identity and None not in (c_a, c_b) and c_a != c_b:  # fail at start-up, not at the first G step
            raise ValueError(f"model.lambda_identity={self.lambda_identity} needs domains with equal channels, the data "
                             f"has C_A={c_a} and C_B={c_b}; set model.lambda_identity=0.")
        super().on_fit_start()

    def discriminator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        x, y = batch["A"], batch["B"]
        with torch.no_grad():
            fakes = {"B": self.generator["AtoB"](x), "A": self.generator["BtoA"](y)}
        reals = {"A": x, "B": y}
        losses = {}
        for domain in ("A", "B"):
            d = self.discriminator[domain]
            fake = self.pools[domain].query(fakes[domain])
            losses[domain] = self.d_loss_scale * self.loss.discriminator_loss(d(reals[domain]), d(fake))
        return losses["A"] + losses["B"], {"loss/d_a": losses["A"].detach(), "loss/d_b": losses["B"].detach()}

    def generator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        x, y = batch["A"], batch["B"]
        g, f = self.generator["AtoB"], self.generator["BtoA"]
        fake_b, fake_a = g(x), f(y)
        gan = (self.loss.generator_loss(self.discriminator["B"](fake_b))
               + self.loss.generator_loss(self.discriminator["A"](fake_a)))
        cycle = cycle_consistency_loss(x, f(fake_b), y, g(fake_a))
        loss = gan + self.lambda_cycle * cycle
        logs = {"loss/g_gan": gan.detach(), "loss/g_cycle": cycle.detach()}
        if self.lambda_identity:
            identity = identity_loss(x, f(x), y, g(y))
            loss = loss + self.lambda_identity * self.lambda_cycle * identity
            logs["loss/g_identity"] = identity.detach()
        return loss, logs

    @torch.no_grad()
    def fixed_parts(self, index: Tensor) -> list[Tensor]:
        """Grid rows A | G(A) | F(G(A)) and B | F(B) | G(F(B)) of the fixed test images ``index``, each
        (n, C, H, W) in [-1, 1]."""
        x, y = self.fixed_batch["A"][index], self.fixed_batch["B"][index]
        fake_b, fake_a = self.translate(x, "AtoB"), self.translate(y, "BtoA")
        return [x, fake_b, self.translate(fake_b, "BtoA"), y, fake_a, self.translate(fake_a, "AtoB")]

    # ----------------------------------------------------------------- checkpoint state
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint[CHECKPOINT_KEY]["image_pools"] = {k: pool.state_dict() for k, pool in self.pools.items()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        for k, state in (checkpoint[CHECKPOINT_KEY].get("image_pools") or {}).items():
            self.pools[k].load_state_dict(state)
