"""ResumableCSVLogger: Lightning's CSVLogger deletes an existing metrics.csv; with append=True (a resumed run) the
old rows stay and new rows, also with new columns, are added."""

from __future__ import annotations

import csv

from gan_lightning.loggers import ResumableCSVLogger


def write_run(save_dir, rows: list[dict], append: bool) -> list[dict]:
    logger = ResumableCSVLogger(save_dir=str(save_dir), name="csv", version="", append=append)
    for step, row in rows:
        logger.log_metrics(row, step=step)
    logger.save()
    with open(save_dir / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_append_keeps_the_rows_of_the_interrupted_run(tmp_path):
    write_run(tmp_path, [(0, {"loss/g": 1.0}), (1, {"loss/g": 0.5})], append=False)
    rows = write_run(tmp_path, [(2, {"loss/g": 0.25, "metrics/fid": 9.0})], append=True)
    assert [r["step"] for r in rows] == ["0", "1", "2"]
    assert [float(r["loss/g"]) for r in rows] == [1.0, 0.5, 0.25]
    assert rows[0]["metrics/fid"] == "" and float(rows[2]["metrics/fid"]) == 9.0


def test_without_append_a_new_run_starts_the_file_over(tmp_path):
    write_run(tmp_path, [(0, {"loss/g": 1.0})], append=False)
    rows = write_run(tmp_path, [(5, {"loss/g": 0.1})], append=False)
    assert [r["step"] for r in rows] == ["5"]
