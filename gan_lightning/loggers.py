"""A CSV logger that keeps the metric history of a resumed run (conf/logger/csv.yaml)."""

from __future__ import annotations

import csv

from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that with ``append`` an existing ``metrics.csv`` is kept and new rows are
    appended under its header (a new metric key rewrites the file with the wider header, as Lightning does)."""

    def __init__(self, log_dir: str, append: bool) -> None:
        self.append = append
        super().__init__(log_dir=log_dir)

    def _check_log_dir_exists(self) -> None:
        if not (self.append and self._fs.isfile(self.metrics_file_path)):
            super()._check_log_dir_exists()  # warns, and deletes the old metrics.csv
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            header = next(csv.reader(file), [])
        self.metrics_keys = sorted(set(header))


class ResumableCSVLogger(CSVLogger):
    """:class:`~pytorch_lightning.loggers.CSVLogger` (``<save_dir>/<name>/<version>/metrics.csv``) that, with
    ``append=True``, continues an existing ``metrics.csv`` instead of deleting it. ``gan_lightning.train`` sets
    ``append`` when it resumes from a checkpoint, so a run resumed into its own directory (``ckpt_path=auto``)
    keeps the rows logged before the interruption. Rows logged after the checkpoint was written and before a hard
    kill are kept too: their steps are logged again by the resumed run.

    Args:
        append: keep and extend an existing ``metrics.csv`` (default False: Lightning's behaviour).
        **kwargs: passed to ``CSVLogger`` (save_dir, name, version, prefix, flush_logs_every_n_steps).
    """

    def __init__(self, *args, append: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.append = append

    @property
    @rank_zero_experiment
    def experiment(self) -> _AppendingWriter:
        if self._experiment is not None:
            return self._experiment
        self._fs.makedirs(self.root_dir, exist_ok=True)
        self._experiment = _AppendingWriter(log_dir=self.log_dir, append=self.append)
        return self._experiment
