"""One page that reads a sweep (or a single run): runs that differ only in ``seed`` summarised as
one setting (mean, spread, n) and compared by a standard test (reporting/seeds.py), a table of what
each job changed and how it ended, plots of the final metrics against the swept value and of the
curves against iterations, images seen and training seconds, and each job's last sample grid. The
table also goes to ``report.csv``. Reads only the run folders (TensorBoard's event files, Hydra's
records, the grids), so it works on a sweep that is still running or has failed jobs."""

from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ganlab import tags
from ganlab.errors import UserError
from ganlab.reporting import seeds
from ganlab.reporting.tensorboard import read_scalars
from ganlab.whole_files import write_whole
from ganlab.search.study import outcomes

# The curves the plots show, when a job logged them
CURVES = (tags.D_LOSS, tags.G_LOSS, tags.D_ACCURACY, tags.score("fid"))


def score_curves() -> list[str]:
    """The evaluations read for the score at equal images seen: the headline scores (tags.py)."""
    return [m.tag for m in tags.headline() if m.is_score and m.better]


def better(tag: str):
    """``min`` or ``max``, for a value with a better side (tags.py); None for the losses and D's statistics."""
    return {"lower": min, "higher": max}.get(tags.better(tag))


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
    recipe: tuple[str, str] | None = None  # (model, loss) as Hydra recorded the choices
    images_per_iteration: int | None = None  # real images D sees an iteration, all devices together
    clock: list[tuple[int, float]] = field(default_factory=list)  # (iteration, training seconds)

    @property
    def images_seen(self) -> int | None:
        return self.iterations * self.images_per_iteration if self.images_per_iteration else None

    def seconds_at(self, step: int) -> float:
        """Training seconds at ``step``: the run's own clock between its logged points, else its speed."""
        if self.clock:
            import numpy as np

            steps, seconds = zip(*[(0, 0.0), *self.clock])
            return float(np.interp(step, steps, seconds))
        return step / self.speed if self.speed > 0 else math.nan

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
    config = config or {}
    job = Job(folder, overrides, (config.get("trainer") or {}).get("max_steps"))
    choices = {}
    if (hydra_dir / "hydra.yaml").is_file():
        choices = ((yaml.safe_load((hydra_dir / "hydra.yaml").read_text()) or {}).get("hydra", {})
                   .get("runtime", {}).get("choices") or {})
    if choices.get("model") and choices.get("loss"):
        job.recipe = (str(choices["model"]), str(choices["loss"]))
    job.images_per_iteration = _images_per_iteration(config)
    if seeds.SEED not in job.overrides and config.get("seed") is not None:
        job.overrides[seeds.SEED] = str(config["seed"])  # the seed the run trained with, swept or not
    logged = read_scalars(folder)
    former = {new: old for old, new in tags.FORMER.items() if old in logged}  # a run from before the numbers

    def scalars(tag: str) -> list | None:
        return logged.get(tag) or logged.get(former.get(tag))

    for tag in dict.fromkeys((*CURVES, *score_curves())):
        if events := scalars(tag):
            job.curves[tag] = [(e.step, e.value) for e in events]
            job.iterations = max(job.iterations, events[-1].step)
    # every final/* it logged: the headline measures' (reporting/finals.py), a user's own included
    for tag in tags.in_order([*tags.finals(), *(t for t in logged if t.startswith(f"{tags.FINAL}/"))]):
        if events := scalars(tag):
            job.finals[tag] = events[-1].value
    if clock := scalars(tags.TRAINING_SECONDS):  # the run's own count of its training time (reporting/clock.py)
        job.clock = [(e.step, e.value) for e in clock]
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


def _images_per_iteration(config: dict) -> int | None:
    """Real images an iteration shows D: its batch, each of its D steps, on every device."""
    batch = (config.get("data") or {}).get("batch_size")
    if not isinstance(batch, int):
        return None
    steps = (config.get("model") or {}).get("d_steps_per_iteration") or 1
    trainer = config.get("trainer") or {}
    devices = trainer.get("devices") if isinstance(trainer.get("devices"), int) else 1
    nodes = trainer.get("num_nodes") if isinstance(trainer.get("num_nodes"), int) else 1
    return batch * int(steps) * devices * nodes


def _shown(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.1f}"


def swept_keys(jobs: list[Job]) -> list[str]:
    """The overrides whose values differ between the jobs (a single run: what it overrode)."""
    keys = list(dict.fromkeys(k for job in jobs for k in job.overrides if not k.startswith("search.")))
    if len(jobs) == 1:
        return keys
    return [k for k in keys if len({job.overrides.get(k) for job in jobs}) > 1]


