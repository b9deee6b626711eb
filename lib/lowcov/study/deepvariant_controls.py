"""Chapter 6's batch-norm controls on DeepVariant's own network, for the ``deepvariant`` engine.

DeepVariant's ``train`` cannot hold batch norm's running statistics still, so the two controls that
separate what fine-tuning does to the statistics from what it does to the weights run outside the
container, on the network ``train`` fine-tunes (:mod:`lowcov.dvmodel`), and come back as DeepVariant
checkpoints that the container calls with:

* **V2, frozen BN** (:data:`lowcov.study.controls.FINE_TUNE_CONTROLS`' ``v2_frozen_bn``, the demo's control of
  the same name): V2's override lines plus ``freeze_batch_norm``, trained by lowcov's native trainer
  (``model_type=inception_v3``) from the published WGS checkpoint on the DeepVariant examples chapter 5 wrote;
  its selected checkpoint is written in DeepVariant's format (``write_deepvariant_checkpoint``) into
  ``models/deepvariant_v2_frozen_bn/deepvariant/best.ckpt``.
* **V2, original BN**: the checkpoint DeepVariant's ``train`` selected for V2 with the published model's
  batch-norm statistics put back (:func:`lowcov.batchnorm.with_batch_norm_statistics`), written as
  ``models/deepvariant_v2_original_bn/v2_original_bn.ckpt``.

Both are called on the test contig at full coverage and at the profile's fraction like V1 and V2
(:func:`lowcov.study.deepvariant.evaluate`), and :func:`lowcov.study.deepvariant.existing_fine_tuned` hands them
to chapter 7 beside V1 and V2 once they exist. Reading and writing the checkpoints needs TensorFlow (the
``deepvariant`` extra); :func:`missing_requirements` says so before anything runs.
"""
from __future__ import annotations

import importlib.util
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from ..checks import require_inputs
from ..layout import Layout
from ..manifest import run_stage
from ..train import TrainConfig, planned_steps
from .controls import fine_tune_controls
from .evaluation import DATASETS
from .fine_tuning import fine_tune, fine_tune_config
from .deepvariant import (PUBLISHED, TRAINING_SET, VALIDATION_SET, TrainingData, evaluate, experiment_dir,
                          require_published_model)

if TYPE_CHECKING:
    from ..benchmark import BenchmarkResult
    from ..engines.deepvariant import DeepVariantEngine
    from ..train import TrainResult

log = logging.getLogger(__name__)

#: the demo's control that this engine can run natively: V2's lines plus config.freeze_batch_norm=true
FROZEN_BN = fine_tune_controls(["v2_frozen_bn"])[0]
#: chapter 7's name for V2's selected checkpoint with the published model's batch-norm statistics
ORIGINAL_BN = "V2, original BN"
ORIGINAL_BN_SLUG = "v2_original_bn"
#: V2's override lines and the frozen statistics, on DeepVariant's network, with the selected checkpoint also
#: written in DeepVariant's format so that the container can call with it
FROZEN_BN_OVERRIDES = (*FROZEN_BN.overrides, "config.model_type=inception_v3",
                       "config.write_deepvariant_checkpoint=true")

#: throughput of DeepVariant's InceptionV3 on this project's 2-core machine, examples per second, batch 16,
#: one torch thread, measured with benchmarks/benchmark_dvmodel.py while other jobs ran (issue 13's note):
#: a guide to the order of magnitude of a CPU run, not a promise
CPU_TRAINING_RATE = 8.4
CPU_INFERENCE_RATE = 44.7


def frozen_bn_directory(layout: Layout) -> Path:
    return experiment_dir(layout, FROZEN_BN.slug)


def original_bn_prefix(layout: Layout) -> Path:
    return experiment_dir(layout, ORIGINAL_BN_SLUG) / f"{ORIGINAL_BN_SLUG}.ckpt"


def frozen_bn_prefix(layout: Layout) -> Path:
    """Where ``write_deepvariant_checkpoint`` puts the frozen-BN run's selected checkpoint."""
    return frozen_bn_directory(layout) / "deepvariant" / "best.ckpt"


def missing_requirements() -> list[str]:
    """Why the controls cannot run on this machine ([] when they can): TensorFlow reads and writes the
    checkpoints."""
    if importlib.util.find_spec("tensorflow") is None:
        return ["TensorFlow is not installed: DeepVariant's checkpoints are read and written with it "
                "(pip install 'lowcov[deepvariant]', then run this notebook again)"]
    return []


# -- (a) V2 with frozen batch norm, trained natively ------------------------------------------------------


