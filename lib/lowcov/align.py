"""Align reads to a reference with minimap2 (through ``mappy``) into a sorted, indexed BAM.

This is the case study's ``pbmm2 align --preset CCS ... --sort`` step, and the aligner of the demo's
short DNA reads. Presets map onto minimap2's:

======== ============ ==========================================================
preset   minimap2     used for
======== ============ ==========================================================
sr       sr           paired-end short reads (BGISEQ-like DNA)
ccs      map-hifi     PacBio HiFi / Kinnex reads, unspliced (pbmm2 ``CCS``)
isoseq   splice:hq    PacBio full-length transcripts, splice-aware (pbmm2 ``ISOSEQ``)
======== ============ ==========================================================

Reads come from FASTQ/FASTA (optionally gzipped) or an unaligned BAM such as PacBio's
``segmented.bam``. Alignment runs in threads (mappy releases the GIL while mapping); records are
written unsorted to a temporary BAM, then ``samtools sort`` (through pysam) makes the final file, so
memory stays bounded for the 32 GB RNA BAM of the ``seed`` profile.
"""
from __future__ import annotations

import itertools
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import mappy
import pysam
from tqdm import tqdm

from . import InputError
from .checks import require_fasta, require_file
from .fileio import atomic_output, remove_with_sidecars, temporary_name

log = logging.getLogger(__name__)

PRESETS = {"sr": "sr", "ccs": "map-hifi", "isoseq": "splice:hq"}

FLAG_PAIRED, FLAG_PROPER, FLAG_UNMAPPED, FLAG_MATE_UNMAPPED = 0x1, 0x2, 0x4, 0x8
FLAG_REVERSE, FLAG_MATE_REVERSE, FLAG_READ1, FLAG_READ2 = 0x10, 0x20, 0x40, 0x80
FLAG_SUPPLEMENTARY = 0x800

_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


@dataclass(frozen=True)
class AlignConfig:
    preset: str = "sr"
    threads: int = 2
    batch_size: int = 20_000
    #: longest fragment still called a proper pair (short reads only)
    max_fragment: int = 1000
    sample: str = "sample"
    read_group: str = "rg1"
    platform: str = "ILLUMINA"
    sort_memory: str = "512M"
    extra_header: dict = field(default_factory=dict)

    @property
    def minimap2_preset(self) -> str:
        return PRESETS.get(self.preset.lower(), self.preset)


@dataclass
class Read:
    name: str
    seq: str
    qual: str | None  # Phred+33 string, None when the input has no qualities


def _strip_mate_suffix(name: str) -> str:
    return name[:-2] if name.endswith(("/1", "/2")) else name


def read_sequences(path: Path) -> Iterator[Read]:
    """Reads of a FASTQ/FASTA(.gz) or an unaligned BAM/SAM, in file order."""
    path = require_file(path, "reads file")
    if path.suffix in (".bam", ".sam", ".cram"):
        with pysam.AlignmentFile(str(path), check_sq=False) as bam:
            for rec in bam.fetch(until_eof=True):
                if rec.is_secondary or rec.is_supplementary:
                    continue
                seq, qual = rec.query_sequence, rec.qual
                if rec.is_reverse:  # stored reverse-complemented if it was aligned before
                    seq, qual = reverse_complement(seq), (qual[::-1] if qual else qual)
                yield Read(rec.query_name, seq, qual)
        return
    with pysam.FastxFile(str(path)) as fastx:
        for rec in fastx:
            yield Read(rec.name, rec.sequence, rec.quality)


