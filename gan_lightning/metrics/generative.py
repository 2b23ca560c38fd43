"""FID, IS and KID of generated images under a stated protocol, through torchmetrics.

Two feature extractors go through the same code path:

* ``inception``: the standard one behind published numbers, torch-fidelity's TF-ported Inception-v3
  (``weights-inception-2015-12-05-6726825d.pth``, verified by its sha256; downloaded from torch-fidelity's release
  on first use when the machine is online, see :func:`ensure_inception_weights`) with TF-compatible resizing to
  299x299 (``antialias=False``): 2048-d pool features for FID / KID, the 1008 "unbiased" logits for IS.
* ``domain``: the framework's classifier trained on the real data (:mod:`gan_lightning.metrics.domain`): offline
  and fast on a CPU, comparable between runs of this framework only.

Images are quantized as samples are saved: ``round(clamp((x + 1) / 2, 0, 1) * 255)`` to uint8, grey images tiled
to 3 channels for Inception. The protocol (extractor, weights, resize, quantization, counts, real split) is
returned with every score.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from gan_lightning.metrics.domain import DomainFeatureExtractor, preserve_global_rng
from gan_lightning.utils.images import to_uint8
from gan_lightning.utils.net_files import sha256_of

log = logging.getLogger(__name__)

INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
# The file's full sha256 (95,628,359 bytes). torch-fidelity publishes only its first 8 hex digits, in the file name
# (torch.hub's hash-prefix convention); the full digest is the one several independent projects pin for this exact
# release file (the same bytes as pytorch-fid's pt_inception-2015-12-05-6726825d.pth).
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
INCEPTION_SHA256_PREFIX = INCEPTION_SHA256[:8]
# torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3 (torch-fidelity 0.3 and 0.4)
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_WEIGHTS}"
DOWNLOAD_TIMEOUT_S = 60.0
METRICS = ("fid", "is", "kid")
EXTRACTORS = ("inception", "domain")


class InceptionWeightsError(FileNotFoundError):
    """The Inception weights file is missing (and cannot be downloaded here) or is not the expected file."""


def _missing_weights_message(path: Path) -> str:
    return (f"Inception weights not found at {path}. Download {INCEPTION_WEIGHTS} from {INCEPTION_URL} on a machine "
            f"with internet, copy it here, and set metrics.inception_weights=/path/to/{INCEPTION_WEIGHTS} (or the env "
            "var GAN_INCEPTION_WEIGHTS). Offline and for quick comparisons, use metrics.feature_extractor=domain.")


def verify_inception_weights(path: str | os.PathLike, sha256: str = INCEPTION_SHA256) -> Path:
    """Check that ``path`` is the FID Inception weights file: it exists and its sha256 starts with ``sha256`` (the
    full digest by default; a prefix works too, as torch.hub's ``hash_prefix``).

    Raises:
        InceptionWeightsError: missing file (the message names the file, where to get it and the config key),
            or a file with another hash.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InceptionWeightsError(_missing_weights_message(path))
    digest = sha256_of(path)  # streamed: the weights are about 90 MB
    if not digest.startswith(sha256):
        raise InceptionWeightsError(f"{path} has sha256 {digest[:16]}..., not the {sha256[:16]}... of "
                                    f"{INCEPTION_WEIGHTS}: scores with other weights are not comparable with published ones.")
    return path


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """A default socket timeout for the duration: torch.hub's urlopen has none, and a firewall that drops packets
    would otherwise stall the run instead of failing with the offline message. Process-wide, hence restored."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def ensure_inception_weights(path: str | os.PathLike, url: str | None = INCEPTION_URL, sha256: str = INCEPTION_SHA256,
                             timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """:func:`verify_inception_weights`, downloading the file from ``url`` to ``path`` first when it is missing.

    The download goes through ``torch.hub.download_url_to_file`` (any urllib URL, ``file://`` included): into a
    ``<path>.<uuid>.partial`` file in the same folder, checked against ``sha256`` while it streams, then moved onto
    ``path`` with an atomic rename, so a failed or mismatched download leaves nothing at ``path``.

    Args:
        path: where the weights live (``metrics.inception_weights``, by default in ``paths.cache_dir``).
        url: where to fetch them when missing (``metrics.inception_weights_url``, default torch-fidelity's release
            URL); None or empty: never download.
        sha256: the expected sha256 (hex; a prefix checks only that many digits).
        timeout: seconds without progress before a socket operation fails.

    Raises:
        InceptionWeightsError: still missing after a failed download (the offline message plus the reason), a
            download with another sha256, or an existing file with another sha256.
    """
    path = Path(path).expanduser()
    if not path.is_file() and url:
        import torch.hub

        log.warning("No Inception weights at %s: downloading %s (about 96 MB).", path, url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _socket_timeout(timeout):
                torch.hub.download_url_to_file(url, str(path), hash_prefix=sha256, progress=False)
        except RuntimeError as err:  # torch.hub: "invalid hash value (expected ..., got ...)"
            raise InceptionWeightsError(f"The download from {url} is not {INCEPTION_WEIGHTS} ({err}); nothing was "
                                        f"written to {path}.") from None
        except OSError as err:  # URLError, HTTPError, timeouts, an unwritable folder
            raise InceptionWeightsError(f"{_missing_weights_message(path)} (Downloading it from {url} failed: "
                                        f"{getattr(err, 'reason', None) or err}.)") from None
    return verify_inception_weights(path, sha256)


class InceptionFeatures(nn.Module):
    """torch-fidelity's Inception-v3 (via torchmetrics) computing the pool features and the unbiased logits of a
    uint8 batch (N, 3, H, W) once, for FID / KID and IS alike. ``select(name)`` gives the module torchmetrics
    calls for one of them."""

    def __init__(self, weights: str | os.PathLike, antialias: bool = False) -> None:
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048", "logits_unbiased"],
                                      feature_extractor_weights_path=str(verify_inception_weights(weights)),
                                      antialias=antialias)
        self.sizes = {"2048": 2048, "logits_unbiased": 1008}
        self._last: tuple[Tensor, dict[str, Tensor]] | None = None

    def outputs(self, images: Tensor) -> dict[str, Tensor]:
        if self._last is None or self._last[0] is not images:  # the three metrics get the same tensor object
            pool, logits = self.net(images)
            self._last = (images, {"2048": pool.reshape(pool.shape[0], -1), "logits_unbiased": logits})
        return self._last[1]

    def select(self, name: str) -> nn.Module:
        return _Select(self, name, self.sizes[name])


class _Select(nn.Module):
    def __init__(self, shared: nn.Module, name: str, num_features: int) -> None:
        super().__init__()
        self.shared = [shared]  # a list: not registered twice as a submodule
        self.name, self.num_features = name, num_features

    def forward(self, images: Tensor) -> Tensor:
        return self.shared[0].outputs(images)[self.name]


class GenerativeMetrics(nn.Module):
    """FID (Heusel 2017), IS (Salimans 2016) and KID (Binkowski 2018) of fake images against a real reference.

    Feed the real reference with :meth:`update_real` (kept across :meth:`reset`), the fakes with
    :meth:`update_fake`, then :meth:`compute`. Images are (N, C, H, W) in [-1, 1]. Under DDP each rank feeds its
    share and torchmetrics gathers the states in ``compute`` (which every rank must call).

    Args:
        feature_extractor: ``"inception"`` or ``"domain"``.
        metrics: a subset of ``("fid", "is", "kid")``.
        inception_weights: path of the Inception weights (``inception`` only).
        classifier: a loaded domain classifier (``domain`` only).
        features: a stand-in for the extractor, e.g. in tests: a module mapping uint8 (N, 3, H, W) to a dict
            ``{"2048": (N, F), "logits_unbiased": (N, K)}`` through ``outputs(images)``, with ``select(name)``.
        kid_subset_size, kid_subsets: KID's subsets (Binkowski 2018: 100 subsets of 1000); the subset size is
            capped at the number of samples.
        is_splits: IS splits (10 in Salimans 2016).

    Raises:
        ValueError: an unknown extractor or metric, or a missing classifier for ``domain``.
        InceptionWeightsError: ``inception`` without the verified weights file.
    """

    def __init__(self, feature_extractor: str = "domain", metrics: tuple[str, ...] | list[str] = METRICS,
                 inception_weights: str | os.PathLike | None = None, classifier: nn.Module | None = None,
                 features: nn.Module | None = None, kid_subset_size: int = 1000, kid_subsets: int = 100,
                 is_splits: int = 10) -> None:
        super().__init__()
        if feature_extractor not in EXTRACTORS:
            raise ValueError(f"metrics.feature_extractor must be one of {EXTRACTORS}, got {feature_extractor!r}.")
        unknown = set(metrics) - set(METRICS)
        if unknown or not metrics:
            raise ValueError(f"metrics.names must be a non-empty subset of {METRICS}, got {list(metrics)}.")
        self.feature_extractor, self.names = feature_extractor, tuple(m for m in METRICS if m in metrics)
        self.inception_weights = None if inception_weights is None else str(inception_weights)
        if features is not None:
            pool, logits = features.select("2048"), features.select("logits_unbiased")
        elif feature_extractor == "inception":
            features = InceptionFeatures(inception_weights if inception_weights is not None else INCEPTION_WEIGHTS)
            pool, logits = features.select("2048"), features.select("logits_unbiased")
        else:
            if classifier is None:
                raise ValueError("metrics.feature_extractor=domain needs the domain classifier (metrics.classifier_path).")
            pool, logits = DomainFeatureExtractor(classifier, "features"), DomainFeatureExtractor(classifier, "logits")
        self.features = features  # registered once, so .to(device) moves it
        self.kid_subset_size = kid_subset_size
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
            self.fid = FrechetInceptionDistance(feature=pool, reset_real_features=False) if "fid" in self.names else None
            self.kid = (KernelInceptionDistance(feature=pool, subsets=kid_subsets, subset_size=kid_subset_size,
                                                reset_real_features=False) if "kid" in self.names else None)
            self.inception = InceptionScore(feature=logits, splits=is_splits) if "is" in self.names else None

    def prepare(self, images: Tensor) -> Tensor:
        """uint8 (N, C', H, W) as the protocol says: quantized, grey tiled to 3 channels for Inception."""
        pixels = to_uint8(images)  # round(clamp((x + 1) / 2) * 255), grey tiled to RGB
        if self.feature_extractor == "domain" and images.shape[1] == 1:
            pixels = pixels[:, :1]  # the domain classifier reads its own channel count
        return pixels

    def update_real(self, images: Tensor) -> None:
        x = self.prepare(images)
        for m in (self.fid, self.kid):
            if m is not None:
                m.update(x, real=True)

    def update_fake(self, images: Tensor) -> None:
        x = self.prepare(images)
        for m in (self.fid, self.kid):
            if m is not None:
                m.update(x, real=False)
        if self.inception is not None:
            self.inception.update(x)

    @property
    def num_real(self) -> int:
        m = self.fid or self.kid
        if m is None:
            return 0
        return int(m.real_features_num_samples) if m is self.fid else sum(int(f.shape[0]) for f in m.real_features)

    def compute(self) -> dict[str, float]:
        """``{"fid", "is", "is_std", "kid", "kid_std"}`` (those enabled; ``is_std`` with ``is_splits > 1``) of the
        fakes since the last reset.

        Raises:
            RuntimeError: too few samples (from torchmetrics; FID needs >= 2 of each).
        """
        values: dict[str, float] = {}
        with preserve_global_rng(), warnings.catch_warnings():
            # IS splits and KID subsets are drawn with torch.randperm from the global CPU RNG: a fixed seed makes
            # them the same on every DDP rank (which split their streams by rank) and in every run.
            torch.random.default_generator.manual_seed(0)
            warnings.simplefilter("ignore")
            if self.fid is not None:
                values["fid"] = float(self.fid.compute())
            if self.inception is not None:
                mean, std = self.inception.compute()
                values["is"] = float(mean)
                if self.inception.splits > 1:  # the spread over splits; undefined for one
                    values["is_std"] = float(std)
            if self.kid is not None:
                self.kid.subset_size = min(self.kid_subset_size, self._kid_sample_count())
                mean, std = self.kid.compute()
                values["kid"], values["kid_std"] = float(mean), float(std)
        return values

    def _kid_sample_count(self) -> int:
        """The smaller of the fake and real sample counts KID will see: summed over the DDP ranks (compute
        gathers their features), so every rank caps the subset size alike, and as one process would."""
        fake = self.kid.fake_features
        counts = torch.tensor([sum(f.shape[0] for f in fake), sum(f.shape[0] for f in self.kid.real_features)],
                              device=fake[0].device if fake else None)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(counts)
        return int(counts.min())

    def reset(self) -> None:
        """Forget the fakes; the real reference stays."""
        for m in (self.fid, self.kid, self.inception):
            if m is not None:
                m.reset()

    # ---- real statistics on disk ----------------------------------------------------------------------
    def real_state(self) -> dict[str, Any]:
        """The real reference: FID's feature sums and KID's features (CPU tensors)."""
        state: dict[str, Any] = {}
        if self.fid is not None:
            state["fid"] = {k: getattr(self.fid, k).detach().cpu() for k in
                            ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")}
        if self.kid is not None:
            state["kid"] = [f.detach().cpu() for f in self.kid.real_features]
        return state

    def load_real_state(self, state: dict[str, Any], rank: int = 0, world_size: int = 1) -> None:
        """Load a :meth:`real_state`. Under DDP (``world_size > 1``) each rank keeps only its share, as if it had
        fed it: torchmetrics sums FID's statistics and concatenates KID's features over the ranks in ``compute``,
        so a full copy on every rank would count the reference ``world_size`` times. Rank 0 keeps FID's sums (the
        others zeros); rank r keeps KID's rows ``r::world_size``, the order in which the ranks feed them."""
        if world_size > 1:
            state = {**state}
            if "fid" in state and rank > 0:
                state["fid"] = {k: torch.zeros_like(v) for k, v in state["fid"].items()}
            if "kid" in state:
                state["kid"] = [torch.cat(state["kid"])[rank::world_size].contiguous()]  # gloo sends views wrongly
        if self.fid is not None:
            for k, v in state["fid"].items():
                setattr(self.fid, k, v.to(getattr(self.fid, k).device))
        if self.kid is not None:
            device = next(iter(self.buffers()), torch.empty(0)).device
            self.kid.real_features = [f.to(device) for f in state["kid"]]


def protocol_key(protocol: dict[str, Any]) -> str:
    """A short stable hash of the real-side protocol, naming its cached statistics."""
    return hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()[:16]


def load_or_compute_real(metrics: GenerativeMetrics, protocol: dict[str, Any], cache_dir: str | os.PathLike | None,
                         real_batches) -> bool:
    """Fill ``metrics``' real reference from ``<cache_dir>/real_stats/<protocol_key>.pt`` if present, else from
    ``real_batches()`` (an iterable of (N, C, H, W) images in [-1, 1]) and write the cache atomically (not under
    DDP: each rank holds only its share). Returns True when read from the cache."""
    path = None if cache_dir is None else Path(cache_dir) / "real_stats" / f"{protocol_key(protocol)}.pt"
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    if path is not None and path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)["state"]
        if distributed:
            metrics.load_real_state(state, torch.distributed.get_rank(), torch.distributed.get_world_size())
        else:
            metrics.load_real_state(state)
        return True
    for x in real_batches():
        metrics.update_real(x)
    if metrics.kid is not None and metrics.kid.real_features:
        # One tensor per rank: torchmetrics gathers list states item by item, which would interleave the ranks'
        # batches; whole shards gather in the order load_real_state shards a cached reference.
        metrics.kid.real_features = [torch.cat(metrics.kid.real_features)]
    if path is not None and not distributed:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"protocol": protocol, "state": metrics.real_state()}, tmp)
        os.replace(tmp, path)
    return False


def _batches(images: Tensor | Iterable[Tensor], batch_size: int) -> Iterator[Tensor]:
    if isinstance(images, Tensor):
        yield from images.split(batch_size)
    else:
        for b in images:
            yield b[0] if isinstance(b, (tuple, list)) else b  # (image, label) batches from a DataLoader


@torch.no_grad()
def domain_scores(classifier: nn.Module, fake: Tensor | Iterable[Tensor], real: Tensor | Iterable[Tensor],
                  batch_size: int = 250) -> dict[str, float]:
    """One-shot ``{"domain_fid", "domain_is"}`` of ``fake`` against ``real`` with the domain classifier (IS in
    one split).

    Args:
        classifier: a loaded domain classifier (:func:`gan_lightning.metrics.domain.load_domain_classifier`).
        fake, real: a tensor (N, C, H, W) in [-1, 1] (split into ``batch_size`` chunks), or an iterable of such
            batches / of ``(images, labels)`` batches.
    """
    device = next((p.device for p in classifier.parameters()), torch.device("cpu"))
    metrics = GenerativeMetrics("domain", ("fid", "is"), classifier=classifier, is_splits=1).to(device)
    for x in _batches(real, batch_size):
        metrics.update_real(x.to(device))
    for x in _batches(fake, batch_size):
        metrics.update_fake(x.to(device))
    return {f"domain_{k}": v for k, v in metrics.compute().items()}
