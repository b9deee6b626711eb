"""BAM records as raw bytes, for loops that must run at C speed.

pysam builds a Python object per alignment (about 8 us each), which is as long as ``samtools depth``
takes for the whole job. The hot loops (per-base depth, laying reads out for pileups) therefore read
the BAM themselves: the ``.bai`` index gives the virtual-offset range of a region, BGZF blocks are
inflated with ISA-L (``isal``, about twice as fast as zlib, and it releases the GIL so threads inflate
in parallel), and the concatenated records are walked by numba-compiled functions that read the
fixed BAM record fields directly (SAM/BAM specification, section 4.2). Only BAM with a ``.bai`` index is
read this way; other inputs (CRAM, CSI-indexed BAM) go through pysam.
"""
from __future__ import annotations

import functools
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numba
import numpy as np
from isal import isal_zlib

from . import InputError

#: BAI pseudo-bin that holds a reference's first/last virtual offsets and read counts
_PSEUDO_BIN = 37450
_BGZF_HEADER = 18  # gzip header with the 6-byte BC extra field every BGZF block carries
_BGZF_FOOTER = 8  # CRC32 + ISIZE

#: CIGAR operations
CIGAR_M, CIGAR_I, CIGAR_D, CIGAR_N, CIGAR_S, CIGAR_H, CIGAR_P, CIGAR_EQ, CIGAR_X = range(9)


def _reg2bins(beg: int, end: int) -> list[int]:
    """The BAI bins that may hold alignments overlapping ``[beg, end)`` (SAM spec, section 5.3)."""
    end -= 1
    bins = [0]
    for shift, first in ((26, 1), (23, 9), (20, 73), (17, 585), (14, 4681)):
        bins.extend(range(first + (beg >> shift), first + (end >> shift) + 1))
    return bins


@dataclass
class BaiIndex:
    """The parts of a ``.bai`` index needed to find a region's records."""

    path: Path
    #: per reference: bin -> array of (begin, end) virtual offsets
    bins: list[dict[int, np.ndarray]]
    #: per reference: smallest virtual offset of an alignment overlapping each 16 kb window
    linear: list[np.ndarray]

    @classmethod
    def read(cls, path: str | os.PathLike) -> "BaiIndex":
        path = Path(path)
        data = path.read_bytes()
        if data[:4] != b"BAI\1":
            raise InputError(f"not a BAI index (bad magic): {path}")
        try:
            (n_ref,), offset = struct.unpack_from("<i", data, 4), 8
            bins, linear = [], []
            for _ in range(n_ref):
                (n_bin,), offset = struct.unpack_from("<i", data, offset), offset + 4
                ref_bins = {}
                for _ in range(n_bin):
                    bin_id, n_chunk = struct.unpack_from("<Ii", data, offset)
                    offset += 8
                    ref_bins[bin_id] = np.frombuffer(data, "<u8", 2 * n_chunk, offset).reshape(n_chunk, 2)
                    offset += 16 * n_chunk
                (n_intv,), offset = struct.unpack_from("<i", data, offset), offset + 4
                linear.append(np.frombuffer(data, "<u8", n_intv, offset))
                offset += 8 * n_intv
                bins.append(ref_bins)
        except (struct.error, ValueError) as exc:
            raise InputError(f"truncated or corrupt BAI index {path}: {exc}") from None
        return cls(path, bins, linear)

    def span(self, tid: int, beg: int, end: int) -> tuple[int, int] | None:
        """Virtual offsets ``[first, last)`` holding every record of reference ``tid`` that overlaps
        ``[beg, end)``, or None when the index lists none."""
        if tid >= len(self.bins):
            return None
        ref_bins, linear = self.bins[tid], self.linear[tid]
        lowest = int(linear[min(beg >> 14, len(linear) - 1)]) if len(linear) else 0
        chunks = [ref_bins[b] for b in _reg2bins(beg, end) if b in ref_bins]
        if not chunks:
            return None
        chunks = np.concatenate(chunks)
        chunks = chunks[chunks[:, 1] > lowest]
        if not len(chunks):
            return None
        return max(int(chunks[:, 0].min()), lowest), int(chunks[:, 1].max())


def bai_path(bam_path: str | os.PathLike) -> Path | None:
    for candidate in (Path(f"{bam_path}.bai"), Path(bam_path).with_suffix(".bai")):
        if candidate.exists():
            return candidate
    return None


def readable(bam_path: str | os.PathLike) -> bool:
    """True when ``bam_path`` is a BAM with a ``.bai`` index, the input this module reads."""
    return str(bam_path).endswith(".bam") and bai_path(bam_path) is not None


def _inflate(block: bytes) -> bytes:
    return isal_zlib.decompress(block, -15)


def _split_blocks(data: bytes, path: Path, offset: int) -> tuple[list[memoryview], int]:
    """Deflate payloads of the whole BGZF blocks at the start of ``data``, and the bytes they span."""
    view = memoryview(data)
    payloads, at = [], 0
    while at + _BGZF_HEADER <= len(data):
        if data[at:at + 4] != b"\x1f\x8b\x08\x04" or data[at + 12:at + 14] != b"BC":
            raise InputError(f"{path}: no BGZF block at byte {offset + at} (truncated or not a BAM)")
        size = (data[at + 16] | data[at + 17] << 8) + 1
        if at + size > len(data):
            break
        payloads.append(view[at + _BGZF_HEADER:at + size - _BGZF_FOOTER])
        at += size
    return payloads, at


