"""`python -m gan_lightning.eval`: every model family's checkpoint, eval.json, the protocol, and errors."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys

import pytest
import torch

from gan_lightning import CONFIG_DIR, PROJECT_ROOT
from gan_lightning.eval import evaluate, with_paths
from gan_lightning.metrics.generative import INCEPTION_WEIGHTS
from gan_lightning.train import train
from tests.hydra_utils import compose_config
from tests.test_faults import FAMILIES

TINY = ["data.num_workers=0", "data.batch_size=8", "logger=none", "~callbacks.progress_bar", "max_g_steps=1"]
SMALL_GENERATIVE = ["metrics.generative.num_fake=16", "metrics.generative.num_real=16",
                    "metrics.generative.batch_size=16", "metrics.generative.is_splits=1"]


def checkpoint(tmp_path, *overrides: str):
    out = tmp_path / "run"
    train(compose_config("train", [*TINY, *overrides], out))
    return out / "checkpoints" / "last.ckpt"


def eval_cfg(tmp_path, ckpt, *overrides: str):
    cfg = compose_config("eval", [f"ckpt_path={ckpt}", "num_fake=40", "num_real=40", "batch_size=20",
                                  "kid_subset_size=20", "kid_subsets=5", "is_splits=2", *overrides],
                         tmp_path / "eval", config_dir=CONFIG_DIR / "eval")
    return with_paths(cfg)


@pytest.fixture
def env(data_dir, classifier_dir, scorer_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CLASSIFIER_DIR", str(classifier_dir))
    monkeypatch.setenv("GAN_SCORER_DIR", str(scorer_dir))  # untrained labels2fashion segmenter: mechanics only
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))


def test_dcgan_fid_is_kid_with_protocol(env, tmp_path):
    ckpt = checkpoint(tmp_path, "model.generator.base_width=8", "model.discriminator.base_width=8", "metrics=none")
    result = evaluate(eval_cfg(tmp_path, ckpt, "metrics=[fid,is,kid]"))
    values = result["values"]
    assert {"domain_fid", "domain_is", "domain_is_std", "domain_kid", "domain_kid_std", "domain_fid_real"} <= set(values)
    assert values["domain_fid"] > values["domain_fid_real"] >= 0  # an untrained G is far from the data
    protocol = result["protocol"]
    assert protocol["num_fake"] == 40 and protocol["num_real"] == 40 and protocol["real_split"] == "test"
    assert "round(clamp((x + 1) / 2, 0, 1) * 255)" in protocol["quantization"]
    written = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert written["checkpoint_sha256"] == result["checkpoint_sha256"] and len(written["checkpoint_sha256"]) == 64
    assert written["values"] == pytest.approx(values) and written["g_step"] == 1
    # The real statistics were cached, keyed by the protocol: a second evaluation reuses them.
    assert len(list((tmp_path / "cache" / "real_stats").glob("*.pt"))) == 1
    again = evaluate(eval_cfg(tmp_path, ckpt, "metrics=[fid,is,kid]"))
    assert again["values"]["domain_fid"] == pytest.approx(values["domain_fid"])


def test_task_metrics_of_a_semi_supervised_checkpoint(env, tmp_path):
    ckpt = checkpoint(tmp_path, "experiment=sgan_conv_mnist_100", "data.batch_size=8", *SMALL_GENERATIVE,
                      "metrics.evaluators.test_error.max_samples=100")
    result = evaluate(eval_cfg(tmp_path, ckpt, "metrics=[test_error]"))
    assert set(result["values"]) == {"test_error"} and 0 <= result["values"]["test_error"] <= 1
    with pytest.raises(ValueError, match=r"\['lpips'\] cannot be evaluated .* available: \['fid', 'is', 'kid', 'test_error'\]"):
        evaluate(eval_cfg(tmp_path, ckpt, "metrics=[fid,lpips]"))


def test_precise_bn_override_of_the_classifier_evaluators(env, tmp_path):
    ckpt = checkpoint(tmp_path, "experiment=catgan_mnist_100", "metrics=semi_supervised_precise_bn", "data.batch_size=8",
                      "metrics.generative=null",
                      "metrics.evaluators.test_error.max_samples=100",
                      "metrics.evaluators.test_error_precise_bn.max_samples=100")
    both = "metrics=[test_error,test_error_precise_bn]"
    running, precise = (evaluate(eval_cfg(tmp_path, ckpt, both))["values"][k]
                        for k in ("test_error", "test_error_precise_bn"))
    assert running != precise  # after one step, training's running statistics are far from the precise ones
    on = evaluate(eval_cfg(tmp_path, ckpt, both, "precise_bn=true"))["values"]
    off = evaluate(eval_cfg(tmp_path, ckpt, both, "precise_bn=false"))["values"]
    assert on == {"test_error": precise, "test_error_precise_bn": precise}
    assert off == {"test_error": running, "test_error_precise_bn": running}


def test_translation_checkpoint(env, tmp_path):
    ckpt = checkpoint(tmp_path, "experiment=pix2pix_edges2fashion", "data.max_train=16", "data.max_test=8",
                      "model.generator.base_width=4", "model.discriminator.base_width=4")
    result = evaluate(eval_cfg(tmp_path, ckpt))
    assert {"l1", "psnr", "ssim"} <= set(result["values"]) and result["protocol"] == {}


def test_missing_inception_weights_is_a_message_not_a_trace(env, tmp_path):
    ckpt = checkpoint(tmp_path, "model.generator.base_width=8", "model.discriminator.base_width=8", "metrics=none")
    result = subprocess.run(
        [sys.executable, "-m", "gan_lightning.eval", f"ckpt_path={ckpt}", "metrics=[fid]",
         "feature_extractor=inception", f"inception_weights={tmp_path}/{INCEPTION_WEIGHTS}"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert INCEPTION_WEIGHTS in result.stderr and "metrics.inception_weights" in result.stderr
    assert "github.com/toshas/torch-fidelity" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------- every model family
# One tiny real checkpoint per family (test_faults' FAMILIES, with the same net shrinking, plus the variants the
# eval CLI must also handle), trained with its experiment's own metrics group at small sizes so the run config
# names the task evaluators eval reads.
DCGAN_NETS = ["model.generator.base_width=8", "model.discriminator.base_width=8"]
GENERATIVE = {"domain_fid", "domain_fid_real", "domain_is", "domain_is_std", "domain_is_real", "domain_is_std_real",
              "domain_kid", "domain_kid_std", "domain_kid_real", "domain_kid_std_real"}
PAIRED = {"l1", "psnr", "ssim"}
FCN = {f"fcn_{m}{real}" for m in ("pixel_accuracy", "class_accuracy", "class_iou") for real in ("", "_real")}
EVAL_FAMILIES = {  # name: (training overrides, the metric names eval.json must hold)
    "gan": (FAMILIES["gan"], GENERATIVE),
    "dcgan": ([*FAMILIES["dcgan"], *DCGAN_NETS], GENERATIVE),
    "cgan": ([*FAMILIES["cgan"], *DCGAN_NETS, "metrics.evaluators.class_accuracy.num_per_class=4"],
             GENERATIVE | {"class_accuracy"}),
    "cgan_mlp": (["experiment=cgan_mnist", "model=cgan_mlp", "metrics.evaluators.class_accuracy.num_per_class=4"],
                 GENERATIVE | {"class_accuracy"}),
    "sgan": ([*FAMILIES["sgan"], *DCGAN_NETS, "metrics.evaluators.test_error.max_samples=100"],
             GENERATIVE | {"test_error"}),
    "supervised_baseline": ([*FAMILIES["supervised_baseline"], "model.discriminator.base_width=8",
                             "metrics.evaluators.test_error.max_samples=100"], {"test_error"}),
    "catgan_unsup": ([*FAMILIES["catgan"], *DCGAN_NETS, "metrics.evaluators.clustering.max_samples=100"],
                     GENERATIVE | {"clustering_accuracy", "clustering_error"}),
    "catgan_semi": (["experiment=catgan_conv_mnist_100", *DCGAN_NETS, "metrics.evaluators.test_error.max_samples=100"],
                    GENERATIVE | {"test_error"}),
    "catgan_mlp_semi": (["experiment=catgan_mnist_100", "metrics.evaluators.test_error.max_samples=100"],
                        GENERATIVE | {"test_error"}),
    "pix2pix": ([*FAMILIES["pix2pix"], "model.generator.base_width=4", "model.discriminator.base_width=4"], PAIRED),
    "pix2pix_labels2fashion": (["experiment=pix2pix_labels2fashion", "data.max_train=16", "data.max_test=4",
                                "model.generator.base_width=4", "model.discriminator.base_width=4"], PAIRED | FCN),
    "cyclegan": ([*FAMILIES["cyclegan"], "metrics.evaluators.translation_success.max_samples=4"],
                 {"translation_success"}),
    "cyclegan_labels2fashion": (["experiment=cyclegan_labels2fashion",
                                 *[o for o in FAMILIES["cyclegan"] if not o.startswith("experiment=")]], PAIRED | FCN),
}


def test_every_family_of_test_faults_is_evaluated():
    names = {"catgan_unsup" if f == "catgan" else f for f in FAMILIES}
    assert names <= set(EVAL_FAMILIES)


@pytest.mark.parametrize("family", sorted(EVAL_FAMILIES))
def test_every_model_family_evaluates_to_eval_json(family, env, tmp_path):
    overrides, expected = EVAL_FAMILIES[family]
    ckpt = checkpoint(tmp_path, *overrides, *(SMALL_GENERATIVE if expected & GENERATIVE else []))
    result = evaluate(eval_cfg(tmp_path, ckpt))  # metrics=null: everything the checkpoint can be evaluated with
    written = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert set(written["values"]) == expected, family
    bad = {k: v for k, v in written["values"].items() if not (isinstance(v, (int, float)) and math.isfinite(v))}
    assert not bad, f"{family}: non-finite values {bad}"
    assert written["checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert written["g_step"] == 1 and written["checkpoint"] == str(ckpt)
    assert written["model"] == torch.load(ckpt, weights_only=True)["gan_lightning"]["config"]["model"]["_target_"]
    assert written["values"] == pytest.approx(result["values"])
    if expected & GENERATIVE:  # FID / IS / KID come with their protocol
        assert written["protocol"]["num_fake"] == 40 and "domain classifier" in written["protocol"]["extractor"]
    else:
        assert written["protocol"] == {}
