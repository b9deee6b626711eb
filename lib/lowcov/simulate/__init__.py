"""The `demo` profile's data, simulated with known truth (DESIGN.md section 5).

:func:`simulate_demo` writes every file the `acquire` stage would provide for the real data:
reference FASTA, truth VCF, confident BED, paired DNA FASTQs (aligned later by lowcov.align), RNA
FASTQ and gene models, plus a hard-regions BED and the RNA editing sites for the book. Each component
(reference, variants, DNA reads, RNA) draws from its own child of ``SeedSequence(config.seed)``, so
changing RNA parameters leaves the DNA reads untouched, and the same seed gives the same bytes.

The smaller steps (:func:`simulate_reference`, :func:`simulate_variants`, :func:`apply_variants`,
:func:`sample_dna_reads`, :func:`simulate_transcripts`, ...) work on tiny configs for tests.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..fileio import atomic_output
from ..layout import Layout
from .config import DemoConfig, RepeatFamily
from .dna import PairedFastqWriter, ReadPairs, iter_dna_reads, sample_dna_reads, sample_fragments
from .files import (write_bed, write_bed12, write_editing_vcf, write_fasta, write_fastq, write_truth_vcf)
from .haplotypes import Haplotype, apply_variants, build_haplotypes
from .reference import Interval, Reference, simulate_reference
from .rna import (EditingSite, RnaReads, Transcript, assign_allele_shares, assign_expression, choose_editing_sites,
                  depth_buckets, sample_rna_reads, simulate_transcripts)
from ..truthstats import truth_summary
from .variants import Variant, confident_regions, normalise, simulate_variants

__all__ = [
    "DemoConfig", "RepeatFamily", "simulate_demo", "truth_summary", "component_streams", "rng_for",
    "simulate_reference", "Reference", "Interval", "simulate_variants", "confident_regions", "Variant", "normalise",
    "apply_variants", "build_haplotypes", "Haplotype", "sample_dna_reads", "iter_dna_reads", "sample_fragments",
    "ReadPairs", "simulate_transcripts", "assign_expression", "assign_allele_shares", "choose_editing_sites",
    "sample_rna_reads", "RnaReads", "Transcript", "EditingSite", "depth_buckets", "simulate_rna",
]

log = logging.getLogger(__name__)

#: independent random streams, in a fixed order (appending a component later keeps the others)
COMPONENTS = ("reference", "variants", "dna", "rna")
RNA_STEPS = ("transcripts", "expression", "allele_share", "editing", "reads")


def component_streams(seed: int) -> dict[str, np.random.SeedSequence]:
    return dict(zip(COMPONENTS, np.random.SeedSequence(seed).spawn(len(COMPONENTS))))


def rng_for(seed_sequence: np.random.SeedSequence) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed_sequence))


def simulate_rna(reference: Reference, variants: list[Variant], haplotypes: dict[str, tuple[Haplotype, Haplotype]],
                 config: DemoConfig, seed_sequence: np.random.SeedSequence):
    """Gene models, expression, allele shares, editing sites and reads; one child stream per step."""
    streams = dict(zip(RNA_STEPS, (rng_for(s) for s in seed_sequence.spawn(len(RNA_STEPS)))))
    transcripts = simulate_transcripts(reference.lengths, config, streams["transcripts"])
    reads_per_transcript = assign_expression(transcripts, config, streams["expression"])
    shares = assign_allele_shares(transcripts, config, streams["allele_share"])
    sites = choose_editing_sites(transcripts, reads_per_transcript, reference.sequences, variants, config,
                                 streams["editing"])
    reads = sample_rna_reads(transcripts, reads_per_transcript, haplotypes, shares, sites, config, streams["reads"])
    return transcripts, sites, reads


def simulate_demo(layout: Layout, config: DemoConfig = DemoConfig()) -> dict[str, Path]:
    """Simulate and write the whole demo data set; returns the path of every file written."""
    started = time.perf_counter()
    streams = component_streams(config.seed)
    paths = {
        "reference": layout.dna_reference,
        "hard_regions": layout.stage("truth") / "hard_regions.bed",
        "truth_vcf": layout.truth_vcf,
        "confident_bed": layout.confident_bed,
        "dna_reads_1": layout.stage("dna") / "reads_1.fq.gz",
        "dna_reads_2": layout.stage("dna") / "reads_2.fq.gz",
        "rna_annotation": layout.rna_annotation,
        "rna_reads": layout.stage("rna") / "rna.fq.gz",
        "editing_sites": layout.stage("rna") / "editing_sites.vcf.gz",
        "summary": layout.stage("truth") / "simulation_summary.json",
    }
    lengths = dict(config.contig_lengths)

    log.info("simulating reference (%d contigs, %.2f Mb)", len(lengths), config.total_length / 1e6)
    reference = simulate_reference(config, rng_for(streams["reference"]))
    with atomic_output(paths["reference"]) as tmp:
        write_fasta(tmp, reference.sequences)
    with atomic_output(paths["hard_regions"]) as tmp:
        write_bed(tmp, reference.hard_regions(), with_name=True)

    log.info("simulating truth variants and confident regions")
    variant_seed, confident_seed = streams["variants"].spawn(2)
    variants = simulate_variants(reference, config, rng_for(variant_seed))
    confident = confident_regions(reference, variants, config, rng_for(confident_seed))
    with atomic_output(paths["truth_vcf"]) as tmp:
        write_truth_vcf(tmp, lengths, variants, config.sample_name, paths["reference"].name)
    with atomic_output(paths["confident_bed"]) as tmp:
        write_bed(tmp, confident)
    haplotypes = build_haplotypes(reference.sequences, variants)
    log.info("reference and truth done in %.1f s", time.perf_counter() - started)

    pairs_per_contig: dict[str, int] = {}
    with atomic_output(paths["dna_reads_1"]) as tmp1, atomic_output(paths["dna_reads_2"]) as tmp2:
        with PairedFastqWriter(tmp1, tmp2, config.dna_read_prefix) as writer:
            for contig, seed in zip(lengths, streams["dna"].spawn(len(lengths))):
                before = writer.count
                chunks = iter_dna_reads(haplotypes[contig], config, rng_for(seed))
                for chunk in tqdm(chunks, desc=f"DNA reads {contig}", unit="chunk", leave=False):
                    writer.write(chunk)
                pairs_per_contig[contig] = writer.count - before
                log.info("DNA %s: %d read pairs (%.1fx)", contig, pairs_per_contig[contig],
                         2 * config.read_length * pairs_per_contig[contig] / lengths[contig])
    log.info("DNA reads done at %.1f s", time.perf_counter() - started)

    transcripts, sites, rna_reads = simulate_rna(reference, variants, haplotypes, config, streams["rna"])
    with atomic_output(paths["rna_annotation"]) as tmp:
        write_bed12(tmp, transcripts, list(lengths))
    with atomic_output(paths["rna_reads"]) as tmp:
        write_fastq(tmp, rna_reads.records)
    with atomic_output(paths["editing_sites"]) as tmp:
        write_editing_vcf(tmp, lengths, sites, paths["reference"].name)
    buckets = depth_buckets(rna_reads.depth)
    log.info("RNA depth buckets (simulated, reference coordinates): %s", buckets)

    summary = {
        "seed": config.seed,
        "contig_lengths": lengths,
        "truth": truth_summary(paths["truth_vcf"], paths["confident_bed"]),
        "dna_read_pairs": pairs_per_contig,
        "rna": {"genes": len({t.gene for t in transcripts}), "transcripts": len(transcripts),
                "reads": len(rna_reads.records),
                "bases": sum(len(r[1]) for r in rna_reads.records),
                "depth_buckets": buckets,
                "editing_sites": [{"contig": s.contig, "pos": s.pos + 1, "strand": s.strand, "fraction": s.fraction,
                                   "reads": rna_reads.editing_counts[(s.contig, s.pos)][0],
                                   "edited": rna_reads.editing_counts[(s.contig, s.pos)][1]} for s in sites]},
    }
    with atomic_output(paths["summary"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=float) + "\n")
    log.info("demo data simulated in %.1f s", time.perf_counter() - started)
    return paths
