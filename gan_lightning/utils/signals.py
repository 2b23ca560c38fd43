"""The signals that stop a run with a checkpoint, and keeping them away from the processes that must not react.

A stop signal often reaches the whole process group, not just the main process: Ctrl-C in a terminal (SIGINT),
GNU ``timeout`` (SIGTERM), SLURM on preemption, ``scancel`` and the time limit (SIGTERM; with submitit first the
``--signal=USR2@<signal_delay_s>`` it asks for; Lightning's SLURM auto-requeue uses SIGUSR1). The training process
(each DDP rank) handles them in :class:`~gan_lightning.callbacks.GeneratorStepCheckpoint`: finish the batch, write
``last.ckpt``, stop. DataLoader workers ignore them (:class:`SignalSafeWorkerInit`), and the parent of ``ddp_spawn``
ranks waits for its ranks (:func:`spawned_ranks_stop_together`) instead of dying first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException
from lightning_fabric.utilities.seed import pl_worker_init_function

log = logging.getLogger(__name__)

# SIGUSR1/SIGUSR2 do not exist on Windows.
STOP_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2") if hasattr(signal, name)
)


def stop_exit_code(signum: int) -> int:
    """The exit status of a run stopped by ``signum`` after saving: ``128 + signum`` (the shell's convention for
    "ended by that signal"; 143 for SIGTERM, 130 for SIGINT), so a wrapper can tell it from a completed run."""
    return 128 + int(signum)


def in_main_thread() -> bool:
    """Python can only set signal handlers from the main thread (not e.g. in a notebook's worker thread)."""
    return threading.current_thread() is threading.main_thread()


class SignalSafeWorkerInit:
    """``worker_init_fn`` of every train/test DataLoader: the worker ignores the stop signals that reach its whole
    process group (the training process stops the run at a batch end; a worker killed by a group-wide SIGTERM would
    make it raise "DataLoader worker (pid N) is killed by signal" before it can save), then seeds itself as
    Lightning would: :func:`pl_worker_init_function` when ``seed_everything(workers=True)`` set
    ``PL_SEED_WORKERS=1`` (Lightning only adds its own seeding to loaders without a ``worker_init_fn``).

    SIGINT, SIGUSR1 and SIGUSR2 are ignored outright. SIGTERM is ignored unless it comes from the worker's own
    parent: that is how the parent ends workers it could not shut down cleanly (``multiprocessing`` terminates
    daemonic children when it exits, e.g. after an error in a DDP rank), and a worker ignoring it would hang that
    exit. The sender is read with ``sigwaitinfo`` in a small thread (as torch's own worker SIGTERM handler does
    in C); the worker then exits with status 0, as torch's does. Without ``sigwaitinfo`` (macOS) SIGTERM keeps
    torch's handling.

    Args:
        rank: the global rank of the process that builds the loader (Lightning's worker seeds depend on it).

    Picklable (a plain class), so it also works with the ``spawn`` / ``forkserver`` worker start methods.
    """

    def __init__(self, rank: int = 0) -> None:
        self.rank = int(rank)

    def __call__(self, worker_id: int) -> None:
        for signum in STOP_SIGNALS:
            if signum != signal.SIGTERM:
                signal.signal(signum, signal.SIG_IGN)
        if hasattr(signal, "sigwaitinfo") and in_main_thread():
            _obey_sigterm_only_from_parent()
        if int(os.environ.get("PL_SEED_WORKERS", 0)):
            pl_worker_init_function(worker_id, rank=self.rank)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank})"


def _obey_sigterm_only_from_parent() -> None:
    # Blocked in this (the worker's main) thread before any other starts, so every thread of the worker
    # inherits the mask and a SIGTERM stays pending until the waiting thread takes it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    parent = os.getppid()

    def wait() -> None:
        while True:
            info = signal.sigwaitinfo({signal.SIGTERM})
            if info.si_pid == parent:
                os._exit(0)

    threading.Thread(target=wait, name="sigterm-from-parent", daemon=True).start()


@contextlib.contextmanager
def spawned_ranks_stop_together(trainer: pl.Trainer) -> Iterator[None]:
    """Wrap ``trainer.fit`` so that under ``ddp_spawn`` the parent process outlives a stop signal.

    The parent of spawned ranks trains nothing, but a group-wide SIGTERM would kill it (default action) and a
    Ctrl-C would tear it down while the ranks are still saving. Inside this context it ignores the first SIGINT
    (the ranks got it too; a second one aborts as usual) and passes SIGTERM / SIGUSR1 / SIGUSR2 on to the ranks
    (they may have been sent to the parent alone; a duplicate is harmless). A rank that stopped on a signal
    exits with :func:`stop_exit_code`; that is re-raised here as Lightning's ``SIGTERMException`` with the same
    code, as in a single process, instead of torch's ``ProcessExitedException``.

    Does nothing for other strategies or outside the main thread.
    """
    from pytorch_lightning.strategies.launchers.multiprocessing import _MultiProcessingLauncher

    launcher = trainer.strategy.launcher
    if not isinstance(launcher, _MultiProcessingLauncher) or not in_main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if signum == signal.SIGINT:
            if signal.SIGINT in received:
                raise KeyboardInterrupt
        else:
            launcher.kill(signum)
        received.append(signum)
        log.warning("Received %s: waiting for the DDP ranks to finish their batch and write last.ckpt.",
                    signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    except Exception as err:
        from torch.multiprocessing import ProcessExitedException

        code = getattr(err, "exit_code", None) if isinstance(err, ProcessExitedException) else None
        if code is not None and code - 128 in STOP_SIGNALS:
            raise SIGTERMException(code) from None
        raise
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)
