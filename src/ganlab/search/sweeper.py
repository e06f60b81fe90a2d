"""``-m hparams_search=optuna``: a search on today's Optuna behind Hydra's sweeper interface.

Why the project's own: hydra-optuna-sweeper 1.3, the newest release, requires optuna<3 (Hydra's
main branch has moved to Optuna 4, unreleased). This is its loop on Hydra's public ``Sweeper`` API
and Optuna's ask-and-tell: ask for a batch of ``n_jobs`` trials, launch them through whatever
``hydra/launcher`` is chosen (basic, joblib, submitit), tell the study what each returned.

What it adds: the study lives in a storage (by default ``optuna.db`` in the sweep folder), so the
same command continues it: finished trials are not trained again, an interrupted one is asked
again in its own folder and resumes from its checkpoint, and the search stops at ``n_trials`` in
all. Several processes or machines may share a study (a trial is asked by one process only;
like Optuna's ``MaxTrialsCallback``, processes asking at the same moment may pass ``n_trials`` by
one each). Trials report their metric at each evaluation and stop when the pruner says so (trial.py).
"""

from __future__ import annotations

import difflib
import logging
import os
import socket
import warnings
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from ganlab import tags
from ganlab.errors import UserError, one_line_errors
from ganlab.search import space
from ganlab.search.study import FOLDER, HOST, PID, RESUMES, Study, abandoned, counted, make_pruner, \
    storage_url, to_resume

log = logging.getLogger(__name__)
# What a run returns to a sweeper: the last logged losses and D's statistics, the last evaluation's scores
RETURNED = sorted(tag for tag in tags.DESCRIPTIONS if tags.is_score(tag) or tag.split("/")[0] in (
    tags.LOSSES, tags.DISCRIMINATOR, tags.CONFUSION))


