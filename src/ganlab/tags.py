"""What a run measures: one entry a value, and every reader reads it here.

Each ``Measure`` is one value a run logs: its TensorBoard tag (``<group>/<name>``), what it means,
which way is better, whether it is a headline score, how it prints, and the chart it is drawn on.
The readers: the console summary (reporting/console.py), TensorBoard's chart descriptions
(reporting/tensorboard.py), its CUSTOM SCALARS layout and HPARAMS columns (reporting/hparams.py),
the ``final/*`` values (reporting/finals.py), the sweep report (reporting/sweep_page.py),
evaluate.py's table (evaluation.py), the names ``optimized_metric`` accepts (search/objective.py,
for the sweeper and for training) and the engine's hand-over of the last iteration (engine.py).
A value of your own is one ``register(Measure(...))`` beside the code that logs it (README,
"Extending"); the module that registers it is imported before a sweep checks its metric names
(``import_measures_of``).

TensorBoard groups a run's charts by the part of the tag before the first ``/`` and sorts the groups
by name, on the SCALARS page and on Time Series, its first screen. The numbers put the groups in the
order a learner reads a GAN: the game (both losses), D's view of it, then the samples' quality,
then time. ``final/*`` (the HPARAMS tab's columns) sorts after them.

The module keeps its first name, ``tags``: every place that logs a value names it ``tags.X``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LOSSES, DISCRIMINATOR, CONFUSION, QUALITY, DIGITS, TIME = (
    "1_losses", "2_discriminator", "3_confusion", "4_quality", "5_digits", "6_time")
FINAL = "final"
BETTER_SIDES = ("lower", "higher")


@dataclass(frozen=True)
class Measure:
    """One value a run logs.

    - ``tag``: its TensorBoard tag, ``<group>/<name>``; TensorBoard groups the charts by the group.
    - ``description``: shown on its chart; "Lower is better." or "Higher is better." goes before it.
    - ``better``: ``"lower"``, ``"higher"``, or None where neither side is better (a loss in a game).
    - ``headline``: it stands for the run: its last value is logged as ``final/<name>`` (a column of
      HPARAMS and of the sweep report), and it is a line of the console summary and of evaluate.py's table.
    - ``name``: its short name (a score's key in metrics/quality.py; ``final/<name>``); default: the
      tag after its group.
    - ``label``: what the console summary calls it; default: its name.
    - ``format``: how its value prints (a format spec), in the summary and the report.
    - ``chart``: its chart in TensorBoard's CUSTOM SCALARS tab (values with the same chart are drawn
      together); None: not in that tab.
    """

    tag: str
    description: str
    better: str | None = None
    headline: bool = False
    name: str = ""
    label: str = ""
    format: str = ".4g"
    chart: str | None = None

    def __post_init__(self) -> None:
        group, _, tail = self.tag.partition("/")
        if not group or not tail or group == FINAL:
            raise ValueError(f"Measure tag {self.tag!r}: give '<group>/<name>' (final/* are written for headline values)")
        if self.better not in (None, *BETTER_SIDES):
            raise ValueError(f"Measure {self.tag}: better={self.better!r}, give 'lower', 'higher' or None")
        format(0.5, self.format)  # a bad format spec fails here, not at the end of a run
        object.__setattr__(self, "name", self.name or tail)
        object.__setattr__(self, "label", self.label or self.name)

    @property
    def group(self) -> str:
        return self.tag.split("/", 1)[0]

    @property
    def final(self) -> str:
        return final(self.name)

    @property
    def is_score(self) -> bool:
        return self.group in (QUALITY, DIGITS)

    @property
    def text(self) -> str:
        """The description as TensorBoard shows it: which way is better first."""
        return f"{self.better.capitalize()} is better. {self.description}" if self.better else self.description

    def shown(self, value: float) -> str:
        return format(value, self.format)


MEASURES: dict[str, Measure] = {}


def register(*measures: Measure) -> None:
    """Adds measures to the registry. A tag already registered with other facts is refused: two
    modules would be describing one value two ways."""
    for measure in measures:
        known = MEASURES.get(measure.tag)
        if known is not None and known != measure:
            raise ValueError(f"{measure.tag} is registered already, as {known}")
        if known is None and measure.headline and any(m.headline and m.name == measure.name for m in MEASURES.values()):
            raise ValueError(f"{measure.tag}: another headline measure is named {measure.name!r} (final/{measure.name})")
        MEASURES[measure.tag] = measure


def measure(tag: str) -> Measure | None:
    """The registered measure of a tag, or of a headline measure's ``final/<name>``."""
    if tag.startswith(f"{FINAL}/"):
        return next((m for m in MEASURES.values() if m.headline and m.final == tag), None)
    return MEASURES.get(tag)


