"""Hydra's launchers the project ships: submitit (clusters; here submitit_local) and joblib."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
import torch

from ganlab.training import train
from helpers import QUIET, ROOT, assert_same_state, final_state, tiny_run, train_command

ITERATIONS = 200
# A sweep's job: 200 iterations, a checkpoint every 20, no sample grids
SWEEP_JOB = [f"trainer.max_steps={ITERATIONS}", "trainer.log_every_n_steps=10", "checkpoint_interval=20",
             "sample_interval=1000", "seed=3"]


def sweep(sweep_dir: Path, mnist_dir: Path, *overrides: str, new_session: bool = False) -> subprocess.Popen:
    return subprocess.Popen(train_command("-m", *QUIET, *SWEEP_JOB, f"paths.data_dir={mnist_dir}",
                             f"hydra.sweep.dir={sweep_dir}", "hydra.sweep.subdir=${hydra.job.num}", *overrides),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=new_session)


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"no {path} after {seconds} s"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the job's process through /proc (Linux)")
def test_a_preempted_submitit_job_is_requeued_and_resumes_exactly(tmp_path, mnist_dir):
    """submitit_local as a stand-in for SLURM: the job gets submitit's preemption signal (USR2)
    mid-run, stops after a whole iteration with a checkpoint, is requeued into its own folder and
    resumes there (ckpt_path=auto) to the same weights as a run that was never stopped."""
    sweep_dir = tmp_path / "sweep"
    launcher = sweep(sweep_dir, mnist_dir, "hydra/launcher=submitit_local")
    wait_for(sweep_dir / "0" / "checkpoints" / "iter_000040.ckpt", launcher)
    (job_folder,) = [p for p in (sweep_dir / ".submitit").iterdir() if p.name.isdigit()]
    controller = int(job_folder.name)  # submitit's local job id is its controller's pid
    (task,) = Path(f"/proc/{controller}/task/{controller}/children").read_text().split()  # the training process
    os.kill(int(task), signal.SIGUSR2)
    stdout, stderr = launcher.communicate(timeout=300)
    assert launcher.returncode == 0, stderr[-3000:]

    log = (sweep_dir / "0" / "train.log").read_text()
    assert "SIGUSR2: training stopped after iteration" in log
    assert "the newest checkpoint in this run's folder (ckpt_path=auto)" in log
    job_log = "".join(p.read_text() for p in job_folder.glob("*_log.*"))
    assert "Requeued job" in job_log

    uninterrupted = tmp_path / "uninterrupted"
    train(tiny_run(uninterrupted, mnist_dir, *SWEEP_JOB))
    resumed = final_state(sweep_dir / "0")
    assert resumed["step"] == ITERATIONS
    assert_same_state(resumed, final_state(uninterrupted))
    stopped_at = int(log.split("SIGUSR2: training stopped after iteration ")[1].split()[0])
    print(f"submitit_local: USR2 stopped the job after iteration {stopped_at}, requeued, resumed to {ITERATIONS}: "
          "weights and Adam state equal to the uninterrupted run's")


@pytest.mark.slow
def test_joblib_runs_a_sweep_in_parallel_with_the_cores_shared_out(tmp_path, mnist_dir):
    sweep_dir = tmp_path / "sweep"
    launcher = sweep(sweep_dir, mnist_dir, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                     "trainer.max_steps=30", "data.batch_size=32,64")
    stdout, stderr = launcher.communicate(timeout=300)
    assert launcher.returncode == 0, stderr[-3000:]
    cores = len(os.sched_getaffinity(0))
    for job, batch_size in (("0", 32), ("1", 64)):
        assert final_state(sweep_dir / job)["step"] == 30
        log = (sweep_dir / job / "train.log").read_text()
        assert f"CPU threads: {max(1, cores // 2)} (2 jobs at once on {cores} cores)" in log
        ckpt = torch.load(sweep_dir / job / "checkpoints" / "last.ckpt", weights_only=True)
        assert ckpt["datamodule_hyper_parameters"]["batch_size"] == batch_size, "each job trained its own value"



def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def stop_a_joblib_sweep(sweep_dir: Path, mnist_dir: Path, signum: int, to: str, *overrides: str) -> tuple[int, str]:
    """Starts a joblib sweep of a fast MLP and a slow DCGAN job side by side (a third waits), sends
    ``signum`` once both train, and checks that each stopped after an iteration with a checkpoint of
    it and that no job process outlived the sweep. Returns its exit code and output."""
    launcher = sweep(sweep_dir, mnist_dir, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                     "trainer.max_steps=1000000", "data.batch_size=256", *overrides, new_session=True)
    jobs = [sweep_dir / "0", sweep_dir / "1"]
    for job in jobs:
        wait_for(job / "checkpoints" / "iter_000020.ckpt", launcher)  # both in the training loop
    pids = [int(next(job.glob("events.out.tfevents.*")).name.split(".")[-2]) for job in jobs]
    if to == "process group":
        os.killpg(launcher.pid, signum)
    else:
        launcher.send_signal(signum)
    try:
        stdout, stderr = launcher.communicate(timeout=120)  # orphaned jobs would hold its pipes open
    finally:
        for pid in filter(alive, pids):
            os.kill(pid, signal.SIGKILL)
    for job in jobs:
        log = (job / "train.log").read_text()
        assert "stopped training after iteration " in log, f"{job.name}: {log[-2000:]}\n{stderr[-3000:]}"
        stopped_at = int(log.split("stopped training after iteration ")[1].split(";")[0])
        ckpt = torch.load(job / "checkpoints" / "last.ckpt", weights_only=True)
        assert ckpt["global_step"] == stopped_at >= 20, f"{job.name}: the checkpoint of its last iteration"
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids), f"job processes {pids} outlived the sweep"
    return launcher.returncode, stdout + stderr


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="checks the job processes through /proc (Linux)")
@pytest.mark.parametrize("signum, to", [(signal.SIGTERM, "launching process"), (signal.SIGINT, "process group"),
                                        (signal.SIGHUP, "process group")])  # SIGHUP: the sweep's terminal closed
def test_a_stopped_joblib_sweep_stops_every_running_job_with_a_checkpoint(tmp_path, mnist_dir, signum, to):
    """SIGTERM to the launching process alone (``kill <pid>``, ``docker stop``, a pod's end) or Ctrl-C
    to all: every running job stops with a checkpoint, none starts after the signal, and the sweep
    exits 128 + the signal's number."""
    returncode, output = stop_a_joblib_sweep(tmp_path / "sweep", mnist_dir, signum, to, "model=mlp,dcgan,mlp")
    assert returncode == 128 + signum, output[-3000:]
    assert f"the sweep was stopped by {signal.Signals(signum).name}" in output
    assert not (tmp_path / "sweep" / "2").exists(), "no job starts after the signal"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="checks the job processes through /proc (Linux)")
def test_a_stopped_optuna_search_on_joblib_marks_its_running_trials_to_resume(tmp_path, mnist_dir):
    """The sweeper reads the sweep's stop: no trial is asked after it, the running ones are marked
    interrupted (the same command resumes them), and the search exits 128 + the signal's number."""
    returncode, output = stop_a_joblib_sweep(
        tmp_path / "sweep", mnist_dir, signal.SIGTERM, "launching process", "hparams_search=optuna",
        "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4", "callbacks.sample_quality=null",
        "optimized_metric=1_losses/g_loss")
    assert returncode == 128 + signal.SIGTERM, output[-3000:]
    assert "SIGTERM stopped training after iteration" in output
    trials = optuna.load_study(study_name="search", storage=f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}").trials
    assert [(t.state.name, t.user_attrs.get("interrupted")) for t in trials] == [("FAIL", True), ("FAIL", True)]
