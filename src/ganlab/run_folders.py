"""Where runs and sweep jobs go: the OmegaConf resolvers conf/ uses. Importing this module
registers them (training.py and the commands do)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from omegaconf import OmegaConf

from ganlab.safety.checkpoints import AUTO, read_checkpoint, run_dir_of

_THIS_PROJECT = Path(__file__).resolve().parents[2]


def project_root() -> str:
    """The checkout this package lives in (where conf/, data/ and logs/ are), else the cwd."""
    return str(_THIS_PROJECT if (_THIS_PROJECT / "conf").is_dir() else Path.cwd())


def _resume_dir(ckpt_path: str | None, new_dir: str) -> str:
    """A resumed run keeps writing into its own folder, so TensorBoard shows one continuous run."""
    run = run_dir_of(ckpt_path)
    return str(run) if run is not None else new_dir


def _config_subdir(ckpt_path: str | None, stamp: str, output_dir: str) -> str:
    """Where Hydra writes this run's config: a resume (also one that ``ckpt_path=auto`` finds, as in
    a requeued job) keeps the folder's original config and adds its own beside it."""
    resumes = run_dir_of(ckpt_path) is not None or (ckpt_path == AUTO and (Path(output_dir) / ".hydra").is_dir())
    return f".hydra/resumed_{stamp}" if resumes else ".hydra"


def _resume_purge_step(ckpt_path: str | None) -> int | None:
    """TensorBoard hides events logged after the checkpoint by the run that was cut short."""
    if run_dir_of(ckpt_path) is None:
        return None
    return int(read_checkpoint(ckpt_path)["global_step"]) + 1


def _job_dirname(num: int, override_dirname: str, limit: int = 120) -> str:
    """A sweep job's folder: its number and what it changed, cut (with a hash of the whole, so
    names stay unique) where a long override list would pass the file system's 255-byte limit."""
    name = f"{num}_{override_dirname}" if override_dirname else str(num)
    if len(name) <= limit:
        return name
    return f"{name[: limit - 9]}~{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("project_root", project_root, replace=True)
    OmegaConf.register_new_resolver("resume_dir", _resume_dir, replace=True)
    OmegaConf.register_new_resolver("config_subdir", _config_subdir, replace=True)
    OmegaConf.register_new_resolver("resume_purge_step", _resume_purge_step, replace=True)
    OmegaConf.register_new_resolver("job_dirname", _job_dirname, replace=True)


register_resolvers()
