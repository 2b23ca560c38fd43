"""Images/s of one full D+G step through our LightningModule vs. a plain PyTorch loop.

For each model both loops run in the same process on the same device with the same networks (deep copies of one
initialisation), batch, precision, losses, optimizers and in-memory data, so the ratio isolates the framework's
overhead (the LightningModule's manual optimization inside a real ``pl.Trainer``, metrics / callbacks / logger off):

* ``dcgan``: DCGAN G / D, non-saturating loss (the README's default run), on real MNIST training images when
  ``$GAN_DATA_DIR`` holds MNIST (random images otherwise; the script says which).
* ``pix2pix``: U-Net G, 70x70 PatchGAN D on (x, y), BCE-with-logits GAN loss with D's loss halved + 100 * L1
  (Isola 2017), BatchNorm, dropout 0.5.
* ``cyclegan``: two ResNet Gs (6 blocks), two 70x70 PatchGAN Ds, InstanceNorm, LSGAN (scale 1) with D's loss
  halved, cycle 10, identity 0.5 * 10, image pools of 50 (Zhu 2017).

Every loader batch is one generator step: ``n_critic`` D steps on disjoint minibatches, then one G step, in both
loops. The plain loop freezes D's parameters during the G step, as the framework (Lightning's toggled optimizer)
and the papers' reference code do. Runs alternate (plain, ours, plain, ours, ...) so drift in the machine's load
hits both alike; the best run of each is reported. Peak memory: CUDA max allocated on a GPU; on the CPU the peak
RSS of the run over the RSS at its start (Linux: the high-water mark is reset through /proc/self/clear_refs).

    python benchmarks/step_throughput.py [--model dcgan|pix2pix|cyclegan] [--image-size 32] [--batch-size 128]
        [--steps 30] [--warmup 5] [--repeats 2] [--device cpu] [--precision 32-true] [--channels-last]
        [--compile [--compile-backend inductor]] [--n-blocks 6] [--profile]

``--channels-last`` and ``--compile`` apply to both loops alike: ours through the framework's
``callbacks.performance`` (gan_lightning.callbacks.PerformanceOptions), the plain loop by the same
``nn.Module.to(memory_format=...)`` / ``nn.Module.compile`` calls on its networks.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import ctypes
import functools
import gc
import io
import os
import pstats
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from gan_lightning.callbacks.performance import PerformanceOptions
from gan_lightning.losses import LSGANLoss, NonSaturatingLoss
from gan_lightning.models import GAN
from gan_lightning.models.cyclegan import CycleGAN
from gan_lightning.models.pix2pix import Pix2Pix
from gan_lightning.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_lightning.nets.image_pool import ImagePool
from gan_lightning.nets.patchgan import PatchGANDiscriminator
from gan_lightning.nets.resnet import ResnetGenerator
from gan_lightning.nets.unet import UNetGenerator

# ===================================================================================== timing machinery (shared)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class BatchTimer(pl.Callback):
    """Wall time at the end of every training batch (after a device sync)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        sync(pl_module.device)
        self.times.append(time.perf_counter())


def images_per_s(times: list[float], warmup: int, batch_size: int) -> float:
    """Throughput over the batches after the first ``warmup``: (timed intervals * batch) / their duration."""
    timed = times[warmup:]
    if len(timed) < 2:
        raise ValueError(f"need at least warmup + 2 timed batches, got {len(times)} with warmup={warmup}")
    return (len(timed) - 1) * batch_size / (timed[-1] - timed[0])


