"""Truth variants (phased, diploid, left-normalised) and the GIAB-like confident regions.

SNPs follow a Ti/Tv and het:hom like a human genome; indels are geometric in size and about half of
them are expansions/contractions of STR and homopolymer tracts, where real indels concentrate and
where callers struggle. Overlapping candidates are dropped so every record applies unambiguously.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .config import DemoConfig
from .reference import Interval, Reference
from .sequence import ASCII, decode, true_runs

log = logging.getLogger(__name__)

#: variants are kept this far from contig ends so left-shifting never runs off the contig
END_GUARD = 100


@dataclass(frozen=True)
class Variant:
    contig: str
    #: 0-based position of the first REF base
    pos: int
    ref: str
    alts: tuple[str, ...]
    #: phased alleles of haplotype 0 and haplotype 1 (0 = REF)
    genotype: tuple[int, int]

    @property
    def end(self) -> int:
        return self.pos + len(self.ref)

    @property
    def is_snp(self) -> bool:
        return len(self.ref) == 1 and all(len(a) == 1 for a in self.alts)

    @property
    def is_indel(self) -> bool:
        return not self.is_snp

    @property
    def is_het(self) -> bool:
        return self.genotype[0] != self.genotype[1]

    def vcf_fields(self) -> list[str]:
        return [self.contig, str(self.pos + 1), ".", self.ref, ",".join(self.alts), ".", "PASS", ".", "GT",
                f"{self.genotype[0]}|{self.genotype[1]}"]


def normalise(sequence: str, pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Left-align and trim one allele against the reference (Tan et al. 2015, vt normalize).

    ``ref``/``alt`` may be empty (a bare insertion or deletion); the result carries an anchor base.
    """
    changed = True
    while changed:
        changed = False
        if ref and alt and ref[-1] == alt[-1]:
            ref, alt, changed = ref[:-1], alt[:-1], True
        if not ref or not alt:
            pos -= 1
            ref, alt, changed = sequence[pos] + ref, sequence[pos] + alt, True
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


def merge_alleles(first: tuple[int, str, str], second: tuple[int, str, str]) -> tuple[int, str, tuple[str, str]] | None:
    """One multi-allelic record from two normalised alleles at the same position, or None."""
    (p1, r1, a1), (p2, r2, a2) = first, second
    if p1 != p2:
        return None
    ref = r1 if len(r1) >= len(r2) else r2
    alts = (a1 + ref[len(r1):], a2 + ref[len(r2):])
    if alts[0] == alts[1] or ref in alts:
        return None
    return p1, ref, alts


def _genotype(het: bool, multi: bool, rng: np.random.Generator) -> tuple[int, int]:
    if multi:
        return (1, 2) if rng.random() < 0.5 else (2, 1)
    if het:
        return (0, 1) if rng.random() < 0.5 else (1, 0)
    return (1, 1)


def _snp_candidates(contig: str, codes: np.ndarray, config: DemoConfig, rng: np.random.Generator):
    n = rng.poisson(config.snp_rate * codes.size)
    positions = np.unique(rng.integers(END_GUARD, codes.size - END_GUARD, n))
    n = positions.size
    ref = codes[positions]
    transition = rng.random(n) < config.transition_transversion / (1 + config.transition_transversion)
    transversion = np.where(rng.random(n) < 0.5, ref ^ 1, ref ^ 3)
    alt = np.where(transition, ref ^ 2, transversion).astype(np.uint8)
    het = rng.random(n) < config.het_fraction
    multi = het & (rng.random(n) < config.multiallelic_fraction / config.het_fraction)
    # The second ALT of a 1|2 site is one of the two bases that are neither REF nor the first ALT.
    second = np.where(rng.random(n) < 0.5, ref ^ 1, ref ^ 3)
    second = np.where(second == alt, ref ^ 2, second).astype(np.uint8)
    candidates = []
    for p, r, a, b, h, m in zip(positions.tolist(), ASCII[ref].tobytes().decode(), ASCII[alt].tobytes().decode(),
                                ASCII[second].tobytes().decode(), het.tolist(), multi.tolist()):
        alts = (a, b) if m else (a,)
        candidates.append(Variant(contig, p, r, alts, _genotype(h, m, rng)))
    return candidates


def _indel_allele(sequence: str, rng: np.random.Generator, config: DemoConfig) -> tuple[int, str, str]:
    """A random indel outside repeats: (pos, ref, alt) with an empty REF or ALT before normalising."""
    if rng.random() < config.long_indel_fraction:
        length = int(rng.integers(10, config.indel_max_length + 1))
    else:
        length = int(min(rng.geometric(config.indel_length_p), config.indel_max_length))
    pos = int(rng.integers(END_GUARD + 1, len(sequence) - END_GUARD - config.indel_max_length))
    if rng.random() < 0.55:  # deletions are a little more common than insertions in human data
        return pos, sequence[pos:pos + length], ""
    if rng.random() < config.insertion_duplication_fraction:
        return pos, "", sequence[pos:pos + length]  # tandem duplication of what follows
    return pos, "", decode(rng.integers(0, 4, length, dtype=np.uint8))


def _repeat_unit_change(sequence: str, start: int, end: int, period: int, units: int) -> tuple[int, str, str]:
    """Add (units > 0) or remove (units < 0) whole repeat units at the start of a tract."""
    unit = sequence[start:start + period]
    if units > 0:
        return start, "", unit * units
    return start, sequence[start:start - units * period], ""