class Search(Sweeper):
    def __init__(self, sampler: Any, direction: Any, storage: str | None, study_name: str, n_trials: int,
                 n_jobs: int, pruner: str, params: DictConfig | None):
        self.sampler_config, self.storage, self.study_name = sampler, storage, study_name
        self.directions = [str(d) for d in direction] if isinstance(direction, (list, ListConfig)) else [str(direction)]
        self.n_trials, self.n_jobs, self.pruner, self.params = n_trials, n_jobs, pruner, params or {}
        self.failed: list[int] = []  # this command's trials that failed (a divergence, an error)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)
        self.sweep_dir = Path(config.hydra.sweep.dir)

    def sweep(self, arguments: list[str]) -> None:
        one_line_errors(self._sweep)(arguments)  # a bad setting: one line and exit 1, as in a run

    def _sweep(self, arguments: list[str]) -> None:
        import optuna

        pruner = self._check()
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")  # as Hydra's basic sweeper does
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the trials' own lines say what happens
        distributions, fixed = space.parse([f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        url = storage_url(self.storage, self.sweep_dir)
        sampler = self.sampler_config  # Hydra instantiates a plugin's arguments with it
        sampler = instantiate(sampler) if isinstance(sampler, (dict, DictConfig)) else sampler
        study = Study(url, self.study_name, pruner, directions=self.directions, sampler=sampler)
        with warnings.catch_warnings():  # experimental since Optuna 3.2; names the objectives in optuna-dashboard
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.study.set_metric_names(self.metrics)
        for trial in abandoned(study.trials()):
            log.warning("trial %d was left running by a process that is gone: it will be asked again", trial.number)
            study.mark_interrupted(trial.number)
        log.info("Study %r in %s: %d of %d trials so far", self.study_name, url, counted(study.trials()),
                 self.n_trials)
        if study.trials() or self.storage not in (None, "", "auto"):
            # The seed repeats a fresh search in its own folder; a continued study, or one other
            # processes may share, would otherwise draw the values its first trials drew again.
            study.study.sampler.reseed_rng()
        job_idx = 0
        while (budget := self.n_trials - counted(study.trials())) > 0:
            batch = self._ask(study, distributions, min(self.n_jobs, budget))
            overrides = [[*space.as_overrides(fixed), *space.as_overrides(trial.params), *self._address(trial, url)]
                         for trial in batch]
            try:
                returns = self.launcher.launch(overrides, initial_job_idx=job_idx)
            except BaseException:  # Ctrl-C or SIGTERM under the basic launcher: the job exits 130/143
                for trial in batch:
                    self._interrupted(study, trial.number)
                raise
            job_idx += len(returns)
            if self._tell(study, batch, returns):
                break
        self._finish(study)

    def _finish(self, study: Study) -> None:
        """Writes the results; a search any of whose trials failed then exits 1, as a sweep with a failed job does."""
        self._results(study)
        if self.failed:
            log.error("%d trial(s) of this search failed (%s: the lines above say why); the others ran",
                      len(self.failed), ", ".join(map(str, self.failed)))
            raise SystemExit(1)

    def _check(self):
        """Refuses settings that cannot work, before anything is written; returns the pruner."""
        metric = self.config.get("optimized_metric")
        self.metrics = metrics = [str(m) for m in metric] if isinstance(metric, (list, ListConfig)) else [str(metric)]
        if len(metrics) != len(self.directions):
            raise UserError(f"optimized_metric has {len(metrics)} metric(s) and hydra.sweeper.direction "
                            f"{len(self.directions)}: give one direction for each")
        for name in metrics:
            if name not in RETURNED:
                close = difflib.get_close_matches(str(name), RETURNED, n=1)
                raise UserError(f"optimized_metric={name} is not a metric a run returns: "
                                + (f"did you mean {close[0]}?" if close else f"choose one of {', '.join(RETURNED)}"))
        if self.pruner != "none" and len(metrics) > 1:
            raise UserError(f"hydra.sweeper.pruner={self.pruner} judges one metric; a search for "
                            f"{len(metrics)} prunes nothing: set hydra.sweeper.pruner=none")
        for direction in self.directions:
            if direction not in ("minimize", "maximize"):
                raise UserError(f"hydra.sweeper.direction={direction}: minimize or maximize")
        return make_pruner(self.pruner, self.config.trainer.max_steps, self.config.eval_interval)

    def _ask(self, study: Study, distributions: dict, n: int) -> list:
        """``n`` trials: first the interrupted ones, with their values, then new ones from the sampler."""
        for old in to_resume(study.trials())[:n]:
            study.study.enqueue_trial(old.params, user_attrs={RESUMES: old.number}, skip_if_exists=False)
        batch = []
        for _ in range(n):
            trial = study.study.ask(fixed_distributions=distributions)
            trial.set_user_attr(HOST, socket.gethostname())
            trial.set_user_attr(PID, os.getpid())
            trial.set_user_attr(FOLDER, trial.user_attrs.get(RESUMES, trial.number))
            if RESUMES in trial.user_attrs:
                log.info("trial %d resumes trial %d in its folder", trial.number, trial.user_attrs[RESUMES])
            batch.append(trial)
        return batch

    def _address(self, trial, url: str) -> list[str]:
        """Where a trial's job finds its study, and its folder's number (a resumed trial's is the first's)."""
        return [f"search.trial={trial.number}", f"search.folder={trial.user_attrs[FOLDER]}",
                f"search.study_name={self.study_name}", f"search.storage='{url}'", f"search.pruner={self.pruner}"]

    def _tell(self, study: Study, batch: list, returns: list) -> bool:
        """Tells the study each job's outcome; True when a signal stopped the sweep (joblib)."""
        import optuna

        from ganlab.safety.sweep_signals import stopped_by

        stopped = stopped_by(self.sweep_dir) is not None
        states = {t.number: t.state for t in study.trials()}
        for trial, ret in zip(batch, returns):
            if states[trial.number] != optuna.trial.TrialState.RUNNING:
                continue  # pruned: the trial told the study itself
            if ret.status == JobStatus.COMPLETED and ret.return_value is not None:
                values = ret.return_value if isinstance(ret.return_value, (list, tuple)) else [ret.return_value]
                study.study.tell(trial, values=[float(v) for v in values])
            elif stopped:
                self._interrupted(study, trial.number)
            else:
                study.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                self.failed.append(trial.number)
                log.warning("trial %d failed: %s", trial.number, _why(ret))
        return stopped

    @staticmethod
    def _interrupted(study: Study, number: int) -> None:
        import optuna

        if {t.number: t.state for t in study.trials()}[number] == optuna.trial.TrialState.RUNNING:
            study.mark_interrupted(number)

    def _results(self, study: Study) -> None:
        import optuna

        trials = study.trials()
        states = {state.name.lower(): sum(1 for t in trials if t.state == state) for state in optuna.trial.TrialState}
        results: dict[str, Any] = {"name": "optuna", "study_name": self.study_name, "storage": study.url,
                                   "trials": {k: v for k, v in states.items() if v}}
        if not any(t.state == optuna.trial.TrialState.COMPLETE for t in trials):
            log.warning("no trial completed: the study has no best value yet")
        elif len(self.directions) == 1:
            best = study.study.best_trial
            results.update(best_trial=best.number, best_params=best.params, best_value=best.value)
            log.info("Best trial %d: %s = %.4g with %s", best.number, self.config.optimized_metric, best.value,
                     best.params)
        else:
            front = sorted(study.study.best_trials, key=lambda t: t.values)
            results["pareto_front"] = [{"trial": t.number, "values": t.values, "params": t.params} for t in front]
            log.info("Pareto front of %d trials (%s):", len(front), ", ".join(self.config.optimized_metric))
            for t in front:
                log.info("  trial %d: %s with %s", t.number, ", ".join(f"{v:.4g}" for v in t.values), t.params)
        OmegaConf.save(OmegaConf.create(results), self.sweep_dir / "optimization_results.yaml")


def _why(job) -> str:
    """The first line of what ended a failed job (Hydra's JobReturn raises it when read)."""
    try:
        value = job.return_value
    except Exception as err:  # what the job raised (Hydra keeps it in the JobReturn)
        return (str(err).strip().splitlines() or [type(err).__name__])[0]
    return f"it returned {value!r}"
