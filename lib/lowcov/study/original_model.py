"""Chapter 3's experiment: the original model, the stand-in for DeepVariant's published WGS checkpoint.

The case study starts from ``gs://deepvariant/models/DeepVariant/1.8.0/checkpoints/wgs``; on the native
engine the book trains its own original model the way DeepVariant's WGS model is trained: DNA of the
training contigs, labelled by the truth in confident regions, reads mixed at several coverages, tuned on
chr10, never touching the chr1 test set. Reads the DNA BAM, truth and reference; writes
``examples/dna.{train,tune}`` and ``models/original``.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

from ..layout import Layout
from ..make_examples import ExamplesConfig, make_examples
from ..shards import ExampleSets
from ..train import TrainConfig, TrainResult, apply_overrides, train

#: Training settings of the demo's original model. DeepVariant's defaults (batch 16384, 10 epochs,
#: tune every 12,800 steps) are sized for hundreds of millions of examples; the demo has tens of
#: thousands, so batches are small and the schedule short. Same keys, same syntax. Adam (lr 0.001)
#: converges in the steps a CPU allows (3 epochs: tune f1_weighted 0.978, SGD with lr 0.01 0.967);
#: bfloat16 arithmetic (``precision=auto``: where the CPU computes it natively) doubles the steps per
#: second, spent on the read fractions of :data:`DEMO_READ_FRACTIONS` (the learning rate decays every half
#: epoch). Tuning at epoch ends on 5,000 tune examples costs a quarter of what tuning every 150 steps on
#: 3,000 did. Chosen on the tune contig chr10 (calls benchmarked against the truth, never chr1), two
#: seeds each, SNP/INDEL F1 at full coverage and at 50 %: the earlier setup (float32, 3 epochs of
#: fractions 1.0 and 0.5, no per-read branch in the model) 0.9986/0.9028 and 0.981/0.844; bfloat16 + the per-read branch + 6 epochs of 1.0 and 0.5 0.9992/0.9066
#: and 0.984/0.867; these settings (same number of steps) 0.9992/0.9186 and 0.985/0.874, tune-set
#: log-loss 0.0575 against 0.061 and 0.074 (bcftools on chr10: 0.9981/0.9067 and 0.9816/0.9008). Since
#: issue 16's last round the examples hold a second subset of the reads at 0.5 and at 0.3 (1.5 times the
#: examples), trained for 2 epochs with the learning rate decaying every third of one: about the steps and
#: decay points of 3 epochs of the four fractions (1,396 steps against 1,368 on the demo), so the same training
#: time.
DEMO_ORIGINAL_OVERRIDES = [
    "config.optimizer=adam",
    "config.learning_rate=0.001",
    "config.batch_size=64",
    "config.num_epochs=2",
    "config.learning_rate_num_epochs_per_decay=0.3333",
    "config.learning_rate_decay_rate=0.7",
    "config.tune_every_steps=0",
    "config.log_every_steps=50",
    "config.num_validation_examples=5000",
    "config.precision=auto",
]

#: Coverages mixed into the original model's training examples, as DeepVariant's training data mixes
#: downsampled copies of its BAMs: the test sets are at 1.0 and 0.5, and the fractions between and below
#: them show the network each labelled site with other subsets of its reads. 0.5 and 0.3 are listed twice:
#: two independent subsets each (lowcov.make_examples samples a repeated fraction with the next seed), so the
#: low coverages where a hom-alt site's one error read decides its genotype are seen in twice as many
#: arrangements. Measured against one copy of each (benchmarks/chr10_low_coverage.py, variant fraction_copies,
#: same number of steps): chr10 SNP F1 at 50 % +0.0027 [0.0000, +0.0063], INDEL F1 level at 50 % and -0.0078
#: [-0.0136, -0.0020] at full coverage; then on chr1, as issue 16 asks, with the book's training seed SNP/INDEL
#: at 50 % +0.0006/+0.0034, with seed 11 +0.0024/+0.0125 (both higher), on the seed-7 genome's chr1
#: +0.0026/+0.0050 (SNP higher).
DEMO_READ_FRACTIONS = (1.0, 0.75, 0.5, 0.5, 0.3, 0.3)

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


def train_original_model(layout: Layout, overrides: Sequence[str] = DEMO_ORIGINAL_OVERRIDES,
                   read_fractions: tuple[float, ...] = DEMO_READ_FRACTIONS, examples: ExamplesConfig = ExamplesConfig(),
                   threads: int = 2, force: bool = False, name: str = "original",
                   nproc: int = 1, examples_name: str | None = None) -> tuple[ExampleSets, TrainResult]:
    """Train (or reuse) the original model on the DNA of the training contigs. ``name``: another name keeps a
    variant's examples (``examples/dna_<name>.*``) and model (``models/<name>``) apart from the book's;
    ``examples_name`` names the examples instead (a variant that changes training only shares another's).
    ``nproc`` > 1: train on that many processes (:func:`lowcov.train.train`)."""
    examples_name = examples_name or ("dna" if name == "original" else f"dna_{name}")
    sets = training_examples(layout, layout.dna_bam, examples_name, layout.truth_vcf, layout.confident_bed,
                             layout.dna_reference, replace(examples, read_fractions=read_fractions, threads=threads),
                             force=force)
    config = apply_overrides(TrainConfig(num_threads=threads), list(overrides))
    result = train(sets.train, sets.tune, config, layout.model_dir(name), force=force, restart_on_change=True,
                   nproc=nproc)
    return sets, result



def original_checkpoint(layout: Layout) -> Path:
    """The original model's selected checkpoint (written by notebook 03_original_model)."""
    return layout.model_dir("original") / "checkpoints" / "best.pt"


