"""One page that reads a sweep (or a single run): a table of what each job changed and how it
ended, plots of the final metrics against the swept value and of the curves over iterations, and
each job's last sample grid side by side. Reads only the run folders (TensorBoard's event files,
Hydra's records, the grids), so it works on a sweep that is still running or has failed jobs."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ganlab import tags
from ganlab.errors import UserError
from ganlab.reporting.tensorboard import read_scalars
from ganlab.safety.whole_files import write_whole
from ganlab.search.study import outcomes

# The curves and final values the table and the plots show, when a job logged them
CURVES = (tags.D_LOSS, tags.G_LOSS, tags.D_ACCURACY, tags.score("fid"))
FINALS = tuple(tags.final(name) for name in ("d_loss", "g_loss", "d_accuracy", "fid", "classifier_score",
                                             "precision", "recall"))
# Which way is better, for the sample-quality scores (the losses and D's accuracy have no better side)
BETTER = {tags.final("fid"): min, tags.final("classifier_score"): max, tags.final("precision"): max,
          tags.final("recall"): max, tags.score("fid"): min}
PANELS_A_ROW = 3
FIX = "Free some space and write the report again"  # what to do when a file of the report cannot be written


@dataclass
class Job:
    folder: Path
    overrides: dict[str, str]
    max_steps: int | None
    iterations: int = 0
    speed: float = math.nan  # iterations/s between its first and last logged iteration; nan if it logged one
    seconds: float = math.nan  # its iterations at that speed
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    finals: dict[str, float] = field(default_factory=dict)
    last_grid: Path | None = None

    error: str | None = None  # the ERROR line of its train.log: diverged, interrupted, refused
    trial: tuple[int, str] | None = None  # a search's trial: its number and state

    @property
    def status(self) -> str:
        if self.trial and not (self.error and self.trial[1].startswith("fail")):
            return f"trial {self.trial[0]}: {self.trial[1]}"
        if self.error:
            return self.error
        if self.finals and self.iterations == self.max_steps:
            return "finished"
        return f"running or stopped ({self.iterations} of {self.max_steps})"


def find_jobs(folder: Path) -> list[Path]:
    """The run folders: ``folder`` itself for a single run, or a sweep's job folders in job order."""
    if (folder / ".hydra").is_dir():
        return [folder]
    jobs = [p for p in folder.iterdir() if p.is_dir() and (p / ".hydra").is_dir()]
    return sorted(jobs, key=lambda p: (int(p.name.split("_")[0]) if p.name.split("_")[0].isdigit() else 1e9, p.name))


def read_job(folder: Path) -> Job:
    hydra_dir = folder / ".hydra"
    overrides = {}
    if (hydra_dir / "overrides.yaml").is_file():
        for override in yaml.safe_load((hydra_dir / "overrides.yaml").read_text()) or []:
            key, _, value = override.partition("=")
            overrides[key.lstrip("+~")] = value
    config = yaml.safe_load((hydra_dir / "config.yaml").read_text()) if (hydra_dir / "config.yaml").is_file() else {}
    job = Job(folder, overrides, ((config or {}).get("trainer") or {}).get("max_steps"))
    logged = read_scalars(folder)
    former = {new: old for old, new in tags.FORMER.items() if old in logged}  # a run from before the numbers

    def scalars(tag: str) -> list | None:
        return logged.get(tag) or logged.get(former.get(tag))

    for tag in CURVES:
        if events := scalars(tag):
            job.curves[tag] = [(e.step, e.value) for e in events]
            job.iterations = max(job.iterations, events[-1].step)
    for tag in FINALS:
        if events := scalars(tag):
            job.finals[tag] = events[-1].value
    if clock := scalars(tags.TRAINING_SECONDS):  # the run's own count of its training time (reporting/clock.py)
        if clock[-1].value > 0:
            job.seconds, job.speed = clock[-1].value, clock[-1].step / clock[-1].value
    elif losses := scalars(tags.D_LOSS):
        # Runs from before the clock: measured between logged iterations, not from the first one
        # (start-up is not training), and a run that logged once has no speed to show.
        first, last = losses[0], losses[-1]
        if last.step > first.step and last.wall_time > first.wall_time:
            job.speed = (last.step - first.step) / (last.wall_time - first.wall_time)
            job.seconds = job.iterations / job.speed
    grids = sorted((folder / "samples").glob("iter_*.png"))
    job.last_grid = grids[-1] if grids else None
    log = folder / "train.log"
    errors = [line.split("][ERROR] - ", 1)[1] for line in (log.read_text().splitlines() if log.is_file() else [])
              if "][ERROR] - " in line]
    job.error = errors[0][:160] if errors else None
    return job


