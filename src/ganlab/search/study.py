"""The Optuna study a search writes to: where it is stored, which pruner stops trials, and which
trials count against ``n_trials``. Used by the sweeper (sweeper.py) and by each trial's job
(trial.py), which may run in other processes or on other machines: everything goes through the
storage, with Optuna's public study and storage APIs."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ganlab.errors import UserError
from ganlab.file_locks import waiting_for

PRUNERS = ("none", "median", "hyperband")
# A trial a signal stopped (or whose sweeper died) is marked so, and asked again with the same
# values in the same folder, where ckpt_path=auto resumes it from its checkpoint.
INTERRUPTED, RESUMES, FOLDER, HOST, PID = "interrupted", "resumes", "folder", "host", "pid"
# Where the trial's job trains (its output folder), recorded by the job itself (trial.py), which also
# records its own process in PID; SWEEPER: the process that asked for the trial
DIR, SWEEPER = "dir", "sweeper_pid"
# The study in the sweep folder's optuna.db when hydra.sweeper.study_name is null
DEFAULT_NAME = "search"


def storage_url(storage: Any, sweep_dir: str | os.PathLike) -> str | None:
    """``null``: a SQLite file in the sweep folder; else a database URL or a journal file's path; for
    a storage given as an object config (``_target_: optuna.storages.RDBStorage``), its ``url``."""
    if storage in (None, "", "auto"):
        return f"sqlite:///{Path(sweep_dir).resolve() / 'optuna.db'}"
    if isinstance(storage, (dict, DictConfig)) or not isinstance(storage, str):
        url = storage.get("url") if isinstance(storage, (dict, DictConfig)) else getattr(storage, "url", None)
        return str(url) if url is not None else None
    return str(storage)


def open_storage(url: str, setting: str | None = "hydra.sweeper.storage"):
    """A database URL (``sqlite:///``, ``postgresql://``, ``mysql://``) or, for a shared file system
    without a database server, the path of an Optuna journal file. ``setting``: the setting the URL
    came from (None: the default, the study file in the sweep folder)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    path = None
    try:
        if "://" not in url:
            path = Path(url)
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(url))
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            # Processes that open a new file at once would each create its tables (one fails with
            # "table studies already exists"): one at a time. Parallel trials then wait for the
            # file's own lock rather than fail at once.
            with waiting_for(path.with_name(path.name + ".lock"), "creating the study's tables"):
                storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
                storage.get_all_studies()  # reads the file: a damaged one fails here, not later
                return storage
        return optuna.storages.RDBStorage(url)
    except Exception as err:
        why = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if path is not None and path.is_file() and path.stat().st_size > 0:
            kind = "SQLite" if url.startswith("sqlite:///") else "Optuna journal"
            raise UserError(f"the study file {path} is damaged: it cannot be read as an {kind} database ({why}); "
                            f"move it aside (its trials are lost to the search) and run the command again to start "
                            f"the study afresh, or give another hydra.sweep.dir"
                            + (f" or {setting}" if setting else "")) from None
        name = f"{setting}={url}" if setting else f"the study {url}"
        raise UserError(f"{name} cannot be opened ({why}): give sqlite:///<file>, a postgresql:// or mysql:// URL, "
                        "or the path of a journal file") from None


