"""Chapter 6's controls: fine-tuning runs beyond the case study's two, to separate what moves the DNA calls.

Each control is V2's override list plus a few lines (frozen batch-norm statistics, small batches over
several seeds); :func:`with_original_statistics` puts the original model's batch-norm statistics back into
a run's end-of-run weights. Reads what :mod:`.fine_tuning` reads; writes ``models/<control>``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from ..layout import Layout
from ..make_examples import ExamplesConfig
from ..manifest import run_stage
from ..batchnorm import with_batch_norm_statistics
from ..shards import ExampleSets
from ..train import CASE_STUDY_V2, TrainResult
from .fine_tuning import DEFAULT_SEED, fine_tune, fine_tuned_checkpoints, run_directory, run_name
from .original_model import original_checkpoint, training_examples
from .pseudo_truth import RnaTruth
from .rna_examples import rna_training_examples

#: where a control's training and tune examples come from (source -> the name chapter 6's table gives it):
#: V2's RNA examples; the DNA of the training
#: contigs at :data:`DNA_CONTROL_FRACTION` of its reads, labelled by the truth; or V2's RNA reads labelled
#: by the real truth instead of the pseudo-truth (the demo knows it; the case study could not)
EXAMPLE_SOURCES = {"rna": "V2's RNA examples", "dna_low_coverage": "50 % DNA, truth labels",
                   "rna_truth_labels": "V2's RNA reads, truth labels"}
#: the coverage of the DNA control's reads: the test set's 50 %
DNA_CONTROL_FRACTION = 0.5


@dataclass(frozen=True)
class FineTuneControl:
    """A fine-tuning run beyond the case study's two: V2's overrides plus a few lines, to separate what
    moves the DNA calls. Never presented as the case study's."""

    name: str
    #: model directory under ``<profile>/models/`` (of the run with :data:`DEFAULT_SEED`)
    slug: str
    #: override lines added after the case study's V2 list (the last value of a key wins)
    extra: tuple[str, ...]
    purpose: str
    #: one run per seed (data order, dropout): runs whose outcome may hinge on the seed are replicated
    seeds: tuple[int, ...] = (DEFAULT_SEED,)
    #: one of :data:`EXAMPLE_SOURCES`
    examples: str = "rna"
    #: stop after as many optimiser steps as V2 took (a larger example set would otherwise take more)
    steps_of_v2: bool = False

    def __post_init__(self):
        if self.examples not in EXAMPLE_SOURCES:
            raise ValueError(f"{self.name}: examples must be one of {tuple(EXAMPLE_SOURCES)}, got {self.examples!r}")

    @property
    def overrides(self) -> list[str]:
        return list(CASE_STUDY_V2) + list(self.extra)

    @property
    def runs(self) -> tuple["ControlRun", ...]:
        return tuple(ControlRun(self, seed) for seed in self.seeds)


@dataclass(frozen=True)
class ControlRun:
    """One seed of a :class:`FineTuneControl`."""

    control: FineTuneControl
    seed: int

    @property
    def name(self) -> str:
        return run_name(self.control.name, self.seed, self.control.seeds)

    @property
    def directory(self) -> str:
        return run_directory(self.control.slug, self.seed)


_FREEZE = "config.freeze_batch_norm=true"
_SMALL_BATCHES = ("config.batch_size=32", "config.warmup_steps=0")
_REPLICATES = (DEFAULT_SEED, DEFAULT_SEED + 1, DEFAULT_SEED + 2)

#: The controls of chapter 6. V2 takes ~10 steps per epoch on the demo's RNA set, all inside its 500-step
#: warm-up, so it trains at under half its learning rate; the batch-norm controls freeze the statistics (what V2
#: does without them moving), and train at the configured learning rate from the first step (batches of 32, no
#: warm-up) for as many steps as V2, with and without frozen statistics. The small-batch runs depend on the data
#: order, and single runs of them pointed in different directions, hence three seeds each. The data controls
#: cost as much as V2 itself (its steps at its batch size) and run one seed each: with V1's and V2's three
#: seeds they are what holds the demo book within its time budget.
FINE_TUNE_CONTROLS = (
    FineTuneControl("V2, frozen BN", "v2_frozen_bn", (_FREEZE,),
                    "V2 with the original model's BN statistics kept: what weight updates alone do"),
    FineTuneControl("V2, small batches", "v2_small_batches", _SMALL_BATCHES,
                    "V2's steps at the full learning rate from the first: the weights learn from the RNA labels",
                    _REPLICATES, steps_of_v2=True),
    FineTuneControl("V2, small batches, frozen BN", "v2_small_batches_frozen_bn", _SMALL_BATCHES + (_FREEZE,),
                    "both: what learning from the RNA labels does with the DNA statistics kept", _REPLICATES,
                    steps_of_v2=True),
    FineTuneControl("DNA at 50 %", "dna_low_coverage", (),
                    "V2's settings and steps on 50 % DNA labelled by the truth: fine-tuning itself, without RNA",
                    examples="dna_low_coverage", steps_of_v2=True),
    FineTuneControl("RNA, truth labels", "rna_truth_labels", (),
                    "V2 on the same RNA reads labelled by the real truth: RNA pileups without the pseudo-truth",
                    examples="rna_truth_labels"),
)


