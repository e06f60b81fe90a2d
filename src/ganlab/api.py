"""The project from Python (a notebook, a prompt): train a run, hold it in a variable, look at it.

    import ganlab
    run = ganlab.train("trainer.max_steps=2000")      # the same overrides as src/train.py
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
with it. Its lines come back without their timestamps, its progress as a bar (a notebook widget
where ipywidgets is installed). Errors are exceptions carrying the command's one line; Ctrl-C stops
the run after the iteration under way, with its checkpoint, then raises KeyboardInterrupt. Sweeps
and searches stay on the command line (``python src/train.py -m ...``).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "src" / "train.py"
_LINE = re.compile(r"^\[[^\]]+\]\[([^\]]+)\]\[(\w+)\] - (.*)$")  # [time][logger][LEVEL] - message
_PROGRESS = re.compile(r"^iteration (\d+)/(\d+) \(")
_FOLDER = re.compile(r"^Run folder: (.+)$")


class RunFailed(RuntimeError):
    """A run that did not train to its end: the command's own line (a refused setting, a
    divergence), its exit code, and its folder if it had one."""

    def __init__(self, message: str, exit_code: int, folder: Path | None):
        super().__init__(message)
        self.exit_code, self.folder = exit_code, folder


def train(*overrides: str, quiet: bool = False) -> Run:
    """Trains ``python src/train.py *overrides`` and returns the run. ``quiet``: no lines, the bar only."""
    if multirun := [o for o in overrides if o in ("-m", "--multirun") or o.startswith("hydra.mode=")]:
        raise UserError(f"{multirun[0]}: sweeps and searches run from the command line "
                        "(python src/train.py -m ...); ganlab.load reads any of their jobs")
    process = subprocess.Popen([sys.executable, str(TRAIN), "trainer.enable_progress_bar=false", *overrides],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                               start_new_session=True)  # Ctrl-C reaches this process, which forwards it
    watch = _Watch(quiet)
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
        raise KeyboardInterrupt(watch.error or "training stopped") from None
    watch.close()
    if process.returncode != 0:
        raise RunFailed(watch.error or f"src/train.py exited {process.returncode}", process.returncode, watch.folder)
    if watch.folder is None:
        raise RunFailed("the run did not say where its folder is", process.returncode, None)
    return Run(watch.folder)


class _Watch:
    """Reads the run's lines: its folder, its progress (a bar), its errors; echoes the rest."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None
        self.folder: Path | None = None
        self.error: str | None = None

    def read(self, line: str) -> None:
        line = line.rstrip("\n")
        found = _LINE.match(line)
        level, message = (found.group(2), found.group(3)) if found else ("", line)
        if folder := _FOLDER.match(message):
            self.folder = Path(folder.group(1))
        if level == "ERROR" or message.startswith("Error: "):
            self.error = message.removeprefix("Error: ")
        if progress := _PROGRESS.match(message):
            self._progress(int(progress.group(1)), int(progress.group(2)), message)
            return
        if message and not self.quiet:
            (self.bar.write if self.bar is not None else print)(message)

    def _progress(self, iteration: int, total: int, message: str) -> None:
        if self.bar is None:
            self.bar = _bar(total)
        self.bar.update(iteration - self.bar.n)
        self.bar.set_postfix_str(message.split(": ", 1)[-1])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


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
    """A run folder, read: what src/train.py left there (README, "What a run leaves")."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder).resolve()

    def __repr__(self) -> str:
        return f"Run({str(self.folder)!r})"

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoints" / "last.ckpt"

    @property
    def curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every logged scalar as (iterations, values), read from the run's TensorBoard events."""
        from ganlab.reporting.tensorboard import read_scalars

        return {tag: (np.array([p.step for p in points]), np.array([p.value for p in points]))
                for tag, points in read_scalars(self.folder).items()}

    @property
    def metrics(self) -> dict[str, float]:
        """Each logged scalar's last value: the losses, D's statistics, the last evaluation, final/*."""
        return {tag: float(values[-1]) for tag, (_, values) in self.curves.items() if len(values)}

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
        model = load_gan(self.checkpoint, pick_device(device))
        return generate(model, n, seed=seed, digit=digit).squeeze(1).cpu().numpy()

    def sample_grid(self, n: int = 64, digit: int | None = None, seed: int = 0, device: str = "auto"):
        """New digits as a grid image, like generate.py's: a conditional GAN's with one row per digit."""
        from ganlab.generation import check_request, grid_of
        from ganlab.reporting.pictures import grid_image
        from ganlab.trained_gan import load_gan, pick_device

        check_request(n, digit, "grid.png")
        return grid_image(*grid_of(load_gan(self.checkpoint, pick_device(device)), n, seed=seed, digit=digit))

    def data_dir(self) -> Path:
        import yaml

        config = yaml.safe_load((self.folder / ".hydra" / "config.yaml").read_text())
        return Path(config["paths"]["data_dir"])


def load(path: str | Path) -> Run:
    """An existing run, by its folder or one of its checkpoints."""
    path = Path(path)
    folder = path.parent.parent if path.suffix == ".ckpt" else path
    if not (folder / ".hydra").is_dir():
        raise UserError(f"{path} is not a run folder or a run's checkpoint (no .hydra record of src/train.py)")
    return Run(folder)


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
                 device=pick_device(device), **options)
