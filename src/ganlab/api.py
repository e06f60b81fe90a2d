"""The project from Python (a notebook, a prompt): train a run, hold it in a variable, look at it.

    import ganlab
    run = ganlab.train("trainer.max_steps=2000")      # the same overrides as python src/train.py
    run.metrics["4_quality/fid"]                      # every logged value's last, final/* included
    run.curves["1_losses/d_loss"]                     # (iterations, values) as numpy arrays
    run.grid()                                        # the last sample grid, shown inline by Jupyter
    run.sample(16, digit=None)                        # new digits, [16, 28, 28] in [-1, 1]
    ganlab.load("logs/runs/<run>"); ganlab.evaluate(run)
    sweep = ganlab.load_sweep("logs/multiruns/<sweep>")
    sweep.table                                       # report.csv's rows: one a run, its settings, seed, scores
    sweep.runs[0].curves; sweep.verdicts              # each run; the report's verdicts over seeds

Why a process of its own for training: a run from Python is then the command line's run, byte for
byte (the same configs, checks, run folder, checkpoints and exit paths: no second way of building
a run), and nothing a run does (a divergence, a refused setting, an exit code) can take the kernel
with it. What became of it (its folder, its outcome, its error line, its progress) comes from the
record the run writes (run_record.py), never from its console lines, which are only echoed: without
their timestamps, the progress lines as a bar (a notebook widget where ipywidgets is installed).
Errors are exceptions carrying the command's one line; Ctrl-C stops the run after the iteration
under way, with its checkpoint, then raises KeyboardInterrupt. Sweeps and searches stay on the
command line (``python src/train.py -m ...``).

The run is ``python -m ganlab`` (ganlab/__main__.py: src/train.py's command) with this very ganlab
on its path, so an installed package (``pip install .``) trains with the configs inside it, from
anywhere; its runs land under ``./logs`` and MNIST under ``./data`` of the current directory, as for
any Hydra app (``paths.log_dir=...``, ``paths.data_dir=...`` put them elsewhere). From a checkout
they are the checkout's logs/ and data/, as for ``python src/train.py``.
"""

from __future__ import annotations

import os
import signal
import site
import subprocess
import sys
import tempfile
from pathlib import Path
from collections.abc import Iterable
from typing import Any

import numpy as np

from ganlab import run_record, tags
from ganlab.errors import UserError
from ganlab.run_folders.resolvers import project_root

COMMAND = [sys.executable, "-m", "ganlab"]  # src/train.py's command, also where there is no src/


class RunFailed(RuntimeError):
    """A run that did not train to its end: the command's own line (a refused setting, a
    divergence), its exit code, and its folder if it had one."""

    def __init__(self, message: str, exit_code: int, folder: Path | None):
        super().__init__(message)
        self.exit_code, self.folder = exit_code, folder


def train(*overrides: str, quiet: bool = False) -> Run:
    """Trains ``python src/train.py *overrides`` (``python -m ganlab *overrides``) and returns the
    run. ``quiet``: no lines, the bar only."""
    if multirun := [o for o in overrides if o in ("-m", "--multirun") or o.startswith("hydra.mode=")]:
        raise UserError(f"{multirun[0]}: sweeps and searches run from the command line "
                        "(python src/train.py -m ...); ganlab.load reads any of their jobs")
    with tempfile.TemporaryDirectory(prefix="ganlab-record-") as handoff:
        return _train(overrides, quiet, Path(handoff) / "record.json")


def _train(overrides: tuple[str, ...], quiet: bool, record_path: Path) -> Run:
    process = subprocess.Popen([*COMMAND, "trainer.enable_progress_bar=false", *overrides],
                               cwd=project_root(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               bufsize=1, env=_child_env(record_path),
                               start_new_session=True)  # Ctrl-C reaches this process, which forwards it
    watch = _Watch(quiet, record_path)
    try:
        for line in process.stdout:
            watch.read(line)
        process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)  # the run stops after its iteration, with a checkpoint
        while True:
            try:
                if not process.stdout.closed:
                    for line in process.stdout:
                        watch.read(line)
                    process.stdout.close()
                process.wait()
                break
            except KeyboardInterrupt:  # a second one: the run stops at once, as on the command line
                process.send_signal(signal.SIGINT)
        watch.close()
        record = run_record.read(record_path) or {}
        raise KeyboardInterrupt(record.get("error") or watch.last_line or "training stopped") from None
    watch.close()
    record = run_record.read(record_path) or {}
    folder = Path(record["folder"]) if record.get("folder") else None
    if process.returncode != 0 or record.get("status") != "finished" or folder is None:
        # no record (a traceback: a bug, or Hydra's own refusal of the command line): its last line says why
        error = record.get("error") or watch.last_line or f"{' '.join(COMMAND)} exited {process.returncode}"
        raise RunFailed(error, process.returncode, folder if folder is not None and folder.is_dir() else None)
    # the classes this run's own config named (this process's user chose them): its checkpoints may name them
    return Run(folder, allow_targets=_own_targets(folder))


