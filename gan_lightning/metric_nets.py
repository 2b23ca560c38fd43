"""Train the helper networks the metrics read, on first use, the same way for every evaluator.

An evaluator names the file it reads with a ``classifier_path`` (a domain classifier, written by
``python -m gan_lightning.train_classifier``) or a ``scorer_path`` (an FCN-score segmenter, written by
``python -m gan_lightning.train_scorer``). Both commands name their output ``<data>_<image_size>.pt`` after the data
config they train on, so a missing file's name says how to make it: :func:`ensure_metric_nets` trains every missing
file of the run's evaluators as ``python -m gan_lightning.<command> data=<data> data.image_size=<image_size>`` would,
with the run's paths. A file named otherwise is left to the evaluator, whose error at ``setup`` names the command.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any

from filelock import FileLock
from omegaconf import DictConfig, OmegaConf

from gan_lightning import CONFIG_DIR
from gan_lightning.data.semi_supervised import fully_labeled_config

log = logging.getLogger(__name__)


def _train_classifier(cfg: DictConfig) -> Any:
    from gan_lightning.train_classifier import train_classifier

    return train_classifier(cfg)


def _train_scorer(cfg: DictConfig) -> Any:
    from gan_lightning.train_scorer import train_scorer

    return train_scorer(cfg)


@dataclass(frozen=True)
class NetKind:
    """How one kind of metric network is trained: its entry point's config (conf/<config>.yaml), the trainer, the
    evaluator keys copied into that config (e.g. the scorer's ``label_decoder``) and a rough CPU time for the log."""

    config: str
    train: Callable[[DictConfig], Any]
    copied_keys: tuple[str, ...]
    cpu_time: str


# The config key of an evaluator argument -> what trains the file it names.
NET_KINDS = {
    "classifier_path": NetKind("train_classifier", _train_classifier, (), "about a minute per epoch"),
    "scorer_path": NetKind("train_scorer", _train_scorer, ("label_decoder",), "about two minutes"),
}


@dataclass(frozen=True)
class MetricNet:
    """A file an evaluator reads: ``key`` (the config key naming it, e.g.
    ``metrics.evaluators.translation_success.classifier_path``), ``path``, the ``data`` config option and
    ``image_size`` it is trained on (None when its name does not say), and the evaluator's ``entry`` config."""

    key: str
    path: Path
    data: str | None
    image_size: int | None
    entry: dict[str, Any]

    @property
    def kind(self) -> NetKind:
        return NET_KINDS[self.key.rsplit(".", 1)[-1]]


def evaluator_arguments(metrics: DictConfig | dict | None) -> dict[str, dict[str, Any]]:
    """The arguments of every evaluator of a ``metrics`` config (resolved), by config path: the generative
    metrics (``metrics``: their ``classifier_path`` only with the domain extractor, as
    :class:`~gan_lightning.callbacks.EvaluationCallback` passes them) and each ``metrics.evaluators.<name>``."""
    if not metrics or "_target_" not in metrics:  # metrics=none
        return {}
    metrics = OmegaConf.to_container(metrics, resolve=True) if isinstance(metrics, DictConfig) else dict(metrics)
    out: dict[str, dict[str, Any]] = {}
    if metrics.get("generative") is not None and metrics.get("feature_extractor") == "domain":
        out["metrics"] = {"classifier_path": metrics.get("classifier_path")}
    for name, entry in (metrics.get("evaluators") or {}).items():
        if entry is not None:  # an experiment removes an option's evaluator with null
            out[f"metrics.evaluators.{name}"] = dict(entry)
    return out


def required_metric_nets(cfg: DictConfig) -> list[MetricNet]:
    """Every network file the run's evaluators read (``classifier_path`` / ``scorer_path`` arguments), once per
    path, whether or not it exists."""
    nets: dict[Path, MetricNet] = {}
    for prefix, args in evaluator_arguments(cfg.get("metrics")).items():
        for key in NET_KINDS:
            if args.get(key) is None:
                continue
            path = Path(str(args[key])).expanduser()
            match = re.fullmatch(r"(\w+)_(\d+)", path.stem)
            data = match[1] if match and (CONFIG_DIR / "data" / f"{match[1]}.yaml").is_file() else None
            nets.setdefault(path, MetricNet(f"{prefix}.{key}", path, data, int(match[2]) if data else None, args))
    return list(nets.values())


def data_file_config(name: str) -> DictConfig:
    """conf/data/<name>.yaml as Hydra composes it (unresolved): the bases its ``defaults`` list names
    (``/base/data@_here_``: conf/base/data.yaml) merged in order, then its own keys (``_self_`` last)."""
    own = OmegaConf.load(CONFIG_DIR / "data" / f"{name}.yaml")
    bases = [OmegaConf.load(CONFIG_DIR / f"{entry.split('@')[0].lstrip('/')}.yaml")
             for entry in own.pop("defaults", []) if entry != "_self_"]
    return OmegaConf.merge(*bases, own)


def training_config(net: MetricNet, cfg: DictConfig) -> DictConfig:
    """The entry point's config (conf/train_classifier.yaml or conf/train_scorer.yaml) for ``net``, as its command
    line ``data=<net.data> data.image_size=<net.image_size> output=<net.path>`` would compose it with the run's
    ``paths`` and ``data.num_workers``, then ``cfg.train_missing_overrides.<classifier|scorer>``.

    The run's own data config (same datamodule class, fully labeled, and size) is used as is, so its overrides (a
    ``data.data_dir`` for instance) carry over; any other comes from conf/data/<net.data>.yaml."""
    kind = net.kind
    base = OmegaConf.load(CONFIG_DIR / f"{kind.config}.yaml")
    del base["defaults"]
    own_data = fully_labeled_config(OmegaConf.to_container(cfg.data, resolve=True))
    file_data = fully_labeled_config(OmegaConf.to_container(data_file_config(net.data)))
    same = own_data["_target_"] == file_data["_target_"] and int(own_data.get("image_size", -1)) == net.image_size
    data = own_data if same else {**file_data, "image_size": net.image_size,
                                  "num_workers": cfg.data.get("num_workers", file_data.get("num_workers"))}
    # batches_per_step is conf/base/data.yaml's rule, read in the entry point's config, which has no model: 1, not
    # the run's n_critic.
    data["batches_per_step"] = file_data["batches_per_step"]
    short = "classifier" if kind.config == "train_classifier" else "scorer"
    overrides = OmegaConf.to_container(cfg.get("train_missing_overrides") or {}, resolve=True).get(short) or {}
    merged = OmegaConf.merge(
        base, {"data": data}, {"data": base.get("data") or {}},  # the entry point's `data:` keys win, as its _self_
        {"paths": OmegaConf.to_container(cfg.paths, resolve=True), "dataset": net.data, "output": str(net.path)},
        {k: net.entry[k] for k in kind.copied_keys if net.entry.get(k) is not None},
        overrides,
    )
    return merged  # a data file's ${seed} / ${paths.*} now resolve against the entry point's seed and the run's paths


def ensure_metric_nets(cfg: DictConfig) -> list[Path]:
    """Train every missing network the run's evaluators read (see the module docstring), before the run is built;
    returns the paths trained. A missing file whose name does not follow ``<data>_<image_size>.pt`` with a
    conf/data/<data>.yaml is skipped with a warning (its evaluator's ``setup`` then stops the run).

    Runs that start together (``-m seed=0,1,2`` under a parallel launcher, jobs of one array) train a missing file
    once: each takes ``<file>.lock`` first and looks again, so the others wait and then read the file the first
    wrote, and every run scores with the same network.

    Raises:
        whatever the entry point raises (missing data, an unknown ``label_decoder``, ...).
    """
    trained = []
    for net in required_metric_nets(cfg):
        if net.path.is_file():
            continue
        if net.data is None:
            log.warning("%s=%s is missing and its name does not say which data to train it on (<data>_<size>.pt): "
                        "train it with python -m gan_lightning.%s.", net.key, net.path, net.kind.config)
            continue
        net.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{net.path}.lock"):
            if net.path.is_file():  # another run trained it while this one waited
                continue
            log.warning("No file at %s=%s: training it first (python -m gan_lightning.%s data=%s data.image_size=%d; "
                        "%s on CPU).", net.key, net.path, net.kind.config, net.data, net.image_size, net.kind.cpu_time)
            net.kind.train(training_config(net, cfg))
        trained.append(net.path)
    return trained