def _batched(iterable: Iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _pairs(path1: Path, path2: Path) -> Iterator[tuple[Read, Read]]:
    for n, (r1, r2) in enumerate(itertools.zip_longest(read_sequences(path1), read_sequences(path2))):
        if r1 is None or r2 is None:
            raise InputError(f"paired FASTQ files have different numbers of reads ({path1}, {path2}): "
                             f"one ends at pair {n + 1}")
        if _strip_mate_suffix(r1.name) != _strip_mate_suffix(r2.name):
            raise InputError(f"mates out of order at pair {n + 1}: {r1.name} in {path1} vs {r2.name} in {path2}")
        yield r1, r2


class _Placed:
    """One alignment of one read, in the form a BAM record needs."""

    __slots__ = ("contig", "start", "end", "reverse", "cigar", "mapq", "nm", "seq", "qual", "supplementary")

    def __init__(self, hit, read: Read, supplementary: bool, second_mate: bool = False):
        length = len(read.seq)
        self.contig, self.start, self.end, self.mapq, self.nm = hit.ctg, hit.r_st, hit.r_en, hit.mapq, hit.NM
        self.reverse = hit.strand < 0
        self.supplementary = supplementary
        q_st, q_en = hit.q_st, hit.q_en
        if second_mate:
            # mapping a pair, minimap2 aligns the second mate reverse-complemented (FR orientation) and mappy
            # reports its query interval on that reversed sequence, while the strand is the mate's own
            q_st, q_en = length - hit.q_en, length - hit.q_st
        if self.reverse:
            left, right = length - q_en, q_st
            self.seq, self.qual = reverse_complement(read.seq), (read.qual[::-1] if read.qual else None)
        else:
            left, right = q_st, length - q_en
            self.seq, self.qual = read.seq, read.qual
        cigar = [(op, n) for n, op in hit.cigar]
        # soft clips keep the whole read in the record, as minimap2 does for primary alignments
        if left:
            cigar.insert(0, (4, left))
        if right:
            cigar.append((4, right))
        self.cigar = cigar


def _place(hits, read: Read, read_num: int | None = None) -> list[_Placed]:
    """Primary alignment first, then supplementary ones; secondary alignments are dropped."""
    chosen = [h for h in hits if h.is_primary and (read_num is None or h.read_num == read_num)]
    return [_Placed(h, read, supplementary=i > 0, second_mate=read_num == 2) for i, h in enumerate(chosen)]


class _Aligner:
    def __init__(self, reference: Path, config: AlignConfig):
        self.config = config
        self.formatter = _SamFormatter(config)
        self.index = mappy.Aligner(str(reference), preset=config.minimap2_preset)
        if not self.index:
            raise InputError(f"minimap2 could not index reference {reference}")

    def map_single(self, batch: list[Read]) -> list[str]:
        buf = mappy.ThreadBuffer()
        lines: list[str] = []
        for read in batch:
            lines += self.formatter.single(read, _place(self.index.map(read.seq, buf=buf), read))
        return lines

    def map_pairs(self, batch: list[tuple[Read, Read]]) -> list[str]:
        buf = mappy.ThreadBuffer()
        lines: list[str] = []
        for r1, r2 in batch:
            hits = list(self.index.map(r1.seq, r2.seq, buf=buf))
            lines += self.formatter.pair(r1, r2, _place(hits, r1, 1), _place(hits, r2, 2))
        return lines


def _header(reference: Path, config: AlignConfig, reads: Sequence[Path]) -> pysam.AlignmentHeader:
    with pysam.FastaFile(str(reference)) as fasta:
        sq = [{"SN": n, "LN": l} for n, l in zip(fasta.references, fasta.lengths)]
    return pysam.AlignmentHeader.from_dict({
        "HD": {"VN": "1.6", "SO": "unsorted"},
        "SQ": sq,
        "RG": [{"ID": config.read_group, "SM": config.sample, "PL": config.platform}],
        "PG": [{"ID": "lowcov.align", "PN": "minimap2 (mappy)", "VN": mappy.__version__,
                "CL": f"preset={config.minimap2_preset} reads={','.join(str(r) for r in reads)}"}],
        **config.extra_header,
    })


_CIGAR_OPS = "MIDNSHP=X"


def _cigar_text(cigar: list[tuple[int, int]]) -> str:
    return "".join(f"{n}{_CIGAR_OPS[op]}" for op, n in cigar)


class _SamFormatter:
    """SAM text lines for aligned reads. Formatting text in the worker threads and letting
    ``samtools sort`` parse it is several times cheaper than building pysam records one by one."""

    def __init__(self, config: AlignConfig):
        self.config = config
        self.rg = f"RG:Z:{config.read_group}"

    def _line(self, name: str, flag: int, placed: _Placed | None, read: Read, mate: _Placed | None = None,
              anchor: _Placed | None = None, tlen: int = 0) -> str:
        if placed is None:
            flag |= FLAG_UNMAPPED
            contig, pos = (anchor.contig, anchor.start + 1) if anchor is not None else ("*", 0)
            fields = [name, str(flag), contig, str(pos), "0", "*"]
            seq, qual, tags = read.seq, read.qual or "*", [self.rg]
        else:
            flag |= (FLAG_REVERSE if placed.reverse else 0) | (FLAG_SUPPLEMENTARY if placed.supplementary else 0)
            fields = [name, str(flag), placed.contig, str(placed.start + 1), str(placed.mapq),
                      _cigar_text(placed.cigar)]
            seq, qual, tags = placed.seq, placed.qual or "*", [f"NM:i:{placed.nm}", self.rg]
        if mate is not None:
            same = placed is not None and mate.contig == placed.contig or placed is None
            fields += ["=" if same else mate.contig, str(mate.start + 1), str(tlen)]
        elif anchor is not None and placed is None:
            fields += ["=", str(anchor.start + 1), "0"]
        elif placed is not None and flag & FLAG_PAIRED:  # mate unmapped: it sorts beside this read
            fields += ["=", str(placed.start + 1), "0"]
        else:
            fields += ["*", "0", "0"]
        return "\t".join(fields + [seq, qual] + tags)

    def single(self, read: Read, placements: list[_Placed]) -> list[str]:
        if not placements:
            return [self._line(read.name, 0, None, read)]
        return [self._line(read.name, 0, placed, read) for placed in placements]

    def pair(self, r1: Read, r2: Read, p1: list[_Placed], p2: list[_Placed]) -> list[str]:
        name = _strip_mate_suffix(r1.name)
        a, b = (p1[0] if p1 else None), (p2[0] if p2 else None)
        proper = (a is not None and b is not None and a.contig == b.contig and a.reverse != b.reverse
                  and max(a.end, b.end) - min(a.start, b.start) <= self.config.max_fragment
                  and (a if not a.reverse else b).start <= (b if a.reverse else a).end)
        lines = []
        for mine, mate, read, placements, which in ((a, b, r1, p1, FLAG_READ1), (b, a, r2, p2, FLAG_READ2)):
            flag = FLAG_PAIRED | which | (FLAG_PROPER if proper else 0)
            if mate is None:
                flag |= FLAG_MATE_UNMAPPED
            elif mate.reverse:
                flag |= FLAG_MATE_REVERSE
            for placed in (placements or [None]):
                tlen = 0
                if placed is not None and mate is not None and placed.contig == mate.contig and not placed.supplementary:
                    left, right = min(placed.start, mate.start), max(placed.end, mate.end)
                    leftmost = placed.start < mate.start or (placed.start == mate.start and which == FLAG_READ1)
                    tlen = (right - left) if leftmost else -(right - left)
                lines.append(self._line(name, flag, placed, read, mate=mate, anchor=mate, tlen=tlen))
        return lines


def align_reads(reads: Sequence[str | os.PathLike], reference: str | os.PathLike, out_bam: str | os.PathLike,
                config: AlignConfig | None = None, **overrides) -> Path:
    """Align ``reads`` (one file, or two for paired-end) to ``reference`` into sorted+indexed ``out_bam``.

    Keyword ``overrides`` set fields of :class:`AlignConfig` (e.g. ``preset="ccs", threads=4``).
    """
    config = config or AlignConfig()
    if overrides:
        config = AlignConfig(**{**config.__dict__, **overrides})
    reads = [Path(r) for r in reads]
    if len(reads) not in (1, 2):
        raise ValueError(f"reads must be one file (single-end) or two (paired-end), got {len(reads)}")
    reference = require_fasta(reference)
    out_bam = Path(out_bam)
    aligner = _Aligner(reference, config)
    header = _header(reference, config, reads)
    unsorted = temporary_name(out_bam.with_name(out_bam.name + ".unsorted.sam"))
    log.info("aligning %s to %s with minimap2 preset %s (%d threads)",
             ", ".join(map(str, reads)), reference, config.minimap2_preset, config.threads)
    paired = len(reads) == 2
    source = _pairs(*reads) if paired else read_sequences(reads[0])
    written = 0
    try:
        with open(unsorted, "w") as sam, ThreadPoolExecutor(max(1, config.threads)) as pool, \
                tqdm(desc=f"align {reads[0].name}", unit=" records", disable=None) as progress:
            sam.write(str(header))
            work = aligner.map_pairs if paired else aligner.map_single
            # keep at most threads+1 batches in flight so memory stays bounded
            pending = []
            for batch in _batched(source, config.batch_size):
                pending.append(pool.submit(work, batch))
                if len(pending) > config.threads:
                    written += _drain(pending.pop(0), sam, progress)
            for future in pending:
                written += _drain(future, sam, progress)
        with atomic_output(out_bam) as tmp:
            pysam.sort("-@", str(max(1, config.threads)), "-m", config.sort_memory,
                       "-T", str(tmp) + ".sorttmp", "-o", str(tmp), str(unsorted))
            pysam.index(str(tmp))
    finally:
        remove_with_sidecars(unsorted)
    log.info("wrote %s (%d records)", out_bam, written)
    return out_bam


def _drain(future, sam, progress) -> int:
    lines = future.result()
    if lines:
        sam.write("\n".join(lines))
        sam.write("\n")
    progress.update(len(lines))
    return len(lines)
