"""Time to quality: wall time and generator steps for DCGAN on MNIST to reach a domain-FID threshold, ours against a
plain PyTorch loop with the same nets (deep copies of one initialisation), optimizers, loss, precision and data
(the same MNISTDataModule, so the same order), in the same process. The datamodule keeps MNIST in memory
(``data.on_device=auto``): ours batches it on the training device, the plain loop, which has no Trainer, in host
memory with a copy of each batch to the device.

Threshold: ``--factor`` (default 3) times the real-vs-real floor at N = ``--num-samples`` (default 2000): the domain
FID of N evenly spaced MNIST training images against N test images, the reference the framework logs as
``metrics/domain_fid_real``. FID is ``metrics/domain_fid`` of N samples against N test images, through the
framework's own metric code (``gan_lightning.callbacks.EvaluationCallback``, domain extractor = the MNIST
classifier at ``--classifier``), every ``--eval-every`` generator steps and before the first, in both loops.

Ours is timed from just before ``trainer.fit`` to the end of the first evaluation under the threshold, metric
evaluations included (their share of the run is printed); the plain loop's clock stops during its evaluations, so
the ratio ours / plain charges the framework for every evaluation it makes. Ours runs first (``--plain-first``: the
plain loop does, to see the drift of a long sequential measurement); the first pays the one-time real-statistics
cost (the other then reads them from the cache).

    python benchmarks/time_to_quality.py --classifier .cache/classifiers/mnist_32.pt [--device cuda]
        [--precision 32-true] [--factor 3] [--num-samples 2000] [--eval-every 250] [--max-g-steps 20000]
        [--image-size 32] [--batch-size 128] [--base-width 64] [--num-workers 0] [--seed 0] [--plain-first]
        [--plain-channels-last]

The classifier: ``python -m gan_lightning.train_classifier data=mnist data.image_size=32`` writes it (a training
run of experiment=dcgan_mnist does too, on first use). Environment: ``GAN_DATA_DIR`` (MNIST/raw), ``GAN_CACHE_DIR``.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from step_throughput import PlainPrecision, adam_factory, frozen, sync  # noqa: E402

from gan_lightning.callbacks import EvaluationCallback  # noqa: E402
from gan_lightning.callbacks.evaluation import build_evaluators  # noqa: E402
from gan_lightning.metrics.evaluator import compute_all  # noqa: E402
from gan_lightning.data.vision import MNISTDataModule  # noqa: E402
from gan_lightning.losses import NonSaturatingLoss  # noqa: E402
from gan_lightning.models import GAN  # noqa: E402
from gan_lightning.nets.dcgan import DCGANDiscriminator, DCGANGenerator  # noqa: E402
from gan_lightning.utils.config import instantiate  # noqa: E402

FID, FLOOR = "domain_fid", "domain_fid_real"


def metric_kwargs(args) -> dict[str, Any]:
    """The framework's evaluation (EvaluationCallback arguments): domain FID of ``num_samples`` samples vs as many
    test images, with the real-vs-real floor at the same N."""
    generative = {"names": ["fid"], "num_fake": args.num_samples, "num_real": args.num_samples, "real_split": "test",
                  "batch_size": min(250, args.num_samples), "seed": 1234, "reference": True}
    return {"generative": generative, "feature_extractor": "domain", "classifier_path": args.classifier,
            "cache_dir": args.cache_dir, "every_n_g_steps": args.eval_every}


class Clock:
    """Time to the threshold: ``start`` at the run's start; :meth:`record` each evaluation's FID and duration."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.start = time.perf_counter()
        self.eval_s = 0.0
        self.threshold: float | None = None
        self.floor: float | None = None
        self.reached: tuple[int, float] | None = None  # (generator step, wall s)
        self.curve: list[tuple[int, float]] = []

    def record(self, g_step: int, values: dict[str, Any], eval_s: float) -> bool:
        """Note one evaluation; True when its FID is at or under the threshold (the first such one is kept)."""
        if self.reached is not None:  # the fit's end evaluates once more after the stop: not part of the run
            return True
        self.eval_s += eval_s
        if self.threshold is None:
            self.floor = float(values[FLOOR])
            self.threshold = self.factor * self.floor
        fid = float(values[FID])
        self.curve.append((g_step, fid))
        if fid <= self.threshold and self.reached is None:
            self.reached = (g_step, time.perf_counter() - self.start)
        return self.reached is not None