def region_buffers(bam_path: str | os.PathLike, span: tuple[int, int], threads: int = 1,
                   chunk_bytes: int = 4 << 20) -> Iterator[np.ndarray]:
    """The records in the virtual-offset ``span`` as uint8 arrays that each end on a record boundary.

    The compressed file is read ``chunk_bytes`` at a time and inflated by ``threads`` threads, so
    memory stays at a few chunks however large the region. The last array may run past the span's
    end: callers stop at the first record beyond their region.
    """
    path = Path(bam_path)
    first, last = span
    start, skip = first >> 16, first & 0xFFFF
    stop = last >> 16  # the block holding the span's end is read whole
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    carry = b""
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            data_offset, data = start, b""  # file offset of data[0]; bytes not yet inflated
            while True:
                more = handle.read(chunk_bytes)
                data += more
                payloads, used = _split_blocks(data, path, data_offset)
                if not more and used < len(data):
                    raise InputError(f"{path}: truncated BGZF block at byte {data_offset + used}")
                finished = not more or data_offset + used > stop
                inflated = list(pool.map(_inflate, payloads)) if pool else [_inflate(p) for p in payloads]
                joined = carry + b"".join(inflated)
                if skip and joined:
                    joined, skip = joined[skip:], 0
                complete = complete_records(np.frombuffer(joined, np.uint8))
                if complete:
                    yield np.frombuffer(joined, np.uint8, complete)
                carry = joined[complete:]
                data_offset, data = data_offset + used, data[used:]
                if finished:
                    break
    finally:
        if pool:
            pool.shutdown()


@numba.njit(cache=True, nogil=True, inline="always")
def i32(buf, at):
    value = np.int64(buf[at]) | np.int64(buf[at + 1]) << 8 | np.int64(buf[at + 2]) << 16 | np.int64(buf[at + 3]) << 24
    return value - (np.int64(1) << 32) if value >= (np.int64(1) << 31) else value


@numba.njit(cache=True, nogil=True, inline="always")
def u32(buf, at):
    return np.int64(buf[at]) | np.int64(buf[at + 1]) << 8 | np.int64(buf[at + 2]) << 16 | np.int64(buf[at + 3]) << 24


@numba.njit(cache=True, nogil=True, inline="always")
def u16(buf, at):
    return np.int64(buf[at]) | np.int64(buf[at + 1]) << 8


# Field offsets inside a record, counted from its block_size field.
REF_ID, POS, L_READ_NAME, MAPQ, N_CIGAR, FLAG, L_SEQ, TLEN, READ_NAME = 4, 8, 12, 13, 16, 18, 20, 32, 36


@numba.njit(cache=True, nogil=True, inline="always")
def record_size(buf, at):
    return i32(buf, at) + 4


@numba.njit(cache=True, nogil=True, inline="always")
def cigar_offset(buf, at):
    return at + READ_NAME + np.int64(buf[at + L_READ_NAME])


@numba.njit(cache=True, nogil=True)
def complete_records(buf) -> int:
    """Length of the prefix of ``buf`` made of whole records."""
    at = 0
    n = len(buf)
    while at + 4 <= n:
        size = record_size(buf, at)
        if at + size > n:
            break
        at += size
    return at


@numba.njit(cache=True, nogil=True, inline="always")
def reference_length(buf, at):
    """Reference bases the record's CIGAR spans (M, D, N, =, X)."""
    c = cigar_offset(buf, at)
    length = 0
    for k in range(u16(buf, at + N_CIGAR)):
        value = u32(buf, c + 4 * k)
        op = value & 0xF
        if op == 0 or op == 2 or op == 3 or op == 7 or op == 8:
            length += value >> 4
    return length


def reference_id(bam_references: tuple[str, ...], contig: str, bam_path) -> int:
    try:
        return bam_references.index(contig)
    except ValueError:
        raise InputError(f"contig {contig} is not in {bam_path}") from None


@numba.njit(cache=True, nogil=True)
def fragment_lengths(buf, offsets):
    """|TLEN| of each record (0 for a read without a mate on the same contig, as the SAM spec sets it)."""
    out = np.empty(len(offsets), np.int64)
    for k in range(len(offsets)):
        out[k] = abs(i32(buf, offsets[k] + TLEN))
    return out


