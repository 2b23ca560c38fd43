"""The GPU check: every experiment, ours-vs-plain throughput, DDP and resume, in one markdown report.

``benchmarks/gpu_check.sh`` installs what is missing and runs this; see its header for the device workflow. Sections:

1. **Experiments.** Every ``conf/experiment/*.yaml`` trains ``--steps`` generator steps through the real CLI
   (``python -m gan_lightning.train``, one subprocess each, ``--jobs`` at a time) in bf16-mixed with channels_last
   (``callbacks.performance.channels_last``) and its metrics, evaluated before the first step and at the end. A run
   passes when it exits 0, ``result.json`` says ``completed`` at the asked generator step, every final value is
   finite, and every configured evaluator logged a ``metrics/`` value. The metric nets the evaluators read (domain
   classifiers, FCN-score segmenters) are trained once up front, shortened, into the check's own cache (never the
   user's: a short classifier there would score later runs). The four experiments whose data cannot be had offline
   (CelebA, CIFAR-10, facades, horse2zebra; CelebA and CIFAR-10 also need the Inception weights) are reported as
   skipped: tests/test_dataset_experiments.py trains them on generated folders of their layouts.
2. **Throughput**: benchmarks/step_throughput.py (ours / plain in one process, peak memory) at the papers' sizes
   (DCGAN 64 px RGB batch 128, Pix2Pix 256 px batch 1 and 16, CycleGAN 256 px batch 1 with 9 residual blocks) in fp32,
   bf16 (with channels_last) and bf16 + torch.compile (with channels_last).
3. **DDP and resume**: ``experiment=dcgan_mnist trainer=ddp trainer.devices=1`` for half the steps, then a resume of
   that run from its ``last.ckpt`` to the full number of steps (same strategy), both through the CLI.
4. **Throughput levers**: benchmarks/levers.py (DCGAN 28 px on real MNIST through our module: the data kept on the
   device against the worker DataLoader, cudnn.benchmark, fused Adam, set_to_none, fewer host synchronisations,
   channels_last, compile), each as a ratio to the same baseline.
5. **Reproduction** (only with ``--only reproduction``): issue 13's long runs, the seeds of ``--experiment`` side by
   side at the experiment's own length, stopped with SIGTERM at the end of the budget; a row per seed, the mean +- sd
   curve, and each seed's ``metrics.csv`` beside the report.

``--device cpu --tiny`` runs the same path small (2 generator steps, batch 8, 32 metric samples, a subset of the
experiments, tiny nets for the throughput, the ``eager`` compile backend), in about 2 minutes on 2 cores.

    python benchmarks/gpu_check.py [REPORT_DIR] [--device cuda|cpu] [--tiny] [--jobs 4] [--work-dir DIR]

Exit status: 0 when every check passed, 1 otherwise; the report (``REPORT_DIR/gpu_check.md``) is written either way.
Environment: ``GAN_DATA_DIR`` (a writable folder with MNIST/raw and FashionMNIST/raw).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import csv
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):  # this checkout's package and step_throughput, run from anywhere
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# Data that cannot be had on an offline machine; tests/test_dataset_experiments.py runs them on generated folders.
EXTERNAL = {
    "dcgan_celeba": "needs CelebA (img_align_celeba) and the FID Inception weights, neither offline",
    "dcgan_cifar10": "needs CIFAR-10 and the FID Inception weights, neither offline",
    "pix2pix_facades": "needs the pix2pix facades download, not offline",
    "cyclegan_horse2zebra": "needs the CycleGAN horse2zebra download, not offline",
}
# --tiny: one experiment per model family that trains fast on a CPU (the others are reported as not run).
TINY_EXPERIMENTS = ("dcgan_mnist", "cyclegan_sneaker2boot")
REPORT_NAME = "gpu_check.md"
STOP_GRACE_S = 60  # from SIGTERM to SIGKILL for a run past its time: it checkpoints at the next batch end
# --only reproduction: the curve each run is scored by, the first of these its metrics.csv has.
CURVE_METRICS = ("metrics/test_error", "metrics/clustering_error", "metrics/class_accuracy", "metrics/domain_is")


class Deadline:
    """The check's time budget: what would start after it is reported as not run, so the report is always written
    inside the device tool's 10-minute command limit."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s, self.end = budget_s, time.perf_counter() + budget_s

    def passed(self) -> bool:
        return time.perf_counter() > self.end

    def row(self, name: str, detail: str = "") -> Row:
        return Row(name, "not run", detail=f"{detail}{': ' if detail else ''}over the {self.budget_s:.0f} s budget")