def headline() -> list[Measure]:
    return [m for m in MEASURES.values() if m.headline]


def finals() -> list[str]:
    """The ``final/*`` columns, in the registry's order."""
    return [m.final for m in headline()]


def description(tag: str) -> str | None:
    """What TensorBoard shows on a tag's chart; None for a tag nobody registered."""
    if tag.startswith(f"{FINAL}/"):
        found = measure(tag)
        return f"The run's last value of {found.tag}, a column of the HPARAMS tab." if found else None
    found = MEASURES.get(tag)
    return found.text if found else None


def better(tag: str) -> str | None:
    """``"lower"``, ``"higher"`` or None, for a tag or a ``final/*`` column."""
    found = measure(tag)
    return found.better if found else None


def shown(tag: str, value: float) -> str:
    found = measure(tag)
    return found.shown(value) if found else f"{value:.4g}"


def score(name: str) -> str:
    """The tag of a sample-quality score by its name in metrics/quality.py: ``fid`` -> ``4_quality/fid``."""
    found = next((m for m in MEASURES.values() if m.is_score and m.name == name), None)
    return found.tag if found else f"{QUALITY}/{name}"


def final(name: str) -> str:
    """The HPARAMS column of a metric's last value: ``final/fid``, ``final/d_loss``."""
    return f"{FINAL}/{name}"


def is_score(tag: str) -> bool:
    return tag.startswith((f"{QUALITY}/", f"{DIGITS}/"))


def optimisable() -> list[str]:
    """What a run returns that a sweeper may optimise (``optimized_metric``): every registered value."""
    return sorted(MEASURES)


def measured(values: Mapping[str, Any]) -> dict[str, float]:
    """The registered values among ``values`` (e.g. ``trainer.callback_metrics``), as floats."""
    return {tag: float(value) for tag, value in values.items() if tag in MEASURES}


def import_measures_of(cfg: Mapping) -> None:
    """Imports the module of each callback ``cfg`` names (``callbacks.<key>._target_``), so that the
    measures it registers are known in a process that builds no run (the sweeper, checking
    ``optimized_metric`` before its first trial). A module that does not import is left to the run,
    which says why when it builds its callbacks."""
    for callback in (cfg.get("callbacks") or {}).values():
        target = callback.get("_target_") if hasattr(callback, "get") else None
        # the project's own measures are all registered below, and Lightning's callbacks register
        # none: importing those (torch, Lightning: seconds) would tell nothing
        if isinstance(target, str) and "." in target and not target.startswith(("ganlab.", "lightning.")):
            try:
                importlib.import_module(target.rsplit(".", 1)[0])
            except Exception:  # noqa: BLE001  instantiating it fails the run with its own error, in one line
                continue


def in_order(tags: Iterable[str]) -> list[str]:
    """Tags in the registry's order, those it does not know after them by name."""
    tags = list(dict.fromkeys(tags))
    order = {tag: i for i, tag in enumerate([*MEASURES, *finals()])}
    return sorted(tags, key=lambda t: (order.get(t, len(order)), t))


# ----- the project's own measures -----

D_LOSS = f"{LOSSES}/d_loss"
G_LOSS = f"{LOSSES}/g_loss"
D_ACCURACY = f"{DISCRIMINATOR}/accuracy"
D_REAL = f"{DISCRIMINATOR}/D(x)"
D_FAKE = f"{DISCRIMINATOR}/D(G(z))"
D_OUTPUT_REAL = f"{DISCRIMINATOR}/D_output(x)"
D_OUTPUT_FAKE = f"{DISCRIMINATOR}/D_output(G(z))"
TRUE_POSITIVE, FALSE_NEGATIVE, TRUE_NEGATIVE, FALSE_POSITIVE = (
    f"{CONFUSION}/{rate}" for rate in ("true_positive", "false_negative", "true_negative", "false_positive"))
TRAINING_SECONDS = f"{TIME}/training_seconds"
EVALUATION_SECONDS = f"{TIME}/evaluation_seconds"

