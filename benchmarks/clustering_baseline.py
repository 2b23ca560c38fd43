"""The k-means reference for an unsupervised clustering experiment: what clustering the raw pixels gives, scored
exactly as the experiment's D is.

    python benchmarks/clustering_baseline.py experiment=catgan_mnist_unsup --seeds 0,1,2
    python benchmarks/clustering_baseline.py experiment=catgan_mnist_unsup model.num_classes=10 \
        metrics.evaluators.clustering.mapping=hungarian      # K = 10, one-to-one

The experiment's config is composed as ``python -m gan_lightning.train`` composes it (the Hydra overrides are
passed through). K is ``model.num_classes``. k-means (Lloyd's algorithm with k-means++ seeding,
``scipy.cluster.vq.kmeans2``) runs on the flattened train images in [-1, 1], labels unused. Its nearest-centroid
assignment is then scored on the test split by the experiment's own clustering evaluator
(``metrics.evaluators.clustering``: the same images, K and cluster -> class mapping as D's
``metrics/clustering_error``). The script prints each seed's error and the mean +- sd, in %.

A clustering objective that scores no better than this has learned nothing beyond pixel-space distances.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy.cluster.vq import kmeans2
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_check import compose  # noqa: E402  (the train entry point's composition, shared with the GPU check)

from gan_lightning.data.on_device import from_uint8  # noqa: E402
from gan_lightning.utils.config import instantiate  # noqa: E402


class NearestCentroid(nn.Module):
    """A fixed clustering as a classifier: ``classify(x)`` gives logits (N, K), the negative squared Euclidean
    distances of images x (N, C, H, W) in [-1, 1] to the K centroids (K, C * H * W), so the argmax is the
    nearest centroid."""

    def __init__(self, centroids: Tensor) -> None:
        super().__init__()
        self.register_buffer("centroids", centroids.float())

    @property
    def device(self) -> torch.device:
        return self.centroids.device

    def classify(self, x: Tensor) -> Tensor:
        return -torch.cdist(x.flatten(1).float(), self.centroids).square()


def fit_kmeans(images: Tensor, k: int, seed: int, iterations: int = 30) -> NearestCentroid:
    """k-means with k-means++ seeding on uint8 images (N, C, H, W), mapped to [-1, 1] and flattened.

    Raises:
        ValueError: ``k`` < 2 or more than the number of images.
    """
    if not 2 <= k <= len(images):
        raise ValueError(f"k-means needs 2 <= K <= {len(images)} (the number of train images), got K={k}; "
                         "set model.num_classes.")
    data = from_uint8(images).flatten(1).double().numpy()
    centroids, _ = kmeans2(data, k, iter=iterations, minit="++", seed=np.random.default_rng(seed))
    return NearestCentroid(torch.from_numpy(centroids))


def main(argv: list[str] | None = None) -> list[float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=catgan_mnist_unsup")
    parser.add_argument("--seeds", default="0,1,2", help="k-means seeds, comma-separated (default 0,1,2)")
    parser.add_argument("--iterations", type=int, default=30, help="Lloyd iterations (default 30)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as out:
        cfg = compose(list(args.overrides), Path(out))
    entry = (cfg.get("metrics") or {}).get("evaluators", {}).get("clustering")
    if entry is None:
        raise SystemExit("error: the composed config has no metrics.evaluators.clustering; pick an unsupervised "
                         "clustering experiment, e.g. experiment=catgan_mnist_unsup")
    k = int(cfg.model.num_classes)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    train = datamodule.train_tensors()[0]
    print(f"k-means on {len(train)} train images {tuple(train.shape[1:])}, K = {k}, mapping "
          f"{entry.get('mapping', 'hungarian')}, scored on the test split by {entry['_target_'].split('.')[-1]}")
    errors = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        model = fit_kmeans(train, k, seed, args.iterations)
        evaluator = instantiate(entry)
        evaluator.setup(model, datamodule)
        error = 100 * evaluator.compute(model)["clustering_error"]
        errors.append(error)
        print(f"seed {seed}: clustering error {error:.2f} %", flush=True)
    sd = statistics.stdev(errors) if len(errors) > 1 else 0.0
    print(f"k-means, K = {k}: {statistics.mean(errors):.2f} +- {sd:.2f} % (mean +- sd over {len(errors)} seeds)")
    return errors


if __name__ == "__main__":
    main()
