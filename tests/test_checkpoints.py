"""Checkpoint files: written whole or not at all, one last.ckpt, no -v1 copies."""

from __future__ import annotations

import errno
import shutil

import pytest
import torch

from ganlab.errors import UserError
from ganlab.checkpoints import reading, saving
from ganlab.checkpoints.saving import AtomicCheckpointIO, CheckpointNotWritten
from ganlab.training import train
from helpers import QUIET, assert_says, fit, run_command


def test_a_full_disk_leaves_the_old_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"global_step": 3, "weights": torch.arange(1000.0)}, path)
    real_save = torch.save

    def save_half_then_fail(obj, file):
        real_save({"global_step": 6, "weights": torch.arange(1000.0)}, file)
        file.truncate(100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(saving.torch, "save", save_half_then_fail)
    with pytest.raises(CheckpointNotWritten, match="could not write the checkpoint last.ckpt into .*: No space left"):
        AtomicCheckpointIO().save_checkpoint({"global_step": 6}, path)
    assert torch.load(path, weights_only=True)["global_step"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"], "no partial file is left behind"


def test_runs_write_through_it(make_train_cfg, tmp_path, monkeypatch):
    written = []
    original = AtomicCheckpointIO.save_checkpoint

    def recording(self, checkpoint, path, *args, **kwargs):
        written.append(str(path).rsplit("/", 1)[-1])
        return original(self, checkpoint, path, *args, **kwargs)

    monkeypatch.setattr(AtomicCheckpointIO, "save_checkpoint", recording)
    fit(make_train_cfg("trainer.max_steps=7"))
    assert sorted(set(written)) == ["iter_000005.ckpt", "last.ckpt"]


def test_the_callback_state_a_checkpoint_holds_is_found_by_the_class_name_alone():
    # Lightning files a callback's state under its state_key; checkpoints written when the class
    # lived in ganlab.safety hold this key, so a move of its module keeps their state restored
    callback = saving.IterationCheckpoint(dirpath="checkpoints", every_n_train_steps=1600)
    assert callback.state_key == ("IterationCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 1600, "
                                  "'every_n_epochs': 0, 'train_time_interval': None}")


def test_a_resume_in_a_copied_run_folder_keeps_one_last_checkpoint(make_train_cfg, tmp_path, recwarn):
    first = tmp_path / "first"
    fit(make_train_cfg("trainer.max_steps=6", "checkpoint_interval=3", output_dir=first))
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    fit(make_train_cfg("trainer.max_steps=9", "checkpoint_interval=3",
                       f"ckpt_path={copy / 'checkpoints' / 'iter_000003.ckpt'}", output_dir=copy))
    steps = {p.name: torch.load(p, weights_only=True)["global_step"] for p in (copy / "checkpoints").iterdir()}
    assert steps == {"iter_000003.ckpt": 3, "iter_000006.ckpt": 6, "iter_000009.ckpt": 9, "last.ckpt": 9}
    # the project handles both: Lightning's warnings about them would only alarm
    assert not [w for w in recwarn if "dirpath has changed" in str(w.message) or "exists and is not empty" in
                str(w.message)]


@pytest.mark.parametrize(("content", "what"), [(b"", "it is empty"),
                                               (bytes(range(256)) * 4, "its 1,024 bytes are cut short or not a")])
def test_a_file_that_is_not_a_checkpoint_is_named_with_what_it_is(tmp_path, content, what):
    path = tmp_path / "x.ckpt"
    path.write_bytes(content)
    with pytest.raises(UserError) as refused:
        reading.read_checkpoint(path)
    assert_says(str(refused.value), f"{path} is not a checkpoint this project can read", what)
    assert "torch.save" not in str(refused.value)


def test_a_full_disk_during_a_run_stops_it_with_one_line_naming_the_whole_checkpoint(make_train_cfg, tmp_path,
                                                                                    monkeypatch):
    real_save, saves = torch.save, []

    def fill_the_disk_after_one(obj, file):
        saves.append(file.name)
        if len(saves) > 1:  # as torch's writer reports it: a RuntimeError raised while handling the OSError
            try:
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError:
                raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 470528 vs 470480")
        real_save(obj, file)

    monkeypatch.setattr(saving.torch, "save", fill_the_disk_after_one)
    with pytest.raises(CheckpointNotWritten) as stop:
        train(make_train_cfg("trainer.max_steps=7"))
    folder = tmp_path / "checkpoints"
    assert_says(str(stop.value), f"could not write the checkpoint last.ckpt into {folder}: No space left on device",
                f"the checkpoints written before it are whole (newest: {folder / 'iter_000005.ckpt'})",
                "Free some space", "paths.log_dir", "resume with ckpt_path=auto")
    assert len(saves) == 2, "no second attempt after the failed one"
    assert sorted(p.name for p in folder.iterdir()) == ["iter_000005.ckpt"]


def test_a_writer_error_that_is_not_the_file_systems_keeps_its_traceback(tmp_path, monkeypatch):
    def bug(obj, file):
        raise RuntimeError("a bug in the writer")

    monkeypatch.setattr(saving.torch, "save", bug)
    with pytest.raises(RuntimeError, match="a bug in the writer"):
        AtomicCheckpointIO().save_checkpoint({"global_step": 1}, tmp_path / "last.ckpt")


@pytest.mark.slow  # a subprocess run; the same path is tested in-process above
def test_a_real_full_disk_is_one_line_and_exit_1(small_filesystem, mnist_dir):
    run = small_filesystem("3m") / "run"
    done = run_command("train.py", *QUIET, f"paths.data_dir={mnist_dir}", f"hydra.run.dir={run}",
                       "trainer.max_steps=200", "checkpoint_interval=20")
    assert done.returncode == 1
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line or "Error" in line]
    assert len(lines) == 1 and "could not write the checkpoint last.ckpt" in lines[0], done.stderr[-2000:]
    assert "No space left on device; the checkpoints written before it are whole" in lines[0]
    assert "Traceback" not in done.stdout + done.stderr

