"""Reads laid out along the reference: the common input of candidate finding and pileup images.

The reads of a window become columnar arrays: per reference base of each read, a base code and a base
quality, plus the read's insertions and deletions as events anchored at the reference base before
them. Codes: 0 no coverage (outside the read, or inside a splice gap ``N``), 1-4 ``A C G T``, 5 ``N``
(or any other IUPAC code), 6 deleted. The layout is computed by a compiled loop over the raw BAM
records (:mod:`lowcov.bamraw`), which is what makes ``make_examples`` fast on a CPU.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from . import bamraw
from .downsample import keep_mask_of_matrix

NO_COVERAGE, BASE_N, DELETED = 0, 5, 6
BASES = "ACGT"
#: ASCII byte -> base code
CODE_OF_BYTE = np.full(256, BASE_N, dtype=np.uint8)
for _code, _base in enumerate(BASES, start=1):
    CODE_OF_BYTE[ord(_base)] = _code
    CODE_OF_BYTE[ord(_base.lower())] = _code
#: BAM's 4-bit base ("=ACMGRSVTWYHKDBN") -> base code, and -> letter
CODE_OF_NIBBLE = np.array([BASE_N, 1, 2, BASE_N, 3, BASE_N, BASE_N, BASE_N, 4] + [BASE_N] * 7, dtype=np.uint8)
LETTER_OF_NIBBLE = "=ACMGRSVTWYHKDBN"
#: base quality used when a read has none (BAM stores 0xFF)
MISSING_QUALITY = 30

#: flags of reads that never enter a pileup: unmapped, secondary, QC fail, duplicate
EXCLUDED_FLAGS = 0x4 | 0x100 | 0x200 | 0x400


@dataclass(frozen=True)
class ReadFilter:
    min_mapping_quality: int = 5
    exclude_flags: int = EXCLUDED_FLAGS
    #: keep this fraction of templates (by read name, as ``samtools view -s``), to train at lower coverage
    keep_fraction: float = 1.0
    keep_seed: int = 0

    def accepts(self, records: bamraw.RecordTable) -> np.ndarray:
        """Which records enter pileups (reads without a stored sequence never do)."""
        keep = ((records.flag & self.exclude_flags) == 0) & (records.mapq >= self.min_mapping_quality)
        keep &= records.seq_length > 0
        if self.keep_fraction < 1.0 and len(records):
            names, lengths = records.names()
            keep &= keep_mask_of_matrix(names, lengths, self.keep_seed, self.keep_fraction)
        return keep


@dataclass
class LaidOutReads:
    """Reads clipped to ``[window_start, window_end)``. Read ``i`` covers reference bases
    ``[lo[i], hi[i])``; their codes and qualities are ``codes[offset[i]:offset[i] + hi[i] - lo[i]]``.
    Insertion ``k`` of read ``ins_read[k]`` follows reference base ``ins_anchor[k]``; deletion ``k``
    removes ``del_length[k]`` bases after ``del_anchor[k]``. Events are listed in read order and are
    not clipped to the window."""

    window_start: int
    window_end: int
    lo: np.ndarray
    hi: np.ndarray
    offset: np.ndarray
    codes: np.ndarray
    quals: np.ndarray
    #: per laid-out base, the length of the run of equal bases it belongs to in the read's whole sequence (soft
    #: clips and inserted bases included, capped at 255; 0 for a deleted base): DeepVariant's homopolymer_weighted
    runs: np.ndarray
    mapq: np.ndarray
    reverse: np.ndarray
    #: |TLEN| of each read: its fragment's length, 0 when it has no mate on the contig
    fragment_length: np.ndarray
    #: position of each read when the reads are sorted by name (ties in pileup row order)
    name_rank: np.ndarray
    ins_read: np.ndarray
    ins_anchor: np.ndarray
    ins_bases_offset: np.ndarray
    ins_length: np.ndarray
    ins_bases: np.ndarray  # BAM 4-bit codes
    #: quality of each insertion's first inserted base (what DeepVariant draws at the insertion's anchor)
    ins_quality: np.ndarray
    del_read: np.ndarray
    del_anchor: np.ndarray
    del_length: np.ndarray

    def __len__(self) -> int:
        return len(self.lo)

    def inserted_sequence(self, k: int) -> str:
        start = self.ins_bases_offset[k]
        return "".join(LETTER_OF_NIBBLE[b] for b in self.ins_bases[start:start + self.ins_length[k]])

    def code_at(self, reads: np.ndarray, position: int) -> np.ndarray:
        """Base codes of ``reads`` (indices) at reference ``position`` (0 where a read does not cover it)."""
        inside = (self.lo[reads] <= position) & (position < self.hi[reads])
        at = np.where(inside, self.offset[reads] + position - self.lo[reads], 0)
        return np.where(inside, self.codes[at], 0).astype(np.uint8)


@numba.njit(cache=True, nogil=True, inline="always")
def _nibble(buf, seq, q):
    byte = np.int64(buf[seq + q // 2])
    return byte >> 4 if q % 2 == 0 else byte & 0xF


@numba.njit(cache=True, nogil=True)
def _run_lengths(buf, seq, seq_length):
    """For each base of a read's sequence, the length of the run of equal bases (4-bit codes) it belongs to."""
    out = np.empty(seq_length, np.int64)
    start = 0
    for q in range(1, seq_length + 1):
        if q == seq_length or _nibble(buf, seq, q) != _nibble(buf, seq, start):
            out[start:q] = q - start
            start = q
    return out


