"""OmegaConf resolvers used by conf/. Importing this module registers them."""

from __future__ import annotations

import hashlib
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


AUTO = "auto"


def newest_checkpoint(run_dir: str | Path) -> Path | None:
    """What ``ckpt_path=auto`` resumes: the run folder's ``checkpoints/last.ckpt``, written at every
    checkpoint interval and when training stops, or None in a folder that holds none."""
    last = Path(run_dir) / "checkpoints" / "last.ckpt"
    return last if last.is_file() else None


def _resume_dir(ckpt_path: str | None, new_dir: str) -> str:
    """A resumed run keeps writing into its own folder, so TensorBoard shows one continuous run."""
    run = run_dir_of(ckpt_path)
    return str(run) if run is not None else new_dir


def _config_subdir(ckpt_path: str | None, stamp: str, output_dir: str) -> str:
    """Where Hydra writes this run's config: a resume (also one that ``ckpt_path=auto`` finds, as in
    a requeued job) keeps the folder's original config and adds its own beside it."""
    resumes = run_dir_of(ckpt_path) is not None or (ckpt_path == AUTO and (Path(output_dir) / ".hydra").is_dir())
    return f".hydra/resumed_{stamp}" if resumes else ".hydra"


def _strategy_for(accelerator: str, devices, num_nodes: int) -> str:
    """Lightning's own choice for one process; for several, DDP that lets an update leave some
    weights without gradients, as D's update leaves G's (plain ``ddp`` stops with an error there)."""
    if num_nodes > 1 or _device_count(accelerator, devices) > 1:
        return "ddp_find_unused_parameters_true"
    return "auto"


def _device_count(accelerator: str, devices) -> int:
    if isinstance(devices, str) and "," in devices:
        return len([d for d in devices.split(",") if d.strip()])
    if isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices):
        return len(devices)
    if devices in ("auto", -1, "-1"):  # every GPU there is; a CPU trainer takes one process
        import torch

        return torch.cuda.device_count() if accelerator in ("auto", "gpu", "cuda") else 1
    return int(devices)


def _resume_purge_step(ckpt_path: str | None) -> int | None:
    """TensorBoard hides events logged after the checkpoint by the run that was cut short."""
    if run_dir_of(ckpt_path) is None:
        return None
    import torch

    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)
    return int(ckpt["global_step"]) + 1


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
    OmegaConf.register_new_resolver("strategy_for", _strategy_for, replace=True)
    OmegaConf.register_new_resolver("job_dirname", _job_dirname, replace=True)


register_resolvers()