@dataclass
class Mode:
    """Lengths and sizes of one mode of the check (full on a GPU, or --tiny)."""

    steps: int
    run_overrides: list[str]
    metric_nets: dict[str, Any]      # train_missing_overrides for the up-front metric-net training
    timeout_s: int                   # per CLI run
    throughput: list[dict[str, Any]]  # step_throughput cases
    throughput_args: list[str]
    lever_args: list[str]            # benchmarks/levers.py arguments
    compile_backend: str
    task_size: tuple[int, int]       # data.max_train / max_test of the translation tasks built from Fashion-MNIST
    experiments: tuple[str, ...] | None = None  # None: all
    small_metrics: bool = False
    repro_overrides: list[str] = field(default_factory=list)  # --only reproduction: on top of the experiment's own


def full_mode() -> Mode:
    paper = [
        {"model": "dcgan", "image_size": 64, "batch_size": 128, "channels": 3},
        {"model": "pix2pix", "image_size": 256, "batch_size": 1},
        {"model": "pix2pix", "image_size": 256, "batch_size": 16},
        {"model": "cyclegan", "image_size": 256, "batch_size": 1, "n_blocks": 9},
    ]
    return Mode(steps=50, run_overrides=[], timeout_s=180, throughput=paper,
                metric_nets={"classifier": {"max_steps": 300}, "scorer": {"max_steps": 100}},
                throughput_args=["--steps", "30", "--warmup", "5", "--repeats", "2"], compile_backend="inductor",
                lever_args=["--steps", "200", "--warmup", "30", "--repeats", "1"],
                task_size=(4000, 1000))  # built in the check's fresh cache: all 60k would cost minutes of CPU


def tiny_mode() -> Mode:
    small = [
        {"model": "dcgan", "image_size": 32, "batch_size": 8, "channels": 3, "base_width": 8},
        {"model": "pix2pix", "image_size": 32, "batch_size": 1, "base_width": 8},
        {"model": "cyclegan", "image_size": 32, "batch_size": 1, "base_width": 8, "n_blocks": 2},
    ]
    return Mode(steps=2, run_overrides=["data.num_workers=0", "data.batch_size=8"], timeout_s=300, throughput=small,
                metric_nets={"classifier": {"max_steps": 20},
                             "scorer": {"max_steps": 5, "data": {"max_train": 64, "max_test": 32}}},
                throughput_args=["--steps", "3", "--warmup", "1", "--repeats", "1"], compile_backend="eager",
                lever_args=["--steps", "3", "--warmup", "1", "--repeats", "1", "--base-width", "8", "--batch-size",
                            "8", "--levers", "on_device,sync_cadence"],
                task_size=(64, 16),
                experiments=TINY_EXPERIMENTS, small_metrics=True,
                repro_overrides=["max_g_steps=3", "data.num_workers=0", "data.batch_size=8"])


@dataclass
class Row:
    """One line of a report table."""

    name: str
    result: str              # pass / FAIL / skipped / not run
    wall_s: float | None = None
    detail: str = ""
    log: str = ""            # tail of the output of a failure
    extra: dict[str, Any] = field(default_factory=dict)


# ===================================================================================== experiments

