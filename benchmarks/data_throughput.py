"""Images/s of DCGAN training on real MNIST by data path, in one process: the worker DataLoader
(``data.num_workers=2``), the main-process DataLoader (``data.num_workers=0``) and the split kept on the device
(``data.on_device=true``, gan_lightning/data/on_device.py).

Each variant trains our GAN module (DCGAN G / D, non-saturating loss, Adam(2e-4, 0.5)) in a real ``pl.Trainer``
(metrics, checkpoints, logger off) from the same initialisation on the same MNISTDataModule order; only the data
path differs. Runs alternate (workers2, workers0, on_device, workers2, ...) so drift in the machine's load hits all
alike; images/s is timed after ``--warmup`` batches (worker start-up excluded) and the best run of each is reported,
with the ratio to the worker DataLoader.

    python benchmarks/data_throughput.py [--device cpu|cuda] [--image-size 28] [--batch-size 64] [--base-width 64]
        [--steps 60] [--warmup 10] [--repeats 2] [--precision 32-true] [--variants workers2,workers0,on_device]

Environment: ``GAN_DATA_DIR`` (MNIST/raw), ``GAN_CACHE_DIR``.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

from step_throughput import BatchTimer, images_per_s  # noqa: E402
from time_to_quality import build_module, build_nets  # noqa: E402

from gan_lightning.data.vision import MNISTDataModule  # noqa: E402

VARIANTS: dict[str, dict[str, Any]] = {
    "workers2": {"num_workers": 2, "on_device": False},
    "workers0": {"num_workers": 0, "on_device": False},
    "on_device": {"num_workers": 0, "on_device": True},
}


def run(variant: str, g, d, args, device: torch.device) -> float:
    """Images/s of one training run of ``args.warmup + args.steps`` generator steps through ``variant``."""
    dm = MNISTDataModule(data_dir=args.data_dir, cache_dir=args.cache_dir, image_size=args.image_size,
                         batch_size=args.batch_size, seed=args.seed, **VARIANTS[variant])
    module = build_module(copy.deepcopy(g), copy.deepcopy(d))
    timer = BatchTimer()
    trainer = pl.Trainer(accelerator=device.type, devices=1, max_epochs=-1,
                         max_steps=(args.warmup + args.steps) * module.optimizer_steps_per_g_step, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[timer], precision=args.precision, num_sanity_val_steps=0, limit_val_batches=0,
                         use_distributed_sampler=False)
    torch.manual_seed(args.seed)
    trainer.fit(module, datamodule=dm)
    return images_per_s(timer.times, args.warmup, args.batch_size)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--base-width", type=int, default=64)
    parser.add_argument("--steps", type=int, default=60, help="timed generator steps per run")
    parser.add_argument("--warmup", type=int, default=10, help="untimed generator steps at the start of each run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"--variants: unknown {unknown}; use some of {', '.join(VARIANTS)}")
    args.data_dir = os.environ.get("GAN_DATA_DIR", str(ROOT / "data"))
    args.cache_dir = os.environ.get("GAN_CACHE_DIR", str(ROOT / ".cache"))
    device = torch.device(args.device)

    torch.manual_seed(args.seed)
    g, d = build_nets(args)
    load_before = os.getloadavg()[0]
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for variant in variants:
            best[variant] = max(best.get(variant, 0.0), run(variant, g, d, args, device))
    load_after = os.getloadavg()[0]

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name}  torch {torch.__version__}  lightning {pl.__version__}  precision {args.precision}")
    print(f"DCGAN {args.image_size} px real MNIST, base width {args.base_width}, batch {args.batch_size}; "
          f"{args.steps} timed steps after {args.warmup}, best of {args.repeats}")
    if device.type == "cpu":
        print(f"load average (1 min) before / after: {load_before:.2f} / {load_after:.2f} on {os.cpu_count()} cores")
    reference = best.get("workers2")
    print("| data path | images/s | / workers2 |\n|---|---|---|")
    for variant, value in best.items():
        ratio = f"{value / reference:.2f}" if reference else "–"
        print(f"| {variant} | {value:.1f} | {ratio} |")
    return best


if __name__ == "__main__":
    main()