def build_storage(storage: Any, sweep_dir: str | os.PathLike):
    """``hydra.sweeper.storage`` as the official plugin takes it (a URL, or an object config such as
    ``{_target_: optuna.storages.RDBStorage, url: ...}``), or this project's default (null: the sweep
    folder's optuna.db) and journal-file paths."""
    if isinstance(storage, (dict, DictConfig)):
        from hydra.utils import instantiate

        try:
            return instantiate(storage)
        except Exception as err:
            why = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
            raise UserError(f"hydra.sweeper.storage cannot be built ({why}): give a URL, or an object config "
                            "such as {_target_: optuna.storages.RDBStorage, url: sqlite:///<file>}") from None
    default = storage in (None, "", "auto")
    return open_storage(storage_url(storage, sweep_dir), None if default else "hydra.sweeper.storage")


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
    its id, which this looks up from the trial's number). ``storage``: a URL, or a storage object;
    ``name`` None: Optuna names a new study (the official plugin's ``study_name: null``)."""

    def __init__(self, storage: Any, name: str | None, pruner: Any = None, directions: list[str] | None = None,
                 sampler: Any = None):
        import optuna

        if isinstance(storage, str):
            self.url, self.storage = storage, open_storage(storage)
        else:
            self.url, self.storage = storage_url(storage, "."), storage
        if directions is None:
            try:
                self.study = optuna.load_study(study_name=name, storage=self.storage, pruner=pruner)
            except KeyError:
                raise UserError(f"no study {name!r} in {self.url}") from None
        else:
            self.study = optuna.create_study(study_name=name, storage=self.storage, pruner=pruner, sampler=sampler,
                                             directions=directions, load_if_exists=True)
            found = [d.name.lower() for d in self.study.directions]
            if found != directions:
                raise UserError(f"study {name!r} in {self.url} was created to {' and '.join(found)}, not to "
                                f"{' and '.join(directions)}: give another hydra.sweeper.study_name or storage")
        self.name = self.study.study_name
        self.study_id = self.storage.get_study_id_from_name(self.name)

    def trial_id(self, number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def trials(self) -> list:
        return self.study.get_trials(deepcopy=False)

    def state(self, number: int):
        return self.storage.get_trial(self.trial_id(number)).state

    def tell(self, trial, **outcome) -> None:
        """``study.tell``; the grid sampler stops the study when its grid is done, which Optuna
        refuses outside ``optimize`` after recording the outcome (the official plugin does the same)."""
        try:
            self.study.tell(trial, **outcome)
        except RuntimeError as err:
            if "Study.stop" not in str(err):
                raise

    def mark_interrupted(self, number: int) -> None:
        """A running trial that will not finish: failed, and to be asked again (``to_resume``)."""
        import optuna

        self.storage.set_trial_user_attr(self.trial_id(number), INTERRUPTED, True)
        self.tell(number, state=optuna.trial.TrialState.FAIL)


def counted(trials: list) -> int:
    """The trials that count against ``n_trials``: all but the interrupted ones, which are asked again."""
    return sum(1 for t in trials if not t.user_attrs.get(INTERRUPTED))


def to_resume(trials: list) -> list:
    """Interrupted trials that no later trial has taken up again."""
    taken = {t.user_attrs.get(RESUMES) for t in trials}
    return [t for t in trials if t.user_attrs.get(INTERRUPTED) and t.number not in taken]


def abandoned(trials: list) -> list:
    """Running trials of this machine that nobody trains any more (their job, or their sweeper, was
    killed, or the machine rebooted)."""
    import optuna

    host = socket.gethostname()
    return [t for t in trials if t.state == optuna.trial.TrialState.RUNNING and t.user_attrs.get(HOST) == host
            and not sweeper_alive(t) and trained_by(t) is None]


def sweeper_alive(trial) -> bool:
    """Whether the process that asked for the trial (which tells the study its outcome) is alive."""
    return _alive(trial.user_attrs.get(SWEEPER, trial.user_attrs.get(PID)))


def trained_by(trial) -> str | None:
    """Who still trains a running trial of this machine ("pid N on <host>"), or None. Its job's hold
    on its folder's lock says so (the OS drops it when the job dies, however it dies); a trial whose
    job has not recorded its folder yet goes by the process that asked it."""
    from ganlab.run_folders.lock import holder

    if trial.user_attrs.get(DIR):
        return holder(trial.user_attrs[DIR])
    return f"pid {trial.user_attrs.get(PID)}" if _alive(trial.user_attrs.get(PID)) else None


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
    name = sweeper.get("study_name")
    if name is None:  # Optuna named it: the results say how
        try:
            name = OmegaConf.load(sweep_dir / "optimization_results.yaml").get("study_name")
        except Exception:
            name = None
    url = storage_url(sweeper.get("storage"), sweep_dir)
    if name is None and sweeper.get("storage") in (None, "", "auto"):
        name = DEFAULT_NAME
    if name is None or url is None:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = Study(url, name)
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
