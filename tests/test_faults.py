"""Faults a run survives: SIGTERM (preemption), Ctrl-C, SIGUSR1 and SIGUSR2 write a resumable last.ckpt, also when
sent to the whole process group with DataLoader workers and under DDP; the same command with ckpt_path=auto resumes
it; a write interrupted half-way leaves the previous checkpoint loadable (checkpoints are written to a temporary file
beside the target and renamed); every model family's checkpoint loads with weights_only=True."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

from gan_lightning import PROJECT_ROOT
from gan_lightning.checkpoint import load_module, resolve_ckpt_path
from gan_lightning.launcher import requested_ckpt_path
from gan_lightning.train import checkpoint_dir, train
from gan_lightning.utils.signals import STOP_SIGNALS
from tests.hydra_utils import compose_config

TINY = ["data.num_workers=0", "data.batch_size=8", "metrics=none", "~callbacks.progress_bar",
        "model.generator.base_width=8", "model.discriminator.base_width=8"]


def start_run(out: Path, *extra: str) -> subprocess.Popen:
    # Many steps, a sample grid every step (the sign that training runs), no periodic checkpoints.
    args = [sys.executable, "-m", "gan_lightning.train", f"hydra.run.dir={out}", "max_g_steps=100000", "logger=none",
            "callbacks.sample_grid.every_n_g_steps=1", "callbacks.model_checkpoint.every_n_g_steps=0", *TINY, *extra]
    return subprocess.Popen(args, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def wait_for_step(out: Path, proc: subprocess.Popen, g_step: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not (out / "samples" / f"g_step={g_step:07d}.png").exists():
        if proc.poll() is not None:
            pytest.fail(f"training ended early:\n{proc.stdout.read()}")
        if time.time() > deadline:
            proc.kill()
            pytest.fail("training did not reach the step in time")
        time.sleep(0.2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_writes_a_checkpoint_that_resumes(sig, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    out = tmp_path / "run"
    proc = start_run(out)
    try:
        wait_for_step(out, proc, 3)
        proc.send_signal(sig)
        log = proc.communicate(timeout=120)[0]
    finally:
        proc.kill()  # never leave a training process behind
    ckpt = out / "checkpoints" / "last.ckpt"
    assert ckpt.is_file(), log
    saved = torch.load(ckpt, weights_only=True)["gan_lightning"]["g_step"]
    assert saved >= 3

    cfg = compose_config("train", [*TINY, "logger=none", f"max_g_steps={saved + 2}", f"ckpt_path={ckpt}"],
                         tmp_path / "resumed")
    train(cfg)
    assert torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)["gan_lightning"]["g_step"] == saved + 2
    # the resumed run continued from the saved step: its first sample grid is the saved step + 1
    grids = sorted(p.name for p in (tmp_path / "resumed" / "samples").glob("g_step=*.png"))
    assert grids and grids[0] >= f"g_step={saved:07d}.png"


# ---- signals to the whole process group, with DataLoader workers --------------------------------------------------
# "Clean" here: the run ends by itself with status 128 + signal number (not killed by it), no process of its group
# is left, its last.ckpt loads (weights_only) at a generator step >= the one seen, nothing in its output says a worker
# died or an exception escaped, and result.json records "interrupted".
WORKERS = [*(a for a in TINY if not a.startswith("data.num_workers=")), "data.num_workers=2", "data.on_device=false"]
DEATH_SIGNS = ("killed by signal", "exited unexpectedly", "Traceback")


def start_group_run(out: Path, *extra: str) -> subprocess.Popen:
    """A long tiny run with 2 workers in its own process group (start_new_session), a sample grid every step."""
    args = [sys.executable, "-m", "gan_lightning.train", f"hydra.run.dir={out}", "max_g_steps=100000",
            "callbacks.sample_grid.every_n_g_steps=1", "callbacks.model_checkpoint.every_n_g_steps=0", *WORKERS, *extra]
    return subprocess.Popen(args, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)


def signal_group_and_wait(proc: subprocess.Popen, sig: int, timeout: float = 180) -> str:
    """Send ``sig`` to the run's whole process group; return its output once it has ended. Whatever is left of the
    group afterwards (it should be nothing) is killed."""
    try:
        os.killpg(proc.pid, sig)
        return proc.communicate(timeout=timeout)[0]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.kill()


def group_is_gone(pgid: int, timeout: float = 15) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def assert_stopped_cleanly(out: Path, proc: subprocess.Popen, log: str, sig: int, seen: int) -> int:
    """The run's exit and files are as defined above; returns the saved generator step."""
    assert proc.returncode == 128 + sig, log[-3000:]
    for sign in DEATH_SIGNS:
        assert sign not in log, log[-3000:]
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    saved = ckpt["gan_lightning"]["g_step"]
    assert saved >= seen > 0
    assert json.loads((out / "result.json").read_text())["status"] == "interrupted"
    return saved


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2],
                         ids=lambda s: signal.Signals(s).name)
