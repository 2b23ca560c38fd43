"""benchmarks/gpu_check.sh in its CPU mode (``--device cpu --tiny``): the path a GPU session runs first, end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from gan_lightning import CONFIG_DIR, PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "benchmarks" / "gpu_check.sh"


@pytest.fixture(scope="module")
def gpu_check():
    """benchmarks/gpu_check.py as a module (benchmarks/ is no package)."""
    spec = importlib.util.spec_from_file_location("gpu_check", PROJECT_ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def table_rows(report: str, header: str) -> list[list[str]]:
    """The cells of the markdown table whose header line starts with ``header`` (separator line left out)."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def ratio_of_rounded(ratio: float, num: float, den: float) -> bool:
    """Is ``ratio`` (printed to .3f) the quotient of the unrounded values that ``num`` and ``den`` show rounded to .1f
    (+- 0.05 each)? At a few images/s, as on a loaded CPU, that rounding alone moves the quotient by several %."""
    return (num - 0.05) / (den + 0.05) - 5e-4 <= ratio <= (num + 0.05) / max(den - 0.05, 1e-9) + 5e-4


@pytest.mark.slow
def test_gpu_check_cpu_tiny_reports_every_experiment_and_the_timings(gpu_check, data_dir, tmp_path):
    """The real script in a subprocess on real MNIST / Fashion-MNIST: it exits 0 and its report has a row per
    experiment (the tiny subset passed, the external-data ones skipped with a reason), a throughput row per case and
    precision with both loops timed, and the DDP run and its resume passed."""
    env = {**os.environ, "GAN_DATA_DIR": str(data_dir), "PYTHON": sys.executable, "CI": "true",
           "GPU_CHECK_WHEELS": str(tmp_path / "no_wheels"),  # nothing to install: the test env has every package
           "PYTHONPATH": str(PROJECT_ROOT)}
    report_dir = tmp_path / "report"
    result = subprocess.run(["bash", str(SCRIPT), str(report_dir), "--device", "cpu", "--tiny",
                             "--work-dir", str(tmp_path / "work")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    report_path = report_dir / "gpu_check.md"
    assert report_path.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    report = report_path.read_text()
    assert result.returncode == 0, report

    experiments = {row[0]: row for row in table_rows(report, "| experiment |")}
    assert set(experiments) == {p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml")}
    for name in gpu_check.TINY_EXPERIMENTS:
        assert experiments[name][1] == "pass", experiments[name]
        assert float(experiments[name][2]) > 0
    for name, reason in gpu_check.EXTERNAL.items():
        assert experiments[name][1:4:2] == ["skipped", reason]
    assert {row[1] for name, row in experiments.items()
            if name not in gpu_check.TINY_EXPERIMENTS and name not in gpu_check.EXTERNAL} == {"not run"}

    timings = table_rows(report, "| case | precision |")
    cases = {(row[0], row[1]) for row in timings}
    assert len(timings) == len(cases) == len(gpu_check.tiny_mode().throughput) * len(gpu_check.PRECISIONS)
    assert {row[1] for row in timings} == {"fp32", "bf16", "bf16 + compile"}
    for case, precision, ours, plain, ratio, *_, status in timings:
        assert status == "pass", (case, precision)
        ours, plain = float(ours), float(plain)
        assert ours > 0 and plain > 0
        assert ratio_of_rounded(float(ratio), ours, plain)

    ddp = table_rows(report, "| check |")
    assert [row[:2] for row in ddp] == [["trainer=ddp trainer.devices=1", "pass"],
                                        ["resume (ddp) from last.ckpt", "pass"]]
    assert "generator step 2" in ddp[1][3]

    levers = {row[0]: row for row in table_rows(report, "| lever |")}
    assert set(levers) == {"baseline", "on_device", "sync_cadence"}
    assert all(row[3] == "pass" and float(row[1]) > 0 for row in levers.values())
    assert float(levers["baseline"][2]) == 1.0
    assert ratio_of_rounded(float(levers["on_device"][2]), float(levers["on_device"][1]), float(levers["baseline"][1]))
    assert re.search(r"verdict: \*\*PASS\*\*", report)
    assert (report_dir / "throughput.log").is_file() and (report_dir / "levers.log").is_file()




def write_result(run_dir, status="completed", **metrics):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "result.json").write_text(json.dumps({"status": status, "metrics": metrics, "error": None},
                                                    allow_nan=True))


@pytest.mark.parametrize(("rc", "status", "metrics", "n_evaluators", "passes", "expected"), [
    (0, "completed", {"trainer/g_step": 2.0, "loss/g": 0.7, "metrics/domain_fid": 5.0}, 1, True, "1 metric values"),
    (0, "completed", {"trainer/g_step": 2.0, "loss/g": 0.7}, 0, True, "no metrics configured"),
    (0, "completed", {"trainer/g_step": 2.0, "loss/g": 0.7}, 1, False, "no metrics/ value logged"),
    (0, "completed", {"trainer/g_step": 1.0, "loss/g": 0.7}, 0, False, "stopped at generator step 1.0"),
    (0, "completed", {"trainer/g_step": 2.0, "loss/g": float("nan")}, 0, False, "non-finite: loss/g"),
    (1, "failed", {}, 0, False, "exit status 1, failed"),
    (124, "completed", {}, 0, False, "timed out"),
])
def test_judge_run(gpu_check, tmp_path, rc, status, metrics, n_evaluators, passes, expected):
    """A run passes only when it completed at the asked step, all finite, with a metric value per configured set."""
    write_result(tmp_path, status, **metrics)
    passed, detail = gpu_check.judge_run(tmp_path, rc, 2, n_evaluators)
    assert passed == passes
    assert expected in detail


def test_judge_run_without_result_file(gpu_check, tmp_path):
    passed, detail = gpu_check.judge_run(tmp_path, 0, 2, 0)
    assert not passed and "no result.json" in detail


def test_nothing_starts_after_the_budget(gpu_check, data_dir, tmp_path, monkeypatch):
    """--budget-s 0: every run is reported as not run for the budget, none fails, and the report is still written."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "user_cache"))
    for key in ("PYTHONPATH", "WANDB_MODE", "GAN_CLASSIFIER_DIR", "GAN_SCORER_DIR"):  # main sets them: restore after
        monkeypatch.setenv(key, os.environ.get(key, ""))
    rc = gpu_check.main([str(tmp_path / "report"), "--device", "cpu", "--tiny", "--budget-s", "0",
                         "--work-dir", str(tmp_path / "work")])
    report = (tmp_path / "report" / "gpu_check.md").read_text()
    assert rc == 0
    experiments = {row[0]: row for row in table_rows(report, "| experiment |")}
    for name in gpu_check.TINY_EXPERIMENTS:
        assert experiments[name][1] == "not run" and "budget" in experiments[name][3]
    assert {row[1] for row in table_rows(report, "| check |")} == {"not run"}
    assert {row[-1] for row in table_rows(report, "| case | precision |")} == {"not run"}
    assert "incomplete" in report
    assert not (tmp_path / "work" / "runs").exists()  # nothing was started
    assert os.environ["GAN_CACHE_DIR"] == str(tmp_path / "work" / "cache")  # never the user's cache


@pytest.mark.slow
def test_reproduction_section_trains_the_seeds_side_by_side(gpu_check, data_dir, tmp_path, monkeypatch):
    """--only reproduction on the CPU, tiny: two seeds of catgan_mnist_100 train through the CLI to the end, each
    row passes with its last test error, each run's metrics.csv is copied beside the report, and the summary table's
    mean is that of the two seeds' values."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    for key in ("GAN_CACHE_DIR", "PYTHONPATH", "WANDB_MODE", "GAN_CLASSIFIER_DIR", "GAN_SCORER_DIR"):
        monkeypatch.setenv(key, os.environ.get(key, ""))  # main sets them: restore after
    report_dir = tmp_path / "report"
    rc = gpu_check.main([str(report_dir), "--device", "cpu", "--tiny", "--only", "reproduction", "--seeds", "0,1",
                         "--work-dir", str(tmp_path / "work")])
    report = (report_dir / "gpu_check.md").read_text()
    assert rc == 0, report
    rows = table_rows(report, "| run |")
    assert [row[:2] for row in rows] == [["catgan_mnist_100 seed 0", "pass"], ["catgan_mnist_100 seed 1", "pass"]]
    assert all("metrics/test_error" in row[3] and "generator step 3" in row[3] for row in rows)
    for seed in (0, 1):
        copied = report_dir / f"repro_catgan_mnist_100_seed{seed}.csv"
        run_csv = tmp_path / "work" / "repro" / "catgan_mnist_100" / f"seed_{seed}" / "csv" / "metrics.csv"
        assert copied.read_bytes() == run_csv.read_bytes()
    summary = table_rows(report, "| evaluation |")
    assert [row[1] for row in summary] == ["0", "3"]  # the evaluation before the first step and at the end
    for row in summary:
        values = [float(v) for v in row[4].split(", ")]
        assert len(values) == 2 and 0 <= min(values) and max(values) <= 1
        assert float(row[2]) == pytest.approx(sum(values) / 2, abs=1e-3)
    assert re.search(r"verdict: \*\*PASS\*\* \(0 failed\)", report)
    assert "## Experiments" not in report and "## Throughput" not in report  # only the sections asked for


def write_curve(run_dir, values, checkpoint):
    (run_dir / "csv").mkdir(parents=True)
    lines = ["trainer/g_step,loss/d,metrics/test_error"] + [f"{step},0.5,{v}" for step, v in values.items()]
    (run_dir / "csv" / "metrics.csv").write_text("\n".join(lines) + "\n")
    if checkpoint:
        (run_dir / "checkpoints").mkdir()
        (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"x")


@pytest.mark.parametrize(("rc", "result_json", "checkpoint", "expected"), [
    (0, True, False, "pass"),
    (124, False, True, "stopped"),   # ended by the budget with a checkpoint to resume from
    (124, False, False, "FAIL"),     # killed before it could write one
    (1, True, True, "FAIL"),
])
def test_judge_reproduction(gpu_check, tmp_path, rc, result_json, checkpoint, expected):
    write_curve(tmp_path, {0: 0.9, 600: 0.2, 1200: 0.1}, checkpoint)
    if result_json:
        write_result(tmp_path)
    row = gpu_check.judge_reproduction("x", tmp_path, rc, 480)
    assert row.result == expected
    assert row.extra["curve"] == {0: 0.9, 600: 0.2, 1200: 0.1}
    assert "metrics/test_error 0.1 at generator step 1200" in row.detail


def test_judge_reproduction_without_a_curve(gpu_check, tmp_path):
    write_result(tmp_path)
    row = gpu_check.judge_reproduction("x", tmp_path, 0, 480)
    assert row.result == "FAIL" and "no curve logged" in row.detail