def compose(overrides: list[str], output_dir: Path):
    """conf/train.yaml with ``overrides`` as ``python -m gan_lightning.train`` composes it (``${hydra:...}`` resolved)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from gan_lightning import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg["hydra"]
    return cfg


def speed_overrides(cfg, device: str) -> list[str]:
    """bf16-mixed on ``device``; channels_last where the run has the performance callback."""
    out = [f"trainer={'gpu' if device == 'cuda' else 'cpu'}", "trainer.precision=bf16-mixed"]
    if "performance" in (cfg.get("callbacks") or {}):
        out.append("callbacks.performance.channels_last=true")
    return out


def size_overrides(cfg, mode: Mode) -> list[str]:
    """The built translation tasks' sizes; --tiny: also 32 metric samples (as tests/test_train.py's runs) and nets of
    base width 8."""
    out = [f"data.max_train={mode.task_size[0]}", f"data.max_test={mode.task_size[1]}"] if "max_train" in cfg.data else []
    if not mode.small_metrics:
        return out
    out += narrow_net_overrides(cfg.model)
    metrics = cfg.get("metrics") or {}
    if metrics.get("generative") is not None:
        out += ["metrics.generative.num_fake=32", "metrics.generative.num_real=32", "metrics.generative.batch_size=16"]
    for name, entry in (metrics.get("evaluators") or {}).items():
        if entry is not None and "max_samples" in entry:
            out.append(f"metrics.evaluators.{name}.max_samples=64")
        if entry is not None and "num_per_class" in entry:
            out.append(f"metrics.evaluators.{name}.num_per_class=4")
    return out


def narrow_net_overrides(model, width: int = 8) -> list[str]:
    """``model.<path>.base_width=<width>`` for every literal base_width in G and D (the CycleGAN's second pair
    follows the first through an interpolation): the --tiny runs take the same path with narrow nets."""
    from omegaconf import DictConfig, OmegaConf

    out: list[str] = []

    def walk(node: DictConfig, path: str) -> None:
        for key in node:
            if OmegaConf.is_interpolation(node, key):
                continue
            value = node[key]
            if isinstance(value, DictConfig):
                walk(value, f"{path}.{key}")
            elif key == "base_width" and isinstance(value, int) and value > width:
                out.append(f"{path}.{key}={width}")

    for net in ("generator", "discriminator"):
        if isinstance(model.get(net), DictConfig):
            walk(model[net], f"model.{net}")
    return out


def plan_experiment(experiment: str, mode: Mode, device: str, work: Path) -> tuple[list[str], int]:
    """The CLI overrides of one experiment's run and how many evaluators it has; trains its metric nets if missing."""
    from omegaconf import open_dict

    from gan_lightning.metric_nets import ensure_metric_nets, evaluator_arguments

    run_dir = work / "runs" / experiment
    base = [f"experiment={experiment}", f"max_g_steps={mode.steps}", "logger=none", "~callbacks.progress_bar",
            *mode.run_overrides]
    cfg = compose(base, run_dir)
    overrides = [*base, *speed_overrides(cfg, device), *size_overrides(cfg, mode)]
    cfg = compose(overrides, run_dir)
    with open_dict(cfg):
        cfg.train_missing_overrides = mode.metric_nets
    ensure_metric_nets(cfg)  # once here, so parallel runs never train the same file at once
    return [*overrides, f"hydra.run.dir={run_dir}"], len(evaluator_arguments(cfg.metrics))


def run_cli(overrides: list[str], timeout_s: float, log_path: Path) -> tuple[int, float]:
    """``python -m gan_lightning.train <overrides>``; returns (exit status, wall s); output to ``log_path``.
    A run past ``timeout_s`` gets SIGTERM (it writes last.ckpt at the next batch end: gan_lightning/utils/signals.py),
    SIGKILL ``STOP_GRACE_S`` later, and is reported as exit status 124."""
    start = time.perf_counter()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gan_lightning.train", *overrides], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=max(0.0, timeout_s))
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            rc = 124
    return rc, time.perf_counter() - start


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def judge_run(run_dir: Path, rc: int, steps: int, n_evaluators: int) -> tuple[bool, str]:
    """(passed, detail) of a finished CLI run from its exit status and ``result.json``."""
    if rc == 124:
        return False, "timed out"
    result_path = run_dir / "result.json"
    if not result_path.is_file():
        return False, f"exit status {rc}, no result.json"
    result = json.loads(result_path.read_text())
    if rc != 0 or result["status"] != "completed":
        return False, f"exit status {rc}, {result['status']}: {result.get('error') or ''}"[:200]
    metrics = result["metrics"]
    if metrics.get("trainer/g_step") != steps:
        return False, f"stopped at generator step {metrics.get('trainer/g_step')}, not {steps}"
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
    if bad:
        return False, f"non-finite: {', '.join(bad)}"
    evaluated = sorted(k for k in metrics if k.startswith("metrics/"))
    if n_evaluators and not evaluated:
        return False, f"{n_evaluators} evaluator(s) configured, no metrics/ value logged"
    shown = ", ".join(f"{k.removeprefix('metrics/')} {metrics[k]:.3g}" for k in evaluated[:4])
    return True, f"{len(evaluated)} metric values ({shown}{', ...' if len(evaluated) > 4 else ''})" if evaluated \
        else "no metrics configured"


