"""Chapters 3 and 7's evaluation: call the test contig with a model (or the classical peer) and benchmark the calls.

The case study's "Quick Tests" and "Results" steps: ``call_variants`` on chr1 at full coverage and
at 50 %, then hap.py against the truth in the confident regions. Here the benchmark is
:mod:`lowcov.benchmark`, stratified by the coverage buckets of the BAM that was called (1-7, 8-20,
>20), so recall can be read per bucket.

Calling examples depend only on the BAM, so they are made once per dataset and shared by every model.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from ..benchmark import BenchmarkResult, compare
from ..call_variants import CallConfig, call_variants
from ..coverage import write_bucket_beds
from ..make_examples import ExamplesConfig, make_examples
from ..layout import Layout
from ..manifest import run_stage
from ..bcftools import PeerCallerConfig
from ..bcftools import call_variants as peer_call_variants
from ..downsample import downsample_bam
from ..shards import ExampleSet

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: the case study's two test sets: chr1 at full coverage and downsampled with samtools view -s 0.5
DATASETS = {"full": 1.0, "downsampled": 0.5}


@dataclass(frozen=True)
class EvaluationConfig:
    examples: ExamplesConfig = field(default_factory=lambda: ExamplesConfig(mode="calling"))
    call: CallConfig = field(default_factory=CallConfig)
    peer: PeerCallerConfig = field(default_factory=PeerCallerConfig)


#: the coverage sweep of chapter 7: fractions of the test contig's reads, kept as ``samtools view -s``
#: keeps them (seed 0: each smaller set is a subset of the larger ones)
SWEEP_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def dataset_of(fraction: float) -> str:
    """The dataset name of a fraction of the test contig's reads: ``full``, ``downsampled`` (0.5) or ``dsNN``."""
    named = {value: name for name, value in DATASETS.items()}
    return named.get(fraction) or f"ds{round(fraction * 100):02d}"


def fraction_of(dataset: str) -> float:
    if dataset in DATASETS:
        return DATASETS[dataset]
    if dataset.startswith("ds") and dataset[2:].isdigit() and 0 < int(dataset[2:]) < 100:
        return int(dataset[2:]) / 100
    raise ValueError(f"dataset must be one of {list(DATASETS)} or dsNN (NN % of the reads), got {dataset!r}")


def test_bam(layout: Layout, dataset: str, force: bool = False) -> Path:
    """The test contig's BAM of ``dataset``; the sweep's ``dsNN`` sets are downsampled here from the full one."""
    fraction = fraction_of(dataset)
    bam = layout.dna_test_bam(fraction)
    if dataset in DATASETS:
        if not bam.exists():
            raise FileNotFoundError(f"{bam} is missing: run notebook 01_data_acquisition first")
        return bam
    full = test_bam(layout, "full")
    run_stage(layout.stage("dna"), f"sweep_{dataset}", [full], {"fraction": fraction, "seed": 0}, [bam],
              lambda: downsample_bam(full, bam, fraction, seed=0, progress=False) and None, force=force)
    return bam


def calling_examples(layout: Layout, dataset: str, config: EvaluationConfig = EvaluationConfig(),
                     force: bool = False) -> ExampleSet:
    """Every candidate of the test contig, labelled with the truth for analysis (never for training)."""
    from dataclasses import replace

    return make_examples(test_bam(layout, dataset, force), layout.dna_reference, layout.examples_dir(f"calling.{dataset}"),
                         [layout.test_contig], replace(config.examples, mode="calling"),
                         truth_vcf=layout.truth_vcf, force=force)


#: benchmark stratum name -> the bucket file suffix written by coverage.write_bucket_beds
STRATA = {"depth_1-7": "low", "depth_8-20": "medium", "depth_gt20": "high"}


def coverage_strata(layout: Layout, dataset: str, force: bool = False) -> dict[str, Path]:
    """BEDs of the test contig's coverage buckets in the BAM being called, keyed by stratum name."""
    bam = test_bam(layout, dataset)
    out_dir = layout.stage("coverage")
    stem = bam.name.removesuffix(".bam")
    outputs = {name: out_dir / f"{stem}.{layout.test_contig}.depth_{slug}.bed" for name, slug in STRATA.items()}
    run_stage(out_dir, f"strata_{stem}", [bam], {"contig": layout.test_contig}, list(outputs.values()),
              lambda: write_bucket_beds(bam, layout.test_contig, out_dir) and None, force=force)
    return outputs


def test_confident_bed(layout: Layout) -> Path:
    """The confident regions of the test contig only: like hap.py's ``-l chr1``, so truth variants
    of contigs that were not called are not counted as missed."""
    out = layout.stage("truth") / f"confident.{layout.test_contig}.bed"
    run_stage(layout.stage("truth"), f"confident_{layout.test_contig}", [layout.confident_bed],
              {"contig": layout.test_contig}, [out], lambda: _contig_lines(layout.confident_bed, layout.test_contig, out))
    return out


