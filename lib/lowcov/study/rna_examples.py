"""Chapter 5's experiment: RNA training examples labelled by the pseudo-truth (the case study's "Make Examples").

Reads the RNA BAM and the pseudo-truth of chapter 4; writes ``examples/rna_<preset>.{train,tune}``.
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING

from ..checks import require_inputs
from ..layout import Layout
from ..make_examples import ExamplesConfig
from ..shards import ExampleSet, ExampleSets
from .original_model import training_examples
from .pseudo_truth import RNA_CANDIDATES, RNA_REALIGNER, RnaTruth

if TYPE_CHECKING:
    import pandas as pd

def make_rna_examples(layout: Layout, truth: RnaTruth, preset: str = "ccs", config: ExamplesConfig = ExamplesConfig(),
                      force: bool = False) -> ExampleSets:
    """Training (training contigs) and tune (chr10) examples of the RNA reads, labelled by the
    pseudo-truth inside the RNA confident regions, with the RNA candidate thresholds."""
    require_inputs({truth.pseudo_truth_vcf: "04_truth_generation", truth.confident_bed: "04_truth_generation"})
    return rna_training_examples(layout, preset, f"rna_{preset}", truth.pseudo_truth_vcf, truth.confident_bed,
                                 config, force)


def rna_training_examples(layout: Layout, preset: str, name: str, labels_vcf: str | os.PathLike,
                          confident_bed: str | os.PathLike, config: ExamplesConfig = ExamplesConfig(),
                          force: bool = False) -> ExampleSets:
    """RNA examples of the training and tune contigs labelled by ``labels_vcf`` inside ``confident_bed``,
    with the RNA candidate thresholds and no realignment (DeepVariant's PacBio settings), into
    ``examples/<name>.{train,tune}``."""
    config = replace(config, candidates=RNA_CANDIDATES, read_fractions=(1.0,), realigner=RNA_REALIGNER)
    return training_examples(layout, layout.rna_bam(preset), name, labels_vcf, confident_bed, layout.rna_reference,
                             config, force=force)


def existing_rna_examples(layout: Layout, preset: str = "ccs") -> ExampleSets:
    """The RNA example sets notebook 05_make_examples wrote, or a FileNotFoundError naming the missing one."""
    dirs = {split: layout.examples_dir(f"rna_{preset}.{split}") for split in ("train", "tune")}
    require_inputs({d / "example_info.json": "05_make_examples" for d in dirs.values()})
    return ExampleSets(ExampleSet.open(dirs["train"]), ExampleSet.open(dirs["tune"]))


def class_balance(sets: ExampleSets) -> "pd.DataFrame":
    """Examples per genotype class in each split, with fractions."""
    import pandas as pd

    rows = {}
    for split, example_set in (("train", sets.train), ("tune", sets.tune)):
        counts = example_set.info["class_counts"]
        total = sum(counts.values())
        rows[split] = {**counts, "examples": total,
                       **{f"{k} fraction": (v / total if total else float("nan")) for k, v in counts.items()}}
    return pd.DataFrame(rows).T


