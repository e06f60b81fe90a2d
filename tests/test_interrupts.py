"""Ctrl-C and SIGTERM, sent to a real training process: a whole iteration, a checkpoint that
resumes exactly, and an exit code that says the run was interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest

from ganlab.stopping.signals import Interrupted, StopAtIterationEnd
from ganlab.training import train
from helpers import (QUIET, ROOT, assert_same_state, assert_says, final_state, fit, run_command, scalars,
                     start_command, tiny_run, train_command)

ITERATIONS = 150
# Long enough to interrupt: 150 iterations, each one logged (its curve compared), no sample grids
INTERRUPTIBLE = [f"trainer.max_steps={ITERATIONS}", "trainer.log_every_n_steps=1", "sample_interval=1000"]


def run_into(run_dir: Path, mnist_dir: Path, *overrides: str) -> list[str]:
    """The overrides of a command's run into ``run_dir``."""
    return [*QUIET, *INTERRUPTIBLE, f"paths.data_dir={mnist_dir}", f"hydra.run.dir={run_dir}", *overrides]


def interrupted_run(run_dir: Path, mnist_dir: Path, signum: int, after: Path, delay: float) -> subprocess.CompletedProcess:
    """Starts a run and sends ``signum`` ``delay`` seconds after ``after`` exists."""
    process = start_command("train.py", *run_into(run_dir, mnist_dir, "checkpoint_interval=10"))
    deadline = time.monotonic() + 120
    while not after.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, mnist_dir) -> Path:
    """The same run uninterrupted, in-process (the same computation, without a second start-up)."""
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    train(tiny_run(run_dir, mnist_dir, *INTERRUPTIBLE, "checkpoint_interval=10"))
    return run_dir


def interrupt_and_resume(tmp_path, mnist_dir, uninterrupted, signum, after_checkpoint, delay=0.0, requeue=False):
    """Stops a run with ``signum`` and resumes it: with ckpt_path=<its last.ckpt>, or, as a cluster
    requeues a job (``requeue``), with the same command into the same folder (ckpt_path=auto)."""
    run_dir = tmp_path / "run"
    stopped = interrupted_run(run_dir, mnist_dir, signum, run_dir / "checkpoints" / after_checkpoint, delay)
    assert stopped.returncode == 128 + signum, stopped.stderr[-3000:]
    name = signal.Signals(signum).name
    assert f"{name} stopped training after iteration" in stopped.stderr + stopped.stdout
    state = final_state(run_dir)
    assert 0 < state["step"] < ITERATIONS, "stopped early, at the end of an iteration"
    adam_steps = [int(s["step"]) for opt in state["optimizers"] for s in list(opt["state"].values())[:1]]
    assert adam_steps == [state["step"], 2 * state["step"]], "a whole iteration: one G step and two D steps each"

    if requeue:  # the same command again, into the same folder
        resumed = run_command("train.py", *run_into(run_dir, mnist_dir, "checkpoint_interval=10"), check=True)
        assert "the newest checkpoint in this run's folder (ckpt_path=auto)" in resumed.stderr + resumed.stdout
        assert (run_dir / ".hydra" / "config.yaml").is_file() and list(run_dir.glob(".hydra/resumed_*/config.yaml"))
    else:  # in-process: what the stopped process left is what is tested, not a second start-up
        train(tiny_run(run_dir, mnist_dir, *INTERRUPTIBLE, "checkpoint_interval=10",
                       f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}"))
    assert_same_state(final_state(run_dir), final_state(uninterrupted))
    losses = scalars(run_dir, "1_losses/d_loss")
    assert losses == scalars(uninterrupted, "1_losses/d_loss"), "TensorBoard shows the same curve"
    g_loss = scalars(run_dir, "1_losses/g_loss")[-1][1]
    print(f"{name} {delay} s after {after_checkpoint} existed: exit {stopped.returncode}, stopped after iteration "
          f"{state['step']}; resumed to {ITERATIONS}: d_loss {losses[-1][1]:.6f}, g_loss {g_loss:.6f}, "
          "weights, Adam state and TensorBoard curve equal to the uninterrupted run's")
    return state["step"]


def test_sigterm_stops_after_an_iteration_exits_143_and_resumes_exactly(tmp_path, mnist_dir, uninterrupted):
    interrupt_and_resume(tmp_path, mnist_dir, uninterrupted, signal.SIGTERM, "iter_000020.ckpt")


@pytest.mark.slow
def test_a_job_started_again_into_its_folder_resumes_where_it_stopped(tmp_path, mnist_dir, uninterrupted):
    """A cluster's requeue: the interrupted job's own command again, into the same folder."""
    interrupt_and_resume(tmp_path, mnist_dir, uninterrupted, signal.SIGTERM, "iter_000030.ckpt", requeue=True)


def test_a_fresh_start_over_a_run_folder_with_checkpoints_is_refused(tmp_path, mnist_dir):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"a run's checkpoint")
    with pytest.raises(ValueError) as refused:
        train(tiny_run(run_dir, mnist_dir, *INTERRUPTIBLE, "ckpt_path=null"))
    assert_says(str(refused.value), "already holds checkpoints of a run", "a fresh start would overwrite",
                "resume it with ckpt_path=auto")
    assert (run_dir / "checkpoints" / "last.ckpt").read_bytes() == b"a run's checkpoint"


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("after_checkpoint, delay", [("iter_000010.ckpt", 0.0), ("iter_000050.ckpt", 0.0173),
                                                     ("iter_000100.ckpt", 0.2)])
