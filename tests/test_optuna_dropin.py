"""hydra/sweeper=optuna as a drop-in for the official hydra-optuna-sweeper.

The first part ports the official plugin's own behavioural tests (facebookresearch/hydra,
plugins/hydra_optuna_sweeper/tests/test_optuna_sweeper_plugin.py, on its example apps, rewritten as
tests/optuna_apps/) to this sweeper. Where this project differs on purpose, the test says
"Deliberate difference" and asserts the project's behaviour. The second part covers the rest of the
official contract that its tests leave out (issue 31)."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import optuna
import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from ganlab.errors import UserError
from ganlab.search import sampler as samplers
from ganlab.search import space
from hydra_plugins.ganlab_search import OptunaSearch
from hydra_plugins.ganlab_search.config import SAMPLERS
from helpers import assert_says, run_command

APPS = Path(__file__).resolve().parent / "optuna_apps"


def run_app(app: str, *args: str) -> subprocess.CompletedProcess:
    """``python <app> --multirun ARGS`` in the apps' folder, as the official tests run their examples."""
    return run_command(str(APPS / app), "--multirun", *args, cwd=APPS, timeout=600)


def results_of(folder) -> dict:
    return yaml.safe_load((Path(folder) / "optimization_results.yaml").read_text())


def check_distribution(expected, actual) -> None:
    if not isinstance(expected, CategoricalDistribution):
        assert expected == actual
        return
    assert isinstance(actual, CategoricalDistribution)
    assert set(expected.choices) == set(actual.choices)  # shuffle() reorders the choices


# --- The official plugin's tests, ported ---------------------------------------------------------

def test_discovery():
    found = [x.__name__ for x in Plugins.instance().discover(Sweeper)]
    assert OptunaSearch.__name__ in found and "OptunaSweeper" in found  # the official class path, for configs naming it


@pytest.mark.parametrize("override, expected", [
    ("key=choice(1,2)", CategoricalDistribution([1, 2])),
    ("key=choice(true, false)", CategoricalDistribution([True, False])),
    ("key=choice('hello', 'world')", CategoricalDistribution(["hello", "world"])),
    ("key=shuffle(range(1,3))", CategoricalDistribution((1, 2))),
    ("key=range(1,3)", IntDistribution(1, 3)),
    ("key=interval(1, 5)", FloatDistribution(1, 5)),
    ("key=int(interval(1, 5))", IntDistribution(1, 5)),
    ("key=tag(log, interval(1, 5))", FloatDistribution(1, 5, log=True)),
    ("key=tag(log, int(interval(1, 5)))", IntDistribution(1, 5, log=True)),
    ("key=range(0.5, 5.5, step=1)", FloatDistribution(0.5, 5.5, step=1)),
])
def test_create_optuna_distribution_from_override(override, expected):
    parsed = OverridesParser.create().parse_overrides([override])[0]
    check_distribution(expected, space.distribution(parsed))


@pytest.mark.parametrize("arguments, expected", [
    (["key=choice(1,2)"], ({"key": CategoricalDistribution([1, 2])}, {}, [])),
    (["key=5"], ({}, {"key": "5"}, [])),
    (["key1=choice(1,2)", "key2=5"], ({"key1": CategoricalDistribution([1, 2])}, {"key2": "5"}, [])),
    (["key1=choice(1,2)", "key2=5", "key3=range(1,3)"],
     ({"key1": CategoricalDistribution([1, 2]), "key3": IntDistribution(1, 3)}, {"key2": "5"}, [])),
    (["~z"], ({}, {}, ["~z"])),
    (["~z=10"], ({}, {}, ["~z=10"])),
])
def test_create_params_from_overrides(arguments, expected):
    assert space.parse(arguments) == expected


def test_launch_jobs(hydra_sweep_runner):
    sweep = hydra_sweep_runner(calling_file=None, calling_module="hydra.test_utils.a_module", config_path="configs",
                               config_name="compose.yaml", task_function=None,
                               overrides=["hydra/sweeper=optuna", "hydra/launcher=basic", "hydra.sweeper.n_trials=8",
                                          "hydra.sweeper.n_jobs=3"])
    with sweep:
        assert sweep.returns is None
        # Deliberate difference (an addition): the study is kept in the sweep folder
        study = optuna.load_study(study_name="search", storage=f"sqlite:///{sweep.temp_dir}/optuna.db")
        assert [t.state.name for t in study.trials] == ["COMPLETE"] * 8 and study.best_value == 100