def run_experiments(mode: Mode, device: str, work: Path, jobs: int, deadline: Deadline) -> list[Row]:
    """Section 1: every experiment through the CLI; a row each, skipped and not-run ones included."""
    from gan_lightning import CONFIG_DIR

    rows: dict[str, Row] = {}
    planned: dict[str, tuple[list[str], int]] = {}
    for experiment in sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml")):
        if experiment in EXTERNAL:
            rows[experiment] = Row(experiment, "skipped", detail=EXTERNAL[experiment])
        elif mode.experiments is not None and experiment not in mode.experiments:
            rows[experiment] = Row(experiment, "not run", detail="--tiny runs " + ", ".join(mode.experiments))
        elif deadline.passed():
            rows[experiment] = deadline.row(experiment)
        else:
            start = time.perf_counter()
            try:
                planned[experiment] = plan_experiment(experiment, mode, device, work)
            except Exception as err:  # a config or metric-net failure is this experiment's failure, not the check's
                rows[experiment] = Row(experiment, "FAIL", time.perf_counter() - start,
                                       f"set-up: {type(err).__name__}: {err}"[:200], traceback.format_exc()[-2000:])

    def one(experiment: str) -> Row:
        if deadline.passed():
            return deadline.row(experiment)
        overrides, n_evaluators = planned[experiment]
        run_dir, log_path = work / "runs" / experiment, work / "logs" / f"{experiment}.log"
        rc, wall = run_cli(overrides, mode.timeout_s, log_path)
        passed, detail = judge_run(run_dir, rc, mode.steps, n_evaluators)
        return Row(experiment, "pass" if passed else "FAIL", wall, detail, "" if passed else tail(log_path))

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for row in pool.map(one, sorted(planned)):
            rows[row.name] = row
            print(f"[gpu_check] {row.name}: {row.result} ({fmt(row.wall_s)} s) {row.detail}", flush=True)
    return [rows[name] for name in sorted(rows)]


# ===================================================================================== throughput

PRECISIONS = (("fp32", ["--precision", "32-true"]),
              ("bf16", ["--precision", "bf16-mixed", "--channels-last"]),
              ("bf16 + compile", ["--precision", "bf16-mixed", "--channels-last", "--compile"]))


def run_throughput(mode: Mode, device: str, log_path: Path, deadline: Deadline) -> list[Row]:
    """Section 2: step_throughput for every case and precision, in this process; its output to ``log_path``."""
    import step_throughput
    import torch

    rows = []
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    # precision-major, compile last: the eager rows of every case come before the budget can cut them
    for precision, flags in PRECISIONS:
        for case in mode.throughput:
            argv = [f"--{k.replace('_', '-')}={v}" for k, v in case.items()] + ["--device", device,
                                                                                 *mode.throughput_args]
            label = f"{case['model']} {case['image_size']} px, batch {case['batch_size']}"
            if deadline.passed():
                rows.append(Row(label, "not run", detail=precision, log=f"over the {deadline.budget_s:.0f} s budget"))
                continue
            # compile: one run of each loop (its compile time is minutes on a GPU; the warm-up excludes it)
            extra = ["--compile-backend", mode.compile_backend, "--repeats", "1"] if "--compile" in flags else []
            out = io.StringIO()
            start = time.perf_counter()
            try:
                with contextlib.redirect_stdout(out):
                    result = step_throughput.main([*argv, *flags, *extra])
                row = Row(label, "pass", time.perf_counter() - start, precision, extra=result)
            except Exception as err:  # an OOM or compile error is this case's result
                row = Row(label, "FAIL", time.perf_counter() - start, precision, f"{type(err).__name__}: {err}"[-2000:])
            finally:
                if "--compile" in flags:
                    torch._dynamo.reset()  # the next case compiles afresh, not against this one's guards
                if device == "cuda":
                    torch.cuda.empty_cache()
            with open(log_path, "a") as log:
                log.write(f"## {label} {precision}: {' '.join([*argv, *flags, *extra])}\n{out.getvalue()}{row.log}\n")
            print(f"[gpu_check] throughput {label} {precision}: {row.result} "
                  f"{row.extra.get('ratio', float('nan')):.3f}", flush=True)
            rows.append(row)
    return rows


# ===================================================================================== levers