def _child_env(record_path: Path) -> dict[str, str]:
    """The run's environment: it names the record to write, and the run imports this very ganlab,
    also where a plain ``python`` would not find it (a sys.path set by hand, a ``pip install --target``)."""
    env = {**os.environ, run_record.ENV: str(record_path)}
    home = Path(__file__).resolve().parents[1]  # the folder that holds ganlab/ (src/ in a checkout)
    # not a site-packages folder: ahead of the standard library there, its packages could shadow it
    if home not in {Path(p).resolve() for p in site.getsitepackages()}:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(home), os.environ.get("PYTHONPATH")]))
    return env


def _own_targets(folder: Path) -> list[str]:
    import yaml

    from ganlab.checkpoints.trust import targets_in

    config = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())
    return [t for _, t in targets_in((config or {}).get("model") or {}) if isinstance(t, str)]


class _Watch:
    """Echoes the run's lines, but shows its progress, which its record gives, as a bar."""

    def __init__(self, quiet: bool, record_path: Path):
        self.quiet, self.bar, self.record_path = quiet, None, record_path
        self.last_line = ""
        self._shown_progress: str | None = None

    def read(self, line: str) -> None:
        message = _without_timestamp(line.rstrip("\n"))
        if message:
            self.last_line = message.removeprefix("Error: ")
        record = run_record.read(self.record_path) or {}
        if record.get("status") == "training" and record.get("progress") != self._shown_progress:
            self._progress(int(record["iteration"]), int(record["max_steps"]), record["progress"])
        if self._shown_progress and message.endswith(self._shown_progress):
            return  # the bar shows it
        if message and not self.quiet:
            (self.bar.write if self.bar is not None else print)(message)

    def _progress(self, iteration: int, total: int, line: str) -> None:
        self._shown_progress = line
        if self.bar is None:
            self.bar = _bar(total)
        self.bar.update(iteration - self.bar.n)
        self.bar.set_postfix_str(line.split(": ", 1)[-1])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _without_timestamp(line: str) -> str:
    """``[time][logger][LEVEL] - message`` as the message alone (only for showing it: nothing is read
    from a line)."""
    head, sep, message = line.partition("] - ")
    return message if sep and head.startswith("[") else line


def _bar(total: int):
    """tqdm's notebook widget in a notebook with ipywidgets, else its text bar. The run's own speed and
    time left are in the postfix: tqdm's rate would measure how often the run's lines arrive."""
    try:
        import ipywidgets  # noqa: F401  (tqdm's notebook bar draws with it)
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm.std import tqdm
    return tqdm(total=total, desc="Training", bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                "[{elapsed}{postfix}]")