def test_interrupts_at_several_points_resume_exactly(tmp_path, mnist_dir, uninterrupted, signum, after_checkpoint,
                                                     delay):
    interrupt_and_resume(tmp_path, mnist_dir, uninterrupted, signum, after_checkpoint, delay)


class SignalBetweenTheDiscriminatorsUpdates(L.Callback):
    """Sends the process ``signum`` between D's real and fake update of iteration ``at``."""

    def __init__(self, signum: int, at: int):
        self.signum, self.at, self.updates = signum, at, 0

    def on_train_start(self, trainer, pl_module):
        _, opt_d = trainer.optimizers

        def after_d_step(*_):
            self.updates += 1
            if self.updates == 2 * self.at - 1:  # the real-batch update of iteration `at`
                os.kill(os.getpid(), self.signum)

        opt_d.register_step_post_hook(after_d_step)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2],
                         ids=["SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2"])
def test_a_signal_in_the_middle_of_an_iteration_lets_it_finish(make_train_cfg, signum):
    before = signal.getsignal(signum)  # SIG_IGN for SIGINT where the suite runs in the background
    model, trainer = fit(make_train_cfg("trainer.max_steps=20"), SignalBetweenTheDiscriminatorsUpdates(signum, at=5))
    assert model.engine.stopped_by == signum and trainer.global_step == 5
    opt_g, opt_d = trainer.optimizers
    adam_steps = [int(next(iter(opt.state.values()))["step"]) for opt in (opt_g, opt_d)]
    assert adam_steps == [5, 10], "iteration 5 ended with its fake-batch update and G's"
    assert signal.getsignal(signum) == before, "handlers restored"


class EarlySigterm(L.Callback):
    """SIGTERM after Lightning's handler is in place but before the engine's: Lightning's path."""

    def on_train_start(self, trainer, pl_module):
        os.kill(os.getpid(), signal.SIGTERM)


def test_a_sigterm_before_training_starts_is_still_an_interruption(make_train_cfg, monkeypatch):
    from ganlab import training

    build = training.build

    def with_early_sigterm(cfg):
        datamodule, model, trainer = build(cfg)
        trainer.callbacks.insert(0, EarlySigterm())
        return datamodule, model, trainer

    monkeypatch.setattr(training, "build", with_early_sigterm)
    with pytest.raises(Interrupted) as stop:
        train(make_train_cfg("trainer.max_steps=20"))
    assert stop.value.exit_code == 143 and stop.value.iteration == 1