def read_sweep(folder: str | Path) -> tuple[list[Job], list[str]]:
    """The jobs of a sweep (or one run) and the keys it swept."""
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
    return jobs, swept_keys(jobs)


def write_page(folder: str | Path) -> Path:
    """Writes ``<folder>/report.html`` (and its plots and ``report.csv`` beside it) and returns its path."""
    folder = Path(folder)
    jobs, keys = read_sweep(folder)
    study = Study(jobs, keys)
    plots = _plot(folder, study)
    write_csv(folder / "report.csv", table(study))
    page = _html(folder, study, plots).encode()
    return write_whole(folder / "report.html", lambda file: file.write(page), FIX)


class Study:
    """A sweep read as settings over seeds, with each score's verdict (reporting/seeds.py)."""

    def __init__(self, jobs: list[Job], keys: list[str]):
        self.jobs, self.keys = jobs, keys
        self.setting_keys = [k for k in keys if k != seeds.SEED]
        self.settings = seeds.group(jobs, keys)
        self.several_seeds = len(jobs) > 1 and any(len(s.runs) > 1 for s in self.settings)
        self.finals = tags.in_order(tag for j in jobs for tag in j.finals)
        # the score at equal images seen: only where settings see different numbers of images an iteration
        self.equal_images: dict[str, int] = {}
        if len({j.images_per_iteration for j in jobs}) > 1 and all(j.images_per_iteration for j in jobs):
            for tag in score_curves():
                if (images := common_images(jobs, tag)) is not None:
                    self.equal_images[tag] = images
        self.verdicts = {}
        if len(self.settings) > 1:
            for tag in self.finals:
                if better(tag):
                    self.verdicts[tag] = seeds.judge(tag, self.settings, lambda s, t=tag: _values(s, t), better(tag))
            for tag, images in self.equal_images.items():
                name = _at_images(tag, images)
                self.verdicts[name] = seeds.judge(name, self.settings, lambda s, t=tag, i=images: _values_at(s, t, i),
                                                  better(tag))
        self.verdicts = {tag: v for tag, v in self.verdicts.items() if v is not None}

    @property
    def one_seed(self) -> bool:
        """Several settings, each with one seed: nothing can be told from seed noise."""
        return len(self.settings) > 1 and not self.several_seeds

    def lines(self) -> list[str]:
        """The judgement in words: the sweep's last console lines, the page's verdicts."""
        if self.one_seed:
            return [seeds.one_seed_note({j.recipe for j in self.jobs if j.recipe})]
        if not self.several_seeds:
            return []
        if len(self.settings) == 1:  # a sweep of seeds alone: nothing to compare, the spread to report
            (setting,) = self.settings
            return [f"One setting over seeds {', '.join(setting.seeds)}: " + "; ".join(
                f"{tag} {seeds.summarise(values).shown()}" for tag in self.finals if (values := _values(setting, tag)))]
        return [f"Compared by {seeds.TEST}:", *(v.line for v in self.verdicts.values())]


def _values(setting: seeds.Setting, tag: str) -> list[float]:
    return [job.finals[tag] for job in setting.runs if tag in job.finals and not math.isnan(job.finals[tag])]


def score_at_images(job: Job, tag: str, images: int) -> float | None:
    if not job.images_per_iteration or images % job.images_per_iteration:
        return None
    step = images // job.images_per_iteration
    return next((value for s, value in job.curves.get(tag, []) if s == step), None)


def _values_at(setting: seeds.Setting, tag: str, images: int) -> list[float]:
    return [v for job in setting.runs if (v := score_at_images(job, tag, images)) is not None]


def common_images(jobs: list[Job], tag: str) -> int | None:
    """The most images seen at which every job with an evaluation of ``tag`` evaluated it."""
    seen = [{step * j.images_per_iteration for step, _ in j.curves[tag]} for j in jobs if tag in j.curves]
    if len(seen) < 2:
        return None
    common = set.intersection(*seen)
    return max(common) if common else None


def _at_images(tag: str, images: int) -> str:
    return f"{tag} at {images:,} images"


def table(study: Study) -> list[dict]:
    """One row a run: the swept settings, its seed, how it ended and every final score (report.csv)."""
    rows = []
    for job in study.jobs:
        row = {"job": job.folder.name, **{k: job.overrides.get(k, "") for k in study.setting_keys},
               "seed": job.overrides.get(seeds.SEED, ""), "status": job.status, "iterations": job.iterations,
               "images_seen": job.images_seen if job.images_seen is not None else "",
               "training_seconds": "" if math.isnan(job.seconds) else round(job.seconds, 3)}
        for tag in study.finals:
            row[tag] = _logged(job.finals.get(tag))
        for tag, images in study.equal_images.items():
            row[_at_images(tag, images)] = _logged(score_at_images(job, tag, images))
        rows.append(row)
    return rows


