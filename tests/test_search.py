"""hparams_search=optuna: the project's Optuna sweeper over the learning rates, betas and batch size."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import yaml
from omegaconf import OmegaConf

from ganlab.errors import UserError
from ganlab.reporting.sweep_page import write_page
from ganlab.search import check_objective, space
from ganlab.search.study import Study, abandoned, make_pruner
from ganlab.search.sweeper import Search
from ganlab.search.trial import ReportToStudy
from helpers import CPU, QUIET, ROOT, assert_says, command, run_command, train_command

# A search's trial: 5 iterations on the CPU, with the sample-quality evaluation its metric needs
TRIAL = [*CPU, "trainer.max_steps=5"]


def search(tmp_path, data_dir, *overrides: str) -> subprocess.CompletedProcess:
    return run_command("train.py", "-m", "hparams_search=optuna", *TRIAL, f"paths.data_dir={data_dir}",
                       f"hydra.sweep.dir={tmp_path / 'search'}", *overrides, timeout=600)


@pytest.mark.slow
def test_a_search_without_its_metric_stops_before_training(tmp_path, mnist_dir):
    done = search(tmp_path, mnist_dir, "callbacks.sample_quality=null", "hydra.sweeper.n_trials=2")
    assert done.returncode == 1
    assert_says(done.stdout + done.stderr, "optimized_metric=4_quality/fid comes from the sample-quality evaluation",
                "callbacks.sample_quality=null")
    assert not [p for p in (tmp_path / "search").iterdir() if p.is_dir()], "no trial folder"


@pytest.mark.slow
def test_optuna_searches_the_learning_rates_betas_and_batch_size(tmp_path, quick_evaluator_dir):
    done = search(tmp_path, quick_evaluator_dir, "hydra.sweeper.n_trials=3", "hydra.sweeper.sampler.n_startup_trials=2",
                  "eval_interval=5", "callbacks.sample_quality.num_samples=300",
                  "+callbacks.sample_quality.min_evaluator_accuracy=0.9")
    assert done.returncode == 0, done.stderr[-3000:]
    results = yaml.safe_load((tmp_path / "search" / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"model.optimizer_g.lr", "model.optimizer_d.lr", "model.optimizer_g.betas.0",
                                           "model.optimizer_d.betas.0", "data.batch_size"}
    assert results["best_value"] > 0
    trials = sorted(p for p in (tmp_path / "search").iterdir() if p.is_dir())
    assert len(trials) == 3
    for trial in trials:
        config = yaml.safe_load((trial / ".hydra" / "config.yaml").read_text())
        overrides = yaml.safe_load((trial / ".hydra" / "overrides.yaml").read_text())
        beta1 = float(next(o for o in overrides if o.startswith("model.optimizer_d.betas.0=")).split("=")[1])
        assert config["model"]["optimizer_d"]["betas"] == [beta1, 0.999], "the searched beta1 is applied"
        assert len(trial.name) <= 120
    print(f"optuna: 3 trials, best FID {results['best_value']:.2f} with {results['best_params']}")


def test_a_metric_by_its_former_name_is_refused_with_its_new_one(make_train_cfg):
    with pytest.raises(UserError) as refused:
        check_objective(make_train_cfg("optimized_metric=eval/fid"))
    assert_says(str(refused.value), "optimized_metric=eval/fid is a metric's former name", "optimized_metric=4_quality/fid")
    check_objective(make_train_cfg("optimized_metric=4_quality/fid"))


def study_of(folder) -> optuna.Study:
    return optuna.load_study(study_name="search", storage=f"sqlite:///{folder / 'optuna.db'}")


def test_the_search_space_is_hydras_sweep_syntax():
    distributions, fixed, deletions = space.parse(["lr=tag(log, interval(0.0001, 0.003))", "b=choice(32, 64)",
                                                   "n=range(1, 7, 2)", "x=interval(0.1, 0.5)", "seed=7", "~z"])
    assert distributions == {
        "lr": optuna.distributions.FloatDistribution(0.0001, 0.003, log=True),
        "b": optuna.distributions.CategoricalDistribution([32, 64]),
        "n": optuna.distributions.IntDistribution(1, 7, step=2),  # the official plugin's: high included
        "x": optuna.distributions.FloatDistribution(0.1, 0.5),
    }
    assert fixed == {"seed": "7"} and deletions == ["~z"]
    assert space.parse(["b=choice(32, 64)", "b=128"]) == ({}, {"b": "128"}, []), "a fixed value wins"


def test_a_trial_worse_than_the_median_stops_with_one_line(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="search", storage=url)
    for fid in (100.0, 120.0):  # two earlier trials, at iteration 10
        study.add_trial(optuna.trial.create_trial(value=fid, intermediate_values={10: fid},
                                                  params={}, distributions={}))
    number = study.ask().number
    reporter = ReportToStudy(Study(url, "search", optuna.pruners.MedianPruner(n_startup_trials=2)), number,
                             "4_quality/fid", "median")
    evaluation = SimpleNamespace(evaluated_at=10, results={"4_quality/fid": 150.0})
    trainer = SimpleNamespace(global_step=10, max_steps=40, is_global_zero=True, callbacks=[evaluation],
                              should_stop=False)
    with caplog.at_level(logging.WARNING):
        reporter.on_train_batch_end(trainer, None, None, None, 0)
    assert trainer.should_stop and reporter.pruned_at == 10
    trial = study.trials[number]
    assert trial.state == optuna.trial.TrialState.PRUNED and trial.intermediate_values == {10: 150.0}
    assert "trial 2 pruned at iteration 10 (median): 4_quality/fid 150, the median of 2 earlier trials at 10 is 110" \
        in caplog.text


def test_a_search_is_kept_in_its_folder_and_the_same_command_continues_it(tmp_path):
    """Trials return the last G loss (no evaluation: seconds a trial)."""
    args = ["-m", "hparams_search=optuna", *QUIET, "trainer.max_steps=3", "optimized_metric=1_losses/g_loss",
            "hydra.sweeper.sampler.n_startup_trials=1", f"hydra.sweep.dir={tmp_path / 'search'}"]
    run_command("train.py", *args, "hydra.sweeper.n_trials=2", timeout=600, check=True)
    assert [t.state.name for t in study_of(tmp_path / "search").trials] == ["COMPLETE", "COMPLETE"]
    again = run_command("train.py", *args, "hydra.sweeper.n_trials=3", timeout=600, check=True)
    assert "Study 'search' in sqlite:///" in again.stdout and "2 of 3 trials so far" in again.stdout
    trials = study_of(tmp_path / "search").trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3, "one more trial, the first two not trained again"
    assert trials[2].params not in (trials[0].params, trials[1].params), "a continued search draws new values"
    assert study_of(tmp_path / "search").metric_names == ["1_losses/g_loss"], "optuna-dashboard's name for it"
    folders = sorted(p.name.split("_")[0] for p in (tmp_path / "search").iterdir() if p.is_dir())
    assert folders == ["0", "1", "2"]
    results = yaml.safe_load((tmp_path / "search" / "optimization_results.yaml").read_text())
    assert results["trials"] == {"complete": 3} and results["best_value"] == min(t.value for t in trials)
    write_page(tmp_path / "search")  # what report.py writes (the command itself: test_cli's sweep test)
    html = (tmp_path / "search" / "report.html").read_text()
    assert html.count("<td>trial ") == 3 and f"<td>trial {results['best_trial']}: complete, best</td>" in html


@pytest.mark.slow  # a subprocess for Hydra's own line; the project's lines are tested in-process below
def test_a_bad_search_setting_is_one_line_before_any_trial(tmp_path):
    done = run_command("train.py", "-m", "hparams_search=optuna", *QUIET, "hydra.sweeper.sampler._target_=optuna.samplers.Nope",
                       f"hydra.sweep.dir={tmp_path / 'search'}")
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in output
    assert "Error locating target 'optuna.samplers.Nope'" in output, "Hydra's own line for a class it cannot find"
    assert not (tmp_path / "search" / "optuna.db").exists()


@pytest.mark.parametrize("metric, direction, phrases", [
    ("4_quality/fid", "minimize", ("hydra.sweeper.pruner=nope is not a pruner", "none, median, hyperband")),
    ("4_quality/fdi", "minimize", ("optimized_metric=4_quality/fdi is not a metric a run returns",
                                   "did you mean 4_quality/fid?")),
    ("4_quality/fid", ["minimize", "maximize"], ("optimized_metric has 1 metric(s)", "hydra.sweeper.direction 2")),
    (["4_quality/fid", "4_quality/recall"], ["minimize", "maximize"], ("hydra.sweeper.pruner=median judges one metric",)),
])
def test_search_settings_that_cannot_work_are_refused(metric, direction, phrases):
    search = Search(direction=direction, study_name="search", n_trials=4, n_jobs=1,
                    pruner="nope" if "nope" in phrases[0] else "median")
    search.config = OmegaConf.create({"optimized_metric": metric, "trainer": {"max_steps": 40}, "eval_interval": 10,
                                      "search": {}})
    with pytest.raises(UserError) as refused:
        search._check()
    assert_says(str(refused.value), *phrases)


def test_a_study_is_refused_under_another_direction(tmp_path):
    optuna.create_study(study_name="search", storage=f"sqlite:///{tmp_path / 'optuna.db'}", direction="minimize")
    with pytest.raises(UserError) as refused:
        Study(f"sqlite:///{tmp_path / 'optuna.db'}", "search", directions=["maximize"])
    assert_says(str(refused.value), "was created to minimize, not to maximize", "give another hydra.sweeper.study_name")


@pytest.mark.slow
def test_ctrl_c_mid_search_then_the_same_command_resumes_the_trial_from_its_checkpoint(tmp_path, mnist_dir):
    args = ["-m", "hparams_search=optuna", *QUIET, "trainer.max_steps=400", "trainer.log_every_n_steps=10",
            "optimized_metric=1_losses/g_loss", "hydra.sweeper.n_trials=2",
            f"paths.data_dir={mnist_dir}", f"hydra.sweep.dir={tmp_path / 'search'}"]
    log = tmp_path / "first.log"
    with open(log, "w") as out:
        process = subprocess.Popen(train_command(*args), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.monotonic() + 300
    while "#1 :" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    # Its first progress line: training runs (a Ctrl-C while MNIST loads, before it, is Python's own)
    while "iteration 40/400" not in log.read_text().split("#1 :")[-1] and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=300) == 130, log.read_text()[-3000:]
    before = study_of(tmp_path / "search").trials
    assert [(t.state.name, t.user_attrs.get("interrupted")) for t in before] == [("COMPLETE", None), ("FAIL", True)]
    again = run_command("train.py", *args, timeout=600)
    output = again.stdout + again.stderr
    assert again.returncode == 0, output[-3000:]
    assert "1 of 2 trials so far" in output and "trial 2 resumes trial 1 in its folder" in output
    assert "Resuming from " in output and "/1_" in output.split("Resuming from ")[1].splitlines()[0]
    after = study_of(tmp_path / "search").trials
    assert [t.state.name for t in after] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert after[2].params == after[1].params and after[2].user_attrs["resumes"] == 1
    print(f"before: {[t.state.name for t in before]}; after: {[t.state.name for t in after]}")


@pytest.mark.slow
def test_two_processes_share_one_study_and_run_no_trial_twice(tmp_path, mnist_dir):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    commands = [train_command("-m", "hparams_search=optuna", *QUIET, "trainer.max_steps=20",
                              "optimized_metric=1_losses/g_loss", "hydra.sweeper.n_trials=6", f"hydra.sweeper.storage={storage}",
                              f"paths.data_dir={mnist_dir}", f"hydra.sweep.dir={tmp_path / name}") for name in ("a", "b")]
    processes = [subprocess.Popen(c, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for c in commands]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    trials = optuna.load_study(study_name="search", storage=storage).trials
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert 6 <= len(trials) <= 7, "like Optuna's MaxTrialsCallback: at most one surplus trial per extra process"
    values = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(values)) == len(values), "no process draws another's values again"
    ran = {name: sorted(int(p.name.split("_")[0]) for p in (tmp_path / name).iterdir() if p.is_dir()) for name in "ab"}
    assert not set(ran["a"]) & set(ran["b"]) and sorted(ran["a"] + ran["b"]) == [t.number for t in trials]
    print(f"trials run by process a: {ran['a']}, by process b: {ran['b']}")


@pytest.mark.slow
def test_the_two_objective_preset_returns_the_pareto_front(tmp_path, quick_evaluator_dir):
    run_command("train.py", "-m", "hparams_search=optuna_fid_recall", *CPU, "trainer.max_steps=6", "eval_interval=6",
                "callbacks.sample_quality.num_samples=300", "+callbacks.sample_quality.min_evaluator_accuracy=0.9",
                "hydra.sweeper.n_trials=3", f"paths.data_dir={quick_evaluator_dir}",
                f"hydra.sweep.dir={tmp_path / 'search'}", timeout=600, check=True)
    results = yaml.safe_load((tmp_path / "search" / "optimization_results.yaml").read_text())
    study = study_of(tmp_path / "search")
    assert [d.name for d in study.directions] == ["MINIMIZE", "MAXIMIZE"]
    assert sorted(t["trial"] for t in results["solutions"]) == sorted(t.number for t in study.best_trials)
    assert all(len(t["values"]) == 2 for t in results["solutions"]), "the official plugin's key"
    write_page(tmp_path / "search")
    html = (tmp_path / "search" / "report.html").read_text()
    assert html.count(", on the Pareto front</td>") == len(results["solutions"])


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("optuna_dashboard") is None,
                    reason="needs optuna-dashboard: pip install -e '.[dashboard]'")
def test_optuna_dashboard_reads_a_searchs_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = Study(url, "search", directions=["minimize"]).study
    study.add_trial(optuna.trial.create_trial(value=12.5, params={}, distributions={}))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "optuna-dashboard"), url, "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as answer:
                    studies = json.loads(answer.read())["study_summaries"]
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "optuna-dashboard did not answer"
                time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert [(s["study_name"], s["directions"]) for s in studies] == [("search", ["minimize"])]


def test_a_study_lives_in_sqlite_a_journal_file_or_a_database_url(tmp_path):
    journal = Study(str(tmp_path / "shared" / "search.log"), "search", directions=["minimize"])
    assert isinstance(journal.storage, optuna.storages.JournalStorage)
    journal.study.add_trial(optuna.trial.create_trial(value=1.0, params={}, distributions={}))
    assert len(Study(str(tmp_path / "shared" / "search.log"), "search").trials()) == 1, "another process reads it"
    with pytest.raises(UserError, match=r"hydra.sweeper.storage=postgresql://nobody@127.0.0.1:1/x cannot be opened \("):
        Study("postgresql://nobody@127.0.0.1:1/x", "search", directions=["minimize"])


def test_hyperband_stops_a_trial_in_the_bottom_of_its_rung(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    pruner = make_pruner("hyperband", max_steps=90, eval_interval=10)  # rungs at 10, 30 (and 90, the end)
    study = Study(url, "search", pruner, directions=["minimize"]).study
    for fid in range(50, 80):  # earlier trials, in every bracket
        trial = study.ask()
        for step in (10, 30):
            trial.report(float(fid), step)
            trial.should_prune()  # where a trial's rungs are recorded, as ReportToStudy does
        study.tell(trial, float(fid))
    number = study.ask().number
    reporter = ReportToStudy(Study(url, "search", pruner), number, "4_quality/fid", "hyperband")
    evaluation = SimpleNamespace(evaluated_at=None, results={"4_quality/fid": 150.0})
    trainer = SimpleNamespace(max_steps=90, is_global_zero=True, should_stop=False, callbacks=[evaluation])
    with caplog.at_level(logging.WARNING):
        for step in (10, 30):
            trainer.global_step = evaluation.evaluated_at = step
            reporter.on_train_batch_end(trainer, None, None, None, 0)
            if trainer.should_stop:
                break
    assert trainer.should_stop and study.trials[number].state == optuna.trial.TrialState.PRUNED
    assert f"trial {number} pruned at iteration {reporter.pruned_at} (hyperband): 4_quality/fid 150" in caplog.text


@pytest.mark.slow  # three interpreters loading Optuna at once
def test_processes_that_open_a_new_sqlite_study_at_once_all_get_it(tmp_path):
    """Each would create the file's tables; one failed with "table studies already exists"."""
    code = ("import sys; from ganlab.search.study import Study; "
            "Study(sys.argv[1], 'search', directions=['minimize']); print('opened')")
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    processes = [subprocess.Popen(command("-c", code, url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [out.strip() for out, _ in outputs] == ["opened"] * 3, [err[-500:] for _, err in outputs]


def test_a_failed_trial_is_told_failed_the_search_goes_on_and_the_command_exits_1(tmp_path, caplog):
    from hydra.core.utils import JobReturn, JobStatus

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = Study(url, "search", directions=["minimize"])
    search = Search(direction="minimize", storage=url, study_name="search", n_trials=2, n_jobs=2)
    search.config = OmegaConf.create({"optimized_metric": "1_losses/g_loss"})
    search.metrics = ["1_losses/g_loss"]
    search.sweep_dir = tmp_path
    trials = [study.study.ask(), study.study.ask()]
    diverged, finished = JobReturn(status=JobStatus.FAILED), JobReturn(status=JobStatus.COMPLETED)
    diverged.return_value = RuntimeError("training diverged at iteration 10: d_loss nan, g_loss nan")
    finished.return_value = 0.5
    with caplog.at_level(logging.WARNING):
        assert search._tell(study, trials, [diverged, finished]) == (False, 1)
    assert [t.state.name for t in study.trials()] == ["FAIL", "COMPLETE"] and search.failed == [0]
    assert "trial 0 failed: RuntimeError: training diverged at iteration 10: d_loss nan, g_loss nan" in caplog.text
    with pytest.raises(SystemExit) as stop, caplog.at_level(logging.ERROR):
        search._finish(study)
    assert stop.value.code == 1 and "1 trial(s) of this search failed (0: the lines above say why)" in caplog.text
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert results["trials"] == {"complete": 1, "fail": 1} and results["best_trial"] == 1


def test_a_trial_left_running_by_a_sweeper_that_is_gone_is_found(tmp_path):
    study = Study(f"sqlite:///{tmp_path / 'optuna.db'}", "search", directions=["minimize"]).study
    gone = run_command("-c", "import os; print(os.getpid())")
    for pid in (int(gone.stdout), os.getpid()):  # a process that has ended, and this one
        trial = study.ask()
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", pid)
    assert [t.number for t in abandoned(study.get_trials())] == [0]


@pytest.mark.slow
def test_a_pruned_trial_stops_after_that_iteration_with_its_checkpoint_and_ends_normally(make_train_cfg, tmp_path,
                                                                                           quick_evaluator_dir):
    from ganlab.checkpoints.reading import read_checkpoint
    from ganlab.training import train

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = Study(url, "search", directions=["minimize"]).study
    for fid in (0.5, 0.6):  # earlier trials far better at iteration 2
        study.add_trial(optuna.trial.create_trial(value=fid, intermediate_values={2: fid}, params={}, distributions={}))
    number = study.ask().number
    metrics = train(make_train_cfg(
        "trainer.max_steps=6", "eval_interval=2", f"paths.data_dir={quick_evaluator_dir}",
        "callbacks.sample_quality.num_samples=200", "+callbacks.sample_quality.min_evaluator_accuracy=0.9",
        f"search.trial={number}", f"search.storage={url}", "search.study_name=search", "search.pruner=median",
        quality=True))
    assert study.trials[number].state == optuna.trial.TrialState.PRUNED
    assert list(study.trials[number].intermediate_values) == [2]
    assert read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 2, "stopped after that iteration"
    assert metrics["4_quality/fid"] == study.trials[number].intermediate_values[2], "what the run returns"


def test_a_rerun_waits_for_a_trial_whose_job_outlived_its_sweeper(tmp_path, caplog):
    """The trial's sweeper is gone but its job still holds its folder (a real process, killed by
    nothing here, holding the lock for 3 s): the rerun waits for it, then asks the trial again;
    it never launches a second process into the folder."""
    folder = tmp_path / "0_x=1"
    folder.mkdir()
    holder = subprocess.Popen(command("-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR "
                                      "| os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'pid %d on here' % "
                                      "os.getpid()); print('held', flush=True); time.sleep(3)", str(folder / ".run.lock")),
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    study = Study(f"sqlite:///{tmp_path / 'optuna.db'}", "search", directions=["minimize"])
    gone = run_command("-c", "import os; print(os.getpid())")
    trial = study.study.ask()
    for key, value in (("host", socket.gethostname()), ("sweeper_pid", int(gone.stdout)), ("pid", holder.pid),
                       ("dir", str(folder))):
        trial.set_user_attr(key, value)
    search = Search(direction="minimize")
    with caplog.at_level(logging.WARNING):
        search._left_running(study)
    assert holder.poll() is not None, "it waited until the job let go of its folder"
    assert f"trial 0 is still trained by pid {holder.pid} on here in {folder}" in caplog.text
    assert study.trials()[0].user_attrs.get("interrupted"), "then it is asked again"


@pytest.mark.slow
def test_lightning_hydra_templates_optuna_config_runs_unchanged_but_for_its_names(tmp_path, quick_evaluator_dir):
    """conf/hparams_search/mnist_optuna.yaml: the template's config, with the official plugin's
    _target_, ``override /hydra/sweeper: optuna``, study_name null and its params."""
    run_command("train.py", "hparams_search=mnist_optuna", *CPU, "trainer.max_steps=4", "eval_interval=4",
                "callbacks.sample_quality.num_samples=300", "+callbacks.sample_quality.min_evaluator_accuracy=0.9",
                "hydra.sweeper.n_trials=2", f"paths.data_dir={quick_evaluator_dir}",
                f"hydra.sweep.dir={tmp_path / 'search'}", timeout=600, check=True)
    results = yaml.safe_load((tmp_path / "search" / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"model.optimizer_g.lr", "data.batch_size", "model.generator.hidden",
                                           "model.discriminator.hidden", "model.generator.z_dim"}
    study = study_of(tmp_path / "search")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 2 and study.direction.name == "MAXIMIZE"
    assert results["best_value"] == max(t.value for t in study.trials) > 0, "the classifier score, maximised"
    print(f"mnist_optuna: 2 trials, best classifier score {results['best_value']:.3f} with {results['best_params']}")


def test_a_damaged_study_file_is_named_with_what_to_do(tmp_path):
    from ganlab.search.study import build_storage

    (tmp_path / "optuna.db").write_bytes(b"\x8f" * 4096)
    with pytest.raises(UserError) as refused:
        build_storage(None, tmp_path)
    assert_says(str(refused.value), f"the study file {tmp_path / 'optuna.db'} is damaged",
                "cannot be read as an SQLite database", "give another hydra.sweep.dir")
    assert "hydra.sweeper.storage" not in str(refused.value), "no storage was set: none is named"
    with pytest.raises(UserError) as refused:
        build_storage(f"sqlite:///{tmp_path / 'optuna.db'}", tmp_path)
    assert_says(str(refused.value), "is damaged", "give another hydra.sweep.dir", "hydra.sweeper.storage")
    (tmp_path / "optuna.db").unlink()
    study = optuna.create_study(study_name="search", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=20)
    os.truncate(tmp_path / "optuna.db", (tmp_path / "optuna.db").stat().st_size // 2)  # a file cut short
    with pytest.raises(UserError, match=r"is damaged: it cannot be read as an SQLite database \(.*malformed"):
        build_storage(None, tmp_path)
