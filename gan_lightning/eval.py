"""`python -m gan_lightning.eval ckpt_path=... [metrics=[fid,is,kid,...]]`: evaluate any checkpoint.

Rebuilds the model (``weights_only`` loading) and its datamodule from the checkpoint's run config, evaluates the
requested metrics through the same evaluators as training (:mod:`gan_lightning.metrics`, built as
:class:`gan_lightning.callbacks.EvaluationCallback` builds them), prints a table with the protocol and writes ``eval.json`` with the values, the protocol and the checkpoint's
sha256.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from gan_lightning import CONFIG_DIR
from gan_lightning.callbacks.evaluation import build_evaluators
from gan_lightning.checkpoint import load_module, resolve_ckpt_path
from gan_lightning.metrics.evaluator import ClassifierEvaluator, Evaluator, compute_all
from gan_lightning.metrics.generative import METRICS, InceptionWeightsError
from gan_lightning.utils.net_files import sha256_of


def rebuild_datamodule(run_config: dict[str, Any], cfg: DictConfig) -> Any:
    """The run's datamodule, with its data and cache folders moved to this machine's ``paths`` when the stored
    ones do not exist (a checkpoint evaluated elsewhere)."""
    data = dict(run_config["data"])
    old_paths = run_config.get("paths", {})
    for key in ("data_dir", "cache_dir"):
        stored, old_root = data.get(key), old_paths.get(key)
        if stored and not Path(stored).exists() and old_root and str(stored).startswith(str(old_root)):
            data[key] = str(cfg.paths[key]) + str(stored)[len(str(old_root)):]
    data.update(num_workers=0, batches_per_step=1)
    dm = instantiate(data)
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")
    return dm


# The evaluators' classes before they left the callbacks, as checkpoints written then name them.
RENAMED_EVALUATORS = {
    "gan_lightning.callbacks.TestErrorCallback": "gan_lightning.metrics.ClassifierErrorEvaluator",
    "gan_lightning.callbacks.ClusteringAccuracyCallback": "gan_lightning.metrics.ClusteringEvaluator",
    "gan_lightning.callbacks.ClassConditionalAccuracy": "gan_lightning.metrics.ClassAccuracyEvaluator",
    "gan_lightning.callbacks.PairedMetricsCallback": "gan_lightning.metrics.PairedEvaluator",
    "gan_lightning.callbacks.FCNScoreCallback": "gan_lightning.metrics.FCNScoreEvaluator",
    "gan_lightning.callbacks.TranslationSuccessCallback": "gan_lightning.metrics.TranslationSuccessEvaluator",
}


def instantiate_evaluator(entry: dict[str, Any]) -> Evaluator:
    """A task evaluator of a run config, also of one that names its old callback class (cadence arguments,
    which the evaluation callback owns, dropped)."""
    target = RENAMED_EVALUATORS.get(entry["_target_"])
    if target is not None:
        drop = ("_target_", "every_n_g_steps", "every_n_epochs")
        entry = {"_target_": target, **{k: v for k, v in entry.items() if k not in drop}}
    return instantiate(entry)


def build_evaluation(model: Any, cfg: DictConfig) -> dict[str, Evaluator]:
    """The run's task evaluators (its metrics group; ``cfg.precise_bn``, when not null, sets ``precise_bn`` on the
    classifier evaluators) and, for models that sample from z, FID / IS / KID with the settings of ``cfg``
    (``generative`` first); only the requested names.

    Raises:
        ValueError: a requested name the model cannot be evaluated with (the message lists those it can).
    """
    metrics_cfg = dict((model.run_config or {}).get("metrics") or {})
    evaluators = dict(metrics_cfg.get("evaluators") or {})
    available = (list(METRICS) if getattr(model, "uses_latent", False) else []) + [
        k for k, v in evaluators.items() if v is not None]
    wanted = list(cfg.metrics) if cfg.metrics is not None else available
    unknown = [m for m in wanted if m not in available]
    if unknown:
        raise ValueError(f"metrics={wanted}: {unknown} cannot be evaluated for this checkpoint; available: {available}.")
    generative_names = [m for m in METRICS if m in wanted]
    generative = None
    if generative_names:
        generative = {"names": generative_names, "num_fake": int(cfg.num_fake), "num_real": int(cfg.num_real),
                      "real_split": cfg.real_split, "batch_size": int(cfg.batch_size), "seed": int(cfg.seed),
                      "kid_subset_size": int(cfg.kid_subset_size), "kid_subsets": int(cfg.kid_subsets),
                      "is_splits": int(cfg.is_splits), "reference": True}
    task = {k: instantiate_evaluator(v) for k, v in evaluators.items() if k in wanted and v is not None}
    if cfg.get("precise_bn") is not None:
        for evaluator in task.values():
            if isinstance(evaluator, ClassifierEvaluator):
                evaluator.precise_bn = bool(cfg.precise_bn)
    return build_evaluators(
        task,
        generative=generative, feature_extractor=cfg.feature_extractor, inception_weights=cfg.inception_weights,
        inception_weights_url=cfg.get("inception_weights_url"),
        classifier_path=cfg.classifier_path or metrics_cfg.get("classifier_path") or default_classifier(model, cfg),
        cache_dir=str(cfg.paths.cache_dir))


def default_classifier(model: Any, cfg: DictConfig) -> str:
    """``<paths.classifier_dir>/<dataset>_<image_size>.pt``, the name train_classifier gives the run's data."""
    data = (model.run_config or {}).get("data", {})
    name = get_class(data["_target_"]).name if "_target_" in data else "data"
    return str(Path(cfg.paths.classifier_dir) / f"{name}_{data.get('image_size')}.pt")


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate ``cfg.ckpt_path``; returns (and writes) the eval.json content."""
    ckpt = resolve_ckpt_path(cfg.ckpt_path)
    if ckpt is None:
        raise ValueError("ckpt_path is required: the path of a checkpoint written by gan_lightning.train.")
    model = load_module(ckpt, map_location=cfg.device)
    run_config = model.run_config or {}
    evaluators = build_evaluation(model, cfg)
    dm = rebuild_datamodule(run_config, cfg)
    for evaluator in evaluators.values():
        evaluator.setup(model, dm)  # one process
    computed, _ = compute_all(evaluators, model)
    values = {k: v for k, v in computed.items() if isinstance(v, (int, float))}
    generative = evaluators.get("generative")
    result = {
        "checkpoint": ckpt, "checkpoint_sha256": sha256_of(ckpt), "g_step": int(model.g_step),
        "model": run_config.get("model", {}).get("_target_"), "values": values,
        "protocol": dict(generative.protocol) if generative is not None else {},
        "evaluators": sorted(evaluators),
    }
    output = Path(cfg.output) if cfg.output else Path(ckpt).parent.parent / "eval.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, output)
    result["output"] = str(output)
    print_table(result)
    return result


def print_table(result: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"{Path(result['checkpoint']).name} (generator step {result['g_step']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result["values"].items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    for key, value in result["protocol"].items():
        console.print(f"  {key}: {value}")
    console.print(f"wrote {result['output']} (checkpoint sha256 {result['checkpoint_sha256'][:16]}...)")


def with_paths(cfg: DictConfig) -> DictConfig:
    """``cfg`` plus the ``paths`` of conf/paths/default.yaml (the eval config directory has no paths group)."""
    paths = OmegaConf.load(CONFIG_DIR / "paths" / "default.yaml")
    merged = OmegaConf.merge({"paths": paths}, cfg)
    merged.paths.output_dir = "."  # eval.json goes next to the checkpoint's run unless output is given
    return merged


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR / "eval"), config_name="eval")
def main(cfg: DictConfig) -> None:
    try:
        evaluate(with_paths(cfg))
    except InceptionWeightsError as e:  # a set-up problem, not a crash: the message says what to do
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