def _proc_status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            match = re.search(rf"^{key}:\s+(\d+) kB", f.read(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


class PeakMemory:
    """Peak memory of the code run inside ``with PeakMemory(device) as mem:``; ``mem.peak_mib`` afterwards.

    CUDA: ``torch.cuda.max_memory_allocated`` (reset at entry). CPU: the process's peak RSS during the block
    minus its RSS at entry, after a ``gc`` and ``malloc_trim`` so memory freed by earlier runs is not counted as
    headroom; the peak is reset by writing 5 to ``/proc/self/clear_refs`` (Linux). Where that is not possible
    ``mem.peak_mib`` is None.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_mib: float | None = None
        self.kind = "CUDA max allocated" if device.type == "cuda" else "peak RSS delta"
        self._baseline_kib: int | None = None

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM to the current RSS
            self._baseline_kib = _proc_status_kib("VmRSS")
        except OSError:
            self._baseline_kib = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.device.type == "cuda":
            sync(self.device)
            self.peak_mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self._baseline_kib is not None:
            peak = _proc_status_kib("VmHWM")
            self.peak_mib = None if peak is None else (peak - self._baseline_kib) / 1024


class PlainPrecision:
    """What Lightning's ``precision`` flag does, for the plain loop: an autocast context for the forward passes
    and, for fp16 on CUDA, one GradScaler shared by both optimizers (updated after every optimizer step).
    ``16-mixed`` on the CPU is bf16, as in Lightning."""

    def __init__(self, precision: str, device: torch.device) -> None:
        self.scaler = None
        if precision in ("32-true", "32"):
            self.dtype = None
        elif precision == "bf16-mixed" or (precision == "16-mixed" and device.type != "cuda"):
            self.dtype = torch.bfloat16
        elif precision == "16-mixed":
            self.dtype = torch.float16
            self.scaler = torch.amp.GradScaler("cuda")
        else:
            raise ValueError(f"--precision must be 32-true, bf16-mixed or 16-mixed, got {precision!r}")
        self.device = device

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def step(self, optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()


@contextlib.contextmanager
def frozen(net: nn.Module):
    """No parameter gradients for ``net`` inside the block (the G step must not fill D's gradients)."""
    params = [p for p in net.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def run_lightning(module: pl.LightningModule, data: Dataset, args, device: torch.device) -> dict[str, Any]:
    """Train ``module`` over ``data`` in a real Trainer (no logger, checkpoints, progress bar or model summary)."""
    timer = BatchTimer()
    speed = PerformanceOptions(channels_last=args.channels_last, compile=args.compile,
                               compile_backend=args.compile_backend)
    trainer = pl.Trainer(
        accelerator=device.type, devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer, speed], precision=args.precision,
        num_sanity_val_steps=0,
    )
    loader = DataLoader(data, batch_size=args.batch_size * args.n_critic, shuffle=False, drop_last=True)
    with PeakMemory(device) as mem:
        trainer.fit(module, loader)
    return {"images_per_s": images_per_s(timer.times, args.warmup, args.batch_size), "peak_mib": mem.peak_mib,
            "memory": mem.kind}


def run_plain(step: Callable[[Any], None], data: Dataset, args, device: torch.device) -> dict[str, Any]:
    """Call ``step(batch on device)`` for every loader batch; ``step`` does the n_critic D steps and the G step."""
    loader = DataLoader(data, batch_size=args.batch_size * args.n_critic, shuffle=False, drop_last=True)
    times = []
    with PeakMemory(device) as mem:
        for batch in loader:
            if isinstance(batch, dict):
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            else:
                batch = [v.to(device, non_blocking=True) for v in batch]
            step(batch)
            sync(device)
            times.append(time.perf_counter())
    return {"images_per_s": images_per_s(times, args.warmup, args.batch_size), "peak_mib": mem.peak_mib,
            "memory": mem.kind}


def speed_options(args, *nets: nn.Module) -> None:
    """What ``callbacks.performance`` does to our module, done to the plain loop's networks (already on the device):
    channels_last weights, then ``nn.Module.compile`` of each network (each value of a ``ModuleDict``)."""
    for net in nets:
        if args.channels_last:
            net.to(memory_format=torch.channels_last)
        if args.compile:
            for sub in (net.values() if isinstance(net, nn.ModuleDict) else [net]):
                sub.compile(backend=args.compile_backend)


# ===================================================================================== the models

def adam_factory() -> Callable[..., torch.optim.Optimizer]:
    return functools.partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))


@dataclass
class Case:
    """One model: ``build`` -> (G, D); ``module(G, D)`` -> our LightningModule; ``plain(G, D)`` -> a step function
    of the plain loop (it owns its optimizers); ``data`` the in-memory dataset; ``describe`` a one-line summary."""

    describe: str
    build: Callable[[], tuple[nn.Module, nn.Module]]
    module: Callable[[nn.Module, nn.Module], pl.LightningModule]
    plain: Callable[[nn.Module, nn.Module], Callable[[Any], None]]
    data: Dataset


class PairDataset(Dataset):
    """In-memory ``{"A": x, "B": y}`` pairs, the batches of the translation datamodules."""

    def __init__(self, a: Tensor, b: Tensor) -> None:
        self.a, self.b = a, b

    def __len__(self) -> int:
        return self.a.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"A": self.a[i], "B": self.b[i]}