_D_IS_LOGIT = "(loss=bce; other losses log D_output)"
_ON_D = "D on real and generated images"
_CONFUSION = "confusion matrix (rates)"
register(
    Measure(D_LOSS, "D's loss: the mean of its update on a real batch (label 1) and on a generated one (label 0). "
                    "Neither low nor high is 'better': a GAN is a game, and D's loss near 0 for long means D has won.",
            headline=True, chart="losses: D and G"),
    Measure(G_LOSS, "G's loss: how far D is from calling G(z) real. It rises when D gets better and falls when G "
                    "fools D; a steady climb with D's loss near 0 means G has lost the game.",
            headline=True, chart="losses: D and G"),
    Measure(D_ACCURACY, "The book's D accuracy: the mean of D's accuracy on the real batch and on the generated one. "
                        "0.5 is a D that cannot tell; near 1.0 for long means G is not fooling it.",
            headline=True, name="d_accuracy", chart="D's accuracy (the book's)"),
    Measure(D_REAL, f"D's mean probability that a real image is real {_D_IS_LOGIT}.", chart=_ON_D),
    Measure(D_FAKE, f"D's mean probability that a generated image is real: G wants it high {_D_IS_LOGIT}.", chart=_ON_D),
    Measure(D_OUTPUT_REAL, "D's mean raw output on real images (losses whose output is not a logit).", chart=_ON_D),
    Measure(D_OUTPUT_FAKE, "D's mean raw output on generated images (losses whose output is not a logit).", chart=_ON_D),
    Measure(TRUE_POSITIVE, "Confusion matrix (chapter 3.2.2) as a rate: real images D calls real. Real is the "
                           "positive class.", chart=_CONFUSION),
    Measure(FALSE_NEGATIVE, "Confusion matrix as a rate: real images D calls fake.", chart=_CONFUSION),
    Measure(TRUE_NEGATIVE, "Confusion matrix as a rate: generated images D calls fake.", chart=_CONFUSION),
    Measure(FALSE_POSITIVE, "Confusion matrix as a rate: generated images D calls real (G fooled D).", chart=_CONFUSION),
    # The samples' quality (metrics/quality.py), by the names it returns; the digits as a set (which
    # digits, how many of each) in a group of their own
    Measure(f"{QUALITY}/fid", "FID: the Frechet distance between the features of generated and real test digits "
                              "under the project's MNIST classifier; real images score near 0.",
            better="lower", headline=True, label="FID", chart="FID (lower is better)"),
    Measure(f"{QUALITY}/classifier_score", "The Inception Score with the MNIST classifier, 1 to 10: confident and "
                                           "varied digits score high.",
            better="higher", headline=True, label="classifier score", chart="classifier score (higher is better, 1-10)"),
    Measure(f"{QUALITY}/precision", "Improved precision (k=3): the share of samples that lie among real images.",
            better="higher", headline=True, chart="precision and recall (higher is better)"),
    Measure(f"{QUALITY}/recall", "Improved recall (k=3): the share of real images the samples cover; low recall with "
                                 "high precision is mode collapse.",
            better="higher", headline=True, chart="precision and recall (higher is better)"),
    Measure(f"{DIGITS}/min_class_share", "The rarest digit's share of the samples: 0.1 when balanced, 0 when a "
                                         "digit is never drawn.",
            better="higher", headline=True, label="smallest digit share", chart="digit balance"),
    Measure(f"{DIGITS}/class_kl", "KL(digits drawn || uniform): 0 when every digit is drawn equally, 2.30 when G "
                                  "draws one digit only.",
            better="lower", headline=True, label="digit imbalance (KL)", chart="digit balance"),
    Measure(f"{DIGITS}/label_accuracy", "Conditional GANs: the share of samples the classifier reads as the digit "
                                        "asked for.",
            better="higher", headline=True, label="digit asked for, drawn"),
    Measure(f"{DIGITS}/min_label_accuracy", "Conditional GANs: the worst digit's label accuracy.", better="higher"),
    *(Measure(f"{DIGITS}/class_share_{d}", f"The share of samples the classifier reads as a {d}: 0.1 when balanced.")
      for d in range(10)),
    Measure(f"{QUALITY}/classifier_score_std", "The classifier score's spread over the 10 splits of the samples it "
                                               "is averaged over."),
    Measure(TRAINING_SECONDS, "Seconds spent in training iterations so far, without start-up, evaluation, grids or "
                              "checkpoints (reporting/clock.py).", chart="training time, s (reporting/clock.py)"),
    Measure(EVALUATION_SECONDS, "Seconds the last sample-quality evaluation took (sampling and scoring)."),
)

# Names runs logged before the tags were numbered: a resumed run's history and an old run's report
FORMER = {"train/d_loss": D_LOSS, "train/g_loss": G_LOSS, "train/d_accuracy": D_ACCURACY,
          "d_loss": D_LOSS, "g_loss": G_LOSS, "d_accuracy": D_ACCURACY, "eval/fid": score("fid"),
          "time/training_seconds": TRAINING_SECONDS}


def current(tag: str) -> str:
    """A tag by today's name (an old run's ``train/d_loss`` is ``1_losses/d_loss``)."""
    return FORMER.get(tag, tag)