@pytest.mark.slow
def test_an_interrupted_sweep_says_which_jobs_ran_and_which_never_started(tmp_path, mnist_dir):
    sweep_dir = tmp_path / "sweep"
    process = subprocess.Popen(
        train_command("-m", *QUIET, *INTERRUPTIBLE, f"paths.data_dir={mnist_dir}",
         f"hydra.sweep.dir={sweep_dir}", "hydra.sweep.subdir=${hydra.job.num}", "checkpoint_interval=10",
         "trainer.max_steps=20,100000,30,40"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (sweep_dir / "1" / "checkpoints" / "iter_000010.ckpt").exists() and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-3000:]
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 143
    assert ("the sweep stops here: job 0 ran before it, job 1 was interrupted, the 2 after it (of 4) did not start"
            in stdout + stderr)
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1"]


@pytest.mark.parametrize("first, second, stops_at_once, reported", [
    (signal.SIGINT, signal.SIGINT, True, signal.SIGINT),  # Ctrl-C twice
    (signal.SIGINT, signal.SIGTERM, False, signal.SIGINT),  # Ctrl-C on a joblib sweep: the launcher adds SIGTERM
    (signal.SIGTERM, signal.SIGINT, False, signal.SIGTERM),  # the same, the other way round
])
def test_only_a_second_ctrl_c_stops_at_once(first, second, stops_at_once, reported):
    trainer = SimpleNamespace(world_size=1, should_stop=False)
    handlers = StopAtIterationEnd()
    handlers.install(trainer)
    try:
        os.kill(os.getpid(), first)
        assert trainer.should_stop
        if stops_at_once:
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), second)
        else:
            os.kill(os.getpid(), second)
        assert handlers.received == reported
    finally:
        handlers.uninstall()


@pytest.mark.slow  # the same path as SIGTERM's; the closed terminal below is the fast test of SIGHUP
def test_sighup_stops_after_an_iteration_exits_129_and_resumes_exactly(tmp_path, mnist_dir, uninterrupted):
    """SIGHUP: what a closed ssh session or terminal sends (it ended the run at once, losing it)."""
    interrupt_and_resume(tmp_path, mnist_dir, uninterrupted, signal.SIGHUP, "iter_000020.ckpt")


def test_a_closed_terminal_stops_the_run_with_its_checkpoint_and_pictures(tmp_path, mnist_dir):
    """The real thing: the run's terminal (a pty, its bar on) goes away; the kernel sends SIGHUP and
    every later write to the terminal fails. The run still ends as SIGTERM ends it."""
    import fcntl
    import pty
    import select
    import termios

    run_dir = tmp_path / "run"
    leader, follower = pty.openpty()

    def own_terminal():  # the pty becomes the run's controlling terminal, as an ssh session's is
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    args = [a for a in train_command(*run_into(run_dir, mnist_dir, "checkpoint_interval=10", "sample_interval=20",
                                               "trainer.max_steps=100000")) if a != "trainer.enable_progress_bar=false"]
    process = subprocess.Popen(args, cwd=ROOT, stdin=follower, stdout=follower, stderr=follower,
                               preexec_fn=own_terminal)
    os.close(follower)
    deadline = time.monotonic() + 120
    screen = b""
    while not (run_dir / "checkpoints" / "iter_000020.ckpt").exists() and time.monotonic() < deadline:
        if select.select([leader], [], [], 0.1)[0]:
            try:
                screen += os.read(leader, 65536)  # drain the screen, as a terminal would
            except OSError:  # the run ended: its screen says why
                break
    assert process.poll() is None, screen.decode(errors="replace")[-2000:]
    os.close(leader)  # the terminal closes
    assert process.wait(timeout=120) == 128 + signal.SIGHUP
    state = final_state(run_dir)
    assert 20 <= state["step"] < 100000
    log = (run_dir / "train.log").read_text()
    assert f"SIGHUP stopped training after iteration {state['step']}; resume with ckpt_path=" in log
    assert (run_dir / "samples" / "training.gif").is_file() and (run_dir / "training_curves.png").is_file()
