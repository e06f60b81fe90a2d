"""Builds a run from its Hydra config (checked first) and trains it."""

from __future__ import annotations

import logging
import os
import random
import signal
import time

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf, open_dict

from ganlab import run_record, tags
from ganlab.checkpoints.reading import read_checkpoint
from ganlab.checkpoints.resume import purge_step, resolve_ckpt_path
from ganlab.config_checks import check_config
from ganlab.errors import UserError
from ganlab.engine.engine import settle_device
from ganlab.metrics.callback import SampleQualityMetrics
from ganlab.metrics.evaluator_cache import check_it_can_be_trained
from ganlab.reporting.clock import TrainingClock
from ganlab.reporting.console import announce, last_logged, quiet_libraries, summarise
from ganlab.reporting.finals import FinalValues, last_values
from ganlab.reporting.hparams import log_hyperparameters
from ganlab.reporting.progress import IterationProgressBar, progress_callback
from ganlab.run_folders.lock import training_begins
from ganlab.run_folders.resolvers import AUTO  # importing it registers the resolvers conf/ uses
from ganlab.divergence import Diverged
from ganlab.search import check_objective, objective
from ganlab.search import trial as search_trial
from ganlab.search.trial import ReportToStudy
from ganlab.stopping import exit_codes
from ganlab.stopping.signals import Interrupted
from ganlab.stopping.sweeps import is_joblib

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> float | None:
    """The train command: trains, and returns what a sweeper optimises. A run that does not finish
    ends as stopping/exit_codes.py says (a signal, divergence, a refused setting)."""
    if exit_codes.not_started_in_a_stopped_sweep(cfg) is not None:
        return None  # a search's sweeper reads the sweep's stop itself and asks for no more trials
    try:
        check_objective(cfg)
        metrics = train(cfg)
        value = objective(cfg, metrics)
        last = os.path.join(cfg.paths.output_dir, "checkpoints", "last.ckpt")
        run_record.write("finished", cfg.paths.output_dir, iteration=cfg.trainer.max_steps,
                         max_steps=cfg.trainer.max_steps, exit_code=0, error=None,
                         checkpoint=last if os.path.isfile(last) else None, metrics=metrics)
        search_trial.tell(cfg, value)  # a search's trial: its job tells the study, even with its sweeper gone
        return value
    except Interrupted as stop:
        search_trial.tell(cfg, None)
        exit_codes.interrupted(cfg, stop)
        return None
    except Diverged as err:
        exit_codes.diverged(cfg, err)  # exits 1, or in a sweep fails this job
    except KeyboardInterrupt:
        exit_codes.stopped_before_training(cfg)  # exits 130; a second Ctrl-C during training goes on up
        raise
    except Exception as err:
        exit_codes.failed(cfg, err)
        raise
    finally:
        search_trial.leave(cfg)


def train(cfg: DictConfig) -> dict[str, float]:
    """Trains ``cfg.model`` on ``cfg.data`` and returns the final metrics. Raises ``Interrupted``
    when Ctrl-C or SIGTERM stopped training early (after a whole iteration, checkpointed)."""
    resolve_ckpt_path(cfg)
    resolve_seed(cfg)
    quiet_libraries()
    datamodule, model, trainer = build(cfg)
    announce(cfg.paths.output_dir, model, cfg.get("ckpt_path"))
    # The data first, so that missing or damaged MNIST refuses the run before it begins (both are
    # no-ops when fit calls them again)
    datamodule.prepare_data()
    datamodule.setup("fit")
    for callback in trainer.callbacks:  # an evaluator it would train into a read-only data_dir: refused now
        if isinstance(callback, SampleQualityMetrics):
            check_it_can_be_trained(callback.data_dir)
    # only now: TensorBoard's writer thread must not be writing into a folder that a refusal removes
    log_hyperparameters(trainer, cfg)
    search_trial.join(cfg)  # a search's trial: its folder held, its process recorded in the study
    training_begins(cfg.paths.output_dir)
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
    if first >= trainer.max_steps > 0:
        # Its checkpoint had reached the end already (a job killed after its last checkpoint): the
        # run is finished, and its scores are measured from that checkpoint
        loggers, trainer.loggers = trainer.loggers, []  # closed by the end of fit: the scores go to the summary
        try:
            for callback in trainer.callbacks:
                if hasattr(callback, "evaluate") and not getattr(callback, "results", True):
                    callback.evaluate(trainer, model)
        finally:
            trainer.loggers = loggers
    metrics = last_values(trainer)  # e.g. 1_losses/d_loss from the module, 4_quality/fid from SampleQualityMetrics
    clock = next(c for c in trainer.callbacks if isinstance(c, TrainingClock))
    if clock.seconds > 0:  # logged by the clock to the loggers directly: returned too, so a search may minimise it
        metrics[tags.TRAINING_SECONDS] = clock.seconds
    if trainer.global_step == first:  # started again after its end: its results are what it logged then
        metrics = {**last_logged(cfg.paths.output_dir), **metrics}
    summarise(trainer, cfg.paths.output_dir, first, clock.this_session, time.perf_counter() - start, metrics)
    return metrics