def num_images(args) -> int:
    # warmup + steps + 1 loader batches: `steps` timed intervals after the warm-up
    return (args.warmup + args.steps + 1) * args.batch_size * args.n_critic


def random_images(n: int, channels: int, size: int) -> Tensor:
    return torch.rand(n, channels, size, size) * 2 - 1


def mnist_images(n: int, size: int) -> Tensor | None:
    """The first ``n`` real MNIST training images at ``size`` (N, 1, size, size) in [-1, 1], read through the
    framework's datamodule from ``$GAN_DATA_DIR``; None when the data is absent (random images are timed then)."""
    data_dir = os.environ.get("GAN_DATA_DIR")
    if not data_dir or not Path(data_dir, "MNIST").is_dir():
        return None
    from gan_lightning.data.vision import MNISTDataModule

    cache = os.environ.get("GAN_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache"))
    dm = MNISTDataModule(data_dir=data_dir, cache_dir=cache, image_size=size, batch_size=1, num_workers=0)
    dm.prepare_data()
    dm.setup("fit")
    return torch.stack([dm.train_set[i % len(dm.train_set)][0] for i in range(n)])


def dcgan_case(args, device: torch.device) -> Case:
    channels = args.channels or 1
    n = num_images(args)
    real = mnist_images(n, args.image_size) if channels == 1 else None
    print(f"dcgan data: {'MNIST training images' if real is not None else 'random images (set GAN_DATA_DIR for MNIST)'}")
    images = real if real is not None else random_images(n, channels, args.image_size)
    data = TensorDataset(images, torch.zeros(n, dtype=torch.long))

    def build():
        width = args.base_width or 64
        return (DCGANGenerator(latent_dim=100, channels=channels, image_size=args.image_size, base_width=width),
                DCGANDiscriminator(channels=channels, image_size=args.image_size, base_width=width))

    def module(g, d):
        return GAN(g, d, NonSaturatingLoss(), adam_factory(), adam_factory(), n_critic=args.n_critic)

    def plain(g, d):
        g, d = g.to(device), d.to(device)
        speed_options(args, g, d)
        loss, prec = NonSaturatingLoss(), PlainPrecision(args.precision, device)
        opt_g, opt_d = adam_factory()(g.parameters()), adam_factory()(d.parameters())

        def step(batch):
            images, _ = batch
            for real in images.chunk(args.n_critic):
                with prec.autocast():
                    with torch.no_grad():
                        fake = g(torch.randn(real.shape[0], g.latent_dim, device=device))
                    d_loss = loss.discriminator_loss(d(real), d(fake))
                prec.step(opt_d, d_loss)
            with frozen(d), prec.autocast():
                fake = g(torch.randn(real.shape[0], g.latent_dim, device=device))
                g_loss = loss.generator_loss(d(fake))
            prec.step(opt_g, g_loss)

        return step

    return Case(f"DCGAN {args.image_size}x{args.image_size}x{channels}, base width {args.base_width or 64}, "
                "non-saturating loss", build, module, plain, data)


