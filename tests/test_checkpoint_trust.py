"""Opening a checkpoint from elsewhere runs no code: every class its hyper-parameters name is one
the project ships for that role, or one the user allowed by name (checkpoints/trust.py).
Each payload below wrote its marker file on main before this check (issue 30)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

import ganlab
from ganlab.errors import UserError
from ganlab.evaluation import evaluate
from ganlab.checkpoints.trust import check_targets
from ganlab.trained_gan import load_gan
from ganlab.training import train
from helpers import run_command, tiny_run


class _Payload:
    """Unpickling it writes the marker: what a hostile pickle inside a checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def _saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)  # torch's own format: torch.load(weights_only=False) unpickles it
    return buffer.getvalue()


def payloads(marker: Path) -> dict[str, tuple[str, dict]]:
    """name -> (the hyper-parameter it replaces, its hostile value)."""
    opens = {"_target_": "builtins.open", "file": str(marker), "mode": "w"}
    return {
        "torch.load of pickle bytes": ("generator", {
            "_target_": "torch.load", "weights_only": False,
            "f": {"_target_": "io.BytesIO", "_args_": [_saved(_Payload(marker))]}}),
        "builtins.open": ("generator", opens),
        "pathlib write_text": ("discriminator", {
            "_target_": "pathlib.Path.write_text",
            "_args_": [{"_target_": "pathlib.Path", "_args_": [str(marker)]}, "pwned"]}),
        "nested in a shipped loss": ("loss", {"_target_": "ganlab.models.losses.NonSaturatingLoss", "log": opens}),
        "a function inside a shipped module": ("generator", {"_target_": "ganlab.models.nets.mlp.keras_default_init",
                                                             "module": opens}),
        "an optimizer": ("optimizer_g", {"_target_": "builtins.exec",
                                         "_args_": [f"open({str(marker)!r}, 'w').write('pwned')"]}),
        "a module that runs code on import": ("generator", {"_target_": "evil_on_import.Net"}),
        "an interpolation": ("generator", {"_target_": "ganlab.models.nets.mlp.MLPGenerator",
                                           "z_dim": "${oc.env:HOME}"}),
    }


@pytest.fixture
def evil_module(tmp_path, monkeypatch) -> Path:
    """An importable module that writes the marker when imported."""
    code = tmp_path / "code"
    code.mkdir()
    marker = tmp_path / "marker"
    (code / "evil_on_import.py").write_text(f"open({str(marker)!r}, 'w').write('pwned')\nNet = object\n")
    monkeypatch.syspath_prepend(str(code))
    return marker


def hostile_copy(checkpoint: Path, folder: Path, key: str, value: dict) -> Path:
    """The session's real checkpoint with one hyper-parameter replaced, in a run folder of its own."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text("paths:\n  data_dir: /nowhere\n")
    ckpt = torch.load(checkpoint, weights_only=True)
    ckpt["hyper_parameters"][key] = value
    path = folder / "checkpoints" / "last.ckpt"
    path.parent.mkdir()
    torch.save(ckpt, path)
    torch.load(path, weights_only=True)  # still data only: it passes torch's own check
    return path


@pytest.mark.parametrize("name", list(payloads(Path("m"))))
def test_a_hostile_checkpoint_is_refused_by_every_path_that_opens_it(name, checkpoint, tmp_path, evil_module,
                                                                     mnist_dir):
    marker = evil_module
    key, value = payloads(marker)[name]
    path = hostile_copy(checkpoint, tmp_path / "run", key, value)
    opens = {
        "load_gan": lambda: load_gan(path),
        "evaluate": lambda: evaluate(mnist_dir, ckpt_path=path, num_samples=10),
        "ganlab.load(folder).sample": lambda: ganlab.load(path.parent.parent).sample(4, device="cpu"),
        "ganlab.load(checkpoint).sample_grid": lambda: ganlab.load(path).sample_grid(4, device="cpu"),
        "ganlab.evaluate": lambda: ganlab.evaluate(path.parent.parent, num_samples=10, device="cpu"),
    }
    for way, open_it in opens.items():
        with pytest.raises(UserError) as refused:
            open_it()
        message = str(refused.value)
        assert "allow_targets=" in message or "interpolation" in message, (way, message)
        assert not marker.exists(), f"{way} ran the payload"
    if name != "an interpolation":
        assert f"names {value['_target_']!r}" in message or "builtins.open" in message, message


def test_resume_and_auto_resume_refuse_a_hostile_checkpoint(checkpoint, tmp_path, mnist_dir):
    marker = tmp_path / "marker"
    key, value = payloads(marker)["torch.load of pickle bytes"]
    path = hostile_copy(checkpoint, tmp_path / "run", key, value)
    for how in (f"ckpt_path={path}", "ckpt_path=auto"):
        out = tmp_path / "run" if how == "ckpt_path=auto" else tmp_path / "resume"
        with pytest.raises(UserError, match=r"names 'torch.load' at generator._target_.*allow_targets="):
            train(tiny_run(out, mnist_dir, "trainer.max_steps=8", how))
        assert not marker.exists(), how


def test_generate_refuses_it_in_one_line_and_exits_1(checkpoint, tmp_path):
    marker = tmp_path / "marker"
    key, value = payloads(marker)["builtins.open"]
    path = hostile_copy(checkpoint, tmp_path / "run", key, value)
    done = run_command("generate.py", f"ckpt_path={path}", "device=cpu", f"out={tmp_path / 'grid.png'}", cwd=tmp_path,
                       timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "names 'builtins.open' at generator._target_" in lines[0], lines
    assert "allow_targets=[builtins.open]" in lines[0]
    assert not marker.exists() and not (tmp_path / "grid.png").exists()


def test_what_the_project_ships_opens_and_a_name_the_user_allows_opens(checkpoint):
    hparams = torch.load(checkpoint, weights_only=True)["hyper_parameters"]
    check_targets(hparams, "shipped")  # the default model's nets, loss and Adam
    for optimizer in ("torch.optim.Adam", "torch.optim.SGD"):
        check_targets({"optimizer_g": {"_target_": optimizer}}, "optimizers")
    for net in ("ganlab.models.nets.dcgan.DCGANGenerator", "ganlab.models.nets.cgan.CGANDiscriminator"):
        check_targets({"generator": {"_target_": net}}, "nets")
    with pytest.raises(UserError, match="not a net this project ships"):
        check_targets({"generator": {"_target_": "ganlab.models.losses.HingeLoss"}}, "a loss as a net")
    with pytest.raises(UserError, match="not an optimizer"):
        check_targets({"optimizer_d": {"_target_": "torch.optim.lr_scheduler"}}, "a module")
    check_targets({"generator": {"_target_": "my.Net"}}, "allowed", allowed=["my.Net"])
