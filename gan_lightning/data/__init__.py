"""Data layer: Lightning datamodules yielding ``(images, labels)`` with images (N, C, H, W) in [-1, 1]."""

from gan_lightning.data.base import DataNotFoundError, GANDataModule
from gan_lightning.data.image_folder import ImageFolderDataModule
from gan_lightning.data.sampler import ResumableRandomSampler
from gan_lightning.data.vision import (
    CIFAR10DataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
    TorchvisionDataModule,
)

__all__ = [
    "CIFAR10DataModule",
    "DataNotFoundError",
    "FashionMNISTDataModule",
    "GANDataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "ResumableRandomSampler",
    "TorchvisionDataModule",
]

# Semi-supervised datamodules: {"labeled": (x, y), "unlabeled": x} batches (SGAN, CatGAN, their baselines).
from gan_lightning.data.semi_supervised import (  # noqa: E402
    SemiSupervisedDataModule,
    SemiSupervisedFashionMNISTDataModule,
    SemiSupervisedMNISTDataModule,
)

__all__ += [
    "SemiSupervisedDataModule",
    "SemiSupervisedFashionMNISTDataModule",
    "SemiSupervisedMNISTDataModule",
]
