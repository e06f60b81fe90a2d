"""What loggers are told about a run: its whole config, and for TensorBoard's HPARAMS tab the
settings that define it with the ``final/*`` metrics as columns."""

from __future__ import annotations

import re

import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from ganlab import tags


def log_hyperparameters(trainer: L.Trainer, cfg: DictConfig) -> None:
    """The run's config goes to every logger (TensorBoard keeps it as hparams.yaml). TensorBoard's
    HPARAMS tab gets what defines the run (``run_definition``), with the ``final/*`` value of every
    headline measure (tags.py; logged when training ends, reporting/finals.py) as its metric columns."""
    params = _without_plumbing(OmegaConf.to_container(cfg, resolve=True))
    final = tags.finals()
    for logger in trainer.loggers:
        logger.log_hyperparams(params)
        if isinstance(logger, TensorBoardLogger):
            declare_hparams(logger, run_definition(cfg), final)
            declare_layout(logger)


def _exactly(tag: str) -> str:
    return f"^{re.escape(tag)}$"  # the layout's tags are regular expressions


# TensorBoard's CUSTOM SCALARS tab, in the order a learner reads a GAN: the game (both losses on
# one chart), D's view of it, then the samples' quality. A group of values of one's own gets a
# section named by its group.
SECTIONS = {tags.LOSSES: "1. The game", tags.DISCRIMINATOR: "2. D's view", tags.CONFUSION: "2. D's view",
            tags.QUALITY: "3. Sample quality", tags.DIGITS: "3. Sample quality", tags.TIME: "4. Speed"}


def layout() -> dict:
    """The CUSTOM SCALARS layout: each measure with a ``chart`` (tags.py), on its chart, in its group's section."""
    sections: dict[str, dict[str, list]] = {}
    for measure in tags.MEASURES.values():
        if measure.chart is not None:
            charts = sections.setdefault(SECTIONS.get(measure.group, measure.group), {})
            charts.setdefault(measure.chart, ["Multiline", []])[1].append(_exactly(measure.tag))
    return sections


@rank_zero_only
def declare_layout(logger: TensorBoardLogger) -> None:
    logger.experiment.add_custom_scalars(layout())


@rank_zero_only
def declare_hparams(logger: TensorBoardLogger, definition: dict, metric_names: list[str]) -> None:
    """Writes the HPARAMS summaries with the metrics declared by name only. Lightning's
    ``log_hyperparams(params, metrics)`` would also log each metric's placeholder value as a
    scalar, a NaN point at iteration 0 in every ``final/*`` chart."""
    from torch.utils.tensorboard.summary import hparams

    summaries = hparams(definition, dict.fromkeys(metric_names, 0.0))
    for summary in summaries:
        logger.experiment.file_writer.add_summary(summary)


# What defines a run, in the order HPARAMS shows them after the keys the command line set
DEFINING = ("model", "loss", "data.batch_size", "model.optimizer_g.lr", "model.optimizer_d.lr",
            "model.optimizer_g.betas", "model.optimizer_d.betas", "model.d_update", "model.d_steps_per_iteration",
            "model.ema_decay", "data.sampling", "seed", "trainer.max_steps", "trainer.devices")
_NOT_DEFINING = ("paths.", "hydra.", "callbacks.", "logger", "ckpt_path", "resume.", "trainer.enable_progress_bar",
                 "trainer.accelerator", "model.acceleration", "num_threads", "optimized_metric", "sample_interval",
                 "checkpoint_interval", "eval_interval", "trainer.log_every_n_steps")


def run_definition(cfg: DictConfig) -> dict[str, int | float | str | bool]:
    """The settings that say what a run trains, the ones set on the command line (a sweep's swept
    keys) first: no paths, ``_target_``s or intervals, which crowd the HPARAMS table."""
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    overridden = []
    if HydraConfig.initialized():
        for override in HydraConfig.get().overrides.task:
            key = override.split("=", 1)[0].lstrip("+~")
            if not key.startswith(_NOT_DEFINING) and key not in overridden:
                overridden.append(key)
    definition = {}
    # a group's choice (model=dcgan) as Hydra records it; without Hydra, the class it builds
    fallback = {"model": "model.generator._target_", "loss": "model.loss._target_"}
    for key in (*overridden, *DEFINING):
        if key in choices and "." not in key:
            value = choices[key]
        elif key in fallback:
            value = str(OmegaConf.select(cfg, fallback[key], default="")).rsplit(".", 1)[-1] or None
        else:
            value = OmegaConf.select(cfg, key, default=None)
            if OmegaConf.is_dict(value):
                continue  # a whole group (e.g. experiment=...): its keys are listed one by one
        if value is not None and not isinstance(value, (int, float, str, bool)):
            value = str(list(value) if OmegaConf.is_config(value) else value)
        definition.setdefault(key, "none" if value is None else value)
    return definition


# Settings that say where and how a run is recorded, not what is trained: they would only crowd
# the HPARAMS table.
_PLUMBING_GROUPS = ("paths", "callbacks", "logger", "ckpt_path", "optimized_metric", "search")
_PLUMBING_KEYS = ("_partial_", "_recursive_", "_convert_")


def _without_plumbing(params: dict) -> dict:
    def prune(node):
        if isinstance(node, dict):
            return {k: prune(v) for k, v in node.items() if k not in _PLUMBING_KEYS}
        return node

    return prune({k: v for k, v in params.items() if k not in _PLUMBING_GROUPS})
