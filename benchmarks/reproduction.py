"""Summarise the seeds of one reproduction setting: mean +- sd of a metric per evaluation, as a markdown table.

    python benchmarks/reproduction.py outputs/repro/sgan_mnist_100/seed_* --metric metrics/test_error \
        --steps-per-epoch 599 --every 10
    python benchmarks/reproduction.py outputs/repro/gan_mnist_paper/seed_* --metric metrics/domain_is --scale 1 \
        --plot docs/figures/gan_mnist_paper_is.png

Reads each run's ``csv/metrics.csv`` (the CSV logger, the default). Rows are the generator steps every run has
reached; with ``--steps-per-epoch`` they are labelled by epoch and ``--every`` keeps every n-th epoch (and the
last common one). Values are multiplied by ``--scale`` (100, percent, by default; 1 for FID / IS). ``--plot``
also draws every run's whole curve (and the mean where all runs have a value) into a PNG.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

G_STEP = "trainer/g_step"


def read_curve(run: Path, metric: str) -> dict[int, float]:
    """``{g_step: value}`` of ``metric`` in ``run/csv/metrics.csv`` (the last value logged at a step wins)."""
    curve: dict[int, float] = {}
    with (run / "csv" / "metrics.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get(metric) and row.get(G_STEP):
                curve[int(float(row[G_STEP]))] = float(row[metric])
    return curve


def summary_rows(curves: list[dict[int, float]], steps_per_epoch: int | None, every: int) -> list[tuple]:
    """``(g_step, epoch or None, mean, sd, values)`` at the steps every curve has, thinned to every n-th epoch."""
    common = sorted(set.intersection(*(set(c) for c in curves)))
    rows = []
    for i, step in enumerate(common):
        epoch = step // steps_per_epoch if steps_per_epoch else None
        last = i == len(common) - 1
        if epoch is not None and not last and (step % steps_per_epoch or epoch % every):
            continue
        values = [c[step] for c in curves]
        sd = statistics.stdev(values) if len(values) > 1 else float("nan")
        rows.append((step, epoch, statistics.fmean(values), sd, values))
    return rows


def plot_curves(curves: list[dict[int, float]], names: list[str], metric: str, scale: float, path: Path,
                steps_per_epoch: int | None = None) -> None:
    """Draw each run's curve and the mean over runs (at the steps all of them have) into the PNG ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = steps_per_epoch or 1
    fig, ax = plt.subplots(figsize=(6, 4))
    for curve, name in zip(curves, names):
        steps = sorted(curve)
        ax.plot([s / unit for s in steps], [curve[s] * scale for s in steps], alpha=0.6, label=name)
    rows = summary_rows(curves, None, 1)
    if len(curves) > 1 and rows:
        ax.plot([r[0] / unit for r in rows], [r[2] * scale for r in rows], "k-", linewidth=2, label="mean")
    ax.set_xlabel("epoch" if steps_per_epoch else "generator step")
    ax.set_ylabel(metric if scale == 1 else f"{metric} (x {scale:g})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories, one per seed")
    parser.add_argument("--metric", default="metrics/test_error")
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--every", type=int, default=1, help="keep every n-th epoch")
    parser.add_argument("--scale", type=float, default=100.0, help="multiply values (100: percent)")
    parser.add_argument("--plot", type=Path, default=None, help="also write the curves to this PNG")
    args = parser.parse_args(argv)
    curves = [read_curve(r, args.metric) for r in args.runs]
    empty = [str(r) for r, c in zip(args.runs, curves) if not c]
    if empty:
        raise SystemExit(f"no {args.metric} values in {', '.join(empty)} (csv/metrics.csv): check --metric and the runs")
    if args.plot:
        plot_curves(curves, [r.name for r in args.runs], args.metric, args.scale, args.plot, args.steps_per_epoch)
    print(f"| g_step | epoch | {args.metric} mean +- sd | " + " | ".join(r.name for r in args.runs) + " |")
    print("|---|---|---|" + "---|" * len(args.runs))
    for step, epoch, mean, sd, values in summary_rows(curves, args.steps_per_epoch, args.every):
        cells = " | ".join(f"{v * args.scale:.2f}" for v in values)
        spread = f" +- {sd * args.scale:.2f}" if len(values) > 1 else ""
        print(f"| {step} | {'' if epoch is None else epoch} | {mean * args.scale:.2f}{spread} | {cells} |")


if __name__ == "__main__":
    main()
