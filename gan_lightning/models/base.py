"""The adversarial training loop shared by every model: n_critic D steps, then one G step.

Subclasses supply the model-specific losses (`discriminator_loss`, `generator_loss`) and the sample grid's
fixed items (`fixed_parts`). Everything else lives here once: manual optimization, the generator-step counter,
EMA, scheduler stepping, and RNG state in checkpoints. Drawing from z (the fixed latent batch, `generate`) is
`gan_lightning.models.z_sampling.ZSamplingModule`'s; translating images is
`gan_lightning.models.translation.TranslationModule`'s.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from gan_lightning.data.base import split_steps
from gan_lightning.losses import AdversarialLoss
from gan_lightning.models.classifier_state import init_images, maybe_data_dependent_init
from gan_lightning.nets.layers import max_norm_

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]

CHECKPOINT_KEY = "gan_lightning"


def check_model_class(state: dict, builds: str, ckpt_path: str | None = None) -> None:
    """Refuse to resume a checkpoint written by another model class than the one this run builds. ``state`` is the
    checkpoint's ``"gan_lightning"`` entry, ``builds`` the configured ``model._target_``; classes are compared by
    name, so a checkpoint survives a module being moved. A checkpoint without a stored config passes.

    Raises:
        ValueError: one line naming the checkpoint's model class and the configured one.
    """
    written_by = ((state.get("config") or {}).get("model") or {}).get("_target_", "")
    name, configured = written_by.rsplit(".", 1)[-1], builds.rsplit(".", 1)[-1]
    if written_by and builds and name != configured:
        raise ValueError(f"ckpt_path{'' if ckpt_path is None else '=' + str(ckpt_path)} holds a {name} checkpoint "
                         f"({written_by}), but this run builds {configured} (model._target_={builds}): pick the model "
                         "(and experiment) it was trained with.")


def check_optimizer(key: str, factory: Any) -> None:
    """Refuse a learning rate that is not positive in an optimizer factory (``functools.partial``), naming ``key``.

    Raises:
        ValueError: ``lr <= 0`` (or NaN).
    """
    lr = getattr(factory, "keywords", {}).get("lr")
    if lr is not None and not lr > 0:
        raise ValueError(f"{key}.lr must be > 0, got {lr!r}; e.g. {key}.lr=2e-4 (Radford 2015).")


class RunStateModule(pl.LightningModule):
    """What every gan_lightning module keeps across a resume: the generator-step counter ``g_step`` (the axis of
    every cadence and log), the resolved run config (so ``load_module`` can rebuild the model), the torch /
    CUDA / numpy / python RNG states and the W&B run id, all under the checkpoint key ``"gan_lightning"``.

    Raises:
        KeyError: when loading a checkpoint without that entry (not written by gan_lightning).
        ValueError: when loading a checkpoint of another model class (:func:`check_model_class`).
    """

    # Names (``AdversarialLoss.name``, i.e. conf/loss/<name>.yaml) of the adversarial losses the model trains with;
    # empty for a model without an adversarial loss, to which `build_model` passes no ``loss``.
    supported_losses: tuple[str, ...] = ()
    # True only for models whose generator draws the class it is given (G(z, y)): class grids and class accuracy
    # need it. Having ``num_classes`` is not enough (SGAN's and CatGAN's D classify, their G ignores labels).
    class_conditional: bool = False

    def __init__(self) -> None:
        super().__init__()
        # Generator steps done. Lightning's global_step counts every optimizer step
        # (n_critic + 1 per batch), so schedules and cadences key on this instead.
        self.g_step = 0
        self.run_config: dict | None = None
        self.last_losses: dict[str, Tensor] = {}  # read by the NaN guard
        self._pending_rng: dict | None = None

    @property
    def optimizer_steps_per_g_step(self) -> int:
        """Lightning's ``global_step`` advances once per optimizer step: this many per generator step."""
        return 1

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # update: callbacks.tracking.WandbTracking (run before this hook) adds the W&B run id here
        checkpoint.setdefault(CHECKPOINT_KEY, {}).update(
            {"g_step": self.g_step, "rng": _capture_rng_state(), "config": self.run_config})

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(CHECKPOINT_KEY)
        if state is None:
            raise KeyError(
                f"Checkpoint has no '{CHECKPOINT_KEY}' entry: it was not written by gan_lightning."
            )
        check_model_class(state, f"{type(self).__module__}.{type(self).__qualname__}")
        self.g_step = int(state["g_step"])
        self.run_config = state.get("config")
        # Applied in on_train_start: later than Lightning's own restore steps, right before the
        # first training batch, so the resumed run draws the same random numbers.
        self._pending_rng = state.get("rng")

    def on_train_start(self) -> None:
        if self._pending_rng is not None:
            _restore_rng_state(self._pending_rng)
            self._pending_rng = None
        if self.trainer.world_size > 1:
            _split_rng_by_rank(self.global_rank)


