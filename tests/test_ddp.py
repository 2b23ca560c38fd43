"""DDP on 2 CPU processes (gloo, ddp_spawn) for every model family: the run finishes, both ranks end with the
same weights, and each rank has its own data shard and random stream."""

from __future__ import annotations

import pytest
import torch

from gan_lightning.train import train
from tests.hydra_utils import compose_config
from tests.test_train import TINY

G_STEPS = 3
# One experiment per model family, with nets shrunk where the config allows.
FAMILIES = {
    "gan_mnist": [],
    "dcgan_mnist": ["model.generator.base_width=8", "model.discriminator.base_width=8"],
    "cgan_mnist": [],
    "sgan_mnist_100": [],
    "sgan_conv_mnist_100": ["model.generator.base_width=8", "model.discriminator.base_width=8"],
    "catgan_mnist_unsup": [],
    "pix2pix_edges2fashion": ["data.max_train=64", "data.max_test=16", "model.generator.base_width=16",
                              "model.discriminator.base_width=16"],
    "cyclegan_sneaker2boot": ["data.max_train=64", "data.max_test=16", "model.generator.modules.AtoB.base_width=16",
                              "model.discriminator.modules.A.base_width=16"],
}


def run_ddp(experiment: str, extra: list[str], tmp_path, metrics: str = "none") -> list[dict]:
    probe = tmp_path / "probe"
    cfg = compose_config("train", [
        f"experiment={experiment}", "trainer=ddp_cpu", f"max_g_steps={G_STEPS}", f"metrics={metrics}",
        "+callbacks.rank_probe._target_=tests.ddp_probe.RankProbe", f"+callbacks.rank_probe.output_dir={probe}",
        *TINY, *extra,
    ], tmp_path / "run")
    train(cfg)
    return [torch.load(probe / f"rank{r}.pt", weights_only=True) for r in range(2)]


@pytest.mark.parametrize("experiment", sorted(FAMILIES))
def test_family_trains_under_ddp_with_identical_weights(experiment, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    ranks = run_ddp(experiment, FAMILIES[experiment], tmp_path)
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["g_step"] for r in ranks] == [G_STEPS, G_STEPS]
    params0, params1 = ranks[0]["params"], ranks[1]["params"]
    assert params0.keys() == params1.keys() and params0
    for name in params0:
        torch.testing.assert_close(params0[name], params1[name], rtol=0, atol=0, msg=name)
    assert ranks[0]["first"]["batch_sum"] != ranks[1]["first"]["batch_sum"], "both ranks got the same data"
    assert ranks[0]["first"]["rng_draw"] != ranks[1]["first"]["rng_draw"], "both ranks share a random stream"
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    for r in ranks:  # the sample grid gathered from both ranks' shares is the whole fixed batch, in order
        grid = r["grid"]
        assert grid["gathered"].shape == grid["whole"].shape
        if experiment != "pix2pix_edges2fashion":  # Pix2Pix keeps its dropout noise on at test time
            torch.testing.assert_close(grid["gathered"], grid["whole"], rtol=0, atol=1e-5)


def test_ddp_metrics_identical_on_both_ranks(data_dir, classifier_dir, tmp_path, monkeypatch):
    """FID, IS (random splits) and KID (random subsets) agree on both ranks of a real run, and no rank caches its
    share of the real reference (tests/metrics/test_generative.py covers reading a cache under DDP)."""
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAN_CLASSIFIER_DIR", str(classifier_dir))
    ranks = run_ddp("dcgan_mnist", [
        *FAMILIES["dcgan_mnist"], "metrics.generative.num_fake=40", "metrics.generative.num_real=40",
        "metrics.generative.batch_size=8", "metrics.generative.names=[fid,is,kid]", "metrics.generative.is_splits=4",
        "metrics.generative.kid_subset_size=10", "metrics.generative.kid_subsets=5", f"metrics.cache_dir={tmp_path}/cache",
    ], tmp_path, metrics="default")
    for name in ("metrics/domain_fid", "metrics/domain_is", "metrics/domain_kid"):
        values = [r["metrics"][name] for r in ranks]
        assert values[0] == values[1], name
    assert ranks[0]["metrics"]["metrics/domain_fid"] > 0
    assert not (tmp_path / "cache" / "real_stats").exists()


def test_ddp_run_resumes_from_its_checkpoint(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(data_dir))
    extra = FAMILIES["dcgan_mnist"]
    run_ddp("dcgan_mnist", extra, tmp_path)
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, weights_only=True)
    assert saved["gan_lightning"]["g_step"] == G_STEPS
    ranks = run_ddp("dcgan_mnist", [*extra, f"max_g_steps={2 * G_STEPS}", f"ckpt_path={ckpt}"], tmp_path)
    assert [r["g_step"] for r in ranks] == [2 * G_STEPS] * 2
    for name, value in ranks[0]["params"].items():
        torch.testing.assert_close(value, ranks[1]["params"][name], rtol=0, atol=0, msg=name)
    assert ranks[0]["first"]["batch_sum"] != ranks[1]["first"]["batch_sum"]
    assert torch.load(ckpt, weights_only=True)["gan_lightning"]["g_step"] == 2 * G_STEPS
