"""What the truth set holds: SNP/indel counts per contig, in and out of confident regions, Ti/Tv, het/hom.

Ratios follow hap.py's TRUTH.TOTAL columns: Ti/Tv over SNP alleles, het/hom over records (a 1|2
site counts as het). Counts are for records fully inside a confident interval, as hap.py's -f does.
"""
from __future__ import annotations

import os

import numpy as np
import pysam

from .files import read_bed

TRANSITIONS = {("A", "G"), ("G", "A"), ("C", "T"), ("T", "C")}


def _inside(intervals: list[tuple[int, int]], start: int, end: int, starts: np.ndarray) -> bool:
    i = int(np.searchsorted(starts, start, side="right")) - 1
    return i >= 0 and intervals[i][0] <= start and end <= intervals[i][1]


def _ratio(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else float("nan")


def truth_summary(truth_vcf: str | os.PathLike, confident_bed: str | os.PathLike) -> dict:
    """Counts per contig and overall: ``{"contigs": {name: {...}}, "total": {...}}``.

    Each block has snps, indels, snps_confident, indels_confident, multiallelic, transitions,
    transversions, titv, het, hom, het_hom (SNP and indel records together), het_hom_snp,
    het_hom_indel, length and confident_bases; the ratios are over confident records.
    """
    bed = {c: sorted(v) for c, v in read_bed(confident_bed).items()}
    bed_starts = {c: np.array([s for s, _ in v]) for c, v in bed.items()}
    keys = ("snps", "indels", "snps_confident", "indels_confident", "multiallelic", "transitions", "transversions",
            "het_snp", "hom_snp", "het_indel", "hom_indel")
    contigs: dict[str, dict] = {}
    with pysam.VariantFile(str(truth_vcf)) as vcf:
        sample = next(iter(vcf.header.samples))
        for name in vcf.header.contigs:
            contigs[name] = dict.fromkeys(keys, 0)
            contigs[name]["length"] = vcf.header.contigs[name].length
            contigs[name]["confident_bases"] = sum(e - s for s, e in bed.get(name, []))
        for record in vcf:
            counts = contigs[record.contig]
            snp = len(record.ref) == 1 and all(len(a) == 1 for a in record.alts)
            kind = "snps" if snp else "indels"
            counts[kind] += 1
            counts["multiallelic"] += len(record.alts) > 1
            if not _inside(bed.get(record.contig, []), record.start, record.stop,
                           bed_starts.get(record.contig, np.zeros(0))):
                continue
            counts[f"{kind}_confident"] += 1
            alleles = record.samples[sample]["GT"]
            zygosity = "het" if alleles[0] != alleles[1] else "hom"
            counts[f"{zygosity}_{'snp' if snp else 'indel'}"] += 1
            if snp:
                for alt in record.alts:
                    counts["transitions" if (record.ref, alt) in TRANSITIONS else "transversions"] += 1
    total = {k: sum(c[k] for c in contigs.values()) for k in (*keys, "length", "confident_bases")}
    for block in (*contigs.values(), total):
        block["titv"] = _ratio(block["transitions"], block["transversions"])
        block["het_hom_snp"] = _ratio(block["het_snp"], block["hom_snp"])
        block["het_hom_indel"] = _ratio(block["het_indel"], block["hom_indel"])
        block["het_hom"] = _ratio(block["het_snp"] + block["het_indel"], block["hom_snp"] + block["hom_indel"])
        block["confident_fraction"] = _ratio(block["confident_bases"], block["length"])
    return {"contigs": contigs, "total": total}
