"""BED regions (confident regions, stratification strata) and hap.py's capture rule.

A record is *captured* by a region set when its extent overlaps it, except a pure insertion,
whose extent is the base before and the base after the insertion point and which is captured
only when both bases are covered (spec section 1, "Confident regions"). Intervals are merged
(touching ones too), so "both bases covered" may come from two adjacent BED lines.
"""
from __future__ import annotations

import logging
import os
from typing import Callable, Iterable

import numpy as np

from .. import InputError
from ..checks import require_file

log = logging.getLogger(__name__)


def _merge(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(starts) == 0:
        return starts.astype(np.int64), ends.astype(np.int64)
    order = np.lexsort((ends, starts))
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    # an interval opens a new block when it starts after everything before it has ended
    new_block = np.ones(len(starts), dtype=bool)
    new_block[1:] = starts[1:] > reach[:-1]
    block_id = np.cumsum(new_block) - 1
    merged_starts = starts[new_block]
    merged_ends = np.zeros(len(merged_starts), dtype=np.int64)
    np.maximum.at(merged_ends, block_id, ends)
    return merged_starts.astype(np.int64), merged_ends


class RegionSet:
    """Merged 0-based half-open intervals per contig."""

    def __init__(self, name: str, intervals: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                 source: str | None = None):
        self.name = name
        self.source = source
        self._by_contig: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for chrom, (starts, ends) in (intervals or {}).items():
            self._by_contig[chrom] = _merge(np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64))

    @classmethod
    def from_bed(cls, path: str | os.PathLike, name: str | None = None,
                 rename: Callable[[str], str | None] | None = None) -> "RegionSet":
        """Read a BED (plain or gzipped); ``rename`` maps BED contig names to reference names
        (returning None drops the line's contig, which is reported once)."""
        import gzip

        path = require_file(path, "BED file")
        opener = gzip.open if path.suffix == ".gz" else open
        starts: dict[str, list[int]] = {}
        ends: dict[str, list[int]] = {}
        unknown: set[str] = set()
        with opener(path, "rt") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                fields = line.rstrip("\n").split("\t")
                if len(fields) < 3:
                    fields = line.split()
                try:
                    chrom, start, end = fields[0], int(fields[1]), int(fields[2])
                except (IndexError, ValueError):
                    raise InputError(f"BED file {path} line {line_no} is not 'contig<TAB>start<TAB>end': "
                                     f"{line.strip()[:80]!r}") from None
                if start < 0 or end < start:
                    raise InputError(f"BED file {path} line {line_no} has an invalid interval {start}-{end}")
                if rename is not None:
                    mapped = rename(chrom)
                    if mapped is None:
                        unknown.add(chrom)
                        continue
                    chrom = mapped
                starts.setdefault(chrom, []).append(start)
                ends.setdefault(chrom, []).append(end)
        if unknown:
            log.warning("BED file %s: contig(s) %s are not in the reference; their intervals are ignored",
                        path, ", ".join(sorted(unknown)[:5]))
        intervals = {c: (np.array(starts[c]), np.array(ends[c])) for c in starts}
        return cls(name or path.stem, intervals, source=str(path))

    @property
    def contigs(self) -> list[str]:
        return list(self._by_contig)

    def intervals(self, chrom: str) -> tuple[np.ndarray, np.ndarray]:
        empty = np.zeros(0, dtype=np.int64)
        return self._by_contig.get(chrom, (empty, empty))

    def union(self, chrom: str, starts: Iterable[int], ends: Iterable[int]) -> None:
        """Add intervals on ``chrom`` (used for hap.py's CONF_VARS)."""
        old_s, old_e = self.intervals(chrom)
        new_s = np.concatenate([old_s, np.asarray(list(starts), dtype=np.int64)])
        new_e = np.concatenate([old_e, np.asarray(list(ends), dtype=np.int64)])
        self._by_contig[chrom] = _merge(new_s, new_e)

    def overlaps(self, chrom: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Whether each [start, end) overlaps any interval."""
        reg_s, reg_e = self.intervals(chrom)
        starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
        if len(reg_s) == 0:
            return np.zeros(len(starts), dtype=bool)
        first = np.searchsorted(reg_e, starts, side="right")  # first interval ending after start
        ok = first < len(reg_s)
        result = np.zeros(len(starts), dtype=bool)
        result[ok] = reg_s[first[ok]] < ends[ok]
        return result

    def covers(self, chrom: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Whether each [start, end) lies entirely inside one (merged) interval."""
        reg_s, reg_e = self.intervals(chrom)
        starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
        if len(reg_s) == 0:
            return np.zeros(len(starts), dtype=bool)
        first = np.searchsorted(reg_e, starts, side="right")
        ok = first < len(reg_s)
        result = np.zeros(len(starts), dtype=bool)
        result[ok] = (reg_s[first[ok]] <= starts[ok]) & (reg_e[first[ok]] >= ends[ok])
        return result

    def captures(self, chrom: str, starts: np.ndarray, ends: np.ndarray, pure_insertion: np.ndarray) -> np.ndarray:
        """hap.py's rule: pure insertions need both flanking bases, anything else an overlap.

        ``starts``/``ends`` are record extents; for a pure insertion they must already be the
        two flanking bases (insertion point - 1, insertion point + 1).
        """
        pure_insertion = np.asarray(pure_insertion, dtype=bool)
        return np.where(pure_insertion, self.covers(chrom, starts, ends), self.overlaps(chrom, starts, ends))

    def size(self, chrom: str | None = None) -> int:
        chroms = [chrom] if chrom is not None else self.contigs
        return int(sum((self.intervals(c)[1] - self.intervals(c)[0]).sum() for c in chroms))

    def intersection_size(self, other: "RegionSet") -> int:
        total = 0
        for chrom in self.contigs:
            a_s, a_e = self.intervals(chrom)
            b_s, b_e = other.intervals(chrom)
            i = j = 0
            while i < len(a_s) and j < len(b_s):
                lo, hi = max(a_s[i], b_s[j]), min(a_e[i], b_e[j])
                if hi > lo:
                    total += int(hi - lo)
                if a_e[i] < b_e[j]:
                    i += 1
                else:
                    j += 1
        return total

    def __repr__(self) -> str:
        return f"RegionSet({self.name!r}, {len(self.contigs)} contigs, {self.size()} bp)"