def _shown(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.1f}"


def swept_keys(jobs: list[Job]) -> list[str]:
    """The overrides whose values differ between the jobs (a single run: what it overrode)."""
    keys = list(dict.fromkeys(k for job in jobs for k in job.overrides if not k.startswith("search.")))
    if len(jobs) == 1:
        return keys
    return [k for k in keys if len({job.overrides.get(k) for job in jobs}) > 1]


def write_page(folder: str | Path) -> Path:
    """Writes ``<folder>/report.html`` (and its plots beside it) and returns its path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder; give a sweep folder (logs/multiruns/<time>) or a run's")
    paths = find_jobs(folder)
    if not paths:
        raise UserError(f"{folder} holds no runs (no folder with a .hydra record of src/train.py)")
    jobs = [read_job(p) for p in paths]
    trials = outcomes(folder)  # a search: each trial's state in its study
    for job in jobs:
        number = job.folder.name.split("_")[0]
        job.trial = trials.get(int(number)) if number.isdigit() else None
    keys = swept_keys(jobs)
    plots = _plot(folder, jobs, keys)
    page = _html(folder, jobs, keys, plots).encode()
    return write_whole(folder / "report.html", lambda file: file.write(page), FIX)


def _number(value: str | None) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _plot(folder: Path, jobs: list[Job], keys: list[str]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    names = []
    x_key = keys[0] if len(keys) == 1 and all(_number(j.overrides.get(keys[0])) is not None for j in jobs) else None
    finals = [tag for tag in FINALS if any(tag in j.finals for j in jobs)]
    if finals and len(jobs) > 1:
        fig, axes = _panels(plt, len(finals))
        for ax, tag in zip(axes, finals):
            points = [(_number(j.overrides.get(x_key)) if x_key else i, j.finals[tag])
                      for i, j in enumerate(jobs) if tag in j.finals]
            ax.plot(*zip(*sorted(points)), marker="o")
            ax.set_title(_titled(tag), fontsize=10)
            ax.set_xlabel(x_key or "job")
            if x_key and _log_axis(x_key, [p[0] for p in points]):
                ax.set_xscale("log", base=2 if "batch_size" in x_key else 10)
                ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_major_formatter(ScalarFormatter(useOffset=False))  # 1.0002, not "+1" and 0.0002
        _save(plt, fig, folder / "report_finals.png")
        names.append("report_finals.png")
    curves = [tag for tag in CURVES if any(tag in j.curves for j in jobs)]
    if curves:
        fig, axes = _panels(plt, len(curves))
        for ax, tag in zip(axes, curves):
            for job in jobs:
                if tag in job.curves:
                    steps, values = zip(*job.curves[tag])
                    # markers: a run that evaluated once still shows its point
                    ax.plot(steps, values, label=_label(job, keys), linewidth=1, marker="o", markersize=3)
            ax.set_title(_titled(tag), fontsize=10)
            ax.set_xlabel("iteration")
            ax.yaxis.set_major_formatter(ScalarFormatter(useOffset=False))
        axes[len(curves) - 1].legend(fontsize=8)
        _save(plt, fig, folder / "report_curves.png")
        names.append("report_curves.png")
    return names


def _save(plt, fig, path: Path) -> None:
    fig.tight_layout()
    try:
        write_whole(path, lambda file: fig.savefig(file, format="png", dpi=90), FIX)
    finally:
        plt.close(fig)


def _panels(plt, count: int):
    """``count`` panels of a legible size, wrapped ``PANELS_A_ROW`` to a row; the unused ones hidden."""
    rows = math.ceil(count / PANELS_A_ROW)
    columns = min(count, PANELS_A_ROW)
    fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.4 * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat


def _titled(tag: str) -> str:
    better = BETTER.get(tag)
    return f"{tag} ({'lower' if better is min else 'higher'} is better)" if better else tag


def _log_axis(key: str, values: list[float]) -> bool:
    """Batch sizes and learning rates are swept in ratios: their axis is logarithmic."""
    positive = all(v > 0 for v in values)
    return positive and (key.endswith(("batch_size", ".lr")) or max(values) / min(values) > 8)


def fixed_settings(jobs: list[Job], keys: list[str]) -> dict[str, str]:
    """The command-line settings every job shares: what the sweep held fixed."""
    shared = {}
    for key in dict.fromkeys(k for job in jobs for k in job.overrides):
        values = {job.overrides.get(key) for job in jobs}
        if key not in keys and len(values) == 1 and None not in values:
            shared[key] = values.pop()
    return shared


def _label(job: Job, keys: list[str]) -> str:
    return ", ".join(f"{k}={job.overrides.get(k, '-')}" for k in keys) or job.folder.name


def _html(folder: Path, jobs: list[Job], keys: list[str], plots: list[str]) -> str:
    finals = [tag for tag in FINALS if any(tag in j.finals for j in jobs)]
    head = ["job", *keys, "status", "iterations", "training s", "it/s", *(_titled(t) for t in finals)]
    values = {t: [j.finals[t] for j in jobs if t in j.finals] for t in finals if t in BETTER}
    best = {t: BETTER[t](v) for t, v in values.items() if len(set(v)) > 1}  # a tie has no best run
    rows = []
    for job in jobs:
        cells = [html.escape(str(c)) for c in (job.folder.name.split("_")[0] if len(jobs) > 1 else job.folder.name,
                 *(job.overrides.get(k, "") for k in keys), job.status, str(job.iterations),
                 _shown(job.seconds), _shown(job.speed))]
        for tag in finals:
            value = f"{job.finals[tag]:.4g}" if tag in job.finals else ""
            cells.append(f"<b>{value}</b>" if tag in best and job.finals.get(tag) == best[tag] else value)
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    fixed = fixed_settings(jobs, keys) if len(jobs) > 1 else {}
    grids = "".join(
        f'<figure><img src="{html.escape(str(j.last_grid.relative_to(folder)))}" width="256">'
        f"<figcaption>{html.escape(_label(j, keys))}<br>iteration {j.last_grid.stem.split('_')[-1].lstrip('0') or 0}"
        "</figcaption></figure>"
        for j in jobs if j.last_grid is not None
    )
    images = "".join(f'<p><img src="{name}"></p>' for name in plots)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(folder.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} figure{{display:inline-block;margin:6px}}
figcaption{{font-size:11px;text-align:center}}</style></head><body>
<h1>{html.escape(str(folder))}</h1>
<p>{len(jobs)} run(s){", swept: " + html.escape(", ".join(keys)) if keys and len(jobs) > 1 else ""}</p>
{"<p>Held fixed: " + html.escape(", ".join(f"{k}={v}" for k, v in fixed.items())) + "</p>" if fixed else ""}
<p>The best value of each sample-quality score is in bold.</p>
<table><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in head)}</tr>{"".join(rows)}</table>
<h2>Plots</h2>{images or "<p>nothing logged yet</p>"}
<h2>Last sample grids</h2>{grids or "<p>no grids yet</p>"}
</body></html>
"""
