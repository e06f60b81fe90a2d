"""What the tests share: a tiny run in-process (``tiny_run``) or a command as a subprocess
(``run_command``), counting what a run did, reading what it logged, checking what it said."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import ganlab.run_folders.resolvers  # noqa: F401  (registers the resolvers conf/ uses)
from ganlab.checkpoints.resume import resolve_ckpt_path
from ganlab.training import build

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"

# Overrides for runs started as a command: on the CPU, no bar; QUIET also without the sample-quality
# evaluation, which would train the real evaluator (a minute) on first use.
CPU = ["trainer.accelerator=cpu", "trainer.enable_progress_bar=false"]
QUIET = [*CPU, "callbacks.sample_quality=null"]
# The length of a tiny run, in-process or as a command: 7 iterations, logged every 2nd (and the
# last), a sample grid and a checkpoint at 5 (and the last). Runs of other lengths name theirs.
FAST = ["trainer.max_steps=7", "trainer.log_every_n_steps=2", "sample_interval=5", "checkpoint_interval=5"]


def compose_config(name: str, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def tiny_run(output_dir: Path, data_dir: Path, *overrides: str, quality: bool = False) -> DictConfig:
    """The real train config of a tiny in-process run (FAST, on the CPU) writing into ``output_dir``;
    quiet: without ``quality``, no sample-quality evaluation, which would train the real evaluator
    (a minute) on first use. ``overrides`` come last, so they win."""
    return compose_config("train", [
        f"paths.output_dir={output_dir}",
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={output_dir}",
        "trainer.accelerator=cpu",
        *FAST,
        *([] if quality else ["callbacks.sample_quality=null"]),
        *overrides,
    ])


def command(script: str, *args: str) -> list[str]:
    """``python SCRIPT ARGS`` as an argument list, with this interpreter: ``script`` is a command in
    src/ (``"train.py"``), another script's absolute path, or one of python's options (``"-m"``)."""
    if not (script.startswith("-") or Path(script).is_absolute()):
        script = str(ROOT / "src" / script)
    return [sys.executable, script, *args]


def train_command(*args: str) -> list[str]:
    """``python src/train.py ARGS`` as an argument list (for a process a test signals)."""
    return command("train.py", *args)


def run_command(script: str, *args: str, timeout: float = 300, cwd: Path = ROOT, env: dict | None = None,
                check: bool = False, fresh: bool = False) -> subprocess.CompletedProcess:
    """Runs ``command(script, *args)`` in ``cwd`` to its end (an error after ``timeout`` seconds) and
    returns its exit code, stdout and stderr (text). ``check``: the test fails unless it exits 0.

    A script's process is forked from an interpreter with the imports done (tests/forked.py), its
    environment ``env`` (or this one's); a test of what happens at start-up (import-time warnings,
    variables the imports read such as thread counts) asks for a new interpreter with
    ``fresh=True``, as does ``python -m`` or one of python's options."""
    if fresh or script.startswith("-"):
        done = subprocess.run(command(script, *args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    else:
        started = start_command(script, *args, cwd=cwd, env=env)
        stdout, stderr = started.communicate(timeout)
        done = subprocess.CompletedProcess(started.args, started.returncode, stdout, stderr)
    if check:
        assert done.returncode == 0, (done.stdout[-2000:] + done.stderr[-3000:])
    return done


class StartedCommand:
    """A command started by ``start_command`` and still running: what a test needs of a
    ``subprocess.Popen`` (``pid``, ``poll``, ``send_signal``, ``communicate``, ``returncode``)."""

    def __init__(self, argv: list[str], cwd: Path, env: dict):
        import multiprocessing

        import forked

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["forked", *forked.PRELOAD])
        self.args, self._folder = argv, tempfile.TemporaryDirectory()
        self._out, self._err = Path(self._folder.name) / "stdout", Path(self._folder.name) / "stderr"
        self._child = context.Process(target=forked.run_script,
                                      args=(argv, str(cwd), env, str(self._out), str(self._err)))
        self._child.start()
        self.pid = self._child.pid

    @property
    def returncode(self) -> int | None:
        return self._child.exitcode

    def poll(self) -> int | None:
        return self._child.exitcode

    def send_signal(self, signum: int) -> None:
        if self._child.exitcode is None:
            os.kill(self.pid, signum)

    def communicate(self, timeout: float) -> tuple[str, str]:
        """(stdout, stderr) once it has ended; killed, and ``TimeoutExpired``, after ``timeout`` seconds."""
        try:
            self._child.join(timeout)
            if self._child.exitcode is None:
                self._child.kill()
                self._child.join()
                raise subprocess.TimeoutExpired(self.args, timeout, self._text(self._out), self._text(self._err))
            return self._text(self._out), self._text(self._err)
        finally:
            self._folder.cleanup()

    @staticmethod
    def _text(path: Path) -> str:
        # a child that failed before it opened its files (the forkserver's own error) wrote none
        return path.read_text(errors="replace") if path.exists() else ""


def start_command(script: str, *args: str, cwd: Path = ROOT, env: dict | None = None) -> StartedCommand:
    """``run_command``'s forked process, returned while it runs (for a test that signals it)."""
    return StartedCommand(command(script, *args)[1:], cwd, dict(os.environ if env is None else env))


def assert_says(message: str, *phrases: str) -> None:
    """A user-facing message, checked by its key phrases (what went wrong, what to do) rather than word
    for word: rewording the sentence around them fails no test."""
    missing = [phrase for phrase in phrases if phrase not in message]
    assert not missing, f"{missing} not in: {message[-3000:]}"


def fit(cfg: DictConfig, *extra_callbacks: L.Callback) -> tuple[L.LightningModule, L.Trainer]:
    """Trains ``cfg`` in-process as train.py would, with ``extra_callbacks`` listening."""
    resolve_ckpt_path(cfg)
    datamodule, model, trainer = build(cfg)
    trainer.callbacks.extend(extra_callbacks)
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    return model, trainer


class StepCounter(L.Callback):
    """Counts training batches and each player's optimizer steps (torch's step hooks)."""

    def on_train_start(self, trainer, pl_module):
        self.batches, self.g_steps, self.d_steps = 0, 0, 0
        opt_g, opt_d = trainer.optimizers
        opt_g.register_step_post_hook(lambda *_: setattr(self, "g_steps", self.g_steps + 1))
        opt_d.register_step_post_hook(lambda *_: setattr(self, "d_steps", self.d_steps + 1))

    def on_train_batch_end(self, *_):
        self.batches += 1


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of one TensorBoard scalar tag, as TensorBoard itself reads the run."""
    from ganlab.reporting.tensorboard import read_scalars

    return [(p.step, p.value) for p in read_scalars(run_dir)[tag]]


def image_steps(run_dir: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return [e.step for e in acc.Images(tag)]


def hparams_columns(run_dir: Path) -> tuple[list[str], list[str], dict]:
    """TensorBoard's HPARAMS tab for a run: its columns in order, its metric columns, and the run's values."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    columns, metrics, values = [], [], {}
    for raw in acc.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if data.HasField("experiment"):
            columns = [h.name for h in data.experiment.hparam_infos]
            metrics = [m.name.tag for m in data.experiment.metric_infos]
        if data.HasField("session_start_info"):
            values = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
                      for k, v in data.session_start_info.hparams.items()}
    return columns, metrics, values


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


def with_mnist(folder: Path, mnist_dir: Path) -> Path:
    """A data_dir in tmp whose MNIST is the real one, so an evaluator cache lands in tmp."""
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink(mnist_dir / "MNIST", folder / "MNIST")
    return folder


def fill(disk: Path) -> None:
    """Fills the file system of ``disk`` to its last byte (a file ``filler`` in it)."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
