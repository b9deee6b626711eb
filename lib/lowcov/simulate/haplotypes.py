"""The two haplotype sequences of a contig: the reference with each haplotype's alleles applied.

Reads are drawn from these sequences, so their truth is exactly the VCF. Each haplotype keeps a
map back to reference coordinates, used to place transcripts (gene models are in reference
coordinates) and to count simulated depth per reference base.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .sequence import encode
from .variants import Variant


@dataclass
class Haplotype:
    contig: str
    index: int
    #: base codes of the haplotype
    sequence: np.ndarray
    #: reference position of each haplotype base; an inserted base carries the position of the
    #: reference base it follows, so the array is non-decreasing and searchsorted works on it
    anchor: np.ndarray
    #: True for bases that are not in the reference (inserted)
    inserted: np.ndarray

    def to_haplotype(self, reference_positions) -> np.ndarray:
        """Index of the first haplotype base at or after each reference position."""
        return np.searchsorted(self.anchor, reference_positions, side="left")

    def reference_positions(self, start: int = 0, end: int | None = None) -> np.ndarray:
        """Reference position of haplotype bases [start, end); -1 for inserted bases."""
        return np.where(self.inserted[start:end], -1, self.anchor[start:end])


def apply_variants(sequence: np.ndarray, variants: Sequence[Variant], haplotype: int, contig: str = "") -> Haplotype:
    """Replace REF by this haplotype's ALT for every variant (sorted, non-overlapping) of one contig."""
    pieces, anchors, inserted = [], [], []
    cursor = 0
    for variant in variants:
        allele = variant.genotype[haplotype]
        if allele == 0:
            continue
        if variant.pos < cursor:
            raise ValueError(f"overlapping variants at {variant.contig}:{variant.pos + 1}")
        alt = encode(variant.alts[allele - 1])
        pieces += [sequence[cursor:variant.pos], alt]
        shared = min(alt.size, len(variant.ref))
        anchors += [np.arange(cursor, variant.pos + shared, dtype=np.int32),
                    np.full(alt.size - shared, variant.pos + shared - 1, dtype=np.int32)]
        inserted += [np.zeros(variant.pos + shared - cursor, dtype=bool), np.ones(alt.size - shared, dtype=bool)]
        cursor = variant.end
    pieces.append(sequence[cursor:])
    anchors.append(np.arange(cursor, sequence.size, dtype=np.int32))
    inserted.append(np.zeros(sequence.size - cursor, dtype=bool))
    return Haplotype(contig, haplotype, np.concatenate(pieces).astype(np.uint8), np.concatenate(anchors),
                     np.concatenate(inserted))


def build_haplotypes(sequences: dict[str, np.ndarray], variants: Sequence[Variant]) -> dict[str, tuple[Haplotype, Haplotype]]:
    by_contig: dict[str, list[Variant]] = {c: [] for c in sequences}
    for v in variants:
        by_contig[v.contig].append(v)
    return {contig: (apply_variants(seq, by_contig[contig], 0, contig), apply_variants(seq, by_contig[contig], 1, contig))
            for contig, seq in sequences.items()}
