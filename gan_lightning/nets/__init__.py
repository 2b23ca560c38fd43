"""Generator / discriminator networks (plain ``nn.Module``, no Lightning)."""

from gan_lightning.nets.dcgan import SUPPORTED_IMAGE_SIZES, DCGANDiscriminator, DCGANGenerator
from gan_lightning.nets.init import normal_init_
from gan_lightning.nets.fcn import FCNSegmenter
from gan_lightning.nets.image_pool import ImagePool
from gan_lightning.nets.mlp import MLPDiscriminator, MLPGenerator
from gan_lightning.nets.patchgan import PatchGANDiscriminator, receptive_field_of
from gan_lightning.nets.resnet import ResnetGenerator
from gan_lightning.nets.unet import UNetGenerator

__all__ = [
    "MLPGenerator",
    "MLPDiscriminator",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "SUPPORTED_IMAGE_SIZES",
    "normal_init_",
    "UNetGenerator",
    "PatchGANDiscriminator",
    "receptive_field_of",
    "ResnetGenerator",
    "ImagePool",
    "FCNSegmenter",
]