def run_levers(mode: Mode, device: str, log_path: Path, deadline: Deadline) -> list[Row]:
    """Section 4: benchmarks/levers.py in this process, one row per lever; its output to ``log_path``."""
    import levers

    if deadline.passed():
        return [deadline.row("levers")]
    out = io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out):
            best = levers.main(["--device", device, *mode.lever_args])
        rows = [Row(name, "pass", detail=f"{value:.1f}", extra={"ratio": value / best["baseline"]})
                for name, value in best.items()]
    except Exception as err:
        rows = [Row("levers", "FAIL", time.perf_counter() - start, log=f"{type(err).__name__}: {err}"[-2000:])]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(out.getvalue())
    ratios = ", ".join(f"{r.name} {r.extra.get('ratio', float('nan')):.2f}" for r in rows)
    print(f"[gpu_check] levers: {ratios}", flush=True)
    return rows


# ===================================================================================== DDP and resume

def run_ddp_resume(mode: Mode, device: str, work: Path, deadline: Deadline) -> list[Row]:
    """Section 3: DCGAN on MNIST with ``trainer=ddp trainer.devices=1`` for half the steps, then resumed to all."""
    half = max(1, mode.steps // 2)
    run_dir, resumed_dir = work / "runs" / "ddp", work / "runs" / "ddp_resume"
    common = ["experiment=dcgan_mnist", "trainer=ddp", "trainer.devices=1", "trainer.precision=bf16-mixed",
              "callbacks.performance.channels_last=true", "logger=none", "~callbacks.progress_bar",
              # shortened as in the plan step, should the experiments section not have trained it (--only ddp)
              f"+train_missing_overrides.classifier.max_steps={mode.metric_nets['classifier']['max_steps']}",
              *mode.run_overrides]
    if device != "cuda":
        common += ["trainer.accelerator=cpu", "trainer.benchmark=false"]  # gloo: Lightning's CPU default
    if mode.small_metrics:
        common += ["metrics.generative.num_fake=32", "metrics.generative.num_real=32",
                   "metrics.generative.batch_size=16"]
    rows = []
    for name, dir_, steps, extra in (
        ("trainer=ddp trainer.devices=1", run_dir, half, []),
        ("resume (ddp) from last.ckpt", resumed_dir, mode.steps, [f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}"]),
    ):
        if deadline.passed():
            rows.append(deadline.row(name))
            continue
        log_path = work / "logs" / f"{dir_.name}.log"
        rc, wall = run_cli([*common, f"max_g_steps={steps}", f"hydra.run.dir={dir_}", *extra], mode.timeout_s, log_path)
        passed, detail = judge_run(dir_, rc, steps, 1)
        if passed and extra and "Restored all states from the checkpoint" not in log_path.read_text(errors="replace"):
            passed, detail = False, "no 'Restored all states from the checkpoint' in its log: it started afresh"
        rows.append(Row(name, "pass" if passed else "FAIL", wall, f"to generator step {steps}: {detail}",
                        "" if passed else tail(log_path)))
        print(f"[gpu_check] {name}: {rows[-1].result} {detail}", flush=True)
        if not passed:
            rows.append(Row("resume (ddp) from last.ckpt", "not run", detail="the run to resume failed"))
            break
    return rows


# ===================================================================================== reproduction

def curve_metric(csv_path: Path) -> str | None:
    """The first of ``CURVE_METRICS`` in the header of a run's ``metrics.csv`` (None without the file or any)."""
    if not csv_path.is_file():
        return None
    with csv_path.open(newline="") as f:
        header = next(csv.reader(f), [])
    return next((m for m in CURVE_METRICS if m in header), None)


def judge_reproduction(name: str, run_dir: Path, rc: int, budget_s: float) -> Row:
    """A reproduction run's row: ``pass`` (exit 0, ``result.json``, a finite last value), ``stopped`` (ended by the
    budget, exit status 124 from :func:`run_cli`, with a curve and ``last.ckpt`` to resume from) or ``FAIL``;
    ``extra`` holds the curve ``{g_step: value}`` of :func:`curve_metric`'s metric and its last point."""
    import reproduction

    metric = curve_metric(run_dir / "csv" / "metrics.csv")
    curve = reproduction.read_curve(run_dir, metric) if metric else {}
    extra: dict[str, Any] = {"metric": metric, "curve": curve}
    if curve:
        extra["step"], extra["value"] = max(curve.items())
    at = f"{metric} {extra['value']:.4g} at generator step {extra['step']}" if curve else "no curve logged"
    if rc == 0 and (run_dir / "result.json").is_file() and curve and math.isfinite(extra["value"]):
        return Row(name, "pass", detail=f"completed: {at}", extra=extra)
    if rc == 124 and curve and (run_dir / "checkpoints" / "last.ckpt").is_file():
        return Row(name, "stopped", detail=f"stopped by the {budget_s:.0f} s budget, last.ckpt written: {at}",
                   extra=extra)
    return Row(name, "FAIL", detail=f"exit status {rc}: {at}", extra=extra)


def run_reproduction(args, mode: Mode, device: str, work: Path, report_dir: Path, deadline: Deadline) -> list[Row]:
    """Section 5 (opt-in, ``--only reproduction``): issue 13's long runs on the device. The seeds of
    ``--experiment`` train side by side through the CLI at the experiment's own length and precision (fp32, the
    protocol of docs/RESULTS.md's reproduction table), with the CSV logger and ``--override``s; what is still running
    at the end of the budget is stopped with SIGTERM (its last.ckpt written) and reported as stopped, with its curve
    so far. Each run's ``metrics.csv`` is copied into the report folder as ``repro_<experiment>_seed<s>.csv`` (the
    device tool brings back at most 8 files: keep to 6 seeds); one row per seed, the mean +- sd table in the report.
    """
    seeds = [int(s) for s in args.seeds.split(",")]
    if deadline.passed():
        return [deadline.row(f"{args.experiment} seed {seed}") for seed in seeds]
    runs = {seed: work / "repro" / args.experiment / f"seed_{seed}" for seed in seeds}
    base = [f"experiment={args.experiment}", f"trainer={'gpu' if device == 'cuda' else 'cpu'}", "logger=csv",
            "~callbacks.progress_bar", *mode.repro_overrides, *args.override]
    try:  # metric nets once, before the seeds start side by side (as plan_experiment does)
        from omegaconf import open_dict

        from gan_lightning.metric_nets import ensure_metric_nets

        cfg = compose([*base, f"seed={seeds[0]}"], runs[seeds[0]])
        with open_dict(cfg):
            cfg.train_missing_overrides = mode.metric_nets
        ensure_metric_nets(cfg)
    except Exception as err:
        return [Row(f"{args.experiment} seeds {args.seeds}", "FAIL", detail=f"set-up: {type(err).__name__}: {err}"[:200],
                    log=traceback.format_exc()[-2000:])]

    def one(seed: int) -> Row:
        run_dir, log_path = runs[seed], work / "logs" / f"repro_{args.experiment}_seed{seed}.log"
        rc, wall = run_cli([*base, f"seed={seed}", f"hydra.run.dir={run_dir}"], deadline.end - time.perf_counter(),
                           log_path)
        row = judge_reproduction(f"{args.experiment} seed {seed}", run_dir, rc, deadline.budget_s)
        row.wall_s, row.log = wall, "" if row.result != "FAIL" else tail(log_path)
        if row.extra["curve"]:
            shutil.copyfile(run_dir / "csv" / "metrics.csv", report_dir / f"repro_{args.experiment}_seed{seed}.csv")
        return row

    report_dir.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(seeds)) as pool:
        rows = list(pool.map(one, seeds))
    for row in rows:
        print(f"[gpu_check] reproduction {row.name}: {row.result} ({fmt(row.wall_s)} s) {row.detail}", flush=True)
    return rows


def reproduction_lines(args, rows: list[Row]) -> list[str]:
    """The report's reproduction section: a row per seed and, where two or more seeds logged a curve, the mean +- sd
    at every evaluation they all reached (benchmarks/reproduction.py)."""
    import reproduction

    command = " ".join(["python -m gan_lightning.train", f"experiment={args.experiment}", "seed=<s>", "logger=csv",
                        *args.override])
    lines = ["## Reproduction", "",
             f"`{command}`, seeds {args.seeds} side by side on one device, fp32; curves in "
             f"`repro_{args.experiment}_seed<s>.csv`.",
             "", "| run | result | wall s | detail |", "|---|---|---|---|",
             *[f"| {r.name} | {r.result} | {fmt(r.wall_s)} | {r.detail.replace('|', '/')} |" for r in rows], ""]
    curves = [r.extra["curve"] for r in rows if r.extra.get("curve")]
    if len(curves) >= 2:
        # evaluations at every epoch end (or every metrics.every_n_g_steps): the first one after step 0 sets the unit
        positive = [step for step in sorted(set.intersection(*(set(c) for c in curves))) if step > 0]
        unit = positive[0] if positive else None
        lines += [f"`{next(r.extra['metric'] for r in rows if r.extra.get('curve'))}` over the seeds that logged it "
                  f"(evaluation = generator step / {unit}; about 20 rows, and the last):", "",
                  "| evaluation | generator step | mean | sd | values |", "|---|---|---|---|---|"]
        for step, n, mean, sd, values in reproduction.summary_rows(curves, unit, max(1, len(positive) // 20)):
            lines.append(f"| {n} | {step} | {mean:.4g} | {sd:.2g} | {', '.join(f'{v:.4g}' for v in values)} |")
        lines.append("")
    return lines


# ===================================================================================== report

def fmt(value: float | None, spec: str = ".0f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def environment(device: str) -> list[str]:
    import pytorch_lightning as pl
    import torch

    name = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU ({os.cpu_count()} cores)"
    cuda = f", CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}" if device == "cuda" else ""
    return [f"- device: {name}", f"- Python {platform.python_version()}, torch {torch.__version__}{cuda}, "
            f"pytorch-lightning {pl.__version__}",
            f"- load average (1 min) at the end: {os.getloadavg()[0]:.2f}"]


def write_report(path: Path, args, mode: Mode, sections: dict[str, list[Row]], wall_s: float) -> bool:
    """The markdown report; returns whether every run check passed (skipped and not-run rows do not count)."""
    rows = [r for rs in sections.values() for r in rs]
    failed = [r for r in rows if r.result == "FAIL"]
    late = [r for r in rows if r.result in ("not run", "stopped") and "budget" in r.detail + r.log]
    verdict = "FAIL" if failed else f"PASS, incomplete ({len(late)} over the budget)" if late else "PASS"
    exp = sections["experiments"]
    ran = set(args.only.split(","))  # the report shows the sections asked for
    lines = [
        "# GPU check", "",
        f"- mode: `--device {args.device}{' --tiny' if args.tiny else ''} --only {args.only}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, total {wall_s:.0f} s",
        *environment(args.device),
        f"- verdict: **{verdict}** ({len(failed)} failed"
        + (f"; experiments: {sum(r.result == 'pass' for r in exp)} pass, {sum(r.result == 'FAIL' for r in exp)} fail, "
           f"{sum(r.result == 'skipped' for r in exp)} skipped, {sum(r.result == 'not run' for r in exp)} not run)"
           if "experiments" in ran else ")"),
        "",
    ]
    if "experiments" in ran:
        lines += [
            "## Experiments", "",
            f"Each through `python -m gan_lightning.train experiment=<name> max_g_steps={mode.steps}`, "
            "bf16-mixed, channels_last where the run has callbacks.performance, its metrics evaluated before the first "
            f"step and at the end; metric nets trained up front, shortened ({json.dumps(mode.metric_nets)}), in the "
            f"check's own cache; the translation tasks built from Fashion-MNIST keep their first {mode.task_size[0]} / "
            f"{mode.task_size[1]} train / test items"
            f"{'; G and D at base width 8, metrics on 32 to 64 samples' if mode.small_metrics else ''}.", "",
            "| experiment | result | wall s | detail |", "|---|---|---|---|",
            *[f"| {r.name} | {r.result} | {fmt(r.wall_s)} | {r.detail.replace('|', '/')} |" for r in exp], ""]
    if "throughput" in ran:
        lines += [
            "## Throughput: ours vs plain", "",
            "benchmarks/step_throughput.py, both loops in one process with the same nets, data and precision; "
            f"{' '.join(mode.throughput_args)} (compile rows: one run of each loop); bf16 rows with channels_last; "
            f"compile backend `{mode.compile_backend}`. Images/s of full D+G steps (best run); peak memory as "
            "step_throughput measures it.", "",
            "| case | precision | ours img/s | plain img/s | ours / plain | peak ours MiB | peak plain MiB | result |",
            "|---|---|---|---|---|---|---|---|",
            *[f"| {r.name} | {r.detail} | {fmt(r.extra.get('ours'), '.1f')} | {fmt(r.extra.get('plain'), '.1f')} | "
              f"{fmt(r.extra.get('ratio'), '.3f')} | {fmt(r.extra.get('peak_mib_ours'))} | "
              f"{fmt(r.extra.get('peak_mib_plain'))} | {r.result} |" for r in sections["throughput"]], ""]
    if "ddp" in ran:
        lines += ["## DDP and resume", "", "experiment=dcgan_mnist, bf16-mixed, channels_last, through the CLI.", "",
                  "| check | result | wall s | detail |", "|---|---|---|---|",
                  *[f"| {r.name} | {r.result} | {fmt(r.wall_s)} | {r.detail.replace('|', '/')} |"
                    for r in sections["ddp"]], ""]
    if "levers" in ran:
        lines += ["## Throughput levers", "",
                  f"benchmarks/levers.py {' '.join(mode.lever_args)}: DCGAN on real MNIST through our module, fp32, "
                  "each lever alone against the baseline with every lever off (worker DataLoader, foreach Adam, "
                  "zero-filled gradients, a host synchronisation every step, NCHW, eager); levers.log has the run's "
                  "output.", "",
                  "| lever | images/s | / baseline | result |", "|---|---|---|---|",
                  *[f"| {r.name} | {r.detail} | {fmt(r.extra.get('ratio'), '.3f')} | {r.result} |"
                    for r in sections["levers"]], ""]
    if "reproduction" in ran:
        lines += reproduction_lines(args, sections["reproduction"])
    if failed:
        lines += ["## Failures", ""]
        for r in failed:
            lines += [f"### {r.name} {r.detail[:80] if r in sections['throughput'] else ''}", "", "```",
                      r.log or r.detail, "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return not failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report_dir", nargs="?", default=str(ROOT / "outputs" / "gpu_check"))
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--tiny", action="store_true", help="few steps, tiny sizes, a subset of experiments")
    parser.add_argument("--jobs", type=int, default=None, help="experiment runs at a time (default: 4 cuda, 2 cpu)")
    parser.add_argument("--work-dir", default=None, help="runs, logs and the check's cache (default: a temp dir)")
    parser.add_argument("--only", default="experiments,throughput,ddp,levers",
                        help="comma-separated sections to run; `reproduction` (issue 13's seeds of --experiment) "
                             "runs only when named")
    parser.add_argument("--budget-s", type=float, default=480,
                        help="nothing starts after this many seconds (reported as not run); a run in flight ends "
                             "by its own timeout")
    parser.add_argument("--experiment", default="catgan_mnist_100",
                        help="--only reproduction: the experiment whose seeds train (issue 13's long runs)")
    parser.add_argument("--seeds", default="0,1,2", help="--only reproduction: comma-separated seeds, side by side")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="--only reproduction: a Hydra override for its runs (repeatable)")
    args = parser.parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no GPU here; on a machine without one run --device cpu --tiny")
    mode = tiny_mode() if args.tiny else full_mode()
    jobs = args.jobs or (4 if args.device == "cuda" else 2)  # CPU: a run's start-up is one thread of imports
    report_dir = Path(args.report_dir).resolve()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="gpu_check_")).resolve()
    # The check's own cache: its shortened metric nets must never score a user's later runs.
    os.environ["GAN_CACHE_DIR"] = str(work / "cache")
    for key in ("GAN_CLASSIFIER_DIR", "GAN_SCORER_DIR"):
        os.environ.pop(key, None)
    os.environ.setdefault("WANDB_MODE", "disabled")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    only = set(args.only.split(","))
    start = time.perf_counter()
    deadline = Deadline(args.budget_s)
    sections: dict[str, list[Row]] = {}
    # correctness first: the throughput section is the one to cut when the budget runs out
    sections["experiments"] = run_experiments(mode, args.device, work, jobs, deadline) if "experiments" in only else []
    sections["ddp"] = run_ddp_resume(mode, args.device, work, deadline) if "ddp" in only else []
    sections["levers"] = run_levers(mode, args.device, report_dir / "levers.log", deadline) if "levers" in only else []
    sections["throughput"] = (run_throughput(mode, args.device, report_dir / "throughput.log", deadline)
                              if "throughput" in only else [])
    sections["reproduction"] = (run_reproduction(args, mode, args.device, work, report_dir, deadline)
                                if "reproduction" in only else [])
    ok = write_report(report_dir / REPORT_NAME, args, mode, sections, time.perf_counter() - start)
    print(f"[gpu_check] report: {report_dir / REPORT_NAME} ({'PASS' if ok else 'FAIL'}); runs and logs: {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
