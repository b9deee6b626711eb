"""Regions of a reference as make_examples takes them: DeepVariant's ``--regions`` syntax (regions and BED
files), split into work units and with ``--exclude_regions`` taken out."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from . import InputError
from .benchmark.regions import RegionSet


@dataclass(frozen=True)
class Region:
    contig: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.contig}:{self.start + 1}-{self.end}"


def parse_region(text: str, lengths: dict[str, int]) -> Region:
    """``chr1`` or ``chr1:1,001-2,000`` (1-based, inclusive) -> Region."""
    contig, _, span = text.replace(",", "").partition(":")
    if contig not in lengths:
        raise InputError(f"region {text}: contig {contig} is not in the reference "
                         f"(it has {', '.join(list(lengths)[:8])})")
    if not span:
        return Region(contig, 0, lengths[contig])
    first, _, last = span.partition("-")
    start, end = int(first) - 1, min(int(last) if last else lengths[contig], lengths[contig])
    if not 0 <= start < end:
        raise InputError(f"region {text} is empty")
    return Region(contig, start, end)


def split_regions(regions: Sequence[Region], size: int) -> list[Region]:
    return [Region(r.contig, s, min(s + size, r.end)) for r in regions for s in range(r.start, r.end, size)]


def subtract_regions(regions: Sequence[Region], excluded: Sequence[Region]) -> list[Region]:
    """``regions`` without the bases of ``excluded`` (DeepVariant's ``--exclude_regions``), in order."""
    kept = list(regions)
    for cut in excluded:
        pieces = []
        for region in kept:
            if region.contig != cut.contig or region.end <= cut.start or cut.end <= region.start:
                pieces.append(region)
                continue
            if region.start < cut.start:
                pieces.append(Region(region.contig, region.start, cut.start))
            if cut.end < region.end:
                pieces.append(Region(region.contig, cut.end, region.end))
        kept = pieces
    return kept


def region_list(text: str | None, lengths: dict[str, int]) -> list[Region]:
    """DeepVariant's ``--regions`` syntax: regions (``chr20``, ``chr20:10,000-20,000``) and BED files,
    separated by spaces (the case study quotes them twice: ``"'chr1 chr2'"``)."""
    regions = []
    for token in (text or "").replace("'", " ").replace('"', " ").split():
        if token.endswith((".bed", ".bed.gz")):
            bed = RegionSet.from_bed(token, "BED")
            regions += [Region(contig, int(s), int(e)) for contig in bed.contigs for s, e in zip(*bed.intervals(contig))]
        else:
            regions.append(parse_region(token, lengths))
    return regions
