"""Images/s of one DCGAN D+G step through our LightningModule vs. a plain PyTorch loop.

Both run in the same process on the same device with the same networks, batch, loss,
optimizers and in-memory data, so the ratio isolates the framework's overhead.

    python benchmarks/step_throughput.py [--image-size 32] [--batch-size 128] [--steps 50] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import functools
import time

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.losses import NonSaturatingLoss
from gan_lightning.models import GAN
from gan_lightning.nets.dcgan import DCGANDiscriminator, DCGANGenerator


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
    timed = times[warmup:]
    return (len(timed) - 1) * batch_size / (timed[-1] - timed[0])


def run_lightning(g, d, data, args, device) -> float:
    adam = functools.partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))
    model = GAN(g, d, NonSaturatingLoss(), adam, adam, n_critic=args.n_critic)
    timer = BatchTimer()
    trainer = pl.Trainer(
        accelerator=device.type, devices=1, max_steps=(args.warmup + args.steps + 1) * (args.n_critic + 1),
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[timer], precision=args.precision,
    )
    loader = DataLoader(data, batch_size=args.batch_size * args.n_critic, shuffle=False, drop_last=True)
    trainer.fit(model, loader)
    return images_per_s(timer.times, args.warmup, args.batch_size)


def run_plain(g, d, data, args, device) -> float:
    g, d = g.to(device), d.to(device)
    loss = NonSaturatingLoss()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(data, batch_size=args.batch_size * args.n_critic, shuffle=False, drop_last=True)
    times = []
    for step, (images, _) in enumerate(loader):
        if step > args.warmup + args.steps:
            break
        images = images.to(device)
        for real in images.chunk(args.n_critic):
            with torch.no_grad():
                fake = g(torch.randn(real.shape[0], g.latent_dim, device=device))
            d_loss = loss.discriminator_loss(d(real), d(fake))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        fake = g(torch.randn(real.shape[0], g.latent_dim, device=device))
        g_loss = loss.generator_loss(d(fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        sync(device)
        times.append(time.perf_counter())
    return images_per_s(times, args.warmup, args.batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--n-critic", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30, help="timed generator steps")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each loop")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="32-true")
    args = parser.parse_args()
    device = torch.device(args.device)

    torch.manual_seed(0)
    g = DCGANGenerator(latent_dim=100, channels=args.channels, image_size=args.image_size)
    d = DCGANDiscriminator(channels=args.channels, image_size=args.image_size)
    n = (args.warmup + args.steps + 2) * args.batch_size * args.n_critic
    data = TensorDataset(torch.rand(n, args.channels, args.image_size, args.image_size) * 2 - 1, torch.zeros(n, dtype=torch.long))

    results: dict[str, list[float]] = {"lightning": [], "plain": []}
    for _ in range(args.repeats):  # alternate so drift (thermal, other load) hits both alike
        results["plain"].append(run_plain(copy.deepcopy(g), copy.deepcopy(d), data, args, device))
        results["lightning"].append(run_lightning(copy.deepcopy(g), copy.deepcopy(d), data, args, device))
    ours, plain = max(results["lightning"]), max(results["plain"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name}  torch {torch.__version__}  lightning {pl.__version__}")
    print(f"DCGAN {args.image_size}x{args.image_size}x{args.channels}, batch {args.batch_size}, n_critic {args.n_critic}, "
          f"{args.steps} timed steps, best of {args.repeats}")
    print(f"plain PyTorch : {plain:9.1f} images/s  (runs: {', '.join(f'{v:.1f}' for v in results['plain'])})")
    print(f"gan_lightning : {ours:9.1f} images/s  (runs: {', '.join(f'{v:.1f}' for v in results['lightning'])})")
    print(f"ratio ours/plain: {ours / plain:.3f}")


if __name__ == "__main__":
    main()
