"""gan-lightning: a Hydra + PyTorch Lightning framework for the classic GAN family."""

import warnings
from pathlib import Path

from omegaconf import OmegaConf

PACKAGE_DIR = Path(__file__).resolve().parent


def checkout_root(package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The source checkout that ``package_dir`` lies in (its parent holds ``conf/`` and ``pyproject.toml``:
    ``python -m`` from the repo, or ``pip install -e .``), else None (an installed wheel)."""
    root = package_dir.parent
    return root if (root / "conf").is_dir() and (root / "pyproject.toml").is_file() else None


CHECKOUT_ROOT = checkout_root()
# A checkout reads the conf/ that is edited there; a wheel ships the same files as gan_lightning/conf (pyproject.toml).
CONFIG_DIR = CHECKOUT_ROOT / "conf" if CHECKOUT_ROOT is not None else PACKAGE_DIR / "conf"


def project_root() -> Path:
    """Default home of ``outputs/``, ``data/`` and ``.cache/`` (conf/paths/default.yaml): the checkout when
    running from one, else the current working directory, read at each call (an installed package must not
    write into site-packages)."""
    return CHECKOUT_ROOT if CHECKOUT_ROOT is not None else Path.cwd()


# The checkout, or the working directory at import when installed; `${project_root:}` reads it at resolve time.
PROJECT_ROOT = project_root()

if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(project_root()))
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
# Lightning asks the loader for state_dict(); ours resume through the datamodule's state (the sampler's epoch and
# position, gan_lightning.data.base), so a mid-epoch checkpoint resumes exactly and the warning does not apply.
warnings.filterwarnings("ignore", message=r".*ended before the epoch ended and your dataloader is not resumable")

__version__ = "0.1.0"
