"""Ctrl-C and SIGTERM, sent to a real training process: a whole iteration, a checkpoint that
resumes exactly, and an exit code that says the run was interrupted."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganlab.training import train
from helpers import ROOT, compose_config, scalars

ITERATIONS = 150
FAST = ["trainer.accelerator=cpu", "callbacks.progress_bar=null", "trainer.enable_progress_bar=false",
        "callbacks.sample_quality=null", f"trainer.max_steps={ITERATIONS}", "trainer.log_every_n_steps=1",
        "sample_interval=1000"]


def command(run_dir: Path, mnist_dir: Path, *overrides: str) -> list[str]:
    return [sys.executable, str(ROOT / "src" / "train.py"), *FAST, f"paths.data_dir={mnist_dir}",
            f"hydra.run.dir={run_dir}", *overrides]


def interrupted_run(run_dir: Path, mnist_dir: Path, signum: int, after: Path) -> subprocess.CompletedProcess:
    """Starts a run and sends ``signum`` once ``after`` exists."""
    process = subprocess.Popen(command(run_dir, mnist_dir, "checkpoint_interval=10"), cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not after.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def final_state(run_dir: Path) -> dict:
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    return {"step": ckpt["global_step"], "weights": ckpt["state_dict"], "optimizers": ckpt["optimizer_states"]}


def assert_same_state(a: dict, b: dict) -> None:
    assert a["step"] == b["step"]
    for name, value in a["weights"].items():
        assert torch.equal(value, b["weights"][name]), name
    for opt_a, opt_b in zip(a["optimizers"], b["optimizers"], strict=True):
        for state_a, state_b in zip(opt_a["state"].values(), opt_b["state"].values(), strict=True):
            assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, mnist_dir) -> Path:
    """The same run uninterrupted, in-process (the same computation, without a second start-up)."""
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    train(compose_config("train", [*FAST, f"paths.data_dir={mnist_dir}", f"paths.output_dir={run_dir}",
                                   f"paths.log_dir={run_dir}", "checkpoint_interval=10"]))
    return run_dir


def interrupt_and_resume(tmp_path, mnist_dir, uninterrupted, signum, after_checkpoint):
    run_dir = tmp_path / "run"
    stopped = interrupted_run(run_dir, mnist_dir, signum, run_dir / "checkpoints" / after_checkpoint)
    assert stopped.returncode == 128 + signum, stopped.stderr[-3000:]
    name = signal.Signals(signum).name
    assert f"{name} stopped training after iteration" in stopped.stderr + stopped.stdout
    state = final_state(run_dir)
    assert 0 < state["step"] < ITERATIONS, "stopped early, at the end of an iteration"
    adam_steps = [int(s["step"]) for opt in state["optimizers"] for s in list(opt["state"].values())[:1]]
    assert adam_steps == [state["step"], 2 * state["step"]], "a whole iteration: one G step and two D steps each"

    resumed = subprocess.run(command(run_dir, mnist_dir, "checkpoint_interval=10",
                                     f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}"),
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_state(final_state(run_dir), final_state(uninterrupted))
    assert scalars(run_dir, "d_loss") == scalars(uninterrupted, "d_loss"), "TensorBoard shows the same curve"
    return state["step"]


def test_sigterm_stops_after_an_iteration_exits_143_and_resumes_exactly(tmp_path, mnist_dir, uninterrupted):
    interrupt_and_resume(tmp_path, mnist_dir, uninterrupted, signal.SIGTERM, "iter_000020.ckpt")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("after_checkpoint", ["iter_000010.ckpt", "iter_000050.ckpt", "iter_000100.ckpt"])
def test_interrupts_at_several_points_resume_exactly(tmp_path, mnist_dir, uninterrupted, signum, after_checkpoint):
    interrupt_and_resume(tmp_path, mnist_dir, uninterrupted, signum, after_checkpoint)