class Run:
    """A run folder, read: what src/train.py left there (README, "What a run leaves"). ``checkpoint``
    is the one ``sample`` and ``evaluate`` use (default ``last.ckpt``); ``allow_targets``: classes of
    the user's own that it may name (trained_gan.load_gan)."""

    def __init__(self, folder: str | Path, checkpoint: str | Path | None = None, allow_targets: Iterable[str] = ()):
        self.folder = Path(folder).resolve()
        self.checkpoint = (Path(checkpoint).resolve() if checkpoint is not None
                           else self.folder / "checkpoints" / "last.ckpt")
        self.allow_targets = list(allow_targets)

    def __repr__(self) -> str:
        return f"Run({str(self.folder)!r})"

    @property
    def curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every logged scalar as (iterations, values), read from the run's TensorBoard events."""
        from ganlab.reporting.tensorboard import read_scalars

        return {tag: (np.array([p.step for p in points]), np.array([p.value for p in points]))
                for tag, points in read_scalars(self.folder).items()}

    @property
    def metrics(self) -> dict[str, float]:
        """Each logged scalar's last value by its tag today (tags.py): the losses, D's statistics, the last
        evaluation, final/*."""
        return {tags.current(tag): float(values[-1]) for tag, (_, values) in self.curves.items() if len(values)}

    def grids(self) -> list[tuple[int, Path]]:
        """The sample grids drawn during training, as (iteration, file)."""
        return [(int(p.stem.split("_")[-1]), p) for p in sorted((self.folder / "samples").glob("iter_*.png"))]

    def grid(self, iteration: int | None = None):
        """The sample grid at ``iteration`` (default the last) as an image: Jupyter shows it inline."""
        from PIL import Image

        grids = dict(self.grids())
        if not grids:
            raise UserError(f"{self.folder} has no sample grids yet")
        if iteration is not None and iteration not in grids:
            raise UserError(f"no grid at iteration {iteration}; there are grids at {', '.join(map(str, grids))}")
        return Image.open(grids[iteration if iteration is not None else max(grids)])

    def figure(self):
        """The book's figures: both losses and D's accuracy over training (training_curves.png)."""
        from PIL import Image

        return Image.open(self.folder / "training_curves.png")

    def sample(self, n: int = 16, digit: int | None = None, seed: int = 0, device: str = "auto") -> np.ndarray:
        """``n`` new digits from the run's generator, [n, 28, 28] in [-1, 1] (``digit``: a conditional GAN's)."""
        from ganlab.generation import check_request, generate
        from ganlab.trained_gan import load_gan, pick_device

        check_request(n, digit, "samples.npy")
        model = load_gan(self.checkpoint, pick_device(device), self.allow_targets)
        return generate(model, n, seed=seed, digit=digit).squeeze(1).cpu().numpy()

    def sample_grid(self, n: int = 64, digit: int | None = None, seed: int = 0, device: str = "auto"):
        """New digits as a grid image, like generate.py's: a conditional GAN's with one row per digit."""
        from ganlab.generation import check_request, grid_of
        from ganlab.reporting.pictures import grid_image
        from ganlab.trained_gan import load_gan, pick_device

        check_request(n, digit, "grid.png")
        model = load_gan(self.checkpoint, pick_device(device), self.allow_targets)
        return grid_image(*grid_of(model, n, seed=seed, digit=digit))

    def data_dir(self) -> Path:
        import yaml

        config = yaml.safe_load((self.folder / ".hydra" / "config.yaml").read_text())
        return Path(config["paths"]["data_dir"])


def load(path: str | Path, allow_targets: Iterable[str] = ()) -> Run:
    """An existing run, by its folder (its ``last.ckpt``) or by one of its checkpoints (that one).
    ``allow_targets``: classes of your own that its checkpoint may name (docs/resume-and-faults.md,
    "Checkpoints from elsewhere"); anything else a checkpoint names is refused when it is opened."""
    path = Path(path)
    if path.suffix == ".ckpt":
        if not path.is_file():
            raise UserError(f"{path} is not a file; give a run folder or one of its checkpoints/*.ckpt")
        folder, checkpoint = path.resolve().parent.parent, path
    else:
        folder, checkpoint = path, None
    if not (folder / ".hydra").is_dir():
        raise UserError(f"{path} is not a run folder or a run's checkpoint (no .hydra record of src/train.py)")
    return Run(folder, checkpoint, allow_targets)


class Sweep:
    """A sweep folder (or one run's), read as the report reads it (reporting/sweep_page.py)."""

    def __init__(self, folder: str | Path):
        from ganlab.reporting.sweep_page import Study, read_sweep, table

        self.folder = Path(folder).resolve()
        study = Study(*read_sweep(self.folder))
        self.keys = study.setting_keys  # the swept settings other than seed
        # one dict a run, as report.csv: job, the swept settings (as typed), seed, status, iterations,
        # images_seen, training_seconds and every final score (floats; "" where a run has none)
        self.table: list[dict[str, Any]] = table(study)
        self.runs: list[Run] = [Run(job.folder) for job in study.jobs]
        self.verdicts: list[str] = study.lines()

    def __repr__(self) -> str:
        return f"Sweep({str(self.folder)!r}: {len(self.runs)} runs)"


def load_sweep(folder: str | Path) -> Sweep:
    """A sweep by its folder (logs/multiruns/<sweep>): its table of runs and each run."""
    return Sweep(folder)


def evaluate(run: Run | str | Path, num_samples: int = 10_000, seed: int = 0, device: str = "auto",
             **options: Any) -> dict[str, Any]:
    """What src/evaluate.py reports for a run's generator: its scores on ``num_samples`` new digits
    (``metrics``) beside what as many real images score (``real_floor``). ``options``: the rest of
    ganlab.evaluation.evaluate's (``floor``, ``min_evaluator_accuracy``)."""
    from ganlab.evaluation import evaluate as score
    from ganlab.trained_gan import pick_device

    run = run if isinstance(run, Run) else load(run)
    return score(run.data_dir(), ckpt_path=run.checkpoint, num_samples=num_samples, seed=seed,
                 device=pick_device(device), allow_targets=run.allow_targets, **options)
