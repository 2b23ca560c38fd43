"""benchmarks/reproduction.py: the mean +- sd table over seeds and the curves' PNG, from CSV logs."""

from __future__ import annotations

import csv
import importlib.util

import pytest

from gan_lightning import PROJECT_ROOT


@pytest.fixture(scope="module")
def reproduction():
    spec = importlib.util.spec_from_file_location("reproduction", PROJECT_ROOT / "benchmarks" / "reproduction.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(path, values: dict[int, float]):
    """A run directory whose csv/metrics.csv logs metrics/test_error at the given generator steps, between loss rows."""
    (path / "csv").mkdir(parents=True)
    with (path / "csv" / "metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, ["trainer/g_step", "loss/d", "metrics/test_error"])
        writer.writeheader()
        for step, value in values.items():
            writer.writerow({"trainer/g_step": step, "loss/d": 0.5})
            writer.writerow({"trainer/g_step": step, "metrics/test_error": value})
    return path


def test_table_is_the_mean_and_sd_at_common_epochs_and_the_plot_is_written(reproduction, tmp_path, capsys):
    a = write_run(tmp_path / "seed_0", {10: 0.20, 20: 0.10, 30: 0.05})
    b = write_run(tmp_path / "seed_1", {10: 0.30, 20: 0.20})  # stopped earlier: rows end at step 20
    png = tmp_path / "figs" / "curve.png"
    reproduction.main([str(a), str(b), "--steps-per-epoch", "10", "--plot", str(png)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[2:] == ["| 10 | 1 | 25.00 +- 7.07 | 20.00 | 30.00 |", "| 20 | 2 | 15.00 +- 7.07 | 10.00 | 20.00 |"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_without_the_metric_is_named(reproduction, tmp_path):
    a = write_run(tmp_path / "seed_0", {10: 0.2})
    with pytest.raises(SystemExit, match="metrics/domain_is.*seed_0"):
        reproduction.main([str(a), "--metric", "metrics/domain_is"])
