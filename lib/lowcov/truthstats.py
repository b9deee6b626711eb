"""Descriptive statistics of a truth VCF and helpers to pick regions worth looking at."""
from __future__ import annotations

import bisect
import os
from collections import defaultdict

import numpy as np
import pandas as pd
import pysam

from .checks import require_vcf
from .coverage import contig_depth

_TRANSITIONS = {frozenset("AG"), frozenset("CT")}


def read_bed(path: str | os.PathLike) -> dict[str, list[tuple[int, int]]]:
    """Merged, sorted half-open intervals per contig."""
    raw: dict[str, list[tuple[int, int]]] = defaultdict(list)
    with open(path) as handle:
        for line in handle:
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.split("\t")
            raw[fields[0]].append((int(fields[1]), int(fields[2])))
    merged = {}
    for contig, intervals in raw.items():
        intervals.sort()
        out = [list(intervals[0])]
        for start, end in intervals[1:]:
            if start <= out[-1][1]:
                out[-1][1] = max(out[-1][1], end)
            else:
                out.append([start, end])
        merged[contig] = [tuple(x) for x in out]
    return merged


class IntervalIndex:
    """Point-in-interval queries on a BED."""

    def __init__(self, path: str | os.PathLike):
        self.intervals = read_bed(path)
        self.starts = {c: [s for s, _ in iv] for c, iv in self.intervals.items()}

    def contains(self, contig: str, start: int, end: int | None = None) -> bool:
        """True if [start, end) (default one base) overlaps an interval."""
        end = start + 1 if end is None else end
        starts = self.starts.get(contig)
        if not starts:
            return False
        i = bisect.bisect_right(starts, end - 1) - 1
        return i >= 0 and self.intervals[contig][i][1] > start

    def total(self, contig: str | None = None) -> int:
        contigs = [contig] if contig else list(self.intervals)
        return sum(e - s for c in contigs for s, e in self.intervals.get(c, []))


def truth_summary(truth_vcf: str | os.PathLike, confident_bed: str | os.PathLike | None = None) -> pd.DataFrame:
    """Per contig (and an ``all`` row): SNPs, indels, how many fall in confident regions, Ti/Tv of SNPs,
    het/hom-alt ratio, and the fraction of the contig that is confident."""
    truth_vcf = require_vcf(truth_vcf)
    confident = IntervalIndex(confident_bed) if confident_bed else None
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with pysam.VariantFile(str(truth_vcf)) as vcf:
        lengths = {c: vcf.header.contigs[c].length for c in vcf.header.contigs}
        sample = next(iter(vcf.header.samples), None)
        for rec in vcf:
            c = counts[rec.chrom]
            kind = "SNPs" if all(len(a) == len(rec.ref) == 1 for a in rec.alts or ()) else "indels"
            c[kind] += 1
            if confident is None or confident.contains(rec.chrom, rec.start, rec.stop):
                c[f"{kind} in confident"] += 1
            if kind == "SNPs" and len(rec.alts) == 1:
                c["ti" if frozenset((rec.ref, rec.alts[0])) in _TRANSITIONS else "tv"] += 1
            if sample is not None:
                gt = [a for a in (rec.samples[sample]["GT"] or ()) if a is not None]
                if len(gt) == 2 and 0 in gt and max(gt) > 0:
                    c["het"] += 1
                elif len(gt) == 2 and gt[0] == gt[1] and gt[0] > 0:
                    c["hom"] += 1
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
        table["confident fraction"] = [confident.total(None if n == "all" else n) / length[n] for n in table.index]
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
