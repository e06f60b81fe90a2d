"""Builds a run from its Hydra config and trains it."""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from ganlab.console import announce, quiet_libraries, summarise
from ganlab.config import AUTO, newest_checkpoint  # importing it registers the resolvers conf/ uses
from ganlab.engine.interrupts import Interrupted
from ganlab.resume import check_resume
from ganlab.sweep_signals import is_joblib

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Trains ``cfg.model`` on ``cfg.data`` and returns the final metrics. Raises ``Interrupted``
    when Ctrl-C or SIGTERM stopped training early (after a whole iteration, checkpointed)."""
    resolve_ckpt_path(cfg)
    quiet_libraries()
    datamodule, model, trainer = build(cfg)
    log_hyperparameters(trainer, cfg)
    announce(cfg.paths.output_dir, model, cfg.get("ckpt_path"))
    first, start = _iteration_of(cfg.get("ckpt_path")), time.perf_counter()
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    except SystemExit as stop:
        # Lightning's own exits for a signal that came before the engine's handlers were in place:
        # SIGTERM (SIGTERMException, which a scheduler would read as success) or Ctrl-C (exit 1)
        if not trainer.interrupted:
            raise
        signum = signal.SIGTERM if isinstance(stop, SIGTERMException) else signal.SIGINT
        raise Interrupted(signum, trainer.global_step) from None
    if model.engine.stopped_by is not None:
        model.engine.hand_over_interrupt()  # e.g. submitit's requeue on SLURM, which exits
        raise Interrupted(model.engine.stopped_by, trainer.global_step)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    for callback in trainer.callbacks:  # e.g. eval/fid from SampleQualityMetrics
        metrics.update(getattr(callback, "results", {}))
    summarise(trainer, cfg.paths.output_dir, first, time.perf_counter() - start, metrics)
    return metrics


def _iteration_of(ckpt_path: str | None) -> int:
    if not ckpt_path:
        return 0
    return int(torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)["global_step"])


def resolve_ckpt_path(cfg: DictConfig) -> None:
    """``ckpt_path=auto`` becomes the run folder's newest checkpoint, or None for a fresh start: a
    job started again into its folder (a cluster's requeue, a rerun with the same hydra.run.dir)
    goes on from where it stopped instead of training from iteration 0 over its checkpoints."""
    run_dir = Path(cfg.paths.output_dir)
    if cfg.get("ckpt_path") == AUTO:
        found = newest_checkpoint(run_dir)
        if found is not None:
            log.info("Found %s, the newest checkpoint in this run's folder (ckpt_path=auto)", found)
        with open_dict(cfg):
            cfg.ckpt_path = str(found) if found is not None else None
    elif not cfg.get("ckpt_path") and newest_checkpoint(run_dir) is not None:
        raise ValueError(
            f"{run_dir} already holds checkpoints of a run, which a fresh start would overwrite: resume it with "
            "ckpt_path=auto, or give this run another folder (hydra.run.dir=...)"
        )


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer]:
    """The run's parts, built from the config (seeded first, so weight init repeats too)."""
    check_config(cfg)
    threads = cpu_threads(cfg.get("num_threads", "auto"))
    if threads is not None:
        torch.set_num_threads(threads)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule: L.LightningDataModule = instantiate(cfg.data)
    model: L.LightningModule = instantiate(cfg.model)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    if not cfg.trainer.get("enable_progress_bar", True):
        # Lightning's switch also turns off the project's bar, which Lightning would refuse beside it
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    if isinstance(trainer.accelerator, CPUAccelerator):
        _skip_per_step_cuda_probe()
    if isinstance(trainer.accelerator, CUDAAccelerator):
        # Only on the GPU: CPU runs keep full float32 matmuls, and with them their exact repeats.
        torch.set_float32_matmul_precision(cfg.get("float32_matmul_precision", "high"))
    return datamodule, model, trainer


def cpu_threads(setting: int | str) -> int | None:
    """The CPU threads of this run's torch: ``num_threads``, or for ``auto`` torch's own choice (one
    a core), except under ``hydra/launcher=joblib``, where the jobs that run at once share the cores."""
    if setting != "auto":
        if not isinstance(setting, int) or setting < 1:
            raise ValueError(f"num_threads={setting}: give a number of threads, or auto")
        return setting
    if not HydraConfig.initialized():
        return None
    launcher = HydraConfig.get().launcher
    if not is_joblib(launcher):
        return None
    from joblib import effective_n_jobs

    cores = len(os.sched_getaffinity(0))
    jobs = min(effective_n_jobs(launcher.n_jobs), cores)
    log.info("CPU threads: %d (%d jobs at once on %d cores)", max(1, cores // jobs), jobs, cores)
    return max(1, cores // jobs)


def _skip_per_step_cuda_probe() -> None:
    """Saves a reload of the NVML library at every optimizer step of a CPU run (benchmarks/README.md).

    Lightning sets PYTORCH_NVML_BASED_CUDA_CHECK=1 at import, so that asking whether CUDA is
    there never initialises CUDA before a fork. torch's optimizers ask at every ``step()``, and
    with that setting each answer loads and initialises the NVML library again. Once the trainer
    has settled on the CPU, the plain CUDA runtime check (cached by torch) is as good an answer.
    """
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "0"


def check_config(cfg: DictConfig) -> None:
    """Catches the mistakes that would otherwise surface deep inside Lightning."""
    max_steps = cfg.trainer.get("max_steps", -1)
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"trainer.max_steps={max_steps}: give the number of training iterations, e.g. 20000")
    every = cfg.trainer.get("log_every_n_steps", 50)
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"trainer.log_every_n_steps={every}: log every 1 or more iterations, e.g. 50")
    if cfg.trainer.get("overfit_batches"):
        raise ValueError(
            f"trainer.overfit_batches={cfg.trainer.overfit_batches} does not apply here: every iteration draws "
            "fresh random batches (data.sampling), which Lightning's batch limits cannot pin. Leave it out"
        )
    strategy = cfg.trainer.get("strategy")
    if strategy in ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook"):
        raise ValueError(
            f"trainer.strategy={strategy} stops at the first update: D's leaves G's weights without gradients, "
            f"which plain DDP refuses. Use trainer.strategy={strategy}_find_unused_parameters_true, or simply "
            "trainer.devices=N (or trainer=ddp)"
        )
    ckpt = cfg.get("ckpt_path")
    if ckpt == AUTO:
        return  # train() resolves it first (resolve_ckpt_path); there is nothing to check yet
    if ckpt and not Path(ckpt).is_file():
        raise FileNotFoundError(
            f"ckpt_path={ckpt} is not a file. To resume, pass a checkpoint of an earlier run, "
            "e.g. ckpt_path=logs/runs/<run>/checkpoints/last.ckpt"
        )
    if ckpt:
        check_resume(cfg)


def log_hyperparameters(trainer: L.Trainer, cfg: DictConfig) -> None:
    """The run's config goes to every logger (TensorBoard keeps it as hparams.yaml). TensorBoard's
    HPARAMS tab gets what defines the run (``run_definition``), with the ``final/*`` metrics that
    callbacks log when training ends as its metric columns."""
    params = _without_plumbing(OmegaConf.to_container(cfg, resolve=True))
    final = [name for callback in trainer.callbacks for name in getattr(callback, "final_metrics", ())]
    for logger in trainer.loggers:
        logger.log_hyperparams(params)
        if isinstance(logger, TensorBoardLogger):
            declare_hparams(logger, run_definition(cfg), final)


@rank_zero_only
def declare_hparams(logger: TensorBoardLogger, definition: dict, metric_names: list[str]) -> None:
    """Writes the HPARAMS summaries with the metrics declared by name only. Lightning's
    ``log_hyperparams(params, metrics)`` would also log each metric's placeholder value as a
    scalar, a NaN point at iteration 0 in every ``final/*`` chart."""
    from torch.utils.tensorboard.summary import hparams

    summaries = hparams(definition, dict.fromkeys(metric_names, 0.0))
    for summary in summaries:
        logger.experiment.file_writer.add_summary(summary)


# What defines a run, in the order HPARAMS shows them after the keys the command line set
DEFINING = ("model", "loss", "data.batch_size", "model.optimizer_g.lr", "model.optimizer_d.lr",
            "model.optimizer_g.betas", "model.optimizer_d.betas", "model.d_update", "model.d_steps_per_iteration",
            "model.ema_decay", "data.sampling", "seed", "trainer.max_steps", "trainer.devices")
_NOT_DEFINING = ("paths.", "hydra.", "callbacks.", "logger", "ckpt_path", "resume.", "trainer.enable_progress_bar",
                 "trainer.accelerator", "model.acceleration", "num_threads", "optimized_metric", "sample_interval",
                 "checkpoint_interval", "eval_interval", "trainer.log_every_n_steps")


def run_definition(cfg: DictConfig) -> dict[str, int | float | str | bool]:
    """The settings that say what a run trains, the ones set on the command line (a sweep's swept
    keys) first: no paths, ``_target_``s or intervals, which crowd the HPARAMS table."""
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    overridden = []
    if HydraConfig.initialized():
        for override in HydraConfig.get().overrides.task:
            key = override.split("=", 1)[0].lstrip("+~")
            if not key.startswith(_NOT_DEFINING) and key not in overridden:
                overridden.append(key)
    definition = {}
    # a group's choice (model=dcgan) as Hydra records it; without Hydra, the class it builds
    fallback = {"model": "model.generator._target_", "loss": "model.loss._target_"}
    for key in (*overridden, *DEFINING):
        if key in choices and "." not in key:
            value = choices[key]
        elif key in fallback:
            value = str(OmegaConf.select(cfg, fallback[key], default="")).rsplit(".", 1)[-1] or None
        else:
            value = OmegaConf.select(cfg, key, default=None)
            if OmegaConf.is_dict(value):
                continue  # a whole group (e.g. experiment=...): its keys are listed one by one
        if value is not None and not isinstance(value, (int, float, str, bool)):
            value = str(list(value) if OmegaConf.is_config(value) else value)
        definition.setdefault(key, "none" if value is None else value)
    return definition


# Settings that say where and how a run is recorded, not what is trained: they would only crowd
# the HPARAMS table.
_PLUMBING_GROUPS = ("paths", "callbacks", "logger", "ckpt_path", "optimized_metric")
_PLUMBING_KEYS = ("_partial_", "_recursive_", "_convert_")


def _without_plumbing(params: dict) -> dict:
    def prune(node):
        if isinstance(node, dict):
            return {k: prune(v) for k, v in node.items() if k not in _PLUMBING_KEYS}
        return node

    return prune({k: v for k, v in params.items() if k not in _PLUMBING_GROUPS})