def frozen_bn_config(engine: "DeepVariantEngine", execution_overrides: Sequence[str] = (),
                     threads: int = 2) -> TrainConfig:
    """V2's overrides, ``freeze_batch_norm`` and DeepVariant's network, from the published checkpoint."""
    return fine_tune_config(FROZEN_BN_OVERRIDES, _published_index(engine), execution_overrides, threads)


def _published_index(engine: "DeepVariantEngine") -> str:
    # the .index names the checkpoint to the trainer as its prefix does, and is a file the fine-tuning stage
    # can digest: it stores every tensor's CRC, so a replaced checkpoint retrains
    return f"{engine.init_checkpoint}.index"


def native_example_sets(data: TrainingData):
    """Chapter 5's DeepVariant examples as the native trainer reads them (converted once, beside them)."""
    from ..dvexamples import example_set_of
    from ..shards import ExampleSets

    return ExampleSets(example_set_of(data.pbtxt[TRAINING_SET]), example_set_of(data.pbtxt[VALIDATION_SET]))


@dataclass(frozen=True)
class TrainingPlan:
    """How much work a native run is, from its config and the example counts, before it starts."""

    n_train: int
    n_tune: int
    steps: int
    examples_trained: int
    tunes: int
    cpu_seconds: float


def training_plan(config: TrainConfig, n_train: int, n_tune: int) -> TrainingPlan:
    """The steps ``config`` runs on ``n_train`` examples (at most: early stopping may end it sooner), the
    examples those steps show the network, the tune evaluations (the warm start's, one per epoch and one
    per ``tune_every_steps``) and what that takes on this project's CPU (:data:`CPU_TRAINING_RATE`)."""
    steps_per_epoch, steps = planned_steps(config, n_train)
    epochs = math.ceil(steps / steps_per_epoch) if steps_per_epoch else 0
    examples = min(steps * config.batch_size, n_train * epochs)
    tune_size = n_tune if not config.num_validation_examples else min(n_tune, config.num_validation_examples)
    tunes = 1 + epochs + (steps // config.tune_every_steps if config.tune_every_steps else 0)
    seconds = examples / CPU_TRAINING_RATE + tunes * tune_size / CPU_INFERENCE_RATE
    return TrainingPlan(n_train, n_tune, steps, examples, tunes, seconds)


def run_frozen_bn(layout: Layout, engine: "DeepVariantEngine", data: TrainingData,
                  execution_overrides: Sequence[str] = (), threads: int = 2, force: bool = False,
                  nproc: int = 1) -> "TrainResult":
    """Control (a): V2 with frozen batch norm on DeepVariant's network, trained natively (CUDA when
    available) into ``models/deepvariant_v2_frozen_bn``; an interrupted run resumes, a finished one is
    reused. ``result.deepvariant_checkpoint`` is the selected checkpoint in DeepVariant's format."""
    require_published_model(engine)
    sets = native_example_sets(data)
    return fine_tune(layout, frozen_bn_directory(layout).name, FROZEN_BN_OVERRIDES, sets, _published_index(engine),
                     execution_overrides, threads, force, nproc)


# -- (b) V2's selected checkpoint with the published statistics ------------------------------------------


def _checkpoint_files(prefix: str | os.PathLike) -> list[Path]:
    prefix = Path(prefix)
    return [Path(f"{prefix}.index"), *sorted(prefix.parent.glob(f"{prefix.name}.data-*"))]


def run_original_bn(layout: Layout, engine: "DeepVariantEngine", v2_checkpoint: str | os.PathLike,
                    force: bool = False) -> Path:
    """Control (b): ``v2_checkpoint`` (the checkpoint ``train`` selected for V2) with the published
    model's batch-norm statistics, written as a DeepVariant checkpoint with ``example_info.json`` beside it;
    made again only when either input changed."""
    from ..batchnorm import with_batch_norm_statistics

    require_published_model(engine)
    require_inputs({f"{v2_checkpoint}.index": "06_finetune"})
    out = original_bn_prefix(layout)
    inputs = _checkpoint_files(v2_checkpoint) + _checkpoint_files(engine.init_checkpoint)
    run_stage(out.parent, ORIGINAL_BN_SLUG, inputs, {"weights": str(v2_checkpoint),
                                                     "statistics": str(engine.init_checkpoint)},
              [Path(f"{out}.index"), out.parent / "example_info.json"],
              lambda: with_batch_norm_statistics(v2_checkpoint, engine.init_checkpoint, out,
                                                 deepvariant_format=True) and None, force=force)
    return out


# -- what chapter 7 reads, and the controls' calls ---------------------------------------------------------


def existing_controls(layout: Layout) -> dict[str, Path]:
    """Control name -> DeepVariant checkpoint prefix, for the controls chapter 6 finished (none when it
    has not run them)."""
    found = {FROZEN_BN.name: frozen_bn_prefix(layout), ORIGINAL_BN: original_bn_prefix(layout)}
    return {name: prefix for name, prefix in found.items()
            if Path(f"{prefix}.index").exists() and (prefix.parent / "example_info.json").exists()}


def evaluate_controls(layout: Layout, engine: "DeepVariantEngine", controls: Mapping[str, Path],
                      v2_checkpoint: str | os.PathLike, datasets: Sequence[str] = tuple(DATASETS),
                      force: bool = False) -> dict[tuple[str, str], "BenchmarkResult"]:
    """The published model, V2 and each control called by the container on the test contig of every
    dataset (full coverage and the profile's fraction) and benchmarked alike: (model, dataset) -> result.
    Finished calls are reused, so chapter 7 finds these."""
    models = {PUBLISHED: None, "V2": Path(v2_checkpoint), **controls}
    return {(model, dataset): evaluate(layout, engine, model, dataset, checkpoint, force)
            for dataset in datasets for model, checkpoint in models.items()}



# -- chapter 6: both controls, or why not --------------------------------------------------------------


@dataclass
class ControlsOutcome:
    """What chapter 6 did with the controls on DeepVariant's network."""

    #: control name -> DeepVariant checkpoint prefix the container calls with
    checkpoints: dict[str, Path]
    #: control name -> why it did not run
    not_run: dict[str, str]
    #: the native run of control (a), when it ran
    frozen_bn_run: "TrainResult | None" = None
    #: model name -> :func:`lowcov.batchnorm.checkpoint_drift` against the published checkpoint (V2 and the controls)
    drift: dict[str, dict[str, float]] | None = None


def run_controls(layout: Layout, engine: "DeepVariantEngine", data: TrainingData, v2_checkpoint: str | os.PathLike,
                 chosen: Sequence[str] = (FROZEN_BN.slug,), execution_overrides: Sequence[str] = (),
                 threads: int = 2, force: bool = False, nproc: int = 1) -> ControlsOutcome:
    """Control (a) when ``chosen`` (chapter 6's ``controls`` parameter) names it, and control (b) always,
    then how far V2 and each control moved from the published checkpoint; nothing runs without TensorFlow
    (:func:`missing_requirements`), and the outcome says why."""
    from ..batchnorm import checkpoint_drift

    names = [FROZEN_BN.name, ORIGINAL_BN]
    blocked = missing_requirements()
    if blocked:
        return ControlsOutcome({}, {name: blocked[0] for name in names})
    outcome = ControlsOutcome({}, {})
    if FROZEN_BN.slug in chosen:
        plan = frozen_bn_plan(engine, data, execution_overrides, threads)
        log.info("%s: at most %d steps showing the network %d examples; about %.1f h on a 2-core CPU",
                 FROZEN_BN.name, plan.steps, plan.examples_trained, plan.cpu_seconds / 3600)
        outcome.frozen_bn_run = run_frozen_bn(layout, engine, data, execution_overrides, threads, force, nproc)
        outcome.checkpoints[FROZEN_BN.name] = outcome.frozen_bn_run.deepvariant_checkpoint
    else:
        outcome.not_run[FROZEN_BN.name] = (f"the notebook parameter controls does not name {FROZEN_BN.slug!r} "
                                           f"(add it to run this control)")
    outcome.checkpoints[ORIGINAL_BN] = run_original_bn(layout, engine, v2_checkpoint, force)
    outcome.drift = {name: checkpoint_drift(prefix, engine.init_checkpoint)
                     for name, prefix in {"V2": Path(v2_checkpoint), **outcome.checkpoints}.items()}
    return outcome


def frozen_bn_plan(engine: "DeepVariantEngine", data: TrainingData, execution_overrides: Sequence[str] = (),
                   threads: int = 2) -> TrainingPlan:
    """:func:`training_plan` of control (a) on chapter 5's examples, as their dataset configs count them."""
    from ..dvexamples import read_dataset_config

    n_train, n_tune = (read_dataset_config(data.pbtxt[name]).num_examples for name in (TRAINING_SET, VALIDATION_SET))
    return training_plan(frozen_bn_config(engine, execution_overrides, threads), n_train, n_tune)
