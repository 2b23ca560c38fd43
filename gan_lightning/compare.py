"""`python -m gan_lightning.compare <multirun dir>`: compare the jobs of a sweep without W&B.

Writes ``compare.md`` (a markdown table: each job's overrides, status, generator steps and final metrics) and
``compare.png`` (one panel per metric, a curve per job against generator steps) into the multirun dir, and prints
the table. A job is a sub-directory holding ``.hydra/overrides.yaml``; its final values come from ``result.json``
(written by ``gan_lightning.train``) and its curves from the CSV logger's ``csv/metrics.csv`` (``logger=csv``, the
default). Jobs that failed or diverged are listed with their status.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

G_STEP = "trainer/g_step"
DEFAULT_PATTERNS = ("metrics/*", "loss/*")


@dataclass
class Job:
    """One job of a multirun: its directory, overrides, how it ended, and its logged curves."""

    path: Path
    overrides: list[str]
    status: str = "unknown"
    final: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # metric -> [(g_step, value)]

    @property
    def number(self) -> int:
        head = self.path.name.split("_", 1)[0]
        return int(head) if head.isdigit() else sys.maxsize


def load_job(path: Path) -> Job:
    """Read one job directory (see the module docstring)."""
    overrides = yaml.safe_load((path / ".hydra" / "overrides.yaml").read_text()) or []
    job = Job(path, [str(o) for o in overrides])
    result_file = path / "result.json"
    if result_file.is_file():
        result = json.loads(result_file.read_text())
        job.status = result.get("status", "unknown")
        job.final = {k: float(v) for k, v in (result.get("metrics") or {}).items()}
    else:
        job.status = "running or killed"  # train writes result.json when the job ends, failed or not
    metrics_csv = path / "csv" / "metrics.csv"
    if metrics_csv.is_file():
        with metrics_csv.open(newline="") as f:
            for row in csv.DictReader(f):
                if not row.get(G_STEP):
                    continue
                g_step = float(row[G_STEP])
                for key, value in row.items():
                    if key not in (G_STEP, "step", "epoch") and value not in ("", None):
                        job.curves.setdefault(key, []).append((g_step, float(value)))
    for key, points in job.curves.items():  # jobs stopped before writing result.json: last logged values
        job.final.setdefault(key, points[-1][1])
    if G_STEP not in job.final and job.curves:
        job.final[G_STEP] = max(g for points in job.curves.values() for g, _ in points)
    return job


def find_jobs(sweep_dir: Path) -> list[Job]:
    """Every job under ``sweep_dir``, in job-number order.

    Raises:
        FileNotFoundError: ``sweep_dir`` is missing or holds no job (no ``*/.hydra/overrides.yaml``).
    """
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"No multirun directory at {sweep_dir}: pass the sweep dir that "
                                "`python -m gan_lightning.train -m ...` printed (outputs/multirun/<date>/<time>).")
    paths = sorted(p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml"))
    if not paths:
        raise FileNotFoundError(f"{sweep_dir} holds no Hydra jobs (no */.hydra/overrides.yaml): is it a multirun dir?")
    return sorted((load_job(p) for p in paths), key=lambda j: (j.number, j.path.name))


def varying_overrides(jobs: list[Job]) -> list[list[str]]:
    """Each job's overrides minus those every job shares (the sweep's axes)."""
    shared = set.intersection(*(set(j.overrides) for j in jobs)) if len(jobs) > 1 else set()
    return [[o for o in j.overrides if o not in shared] for j in jobs]


def select_metrics(jobs: list[Job], patterns: tuple[str, ...]) -> list[str]:
    """Metric names logged by any job matching one of the glob ``patterns`` (``*`` is a wildcard)."""
    regexes = [re.compile("^" + re.escape(p).replace(r"\*", ".*") + "$") for p in patterns]
    names = {k for j in jobs for k in (*j.final, *j.curves) if k != G_STEP}
    return sorted(n for n in names if any(r.match(n) for r in regexes))


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def markdown_table(jobs: list[Job], metrics: list[str]) -> str:
    """The comparison table: job, varying overrides, status, generator steps, final value of each metric."""
    header = ["job", "overrides", "status", "g_step", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for job, overrides in zip(jobs, varying_overrides(jobs)):
        g_step = job.final.get(G_STEP)
        cells = [str(job.number if job.number != sys.maxsize else job.path.name), " ".join(overrides) or "–",
                 job.status, "–" if g_step is None else str(int(g_step)), *(_fmt(job.final.get(m)) for m in metrics)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(jobs: list[Job], metrics: list[str], path: Path, log_y: bool = False) -> None:
    """One panel per metric, one line per job, against generator steps; written to ``path`` (PNG). ``log_y``: a
    logarithmic value axis (error rates that fall over orders of magnitude)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # The real-vs-real references (*_real) are constants: the table keeps them, the panels do not.
    metrics = [m for m in metrics if any(m in j.curves for j in jobs) and not m.endswith("_real")] or metrics[:1]
    cols = min(3, max(len(metrics), 1))
    rows = math.ceil(max(len(metrics), 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.5 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        for job, overrides in zip(jobs, varying_overrides(jobs)):
            points = job.curves.get(metric)
            if points:
                steps, values = zip(*points)
                ax.plot(steps, values, marker="." if len(points) < 30 else None,
                        label=" ".join(overrides) or job.path.name)
        ax.set_title(metric)
        ax.set_xlabel("generator step")
        if log_y:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize="small")
        fig.tight_layout(rect=(0, 0.3 * math.ceil(len(labels) / 3) / (3.5 * rows), 1, 1))  # room for the legend (inches)
    else:
        fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def compare(sweep_dir: str | Path, patterns: tuple[str, ...] = DEFAULT_PATTERNS, output_dir: str | Path | None = None,
            log_y: bool = False) -> tuple[Path, Path]:
    """Write ``compare.md`` and ``compare.png`` for the multirun at ``sweep_dir``; returns their paths.

    Raises:
        FileNotFoundError: see :func:`find_jobs`.
    """
    sweep_dir = Path(sweep_dir)
    jobs = find_jobs(sweep_dir)
    metrics = select_metrics(jobs, patterns)
    out = Path(output_dir) if output_dir else sweep_dir
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(jobs, metrics)
    md, png = out / "compare.md", out / "compare.png"
    md.write_text(f"# Sweep {sweep_dir}\n\nFinal values; curves in {png.name}.\n\n{table}")
    plot_curves(jobs, metrics, png, log_y)
    print(table)
    print(f"Wrote {md} and {png}")
    return md, png


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gan_lightning.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", help="a Hydra multirun dir, e.g. outputs/multirun/2026-11-21/12-00-00")
    parser.add_argument("--metrics", nargs="+", default=list(DEFAULT_PATTERNS),
                        help="metric names or globs to compare (default: %(default)s)")
    parser.add_argument("--output-dir", default=None, help="where to write compare.md / compare.png (default: sweep_dir)")
    parser.add_argument("--log-y", action="store_true", help="logarithmic value axis in compare.png")
    args = parser.parse_args(argv)
    try:
        compare(args.sweep_dir, tuple(args.metrics), args.output_dir, args.log_y)
    except FileNotFoundError as err:
        parser.exit(2, f"error: {err}\n")


if __name__ == "__main__":
    main()
