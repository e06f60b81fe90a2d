"""Small faults at the edges of a run (issue 30, item 6), each with its one line, its exit code and
no folder left behind; each of these failed on main before."""

from __future__ import annotations

import logging
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganlab.errors import UserError
from ganlab.reporting.console import tensorboard_command
from ganlab.training import train
from helpers import QUIET, ROOT, assert_says, run_command, train_command


@pytest.mark.parametrize("name", ["plain", "with space", "with,comma", "it's:odd"])
def test_the_printed_tensorboard_command_survives_a_shell_and_tensorboard(tmp_path, name):
    folder = tmp_path / name
    argv = shlex.split(tensorboard_command(folder))
    assert argv[0] == str(Path(sys.executable).parent / "tensorboard")
    if "," in name or ":" in name:  # TensorBoard splits a --logdir_spec at commas and at its first colon
        assert argv[1:] == ["--logdir", str(folder)]
    else:
        assert argv[1:] == ["--logdir_spec", f"{name}:{folder}"]


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_out_of_range_is_refused_in_one_line(seed, make_train_cfg):
    with pytest.raises(UserError) as refused:
        train(make_train_cfg(f"seed={seed}"))
    assert_says(str(refused.value), f"seed={seed}", "give a whole number from 0 to 4294967295", "seed=null")


@pytest.mark.slow  # a subprocess; the check itself is the in-process test above
def test_a_seed_out_of_range_on_the_command_line_exits_1_and_leaves_no_folder(tmp_path, mnist_dir):
    done = run_command("train.py", *QUIET, "seed=-1", f"paths.log_dir={tmp_path}", f"paths.data_dir={mnist_dir}",
                       timeout=120)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1 and "seed=-1: give a whole number" in lines[0], lines
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


# slow until understood: in the full fast suite under load (2026-12-02) its run did not stop within 120 s
# of the Ctrl-C and trained on, twice in two runs; alone it passed 4 of 4 (issue 32's closing note)
@pytest.mark.slow
def test_ctrl_c_during_the_first_mnist_fetch_exits_130_in_one_line_and_leaves_no_folder(tmp_path):
    run_dir, data_dir = tmp_path / "run", tmp_path / "empty"
    process = subprocess.Popen(train_command(*QUIET, f"hydra.run.dir={run_dir}", f"paths.data_dir={data_dir}"),
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in process.stdout:  # the fetch announces itself first
        seen.append(line)
        if "MNIST not found under" in line:
            time.sleep(0.2)
            process.send_signal(signal.SIGINT)
            break
    rest = process.communicate(timeout=120)[0]
    output = "".join(seen) + rest
    assert process.returncode == 130, output[-3000:]
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-3000:]
    assert_says(rest, "Ctrl-C stopped the run before training began", "nothing was trained")
    assert not run_dir.exists(), "nothing of a run that never trained is left"


def test_a_finished_run_started_again_says_so_and_gives_its_results(make_train_cfg, tmp_path, caplog):
    train(make_train_cfg("trainer.max_steps=4", "checkpoint_interval=4", "sample_interval=4"))
    with caplog.at_level(logging.INFO, logger="ganlab"):
        train(make_train_cfg("trainer.max_steps=4", "checkpoint_interval=4", "sample_interval=4", "ckpt_path=auto"))
    text = caplog.text
    assert "Nothing left to train: the run had trained all 4 iterations" in text
    assert "nan it/s" not in text and "Final: d_loss" in text, text[-2000:]


@pytest.mark.slow  # the damaged-MNIST test below runs the same command, fast, with RuntimeWarning as an error
def test_make_evaluators_command_starts_without_a_runpy_warning():
    """``make evaluator`` runs ``python -m ganlab.metrics`` (the Makefile's line): no RuntimeWarning
    about a module imported twice, which ``-m ganlab.metrics.evaluator`` printed."""
    makefile = (ROOT / "Makefile").read_text()
    assert "$(PY) -m ganlab.metrics $(if $(FORCE),--force)" in makefile
    done = run_command("-W", "error::RuntimeWarning", "-m", "ganlab.metrics", "--help", timeout=120)
    assert done.returncode == 0 and "--force" in done.stdout, done.stderr[-2000:]
    assert "RuntimeWarning" not in done.stderr


def test_make_evaluator_on_damaged_mnist_is_one_line_and_exit_1(tmp_path):
    """``make evaluator``'s command ends a user's fault in one line, as train.py does (it was a traceback)."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"not MNIST")
    done = run_command("-W", "error::RuntimeWarning", "-m", "ganlab.metrics", "--data-dir", str(tmp_path / "data"),
                       timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert lines[-1].startswith("Error: The MNIST files in") and "are damaged" in lines[-1], lines
