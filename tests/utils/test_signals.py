"""DataLoader workers ignore the stop signals a process group receives but still obey their own parent's SIGTERM,
and keep Lightning's worker seeding; the datamodules' loaders use that worker_init_fn."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from functools import partial

import pytest
import torch
from lightning_fabric.utilities.seed import pl_worker_init_function, seed_everything
from torch.utils.data import DataLoader, Dataset

from gan_lightning.utils.signals import STOP_SIGNALS, SignalSafeWorkerInit, stop_exit_code


class WorkerFacts(Dataset):
    """Item i: (worker pid, the worker's torch seed, a draw from the worker's torch RNG)."""

    def __len__(self) -> int:
        return 10_000

    def __getitem__(self, i: int):
        return torch.tensor([os.getpid(), torch.initial_seed() % 2**62]), torch.rand(())


def worker_loader(worker_init_fn) -> DataLoader:
    return DataLoader(WorkerFacts(), batch_size=1, num_workers=1, persistent_workers=True,
                      worker_init_fn=worker_init_fn)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_dead(pid: int, timeout: float = 10) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return not alive(pid)
        if done:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not hasattr(signal, "sigwaitinfo"), reason="needs sigwaitinfo (Linux)")
def test_worker_ignores_group_signals_but_exits_on_its_parents_sigterm():
    it = iter(worker_loader(SignalSafeWorkerInit()))
    pid = int(next(it)[0][0, 0])
    for signum in STOP_SIGNALS:  # sent by another process, as SLURM, `timeout` or a terminal would
        subprocess.run(["kill", f"-{signal.Signals(signum).name[3:]}", str(pid)], check=True)
    time.sleep(0.5)
    assert alive(pid)
    assert int(next(it)[0][0, 0]) == pid  # and it still serves batches
    os.kill(pid, signal.SIGTERM)  # from its parent: how multiprocessing ends leftover workers at exit
    assert wait_dead(pid), "the worker ignored its parent's SIGTERM (a DDP rank's exit would hang)"
    del it


def test_worker_seeds_as_lightning_does():
    seed_everything(7, workers=True)
    ours = next(iter(worker_loader(SignalSafeWorkerInit(rank=1))))
    seed_everything(7, workers=True)
    lightning = next(iter(worker_loader(partial(pl_worker_init_function, rank=1))))
    assert ours[0][0, 1] == lightning[0][0, 1] and ours[1] == lightning[1]
    seed_everything(7, workers=True)
    other_rank = next(iter(worker_loader(SignalSafeWorkerInit(rank=0))))
    assert other_rank[0][0, 1] != ours[0][0, 1]


def test_stop_exit_code_is_the_shell_convention():
    assert stop_exit_code(signal.SIGTERM) == 143 and stop_exit_code(signal.SIGINT) == 130


def test_datamodule_loaders_use_the_signal_safe_worker_init(data_dir):
    from gan_lightning.data.vision import MNISTDataModule

    dm = MNISTDataModule(data_dir=str(data_dir), image_size=28, batch_size=8, num_workers=2, on_device=False)
    dm.prepare_data()
    for loader in (dm.train_dataloader(), dm.test_dataloader()):
        assert isinstance(loader.worker_init_fn, SignalSafeWorkerInit)