@numba.njit(cache=True, nogil=True)
def _count_events(buf, offsets):
    n_ins = n_del = ins_bases = 0
    for at in offsets:
        c = bamraw.cigar_offset(buf, at)
        for k in range(bamraw.u16(buf, at + bamraw.N_CIGAR)):
            value = bamraw.u32(buf, c + 4 * k)
            if value & 0xF == 1:
                n_ins += 1
                ins_bases += value >> 4
            elif value & 0xF == 2:
                n_del += 1
    return n_ins, n_del, ins_bases


@numba.njit(cache=True, nogil=True)
def _lay_out(buf, offsets, ref_start, lo, hi, out_offset, codes, quals, runs, ins_read, ins_anchor, ins_bases_offset,
             ins_length, ins_bases, ins_quality, del_read, del_anchor, del_length, code_of_nibble, missing_quality):
    n_ins = n_del = n_ins_bases = 0
    for i in range(len(offsets)):
        at = offsets[i]
        seq_length = bamraw.i32(buf, at + bamraw.L_SEQ)
        c = bamraw.cigar_offset(buf, at)
        n_cigar = bamraw.u16(buf, at + bamraw.N_CIGAR)
        seq = c + 4 * n_cigar
        qual = seq + (seq_length + 1) // 2
        has_quality = seq_length > 0 and buf[qual] != 0xFF
        read_runs = _run_lengths(buf, seq, seq_length)
        r = ref_start[i]
        q = 0
        for k in range(n_cigar):
            value = bamraw.u32(buf, c + 4 * k)
            op, length = value & 0xF, value >> 4
            if op == 0 or op == 7 or op == 8:
                for j in range(length):
                    pos = r + j
                    if lo[i] <= pos < hi[i]:
                        codes[out_offset[i] + pos - lo[i]] = code_of_nibble[_nibble(buf, seq, q + j)]
                        quals[out_offset[i] + pos - lo[i]] = buf[qual + q + j] if has_quality else missing_quality
                        runs[out_offset[i] + pos - lo[i]] = min(read_runs[q + j], 255)
                r += length
                q += length
            elif op == 1:
                ins_read[n_ins], ins_anchor[n_ins] = i, r - 1
                ins_bases_offset[n_ins], ins_length[n_ins] = n_ins_bases, length
                ins_quality[n_ins] = buf[qual + q] if has_quality else missing_quality
                for j in range(length):
                    ins_bases[n_ins_bases + j] = _nibble(buf, seq, q + j)
                n_ins += 1
                n_ins_bases += length
                q += length
            elif op == 2:
                # the deleted bases get the lower quality of the read bases on either side
                flank = 255
                for j in range(max(q - 1, 0), min(q + 1, seq_length)):
                    flank = min(flank, buf[qual + j] if has_quality else missing_quality)
                if flank == 255:
                    flank = 0
                for j in range(length):
                    pos = r + j
                    if lo[i] <= pos < hi[i]:
                        codes[out_offset[i] + pos - lo[i]] = 6
                        quals[out_offset[i] + pos - lo[i]] = flank
                del_read[n_del], del_anchor[n_del], del_length[n_del] = i, r - 1, length
                n_del += 1
                r += length
            elif op == 3:
                r += length
            elif op == 4:
                q += length


def name_ranks(records: bamraw.RecordTable) -> np.ndarray:
    """Rank of each record's name in bytewise order (equal names share no rank; order is stable)."""
    names, _ = records.names()
    order = np.lexsort(names.T[::-1]) if names.shape[1] else np.arange(len(records))
    ranks = np.empty(len(records), np.int64)
    ranks[order] = np.arange(len(records))
    return ranks


def lay_out(records: bamraw.RecordTable, window_start: int, window_end: int,
            name_rank: np.ndarray | None = None) -> LaidOutReads:
    """``records`` (already filtered) laid out over ``[window_start, window_end)``."""
    lo = np.maximum(records.ref_start, window_start)
    hi = np.minimum(records.ref_end, window_end)
    if np.any(lo >= hi):
        raise ValueError("lay_out needs records that overlap the window")
    span = hi - lo
    out_offset = np.concatenate([[0], np.cumsum(span)[:-1]]).astype(np.int64) if len(span) else np.zeros(0, np.int64)
    codes = np.zeros(int(span.sum()), np.uint8)
    quals = np.zeros(int(span.sum()), np.uint8)
    runs = np.zeros(int(span.sum()), np.uint8)
    n_ins, n_del, n_ins_bases = _count_events(records.buf, records.offsets)
    ins = [np.zeros(n_ins, np.int64) for _ in range(4)]
    ins_bases = np.zeros(n_ins_bases, np.uint8)
    ins_quality = np.zeros(n_ins, np.uint8)
    dels = [np.zeros(n_del, np.int64) for _ in range(3)]
    _lay_out(records.buf, records.offsets, records.ref_start, lo, hi, out_offset, codes, quals, runs, *ins, ins_bases,
             ins_quality, *dels, CODE_OF_NIBBLE, MISSING_QUALITY)
    reverse = (records.flag & 0x10) != 0
    return LaidOutReads(window_start, window_end, lo, hi, out_offset, codes, quals, runs, records.mapq, reverse,
                        bamraw.fragment_lengths(records.buf, records.offsets),
                        name_ranks(records) if name_rank is None else name_rank, *ins, ins_bases, ins_quality, *dels)


def overlapping(records: bamraw.RecordTable, start: int, end: int) -> np.ndarray:
    """Indices of the records overlapping ``[start, end)``, in file order."""
    return np.flatnonzero((records.ref_start < end) & (records.ref_end > start))


def sample_reads(indices: np.ndarray, max_reads: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``max_reads`` of ``indices`` (a seeded uniform sample, in their order), as DeepVariant
    caps reads per partition, so very deep RNA genes cost bounded time and memory."""
    if len(indices) > max_reads:
        return indices[np.sort(rng.choice(len(indices), max_reads, replace=False))]
    return indices
