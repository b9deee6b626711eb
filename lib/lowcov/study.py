"""The case study's experiments, wired from the stage functions (the notebooks call these).

* :func:`original_model`: the stand-in for DeepVariant's published WGS checkpoint. The case study
  starts from ``gs://deepvariant/models/DeepVariant/1.8.0/checkpoints/wgs``; that TensorFlow checkpoint
  cannot be loaded here, so the book trains its own original model the way DeepVariant's WGS model is
  trained: DNA of the training contigs, labelled by the truth in confident regions, reads mixed at
  several coverages, tuned on chr10, never touching the chr1 test set.
* :func:`rna_examples` and :func:`fine_tune`: the case study's fine-tuning on RNA reads labelled by an
  RNA pseudo-truth, starting from the original model's checkpoint, with its V1/V2 overrides.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from .examples import ExamplesConfig, make_examples
from .layout import Layout
from .shards import ExampleSet
from .train import TrainConfig, TrainResult, apply_overrides, train

log = logging.getLogger(__name__)

#: Training settings of the demo's original model. DeepVariant's defaults (batch 16384, 10 epochs,
#: tune every 12,800 steps) are sized for hundreds of millions of examples; the demo has tens of
#: thousands, so batches are small, tuning frequent and the schedule short. Same keys, same syntax.
DEMO_ORIGINAL_OVERRIDES = [
    "config.batch_size=64",
    "config.num_epochs=3",
    "config.learning_rate=0.01",
    "config.learning_rate_num_epochs_per_decay=1",
    "config.learning_rate_decay_rate=0.7",
    "config.tune_every_steps=150",
    "config.log_every_steps=50",
    "config.num_validation_examples=0",
    "config.early_stopping_patience=8",
]


@dataclass(frozen=True)
class ExampleSets:
    train: ExampleSet
    tune: ExampleSet


def training_examples(layout: Layout, bam: Path, name: str, truth_vcf: Path, confident_bed: Path,
                      reference: Path, config: ExamplesConfig = ExamplesConfig(), force: bool = False,
                      training_contigs: Sequence[str] | None = None) -> ExampleSets:
    """Labelled, shuffled examples of the training contigs and of the tune contig (chr10)."""
    training_contigs = list(training_contigs or layout.training_contigs(reference))
    train_config = replace(config, mode="training")
    common = dict(truth_vcf=truth_vcf, confident_bed=confident_bed, force=force)
    train_set = make_examples(bam, reference, layout.examples_dir(f"{name}.train"), training_contigs, train_config,
                              exclude_contigs=[layout.test_contig], **common)
    tune_set = make_examples(bam, reference, layout.examples_dir(f"{name}.tune"), [layout.tune_contig], train_config,
                             exclude_contigs=[layout.test_contig], **common)
    return ExampleSets(train_set, tune_set)


def original_model(layout: Layout, overrides: Sequence[str] = DEMO_ORIGINAL_OVERRIDES,
                   read_fractions: tuple[float, ...] = (1.0, 0.5), examples: ExamplesConfig = ExamplesConfig(),
                   threads: int = 2, force: bool = False) -> tuple[ExampleSets, TrainResult]:
    """Train (or reuse) the original model on the DNA of the training contigs."""
    sets = training_examples(layout, layout.dna_bam, "dna", layout.truth_vcf, layout.confident_bed,
                             layout.dna_reference, replace(examples, read_fractions=read_fractions, threads=threads),
                             force=force)
    config = apply_overrides(TrainConfig(num_threads=threads), list(overrides))
    result = train(sets.train, sets.tune, config, layout.model_dir("original"), force=force, restart_on_change=True)
    return sets, result
