"""Generator / discriminator networks (plain ``nn.Module``, no Lightning)."""

from gan_lightning.nets.dcgan import SUPPORTED_IMAGE_SIZES, DCGANDiscriminator, DCGANGenerator
from gan_lightning.nets.init import normal_init_
from gan_lightning.nets.mlp import MLPDiscriminator, MLPGenerator

__all__ = [
    "MLPGenerator",
    "MLPDiscriminator",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "SUPPORTED_IMAGE_SIZES",
    "normal_init_",
]