def test_group_signal_with_workers_writes_last_ckpt_and_stops_cleanly(sig, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    out = tmp_path / "run"
    proc = start_group_run(out, "logger=none")
    try:
        wait_for_step(out, proc, 3)
    except BaseException:
        signal_group_and_wait(proc, signal.SIGKILL, timeout=30)
        raise
    log = signal_group_and_wait(proc, sig)
    assert group_is_gone(proc.pid), "a worker or rank outlived the run"
    saved = assert_stopped_cleanly(out, proc, log, sig, seen=3)
    assert f"Stopped by {signal.Signals(sig).name} at generator step {saved}" in log


def test_ddp_group_sigterm_stops_every_rank_at_the_same_batch(data_dir, tmp_path, monkeypatch):
    """ddp_spawn on 2 CPU ranks with 2 workers each: the parent outlives the signal, both ranks save at the same
    generator step and the parent exits with the ranks' status."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    out = tmp_path / "run"
    proc = start_group_run(out, "logger=none", "trainer=ddp_cpu")
    try:
        wait_for_step(out, proc, 2, timeout=300)
    except BaseException:
        signal_group_and_wait(proc, signal.SIGKILL, timeout=30)
        raise
    log = signal_group_and_wait(proc, signal.SIGTERM, timeout=240)
    assert group_is_gone(proc.pid), "a worker or rank outlived the run"
    saved = assert_stopped_cleanly(out, proc, log, signal.SIGTERM, seen=2)
    stops = re.findall(r"Stopped by SIGTERM at generator step (\d+)", log)
    assert stops == [str(saved), str(saved)], log[-3000:]  # one line per rank, the same step


def metric_rows(out: Path) -> list[dict]:
    with open(out / "csv" / "metrics.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r.get("trainer/g_step")]


def test_same_command_with_ckpt_path_auto_resumes_after_a_signal(data_dir, tmp_path, monkeypatch):
    """Run, SIGTERM the group, run the identical command line again: it resumes from the saved generator step, and
    the metric history from before the interruption stays in metrics.csv."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    out = tmp_path / "run"
    command = (out, "ckpt_path=auto", "logger=csv", "trainer.log_every_n_steps=1")
    first = start_group_run(*command)
    wait_for_step(out, first, 3)
    log = signal_group_and_wait(first, signal.SIGTERM)
    assert "ckpt_path=auto: no checkpoint at" in log and "starting a new run" in log
    saved = assert_stopped_cleanly(out, first, log, signal.SIGTERM, seen=3)
    before = metric_rows(out)
    assert [float(r["trainer/g_step"]) for r in before] == list(range(1, saved + 1))

    second = start_group_run(*command)
    wait_for_step(out, second, saved + 2)
    log = signal_group_and_wait(second, signal.SIGTERM)
    assert f"ckpt_path=auto: resuming from {out / 'checkpoints' / 'last.ckpt'}" in log
    resumed = assert_stopped_cleanly(out, second, log, signal.SIGTERM, seen=saved + 2)
    after = metric_rows(out)
    assert after[:len(before)] == before  # the interrupted run's rows are kept as they were
    # the resumed run logged from the saved step on: its first generator step is saved + 1
    assert [float(r["trainer/g_step"]) for r in after[len(before):]] == list(range(saved + 1, resumed + 1))


def test_ckpt_path_auto_resolves_the_run_dirs_last_ckpt(tmp_path, caplog):
    caplog.set_level("INFO", logger="gan_lightning.checkpoint")
    assert resolve_ckpt_path("auto", tmp_path) is None
    assert "starting a new run" in caplog.text
    (tmp_path / "last.ckpt").write_bytes(b"x")
    assert resolve_ckpt_path("auto", tmp_path) == str((tmp_path / "last.ckpt").resolve())
    assert "resuming from" in caplog.text
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):  # an explicit path must still exist
        resolve_ckpt_path(str(tmp_path / "nope.ckpt"), tmp_path)


