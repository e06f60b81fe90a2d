"""A search trial's side (train.py under hydra/sweeper=optuna; the sweeper passes the study's
address in ``search.*``, conf/train.yaml):

- when training begins, the job records in the study the process that trains it and its folder,
  and holds that folder's lock as any run does (``join``), so that a rerun of the search can tell a
  trial still trained (by a job that outlived its sweeper) from one nobody trains;
- after each sample-quality evaluation it reports its ``optimized_metric`` (optuna-dashboard draws
  these curves) and stops (after that iteration, with its checkpoint) when the pruner says so;
- it tells the study its own outcome (its values, or interrupted), so that a job whose sweeper is
  gone still reaches the study."""

from __future__ import annotations

import logging
import os
import socket
import statistics

import lightning as L
from omegaconf import DictConfig

from ganlab.run_folders import lock
from ganlab.search.study import DIR, HOST, PID, Study, make_pruner

log = logging.getLogger(__name__)


class ReportToStudy(L.Callback):
    def __init__(self, study: Study, number: int, metric: str, pruner_name: str):
        self.study, self.number, self.metric, self.pruner_name = study, number, metric, pruner_name
        self.trial_id = study.trial_id(number)
        self.pruned_at: int | None = None

    @classmethod
    def for_run(cls, cfg: DictConfig) -> ReportToStudy | None:
        """The reporter of a search's trial (for one metric: Optuna keeps intermediate values of one);
        None for any other run."""
        search = cfg.get("search") or {}
        if search.get("trial") is None or not isinstance(cfg.get("optimized_metric"), str):
            return None
        pruner = make_pruner(search.pruner, cfg.trainer.max_steps, cfg.eval_interval)
        return cls(Study(search.storage, search.study_name, pruner), int(search.trial), cfg.optimized_metric,
                   search.pruner)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        evaluation = next((c for c in trainer.callbacks if getattr(c, "evaluated_at", None) == step), None)
        if evaluation is None or not trainer.is_global_zero or self.metric not in evaluation.results:
            return
        value = evaluation.results[self.metric]
        self.study.storage.set_trial_intermediate_value(self.trial_id, step, value)
        study = self.study.study
        if step >= trainer.max_steps or not study.pruner.prune(study, self.study.storage.get_trial(self.trial_id)):
            return
        import optuna

        earlier = [t.intermediate_values[step] for t in self.study.trials()
                   if t.number != self.number and step in t.intermediate_values
                   and t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
        median = f", the median of {len(earlier)} earlier trials at {step} is {statistics.median(earlier):.4g}" \
            if earlier else ""
        log.warning("trial %d pruned at iteration %d (%s): %s %.4g%s", self.number, step, self.pruner_name,
                    self.metric, value, median)
        study.tell(self.number, state=optuna.trial.TrialState.PRUNED)
        self.pruned_at = step
        trainer.should_stop = True  # after this iteration, with the end-of-training checkpoint


def _study_of(cfg: DictConfig) -> tuple[Study, int] | None:
    search = cfg.get("search") or {}
    if search.get("trial") is None or not search.get("storage"):
        return None
    return Study(search.storage, search.study_name), int(search.trial)


def join(cfg: DictConfig) -> bool:
    """When a trial's training begins: holds its folder's lock (``FolderInUse``, one line, if another
    process trains there) and records this process and the folder in the study. False for a run
    that is not a search's trial."""
    found = _study_of(cfg)
    if found is None:
        return False
    study, number = found
    folder = os.path.abspath(cfg.paths.output_dir)
    lock.claim(folder)
    trial_id = study.trial_id(number)
    for key, value in ((PID, os.getpid()), (HOST, socket.gethostname()), (DIR, folder)):
        study.storage.set_trial_user_attr(trial_id, key, value)
    return True


def leave(cfg: DictConfig) -> None:
    """The trial's job is done with its folder (a joblib worker goes on to other trials)."""
    if (cfg.get("search") or {}).get("trial") is not None:
        lock.release(cfg.paths.output_dir)


def tell(cfg: DictConfig, value: float | list[float] | None) -> None:
    """The trial's outcome, told by its own job (``value`` None: it was interrupted, to be asked again)."""
    import optuna

    found = _study_of(cfg)
    if found is None:
        return
    study, number = found
    if study.state(number) != optuna.trial.TrialState.RUNNING:
        return  # pruned, or told already
    if value is None:
        study.mark_interrupted(number)
    else:
        study.tell(number, values=value if isinstance(value, list) else [value])
