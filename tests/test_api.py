"""The Python API (ganlab/api.py) and the chapter's notebook on it."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest

import ganlab
from helpers import QUIET, ROOT, assert_says, run_command


def test_a_run_from_python_is_held_in_a_variable(tmp_path, quick_evaluator_dir):
    run = ganlab.train(*QUIET, "trainer.max_steps=4", "trainer.log_every_n_steps=2", "sample_interval=2",
                       f"paths.data_dir={quick_evaluator_dir}", f"paths.log_dir={tmp_path}", quiet=True)
    assert run.folder.parent == tmp_path / "runs" and run.checkpoint.is_file()
    record = json.loads((run.folder / "run.json").read_text())  # what the API read: the run's own record
    assert record["status"] == "finished" and record["exit_code"] == 0 and record["iteration"] == 4
    assert record["folder"] == str(run.folder) and record["checkpoint"] == str(run.checkpoint)
    steps, d_loss = run.curves["1_losses/d_loss"]
    assert list(steps) == [2, 4] and np.isfinite(d_loss).all()
    assert run.metrics["final/d_loss"] == pytest.approx(d_loss[-1]) and 0 <= run.metrics["2_discriminator/accuracy"] <= 1
    assert [iteration for iteration, _ in run.grids()] == [2, 4] and run.grid().size == run.grid(2).size
    samples = run.sample(5, seed=1)
    assert samples.shape == (5, 28, 28) and samples.min() >= -1 and samples.max() <= 1
    assert np.array_equal(samples, run.sample(5, seed=1)), "the same seed draws the same digits"
    assert ganlab.load(run.checkpoint).folder == run.folder == ganlab.load(run.folder).folder
    with pytest.raises(ganlab.api.UserError, match="no grid at iteration 3; there are grids at 2, 4"):
        run.grid(3)
    assert run.figure().size[0] > 500, "training_curves.png"
    report = ganlab.evaluate(run, num_samples=300, min_evaluator_accuracy=0.9)
    assert report["num_samples"] == 300 and report["metrics"]["fid"] > report["real_floor"]["fid"] > 0


def test_a_refused_setting_is_an_exception_with_the_commands_line(tmp_path):
    with pytest.raises(ganlab.RunFailed) as failed:
        ganlab.train("trainer.max_step=10", f"paths.log_dir={tmp_path}", quiet=True)
    assert_says(str(failed.value), "trainer.max_step is not a setting", "did you mean trainer.max_steps?",
                "python -m ganlab --cfg job")  # the command ganlab.train runs, in a checkout or installed
    assert "\n" not in str(failed.value), "the command's one line"
    assert failed.value.exit_code == 1 and failed.value.folder is None
    with pytest.raises(ganlab.api.UserError, match="is not a run folder or a run's checkpoint"):
        ganlab.load(tmp_path)
    with pytest.raises(ganlab.api.UserError, match="-m: sweeps and searches run from the command line"):
        ganlab.train("-m", "data.batch_size=32,64")


def test_the_api_reads_the_runs_record_not_its_console(tmp_path):
    """With the run's console silenced, a refusal still arrives as its one line: from run.json's
    handoff (run_record.py), not from log lines. A refusal from inside the run, which the silenced
    console does not print: a misspelt key is printed anyway, and the API falls back to that line."""
    with pytest.raises(ganlab.RunFailed) as failed:
        ganlab.train("trainer.max_steps=0", "hydra/job_logging=disabled", f"paths.log_dir={tmp_path}", quiet=True)
    assert_says(str(failed.value), "trainer.max_steps=0", "give the number of training iterations")
    assert failed.value.exit_code == 1 and failed.value.folder is None


@pytest.mark.slow
def test_a_diverged_run_is_an_exception_and_ctrl_c_stops_with_a_checkpoint(tmp_path, mnist_dir):
    """Both in a Python process that goes on afterwards, as a notebook's kernel does."""
    script = f"""
import os, signal, threading
import ganlab
try:
    ganlab.train("model.optimizer_d.lr=1e30", "model.optimizer_g.lr=1e30", "trainer.max_steps=100",
                 "trainer.log_every_n_steps=10", *{QUIET!r}, "paths.data_dir={mnist_dir}", "paths.log_dir={tmp_path}",
                 quiet=True)
except ganlab.RunFailed as err:
    print("diverged:", type(err).__name__, err.exit_code, err)
def ctrl_c_once_training():  # not at a fixed time: a loaded machine may still be starting the run
    import glob, time
    while not glob.glob("{tmp_path}/second/runs/*/checkpoints"):
        time.sleep(0.1)
    time.sleep(1)
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=ctrl_c_once_training, daemon=True).start()
try:
    ganlab.train("trainer.max_steps=100000", "checkpoint_interval=10", *{QUIET!r}, "paths.data_dir={mnist_dir}",
                 "paths.log_dir={tmp_path}/second", quiet=True)
except KeyboardInterrupt as err:
    print("interrupted:", err)
print("still alive")
"""
    done = run_command("-c", script)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    diverged = next(line for line in lines if line.startswith("diverged:"))
    assert diverged.startswith("diverged: RunFailed 1 ")
    assert_says(diverged, "training diverged at iteration ", "Lower the learning rates", "model.optimizer_g.lr")
    interrupted = next(line for line in lines if line.startswith("interrupted:"))
    assert "SIGINT stopped training after iteration" in interrupted and "resume with ckpt_path=" in interrupted
    assert Path(interrupted.split("ckpt_path=")[1]).is_file(), "the checkpoint it names"
    assert lines[-1] == "still alive"
    print(diverged, interrupted, sep="\n")


