"""Candidate variants from allele counts, with DeepVariant's WGS thresholds as defaults.

A position becomes a SNP candidate when an alternate base is seen in at least ``min_snp_count`` reads
(base quality >= ``min_base_quality``) making up at least ``min_snp_fraction`` of the reads there; an
insertion or deletion when at least ``min_indel_count`` reads carry the same event (after
normalisation) making up at least ``min_indel_fraction`` of the depth at its anchor. Indel events are
normalised with :mod:`lowcov.benchmark.normalize`, the benchmark's own normaliser, so candidates,
labels and the benchmark agree on representation.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .benchmark.normalize import normalize
from .reads import BASES, DELETED, LaidOutRead

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


def read_indel_keys(read: LaidOutRead, normaliser: IndelNormaliser, max_length: int) -> set[tuple[int, str, str]]:
    keys = set()
    for anchor, inserted in read.insertions:
        if anchor >= 0 and len(inserted) <= max_length and "N" not in inserted:
            keys.add(normaliser.insertion(anchor, inserted))
    for anchor, length in read.deletions:
        if anchor >= 0 and length <= max_length:
            keys.add(normaliser.deletion(anchor, length))
    return keys


def depth_and_base_counts(reads: list[LaidOutRead], start: int, end: int, min_base_quality: int
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Per position of ``[start, end)``: depth (reads with a good base or a deletion there) and
    counts of good-quality A/C/G/T (array [end - start, 4])."""
    span = end - start
    positions, codes, quals = [], [], []
    for read in reads:
        lo, hi = max(read.start, start), min(read.end, end)
        if lo >= hi:
            continue
        offset = lo - read.start
        positions.append(np.arange(lo - start, hi - start))
        codes.append(read.codes[offset:offset + hi - lo])
        quals.append(read.quals[offset:offset + hi - lo])
    if not positions:
        return np.zeros(span, np.int32), np.zeros((span, 4), np.int32)
    positions, codes, quals = np.concatenate(positions), np.concatenate(codes), np.concatenate(quals)
    good_base = (codes >= 1) & (codes <= 4) & (quals >= min_base_quality)
    base_counts = np.bincount(positions[good_base] * 4 + (codes[good_base] - 1), minlength=span * 4)
    depth = np.bincount(positions[good_base | (codes == DELETED)], minlength=span)
    return depth.astype(np.int32), base_counts.reshape(span, 4).astype(np.int32)


def find_candidates(reads: list[LaidOutRead], read_indels: list[set], contig: str, start: int, end: int,
                    reference: str, config: CandidateConfig = CandidateConfig()) -> list[Candidate]:
    """Candidates whose anchor lies in ``[start, end)``. ``reference`` is the sequence of ``[start, end)``."""
    depth, counts = depth_and_base_counts(reads, start, end, config.min_base_quality)
    found: list[Candidate] = []
    ref_codes = np.array(["ACGT".find(b) for b in reference.upper()], dtype=np.int64)
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
    indel_counts = Counter(key for keys in read_indels for key in keys)
    for (pos, ref, alt), count in indel_counts.items():
        offset = pos - 1 - start
        if not 0 <= offset < end - start or count < config.min_indel_count:
            continue
        here = int(depth[offset])
        if here and count / here >= config.min_indel_fraction:
            found.append(Candidate(contig, pos, ref, alt, count, here))
    return sorted(found)
