"""gan-lightning: a Hydra + PyTorch Lightning framework for the classic GAN family."""

from pathlib import Path

from omegaconf import OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "conf"

# `${project_root:}` lets conf/paths resolve the checkout without relying on the working directory.
if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))
# Pix2Pix's D sees x and y concatenated (cGAN) or y alone (the unconditional ablation), Isola 2017 sec. 3.1.
if not OmegaConf.has_resolver("d_in_channels"):
    OmegaConf.register_new_resolver(
        "d_in_channels", lambda channels_a, channels_b, conditional: channels_a + channels_b if conditional else channels_b
    )

__version__ = "0.1.0"
