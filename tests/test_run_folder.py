"""One run per folder, and a run refused before it trained leaves its folder as it found it."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import time

import pytest
from hydra.errors import InstantiationException

from ganlab.errors import UserError, user_error
from ganlab.run_folders import lock
from ganlab.training import run
from helpers import QUIET, ROOT, assert_says, command, run_command, train_command


def files_of(folder, but=()):
    """Every file below ``folder`` (except those named in ``but``) with its contents' digest."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file() and p.name not in but}


@pytest.mark.slow  # three trainings; the same refusal by a command is tested fast on a held sweep folder below
def test_a_second_run_into_a_held_folder_is_refused_naming_the_holder_and_changes_nothing(tmp_path, mnist_dir):
    folder = tmp_path / "D"
    common = [*QUIET, f"paths.data_dir={mnist_dir}", f"hydra.run.dir={folder}", "checkpoint_interval=25"]
    first = subprocess.Popen(train_command(*common, "trainer.max_steps=100000", "seed=1"), cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (folder / "checkpoints" / "iter_000025.ckpt").exists():
            assert time.monotonic() < deadline and first.poll() is None, "the first run did not get going"
            time.sleep(0.2)
        first.send_signal(signal.SIGSTOP)  # holds the folder, writes nothing while the second one tries
        before = files_of(folder)
        second = run_command("train.py", *common, "trainer.max_steps=100", "seed=2", timeout=120)
        assert second.returncode == 1
        (line,) = [line for line in second.stderr.splitlines() if line.strip()]
        assert_says(line, f"Error: {folder} is in use by another run (pid {first.pid} on {os.uname().nodename})",
                    "a folder of its own (hydra.run.dir=...)", "resume that run with ckpt_path=auto")
        assert files_of(folder) == before, "the refused run wrote nothing into the folder"
    finally:
        first.kill()  # SIGKILL: its lock must not outlive it
        first.wait()
    done = max(int(p.stem.split("_")[1]) for p in (folder / "checkpoints").glob("iter_*.ckpt"))
    again = run_command("train.py", *common, f"trainer.max_steps={done + 5}", "seed=1", check=True)
    assert "the newest checkpoint in this run's folder (ckpt_path=auto)" in again.stdout + again.stderr


def test_a_refused_resume_leaves_no_record_of_itself(tmp_path, mnist_dir):
    folder = tmp_path / "D"
    common = [*QUIET, f"paths.data_dir={mnist_dir}", f"hydra.run.dir={folder}", "trainer.max_steps=5"]
    run_command("train.py", *common, check=True)
    before = files_of(folder, but=[lock.LOCK_NAME])  # which process last held it, nothing more
    refused = run_command("train.py", *common, "model.optimizer_g.lr=0.01")
    assert refused.returncode == 1
    assert "was trained with other settings" in refused.stdout + refused.stderr
    assert files_of(folder, but=[lock.LOCK_NAME]) == before, "no .hydra/resumed_* config, no lines in train.log"


@pytest.mark.parametrize("override", ["data.batch_size=100000", "model.optimizer_g.lr=-1", "trainer.devices=0",
                                      "data.sampling=sometimes", "damaged MNIST", "paths.data_dir=<a file>"])
def test_a_run_refused_before_it_trained_leaves_no_folder(make_train_cfg, tmp_path, mnist_dir, override):
    if override == "damaged MNIST":
        data = tmp_path / "data" / "MNIST" / "raw"
        data.mkdir(parents=True)
        for name in (mnist_dir / "MNIST" / "raw").iterdir():
            (data / name.name).write_bytes(name.read_bytes()[:-1] + b"\x01")
        override = f"paths.data_dir={tmp_path / 'data'}"
    elif override == "paths.data_dir=<a file>":
        (tmp_path / "a_file").write_text("")
        override = f"paths.data_dir={tmp_path / 'a_file'}"
    folder = tmp_path / "run"
    lock.claim(folder)  # what the train command's Hydra callback does before anything is written
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "config.yaml").write_text("what Hydra writes first\n")
    with pytest.raises((UserError, InstantiationException)) as refused:  # the data module checks its own batch size
        run(make_train_cfg(override, f"paths.data_dir={mnist_dir}" if "data_dir" not in override else override,
                           output_dir=folder))
    assert user_error(refused.value) is not None, "a refusal of the user's setting, not some other failure"
    assert not folder.exists(), sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_run_folder_that_is_a_file_is_refused_in_one_line(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(UserError, match=f"the run folder {tmp_path / 'taken'} is a file: give the run a folder"):
        lock.claim(tmp_path / "taken")


def test_a_sweep_into_a_held_sweep_folder_is_refused(tmp_path):
    sweep = tmp_path / "sweep"
    holder = subprocess.Popen(command("-c", "import sys, time; from ganlab.run_folders.lock import claim; "
                                      "claim(sys.argv[1]); print('held', flush=True); time.sleep(60)", str(sweep)),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        done = run_command("train.py", "-m", *QUIET, "data.batch_size=32,64", f"hydra.sweep.dir={sweep}", timeout=120)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1
    assert done.stderr.strip().startswith(f"Error: {sweep} is in use by another run (pid {holder.pid} on ")
    assert sorted(p.name for p in sweep.iterdir()) == [lock.LOCK_NAME], "no job folder, no multirun.yaml"


def test_a_run_that_began_training_keeps_its_record_when_it_fails_later(make_train_cfg, tmp_path, monkeypatch):
    from ganlab.checkpoints import saving

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "train.log").write_text("an earlier run's lines\n")
    lock.claim(folder)
    with open(folder / "train.log", "a") as log:
        log.write("this run's lines\n")  # what Hydra's file handler writes while it trains
    real_save, saves = saving.torch.save, []

    def fill_the_disk_after_one(obj, file):
        saves.append(file.name)
        if len(saves) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, file)

    monkeypatch.setattr(saving.torch, "save", fill_the_disk_after_one)
    with pytest.raises(UserError, match="could not write the checkpoint"):
        run(make_train_cfg("trainer.max_steps=7", output_dir=folder))
    assert (folder / "train.log").read_text() == "an earlier run's lines\nthis run's lines\n"
    assert (folder / "checkpoints" / "iter_000005.ckpt").is_file()