def _contig_lines(bed: Path, contig: str, out: Path) -> None:
    from ..fileio import atomic_output

    with open(bed) as source, atomic_output(out) as tmp, open(tmp, "w") as target:
        target.writelines(line for line in source if line.split("\t", 1)[0] == contig)


def benchmark_calls(layout: Layout, calls_vcf: Path, name: str, dataset: str,
                    force: bool = False) -> BenchmarkResult:
    """hap.py's comparison in the test contig's confident regions, stratified by the coverage buckets that
    hold any base (at 10 % of the reads no base is above 20x)."""
    strata = {subset: bed for subset, bed in coverage_strata(layout, dataset, force).items() if bed.stat().st_size}
    return compare(layout.truth_vcf, calls_vcf, layout.dna_reference, confident_bed=test_confident_bed(layout),
                   stratify=strata, output_prefix=layout.benchmark_prefix(name, dataset))


def evaluate_model(layout: Layout, name: str, checkpoint: Path, dataset: str,
                   config: EvaluationConfig = EvaluationConfig(), force: bool = False) -> BenchmarkResult:
    """Call the test contig of ``dataset`` with ``checkpoint`` and benchmark it."""
    examples = calling_examples(layout, dataset, config, force)
    vcf = layout.calls_vcf(name, dataset)
    run_stage(layout.stage("calls"), f"call_{name}_{dataset}",
              [checkpoint, examples.directory / "example_info.json"], config.call, [vcf],
              # the example shards are predicted on the examples' workers (one torch thread each: on 2 cores
              # about 2.6x faster than one process with torch's 2 threads, the same bytes; benchmark_dask.py)
              lambda: call_variants(examples.directory, checkpoint, layout.dna_reference, vcf, config.call,
                                    cache_dir=layout.stage("calls") / "predictions", threads=config.examples.threads),
              force=force)
    return benchmark_calls(layout, vcf, name, dataset, force)


def evaluate_peer(layout: Layout, dataset: str, config: EvaluationConfig = EvaluationConfig(),
                  force: bool = False) -> BenchmarkResult:
    """The classical caller (bcftools) on the same BAM and contig, benchmarked the same way."""
    from dataclasses import replace

    bam = test_bam(layout, dataset)
    vcf = layout.calls_vcf("bcftools", dataset)
    peer = replace(config.peer, region=config.peer.region or layout.test_contig)
    run_stage(layout.stage("calls"), f"call_bcftools_{dataset}", [bam], peer, [vcf],
              lambda: peer_call_variants(bam, layout.dna_reference, vcf, peer) and None, force=force)
    return benchmark_calls(layout, vcf, "bcftools", dataset, force)


def metrics_table(results: dict[tuple[str, str], BenchmarkResult], filter_name: str = "ALL") -> "pd.DataFrame":
    """One row per (caller, dataset, Type): TRUTH.TOTAL, TP, FN, FP, recall, precision, Frac_NA, F1."""
    import pandas as pd

    columns = ["TRUTH.TOTAL", "TRUTH.TP", "TRUTH.FN", "QUERY.FP", "FP.gt", "METRIC.Recall", "METRIC.Precision",
               "METRIC.Frac_NA", "METRIC.F1_Score"]
    rows = []
    for (caller, dataset), result in results.items():
        summary = result.summary[result.summary["Filter"] == filter_name]
        for _, row in summary.iterrows():
            rows.append({"Model": caller, "Dataset": dataset, "Type": row["Type"], **{c: row[c] for c in columns}})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Sweep:
    """The coverage sweep: per dataset, every model's benchmark (and bcftools'), and the mean depth of the
    test contig's reads."""

    results: dict[str, dict[str, BenchmarkResult]]
    depth: dict[str, float]


def mean_depth(layout: Layout, dataset: str) -> float:
    """Mean read depth over the test contig's bases (samtools depth -a, averaged)."""
    from ..coverage import contig_depth

    return float(contig_depth(test_bam(layout, dataset), layout.test_contig).mean())


def coverage_sweep(layout: Layout, checkpoints: Mapping[str, Path], slugs: Mapping[str, str],
                   fractions=SWEEP_FRACTIONS, config: EvaluationConfig = EvaluationConfig(),
                   force: bool = False) -> Sweep:
    """Call the test contig at each fraction of its reads with every checkpoint (files named by ``slugs``,
    so calls chapter 7 already made are reused) and with bcftools, and benchmark each (DeepVariant's
    "twenty is the new thirty" comparison)."""
    results, depth = {}, {}
    for fraction in fractions:
        dataset = dataset_of(fraction)
        log.info("coverage sweep: %s (%.0f %% of the reads)", dataset, fraction * 100)
        results[dataset] = {name: evaluate_model(layout, slugs[name], checkpoint, dataset, config, force)
                            for name, checkpoint in checkpoints.items()}
        results[dataset]["bcftools"] = evaluate_peer(layout, dataset, config, force)
        depth[dataset] = mean_depth(layout, dataset)
    return Sweep(results, depth)