@numba.njit(cache=True, nogil=True)
def _index_records(buf, tid, start, end):
    """Offsets and core fields of the records in ``buf`` on reference ``tid`` that overlap
    ``[start, end)``, as htslib's region query selects them (a record without reference-consuming
    CIGAR operations spans one base)."""
    n = 0
    at = 0
    while at < len(buf):
        n += 1
        at += record_size(buf, at)
    offsets = np.empty(n, np.int64)
    ref_start = np.empty(n, np.int64)
    ref_end = np.empty(n, np.int64)
    flag = np.empty(n, np.int64)
    mapq = np.empty(n, np.int64)
    seq_length = np.empty(n, np.int64)
    kept = 0
    at = 0
    while at < len(buf):
        ref, pos = i32(buf, at + REF_ID), i32(buf, at + POS)
        if ref != tid or pos >= end:
            break
        last = pos + max(reference_length(buf, at), 1)
        if last > start:
            offsets[kept], ref_start[kept], ref_end[kept] = at, pos, last
            flag[kept], mapq[kept] = u16(buf, at + FLAG), buf[at + MAPQ]
            seq_length[kept] = i32(buf, at + L_SEQ)
            kept += 1
        at += record_size(buf, at)
    return offsets[:kept], ref_start[:kept], ref_end[:kept], flag[:kept], mapq[:kept], seq_length[:kept]


@numba.njit(cache=True, nogil=True)
def _name_matrix(buf, offsets):
    """Read names as rows of a zero-padded byte matrix (zero padding keeps bytewise order)."""
    width = 1
    for at in offsets:
        width = max(width, np.int64(buf[at + L_READ_NAME]) - 1)
    names = np.zeros((len(offsets), width), np.uint8)
    lengths = np.empty(len(offsets), np.int64)
    for row in range(len(offsets)):
        at = offsets[row]
        length = np.int64(buf[at + L_READ_NAME]) - 1  # without the NUL
        names[row, :length] = buf[at + READ_NAME:at + READ_NAME + length]
        lengths[row] = length
    return names, lengths


@dataclass
class RecordTable:
    """The records of one region: their raw bytes and the core fields the pipeline filters on."""

    buf: np.ndarray
    offsets: np.ndarray
    ref_start: np.ndarray
    ref_end: np.ndarray
    flag: np.ndarray
    mapq: np.ndarray
    seq_length: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets)

    def names(self) -> tuple[np.ndarray, np.ndarray]:
        """(zero-padded byte matrix, lengths) of the read names."""
        return _name_matrix(self.buf, self.offsets)

    def subset(self, keep: np.ndarray) -> "RecordTable":
        return RecordTable(self.buf, self.offsets[keep], self.ref_start[keep], self.ref_end[keep],
                           self.flag[keep], self.mapq[keep], self.seq_length[keep])


_SEQ_NIBBLE = np.zeros(256, dtype=np.uint8)
for _nibble, _letter in enumerate("=ACMGRSVTWYHKDBN"):
    _SEQ_NIBBLE[ord(_letter)] = _nibble
    _SEQ_NIBBLE[ord(_letter.lower())] = _nibble


def encode_record(read) -> bytes:
    """A pysam alignment as BAM record bytes, so that inputs pysam reads (CRAM, CSI-indexed BAM) go
    through the same compiled loops as BAM."""
    name = read.query_name.encode() + b"\0"
    cigar = read.cigartuples or []
    sequence = read.query_sequence or ""
    nibbles = _SEQ_NIBBLE[np.frombuffer(sequence.encode(), np.uint8)]
    if len(nibbles) % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    packed = (nibbles[0::2] << 4 | nibbles[1::2]).astype(np.uint8).tobytes()
    quals = read.query_qualities
    qual = bytes(quals) if quals is not None else b"\xff" * len(sequence)
    body = (struct.pack("<iiBBHHHiiii", read.reference_id, read.reference_start, len(name), read.mapping_quality,
                        read.bin, len(cigar), read.flag, len(sequence), read.next_reference_id,
                        read.next_reference_start, read.template_length)
            + name + struct.pack(f"<{len(cigar)}I", *[length << 4 | op for op, length in cigar]) + packed + qual)
    return struct.pack("<i", len(body)) + body


def read_region(bam_path: str | os.PathLike, contig: str, start: int, end: int, threads: int = 1) -> RecordTable:
    """Every record of ``contig`` overlapping ``[start, end)``, in file order (as ``fetch`` gives them)."""
    import pysam

    with pysam.AlignmentFile(str(bam_path)) as bam:
        tid = reference_id(bam.references, contig, bam_path)
        if not readable(bam_path):
            buf = np.frombuffer(b"".join(encode_record(r) for r in bam.fetch(contig, start, end)), np.uint8)
            return RecordTable(buf, *_index_records(buf, tid, start, end))
    span = region_span(bam_path, tid, start, end)
    pieces = list(region_buffers(bam_path, span, threads)) if span else []
    buf = np.concatenate(pieces) if pieces else np.zeros(0, np.uint8)
    return RecordTable(buf, *_index_records(buf, tid, start, end))


@functools.lru_cache(maxsize=16)
def _cached_index(path: str, mtime_ns: int) -> BaiIndex:
    return BaiIndex.read(path)


def region_span(bam_path: str | os.PathLike, tid: int, start: int, end: int) -> tuple[int, int] | None:
    """The virtual-offset span of a region of a BAM this module reads (its index parsed once)."""
    index = bai_path(bam_path)
    return _cached_index(str(index), os.stat(index).st_mtime_ns).span(tid, start, end)
