"""``hydra/sweeper=optuna`` (``-m hparams_search=optuna``): a search on today's Optuna behind Hydra's
sweeper interface, a drop-in for the official hydra-optuna-sweeper (its configs, keys and semantics:
hydra_plugins/ganlab_search/config.py, space.py; its tests, ported: tests/test_optuna_dropin.py).

Why the project's own: hydra-optuna-sweeper 1.3, the newest release, requires optuna<3 (Hydra's
main branch has moved to Optuna 4, unreleased). This is its loop on Hydra's public ``Sweeper`` API
and Optuna's ask-and-tell: ask for a batch of ``n_jobs`` trials, launch them through whatever
``hydra/launcher`` is chosen (basic, joblib, submitit), tell the study what each returned. Any
Hydra app whose task returns a float (a list, for several directions) can use it.

What it adds: the study lives in a storage (by default ``optuna.db`` in the sweep folder), so the
same command continues it: finished trials are not trained again, an interrupted one is asked
again in its own folder and resumes from its checkpoint, and the search stops at ``n_trials`` in
all. Several processes or machines may share a study (a trial is asked by one process only;
like Optuna's ``MaxTrialsCallback``, processes asking at the same moment may pass ``n_trials`` by
one each). Trials report their metric at each evaluation and stop when the pruner says so (trial.py).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method
from omegaconf import DictConfig, ListConfig, OmegaConf

from ganlab.errors import UserError, one_line_errors
from ganlab.search import sampler as samplers
from ganlab.search import space
from ganlab.search.objective import check_metric_names
from ganlab.search.study import DEFAULT_NAME, DIR, FOLDER, HOST, INTERRUPTED, PID, RESUMES, SWEEPER, Study, \
    abandoned, build_storage, counted, make_pruner, sweeper_alive, to_resume, trained_by

log = logging.getLogger(__name__)


class Search(Sweeper):
    def __init__(self, sampler: Any = None, direction: Any = "minimize", storage: Any = None,
                 study_name: str | None = None, n_trials: int = 20, n_jobs: int = 2, max_failure_rate: float = 0.0,
                 params: DictConfig | None = None, custom_search_space: str | None = None, pruner: str = "none"):
        self.sampler_config, self.storage, self.study_name = sampler, storage, study_name
        self.directions = [_direction(d) for d in direction] if isinstance(direction, (list, ListConfig)) \
            else [_direction(direction)]
        self.n_trials, self.n_jobs, self.pruner, self.params = n_trials, n_jobs, pruner, params or {}
        self.max_failure_rate, self.custom_search_space = max_failure_rate, custom_search_space
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
        extend = get_method(self.custom_search_space) if self.custom_search_space else None
        distributions, fixed, deletions = space.parse(
            [f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        sampler, grid_size = samplers.build(self.sampler_config, distributions)
        n_trials = self.n_trials
        if grid_size is not None and grid_size < n_trials:
            n_trials = grid_size
            log.info("Updating num of trials to %d due to using GridSampler.", n_trials)  # the official line
        # The study first: a damaged study file is refused before anything is written (multirun.yaml)
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the trials' own lines say what happens
        storage = build_storage(self.storage, self.sweep_dir)
        name = self.study_name if self.study_name is not None else DEFAULT_NAME if self.storage is None else None
        study = Study(storage, name, pruner, directions=self.directions, sampler=sampler)
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")  # as Hydra's basic sweeper does
        if self.metrics:
            with warnings.catch_warnings():  # experimental since Optuna 3.2; names the objectives in optuna-dashboard
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.study.set_metric_names(self.metrics)
        self._left_running(study)
        log.info("Study %r in %s: %d of %d trials so far", study.name, study.url, counted(study.trials()), n_trials)
        if study.trials() or (self.storage is not None and self._ours()):
            # The seed repeats a fresh search; a continued study, or one of train.py's searches that
            # other processes may share, would otherwise draw the values its first trials drew again.
            # (A plain app's fresh study keeps its seed, as under the official plugin.)
            study.study.sampler.reseed_rng()
        job_idx = 0
        while (budget := n_trials - counted(study.trials())) > 0:
            batch = self._ask(study, distributions, min(self.n_jobs, budget), extend)
            overrides = [[*space.as_overrides(trial.params), *space.as_overrides(fixed), *deletions,
                          *self._address(trial, study)] for trial in batch]
            try:
                returns = self.launcher.launch(overrides, initial_job_idx=job_idx)
            except BaseException:  # Ctrl-C or SIGTERM under the basic launcher: the job exits 130/143
                for trial in batch:
                    self._interrupted(study, trial.number)
                raise
            job_idx += len(returns)
            stopped, failures = self._tell(study, batch, returns)
            if stopped:
                break
            if returns and failures / len(returns) > self.max_failure_rate:
                self._results(study)
                log.error("%d of %d trial(s) of this batch failed, more than max_failure_rate=%s: the search stops "
                          "(the lines above say why)", failures, len(returns), self.max_failure_rate)
                raise SystemExit(1)
        self._finish(study)

    def _finish(self, study: Study) -> None:
        """Writes the results; a search any of whose trials failed then exits 1, as a sweep with a failed job does."""
        self._results(study)
        if self.failed:
            log.error("%d trial(s) of this search failed (%s: the lines above say why); the others ran",
                      len(self.failed), ", ".join(map(str, self.failed)))
            raise SystemExit(1)

    def _ours(self) -> bool:
        """Whether the app is this project's train.py (its trials report to the study, resume in their folder)."""
        return "search" in self.config

    def _check(self):
        """Refuses settings that cannot work, before anything is written; returns the pruner."""
        if not 0.0 <= float(self.max_failure_rate) <= 1.0:
            raise UserError(f"hydra.sweeper.max_failure_rate={self.max_failure_rate}: a share of a batch, from 0 to 1")
        if int(self.n_jobs) < 1:
            raise UserError(f"hydra.sweeper.n_jobs={self.n_jobs}: at least 1")
        for direction in self.directions:
            if direction not in ("minimize", "maximize"):
                raise UserError(f"hydra.sweeper.direction={direction}: minimize or maximize")
        self.metrics = []
        if self._ours():
            metric = self.config.get("optimized_metric")
            self.metrics = metrics = [str(m) for m in metric] if isinstance(metric, (list, ListConfig)) \
                else [str(metric)]
            if len(metrics) != len(self.directions):
                raise UserError(f"optimized_metric has {len(metrics)} metric(s) and hydra.sweeper.direction "
                                f"{len(self.directions)}: give one direction for each")
            check_metric_names(self.config, metrics)  # each a value a run returns (tags.py), before any trial
        if self.pruner != "none" and len(self.directions) > 1:
            raise UserError(f"hydra.sweeper.pruner={self.pruner} judges one metric; a search for "
                            f"{len(self.directions)} prunes nothing: set hydra.sweeper.pruner=none")
        if self.pruner != "none" and not self._ours():
            raise UserError(f"hydra.sweeper.pruner={self.pruner} stops trials on their reports, which this "
                            "project's train.py makes; this app's trials make none: set hydra.sweeper.pruner=none")
        if not self._ours():
            return make_pruner("none", 0, 0)
        return make_pruner(self.pruner, self.config.trainer.max_steps, self.config.eval_interval)

    def _left_running(self, study: Study) -> None:
        """Trials of this machine still RUNNING in the study: one whose job still trains is waited for
        (a second process is never launched into its folder); one nobody trains is asked again."""
        import optuna

        host = socket.gethostname()
        for trial in study.trials():
            if trial.state == optuna.trial.TrialState.RUNNING and trial.user_attrs.get(HOST) == host \
                    and not sweeper_alive(trial):  # a live sweeper's trials are its own business
                self._wait_while_trained(trial)
        for trial in abandoned(study.trials()):
            log.warning("trial %d was left running by a process that is gone: it will be asked again", trial.number)
            study.mark_interrupted(trial.number)

    @staticmethod
    def _wait_while_trained(trial) -> None:
        if not trial.user_attrs.get(DIR) or (who := trained_by(trial)) is None:
            return
        log.warning("trial %d is still trained by %s in %s (its job outlived its sweeper): waiting for it to end "
                    "(Ctrl-C to stop waiting)", trial.number, who, trial.user_attrs[DIR])
        while trained_by(trial) is not None:
            time.sleep(1.0)

    def _ask(self, study: Study, distributions: dict, n: int, extend) -> list:
        """``n`` trials: first the interrupted ones, with their values, then new ones from the sampler."""
        for old in to_resume(study.trials())[:n]:
            # In the folder the first of its line trained in (however many times it was interrupted)
            attrs = {RESUMES: old.number, FOLDER: old.user_attrs.get(FOLDER, old.number)}
            if old.user_attrs.get(DIR):
                attrs[DIR] = old.user_attrs[DIR]
                self._wait_while_trained(old)
            study.study.enqueue_trial(old.params, user_attrs=attrs, skip_if_exists=False)
        batch = []
        for _ in range(n):
            trial = study.study.ask(fixed_distributions=distributions)
            if extend is not None:
                extend(self.config, trial)
            trial.set_user_attr(HOST, socket.gethostname())
            trial.set_user_attr(SWEEPER, os.getpid())
            trial.set_user_attr(PID, os.getpid())  # until its job records its own (trial.py)
            trial.set_user_attr(FOLDER, trial.user_attrs.get(FOLDER, trial.number))
            if RESUMES in trial.user_attrs:
                log.info("trial %d resumes trial %d in its folder", trial.number, trial.user_attrs[RESUMES])
            batch.append(trial)
        return batch

    def _address(self, trial, study: Study) -> list[str]:
        """For this project's train.py: where a trial's job finds its study, and its folder's number
        (a resumed trial's is its line's first)."""
        if not self._ours():
            return []
        address = [f"search.trial={trial.number}", f"search.folder={trial.user_attrs[FOLDER]}",
                   f"search.study_name='{study.name}'", f"search.pruner={self.pruner}"]
        return address + ([f"search.storage='{study.url}'"] if study.url else [])

    def _tell(self, study: Study, batch: list, returns: list) -> tuple[bool, int]:
        """Tells the study each job's outcome (the official plugin's checks of what it returned);
        (whether a signal stopped the sweep (joblib), how many failed)."""
        import optuna

        from ganlab.stopping.sweeps import stopped_by

        stopped = stopped_by(self.sweep_dir) is not None
        failures = 0
        for trial, ret in zip(batch, returns):
            if study.state(trial.number) != optuna.trial.TrialState.RUNNING:
                continue  # pruned, or told by its job (trial.py)
            if ret.status == JobStatus.COMPLETED and (ret.return_value is not None or not stopped):
                try:
                    values = self._values(ret.return_value)
                except ValueError as err:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    self.failed.append(trial.number)
                    failures += 1
                    log.warning("trial %d failed: %s", trial.number, err)
                    continue
                study.tell(trial, values=values)
            elif stopped:
                self._interrupted(study, trial.number)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                self.failed.append(trial.number)
                failures += 1
                log.warning("trial %d failed: %s", trial.number, _why(ret))
        return stopped, failures

    def _values(self, value: Any) -> list[float]:
        """What a task returned, as the study's values (the official plugin's checks and words)."""
        if len(self.directions) == 1:
            try:
                return [float(value)]
            except (ValueError, TypeError):
                raise ValueError(f"Return value must be float-castable. Got '{value}'.") from None
        try:
            values = [float(v) for v in value]
        except (ValueError, TypeError):
            raise ValueError(f"Return value must be a list or tuple of float-castable values. Got '{value}'.") from None
        if len(values) != len(self.directions):
            raise ValueError(f"The number of the values and the number of the objectives are mismatched. "
                             f"Expect {len(self.directions)}, but actually {len(values)}.")
        return values

    @staticmethod
    def _interrupted(study: Study, number: int) -> None:
        import optuna

        if study.state(number) == optuna.trial.TrialState.RUNNING:
            study.mark_interrupted(number)

    def _results(self, study: Study) -> None:
        """optimization_results.yaml: the official keys (``name``, ``best_params`` and ``best_value``,
        or ``solutions`` for several objectives), and the trials by state (interrupted ones, asked
        again, on their own: they are not failures)."""
        import optuna

        trials = study.trials()
        states = {state.name.lower(): sum(1 for t in trials if t.state == state and not t.user_attrs.get(INTERRUPTED))
                  for state in optuna.trial.TrialState}
        states["interrupted"] = sum(1 for t in trials if t.user_attrs.get(INTERRUPTED))
        results: dict[str, Any] = {"name": "optuna", "study_name": study.name, "storage": study.url,
                                   "trials": {k: v for k, v in states.items() if v}}
        metric = ", ".join(self.metrics) if self.metrics else "value"
        if not any(t.state == optuna.trial.TrialState.COMPLETE for t in trials):
            log.warning("no trial completed: the study has no best value yet")
        elif len(self.directions) == 1:
            best = study.study.best_trial
            results.update(best_params=best.params, best_value=best.value, best_trial=best.number)
            log.info("Best trial %d: %s = %.4g with %s", best.number, metric, best.value, best.params)
        else:
            front = sorted(study.study.best_trials, key=lambda t: t.values)
            results["solutions"] = [{"params": t.params, "values": t.values, "trial": t.number} for t in front]
            log.info("Pareto front of %d trials (%s):", len(front), metric)
            for t in front:
                log.info("  trial %d: %s with %s", t.number, ", ".join(f"{v:.4g}" for v in t.values), t.params)
        OmegaConf.save(OmegaConf.create(results), self.sweep_dir / "optimization_results.yaml")


def _direction(direction: Any) -> str:
    """``minimize``/``maximize``, or the official plugin's ``Direction`` enum member."""
    return str(getattr(direction, "name", direction)).lower()


def _why(job) -> str:
    """The first line of what ended a failed job (Hydra's JobReturn raises it when read)."""
    try:
        value = job.return_value
    except Exception as err:  # what the job raised (Hydra keeps it in the JobReturn)
        return f"{type(err).__name__}: " + (str(err).strip().splitlines() or [""])[0]
    return f"it returned {value!r}"