def pix2pix_case(args, device: torch.device) -> Case:
    c = args.channels or 3
    width = args.base_width or 64
    n = num_images(args)
    data = PairDataset(random_images(n, c, args.image_size), random_images(n, c, args.image_size))

    def build():
        return (UNetGenerator(c, c, image_size=args.image_size, base_width=width, norm="batch", dropout=0.5),
                PatchGANDiscriminator(2 * c, receptive_field=70, base_width=width, norm="batch"))

    def module(g, d):
        model = Pix2Pix(g, d, NonSaturatingLoss(), lambda_l1=100.0, lambda_gan=1.0, conditional_d=True,
                        d_loss_scale=0.5, optimizer_g=adam_factory(), optimizer_d=adam_factory(), n_critic=args.n_critic)
        model.fixed_batch = {"A": data.a[:1], "B": data.b[:1]}  # no datamodule to read the grid's test pairs from
        return model

    def plain(g, d):
        g, d = g.to(device), d.to(device)
        speed_options(args, g, d)
        prec = PlainPrecision(args.precision, device)
        opt_g, opt_d = adam_factory()(g.parameters()), adam_factory()(d.parameters())

        def step(batch):
            for x, y in zip(batch["A"].chunk(args.n_critic), batch["B"].chunk(args.n_critic)):
                with prec.autocast():
                    with torch.no_grad():
                        fake = g(x)
                    real_logits, fake_logits = d(torch.cat([x, y], 1)), d(torch.cat([x, fake], 1))
                    d_loss = 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                                    + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
                prec.step(opt_d, d_loss)
            with frozen(d), prec.autocast():
                fake = g(x)
                logits = d(torch.cat([x, fake], 1))
                g_loss = (F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
                          + 100.0 * F.l1_loss(fake, y))
            prec.step(opt_g, g_loss)

        return step

    return Case(f"Pix2Pix {args.image_size}x{args.image_size}x{c}, U-Net + 70x70 PatchGAN, base width {width}, "
                "BatchNorm, GAN (BCE, D halved) + 100 * L1", build, module, plain, data)


def cyclegan_case(args, device: torch.device) -> Case:
    c = args.channels or 3
    width = args.base_width or 64
    n = num_images(args)
    data = PairDataset(random_images(n, c, args.image_size), random_images(n, c, args.image_size))
    pool_size = 50

    def build():
        gen = lambda: ResnetGenerator(c, c, n_blocks=args.n_blocks, base_width=width, norm="instance")  # noqa: E731
        disc = lambda: PatchGANDiscriminator(c, receptive_field=70, base_width=width, norm="instance")  # noqa: E731
        return nn.ModuleDict({"AtoB": gen(), "BtoA": gen()}), nn.ModuleDict({"A": disc(), "B": disc()})

    def module(g, d):
        model = CycleGAN(g, d, LSGANLoss(scale=1.0), lambda_cycle=10.0, lambda_identity=0.5, pool_size=pool_size,
                         d_loss_scale=0.5, optimizer_g=adam_factory(), optimizer_d=adam_factory(), n_critic=args.n_critic)
        model.fixed_batch = {"A": data.a[:1], "B": data.b[:1]}
        return model

    def plain(g, d):
        g, d = g.to(device), d.to(device)
        speed_options(args, g, d)
        G, F_, D_a, D_b = g["AtoB"], g["BtoA"], d["A"], d["B"]
        prec = PlainPrecision(args.precision, device)
        opt_g, opt_d = adam_factory()(g.parameters()), adam_factory()(d.parameters())
        pool_a, pool_b = ImagePool(pool_size), ImagePool(pool_size)

        def d_lsgan(real_out: Tensor, fake_out: Tensor) -> Tensor:
            return 0.5 * ((real_out - 1).pow(2).mean() + fake_out.pow(2).mean())

        def step(batch):
            for x, y in zip(batch["A"].chunk(args.n_critic), batch["B"].chunk(args.n_critic)):
                with prec.autocast():
                    with torch.no_grad():
                        fake_b, fake_a = G(x), F_(y)
                    d_loss = d_lsgan(D_a(x), D_a(pool_a.query(fake_a))) + d_lsgan(D_b(y), D_b(pool_b.query(fake_b)))
                prec.step(opt_d, d_loss)
            with frozen(d), prec.autocast():
                fake_b, fake_a = G(x), F_(y)
                gan = (D_b(fake_b) - 1).pow(2).mean() + (D_a(fake_a) - 1).pow(2).mean()
                cycle = F.l1_loss(F_(fake_b), x) + F.l1_loss(G(fake_a), y)
                identity = F.l1_loss(G(y), y) + F.l1_loss(F_(x), x)
                g_loss = gan + 10.0 * cycle + 0.5 * 10.0 * identity
            prec.step(opt_g, g_loss)

        return step

    return Case(f"CycleGAN {args.image_size}x{args.image_size}x{c}, 2 ResNet-{args.n_blocks} G + 2 70x70 PatchGAN D, base width "
                f"{width}, InstanceNorm, LSGAN (D halved) + 10 cycle + 5 identity, pools of {pool_size}",
                build, module, plain, data)