def _logged(value: float | None) -> float | str:
    """A value as it was logged: event files keep float32, so 47.8 reads back as 47.79999923706055."""
    return "" if value is None else float(f"{value:.7g}")


def write_csv(path: Path, rows: list[dict]) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    data = text.getvalue().encode()
    write_whole(path, lambda file: file.write(data), FIX)


def _number(value: str | None) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# The curves' x axes: batch sizes differ in images an iteration and in seconds an iteration
AXES = {"iteration": "report_curves.png", "images seen": "report_curves_images.png",
        "training seconds": "report_curves_seconds.png"}


def _plot(folder: Path, study: Study) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import ScalarFormatter

    jobs, keys, settings = study.jobs, study.setting_keys, study.settings
    names = []
    x_key = keys[0] if len(keys) == 1 and all(_number(j.overrides.get(keys[0])) is not None for j in jobs) else None
    finals = study.finals
    if finals and len(settings) > 1:
        fig, axes = _panels(plt, len(finals))
        for ax, tag in zip(axes, finals):
            points = []
            for i, setting in enumerate(settings):
                if values := _values(setting, tag):
                    x = _number(setting.values.get(x_key)) if x_key else i
                    points.append((x, seeds.summarise(values)))
                    ax.plot([x] * len(values), values, "o", color="0.6", markersize=3)  # each seed
            points.sort(key=lambda p: p[0])
            if points:
                xs = [p[0] for p in points]
                ax.errorbar(xs, [p[1].mean for p in points], marker="o", capsize=3,
                            yerr=[[p[1].mean - p[1].low for p in points], [p[1].high - p[1].mean for p in points]])
            ax.set_title(_titled(tag), fontsize=10)
            ax.set_xlabel(x_key or "setting")
            if x_key and points and _log_axis(x_key, [p[0] for p in points]):
                ax.set_xscale("log", base=2 if "batch_size" in x_key else 10)
                ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_major_formatter(ScalarFormatter(useOffset=False))  # 1.0002, not "+1" and 0.0002
        fig.suptitle("mean over seeds, bars min-max, grey dots each seed" if study.several_seeds else "", fontsize=9)
        _save(plt, fig, folder / "report_finals.png")
        names.append("report_finals.png")
    curves = [tag for tag in CURVES if any(tag in j.curves for j in jobs)]
    if not curves:
        return names
    for axis, name in AXES.items():
        if axis == "images seen" and not all(j.images_per_iteration for j in jobs):
            continue
        if axis == "training seconds" and not any(j.clock or j.speed > 0 for j in jobs):
            continue
        fig, axes = _panels(plt, len(curves))
        for ax, tag in zip(axes, curves):
            for setting in settings:
                runs = [j for j in setting.runs if tag in j.curves]
                if not runs:
                    continue
                # the steps every seed logged: their mean, and the seeds' min-max as a band
                steps = sorted(set.intersection(*[{s for s, _ in j.curves[tag]} for j in runs]))
                if not steps:
                    continue
                values = np.array([[dict(j.curves[tag])[s] for s in steps] for j in runs])
                if axis == "iteration":
                    x = np.array(steps, dtype=float)
                elif axis == "images seen":
                    x = np.array(steps, dtype=float) * runs[0].images_per_iteration
                else:
                    x = np.array([[j.seconds_at(s) for s in steps] for j in runs]).mean(axis=0)
                label = setting.label if keys else _label(runs[0], study.keys)
                if len(runs) > 1:
                    label += f" (n={len(runs)})"
                # markers: a run that evaluated once still shows its point
                line, = ax.plot(x, values.mean(axis=0), label=label, linewidth=1, marker="o", markersize=3)
                if len(runs) > 1:
                    ax.fill_between(x, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.2)
            ax.set_title(_titled(tag), fontsize=10)
            ax.set_xlabel(axis)
            ax.yaxis.set_major_formatter(ScalarFormatter(useOffset=False))
        axes[len(curves) - 1].legend(fontsize=8)
        if study.several_seeds:
            fig.suptitle("mean over seeds, band min-max", fontsize=9)
        _save(plt, fig, folder / name)
        names.append(name)
    return names


def _save(plt, fig, path: Path) -> None:
    try:
        write_whole(path, lambda file: fig.savefig(file, format="png", dpi=90), FIX)
    finally:
        plt.close(fig)


