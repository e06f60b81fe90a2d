"""OmegaConf resolvers used by conf/. Importing this module registers them."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

_THIS_PROJECT = Path(__file__).resolve().parents[2]


def project_root() -> str:
    """The checkout this package lives in (where conf/, data/ and logs/ are), else the cwd."""
    return str(_THIS_PROJECT if (_THIS_PROJECT / "conf").is_dir() else Path.cwd())


def run_dir_of(ckpt_path: str | None) -> Path | None:
    """The run folder of a checkpoint this project wrote (``<run>/checkpoints/*.ckpt``), if any."""
    if not ckpt_path:
        return None
    ckpt = Path(ckpt_path).resolve()
    run = ckpt.parent.parent
    if ckpt.is_file() and ckpt.parent.name == "checkpoints" and (run / ".hydra").is_dir():
        return run
    return None


def _resume_dir(ckpt_path: str | None, new_dir: str) -> str:
    """A resumed run keeps writing into its own folder, so TensorBoard shows one continuous run."""
    run = run_dir_of(ckpt_path)
    return str(run) if run is not None else new_dir


def _config_subdir(ckpt_path: str | None, stamp: str) -> str:
    """Where Hydra writes this run's config: a resume keeps the original one and adds its own."""
    return ".hydra" if run_dir_of(ckpt_path) is None else f".hydra/resumed_{stamp}"


def _resume_purge_step(ckpt_path: str | None) -> int | None:
    """TensorBoard hides events logged after the checkpoint by the run that was cut short."""
    if run_dir_of(ckpt_path) is None:
        return None
    import torch

    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)
    return int(ckpt["global_step"]) + 1


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("project_root", project_root, replace=True)
    OmegaConf.register_new_resolver("resume_dir", _resume_dir, replace=True)
    OmegaConf.register_new_resolver("config_subdir", _config_subdir, replace=True)
    OmegaConf.register_new_resolver("resume_purge_step", _resume_purge_step, replace=True)


register_resolvers()