def _indel_candidates(contig: str, reference: Reference, sequence: str, config: DemoConfig,
                      rng: np.random.Generator) -> list[Variant]:
    tracts = reference.tracts[contig]
    inside = (tracts.starts > END_GUARD + 1) & (tracts.ends < len(sequence) - END_GUARD)
    t_starts, t_ends, t_periods = tracts.starts[inside], tracts.ends[inside], tracts.periods[inside]
    # Longer tracts slip more often; weighting by length is a mild version of that steep relation.
    weights = (t_ends - t_starts).astype(np.float64)
    weights /= weights.sum() if weights.size else 1.0
    candidates = []
    for _ in range(rng.poisson(config.indel_rate * len(sequence))):
        het = bool(rng.random() < config.het_fraction)
        multi = het and bool(rng.random() < config.multiallelic_fraction / config.het_fraction)
        if t_starts.size and rng.random() < config.indel_in_repeat_fraction:
            i = int(rng.choice(t_starts.size, p=weights))
            start, end, period = int(t_starts[i]), int(t_ends[i]), int(t_periods[i])
            copies = (end - start) // period
            change = int(rng.geometric(0.65))
            if rng.random() < 0.5 and change < copies:
                change = -change
            first = normalise(sequence, *_repeat_unit_change(sequence, start, end, period, change))
            if multi:
                other = -1 if change > 0 else 1  # e.g. one haplotype gains a unit, the other loses one
                second = normalise(sequence, *_repeat_unit_change(sequence, start, end, period, other))
                merged = merge_alleles(first, second)
                if merged is not None:
                    pos, ref, alts = merged
                    candidates.append(Variant(contig, pos, ref, alts, _genotype(True, True, rng)))
                    continue
        else:
            first = normalise(sequence, *_indel_allele(sequence, rng, config))
        pos, ref, alt = first
        candidates.append(Variant(contig, pos, ref, (alt,), _genotype(het, False, rng)))
    return candidates


def drop_overlapping(variants: list[Variant]) -> list[Variant]:
    """Sort by position and keep a variant only if its REF does not overlap the previous kept one."""
    kept: list[Variant] = []
    for variant in sorted(variants, key=lambda v: (v.pos, v.end, v.alts)):
        if kept and variant.pos < kept[-1].end:
            continue
        kept.append(variant)
    return kept


def simulate_variants(reference: Reference, config: DemoConfig, rng: np.random.Generator) -> list[Variant]:
    """Phased diploid truth variants of all contigs, sorted, normalised and non-overlapping."""
    variants: list[Variant] = []
    for contig, codes in reference.sequences.items():
        sequence = decode(codes)
        snps = _snp_candidates(contig, codes, config, rng)
        indels = _indel_candidates(contig, reference, sequence, config, rng)
        kept = drop_overlapping(snps + indels)
        log.info("truth %s: %d SNPs, %d indels (%d candidates dropped for overlap)", contig,
                 sum(v.is_snp for v in kept), sum(v.is_indel for v in kept), len(snps) + len(indels) - len(kept))
        variants += kept
    return variants


def confident_regions(reference: Reference, variants: list[Variant], config: DemoConfig,
                      rng: np.random.Generator) -> list[Interval]:
    """GIAB-like confident regions: everything but the hard parts, trimmed to ``confident_fraction``.

    Left out: contig ends, segmental duplications, young repeat copies (reads map ambiguously),
    long homopolymers/STRs, windows around clustered variants, and random stretches that stand
    for the regions GIAB drops for other reasons (SVs, disagreeing technologies).
    """
    by_contig: dict[str, list[Variant]] = {c: [] for c in reference.sequences}
    for v in variants:
        by_contig[v.contig].append(v)
    regions: list[Interval] = []
    for contig, codes in reference.sequences.items():
        length = codes.size
        keep = np.ones(length, dtype=bool)
        keep[: config.contig_end_margin] = False
        keep[length - config.contig_end_margin:] = False
        for seg in reference.segdups:
            if seg.contig == contig:
                keep[seg.start:seg.end] = False
        for copy in reference.repeat_copies:
            if copy.contig == contig and copy.divergence < config.young_repeat_divergence:
                keep[copy.start:copy.end] = False
        tracts = reference.tracts[contig]
        long_tract = np.where(tracts.periods == 1, tracts.lengths >= config.long_homopolymer_length,
                              tracts.lengths >= config.long_str_length)
        for start, end in zip(tracts.starts[long_tract].tolist(), tracts.ends[long_tract].tolist()):
            keep[max(0, start - config.tract_padding):end + config.tract_padding] = False
        contig_variants = by_contig[contig]
        for before, after in zip(contig_variants, contig_variants[1:]):
            if after.pos - before.end < config.cluster_distance:
                keep[max(0, before.pos - config.cluster_padding):after.end + config.cluster_padding] = False
        kept = int(keep.sum())
        target = int(config.confident_fraction * length)
        while kept > target:
            stretch = int(rng.exponential(config.extra_exclusion_mean_length)) + 100
            start = int(rng.integers(0, length - stretch))
            kept -= int(keep[start:start + stretch].sum())
            keep[start:start + stretch] = False
        starts, ends = true_runs(keep)
        regions += [Interval(contig, s, e) for s, e in zip(starts.tolist(), ends.tolist())]
        log.info("confident %s: %.1f %% of %d bp in %d intervals", contig, 100 * kept / length, length, starts.size)
    return regions
