"""The names of what a run logs, and what each one means.

TensorBoard groups a run's charts by the part of the tag before the first ``/`` and sorts the groups
by name, on the SCALARS page and on Time Series, its first screen. The numbers put the groups in the
order a learner reads a GAN: the game (both losses), D's view of it, then the samples' quality,
then time. ``final/*`` (the HPARAMS tab's columns) sorts after them. Every tag's description below
is written into the event file with its first value (reporting/tensorboard.py), and TensorBoard
shows it on the chart.
"""

from __future__ import annotations

import re

LOSSES, DISCRIMINATOR, CONFUSION, QUALITY, DIGITS, TIME = (
    "1_losses", "2_discriminator", "3_confusion", "4_quality", "5_digits", "6_time")

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

# Scores of the samples' digits as a set (which digits, how many of each) rather than of each image
_DIGIT_SCORES = re.compile(r"(min_)?class_share(_\d)?|class_kl|(min_)?label_accuracy")


def score(name: str) -> str:
    """The tag of a sample-quality score by its name in metrics/quality.py: ``fid`` -> ``4_quality/fid``."""
    return f"{DIGITS if _DIGIT_SCORES.fullmatch(name) else QUALITY}/{name}"


def final(name: str) -> str:
    """The HPARAMS column of a metric's last value: ``final/fid``, ``final/d_loss``."""
    return f"final/{name}"


def is_score(tag: str) -> bool:
    return tag.startswith((f"{QUALITY}/", f"{DIGITS}/"))


_D_IS_LOGIT = "(loss=bce; other losses log D_output)"
DESCRIPTIONS = {
    D_LOSS: "D's loss: the mean of its update on a real batch (label 1) and on a generated one (label 0). "
            "Neither low nor high is 'better': a GAN is a game, and D's loss near 0 for long means D has won.",
    G_LOSS: "G's loss: how far D is from calling G(z) real. It rises when D gets better and falls when G "
            "fools D; a steady climb with D's loss near 0 means G has lost the game.",
    D_ACCURACY: "The book's D accuracy: the mean of D's accuracy on the real batch and on the generated one. "
                "0.5 is a D that cannot tell; near 1.0 for long means G is not fooling it.",
    D_REAL: f"D's mean probability that a real image is real {_D_IS_LOGIT}.",
    D_FAKE: f"D's mean probability that a generated image is real: G wants it high {_D_IS_LOGIT}.",
    D_OUTPUT_REAL: "D's mean raw output on real images (losses whose output is not a logit).",
    D_OUTPUT_FAKE: "D's mean raw output on generated images (losses whose output is not a logit).",
    TRUE_POSITIVE: "Confusion matrix (chapter 3.2.2) as a rate: real images D calls real. Real is the positive class.",
    FALSE_NEGATIVE: "Confusion matrix as a rate: real images D calls fake.",
    TRUE_NEGATIVE: "Confusion matrix as a rate: generated images D calls fake.",
    FALSE_POSITIVE: "Confusion matrix as a rate: generated images D calls real (G fooled D).",
    score("fid"): "Lower is better. FID: the Frechet distance between the features of generated and real "
                  "test digits under the project's MNIST classifier; real images score near 0.",
    score("classifier_score"): "Higher is better. The Inception Score with the MNIST classifier, 1 to 10: "
                               "confident and varied digits score high.",
    score("classifier_score_std"): "The classifier score's spread over the 10 splits of the samples it is "
                                   "averaged over.",
    score("precision"): "Higher is better. Improved precision (k=3): the share of samples that lie among real images.",
    score("recall"): "Higher is better. Improved recall (k=3): the share of real images the samples cover; "
                     "low recall with high precision is mode collapse.",
    score("min_class_share"): "Higher is better. The rarest digit's share of the samples: 0.1 when balanced, 0 "
                              "when a digit is never drawn.",
    score("class_kl"): "Lower is better. KL(digits drawn || uniform): 0 when every digit is drawn equally, 2.30 "
                       "when G draws one digit only.",
    score("label_accuracy"): "Higher is better. Conditional GANs: the share of samples the classifier reads as the "
                             "digit asked for.",
    score("min_label_accuracy"): "Higher is better. Conditional GANs: the worst digit's label accuracy.",
    **{score(f"class_share_{d}"): f"The share of samples the classifier reads as a {d}: 0.1 when balanced."
       for d in range(10)},
    TRAINING_SECONDS: "Seconds spent in training iterations so far, without start-up, evaluation, grids "
                      "or checkpoints (reporting/clock.py).",
    EVALUATION_SECONDS: "Seconds the last sample-quality evaluation took (sampling and scoring).",
}
DESCRIPTIONS.update({final(tag.split("/", 1)[1]): f"The run's last value of {tag}, a column of the HPARAMS tab."
                     for tag in (D_LOSS, G_LOSS, score("fid"), score("classifier_score"), score("precision"),
                                 score("recall"), score("min_class_share"), score("class_kl"),
                                 score("label_accuracy"))})
DESCRIPTIONS[final("d_accuracy")] = f"The run's last value of {D_ACCURACY}, a column of the HPARAMS tab."

# Names runs logged before the tags were numbered: a resumed run's history and an old run's report
FORMER = {"train/d_loss": D_LOSS, "train/g_loss": G_LOSS, "train/d_accuracy": D_ACCURACY,
          "d_loss": D_LOSS, "g_loss": G_LOSS, "d_accuracy": D_ACCURACY, "eval/fid": score("fid"),
          "time/training_seconds": TRAINING_SECONDS}
