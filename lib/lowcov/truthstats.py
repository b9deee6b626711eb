"""What a truth set holds, and helpers to pick regions worth looking at.

:func:`truth_summary` counts SNP and indel records per contig, in and out of the confident regions,
with the Ti/Tv and het/hom-alt ratios hap.py reports in its TRUTH.TOTAL columns: Ti/Tv over SNP
alleles, het/hom over records (a 1|2 site counts as het). A record counts as confident when it lies
fully inside a confident interval; the ratios are over confident records. It serves the simulated
demo truth and GIAB's alike.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pysam

from .benchmark.regions import RegionSet
from .checks import require_vcf
from .coverage import contig_depth

TRANSITIONS = {("A", "G"), ("G", "A"), ("C", "T"), ("T", "C")}
_COUNTS = ("snps", "indels", "snps_confident", "indels_confident", "multiallelic", "transitions", "transversions",
           "het_snp", "hom_snp", "het_indel", "hom_indel")


def _ratio(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else float("nan")


def truth_summary(truth_vcf: str | os.PathLike, confident_bed: str | os.PathLike) -> dict:
    """Counts per contig and overall: ``{"contigs": {name: {...}}, "total": {...}}``.

    Each block has snps, indels, snps_confident, indels_confident, multiallelic, transitions,
    transversions, titv, het, hom, het_hom (SNP and indel records together), het_hom_snp,
    het_hom_indel, length and confident_bases.
    """
    confident = RegionSet.from_bed(confident_bed, "CONF")
    contigs: dict[str, dict] = {}
    with pysam.VariantFile(str(require_vcf(truth_vcf))) as vcf:
        sample = next(iter(vcf.header.samples))
        for name in vcf.header.contigs:
            contigs[name] = dict.fromkeys(_COUNTS, 0)
            contigs[name]["length"] = vcf.header.contigs[name].length
            contigs[name]["confident_bases"] = confident.size(name) if name in confident.contigs else 0
        records = [(r.contig, r.start, r.stop, r.ref, r.alts or (), r.samples[sample]["GT"]) for r in vcf]
    by_contig: dict[str, list] = {}
    for record in records:
        by_contig.setdefault(record[0], []).append(record)
    for name, rows in by_contig.items():
        starts = np.array([r[1] for r in rows], dtype=np.int64)
        stops = np.array([r[2] for r in rows], dtype=np.int64)
        inside = confident.covers(name, starts, stops)
        counts = contigs[name]
        for (_, _, _, ref, alts, gt), is_confident in zip(rows, inside):
            snp = len(ref) == 1 and all(len(a) == 1 for a in alts)
            kind = "snps" if snp else "indels"
            counts[kind] += 1
            counts["multiallelic"] += len(alts) > 1
            if not is_confident:
                continue
            counts[f"{kind}_confident"] += 1
            zygosity = "het" if gt[0] != gt[1] else "hom"
            counts[f"{zygosity}_{'snp' if snp else 'indel'}"] += 1
            if snp:
                for alt in alts:
                    counts["transitions" if (ref, alt) in TRANSITIONS else "transversions"] += 1
    total = {k: sum(c[k] for c in contigs.values()) for k in (*_COUNTS, "length", "confident_bases")}
    for block in (*contigs.values(), total):
        block["titv"] = _ratio(block["transitions"], block["transversions"])
        block["het_hom_snp"] = _ratio(block["het_snp"], block["hom_snp"])
        block["het_hom_indel"] = _ratio(block["het_indel"], block["hom_indel"])
        block["het_hom"] = _ratio(block["het_snp"] + block["het_indel"], block["hom_snp"] + block["hom_indel"])
        block["confident_fraction"] = _ratio(block["confident_bases"], block["length"])
    return {"contigs": contigs, "total": total}


def summary_table(summary: dict) -> pd.DataFrame:
    """:func:`truth_summary` as a table, one row per contig and an ``all`` row."""
    columns = {"snps": "SNPs", "indels": "indels", "snps_confident": "SNPs in confident",
               "indels_confident": "indels in confident", "titv": "Ti/Tv (confident SNPs)",
               "het_hom": "het/hom (confident)", "confident_fraction": "confident fraction"}
    rows = {name: block for name, block in summary["contigs"].items() if block["snps"] + block["indels"]}
    rows["all"] = summary["total"]
    table = pd.DataFrame(rows).T[list(columns)].rename(columns=columns)
    table.index.name = "contig"
    return table.astype({c: "int64" for c in ("SNPs", "indels", "SNPs in confident", "indels in confident")})


def busiest_window(bam: str | os.PathLike, contig: str, width: int = 20_000, step: int = 1_000) -> tuple[str, int, int]:
    """The ``width``-bp window of ``contig`` with the most aligned bases in ``bam`` (e.g. the most
    expressed gene of an RNA BAM)."""
    depth = contig_depth(bam, contig).astype(np.int64)
    if len(depth) <= width:
        return contig, 0, len(depth)
    cumulative = np.concatenate(([0], np.cumsum(depth)))
    starts = np.arange(0, len(depth) - width + 1, step)
    best = int(starts[np.argmax(cumulative[starts + width] - cumulative[starts])])
    return contig, best, best + width
