"""gan-lightning: a Hydra + PyTorch Lightning framework for the classic GAN family."""

import warnings
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



def job_dirname(num: int, override_dirname: str, max_len: int = 96) -> str:
    """A multirun job's sub-directory: ``<num>_<overrides>`` (``/`` made ``_``), or ``<num>`` alone when the
    overrides would exceed ``max_len`` characters (file systems cap names at 255); compare.md lists them all."""
    name = override_dirname.replace("/", "_")
    return f"{num}_{name}" if name and len(name) <= max_len else str(num)


if not OmegaConf.has_resolver("job_dirname"):
    OmegaConf.register_new_resolver("job_dirname", job_dirname)

# conf/hydra/launcher/submitit_slurm.yaml sets cluster defaults over the plugin's schema of the same name, so that
# `hydra/launcher=submitit_slurm` is ready for DDP jobs; Hydra 1.3 (pinned) merges them and warns that 1.4 may not.
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/submitit_slurm' is validated against ConfigStore schema")

__version__ = "0.1.0"