@pytest.mark.slow
def test_the_chapter_notebook_runs_top_to_bottom(quick_evaluator_dir, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(ROOT / "notebooks" / "chapter_3.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "stored without outputs"
    os.environ["GANLAB_NOTEBOOK_OVERRIDES"] = " ".join([
        "trainer.accelerator=cpu", "trainer.max_steps=20", "trainer.log_every_n_steps=5", "sample_interval=5",
        "eval_interval=20", "callbacks.sample_quality.num_samples=300", "+callbacks.sample_quality.min_evaluator_accuracy=0.9",
        f"paths.data_dir={quick_evaluator_dir}", f"paths.log_dir={tmp_path}"])
    start = time.perf_counter()
    try:
        nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        del os.environ["GANLAB_NOTEBOOK_OVERRIDES"]
    images = [o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 4, "the figures and grids are shown inline"
    text = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    assert "FID" in text and "D says real" in text and "(8, 28, 28)" in text
    print(f"notebook at its short settings: {time.perf_counter() - start:.0f} s")


def test_load_opens_the_checkpoint_it_is_given_and_refuses_one_that_is_missing(checkpoint, tmp_path):
    """ganlab.load(<run>/checkpoints/iter_N.ckpt) samples from that checkpoint, not from last.ckpt."""
    import torch

    folder = tmp_path / "run"
    (folder / ".hydra").mkdir(parents=True)
    (folder / "checkpoints").mkdir()
    older = folder / "checkpoints" / "iter_000005.ckpt"
    older.write_bytes(checkpoint.read_bytes())
    last = torch.load(checkpoint, weights_only=True)
    last["state_dict"] = {k: torch.zeros_like(v) if k.startswith("generator.") else v
                          for k, v in last["state_dict"].items()}
    torch.save(last, folder / "checkpoints" / "last.ckpt")

    run = ganlab.load(older)
    assert run.checkpoint == older.resolve() and run.folder == folder.resolve()
    from_older = run.sample(4, device="cpu")
    assert not np.allclose(from_older, 0), "the older checkpoint's generator, not last.ckpt's (all zeros)"
    assert np.allclose(ganlab.load(folder).sample(4, device="cpu"), 0), "a folder opens its last.ckpt"
    with pytest.raises(ganlab.api.UserError, match=r"iter_000009.ckpt is not a file"):
        ganlab.load(folder / "checkpoints" / "iter_000009.ckpt")
