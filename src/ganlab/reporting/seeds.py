"""A sweep's runs grouped by setting: runs that differ only in ``seed`` are one setting, summarised
over their seeds, and settings are compared by a standard test rather than by their best value.

A GAN's scores move with the seed alone (benchmarks/README.md, "Seed spread"), so a setting is
called better only when Welch's t-test (scipy) tells its seeds apart from every other setting's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

SEED = "seed"
ALPHA = 0.05
TEST = ("Welch's t-test (two-sided, scipy.stats.ttest_ind with equal_var=False) of the best mean "
        f"against each other setting, Holm-corrected at {ALPHA:.0%}")

# What one seed's differences must beat, by recipe (model, loss): measured on main, the figures of
# benchmarks/README.md, "Seed spread". A recipe without one is told to measure it.
MEASURED_SPREAD = {
    ("mlp", "bce"): "on the book's GAN (model=mlp, loss=bce, batch 32/128/512, 3000 iterations) three seeds' "
                    "final FIDs spread 5.5 to 12.2 (max - min within one batch size; benchmarks/README.md, "
                    "\"Seed spread\")",
}


@dataclass
class Summary:
    n: int
    mean: float
    std: float  # over the seeds (n - 1 in the denominator); nan for one seed
    low: float
    high: float

    def shown(self, between: str = " ") -> str:
        """``between``: what separates the mean ± std from the range (a table cell breaks the line)."""
        if self.n == 1:
            return f"{self.mean:.4g}{between}(n=1)"
        return f"{self.mean:.4g} ± {self.std:.2g}{between}[{self.low:.4g}, {self.high:.4g}] (n={self.n})"


def summarise(values: Sequence[float]) -> Summary:
    values = [float(v) for v in values]
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return Summary(n, mean, std, min(values), max(values))


@dataclass
class Setting:
    """The runs of one setting: ``values`` says what the swept keys other than ``seed`` are."""

    values: dict[str, str]
    runs: list = field(default_factory=list)

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.values.items()) or "all runs"

    @property
    def seeds(self) -> list[str]:
        return [run.overrides.get(SEED, "") for run in self.runs]


def group(runs: Sequence, keys: Sequence[str]) -> list[Setting]:
    """Settings in the order their first run comes; ``runs`` have ``overrides`` (a dict)."""
    settings: dict[tuple, Setting] = {}
    shared = [k for k in keys if k != SEED]
    for run in runs:
        values = {k: run.overrides.get(k, "") for k in shared}
        settings.setdefault(tuple(values.values()), Setting(values)).runs.append(run)
    return list(settings.values())


@dataclass
class Verdict:
    """How one score compares the settings: ``better`` is the setting marked (None: within seed noise)."""

    tag: str
    leader: Setting | None  # the best mean
    better: Setting | None
    p_values: dict[str, float]  # the leader against each other setting, by label (Holm-adjusted)
    reason: str

    @property
    def line(self) -> str:
        return f"{self.tag}: {self.reason}"


def judge(tag: str, settings: Sequence[Setting], scores: Callable[[Setting], list[float]],
          better: Callable) -> Verdict | None:
    """``scores(setting)``: the setting's values of ``tag``, one a seed; ``better``: min or max.
    None when fewer than two settings have a value."""
    scored = [(s, scores(s)) for s in settings]
    scored = [(s, v) for s, v in scored if v]
    if len(scored) < 2:
        return None
    everything = [value for _, v in scored for value in v]
    if min(everything) == max(everything):
        return Verdict(tag, None, None, {}, f"every run scores {everything[0]:.4g}: nothing to tell apart")
    means = {id(s): sum(v) / len(v) for s, v in scored}
    leader, leader_values = better(scored, key=lambda sv: means[id(sv[0])])
    shown = f"{leader.label} ({summarise(leader_values).shown()})"
    if any(len(v) < 2 for _, v in scored):
        few = sorted({len(v) for _, v in scored})[0]
        return Verdict(tag, leader, None, {}, f"within seed noise: the best mean is {shown}, but a setting "
                       f"with {few} seed cannot be tested against the others (run seed=0,1,2)")
    from scipy.stats import ttest_ind

    raw = {}
    for setting, values in scored:
        if setting is leader:
            continue
        p = float(ttest_ind(leader_values, values, equal_var=False).pvalue)
        tied = means[id(setting)] == means[id(leader)]
        raw[setting.label] = 1.0 if tied or math.isnan(p) else p  # nan: both without spread, the same values
    adjusted = _holm(raw)
    if all(p < ALPHA for p in adjusted.values()):
        worst = max(adjusted.values())
        return Verdict(tag, leader, leader, adjusted, f"{shown} is better than every other setting beyond the "
                       f"seeds' spread (p <= {worst:.2g} against each)")
    close = ", ".join(f"{label} (p={p:.2g})" for label, p in adjusted.items() if p >= ALPHA)
    ahead = ", ".join(label for label, p in adjusted.items() if p < ALPHA)
    return Verdict(tag, leader, None, adjusted, f"within seed noise: the best mean is {shown}, not told apart "
                   f"from {close}" + (f"; better than {ahead} beyond the seeds' spread" if ahead else ""))


def _holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment: each p-value times the hypotheses left, kept monotonic."""
    ordered = sorted(p_values.items(), key=lambda kv: kv[1])
    adjusted, running = {}, 0.0
    for i, (label, p) in enumerate(ordered):
        running = max(running, min(1.0, p * (len(ordered) - i)))
        adjusted[label] = running
    return adjusted


def one_seed_note(recipes: set[tuple[str, str]]) -> str:
    """What a sweep with one seed per setting can claim, with the measured seed spread of its recipe
    (``recipes``: the (model, loss) of its runs; none known: the project's measurement all the same)."""
    known = [MEASURED_SPREAD[r] for r in sorted(recipes) if r in MEASURED_SPREAD]
    unknown = sorted(f"model={m}, loss={lo}" for m, lo in recipes if (m, lo) not in MEASURED_SPREAD)
    if known:
        figures = "; ".join(known)
        if unknown:
            figures += f"; none is measured for {', '.join(unknown)}"
    else:
        which = ", ".join(unknown) if unknown else "these runs' recipe (not recorded)"
        figures = f"none is measured for {which}; for comparison, {next(iter(MEASURED_SPREAD.values()))}"
    return ("One seed per setting: differences between these runs are not evidence unless they are larger "
            f"than the seeds' spread for the recipe ({figures}). Sweep seed=0,1,2 as well to tell them apart.")
