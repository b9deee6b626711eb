"""Candidate variants from allele counts, with DeepVariant's WGS thresholds as defaults.

A position becomes a SNP candidate when an alternate base is seen in at least ``min_snp_count`` reads
(base quality >= ``min_base_quality``) making up at least ``min_snp_fraction`` of the reads there; an
insertion or deletion when at least ``min_indel_count`` reads carry the same event (after
normalisation) making up at least ``min_indel_fraction`` of the depth at its anchor. Indel events are
normalised with :mod:`lowcov.normalize`, the benchmark's own normaliser, so candidates,
labels and the benchmark agree on representation.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np

from .normalize import normalize
from .reads import BASES, CODE_OF_BYTE, DELETED, LaidOutReads

RefFetch = Callable[[str, int, int], str]


@dataclass(frozen=True)
class CandidateConfig:
    """DeepVariant's WGS defaults (its PacBio presets use an indel fraction of 0.12)."""

    min_base_quality: int = 10
    min_snp_count: int = 2
    min_snp_fraction: float = 0.12
    min_indel_count: int = 2
    min_indel_fraction: float = 0.06
    max_indel_length: int = 100


@dataclass(frozen=True, order=True)
class Candidate:
    contig: str
    pos: int  # 1-based VCF POS of the normalised allele (the padding base for indels)
    ref: str
    alt: str
    alt_count: int
    depth: int

    @property
    def anchor(self) -> int:
        """0-based reference position at the centre of the pileup image."""
        return self.pos - 1

    @property
    def is_indel(self) -> bool:
        return len(self.ref) != len(self.alt)

    @property
    def key(self) -> tuple[int, str, str]:
        return self.pos, self.ref, self.alt

    @property
    def keys(self) -> tuple[tuple[int, str, str], ...]:
        """The normalised alleles this candidate's image asks about (one; two for an allele pair)."""
        return (self.key,)


@dataclass(frozen=True, order=True)
class AllelePair(Candidate):
    """Two candidates at one position in one image, as DeepVariant draws every pair of alt alleles of a
    multi-allelic site (deepvariant/pileup_image.py): ``ref`` is the longer REF, ``alt`` the two ALTs
    extended to it and joined by a comma (the convention of lowcov's example metadata)."""

    members: tuple[Candidate, ...] = ()

    @property
    def is_indel(self) -> bool:
        return any(m.is_indel for m in self.members)

    @property
    def keys(self) -> tuple[tuple[int, str, str], ...]:
        return tuple(m.key for m in self.members)


def allele_pairs(candidates: list[Candidate]) -> list[AllelePair]:
    """Every pair of candidates that share a position (the candidates sorted by position)."""
    pairs = []
    for i, first in enumerate(candidates):
        for second in candidates[i + 1:]:
            if second.pos != first.pos:
                break
            ref = max(first.ref, second.ref, key=len)
            alts = ",".join(m.alt + ref[len(m.ref):] for m in (first, second))
            pairs.append(AllelePair(first.contig, first.pos, ref, alts, first.alt_count + second.alt_count,
                                    max(first.depth, second.depth), (first, second)))
    return pairs


class IndelNormaliser:
    """Turns a read's raw insertion/deletion into the normalised (pos, ref, alt), with a cache."""

    def __init__(self, fetch: RefFetch, contig: str):
        self.fetch, self.contig = fetch, contig
        self.cache: dict[tuple, tuple[int, str, str]] = {}

    def insertion(self, anchor: int, inserted: str) -> tuple[int, str, str]:
        key = ("I", anchor, inserted)
        if key not in self.cache:
            pad = self.fetch(self.contig, anchor, anchor + 1).upper()
            self.cache[key] = normalize(self.fetch, self.contig, anchor + 1, pad, pad + inserted).as_tuple()
        return self.cache[key]

    def deletion(self, anchor: int, length: int) -> tuple[int, str, str]:
        key = ("D", anchor, length)
        if key not in self.cache:
            ref = self.fetch(self.contig, anchor, anchor + length + 1).upper()
            self.cache[key] = normalize(self.fetch, self.contig, anchor + 1, ref, ref[0]).as_tuple()
        return self.cache[key]