def test_ckpt_path_defaults_to_auto_under_submitit_only(tmp_path):
    cfg = compose_config("train", ["hydra/launcher=submitit_slurm"], tmp_path)
    assert cfg.ckpt_path is None and requested_ckpt_path(cfg) == "auto"
    assert checkpoint_dir(cfg) == str(tmp_path / "checkpoints")
    explicit = compose_config("train", ["hydra/launcher=submitit_slurm", "ckpt_path=/x/last.ckpt"], tmp_path)
    assert requested_ckpt_path(explicit) == "/x/last.ckpt"
    assert requested_ckpt_path(compose_config("train", [], tmp_path)) is None


class SendSignalAt(pl.Callback):
    """Sends ``signum`` to this process at the start of generator step ``g_step``'s batch."""

    def __init__(self, signum: int, g_step: int) -> None:
        self.signum, self.g_step = int(signum), int(g_step)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if pl_module.g_step + 1 == self.g_step:
            os.kill(os.getpid(), self.signum)


def test_requeue_handler_runs_after_last_ckpt_and_handlers_are_restored(data_dir, tmp_path, monkeypatch):
    """In process: a SIGUSR2 handler installed before training (submitit's requeue) is called once, after last.ckpt
    holds the stop step; the run ends with SIGTERMException(128 + SIGUSR2); every handler is as before afterwards."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    out = tmp_path / "run"
    seen = []

    def requeue(signum, frame):
        seen.append(torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["gan_lightning"]["g_step"])

    previous = signal.signal(signal.SIGUSR2, requeue)
    try:
        before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
        cfg = compose_config("train", [
            *TINY, "logger=none", "max_g_steps=50", "callbacks.model_checkpoint.every_n_g_steps=0",
            "+callbacks.stop._target_=tests.test_faults.SendSignalAt", f"+callbacks.stop.signum={int(signal.SIGUSR2)}",
            "+callbacks.stop.g_step=3"], out)
        with pytest.raises(SIGTERMException) as stop:
            train(cfg)
        assert stop.value.code == 128 + signal.SIGUSR2
        assert seen == [3]
        assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before
    finally:
        signal.signal(signal.SIGUSR2, previous)


def half_write_then_fail(calls: list):
    """A torch.save that writes half of the real bytes to its file, then raises (a kill mid-write)."""
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        calls.append(getattr(f, "name", None))
        if len(calls) == 1:  # the first checkpoint: written whole
            return real_save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        f.flush()
        raise OSError("simulated kill during the checkpoint write")

    return save


def test_interrupted_checkpoint_write_leaves_the_previous_file_loadable(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    cfg = compose_config("train", [*TINY, "logger=none", "max_g_steps=2", "callbacks.model_checkpoint.every_n_g_steps=1",
                                   "callbacks.model_checkpoint.save_top_k=0"], tmp_path)
    calls: list = []
    monkeypatch.setattr(torch, "save", half_write_then_fail(calls))
    with pytest.raises(OSError, match="simulated kill"):
        train(cfg)
    last = tmp_path / "checkpoints" / "last.ckpt"
    # The failed write went to a real file next to last.ckpt (not a buffer), so last.ckpt itself was at risk.
    assert calls == [f"{last}.tmp{os.getpid()}"] * 2
    monkeypatch.undo()
    assert torch.load(last, weights_only=True)["gan_lightning"]["g_step"] == 1  # the previous one, intact
    assert load_module(str(last)).g_step == 1
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]  # the temporary file was removed


def test_checkpoints_are_renamed_from_a_temp_file_in_their_own_directory(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    real_replace, renames = os.replace, []

    def recording_replace(src, dst, *args, **kwargs):
        if str(dst).endswith(".ckpt"):
            renames.append((Path(src), Path(dst)))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", recording_replace)
    train(compose_config("train", [*TINY, "logger=none", "max_g_steps=2", "callbacks.model_checkpoint.every_n_g_steps=1"],
                         tmp_path))
    ckpt_dir = tmp_path / "checkpoints"
    written = {dst.name for _, dst in renames}
    assert "last.ckpt" in written and any(name.startswith("g_step=") for name in written), renames
    for src, dst in renames:
        assert src.parent == dst.parent == ckpt_dir  # one directory: the rename is atomic
        assert src.name == f"{dst.name}.tmp{os.getpid()}"
    assert sorted(p.name for p in ckpt_dir.iterdir()) == sorted(written)  # no temporary file left


KILLED_WRITER = """
import io, pathlib, sys, time
import torch
from gan_lightning.checkpoint import AtomicCheckpointIO

