"""Chapter 4's experiment: the RNA pseudo-truth (the case study's "Generating Ground Truths").

The original model calls the RNA reads of the training and tune contigs; its confident calls become the
labels of the RNA examples, inside RNA confident regions (RNA depth >= 3 within the DNA confident
regions, as in DeepVariant's RNA-seq case study). Reads the RNA BAM, the original checkpoint and the DNA
confident regions; writes ``truth_rna/rna_<preset>.{calls,pseudo_truth}.vcf.gz`` and ``.confident.bed``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pysam

from .. import InputError
from ..benchmark import BenchmarkResult, compare
from ..benchmark.regions import RegionSet
from ..call_variants import CallConfig, call_variants
from ..candidates import CandidateConfig
from ..checks import require_inputs
from ..coverage import DepthConfig, contig_depth
from ..fileio import atomic_output
from ..intervals import true_runs
from ..layout import Layout
from ..make_examples import ExamplesConfig, make_examples
from ..realigner import RealignerConfig
from ..manifest import run_stage

if TYPE_CHECKING:
    import pandas as pd

#: Candidate thresholds for RNA reads: DeepVariant's WGS SNP thresholds with the indel fraction of its
#: PacBio presets (``vsc_min_fraction_indels=0.12``): long-read RNA carries HiFi-like homopolymer errors,
#: so the WGS indel fraction of 0.06 would make every noisy homopolymer a candidate.
RNA_CANDIDATES = CandidateConfig(min_indel_fraction=0.12)
#: No local realignment of RNA reads: DeepVariant's run_deepvariant sets ``realign_reads=False`` for its
#: PacBio model (with the 0.12 indel fraction above); realignment is for short reads.
RNA_REALIGNER = RealignerConfig(enabled=False)


@dataclass(frozen=True)
class PseudoTruthConfig:
    """How a caller run on RNA reads becomes training labels (the case study's "Generating Ground Truths").

    Read splitting at splice gaps (DeepVariant's ``split_skip_reads``) needs no flag here: lowcov's read
    layout never draws or counts an ``N`` (reference skip) operation as coverage.
    """

    #: which RNA alignment: ``ccs`` (the case study's ``pbmm2 --preset CCS``) or the splice-aware ``isoseq``
    preset: str = "ccs"
    candidates: CandidateConfig = RNA_CANDIDATES
    #: keep non-ref PASS calls with at least this genotype quality (0: every PASS call, as the case study,
    #: which used the RNA caller's VCF as it came)
    min_gq: int = 0
    #: DeepVariant's RNA-seq case study: only bases with RNA depth >= 3 are confident; calls whose
    #: depth (DP) is below it are dropped too
    min_depth: int = 3
    threads: int = 2
    call: CallConfig = field(default_factory=CallConfig)


@dataclass(frozen=True)
class RnaTruth:
    """The pseudo-truth stage's files (under ``<profile>/truth_rna/``) and what its manifests recorded."""

    calls_vcf: Path  # every call of the original model on the RNA reads
    pseudo_truth_vcf: Path  # the calls kept as labels
    confident_bed: Path  # RNA depth >= min_depth intersected with the DNA confident regions
    facts: dict = field(default_factory=dict)

    @classmethod
    def paths(cls, layout: Layout, preset: str = "ccs") -> "RnaTruth":
        stage = layout.stage("truth_rna")
        return cls(stage / f"rna_{preset}.calls.vcf.gz", stage / f"rna_{preset}.pseudo_truth.vcf.gz",
                   stage / f"rna_{preset}.confident.bed")

    @classmethod
    def existing(cls, layout: Layout, preset: str = "ccs") -> "RnaTruth":
        """The files notebook 04_truth_generation wrote, or a FileNotFoundError naming the missing one."""
        truth = cls.paths(layout, preset)
        require_inputs({truth.pseudo_truth_vcf: "04_truth_generation", truth.confident_bed: "04_truth_generation"})
        return truth


def rna_confident_regions(rna_bam: str | os.PathLike, dna_confident_bed: str | os.PathLike | None,
                          contigs: Sequence[str], out_bed: str | os.PathLike, min_depth: int = 3,
                          depth: DepthConfig = DepthConfig()) -> dict[str, int]:
    """Bases of ``contigs`` with RNA depth >= ``min_depth`` (``samtools depth`` semantics) that are also
    in the DNA confident regions, as a BED; returns base counts. ``dna_confident_bed`` None (RNA on
    another build than the DNA truth, whose coordinates do not carry over): RNA depth alone."""
    dna = RegionSet.from_bed(dna_confident_bed, "CONF") if dna_confident_bed is not None else None
    if dna is not None and not set(dna.contigs) & set(contigs):
        raise InputError(f"the DNA confident regions {dna_confident_bed} have none of the contigs "
                         f"{', '.join(contigs)}: they must be on the RNA reads' reference build")
    counts = {"rna_min_depth_bases": 0, "confident_bases": 0}
    with atomic_output(out_bed) as tmp, open(tmp, "w") as handle:
        for contig in contigs:
            rna_depth = contig_depth(rna_bam, contig, depth)
            confident = np.zeros(len(rna_depth), dtype=bool) if dna is not None else np.ones(len(rna_depth), dtype=bool)
            for start, end in zip(*dna.intervals(contig)) if dna is not None else ():
                confident[start:end] = True
            keep = (rna_depth >= min_depth) & confident
            counts["rna_min_depth_bases"] += int((rna_depth >= min_depth).sum())
            counts["confident_bases"] += int(keep.sum())
            for start, end in zip(*true_runs(keep)):
                handle.write(f"{contig}\t{start}\t{end}\n")
    return counts


def filter_pseudo_truth(calls_vcf: str | os.PathLike, out_vcf: str | os.PathLike, min_gq: int = 20,
                        min_depth: int = 0) -> dict[str, int]:
    """Keep the PASS calls with a non-reference genotype, GQ >= ``min_gq`` and DP >= ``min_depth``.

    RefCall and LowQual records and uncertain genotypes would label candidates wrongly; what is left is
    the truth the training examples are labelled with. Returns how many records each rule removed.
    """
    counts = {"records": 0, "not_pass": 0, "ref_genotype": 0, "low_gq": 0, "low_depth": 0, "kept": 0}
    with pysam.VariantFile(str(calls_vcf)) as source, atomic_output(out_vcf) as tmp:
        plain = Path(str(tmp).removesuffix(".gz"))
        header = source.header.copy()
        header.add_line(f"##lowcov_pseudo_truth=\"PASS, non-ref GT, GQ>={min_gq}, DP>={min_depth} from {calls_vcf}\"")
        with pysam.VariantFile(str(plain), "w", header=header) as sink:
            for record in source:
                counts["records"] += 1
                call = record.samples[0]
                genotype = [g for g in (call.get("GT") or ()) if g is not None]
                if list(record.filter.keys()) != ["PASS"]:
                    counts["not_pass"] += 1
                elif not any(genotype):
                    counts["ref_genotype"] += 1
                elif (call.get("GQ") or 0) < min_gq:
                    counts["low_gq"] += 1
                elif (call.get("DP") or 0) < min_depth:
                    counts["low_depth"] += 1
                else:
                    counts["kept"] += 1
                    sink.write(record)
        pysam.tabix_compress(str(plain), str(tmp), force=True)
        plain.unlink()
        pysam.tabix_index(str(tmp), preset="vcf", force=True)
    return counts


def rna_pseudo_truth(layout: Layout, checkpoint: str | os.PathLike, config: PseudoTruthConfig = PseudoTruthConfig(),
                     force: bool = False) -> RnaTruth:
    """Call the RNA reads of the training and tune contigs (never the test contig) with ``checkpoint``
    and keep the confident calls as a pseudo-truth, with the RNA confident regions.

    Three stages in ``<profile>/truth_rna/``, each skipped when its manifest is current: confident
    regions, calls, pseudo-truth.
    """
    checkpoint = Path(checkpoint)
    require_inputs({checkpoint: "03_original_model", layout.rna_bam(config.preset): "01_data_acquisition",
                    layout.confident_bed: "01_data_acquisition"})
    stage = layout.stage("truth_rna")
    truth = RnaTruth.paths(layout, config.preset)
    bam, reference = layout.rna_bam(config.preset), layout.rna_reference
    contigs = layout.training_contigs(reference) + [layout.rna_tune_contig]
    regions = run_stage(stage, f"rna_{config.preset}_confident", [bam, layout.confident_bed],
                        {"contigs": contigs, "min_depth": config.min_depth}, [truth.confident_bed],
                        lambda: rna_confident_regions(bam, layout.confident_bed, contigs, truth.confident_bed,
                                                      config.min_depth), force=force)
    examples_config = ExamplesConfig(mode="calling", candidates=config.candidates, threads=config.threads,
                                     realigner=RNA_REALIGNER)
    examples = make_examples(bam, reference, layout.examples_dir(f"rna_{config.preset}.calling"), contigs,
                             examples_config, exclude_contigs=[layout.rna_test_contig], force=force)
    calls = run_stage(stage, f"rna_{config.preset}_calls", [checkpoint, examples.directory / "example_info.json"],
                      config.call, [truth.calls_vcf],
                      lambda: call_variants(examples.directory, checkpoint, reference, truth.calls_vcf, config.call),
                      force=force)
    kept = run_stage(stage, f"rna_{config.preset}_pseudo_truth", [truth.calls_vcf],
                     {"min_gq": config.min_gq, "min_depth": config.min_depth}, [truth.pseudo_truth_vcf],
                     lambda: filter_pseudo_truth(truth.calls_vcf, truth.pseudo_truth_vcf, config.min_gq,
                                                 config.min_depth), force=force)
    facts = {"contigs": contigs, "rna_examples": len(examples), **regions["extra"], **calls["extra"],
             "filter": kept["extra"]}
    return replace(truth, facts=facts)


def benchmark_pseudo_truth(layout: Layout, truth: RnaTruth) -> BenchmarkResult:
    """The pseudo-truth scored against the real truth inside the RNA confident regions (demo only: the
    case study had no truth for its RNA sample)."""
    prefix = layout.stage("truth_rna") / f"{truth.pseudo_truth_vcf.name.removesuffix('.vcf.gz')}.vs_truth"
    return compare(layout.truth_vcf, truth.pseudo_truth_vcf, layout.rna_reference,
                   confident_bed=truth.confident_bed, output_prefix=prefix)


def calls_at_sites(calls_vcf: str | os.PathLike, sites_vcf: str | os.PathLike) -> "pd.DataFrame":
    """Records of ``calls_vcf`` with an alt allele listed at the same position in ``sites_vcf`` (e.g. the
    simulated RNA-editing sites): RNA-only changes a pseudo-truth would teach as DNA variants."""
    import pandas as pd

    with pysam.VariantFile(str(sites_vcf)) as sites:
        wanted = {(r.contig, r.pos, r.ref, alt) for r in sites for alt in (r.alts or ())}
    rows = []
    with pysam.VariantFile(str(calls_vcf)) as calls:
        for record in calls:
            for alt in record.alts or ():
                if (record.contig, record.pos, record.ref, alt) in wanted:
                    call = record.samples[0]
                    rows.append({"contig": record.contig, "position": record.pos, "ref": record.ref, "alt": alt,
                                 "GT": "/".join(str(g) for g in call["GT"]), "GQ": call.get("GQ"),
                                 "DP": call.get("DP"), "VAF": call.get("VAF")[0] if call.get("VAF") else None})
    return pd.DataFrame(rows, columns=["contig", "position", "ref", "alt", "GT", "GQ", "DP", "VAF"])