@pytest.mark.slow
@pytest.mark.parametrize("with_commandline", (True, False))
def test_optuna_example(with_commandline, tmp_path):
    storage = f"sqlite:///{tmp_path / 'test.db'}"
    args = [f"hydra.sweep.dir={tmp_path}", "hydra.job.chdir=True", "hydra.sweeper.n_trials=20",
            "hydra.sweeper.n_jobs=1", f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=test-optuna-example",
            "hydra/sweeper/sampler=tpe", "hydra.sweeper.sampler.seed=123", "~z"]
    if with_commandline:
        args += ["x=choice(0, 1, 2)", "y=0"]  # y: a fixed parameter
    done = run_app("sphere.py", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    returns = results_of(tmp_path)
    best = optuna.load_study(storage=storage, study_name="test-optuna-example").best_trial
    assert returns["name"] == "optuna" and returns["best_params"]["x"] == best.params["x"]
    if with_commandline:
        assert "y" not in returns["best_params"] and "y" not in best.params
    else:
        assert returns["best_params"]["y"] == best.params["y"]
    assert returns["best_value"] == best.value
    # The official threshold: the 95th percentile of TPE's best over 1000 seeds (the seed is kept:
    # a fresh study of a plain app is not reseeded)
    assert returns["best_value"] <= 2.27


@pytest.mark.slow
@pytest.mark.parametrize("num_trials", (10, 1))
def test_example_with_grid_sampler(tmp_path, num_trials):
    storage = f"sqlite:///{tmp_path / 'test.db'}"
    done = run_app("sphere.py", "--config-name=grid", f"hydra.sweep.dir={tmp_path}", "hydra.job.chdir=False",
                   f"hydra.sweeper.n_trials={num_trials}", "hydra.sweeper.n_jobs=1", f"hydra.sweeper.storage={storage}",
                   "hydra.sweeper.study_name=test-grid-sampler")
    assert done.returncode == 0, done.stderr[-3000:]
    returns = results_of(tmp_path)
    bx, by, bz = (returns["best_params"][k] for k in "xyz")
    assert bx in [-1, 1] and by in [-1, 0] and bz in ["foo", "bar"]  # the grid: range's stop is not in it
    trials = optuna.load_study(storage=storage, study_name="test-grid-sampler").trials
    assert len(trials) == min(num_trials, 8), "n_trials cut to the grid's 8 points"


def _dominates(a: list[float], b: list[float]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


@pytest.mark.slow
@pytest.mark.parametrize("with_commandline", (True, False))
def test_optuna_multi_objective_example(with_commandline, tmp_path):
    args = [f"hydra.sweep.dir={tmp_path}", "hydra.job.chdir=True", "hydra.sweeper.n_trials=20", "hydra.sweeper.n_jobs=1",
            "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=123"]
    if with_commandline:
        args += ["x=range(0, 5)", "y=range(0, 3)"]
    done = run_app("two_objectives.py", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    returns = results_of(tmp_path)
    assert returns["name"] == "optuna" and returns["solutions"]
    steps = {0} if with_commandline else {0, 0.5}
    for a in returns["solutions"]:
        assert a["params"]["x"] % 1 in steps and a["params"]["y"] % 1 in steps
        # The official test compares the solutions' dicts, so it cannot fail; here their values
        assert not any(_dominates(b["values"], a["values"]) for b in returns["solutions"])


@pytest.mark.slow
def test_optuna_custom_search_space_example(tmp_path):
    done = run_app("custom_space.py", f"hydra.sweep.dir={tmp_path}", "hydra.job.chdir=True", "hydra.sweeper.n_trials=20",
                   "hydra.sweeper.n_jobs=1", "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=123",
                   "max_z_difference_from_x=0.3")
    assert done.returncode == 0, done.stderr[-3000:]
    best = results_of(tmp_path)["best_params"]
    assert abs(best["x"] - best["z"]) <= 0.3 and 0 <= best["+w"] <= 1


@pytest.mark.slow
@pytest.mark.parametrize("max_failure_rate", (0.5, 1.0))
def test_failure_rate(max_failure_rate, tmp_path):
    done = run_app("sphere.py", f"hydra.sweep.dir={tmp_path}", "hydra.job.chdir=True", "hydra.sweeper.n_trials=20",
                   "hydra.sweeper.n_jobs=2", "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=123",
                   f"hydra.sweeper.max_failure_rate={max_failure_rate}", "error=true")
    output = done.stdout + done.stderr
    # Deliberate difference: the official plugin raises the job's exception (a traceback) when the
    # rate is passed, and says nothing but warnings below it. Here each failed trial is one line
    # naming its error, either way; the search stops at the first batch past the rate; a search
    # with failed trials exits 1 (a sweep with a failed job does), with no traceback.
    assert done.returncode == 1 and "Traceback" not in output
    assert "trial 0 failed: RuntimeError: cfg.error is True" in output
    study = optuna.load_study(study_name="sphere", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    if max_failure_rate < 1.0:
        assert_says(output, "2 of 2 trial(s) of this batch failed", "max_failure_rate=0.5", "the search stops")
        assert len(study.trials) == 2
    else:
        assert len(study.trials) == 20 and "20 trial(s) of this search failed" in output
    assert {t.state.name for t in study.trials} == {"FAIL"}


def test_motpe_sampler_removed():
    with pytest.raises(UserError, match="the 'motpe' sampler was removed in Optuna 4.0"):
        samplers.build(SAMPLERS["motpe"], {})


@pytest.mark.slow
def test_example_with_removed_motpe(tmp_path):
    done = run_app("two_objectives.py", "--config-name=motpe", f"hydra.sweep.dir={tmp_path}", "hydra.job.chdir=True",
                   "hydra.sweeper.n_trials=20", "hydra.sweeper.n_jobs=1")
    assert done.returncode != 0
    assert "motpe" in done.stderr + done.stdout and "sampler was removed in Optuna 4.0" in done.stderr + done.stdout


# --- The rest of the official contract -----------------------------------------------------------

@pytest.mark.parametrize("target", ["RandomSampler", "NSGAIISampler", "CmaEsSampler", "QMCSampler", "GPSampler"])
def test_setting_only_the_samplers_target_leaves_tpes_defaults_behind(target):
    config = OmegaConf.create({**SAMPLERS["tpe"], "_target_": f"optuna.samplers.{target}", "seed": 7})
    sampler, grid = samplers.build(config, {})
    assert type(sampler).__name__ == target and grid is None


def test_a_key_the_user_set_that_the_sampler_does_not_take_is_optunas_error():
    config = OmegaConf.create({**SAMPLERS["tpe"], "_target_": "optuna.samplers.RandomSampler", "n_startup_trials": 3})
    with pytest.raises(UserError, match="hydra.sweeper.sampler: Error in call to target "
                                        "'optuna.samplers._random.RandomSampler'.*n_startup_trials"):
        samplers.build(config, {})


def test_the_grid_samplers_grid_is_the_search_space():
    distributions, _, _ = space.parse(["x=choice(-1, 1)", "y=range(-1.0, 1.0, step=1)", "n=range(1, 4)"])
    sampler, grid = samplers.build(OmegaConf.create(SAMPLERS["grid"]), distributions)
    assert isinstance(sampler, optuna.samplers.GridSampler) and grid == 2 * 2 * 3
    with pytest.raises(UserError, match="x: the grid sampler takes choice"):
        samplers.build(OmegaConf.create(SAMPLERS["grid"]), space.parse(["x=interval(0, 1)"])[0])


def test_bad_returns_fail_their_trial_with_a_line_and_max_failure_rate_0_stops_at_the_first(tmp_path):
    done = run_app("sphere.py", f"hydra.sweep.dir={tmp_path / 'a'}", "hydra.sweeper.n_trials=3", "returns=abc")
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in output
    assert "trial 0 failed: Return value must be float-castable. Got 'abc'." in output
    assert_says(output, "1 of 1 trial(s) of this batch failed", "max_failure_rate=0.0", "the search stops")
    study = optuna.load_study(study_name="sphere", storage=f"sqlite:///{tmp_path / 'a' / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["FAIL"], "not left RUNNING, and no second trial"
    done = run_app("two_objectives.py", f"hydra.sweep.dir={tmp_path / 'b'}", "hydra.sweeper.n_trials=2",
                   "hydra.sweeper.max_failure_rate=1.0", "returns=[1.0]")
    output = done.stdout + done.stderr
    assert done.returncode == 1, "a search with failed trials does not end 0"
    assert ("The number of the values and the number of the objectives are mismatched. Expect 2, but actually 1."
            in output) and "2 trial(s) of this search failed" in output


def test_study_name_null_storage_as_an_object_and_the_grid_sampler_from_its_group(tmp_path):
    url = f"sqlite:///{tmp_path / 'object.db'}"
    done = run_app("sphere.py", "--config-name=grid", f"hydra.sweep.dir={tmp_path / 'a'}", "hydra.sweeper.study_name=null",
                   f"+hydra.sweeper.storage={{_target_: optuna.storages.RDBStorage, url: '{url}'}}",
                   "hydra.sweeper.params.z=foo")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not [p for p in Path(APPS).iterdir() if p.name.startswith("<")], "no file named after the object"
    studies = optuna.get_all_study_summaries(url)
    assert len(studies) == 1 and studies[0].n_trials == 4, "the grid's 4 points, in a study Optuna named"
    returns = results_of(tmp_path / "a")
    assert returns["study_name"] == studies[0].study_name and returns["best_value"] == 1


@pytest.mark.slow
def test_the_former_sweeper_name_still_works(tmp_path):
    done = run_app("sphere.py", "hydra/sweeper=optuna_search", f"hydra.sweep.dir={tmp_path}", "hydra.sweeper.n_trials=2",
                   f"hydra.searchpath=[file://{APPS.parents[1] / 'conf'}]")
    assert done.returncode == 0, done.stderr[-3000:]
    assert results_of(tmp_path)["trials"] == {"complete": 2}
