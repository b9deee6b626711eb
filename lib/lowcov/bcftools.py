"""A classical peer caller: ``bcftools mpileup | bcftools call -m`` through pysam.

The book runs it on the same BAMs as the deep-learning caller to show what a non-learned caller
achieves on the same data. Low-quality calls are kept and marked ``LowQual`` in FILTER (not
dropped), so the benchmark's ALL and PASS rows differ meaningfully. Output: a bgzipped,
tabix-indexed VCF, written atomically; bcftools' version/command header lines are suppressed so
that the same inputs give the same bytes.
"""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import pysam
from pysam import bcftools

from . import InputError
from .checks import bam_contigs, check_contigs_match, fasta_contigs, require_bam, require_fasta
from .fileio import atomic_output

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeerCallerConfig:
    """Parameters of the bcftools peer caller (bcftools' option in brackets).

    min_mapq: skip reads with mapping quality below this (``mpileup -q``).
    min_baseq: skip bases with base quality below this (``mpileup -Q``).
    max_depth: reads considered per position per file (``mpileup -d``).
    multiallelic_caller: the multiallelic/rare-variant model (``call -m``) instead of the
        original consensus caller (``call -c``).
    annotations: FORMAT/INFO tags added by mpileup (``-a``); AD and DP let the book plot
        allele fractions and depth.
    region: ``chrom``, ``chrom:start-end`` or None for the whole BAM (``-r``).
    min_qual: calls with QUAL below this are marked ``LowQual`` (``filter -s LowQual -e``).
    variants_only: write variant sites only (``call -v``).
    ploidy: ``call --ploidy`` (e.g. "GRCh38"); None for diploid everywhere.
    """

    min_mapq: int = 20
    min_baseq: int = 13
    max_depth: int = 250
    multiallelic_caller: bool = True
    annotations: tuple[str, ...] = ("FORMAT/AD", "FORMAT/DP")
    region: str | None = None
    min_qual: float = 20.0
    variants_only: bool = True
    ploidy: str | None = None


def _contigs_to_check(bam: Path, region: str | None) -> list[str]:
    if region:
        return [region.split(":", 1)[0]]
    with pysam.AlignmentFile(str(bam), "rb") as handle:
        try:
            return [s.contig for s in handle.get_index_statistics() if s.mapped > 0]
        except ValueError:
            return list(handle.references)


def call_variants(bam: str | os.PathLike, reference: str | os.PathLike, output_vcf: str | os.PathLike,
                  config: PeerCallerConfig = PeerCallerConfig()) -> Path:
    """Call SNPs and indels in ``bam`` with bcftools; write ``output_vcf`` (.vcf.gz + .tbi)."""
    bam = require_bam(bam)
    reference = require_fasta(reference)
    output_vcf = Path(output_vcf)
    if not output_vcf.name.endswith(".vcf.gz"):
        raise InputError(f"peer caller output must end with .vcf.gz (bgzipped VCF): {output_vcf}")
    bam_lengths = bam_contigs(bam)
    needed = _contigs_to_check(bam, config.region)
    unknown = [c for c in needed if c not in bam_lengths]
    if unknown:
        raise InputError(f"region {config.region} names contig {unknown[0]}, which is not in the BAM {bam}")
    check_contigs_match(bam_lengths, bam, fasta_contigs(reference), reference, needed=needed)

    mpileup = ["--no-version", "-f", str(reference), "-q", str(config.min_mapq), "-Q", str(config.min_baseq),
               "-d", str(config.max_depth), "-a", ",".join(config.annotations), "-O", "u"]
    if config.region:
        mpileup += ["-r", config.region]
    call = ["--no-version", "-m" if config.multiallelic_caller else "-c", "-O", "u"]
    if config.variants_only:
        call.append("-v")
    if config.ploidy:
        call += ["--ploidy", config.ploidy]
    log.info("bcftools mpileup %s | bcftools call %s (%s)", " ".join(mpileup), " ".join(call), asdict(config))
    with tempfile.TemporaryDirectory(prefix="lowcov-bcftools-", dir=output_vcf.parent if output_vcf.parent.exists()
                                     else None) as work:
        pileup = Path(work) / "pileup.bcf"
        calls = Path(work) / "calls.bcf"
        try:
            bcftools.mpileup(*mpileup, "-o", str(pileup), str(bam), catch_stdout=False)
            bcftools.call(*call, "-o", str(calls), str(pileup), catch_stdout=False)
            with atomic_output(output_vcf) as tmp:
                bcftools.filter("--no-version", "-s", "LowQual", "-e", f"QUAL<{config.min_qual:g}", "-O", "z",
                                "-o", str(tmp), str(calls), catch_stdout=False)
                pysam.tabix_index(str(tmp), preset="vcf", force=True)
        except pysam.utils.SamtoolsError as exc:
            raise InputError(f"bcftools failed on {bam} with reference {reference}: {exc}") from exc
    log.info("peer caller wrote %s", output_vcf)
    return output_vcf