def read_indel_keys(reads: LaidOutReads, normaliser: IndelNormaliser, max_length: int
                    ) -> dict[int, set[tuple[int, str, str]]]:
    """Read index -> the normalised indel alleles it carries (reads without indels are left out)."""
    keys: dict[int, set] = {}
    for k in range(len(reads.ins_read)):
        anchor = int(reads.ins_anchor[k])
        if anchor >= 0 and reads.ins_length[k] <= max_length:
            inserted = reads.inserted_sequence(k).upper()
            if "N" not in inserted:
                keys.setdefault(int(reads.ins_read[k]), set()).add(normaliser.insertion(anchor, inserted))
    for k in range(len(reads.del_read)):
        anchor = int(reads.del_anchor[k])
        if anchor >= 0 and reads.del_length[k] <= max_length:
            keys.setdefault(int(reads.del_read[k]), set()).add(normaliser.deletion(anchor, int(reads.del_length[k])))
    return keys


@numba.njit(cache=True, nogil=True)
def _depth_and_base_counts(lo, hi, offset, codes, quals, start, end, min_base_quality, depth, counts):
    for i in range(len(lo)):
        for pos in range(max(lo[i], start), min(hi[i], end)):
            code = codes[offset[i] + pos - lo[i]]
            if 1 <= code <= 4 and quals[offset[i] + pos - lo[i]] >= min_base_quality:
                counts[pos - start, code - 1] += 1
                depth[pos - start] += 1
            elif code == DELETED:
                depth[pos - start] += 1


def depth_and_base_counts(reads: LaidOutReads, start: int, end: int, min_base_quality: int
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Per position of ``[start, end)``: depth (reads with a good base or a deletion there) and
    counts of good-quality A/C/G/T (array [end - start, 4])."""
    depth = np.zeros(end - start, np.int32)
    counts = np.zeros((end - start, 4), np.int32)
    _depth_and_base_counts(reads.lo, reads.hi, reads.offset, reads.codes, reads.quals, start, end,
                           min_base_quality, depth, counts)
    return depth, counts


def find_candidates(reads: LaidOutReads, read_indels: dict[int, set], contig: str, start: int, end: int,
                    reference: str, config: CandidateConfig = CandidateConfig()) -> list[Candidate]:
    """Candidates whose anchor lies in ``[start, end)``. ``reference`` is the sequence of ``[start, end)``."""
    depth, counts = depth_and_base_counts(reads, start, end, config.min_base_quality)
    found: list[Candidate] = []
    ref_codes = CODE_OF_BYTE[np.frombuffer(reference.encode(), np.uint8)].astype(np.int64) - 1
    ref_codes[ref_codes > 3] = -1  # N and other IUPAC codes are no reference base
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = counts / depth[:, None]
    is_alt = np.ones_like(counts, dtype=bool)
    valid_ref = ref_codes >= 0
    is_alt[np.flatnonzero(valid_ref), ref_codes[valid_ref]] = False
    passing = is_alt & (counts >= config.min_snp_count) & (fraction >= config.min_snp_fraction)
    for offset, base in zip(*np.nonzero(passing)):
        ref_base = reference[offset].upper()
        if ref_base not in BASES:
            continue
        found.append(Candidate(contig, start + int(offset) + 1, ref_base, BASES[base],
                               int(counts[offset, base]), int(depth[offset])))
    indel_counts = Counter(key for keys in read_indels.values() for key in keys)
    for (pos, ref, alt), count in indel_counts.items():
        offset = pos - 1 - start
        if not 0 <= offset < end - start or count < config.min_indel_count:
            continue
        here = int(depth[offset])
        if here and count / here >= config.min_indel_fraction:
            found.append(Candidate(contig, pos, ref, alt, count, here))
    return sorted(found)
