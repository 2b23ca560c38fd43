"""Throughput levers, each measured alone as a ratio against the same baseline in one run: images/s of DCGAN
training on real MNIST through our GAN module in a real ``pl.Trainer`` (CSV logger, no metrics or checkpoints),
from the same initialisation and the same MNISTDataModule order.

The baseline has every lever off: the worker DataLoader (``data.num_workers=2``), fp32, ``cudnn.benchmark`` off,
Adam's default (foreach) kernels, gradients zero-filled (``zero_grad(set_to_none=False)``), a logged step and a
NaN-guard host read (a device synchronisation) on every generator step, NCHW, eager. The levers:

* ``workers0``: the DataLoader in the main process (``data.num_workers=0``);
* ``on_device``: the split kept on the device as uint8, batched by index there (``data.on_device=true``);
* ``cudnn_benchmark``: ``torch.backends.cudnn.benchmark`` (Lightning's ``Trainer(benchmark=True)``; CUDA only);
* ``fused_adam``: ``torch.optim.Adam(fused=True)``;
* ``set_to_none``: ``zero_grad(set_to_none=True)``, the framework's choice;
* ``sync_cadence``: log and read the NaN guard every 50 generator steps, the framework's defaults
  (``trainer.log_every_n_steps``, ``callbacks.nan_guard.check_every_n_g_steps``);
* ``channels_last``, ``compile``: ``callbacks.performance`` (G and D compiled with inductor).

Runs alternate (baseline, lever 1, lever 2, ..., baseline, ...) so drift in the machine's load hits all alike;
images/s is timed after ``--warmup`` batches (worker start-up and compilation excluded) and the best run of each is
reported with its ratio to the baseline's best.

    python benchmarks/levers.py [--device cpu|cuda] [--levers workers0,on_device,...] [--image-size 28]
        [--batch-size 64] [--base-width 64] [--steps 60] [--warmup 10] [--repeats 2] [--precision 32-true]

Environment: ``GAN_DATA_DIR`` (MNIST/raw), ``GAN_CACHE_DIR``.
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
from pytorch_lightning.loggers import CSVLogger  # noqa: E402

from step_throughput import BatchTimer, images_per_s  # noqa: E402
from time_to_quality import build_nets  # noqa: E402

from gan_lightning.callbacks import NaNGuard, PerformanceOptions  # noqa: E402
from gan_lightning.data.vision import MNISTDataModule  # noqa: E402
from gan_lightning.losses import NonSaturatingLoss  # noqa: E402
from gan_lightning.models import GAN  # noqa: E402

# Each lever's settings on top of the baseline (every lever off).
BASELINE: dict[str, Any] = {"num_workers": 2, "on_device": False, "benchmark": False, "fused": False,
                            "set_to_none": False, "every": 1, "channels_last": False, "compile": False}
LEVERS: dict[str, dict[str, Any]] = {
    "workers0": {"num_workers": 0},
    "on_device": {"num_workers": 0, "on_device": True},
    "cudnn_benchmark": {"benchmark": True},
    "fused_adam": {"fused": True},
    "set_to_none": {"set_to_none": True},
    "sync_cadence": {"every": 50},
    "channels_last": {"channels_last": True},
    "compile": {"compile": True},
}
CUDA_ONLY = {"cudnn_benchmark"}


class ZeroFilledGAN(GAN):
    """Our GAN with gradients zero-filled instead of freed between steps (the ``set_to_none`` lever off)."""

    def _step(self, optimizer, loss) -> None:
        optimizer.zero_grad(set_to_none=False)
        self.manual_backward(loss)
        optimizer.step()


def run(settings: dict[str, Any], g, d, args, device: torch.device) -> float:
    """Images/s of one training run of ``args.warmup + args.steps`` generator steps with ``settings``."""
    dm = MNISTDataModule(data_dir=args.data_dir, cache_dir=args.cache_dir, image_size=args.image_size,
                         batch_size=args.batch_size, seed=args.seed, num_workers=settings["num_workers"],
                         on_device=settings["on_device"])
    adam = functools.partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999), fused=settings["fused"] or None)
    cls = GAN if settings["set_to_none"] else ZeroFilledGAN
    module = cls(copy.deepcopy(g), copy.deepcopy(d), NonSaturatingLoss(), adam, adam)
    timer = BatchTimer()
    callbacks = [timer, NaNGuard(check_every_n_g_steps=settings["every"]),
                 PerformanceOptions(channels_last=settings["channels_last"], compile=settings["compile"])]
    with tempfile.TemporaryDirectory() as logs:
        trainer = pl.Trainer(accelerator=device.type, devices=1, max_epochs=-1,
                             max_steps=(args.warmup + args.steps) * module.optimizer_steps_per_g_step,
                             logger=CSVLogger(logs), log_every_n_steps=settings["every"],
                             benchmark=settings["benchmark"], enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, callbacks=callbacks, precision=args.precision,
                             num_sanity_val_steps=0, limit_val_batches=0, use_distributed_sampler=False)
        torch.manual_seed(args.seed)
        trainer.fit(module, datamodule=dm)
    return images_per_s(timer.times, args.warmup, args.batch_size)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--levers", default=None, help=f"comma-separated, of {', '.join(LEVERS)} (default: all that "
                        "apply to the device)")
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--base-width", type=int, default=64)
    parser.add_argument("--steps", type=int, default=60, help="timed generator steps per run")
    parser.add_argument("--warmup", type=int, default=10, help="untimed generator steps at the start of each run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    levers = args.levers.split(",") if args.levers else [k for k in LEVERS if device.type == "cuda" or k not in CUDA_ONLY]
    unknown = sorted(set(levers) - set(LEVERS))
    if unknown:
        parser.error(f"--levers: unknown {unknown}; use some of {', '.join(LEVERS)}")
    args.data_dir = os.environ.get("GAN_DATA_DIR", str(ROOT / "data"))
    args.cache_dir = os.environ.get("GAN_CACHE_DIR", str(ROOT / ".cache"))

    torch.manual_seed(args.seed)
    g, d = build_nets(args)
    load_before = os.getloadavg()[0]
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for name in ["baseline", *levers]:
            value = run({**BASELINE, **LEVERS.get(name, {})}, g, d, args, device)
            best[name] = max(best.get(name, 0.0), value)
    load_after = os.getloadavg()[0]

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name}  torch {torch.__version__}  lightning {pl.__version__}  precision {args.precision}")
    print(f"DCGAN {args.image_size} px real MNIST, base width {args.base_width}, batch {args.batch_size}; "
          f"{args.steps} timed generator steps after {args.warmup}, best of {args.repeats}")
    if device.type == "cpu":
        print(f"load average (1 min) before / after: {load_before:.2f} / {load_after:.2f} on {os.cpu_count()} cores")
    print("| lever | images/s | / baseline |\n|---|---|---|")
    for lever, value in best.items():
        print(f"| {lever} | {value:.1f} | {value / best['baseline']:.3f} |")
    return best


if __name__ == "__main__":
    main()
