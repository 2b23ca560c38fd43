"""gan_lightning.metric_nets: which network files the evaluators of a run read, and the config that trains a
missing one (the same for every evaluator). The real training runs in test_train's empty-cache runs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gan_lightning import metric_nets
from gan_lightning.metric_nets import NET_KINDS, ensure_metric_nets, required_metric_nets
from tests.hydra_utils import compose_config


@pytest.fixture
def run_cfg(tmp_path, monkeypatch):
    """Compose an experiment with an empty cache under tmp_path and a data folder that need not exist."""
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GAN_CLASSIFIER_DIR", raising=False)
    monkeypatch.delenv("GAN_SCORER_DIR", raising=False)
    return lambda *overrides: compose_config("train", list(overrides), tmp_path / "run")


@pytest.fixture
def recorded(monkeypatch):
    """Replace the trainers with recorders: ``{kind config: [training cfgs]}``."""
    calls: dict[str, list] = {}
    for key, kind in list(NET_KINDS.items()):
        fake = metric_nets.NetKind(kind.config, lambda cfg, c=kind.config: calls.setdefault(c, []).append(cfg),
                                   kind.copied_keys, kind.cpu_time)
        monkeypatch.setitem(NET_KINDS, key, fake)
    return calls


def test_each_evaluator_file_once(run_cfg, tmp_path):
    classifiers = tmp_path / "cache" / "classifiers"
    nets = required_metric_nets(run_cfg("experiment=cgan_mnist"))  # the generative metrics and class accuracy
    assert [(n.path, n.data, n.image_size) for n in nets] == [(classifiers / "mnist_28.pt", "mnist", 28)]
    (net,) = required_metric_nets(run_cfg("experiment=cyclegan_sneaker2boot"))
    assert (net.key, net.path, net.data) == ("metrics.evaluators.translation_success.classifier_path",
                                             classifiers / "fashion_mnist_28.pt", "fashion_mnist")
    (net,) = required_metric_nets(run_cfg("experiment=cyclegan_labels2fashion"))
    assert (net.path, net.data, net.image_size) == (tmp_path / "cache" / "scorers" / "labels2fashion_32.pt",
                                                    "labels2fashion", 32)
    # with Inception features the generative metrics need no classifier, class accuracy still does
    (net,) = required_metric_nets(run_cfg("experiment=cgan_mnist", "metrics.feature_extractor=inception"))
    assert net.key == "metrics.evaluators.class_accuracy.classifier_path"
    assert required_metric_nets(run_cfg("experiment=pix2pix_edges2fashion")) == []  # paired metrics read no file
    assert required_metric_nets(run_cfg("experiment=gan_mnist", "metrics=none")) == []


def test_another_datasets_classifier_is_trained_as_its_cli_would(run_cfg, recorded, tmp_path):
    cfg = run_cfg("experiment=cyclegan_sneaker2boot", "data.num_workers=0")
    cfg.train_missing_overrides = {"classifier": {"max_steps": 7}}
    assert ensure_metric_nets(cfg) == [tmp_path / "cache" / "classifiers" / "fashion_mnist_28.pt"]
    (clf,) = recorded["train_classifier"]
    assert clf.data._target_.endswith(".FashionMNISTDataModule") and clf.data.image_size == 28  # not sneaker2boot
    assert clf.data.data_dir == str(tmp_path / "data") and clf.data.cache_dir == str(tmp_path / "cache")
    assert clf.data.num_workers == 0 and clf.data.batches_per_step == 1 and clf.data.seed == clf.seed == 0
    assert clf.dataset == "fashion_mnist"
    assert clf.output == str(tmp_path / "cache" / "classifiers" / "fashion_mnist_28.pt")
    assert clf.max_steps == 7 and clf.epochs == 3  # the override, over conf/train_classifier.yaml


def test_the_runs_own_data_is_used_fully_labeled(run_cfg, recorded):
    cfg = run_cfg("experiment=sgan_fashion_mnist_100", "data.batch_size=8", "model.n_critic=3")  # data=fashion_mnist_semi
    assert cfg.data.batches_per_step == 3
    ensure_metric_nets(cfg)
    (clf,) = recorded["train_classifier"]
    assert clf.data._target_.endswith(".FashionMNISTDataModule") and "num_labeled" not in clf.data
    assert clf.data.batches_per_step == 1  # the classifier has no D steps: the run's n_critic does not carry over
    assert clf.data.batch_size == 8 and clf.dataset == "fashion_mnist"  # the run's data config as it is


def test_scorer_gets_the_evaluators_label_decoder(run_cfg, recorded):
    cfg = run_cfg("experiment=pix2pix_labels2fashion")
    cfg.train_missing_overrides = {"scorer": {"max_steps": 3, "data": {"max_train": 64}}}
    ensure_metric_nets(cfg)
    (scorer,) = recorded["train_scorer"]
    assert scorer.label_decoder == cfg.metrics.evaluators.fcn_score.label_decoder == "labels2fashion"
    assert scorer.data.jitter is False and scorer.data.max_train == 64 and scorer.max_steps == 3


def test_present_files_and_unnamed_ones_are_not_trained(run_cfg, recorded, tmp_path, caplog):
    cfg = run_cfg("experiment=cyclegan_sneaker2boot")
    present = Path(cfg.metrics.evaluators.translation_success.classifier_path)
    present.parent.mkdir(parents=True)
    present.write_bytes(b"")
    assert ensure_metric_nets(cfg) == [] and recorded == {}
    cfg.metrics.evaluators.translation_success.classifier_path = str(tmp_path / "my_classifier.pt")
    with caplog.at_level(logging.WARNING):
        assert ensure_metric_nets(cfg) == [] and recorded == {}
    assert "my_classifier.pt" in caplog.text and "gan_lightning.train_classifier" in caplog.text


def test_every_shipped_evaluator_file_says_its_data(run_cfg):
    """Guards the naming convention the training relies on: every file an experiment's evaluators read is
    <data>_<image_size>.pt with a conf/data/<data>.yaml."""
    from gan_lightning import CONFIG_DIR

    for experiment in sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml")):
        for net in required_metric_nets(run_cfg(f"experiment={experiment}")):
            assert net.data is not None, (experiment, net.key, net.path)


def test_concurrent_runs_train_a_missing_file_once(run_cfg, recorded, tmp_path):
    """A run that finds the file missing but another run's lock taken waits, then reads what that run wrote."""
    import threading

    from filelock import FileLock

    cfg = run_cfg("experiment=cyclegan_sneaker2boot")
    path = Path(cfg.metrics.evaluators.translation_success.classifier_path)
    path.parent.mkdir(parents=True)
    result = {}
    with FileLock(f"{path}.lock"):  # the other run, training
        waiting = threading.Thread(target=lambda: result.setdefault("trained", ensure_metric_nets(cfg)))
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive()  # blocked on the lock, not training a second copy
        path.write_bytes(b"classifier")  # the other run's file lands, then its lock is released
    waiting.join(timeout=30)
    assert result["trained"] == [] and recorded == {}