def fine_tune_controls(slugs: Sequence[str]) -> tuple[FineTuneControl, ...]:
    """The controls named by ``slugs`` (model directory names), in :data:`FINE_TUNE_CONTROLS` order."""
    known = {control.slug: control for control in FINE_TUNE_CONTROLS}
    unknown = sorted(set(slugs) - set(known))
    if unknown:
        raise ValueError(f"unknown fine-tuning controls {unknown}; choose from {sorted(known)}")
    return tuple(control for control in FINE_TUNE_CONTROLS if control.slug in set(slugs))


def control_examples(layout: Layout, control: FineTuneControl, rna_sets: ExampleSets, preset: str = "ccs",
                     config: ExamplesConfig = ExamplesConfig(), force: bool = False) -> ExampleSets:
    """The training and tune examples of ``control`` (made once, shared by its seeds)."""
    if control.examples == "rna":
        return rna_sets
    if control.examples == "dna_low_coverage":
        fraction = replace(config, read_fractions=(DNA_CONTROL_FRACTION,))
        return training_examples(layout, layout.dna_bam, f"dna_ds{round(DNA_CONTROL_FRACTION * 100):02d}",
                                 layout.truth_vcf, layout.confident_bed, layout.dna_reference, fraction, force=force)
    truth = RnaTruth.existing(layout, preset)
    return rna_training_examples(layout, preset, f"rna_{preset}_truth_labels", layout.truth_vcf,
                                 truth.confident_bed, config, force)


def fine_tune_control(layout: Layout, run: ControlRun, sets: ExampleSets, init_checkpoint: str | os.PathLike,
                      execution_overrides: Sequence[str] = (), threads: int = 2, force: bool = False,
                      v2_steps: int | None = None, nproc: int = 1) -> TrainResult:
    """Run (or reuse) one seed of a control on ``sets`` (:func:`control_examples`) into
    ``<profile>/models/<run.directory>``; ``v2_steps`` caps a control that takes V2's number of steps."""
    extra = [*execution_overrides, f"config.seed={run.seed}"]
    if run.control.steps_of_v2:
        if not v2_steps:
            raise ValueError(f"{run.control.name} runs as many steps as V2: pass v2_steps")
        extra.append(f"config.max_steps={v2_steps}")
    return fine_tune(layout, run.directory, run.control.overrides, sets, init_checkpoint, extra, threads, force, nproc)


def run_controls(layout: Layout, chosen: Sequence[FineTuneControl], rna_sets: ExampleSets,
                 init_checkpoint: str | os.PathLike, v2_steps: int, preset: str = "ccs",
                 execution_overrides: Sequence[str] = (), threads: int = 2,
                 force: bool = False, nproc: int = 1) -> dict[str, TrainResult]:
    """Every seed of every ``chosen`` control, each on its examples (:func:`control_examples`): run name ->
    result, in :data:`FINE_TUNE_CONTROLS` order."""
    results = {}
    for control in chosen:
        sets = control_examples(layout, control, rna_sets, preset, ExamplesConfig(threads=threads), force=force)
        for run in control.runs:
            results[run.name] = fine_tune_control(layout, run, sets, init_checkpoint, execution_overrides, threads,
                                                  force, v2_steps, nproc)
    return results


def with_original_statistics(layout: Layout, name: str, force: bool = False) -> Path:
    """The end-of-run weights of fine-tuning run ``name`` with the original model's batch-norm
    statistics put back (``<profile>/models/<name>/checkpoints/last_original_bn.pt``)."""
    last = fine_tuned_checkpoints(layout, name)["last"]
    original = original_checkpoint(layout)
    out = last.parent / "last_original_bn.pt"
    run_stage(layout.model_dir(name), "last_original_bn", [last, original], {}, [out],
              lambda: with_batch_norm_statistics(last, original, out) and None, force=force)
    return out


def scored_checkpoint(layout: Layout, run: ControlRun) -> Path:
    """The checkpoint chapter 7 scores for a control run: the selected one for the data controls (they stand
    beside V1's and V2's selected checkpoints), the end-of-run weights for V2's batch-norm controls (what
    their training did to the weights and the statistics)."""
    return fine_tuned_checkpoints(layout, run.directory)["last" if run.control.examples == "rna" else "selected"]
