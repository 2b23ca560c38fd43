"""Hydra sweeps through the real CLI: a two-job multirun, a failing job, an Optuna sweep, the multirun + ddp
refusal, the SLURM launcher config, and `gan_lightning.compare` on the multirun the tests create."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from gan_lightning import PROJECT_ROOT
from gan_lightning.compare import find_jobs, main as compare_main
from gan_lightning.result import objective

TINY = ["data.num_workers=0", "data.batch_size=8", "model.generator.base_width=8", "model.discriminator.base_width=8",
        "~callbacks.progress_bar", "trainer.log_every_n_steps=1", "max_g_steps=3"]


def cli(args: list[str], env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan_lightning.train", *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, env={**os.environ, "HYDRA_FULL_ERROR": "0", **env}, timeout=timeout)


@pytest.fixture(scope="module")
def loss_sweep(data_dir, classifier_dir, tmp_path_factory) -> Path:
    """A real two-job multirun over the adversarial loss, scored by domain FID every 2 generator steps."""
    sweep = tmp_path_factory.mktemp("sweep")
    result = cli(["-m", "loss=non_saturating,lsgan", "metrics.every_n_g_steps=2", "metrics.generative.num_fake=32",
                  "metrics.generative.num_real=32", "metrics.generative.batch_size=16", f"hydra.sweep.dir={sweep}",
                  *TINY], {"GAN_DATA_DIR": str(data_dir), "GAN_CLASSIFIER_DIR": str(classifier_dir)})
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep


def test_multirun_runs_each_job_in_its_own_dir(loss_sweep):
    jobs = sorted(p for p in loss_sweep.iterdir() if (p / ".hydra").is_dir())
    assert [p.name for p in jobs] == ["0", "1"]  # the overrides are too long for a directory name
    for job, loss in zip(jobs, ["non_saturating", "lsgan"]):
        assert f"loss={loss}" in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        assert (job / "checkpoints" / "last.ckpt").is_file() and (job / "csv" / "metrics.csv").is_file()
        result = json.loads((job / "result.json").read_text())
        assert result["status"] == "completed" and result["metrics"]["trainer/g_step"] == 3
        assert OmegaConf.load(job / ".hydra" / "config.yaml").loss._target_.endswith(
            {"non_saturating": "NonSaturatingLoss", "lsgan": "LSGANLoss"}[loss])


def test_compare_writes_table_and_curves(loss_sweep, tmp_path, capsys):
    compare_main([str(loss_sweep), "--output-dir", str(tmp_path)])  # python -m gan_lightning.compare <dir>
    md, png = tmp_path / "compare.md", tmp_path / "compare.png"
    table = md.read_text()
    rows = [line for line in table.splitlines() if line.startswith("| 0") or line.startswith("| 1")]
    assert len(rows) == 2 and "loss=non_saturating" in rows[0] and "loss=lsgan" in rows[1]
    assert "metrics/domain_fid" in table and "loss/d" in table and "completed" in table
    header = [c.strip() for c in table.splitlines()[4].strip("|").split("|")]
    for row, job in zip(rows, find_jobs(loss_sweep)):
        cells = dict(zip(header, (c.strip() for c in row.strip("|").split("|"))))
        assert cells["g_step"] == "3"
        assert float(cells["metrics/domain_fid"]) == pytest.approx(job.final["metrics/domain_fid"], rel=1e-3)
        fid_curve = job.curves["metrics/domain_fid"]
        assert [g for g, _ in fid_curve] == [0, 2, 3]  # before training, every 2 generator steps, at the end
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "metrics/domain_fid" in capsys.readouterr().out
    compare_main([str(loss_sweep), "--output-dir", str(tmp_path / "log"), "--log-y"])
    assert (tmp_path / "log" / "compare.png").read_bytes() != png.read_bytes()  # the same curves on a log axis


def test_compare_cli_rejects_a_dir_without_jobs(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        compare_main([str(tmp_path)])
    assert exit_info.value.code == 2 and "no Hydra jobs" in capsys.readouterr().err


def test_failing_job_does_not_stop_the_sweep(data_dir, tmp_path):
    result = cli(["-m", "model.n_critic=0,1", "metrics=none", f"hydra.sweep.dir={tmp_path}", *TINY],
                 {"GAN_DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result.stderr[-3000:]
    failed = json.loads((tmp_path / "0" / "result.json").read_text())
    assert failed["status"] == "failed" and "model.n_critic" in failed["error"] and "must be >= 1" in failed["error"]
    done = json.loads((tmp_path / "1" / "result.json").read_text())
    assert done["status"] == "completed" and done["metrics"]["trainer/g_step"] == 3
    assert failed["error"].split(": ", 1)[1] in result.stderr + result.stdout  # logged, not swallowed


def test_optuna_sweep_of_two_trials(data_dir, classifier_dir, tmp_path):
    result = cli(["hparams_search=optuna", "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.n_startup_trials=2",
                  "metrics.every_n_g_steps=100", "metrics.generative.num_fake=32", "metrics.generative.num_real=32",
                  "metrics.generative.batch_size=16", f"hydra.sweep.dir={tmp_path}", *TINY],
                 {"GAN_DATA_DIR": str(data_dir), "GAN_CLASSIFIER_DIR": str(classifier_dir)})
    assert result.returncode == 0, result.stderr[-3000:]
    trials = [json.loads((tmp_path / str(n) / "result.json").read_text()) for n in range(2)]
    assert len(trials) == 2
    values = [t["objective"] for t in trials]
    assert all(math.isfinite(v) for v in values)
    assert values == [t["metrics"]["metrics/domain_fid"] for t in trials]
    best = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(min(values))
    assert {"model.optimizer_g.lr", "model.optimizer_d.lr", "loss"} == set(best["best_params"])


@pytest.mark.parametrize("metrics", [{}, {"metrics/domain_fid": float("nan")}, {"metrics/domain_fid": float("inf")}])
def test_objective_is_finite_for_a_diverged_run(metrics):
    cfg = OmegaConf.create({"optimized_metric": "metrics/domain_fid", "diverged_value": 1.0e6})
    assert objective(metrics, cfg) == 1.0e6
    assert objective({"metrics/domain_fid": 12.5}, cfg) == 12.5
    assert objective({"metrics/domain_fid": 12.5}, OmegaConf.create({"optimized_metric": None})) is None


def test_multirun_with_subprocess_ddp_is_refused(tmp_path):
    result = cli(["-m", "trainer=ddp", "trainer.accelerator=cpu", "seed=1,2", f"hydra.sweep.dir={tmp_path}"], {})
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert "re-running the command line" in message and "hydra/launcher=submitit_slurm" in message
    assert "start_method=spawn" in message
    assert not list(tmp_path.rglob("*.ckpt"))


def test_submitit_slurm_launcher_is_configured_for_ddp():
    result = subprocess.run(
        [sys.executable, "-m", "gan_lightning.train", "hydra/launcher=submitit_slurm", "trainer=ddp", "trainer.devices=4",
         "trainer.num_nodes=2", "--cfg", "all", "--resolve"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    launcher = yaml.safe_load(result.stdout)["hydra"]["launcher"]
    assert launcher["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher["tasks_per_node"], launcher["gpus_per_node"], launcher["nodes"]) == (4, 4, 2)
    assert launcher["timeout_min"] == 1440 and "schema" not in result.stderr


def test_job_dirname_is_short_and_flat():
    from gan_lightning import job_dirname

    assert job_dirname(3, "loss=lsgan,model=dcgan") == "3_loss=lsgan,model=dcgan"
    assert job_dirname(3, "paths.data_dir=/a/b") == "3_paths.data_dir=_a_b"
    assert job_dirname(12, "x=" + "1" * 200) == "12" and job_dirname(0, "") == "0"