class TimedEvaluation(EvaluationCallback):
    """The framework's evaluation callback, timing each evaluation and stopping the fit at the threshold."""

    def __init__(self, clock: Clock, device: torch.device, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock, self.device = clock, device

    def evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        sync(self.device)
        start = time.perf_counter()
        record = super().evaluate(trainer, pl_module)
        sync(self.device)
        if self.clock.record(record["g_step"], record, time.perf_counter() - start):
            trainer.should_stop = True
        return record


def build_nets(args) -> tuple[torch.nn.Module, torch.nn.Module]:
    return (DCGANGenerator(latent_dim=100, channels=1, image_size=args.image_size, base_width=args.base_width),
            DCGANDiscriminator(channels=1, image_size=args.image_size, base_width=args.base_width))


def default_speed_options() -> pl.Callback:
    """The framework's default ``callbacks.performance`` (what ``python -m gan_lightning.train`` runs with)."""
    return instantiate(OmegaConf.load(ROOT / "conf" / "callbacks" / "default.yaml").performance)


def build_module(g, d) -> GAN:
    return GAN(g, d, NonSaturatingLoss(), adam_factory(), adam_factory())


def datamodule(args) -> MNISTDataModule:
    dm = MNISTDataModule(data_dir=args.data_dir, cache_dir=args.cache_dir, image_size=args.image_size,
                         batch_size=args.batch_size, num_workers=args.num_workers, seed=args.seed)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def run_ours(g, d, args, device: torch.device) -> Clock:
    """Our LightningModule in a real Trainer with the framework's evaluation, until the threshold or max steps."""
    module = build_module(g, d)
    dm = datamodule(args)
    clock = Clock(args.factor)
    callback = TimedEvaluation(clock, device, **metric_kwargs(args))
    trainer = pl.Trainer(accelerator=device.type, devices=1, max_epochs=-1,
                         max_steps=args.max_g_steps * module.optimizer_steps_per_g_step, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[callback, default_speed_options()], precision=args.precision,
                         num_sanity_val_steps=0, limit_val_batches=0, use_distributed_sampler=False)
    torch.manual_seed(args.seed)
    clock.start = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    return clock


def run_plain(g, d, args, device: torch.device) -> Clock:
    """The plain loop: the same D step / G step as step_throughput's, evaluated by the same metric code (through a
    GAN wrapper of the plain nets, for sampling only) with its clock stopped, until the threshold or max steps."""
    dm = datamodule(args)
    clock = Clock(args.factor)
    kwargs = metric_kwargs(args)
    del kwargs["every_n_g_steps"]  # the loop below keeps the cadence
    evaluators = build_evaluators(**kwargs)
    g, d = g.to(device), d.to(device)
    if args.plain_channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    sampler = build_module(g, d).to(device)  # shares g and d; generate() draws z as our module does
    for evaluator in evaluators.values():
        evaluator.setup(sampler, dm)
    loss, prec = NonSaturatingLoss(), PlainPrecision(args.precision, device)

    def evaluate(step: int) -> bool:
        sync(device)
        start = time.perf_counter()
        sampler.g_step = step
        values, _ = compute_all(evaluators, sampler)
        sync(device)
        return clock.record(step, values, time.perf_counter() - start)

    torch.manual_seed(args.seed)
    clock.start = time.perf_counter()
    opt_g, opt_d = adam_factory()(g.parameters()), adam_factory()(d.parameters())
    step, epoch = 0, 0
    done = evaluate(0)
    while not done and step < args.max_g_steps:
        loader = dm.train_dataloader()
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        for real, _ in loader:
            real = real.to(device, non_blocking=True)
            with prec.autocast():
                with torch.no_grad():
                    fake = g(torch.randn(real.shape[0], g.latent_dim, device=device))
                d_loss = loss.discriminator_loss(d(real), d(fake))
            prec.step(opt_d, d_loss)
            with frozen(d), prec.autocast():
                g_loss = loss.generator_loss(d(g(torch.randn(real.shape[0], g.latent_dim, device=device))))
            prec.step(opt_g, g_loss)
            step += 1
            if step % args.eval_every == 0 or step == args.max_g_steps:
                done = evaluate(step)
            if done or step >= args.max_g_steps:
                break
        epoch += 1
    if clock.reached is not None:  # the plain loop's time excludes its evaluations
        clock.reached = (clock.reached[0], clock.reached[1] - clock.eval_s)
    return clock


def summary(name: str, clock: Clock, max_g_steps: int) -> str:
    if clock.reached is None:
        return f"{name:13s}: threshold not reached in {max_g_steps} generator steps (last FID {clock.curve[-1][1]:.3g})"
    step, wall = clock.reached
    return f"{name:13s}: {step} generator steps, {wall:.1f} s (evaluations {clock.eval_s:.1f} s)"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classifier", required=True, help="the MNIST domain classifier (mnist_<image_size>.pt)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="32-true", help="32-true, bf16-mixed or 16-mixed (both loops)")
    parser.add_argument("--factor", type=float, default=3.0, help="threshold = factor x the real-vs-real FID floor")
    parser.add_argument("--num-samples", type=int, default=2000, help="N: samples and real images per FID")
    parser.add_argument("--eval-every", type=int, default=250, help="generator steps between evaluations")
    parser.add_argument("--max-g-steps", type=int, default=20000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--base-width", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plain-first", action="store_true", help="run the plain loop before ours")
    parser.add_argument("--plain-channels-last", action="store_true", help="NHWC nets in the plain loop too")
    args = parser.parse_args(argv)
    if not Path(args.classifier).is_file():
        parser.error(f"--classifier {args.classifier}: no such file; write it with python -m "
                     f"gan_lightning.train_classifier data=mnist data.image_size={args.image_size}")
    args.data_dir = os.environ.get("GAN_DATA_DIR", str(ROOT / "data"))
    args.cache_dir = os.environ.get("GAN_CACHE_DIR", str(ROOT / ".cache"))
    device = torch.device(args.device)

    torch.manual_seed(args.seed)
    g, d = build_nets(args)
    load_before = os.getloadavg()[0]
    if args.plain_first:
        plain = run_plain(copy.deepcopy(g), copy.deepcopy(d), args, device)
        ours = run_ours(copy.deepcopy(g), copy.deepcopy(d), args, device)
    else:
        ours = run_ours(copy.deepcopy(g), copy.deepcopy(d), args, device)
        plain = run_plain(copy.deepcopy(g), copy.deepcopy(d), args, device)
    load_after = os.getloadavg()[0]

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name}  torch {torch.__version__}  lightning {pl.__version__}  precision {args.precision}")
    print(f"order: {'plain, then ours' if args.plain_first else 'ours, then plain'}; channels_last: ours "
          f"{default_speed_options().channels_last} (the framework's default), plain {args.plain_channels_last}")
    print(f"DCGAN {args.image_size} px MNIST, base width {args.base_width}, batch {args.batch_size}, Adam(2e-4, 0.5), "
          f"non-saturating; FID every {args.eval_every} generator steps, N = {args.num_samples}")
    print(f"threshold: {args.factor:g} x real-vs-real floor {ours.floor:.4g} = {ours.threshold:.4g} (domain FID, "
          f"classifier {args.classifier})")
    if device.type == "cpu":
        print(f"load average (1 min) before / after: {load_before:.2f} / {load_after:.2f} on {os.cpu_count()} cores")
    print(summary("gan_lightning", ours, args.max_g_steps) + " (evaluations included)")
    print(summary("plain PyTorch", plain, args.max_g_steps) + " (evaluations excluded)")
    result: dict[str, Any] = {"threshold": ours.threshold, "floor": ours.floor, "ours": ours.reached,
                              "plain": plain.reached, "curve_ours": ours.curve, "curve_plain": plain.curve}
    if ours.reached and plain.reached:
        result["time_ratio"] = ours.reached[1] / max(plain.reached[1], 1e-9)  # reached before any training: ~0
        result["eval_share"] = ours.eval_s / ours.reached[1]
        print(f"time to quality ours / plain: {result['time_ratio']:.3f}; generator steps ours / plain: "
              f"{ours.reached[0] / max(plain.reached[0], 1):.3f}; metric evaluations: {100 * result['eval_share']:.1f} % "
              "of our run")
    return result


if __name__ == "__main__":
    main()
