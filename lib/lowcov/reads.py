"""Reads laid out along the reference: the common input of candidate finding and pileup images.

Each alignment becomes per-reference-base arrays over a window (base code and base quality), plus its
insertions and deletions as events anchored at the reference base before them. Codes: 0 no
coverage (outside the read, or inside a splice gap ``N``), 1-4 ``A C G T``, 5 ``N``, 6 deleted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pysam

from .downsample import keep_template

NO_COVERAGE, BASE_N, DELETED = 0, 5, 6
BASES = "ACGT"
#: ASCII byte -> base code
CODE_OF_BYTE = np.full(256, BASE_N, dtype=np.uint8)
for _code, _base in enumerate(BASES, start=1):
    CODE_OF_BYTE[ord(_base)] = _code
    CODE_OF_BYTE[ord(_base.lower())] = _code

#: flags of reads that never enter a pileup: unmapped, secondary, QC fail, duplicate
EXCLUDED_FLAGS = 0x4 | 0x100 | 0x200 | 0x400


@dataclass(frozen=True)
class ReadFilter:
    min_mapping_quality: int = 5
    exclude_flags: int = EXCLUDED_FLAGS
    #: keep this fraction of templates (by read name, as ``samtools view -s``), to train at lower coverage
    keep_fraction: float = 1.0
    keep_seed: int = 0

    def accepts(self, read: pysam.AlignedSegment) -> bool:
        if read.flag & self.exclude_flags or read.mapping_quality < self.min_mapping_quality:
            return False
        if self.keep_fraction < 1.0:
            return keep_template(read.query_name, self.keep_seed, self.keep_fraction)
        return True


@dataclass
class LaidOutRead:
    """One alignment clipped to ``[window_start, window_start + len(codes))``."""

    name: str
    start: int  # first reference base the read covers inside the window
    codes: np.ndarray  # uint8 per window base from ``start``
    quals: np.ndarray  # uint8 per window base from ``start``
    mapq: int
    reverse: bool
    #: (anchor, inserted bases): insertion after reference base ``anchor``
    insertions: list[tuple[int, str]]
    #: (anchor, length): deletion of ``length`` bases after reference base ``anchor``
    deletions: list[tuple[int, int]]

    @property
    def end(self) -> int:
        return self.start + len(self.codes)


def lay_out(read: pysam.AlignedSegment, window_start: int, window_end: int) -> LaidOutRead | None:
    """The part of ``read`` inside ``[window_start, window_end)``; None if nothing of it is inside."""
    ref_start, ref_end = read.reference_start, read.reference_end
    if ref_end is None or ref_end <= window_start or ref_start >= window_end:
        return None
    sequence = read.query_sequence
    if sequence is None:
        return None
    seq = CODE_OF_BYTE[np.frombuffer(sequence.encode(), dtype=np.uint8)]
    qual = read.query_qualities
    qual = np.frombuffer(bytes(qual), dtype=np.uint8) if qual is not None else np.full(len(seq), 30, np.uint8)
    span = ref_end - ref_start
    codes = np.zeros(span, dtype=np.uint8)
    quals = np.zeros(span, dtype=np.uint8)
    insertions: list[tuple[int, str]] = []
    deletions: list[tuple[int, int]] = []
    r = q = 0
    for op, n in read.cigartuples:
        if op in (0, 7, 8):  # M, =, X
            codes[r:r + n] = seq[q:q + n]
            quals[r:r + n] = qual[q:q + n]
            r += n
            q += n
        elif op == 1:  # I
            insertions.append((ref_start + r - 1, sequence[q:q + n].upper()))
            q += n
        elif op == 2:  # D: the deleted bases get the lower quality of the flanking read bases
            codes[r:r + n] = DELETED
            flank = qual[max(q - 1, 0):q + 1]
            quals[r:r + n] = flank.min() if len(flank) else 0
            deletions.append((ref_start + r - 1, n))
            r += n
        elif op == 3:  # N: a splice gap stays uncovered
            r += n
        elif op == 4:  # S
            q += n
    lo, hi = max(ref_start, window_start), min(ref_end, window_end)
    return LaidOutRead(read.query_name, lo, codes[lo - ref_start:hi - ref_start],
                       quals[lo - ref_start:hi - ref_start], read.mapping_quality, read.is_reverse,
                       insertions, deletions)


def fetch_laid_out(bam: pysam.AlignmentFile, contig: str, start: int, end: int, margin: int,
                   read_filter: ReadFilter, max_reads: int, rng: np.random.Generator) -> list[LaidOutRead]:
    """Reads overlapping ``[start, end)``, laid out over ``[start - margin, end + margin)``.

    At most ``max_reads`` are kept (a seeded uniform sample, as DeepVariant caps reads per partition),
    so very deep RNA genes cost bounded time and memory.
    """
    reads = [r for r in bam.fetch(contig, max(0, start), end) if read_filter.accepts(r)]
    if len(reads) > max_reads:
        keep = np.sort(rng.choice(len(reads), max_reads, replace=False))
        reads = [reads[i] for i in keep]
    laid = (lay_out(r, max(0, start - margin), end + margin) for r in reads)
    return [r for r in laid if r is not None]
