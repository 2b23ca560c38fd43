"""benchmarks/time_to_quality.py at a tiny setting: both loops train and are scored by the same metric code."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from gan_lightning import PROJECT_ROOT


@pytest.fixture(scope="module")
def time_to_quality():
    """benchmarks/time_to_quality.py as a module (benchmarks/ is no package)."""
    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("time_to_quality", PROJECT_ROOT / "benchmarks" / "time_to_quality.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


TINY = ["--device", "cpu", "--num-samples", "32", "--eval-every", "2", "--max-g-steps", "4", "--batch-size", "8",
        "--base-width", "8", "--image-size", "32"]


def test_both_loops_train_to_max_steps_on_the_same_metric(time_to_quality, data_dir, classifier_dir, tmp_path,
                                                          monkeypatch):
    """An unreachable threshold (factor 0): both loops evaluate at steps 0, 2, 4 and stop at the step limit; the same
    initial nets score the same FID at step 0 in both, and the floor is the same real-vs-real value."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    result = time_to_quality.main([*TINY, "--classifier", str(classifier_dir / "mnist_32.pt"), "--factor", "0"])
    assert result["ours"] is None and result["plain"] is None and "time_ratio" not in result
    assert [s for s, _ in result["curve_ours"]] == [s for s, _ in result["curve_plain"]] == [0, 2, 4]
    assert result["curve_ours"][0][1] == pytest.approx(result["curve_plain"][0][1], rel=1e-5)
    assert result["floor"] > 0 and result["threshold"] == 0


def test_threshold_met_at_the_first_evaluation_stops_both(time_to_quality, data_dir, classifier_dir, tmp_path,
                                                          monkeypatch):
    """A threshold above every FID: both stop at step 0, and the ratio and evaluation share are reported."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    result = time_to_quality.main([*TINY, "--classifier", str(classifier_dir / "mnist_32.pt"), "--factor", "1e12",
                                   "--plain-first", "--plain-channels-last"])
    assert result["ours"][0] == result["plain"][0] == 0
    assert len(result["curve_ours"]) == len(result["curve_plain"]) == 1  # later evaluations are not the run's
    assert 0 < result["eval_share"] <= 1


def test_missing_classifier_names_the_command(time_to_quality, tmp_path, capsys):
    with pytest.raises(SystemExit):
        time_to_quality.main(["--classifier", str(tmp_path / "nope.pt")])
    assert "gan_lightning.train_classifier data=mnist data.image_size=32" in capsys.readouterr().err
