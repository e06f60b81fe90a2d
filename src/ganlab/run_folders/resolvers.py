"""Where runs and sweep jobs go: the OmegaConf resolvers conf/ uses. Importing this module
registers them (the commands do, before Hydra makes the run's folder). Light on purpose: no torch,
so that --help and a refused command answer at once."""

from __future__ import annotations

import hashlib
from pathlib import Path

from omegaconf import OmegaConf


_THIS_PROJECT = Path(__file__).resolve().parents[3]  # src/ganlab/run_folders/resolvers.py
# `pip install .` puts conf/ inside the package (setup.py); a checkout's conf/ is beside src/
_PACKAGE = Path(__file__).resolve().parents[1]
INSTALLED = (_PACKAGE / "conf").is_dir()
CONF = _PACKAGE / "conf" if INSTALLED else _THIS_PROJECT / "conf"
AUTO = "auto"  # ckpt_path=auto: this run folder's newest checkpoint, if it has one


def project_root() -> str:
    """The checkout this package lives in (where conf/, data/ and logs/ are); for an installed
    package, the current directory, as for any Hydra app."""
    return str(_THIS_PROJECT if not INSTALLED and CONF.is_dir() else Path.cwd())


def run_dir_of(ckpt_path: str | None) -> Path | None:
    """The run folder of a checkpoint this project wrote (``<run>/checkpoints/*.ckpt``), if any."""
    if not ckpt_path or ckpt_path == AUTO:
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


def _config_subdir(ckpt_path: str | None, stamp: str, output_dir: str) -> str:
    """Where Hydra writes this run's config: a resume (also one that ``ckpt_path=auto`` finds, as in
    a requeued job) keeps the folder's original config and adds its own beside it."""
    resumes = run_dir_of(ckpt_path) is not None or (ckpt_path == AUTO and (Path(output_dir) / ".hydra").is_dir())
    return f".hydra/resumed_{stamp}" if resumes else ".hydra"


def _job_dirname(num: int, override_dirname: str, folder: int | None = None, limit: int = 120) -> str:
    """A sweep job's folder: its number (``folder``, when a search gives one) and what it changed,
    cut (with a hash of the whole, so names stay unique) where a long override list would pass the
    file system's 255-byte limit."""
    num = num if folder is None else folder
    name = f"{num}_{override_dirname}" if override_dirname else str(num)
    if len(name) <= limit:
        return name
    return f"{name[: limit - 9]}~{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def _iterations_for_images(iterations: int, reference_batch: int, batch: int) -> int:
    """The iterations in which ``batch`` sees the images ``reference_batch`` sees in ``iterations``:
    experiment=batch_size_study evaluates every run at the same images seen with it."""
    return max(1, round(int(iterations) * int(reference_batch) / int(batch)))


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("project_root", project_root, replace=True)
    OmegaConf.register_new_resolver("resume_dir", _resume_dir, replace=True)
    OmegaConf.register_new_resolver("config_subdir", _config_subdir, replace=True)
    OmegaConf.register_new_resolver("job_dirname", _job_dirname, replace=True)
    OmegaConf.register_new_resolver("iterations_for_images", _iterations_for_images, replace=True)


register_resolvers()