def _iteration_of(ckpt_path: str | None) -> int:
    return int(read_checkpoint(ckpt_path)["global_step"]) if ckpt_path else 0


def resolve_seed(cfg: DictConfig) -> None:
    """``seed=null`` draws a fresh seed and logs it, so the run can be repeated with ``seed=N``. A
    resume continues its checkpoint's seed; DDP's other ranks take rank 0's (Lightning hands it on)."""
    if cfg.get("seed") is not None:
        return
    if cfg.get("ckpt_path") not in (None, AUTO):
        seed = read_checkpoint(cfg.ckpt_path).get("datamodule_hyper_parameters", {}).get("seed")
    elif int(os.environ.get("LOCAL_RANK", 0)) > 0 and "PL_GLOBAL_SEED" in os.environ:
        seed = int(os.environ["PL_GLOBAL_SEED"])
    else:
        seed = random.SystemRandom().randrange(2**31)
        log.info("seed=null: this run drew seed %d (seed=%d repeats it)", seed, seed)
    with open_dict(cfg):
        cfg.seed = seed


def derived_data_settings(cfg: DictConfig) -> dict:
    """The data module's settings that follow from others: its sampler's stream from ``seed``, and a
    real batch for each of the iteration's D steps (``model.d_steps_per_iteration``)."""
    return {"seed": cfg.seed, "batches_per_iteration": cfg.model.get("d_steps_per_iteration", 1)}


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer]:
    """The run's parts, built from the config (seeded first, so weight init repeats too)."""
    resolve_seed(cfg)  # done already when train() builds; a notebook or test may call build() alone
    check_config(cfg, derived_data_settings(cfg))
    threads = cpu_threads(cfg.get("num_threads", "auto"))
    if threads is not None:
        torch.set_num_threads(threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule: L.LightningDataModule = instantiate(cfg.data, **derived_data_settings(cfg))
    model: L.LightningModule = instantiate(cfg.model)
    callbacks = [TrainingClock(), *(instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None),
                 FinalValues()]
    # Lightning's switch: the project's bar in a terminal; off, or in a file, a line now and then
    progress = progress_callback(cfg.trainer.get("enable_progress_bar", True))
    callbacks.append(progress)
    if (reporter := ReportToStudy.for_run(cfg)) is not None:  # a search's trial: its evaluations, for pruning
        callbacks.append(reporter)
    loggers = [instantiate(c, purge_step=purge_step(cfg)) if str(c.get("_target_")).endswith("TensorBoardLogger")
               else instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    strategy = cfg.trainer.get("strategy") or strategy_for(cfg.trainer)
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers, strategy=strategy,
                                     enable_progress_bar=isinstance(progress, IterationProgressBar))
    settle_device(trainer, cfg.get("float32_matmul_precision", "high"))
    return datamodule, model, trainer


def strategy_for(trainer_cfg: DictConfig) -> str:
    """Lightning's own choice for one process; for several (``trainer.devices=N``), DDP that lets an
    update leave some weights without gradients, as D's update leaves G's (plain ``ddp`` refuses)."""
    devices, accelerator = trainer_cfg.get("devices", 1), trainer_cfg.get("accelerator", "auto")
    if isinstance(devices, str) and "," in devices:
        count = len([d for d in devices.split(",") if d.strip()])
    elif isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices):
        count = len(devices)
    elif devices in ("auto", -1, "-1"):  # every GPU there is; a CPU trainer takes one process
        count = torch.cuda.device_count() if accelerator in ("auto", "gpu", "cuda") else 1
    else:
        count = int(devices)
    return "ddp_find_unused_parameters_true" if count > 1 or trainer_cfg.get("num_nodes", 1) > 1 else "auto"


def cpu_threads(setting: int | str) -> int | None:
    """The CPU threads of this run's torch: ``num_threads``, or for ``auto`` torch's own choice (one
    a core), except under ``hydra/launcher=joblib``, where the jobs that run at once share the cores."""
    if setting != "auto":
        if not isinstance(setting, int) or setting < 1:
            raise UserError(f"num_threads={setting}: give a number of threads, or auto")
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
