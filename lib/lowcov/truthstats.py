"""Descriptive statistics of a truth VCF and helpers to pick regions worth looking at."""
from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
import pandas as pd
import pysam

from .benchmark.regions import RegionSet
from .checks import require_vcf
from .coverage import contig_depth

_TRANSITIONS = {frozenset("AG"), frozenset("CT")}


def truth_summary(truth_vcf: str | os.PathLike, confident_bed: str | os.PathLike | None = None) -> pd.DataFrame:
    """Per contig (and an ``all`` row): SNPs, indels, how many fall in confident regions, Ti/Tv of SNPs,
    het/hom-alt ratio, and the fraction of the contig that is confident."""
    truth_vcf = require_vcf(truth_vcf)
    confident = RegionSet.from_bed(confident_bed, "CONF") if confident_bed else None
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    spans: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    with pysam.VariantFile(str(truth_vcf)) as vcf:
        lengths = {c: vcf.header.contigs[c].length for c in vcf.header.contigs}
        sample = next(iter(vcf.header.samples), None)
        for rec in vcf:
            c = counts[rec.chrom]
            kind = "SNPs" if all(len(a) == len(rec.ref) == 1 for a in rec.alts or ()) else "indels"
            c[kind] += 1
            spans[rec.chrom].append((rec.start, rec.stop, kind))
            if kind == "SNPs" and len(rec.alts) == 1:
                c["ti" if frozenset((rec.ref, rec.alts[0])) in _TRANSITIONS else "tv"] += 1
            if sample is not None:
                gt = [a for a in (rec.samples[sample]["GT"] or ()) if a is not None]
                if len(gt) == 2 and 0 in gt and max(gt) > 0:
                    c["het"] += 1
                elif len(gt) == 2 and gt[0] == gt[1] and gt[0] > 0:
                    c["hom"] += 1
    for contig, records in spans.items():
        starts, stops = (np.array([r[i] for r in records], dtype=np.int64) for i in (0, 1))
        inside = (confident.overlaps(contig, starts, stops) if confident is not None
                  else np.ones(len(records), dtype=bool))
        for (_, _, kind), flag in zip(records, inside):
            counts[contig][f"{kind} in confident"] += int(flag)
    rows = {}
    for contig in [c for c in lengths if c in counts]:
        rows[contig] = counts[contig]
    total: dict[str, int] = defaultdict(int)
    for c in rows.values():
        for k, v in c.items():
            total[k] += v
    rows["all"] = total
    table = pd.DataFrame(
        {name: {"SNPs": c["SNPs"], "indels": c["indels"],
                "SNPs in confident": c["SNPs in confident"], "indels in confident": c["indels in confident"],
                "Ti/Tv": c["ti"] / c["tv"] if c["tv"] else np.nan,
                "het/hom": c["het"] / c["hom"] if c["hom"] else np.nan}
         for name, c in rows.items()}).T
    for column in ("SNPs", "indels", "SNPs in confident", "indels in confident"):
        table[column] = table[column].astype("int64")
    if confident is not None:
        length = {**lengths, "all": sum(lengths[c] for c in rows if c != "all")}
        table["confident fraction"] = [confident.size(None if n == "all" else n) / length[n] for n in table.index]
    table.index.name = "contig"
    return table


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
