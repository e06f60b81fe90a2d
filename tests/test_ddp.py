"""Data-parallel training in 2 CPU processes (gloo), started as a user starts it:
``python src/train.py trainer.devices=2``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from helpers import QUIET, ROOT, run_command, train_command

ITERATIONS = 60
TWO_RANKS = [*QUIET, "trainer.devices=2", f"trainer.max_steps={ITERATIONS}",
             "trainer.log_every_n_steps=10", "sample_interval=20", "checkpoint_interval=20"]


def two_ranks_into(run_dir: Path, mnist_dir: Path, *overrides: str) -> list[str]:
    """A two-rank run into ``run_dir``, each rank probed (ddp_probe.py)."""
    return [*TWO_RANKS, f"paths.data_dir={mnist_dir}", f"hydra.run.dir={run_dir}",
            "+callbacks.probe._target_=ddp_probe.Probe", f"+callbacks.probe.path={run_dir}", *overrides]


ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}


def run_two_ranks(run_dir: Path, mnist_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    return run_command("train.py", *two_ranks_into(run_dir, mnist_dir, *overrides), env=ENV, check=True)


def probes(run_dir: Path) -> list[dict]:
    return [torch.load(run_dir / f"probe_rank{rank}.pt", weights_only=False) for rank in (0, 1)]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory, mnist_dir) -> Path:
    run_dir = tmp_path_factory.mktemp("ddp") / "run"
    run_two_ranks(run_dir, mnist_dir)
    return run_dir


def test_two_ranks_draw_their_own_batches_and_noise_and_end_with_equal_weights(two_ranks):
    rank0, rank1 = probes(two_ranks)
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert rank0["step"] == rank1["step"] == ITERATIONS
    assert len(rank0["batches"]) == ITERATIONS
    assert all(a != b for a, b in zip(rank0["batches"], rank1["batches"])), "each rank its own real batches"
    assert all(a != b for a, b in zip(rank0["noise_states"], rank1["noise_states"])), "each rank its own noise"
    for name, weight in rank0["weights"].items():
        assert torch.equal(weight, rank1["weights"][name]), name
    assert len(rank0["logged_d_loss"]) == ITERATIONS // 10
    assert rank0["logged_d_loss"] == rank1["logged_d_loss"], "the logged loss is the mean over ranks, on every rank"


def test_two_ranks_write_one_set_of_artifacts(two_ranks):
    assert len(list(two_ranks.glob("events.out.tfevents.*"))) == 1
    assert sorted(p.name for p in (two_ranks / "checkpoints").iterdir()) == [
        "iter_000020.ckpt", "iter_000040.ckpt", "iter_000060.ckpt", "last.ckpt"]
    assert sorted(p.name for p in (two_ranks / "samples").iterdir()) == [
        "iter_000020.png", "iter_000040.png", "iter_000060.png", "training.gif"]
    ckpt = torch.load(two_ranks / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == ITERATIONS
    assert len(ckpt["rng_state"]["ranks"]) == 2, "every rank's noise state"


@pytest.mark.slow
def test_a_resumed_two_rank_run_equals_the_uninterrupted_one(two_ranks, tmp_path, mnist_dir):
    """Resumed from the checkpoint at iteration 20 (a copy of the run folder), on to the end."""
    resumed = tmp_path / "resumed"
    shutil.copytree(two_ranks, resumed)
    for probe in resumed.glob("probe_rank*.pt"):
        probe.unlink()
    run_two_ranks(resumed, mnist_dir, f"ckpt_path={resumed / 'checkpoints' / 'iter_000020.ckpt'}")
    for uninterrupted, again in zip(probes(two_ranks), probes(resumed), strict=True):
        assert again["step"] == ITERATIONS
        assert again["batches"] == uninterrupted["batches"][20:], "each rank goes on with its own batches"
        assert again["noise_states"] == uninterrupted["noise_states"][20:], "and its own noise"
        for name, weight in uninterrupted["weights"].items():
            assert torch.equal(weight, again["weights"][name]), name
    assert sorted(p.name for p in (resumed / "checkpoints").iterdir()) == [
        "iter_000020.ckpt", "iter_000040.ckpt", "iter_000060.ckpt", "last.ckpt"], "no -v1 copies"


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_to_the_launching_rank_stops_both_after_the_same_iteration(two_ranks, tmp_path, mnist_dir, signum):
    """``kill`` reaches rank 0 alone; rank 1 stops with it, on a log iteration. Started again into
    its folder (a requeue), the run ends equal to the uninterrupted one."""
    run_dir = tmp_path / "run"
    process = subprocess.Popen(train_command(*two_ranks_into(run_dir, mnist_dir, "+callbacks.probe.sleep=0.05")),
                               cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoints" / "iter_000020.ckpt").exists() and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-3000:]
        time.sleep(0.02)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, stderr[-3000:]
    assert (stdout + stderr).count(f"{name} stopped training after iteration") == 1, "one line, not one a rank"
    stopped = [torch.load(p, weights_only=False)["step"] for p in sorted(run_dir.glob("probe_rank*.pt"))]
    assert len(stopped) == 2 and stopped[0] == stopped[1], "both ranks stopped after the same iteration"
    assert stopped[0] % 10 == 0 and 20 <= stopped[0] < ITERATIONS
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == stopped[0]

    run_two_ranks(run_dir, mnist_dir)  # the same command again: ckpt_path=auto resumes from last.ckpt
    for uninterrupted, again in zip(probes(two_ranks), probes(run_dir), strict=True):
        assert again["step"] == ITERATIONS
        for name, weight in uninterrupted["weights"].items():
            assert torch.equal(weight, again["weights"][name]), name
    print(f"2 ranks: {name} to rank 0 stopped both after iteration {stopped[0]} (exit {128 + signum}); started again, "
          f"resumed to {ITERATIONS}: weights equal to the uninterrupted 2-rank run's")