def _panels(plt, count: int):
    """``count`` panels of a legible size, wrapped ``PANELS_A_ROW`` to a row; the unused ones hidden."""
    rows = math.ceil(count / PANELS_A_ROW)
    columns = min(count, PANELS_A_ROW)
    # constrained layout makes room for long setting names and legends; tight_layout gave up on them with a warning
    fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.4 * rows), squeeze=False, layout="constrained")
    flat = list(axes.flat)
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat


def _titled(tag: str) -> str:
    side = tags.better(tag)
    return f"{tag} ({side} is better)" if side else tag


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


def _row(cells) -> str:
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _settings_table(study: Study) -> str:
    """Each setting over its seeds: mean ± standard deviation [min, max] (n) of every final score."""
    scored = [*study.finals, *(_at_images(t, i) for t, i in study.equal_images.items())]
    head = [*study.setting_keys, "seeds", "status", "training s (mean)", "images seen",
            *(_titled(t) for t in study.finals),
            *(f"{_titled(t)} at {i:,} images seen" for t, i in study.equal_images.items())]
    rows = []
    for setting in study.settings:
        statuses = [j.status for j in setting.runs]
        finished = statuses.count("finished")
        status = f"{finished} of {len(statuses)} finished" + "".join(
            f"; {html.escape(s)}" for s in dict.fromkeys(statuses) if s != "finished")
        seconds = [j.seconds for j in setting.runs if not math.isnan(j.seconds)]
        images = {j.images_seen for j in setting.runs if j.images_seen}
        cells = [*(html.escape(setting.values[k]) for k in study.setting_keys), html.escape(", ".join(setting.seeds)),
                 status, f"{sum(seconds) / len(seconds):.1f}" if seconds else "",
                 f"{max(images):,}" if images else ""]
        for name in scored:
            if name in study.finals:
                values = _values(setting, name)
            else:
                tag = next(t for t, i in study.equal_images.items() if _at_images(t, i) == name)
                values = _values_at(setting, tag, study.equal_images[tag])
            cell = ("<br>".join(html.escape(part) for part in seeds.summarise(values).shown("\n").split("\n"))
                    if values else "")
            verdict = study.verdicts.get(name)
            if verdict is not None and verdict.better is setting:
                cell = f'<b>{cell}</b><br><span class="better">better beyond the seeds\' spread</span>'
            cells.append(cell)
        rows.append(_row(cells))
    return (f'<table id="settings"><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in head)}</tr>'
            f'{"".join(rows)}</table>')


def _runs_table(study: Study, folder_names: bool) -> str:
    jobs, keys, finals = study.jobs, study.keys, study.finals
    head = ["job", *keys, "status", "iterations", "training s", "it/s", "images seen", *(_titled(t) for t in finals),
            *(f"{_titled(t)} at {i:,} images seen" for t, i in study.equal_images.items())]
    rows = []
    for job in jobs:
        cells = [html.escape(str(c)) for c in (job.folder.name if folder_names else job.folder.name.split("_")[0],
                 *(job.overrides.get(k, "") for k in keys), job.status, str(job.iterations),
                 _shown(job.seconds), _shown(job.speed), f"{job.images_seen:,}" if job.images_seen else "")]
        cells += [tags.shown(tag, job.finals[tag]) if tag in job.finals else "" for tag in finals]
        cells += [tags.shown(t, v) if (v := score_at_images(job, t, i)) is not None else ""
                  for t, i in study.equal_images.items()]
        rows.append(_row(cells))
    return f'<table id="runs"><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in head)}</tr>{"".join(rows)}</table>'


def _grids(folder: Path, study: Study) -> str:
    """One row a setting, one grid a seed."""
    parts = []
    for setting in study.settings:
        figures = "".join(
            f'<figure><img src="{html.escape(str(j.last_grid.relative_to(folder)))}" width="256">'
            f"<figcaption>{html.escape(_label(j, study.keys))}<br>iteration "
            f"{j.last_grid.stem.split('_')[-1].lstrip('0') or 0}</figcaption></figure>"
            for j in setting.runs if j.last_grid is not None)
        if figures:
            parts.append(f"<div>{figures}</div>")
    return "".join(parts)


