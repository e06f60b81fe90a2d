"""A search trial's side of pruning: after each sample-quality evaluation the trial reports its
``optimized_metric`` to the study (optuna-dashboard draws these curves), and stops (after that
iteration, with its checkpoint) when the pruner says so. The sweeper passes the study's address in
``search.*`` (conf/hparams_search/optuna.yaml)."""

from __future__ import annotations

import logging
import statistics

import lightning as L
from omegaconf import DictConfig

from ganlab.search.study import Study, make_pruner

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
