"""The Optuna study a search writes to: where it is stored, which pruner stops trials, and which
trials count against ``n_trials``. Used by the sweeper (sweeper.py) and by each trial's job
(trial.py), which may run in other processes or on other machines: everything goes through the
storage, with Optuna's public study and storage APIs."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from ganlab.errors import UserError
from ganlab.safety.locks import waiting_for

PRUNERS = ("none", "median", "hyperband")
# A trial a signal stopped (or whose sweeper died) is marked so, and asked again with the same
# values in the same folder, where ckpt_path=auto resumes it from its checkpoint.
INTERRUPTED, RESUMES, FOLDER, HOST, PID = "interrupted", "resumes", "folder", "host", "pid"


def storage_url(storage: str | None, sweep_dir: str | os.PathLike) -> str:
    """``null``: a SQLite file in the sweep folder; else a database URL or a journal file's path."""
    if storage in (None, "", "auto"):
        return f"sqlite:///{Path(sweep_dir).resolve() / 'optuna.db'}"
    return str(storage)


def open_storage(url: str):
    """A database URL (``sqlite:///``, ``postgresql://``, ``mysql://``) or, for a shared file system
    without a database server, the path of an Optuna journal file."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    try:
        if "://" not in url:
            Path(url).parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(url))
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            # Processes that open a new file at once would each create its tables (one fails with
            # "table studies already exists"): one at a time. Parallel trials then wait for the
            # file's own lock rather than fail at once.
            with waiting_for(path.with_name(path.name + ".lock"), "creating the study's tables"):
                return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
        return optuna.storages.RDBStorage(url)
    except Exception as err:
        why = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"hydra.sweeper.storage={url} cannot be opened ({why}): give sqlite:///<file>, a "
                        "postgresql:// or mysql:// URL, or the path of a journal file") from None


def make_pruner(name: str, max_steps: int, eval_interval: int):
    """``none``; ``median``: stop a trial whose metric is worse than the median of earlier trials at
    the same evaluation; ``hyperband``: successive halving over iterations, in several brackets."""
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":  # two finished trials before any is judged, none judged in its first third
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=max_steps // 3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=eval_interval, max_resource=max_steps)
    raise UserError(f"hydra.sweeper.pruner={name} is not a pruner: choose one of {', '.join(PRUNERS)}")


class Study:
    """A study and the storage it was opened with (Optuna's public storage API addresses a trial by
    its id, which this looks up from the trial's number)."""

    def __init__(self, url: str, name: str, pruner: Any = None, directions: list[str] | None = None,
                 sampler: Any = None):
        import optuna

        self.url, self.storage = url, open_storage(url)
        if directions is None:
            try:
                self.study = optuna.load_study(study_name=name, storage=self.storage, pruner=pruner)
            except KeyError:
                raise UserError(f"no study {name!r} in {url}") from None
        else:
            self.study = optuna.create_study(study_name=name, storage=self.storage, pruner=pruner, sampler=sampler,
                                             directions=directions, load_if_exists=True)
            found = [d.name.lower() for d in self.study.directions]
            if found != directions:
                raise UserError(f"study {name!r} in {url} was created to {' and '.join(found)}, not to "
                                f"{' and '.join(directions)}: give another hydra.sweeper.study_name or storage")
        self.study_id = self.storage.get_study_id_from_name(name)

    def trial_id(self, number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def trials(self) -> list:
        return self.study.get_trials(deepcopy=False)

    def mark_interrupted(self, number: int) -> None:
        """A running trial that will not finish: failed, and to be asked again (``to_resume``)."""
        import optuna

        self.storage.set_trial_user_attr(self.trial_id(number), INTERRUPTED, True)
        self.study.tell(number, state=optuna.trial.TrialState.FAIL)


def counted(trials: list) -> int:
    """The trials that count against ``n_trials``: all but the interrupted ones, which are asked again."""
    return sum(1 for t in trials if not t.user_attrs.get(INTERRUPTED))


def to_resume(trials: list) -> list:
    """Interrupted trials that no later trial has taken up again."""
    taken = {t.user_attrs.get(RESUMES) for t in trials}
    return [t for t in trials if t.user_attrs.get(INTERRUPTED) and t.number not in taken]


def abandoned(trials: list) -> list:
    """Running trials whose sweeper process, on this machine, is gone (killed, or the machine rebooted)."""
    import optuna

    host = socket.gethostname()
    return [t for t in trials if t.state == optuna.trial.TrialState.RUNNING and t.user_attrs.get(HOST) == host
            and not _alive(t.user_attrs.get(PID))]


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True  # not ours to judge
    try:
        os.kill(pid, 0)  # signal 0: asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def outcomes(sweep_dir: str | os.PathLike) -> dict[int, tuple[int, str]]:
    """A search's trials by their job folder's number: (trial number, what became of it), for the
    report. Empty for a sweep that is not a search. The study is found as the sweep found it
    (its multirun.yaml's hydra.sweeper.storage and study_name)."""
    import optuna
    from omegaconf import OmegaConf

    sweep_dir = Path(sweep_dir)
    try:
        sweeper = OmegaConf.load(sweep_dir / "multirun.yaml").hydra.sweeper
    except Exception:
        return {}
    if not str(sweeper.get("_target_", "")).startswith("hydra_plugins.ganlab_search"):
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = Study(storage_url(sweeper.get("storage"), sweep_dir), sweeper.get("study_name") or "search")
    trials = study.trials()
    best = set()
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in trials):
        best = {t.number for t in study.study.best_trials}
    found = {}
    for t in trials:  # a resumed trial comes later than the one it resumes: the later tells what became of it
        if t.state == optuna.trial.TrialState.PRUNED:
            what = f"pruned at {max(t.intermediate_values)}" if t.intermediate_values else "pruned"
        elif t.user_attrs.get(INTERRUPTED):
            what = "interrupted"
        else:
            what = t.state.name.lower()
        if t.number in best:
            what += ", best" if len(study.study.directions) == 1 else ", on the Pareto front"
        found[int(t.user_attrs.get(FOLDER, t.number))] = (t.number, what)
    return found
