"""gan-lightning: a Hydra + PyTorch Lightning framework for the classic GAN family."""

from pathlib import Path

from omegaconf import OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "conf"

# `${project_root:}` lets conf/paths resolve the checkout without relying on the working directory.
if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))

__version__ = "0.1.0"