def answer(study: Study) -> str:
    """A paragraph that answers the sweep's question from its numbers: which value of the swept
    key is better, told apart from seed noise or not, and what each costs. FID (the project's
    main score) in full, the other scores in a sentence."""
    if not study.several_seeds or len(study.settings) < 2 or not study.verdicts:
        return ""
    what = " and ".join(study.setting_keys) or "setting"
    n = sorted({len(s.runs) for s in study.settings})
    iterations = sorted({j.iterations for j in study.jobs})
    sentences = [f"Which {what}? {len(study.settings)} settings, {'-'.join(map(str, dict.fromkeys([n[0], n[-1]])))} "
                 f"seeds each, {'-'.join(map(str, dict.fromkeys([iterations[0], iterations[-1]])))} iterations."]
    verdicts = list(study.verdicts.values())
    main = [v for v in verdicts if "fid" in v.tag] or verdicts
    rest = [v for v in verdicts if v not in main]
    for verdict in main:
        sentences.append(f"On {verdict.tag}, {verdict.reason}.")
    if rest_marked := [v for v in rest if v.better is not None]:
        sentences.append("On " + "; on ".join(f"{v.tag} {v.better.label} is better" for v in rest_marked)
                         + ", beyond the seeds' spread.")
    if rest_noise := [v for v in rest if v.better is None]:
        sentences.append(f"On {', '.join(v.tag for v in rest_noise)} no setting is better beyond the seeds' spread.")
    timed = [(s, [j.seconds for j in s.runs if not math.isnan(j.seconds)]) for s in study.settings]
    timed = [(s, sum(v) / len(v)) for s, v in timed if v]
    if len(timed) > 1:
        fastest, slowest = min(timed, key=lambda t: t[1]), max(timed, key=lambda t: t[1])
        sentences.append(f"Training took {fastest[1]:.0f} s ({fastest[0].label}) to {slowest[1]:.0f} s "
                         f"({slowest[0].label}) a run.")
    if marked := [v for v in main if v.better is not None]:
        winners: dict[str, list[str]] = {}
        for verdict in marked:
            winners.setdefault(verdict.better.label, []).append(verdict.tag)
        within = [v.tag for v in main if v.better is None]
        sentences.append("So, beyond the seeds' spread: " + "; ".join(
            f"{label} is better on {', '.join(scores)}" for label, scores in winners.items())
            + (f"; on {', '.join(within)} the settings are within seed noise." if within else "."))
    else:
        cheapest = f" (here {fastest[0].label})" if len(timed) > 1 else ""
        sentences.append(f"So these runs do not single out one setting: the best {main[0].tag} is within seed noise "
                         f"of others, and choosing by the best value would be choosing by the seed. Among the settings "
                         f"it cannot tell apart, take the cheapest{cheapest}, or add seeds or iterations to resolve "
                         f"smaller differences.")
    return " ".join(sentences)


def _html(folder: Path, study: Study, plots: list[str]) -> str:
    jobs, keys = study.jobs, study.keys
    fixed = fixed_settings(jobs, keys) if len(jobs) > 1 else {}
    grids = _grids(folder, study)
    images = "".join(f'<p><img src="{name}"></p>' for name in plots)
    summary = ""
    if study.several_seeds:
        verdicts = "".join(f"<li>{html.escape(v.line)}</li>" for v in study.verdicts.values())
        summary = (f"<h2>Settings over seeds</h2>{_settings_table(study)}"
                   f"<p>Each cell: mean ± standard deviation [min, max] (n seeds). Marked better: a setting whose "
                   f"seeds are told apart from every other setting's by {html.escape(seeds.TEST)}; otherwise "
                   f"the score is within seed noise.</p><ul>{verdicts}</ul>")
    elif study.one_seed:
        summary = f'<p class="note"><b>{html.escape(study.lines()[0])}</b></p>'
    settings = f"{len(study.settings)} setting(s) × seeds" if study.several_seeds else ""
    paragraph = answer(study)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(folder.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;margin-bottom:1em}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} #settings td{{white-space:nowrap}} figure{{display:inline-block;margin:6px}}
figcaption{{font-size:11px;text-align:center}} .better{{color:#070;font-size:11px}}
.note{{background:#fff4d6;padding:6px}}</style></head><body>
<h1>{html.escape(str(folder))}</h1>
<p>{len(jobs)} run(s){", swept: " + html.escape(", ".join(keys)) if keys and len(jobs) > 1 else ""}
{"(" + html.escape(settings) + ")" if settings else ""}; the full table is in <a href="report.csv">report.csv</a></p>
{"<p>Held fixed: " + html.escape(", ".join(f"{k}={v}" for k, v in fixed.items())) + "</p>" if fixed else ""}
{summary}
<h2>Runs</h2>
{_runs_table(study, folder_names=len(jobs) == 1)}
<h2>Plots</h2>{images or "<p>nothing logged yet</p>"}
<h2>Last sample grids</h2>{grids or "<p>no grids yet</p>"}
{f'<h2>Answer</h2><p id="answer">{html.escape(paragraph)}</p>' if paragraph else ""}
</body></html>
"""