class AdversarialModule(RunStateModule):
    """Base LightningModule for GANs trained by alternating (or simultaneous) D and G steps (manual optimization).

    Each training batch runs `n_critic` discriminator steps, then one generator step
    (Goodfellow et al. 2014, Algorithm 1, where n_critic is k; Gulrajani et al. 2017, Algorithm 1).
    The loader delivers `n_critic * batch_size` real images per batch (`data.batches_per_step`),
    and each D step gets its own disjoint minibatch, as in both algorithms.

    Args:
        generator: the generator network (its input is the subclass's: z, or an image).
        discriminator: maps images (N, C, H, W) to logits.
        loss: the adversarial objective (see `gan_lightning.losses`).
        optimizer_g, optimizer_d: factories called with the parameters, e.g.
            `functools.partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))`.
        scheduler_g, scheduler_d: optional factories called with the optimizer.
        scheduler_interval: "g_step" steps schedulers after every generator step, "epoch" after
            every epoch.
        n_critic: discriminator steps per generator step (>= 1).
        gradient_clip_val: clip each network's gradient norm to this value (None: no clipping).
        ema_decay: decay of an exponential moving average of G's weights (None: no EMA). When
            enabled, the EMA generator is used for sample grids, metrics and sampling.
        ema_start: generator step from which the EMA averages; before it the EMA copies G.
        init_batch_size: train images handed to ``data_dependent_init(images)`` of G and D, for the nets that
            define it, at the start of a fresh run (Salimans & Kingma 2016's init; Goodfellow 2014's output bias).
        update: "alternating" (Goodfellow 2014, Algorithm 1: D steps, then G's gradient at the new D) or
            "simultaneous" (both gradients at the same parameters, then both steps, as goodfeli/adversarial's
            ``AdversaryCost2.get_gradients`` does; that code also shares the generated minibatch and D's dropout
            masks between the two objectives, here each objective draws its own). Simultaneous needs
            ``n_critic == 1`` and a precision without a GradScaler (not 16-mixed: one scaler update between the two
            steps would unscale G's gradients by the wrong factor).
        d_max_norm, g_max_norm: the max-norm constraint: after every D (G) step, each unit's incoming weight
            vector in D (G) is rescaled to at most this L2 norm (:func:`~gan_lightning.nets.layers.max_norm_`;
            pylearn2's ``max_col_norm``); None: no constraint.

    Losses: each model lists the ones it trains with in ``supported_losses`` (here the four without a regularizer)
    and sets ``applies_loss_regularizer`` when its D loss adds ``loss.regularizer`` (WGAN-GP's gradient penalty);
    the constructor refuses any other loss (:meth:`check_loss`).

    Sample grids: a subclass keeps ``num_fixed_samples`` fixed items and draws their images in
    :meth:`fixed_parts`; :meth:`generate_fixed` assembles the grid (``callbacks.samples.SampleGridCallback``).

    Raises:
        ValueError: if `n_critic < 1`, `ema_decay` is outside [0, 1), `init_batch_size < 2`, `update` is not one
            of the two or is "simultaneous" with `n_critic > 1`, `d_max_norm` or `g_max_norm` is not
            > 0, or the loss is not supported (:meth:`check_loss`);
            at fit start, for `update="simultaneous"` under a precision with a GradScaler (16-mixed on a GPU).
    """

    supported_losses = ("minimax", "non_saturating", "lsgan", "hinge")
    # Whether discriminator_loss adds loss.regularizer(...); a model that does not must refuse a loss that has one.
    applies_loss_regularizer = False
    # Why other losses are refused and how to fix it, appended to check_loss's error ("" : the allowed list only).
    loss_hint = ""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: AdversarialLoss,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        scheduler_g: SchedulerFactory | None = None,
        scheduler_d: SchedulerFactory | None = None,
        scheduler_interval: str = "g_step",
        n_critic: int = 1,
        gradient_clip_val: float | None = None,
        ema_decay: float | None = None,
        ema_start: int = 0,
        init_batch_size: int = 500,
        update: str = "alternating",
        d_max_norm: float | None = None,
        g_max_norm: float | None = None,
    ) -> None:
        super().__init__()
        self.check_loss(loss)
        if not isinstance(n_critic, int) or n_critic < 1:
            raise ValueError(f"model.n_critic must be an integer >= 1, got {n_critic!r}.")
        if not isinstance(init_batch_size, int) or init_batch_size < 2:
            raise ValueError(f"model.init_batch_size must be an integer >= 2, got {init_batch_size!r}; e.g. 500.")
        self.init_batch_size = init_batch_size
        if update not in ("alternating", "simultaneous"):
            raise ValueError(f"model.update must be 'alternating' or 'simultaneous', got {update!r}.")
        if update == "simultaneous" and n_critic != 1:
            raise ValueError(f"model.update=simultaneous takes one D step per G step, got model.n_critic={n_critic}; "
                             "set model.n_critic=1 or model.update=alternating.")
        self.update = update
        for key, value in (("d_max_norm", d_max_norm), ("g_max_norm", g_max_norm)):
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"model.{key} must be > 0 or null, got {value!r}; e.g. 1.9365 (pylearn2's "
                                 "max_col_norm in Goodfellow et al. 2013's maxout MNIST setup).")
        self.d_max_norm, self.g_max_norm = d_max_norm, g_max_norm
        if ema_decay is not None and not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"model.ema_decay must be in [0, 1) or null, got {ema_decay!r}.")
        if scheduler_interval not in ("g_step", "epoch"):
            raise ValueError(
                f"model.scheduler_interval must be 'g_step' or 'epoch', got {scheduler_interval!r}."
            )
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        check_optimizer("model.optimizer_g", optimizer_g)
        check_optimizer("model.optimizer_d", optimizer_d)
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.scheduler_g, self.scheduler_d = scheduler_g, scheduler_d
        self.scheduler_interval = scheduler_interval
        self.n_critic = n_critic
        self.gradient_clip_val = gradient_clip_val
        self.ema_decay = ema_decay
        self.ema_start = ema_start

        self.generator_ema: nn.Module | None = None
        if ema_decay is not None:
            self.generator_ema = copy.deepcopy(generator).requires_grad_(False)

    @classmethod
    def check_loss(cls, loss: AdversarialLoss) -> None:
        """Refuse an adversarial loss the model does not train with: one whose ``name`` is not in
        ``supported_losses``, or one with a D regularizer (``loss.has_regularizer``) that the model's D loss does
        not add (``applies_loss_regularizer`` False), which would be silently ignored.

        Raises:
            ValueError: one line naming ``loss=<name>`` and the allowed choices.
        """
        name = getattr(loss, "name", type(loss).__name__)
        allowed = ", ".join(f"loss={n}" for n in cls.supported_losses)
        hint = f"; {cls.loss_hint}" if cls.loss_hint else ""
        if name not in cls.supported_losses:
            raise ValueError(f"loss={name} is not supported by {cls.__name__} (allowed: {allowed}){hint}.")
        if getattr(loss, "has_regularizer", False) and not cls.applies_loss_regularizer:
            raise ValueError(f"loss={name} ({type(loss).__name__}) adds a regularizer to the D loss that "
                             f"{cls.__name__} does not apply; use a loss without one (allowed: {allowed}){hint}.")

    def on_train_start(self) -> None:
        # A fresh run only (a resume restores the initialized weights), before the base class splits the RNG by
        # DDP rank: every rank computes the same init.
        nets = [n for n in (self.generator, self.discriminator) if hasattr(n, "data_dependent_init")]
        if nets and self.g_step == 0 and self._pending_rng is None:
            datamodule = self.trainer.datamodule
            images = init_images(datamodule.train_set, self.init_batch_size, datamodule.seed).to(self.device)
            for net in nets:
                maybe_data_dependent_init(net, images)
            if self.generator_ema is not None:  # the average starts from the initialized G
                self.generator_ema.load_state_dict(self.generator.state_dict())
        super().on_train_start()

    # ----------------------------------------------------------------- model-specific hooks
    # Whether G draws from z (`ZSamplingModule`: generate(n), FID / IS / KID); False here and for image-to-image
    # models, whose generators take an image (their noise is dropout).
    uses_latent = False

    @property
    def uses_discriminator(self) -> bool:
        """Whether the D steps run; False for objectives without an adversarial term (e.g. Pix2Pix L1 only)."""
        return True

    @property
    def optimizer_steps_per_g_step(self) -> int:
        return (self.n_critic if self.uses_discriminator else 0) + 1

    def labels_required(self) -> tuple[str, str] | None:
        """``(why the model needs class labels, what to use instead)`` for error messages, or None for models that
        train on unlabeled images. Here: a ``class_conditional`` model needs them, another does not."""
        if self.class_conditional:
            return ("draws the class it is given and trains on class labels",
                    "use a labeled dataset (data=mnist, fashion_mnist or cifar10) or an unconditional model (model=dcgan)")
        return None

    def check_data(self, datamodule: Any) -> None:
        """Refuse unlabeled data (``datamodule.labeled`` False) for a model that needs class labels: its placeholder
        labels (all 0) would train without an error and without meaning. Called by ``train`` before the Trainer
        is built and again at fit setup.

        A ``class_conditional`` model also refuses data with another number of classes than its ``num_classes``.

        Raises:
            ValueError: one line naming the model, the data and what to use instead.
        """
        name = getattr(datamodule, "name", type(datamodule).__name__)
        need = self.labels_required()
        if need and getattr(datamodule, "labeled", True) is False:
            raise ValueError(f"{type(self).__name__} {need[0]}, but data {name} has no class labels: {need[1]}.")
        k = getattr(datamodule, "num_classes", None)
        if self.class_conditional and k is not None and k != self.num_classes:
            raise ValueError(f"model.num_classes={self.num_classes} but the data ({name}) has {k} classes: "
                             f"set model.num_classes={k}.")

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.check_data(getattr(self.trainer, "datamodule", None))
            if self.update == "simultaneous" and getattr(self.trainer.precision_plugin, "scaler", None) is not None:
                raise ValueError(f"model.update=simultaneous cannot run under trainer.precision={self.trainer.precision}"
                                 " with a GradScaler (it would unscale G's gradients by D's updated scale): use "
                                 "trainer.precision=bf16-mixed or 32.")

    def _constrain(self, net: nn.Module, max_norm: float | None) -> None:
        if max_norm is not None:
            max_norm_(net, max_norm)

    def after_discriminator_step(self) -> None:
        """Called after every D optimizer step (e.g. to update an average of D's parameters); nothing here."""

    def split_batch(self, batch: Any) -> list[Any]:
        """Split a loader batch into `n_critic` disjoint D minibatches; the G step reuses the last.

        The default takes `(images, labels)` with `n_critic * batch_size` rows. Models with other
        batch structures (a labeled and an unlabeled stream, paired images) override this.

        Raises:
            ValueError: if the batch cannot be split evenly.
        """
        images, labels = batch
        return split_steps((images, labels), self.n_critic)

    def discriminator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """Loss of one D step on one minibatch from `split_batch`; returns (loss, values to log)."""
        raise NotImplementedError

    def generator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """Loss of one G step; `batch` is the last D minibatch (for its size and labels)."""
        raise NotImplementedError

    def adversarial_d_loss(self, real_logits: Tensor, fake_logits: Tensor, critic: Callable[[Tensor], Tensor],
                           real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The configured loss's D term on D's real / fake logits (any shape, e.g. PatchGAN maps), the mean scores it
        gives them (``d/real_score``, ``d/fake_score``), plus the loss's regularizer when it has one: WGAN-GP's
        gradient penalty of ``critic`` (images -> logits) at interpolates of ``real`` and ``fake`` (Gulrajani 2017,
        eq. 3), logged as ``loss/gp``. Returns (loss, values to log)."""
        loss = self.loss.discriminator_loss(real_logits, fake_logits)
        logs = {
            "d/real_score": self.loss.score(real_logits.detach()).mean(),
            "d/fake_score": self.loss.score(fake_logits.detach()).mean(),
        }
        penalty = self.loss.regularizer(critic, real, fake)
        if penalty is not None:
            loss = loss + penalty
            logs["loss/gp"] = penalty.detach()
        return loss, logs

    # ----------------------------------------------------------------- sample grids
    @property
    def sampling_generator(self) -> nn.Module:
        """The network used for samples and metrics: the EMA generator when enabled."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    @property
    def num_fixed_samples(self) -> int:
        """Fixed items in the sample grid (fixed latents, or fixed test pairs); subclasses define it."""
        raise NotImplementedError

    @property
    def sample_grid_nrow(self) -> int | None:
        """Images per row of the sample grid; None leaves it to ``callbacks.sample_grid.nrow``."""
        return None

    def fixed_parts(self, index: Tensor) -> list[Tensor]:
        """The sample grid's images of the fixed items ``index`` (a 1-D index tensor), one (len(index), C, H, W)
        tensor in [-1, 1] per kind of image. Lets DDP ranks draw a share each; subclasses define it."""
        raise NotImplementedError

    def grid_from_parts(self, parts: list[Tensor]) -> Tensor:
        """The sample grid's batch from :meth:`fixed_parts` of all items (the single part itself here)."""
        return parts[0]

    @torch.no_grad()
    def generate_fixed(self) -> Tensor:
        """The sample grid's images in [-1, 1], (M, C, H, W): :meth:`fixed_parts` of all ``num_fixed_samples``
        items, assembled by :meth:`grid_from_parts`."""
        return self.grid_from_parts(self.fixed_parts(torch.arange(self.num_fixed_samples, device=self.device)))

    # ----------------------------------------------------------------- optimization
    def configure_optimizers(self):
        opt_g = self.optimizer_g(self.generator.parameters())
        opt_d = self.optimizer_d(self.discriminator.parameters())
        schedulers = [
            factory(opt)
            for factory, opt in ((self.scheduler_g, opt_g), (self.scheduler_d, opt_d))
            if factory is not None
        ]
        return [opt_g, opt_d], schedulers

    def _backward(self, optimizer, loss: Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)  # scaled by the GradScaler under 16-mixed

    def _step(self, optimizer, loss: Tensor) -> None:
        self._backward(optimizer, loss)
        optimizer.step()  # unscales, calls on_before_optimizer_step (the clipping), then steps

    def on_before_optimizer_step(self, optimizer) -> None:
        # Here, not before optimizer.step(): under 16-mixed the gradients are unscaled by now, so the threshold
        # applies to the true norm (clipping scaled gradients is Lightning #18089).
        if self.gradient_clip_val:
            self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip_val, gradient_clip_algorithm="norm")

    def training_step(self, batch: Any, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        parts = self.split_batch(batch)
        if self.update == "simultaneous" and self.uses_discriminator:
            d_loss, d_logs, g_loss, g_logs = self._simultaneous_step(parts[-1], opt_d, opt_g)
        else:
            d_loss, d_logs, g_loss, g_logs = self._alternating_step(parts, opt_d, opt_g)

        self.g_step += 1
        self._update_ema()
        if self.scheduler_interval == "g_step":
            self._step_schedulers()

        self.last_losses = {"loss/d": d_loss.detach(), "loss/g": g_loss.detach()}
        if self._logging_step():
            logs = {**self.last_losses, **d_logs, **g_logs, "trainer/g_step": float(self.g_step)}
            self.log_dict(logs, on_step=True, on_epoch=False, batch_size=1)  # step values: no averaging

    def _alternating_step(self, parts: list[Any], opt_d, opt_g) -> tuple[Tensor, dict, Tensor, dict]:
        d_loss, d_logs = torch.zeros((), device=self.device), {}
        for part in parts if self.uses_discriminator else ():
            with self.toggled_optimizer(opt_d):
                d_loss, d_logs = self.discriminator_loss(part)
                self._step(opt_d, d_loss)
            self._constrain(self.discriminator, self.d_max_norm)
            self.after_discriminator_step()
        with self.toggled_optimizer(opt_g):
            g_loss, g_logs = self.generator_loss(parts[-1])
            self._step(opt_g, g_loss)
        self._constrain(self.generator, self.g_max_norm)
        return d_loss, d_logs, g_loss, g_logs

    def _simultaneous_step(self, part: Any, opt_d, opt_g) -> tuple[Tensor, dict, Tensor, dict]:
        # Both backward passes before either step, so G's gradient is taken at the D that D's gradient is.
        with self.toggled_optimizer(opt_d):
            d_loss, d_logs = self.discriminator_loss(part)
            self._backward(opt_d, d_loss)
        with self.toggled_optimizer(opt_g):
            g_loss, g_logs = self.generator_loss(part)
            self._backward(opt_g, g_loss)
        opt_d.step()
        opt_g.step()
        self._constrain(self.discriminator, self.d_max_norm)
        self._constrain(self.generator, self.g_max_norm)
        self.after_discriminator_step()
        return d_loss, d_logs, g_loss, g_logs

    def _logging_step(self) -> bool:
        # Loggers write every `log_every_n_steps` batches (= generator steps); calling self.log on
        # the other steps only costs time, a noticeable share of a small GPU step.
        trainer = self.trainer
        return bool(trainer.fast_dev_run) or self.g_step % max(trainer.log_every_n_steps, 1) == 0

    def on_train_epoch_end(self) -> None:
        if self.scheduler_interval == "epoch":
            self._step_schedulers()

    def _step_schedulers(self) -> None:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        idle = set() if self.uses_discriminator else {id(self.optimizers()[1].optimizer)}
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            if id(scheduler.optimizer) not in idle:  # a D that never steps (L1-only Pix2Pix) keeps its lr
                scheduler.step()

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.generator_ema is None:
            return
        decay = self.ema_decay if self.g_step > self.ema_start else 0.0
        ema_params = list(self.generator_ema.parameters())
        torch._foreach_lerp_(ema_params, list(self.generator.parameters()), 1.0 - decay)
        for ema_buffer, buffer in zip(self.generator_ema.buffers(), self.generator.buffers()):
            ema_buffer.copy_(buffer)  # BatchNorm statistics follow G


def _capture_rng_state() -> dict[str, Any]:
    """torch / CUDA / numpy / python RNG states as tensors and plain types (weights_only-safe)."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _split_rng_by_rank(rank: int) -> None:
    """Give each DDP rank its own torch / numpy / python random stream, so no two ranks draw the same z, dropout
    mask or image-pool choice: ``seed_everything`` (and a resume, which restores the checkpoint's rank-0 state on
    every rank) leave all ranks with the same state. The new seed is drawn from that shared state, so a run stays
    reproducible; a DDP resume is therefore reproducible, but not bit-identical to the uninterrupted run."""
    base = int(torch.randint(0, 2**62, (1,)).item())  # the same number on every rank
    torch.manual_seed(base + rank)  # CUDA generators included
    np.random.seed((base + rank) % 2**32)
    random.seed(base + rank)


def _restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(
        ("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
         np_state["has_gauss"], np_state["cached_gaussian"])
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