real_save = torch.save

def slow_save(obj, f):  # half the bytes on disk, then hang until killed
    buffer = io.BytesIO()
    real_save(obj, buffer)
    f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    f.flush()
    pathlib.Path(sys.argv[2]).touch()
    time.sleep(600)

torch.save = slow_save
AtomicCheckpointIO().save_checkpoint({"step": 2, "weights": torch.ones(100_000)}, sys.argv[1])
"""


def test_sigkill_during_a_checkpoint_write_leaves_the_previous_file_loadable(tmp_path):
    from gan_lightning.checkpoint import AtomicCheckpointIO

    last, marker = tmp_path / "checkpoints" / "last.ckpt", tmp_path / "half_written"
    AtomicCheckpointIO().save_checkpoint({"step": 1, "weights": torch.zeros(100_000)}, str(last))
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(last), str(marker)], cwd=PROJECT_ROOT)
    try:
        deadline = time.time() + 120
        while not marker.exists():
            assert proc.poll() is None, "the writer ended before it was killed"
            assert time.time() < deadline, "the writer never started writing"
            time.sleep(0.1)
        proc.kill()  # SIGKILL: no cleanup runs
        proc.wait(timeout=30)
    finally:
        proc.kill()
    saved = torch.load(last, weights_only=True)
    assert saved["step"] == 1 and torch.equal(saved["weights"], torch.zeros(100_000))
    # The kill left the half-written temporary file beside last.ckpt, never a truncated last.ckpt.
    leftover = last.with_name(f"last.ckpt.tmp{proc.pid}")
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt", leftover.name]
    with pytest.raises(Exception):
        torch.load(leftover, weights_only=True)


def test_every_trainer_config_writes_checkpoints_atomically(tmp_path):
    from pytorch_lightning.plugins import TorchCheckpointIO

    from gan_lightning.checkpoint import AtomicCheckpointIO
    from gan_lightning.train import build_trainer

    for trainer in ("default", "cpu", "debug", "ddp_cpu"):
        trainer_obj = build_trainer(compose_config("train", [f"trainer={trainer}"], tmp_path / trainer), [], [])
        assert isinstance(trainer_obj.strategy.checkpoint_io, AtomicCheckpointIO), trainer
    # A CheckpointIO the config gives itself is kept, not doubled (Lightning refuses two).
    cfg = compose_config("train", ["+trainer.plugins=[{_target_: pytorch_lightning.plugins.TorchCheckpointIO}]"],
                         tmp_path / "own")
    assert type(build_trainer(cfg, [], []).strategy.checkpoint_io) is TorchCheckpointIO


FAMILIES = {
    "gan": ["experiment=gan_mnist"],
    "dcgan": [],
    "cgan": ["experiment=cgan_mnist"],
    "sgan": ["experiment=sgan_conv_mnist_100"],
    "catgan": ["experiment=catgan_conv_mnist_unsup"],
    "supervised_baseline": ["experiment=supervised_conv_mnist_100"],
    "pix2pix": ["experiment=pix2pix_edges2fashion", "data.max_train=16", "data.max_test=4"],
    "cyclegan": ["experiment=cyclegan_sneaker2boot", "data.max_train=16", "data.max_test=4",
                 "model.generator.modules.AtoB.base_width=4", "model.generator.modules.AtoB.n_blocks=1",
                 "model.discriminator.modules.A.base_width=4"],
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_model_checkpoint_loads_weights_only(family, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    overrides = [o for o in TINY if not (family in ("cyclegan", "gan") and "base_width" in o)]
    if family == "supervised_baseline":
        overrides = [o for o in overrides if "generator" not in o]
    train(compose_config("train", [*FAMILIES[family], *overrides, "logger=none", "max_g_steps=1"], tmp_path))
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    raw = torch.load(ckpt, weights_only=True)  # plain tensors and containers only: no pickled objects
    assert raw["gan_lightning"]["g_step"] == 1
    model = load_module(str(ckpt))
    assert type(model).__name__ in raw["gan_lightning"]["config"]["model"]["_target_"]