CASES = {"dcgan": dcgan_case, "pix2pix": pix2pix_case, "cyclegan": cyclegan_case}


# ===================================================================================== main

def profile_lightning(case: Case, g: nn.Module, d: nn.Module, args, device: torch.device, top: int = 30) -> str:
    """cProfile of one more Lightning run (warm-up included): the functions with the most own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    run_lightning(case.module(copy.deepcopy(g), copy.deepcopy(d)), case.data, args, device)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def fmt_mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MiB"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(CASES), default="dcgan")
    parser.add_argument("--image-size", type=int, default=None, help="default: 32 (dcgan), 64 (pix2pix, cyclegan)")
    parser.add_argument("--channels", type=int, default=None, help="default: 1 (dcgan), 3 (pix2pix, cyclegan)")
    parser.add_argument("--base-width", type=int, default=None, help="G and D base width (default 64, the papers')")
    parser.add_argument("--n-blocks", type=int, default=6, help="cyclegan: residual blocks per G (paper: 9 at 256 px)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 128 (dcgan), 4 (pix2pix), 1 (cyclegan)")
    parser.add_argument("--n-critic", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30, help="timed generator steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed generator steps at the start of each run")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each loop")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="32-true", help="32-true, bf16-mixed or 16-mixed (both loops)")
    parser.add_argument("--channels-last", action="store_true", help="channels_last networks in both loops")
    parser.add_argument("--compile", action="store_true", help="torch.compile G and D in both loops")
    parser.add_argument("--compile-backend", default="inductor", help="with --compile: inductor, or aot_eager / eager")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one more Lightning run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    defaults = {"dcgan": (32, 128), "pix2pix": (64, 4), "cyclegan": (64, 1)}[args.model]
    args.image_size = args.image_size or defaults[0]
    args.batch_size = args.batch_size or defaults[1]
    device = torch.device(args.device)

    torch.manual_seed(args.seed)
    case = CASES[args.model](args, device)
    g, d = case.build()

    load_before = os.getloadavg()
    results: dict[str, list[dict[str, Any]]] = {"lightning": [], "plain": []}
    for _ in range(args.repeats):  # alternate so drift (thermal, other load) hits both alike
        torch.manual_seed(args.seed)
        results["plain"].append(run_plain(case.plain(copy.deepcopy(g), copy.deepcopy(d)), case.data, args, device))
        torch.manual_seed(args.seed)
        results["lightning"].append(run_lightning(case.module(copy.deepcopy(g), copy.deepcopy(d)), case.data, args, device))
    load_after = os.getloadavg()

    speed = {k: [r["images_per_s"] for r in v] for k, v in results.items()}
    memory = {k: [r["peak_mib"] for r in v] for k, v in results.items()}
    ours, plain = max(speed["lightning"]), max(speed["plain"])

    def peak(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return max(known) if known else None

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name}  torch {torch.__version__}  lightning {pl.__version__}  precision {args.precision}  "
          f"channels_last {args.channels_last}  compile {args.compile_backend if args.compile else False}")
    print(f"{case.describe}")
    print(f"batch {args.batch_size}, n_critic {args.n_critic}, {args.warmup} warm-up + {args.steps} timed steps per run, "
          f"best of {args.repeats} alternating runs")
    if device.type == "cpu":
        print(f"load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} cores")
    mem_kind = results["plain"][0]["memory"]
    for key, label in (("plain", "plain PyTorch"), ("lightning", "gan_lightning")):
        runs = ", ".join(f"{v:.3g}" for v in speed[key])
        mems = ", ".join(fmt_mib(v) for v in memory[key])
        print(f"{label:13s} : {max(speed[key]):9.2f} images/s  (runs: {runs})  {mem_kind}: {mems}")
    print(f"ratio ours/plain: {ours / plain:.3f}")
    if args.profile:
        print(profile_lightning(case, g, d, args, device))
    return {"ours": ours, "plain": plain, "ratio": ours / plain, "peak_mib_ours": peak(memory["lightning"]),
            "peak_mib_plain": peak(memory["plain"]), "memory": mem_kind, "device": name, "describe": case.describe}


if __name__ == "__main__":
    main()
