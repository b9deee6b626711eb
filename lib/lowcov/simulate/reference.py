"""A reference genome with the features that make real variant calling hard.

Background sequence follows an isochore-like GC profile with CpG depletion; on top of it we write
interspersed repeat copies (Alu/L1/MIR-like families at 2-15 % divergence), short tandem repeats,
homopolymers, and finally segmental duplications (5-30 kb at 95-99.8 % identity, some across
contigs). Features overwrite the background instead of being inserted, so contig lengths are exactly
the configured ones and every coordinate recorded along the way stays valid.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .config import DemoConfig, RepeatFamily
from .sequence import A, C, G, T, mask_from_intervals, periodic_tracts, reverse_complement

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Interval:
    """A named half-open interval [start, end) on a contig (0-based, like BED)."""

    contig: str
    start: int
    end: int
    name: str = ""


@dataclass(frozen=True)
class RepeatCopy:
    contig: str
    start: int
    end: int
    family: str
    divergence: float


@dataclass
class TandemTracts:
    """Pure tandem repeat tracts of one contig, sorted by start; period 1 is a homopolymer."""

    starts: np.ndarray
    ends: np.ndarray
    periods: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return self.ends - self.starts


@dataclass
class Reference:
    sequences: dict[str, np.ndarray]
    repeat_copies: list[RepeatCopy]
    #: both copies of every segmental duplication, named ``segdup``
    segdups: list[Interval]
    tracts: dict[str, TandemTracts]

    @property
    def lengths(self) -> dict[str, int]:
        return {name: int(seq.size) for name, seq in self.sequences.items()}

    def hard_regions(self) -> list[Interval]:
        """Segdups, repeat copies (named by family), STRs and homopolymers, sorted by position."""
        order = {name: i for i, name in enumerate(self.sequences)}
        regions = list(self.segdups)
        regions += [Interval(r.contig, r.start, r.end, r.family) for r in self.repeat_copies]
        for contig, tracts in self.tracts.items():
            for start, end, period in zip(tracts.starts.tolist(), tracts.ends.tolist(), tracts.periods.tolist()):
                regions.append(Interval(contig, start, end, "homopolymer" if period == 1 else "STR"))
        return sorted(regions, key=lambda r: (order[r.contig], r.start, r.end, r.name))


# -- background sequence ---------------------------------------------------------------------------

def isochore_gc_profile(length: int, config: DemoConfig, rng: np.random.Generator) -> np.ndarray:
    """Per-base GC probability: plateaus (isochores) joined by ramps, plus a few-kb-scale wobble."""
    mean = config.isochore_mean_length
    segment_lengths = rng.exponential(mean, size=int(length / mean) + 4)
    while segment_lengths.sum() < length:
        segment_lengths = np.concatenate([segment_lengths, rng.exponential(mean, size=4)])
    ends = np.cumsum(segment_lengths)
    starts = ends - segment_lengths
    levels = rng.uniform(*config.isochore_gc, size=segment_lengths.size)
    # Plateau over the middle 80 % of each segment, linear ramps between neighbours.
    knots = np.column_stack([starts + 0.1 * segment_lengths, ends - 0.1 * segment_lengths]).ravel()
    positions = np.arange(length, dtype=np.float64)
    gc = np.interp(positions, knots, np.repeat(levels, 2))
    wobble_knots = np.arange(0, length + 3_000, 3_000)
    gc += np.interp(positions, wobble_knots, rng.normal(0, config.local_gc_sd, wobble_knots.size))
    return np.clip(gc, 0.2, 0.75).astype(np.float32)


def random_bases(gc: np.ndarray | float, size: int, rng: np.random.Generator) -> np.ndarray:
    strong = rng.random(size, dtype=np.float32) < gc
    which = rng.integers(0, 2, size, dtype=np.uint8)
    return np.where(strong, C + which, A + 3 * which).astype(np.uint8)  # C/G if strong else A/T


def deplete_cpg(codes: np.ndarray, retention: float, rng: np.random.Generator) -> None:
    """Deaminate most CpGs in place (CG -> TG or CA), as methylation did to the human genome."""
    sites = np.flatnonzero((codes[:-1] == C) & (codes[1:] == G))
    sites = sites[rng.random(sites.size) >= retention]
    on_plus = rng.random(sites.size) < 0.5
    codes[sites[on_plus]] = T
    codes[sites[~on_plus] + 1] = A


def mutate(codes: np.ndarray, divergence: float, rng: np.random.Generator,
           indel_share: float = 0.12) -> np.ndarray:
    """A copy with ``divergence`` differences per base: mostly substitutions, some 1-bp indels."""
    out = codes.copy()
    substituted = rng.random(out.size) < divergence * (1 - indel_share)
    out[substituted] = (out[substituted] + rng.integers(1, 4, int(substituted.sum()), dtype=np.uint8)) % 4
    n_indels = rng.binomial(out.size, divergence * indel_share)
    if n_indels:
        copies = np.ones(out.size, dtype=np.int64)
        where = rng.integers(0, out.size, n_indels)
        copies[where] = rng.choice(np.array([0, 2]), n_indels)  # 0 deletes the base, 2 doubles it
        out = np.repeat(out, copies)
    return out


# -- repeats -----------------------------------------------------------------------------------------

def make_consensus(family: RepeatFamily, rng: np.random.Generator) -> np.ndarray:
    consensus = random_bases(family.gc, family.consensus_length, rng)
    if family.name.startswith("Alu"):
        # Alu is a dimer of two similar arms joined by an A-rich linker; reproduce that shape.
        arm = consensus[: family.consensus_length // 2 - 10]
        linker = np.where(rng.random(20) < 0.8, A, random_bases(0.5, 20, rng)).astype(np.uint8)
        consensus = np.concatenate([arm, linker, mutate(arm, 0.15, rng)])[: family.consensus_length]
    return consensus


def poly_a_tail(rng: np.random.Generator) -> np.ndarray:
    tail = np.full(int(rng.integers(8, 31)), A, dtype=np.uint8)
    if rng.random() < 0.3:  # older tails are interrupted
        tail[rng.integers(0, tail.size)] = rng.choice(np.array([C, G, T], dtype=np.uint8))
    return tail


def place(occupied: np.ndarray, length: int, rng: np.random.Generator, attempts: int = 20) -> int | None:
    """A random free start for a feature of ``length``; None if none found in a few tries."""
    if length >= occupied.size - 2:
        return None
    for _ in range(attempts):
        start = int(rng.integers(1, occupied.size - length - 1))
        if not occupied[start:start + length].any():
            occupied[start:start + length] = True
            return start
    return None


def insert_interspersed_repeats(contig: str, codes: np.ndarray, occupied: np.ndarray,
                                consensi: dict[str, np.ndarray], config: DemoConfig,
                                rng: np.random.Generator) -> list[RepeatCopy]:
    copies: list[RepeatCopy] = []
    for family in config.repeat_families:
        consensus = consensi[family.name]
        target, covered, failures = family.genome_fraction * codes.size, 0, 0
        while covered < target and failures < 50:
            if family.median_fragment:
                # LINE copies are mostly 5'-truncated: keep the 3' end of the consensus.
                length = int(np.clip(rng.lognormal(np.log(family.median_fragment), 0.8), 150, consensus.size))
                unit = consensus[consensus.size - length:]
            else:
                unit = consensus
            # Beta(1.5, 1) puts most copies at the old end of the range and a few young ones.
            divergence = family.divergence[0] + (family.divergence[1] - family.divergence[0]) * rng.beta(1.5, 1.0)
            copy = mutate(unit, divergence, rng)
            if family.poly_a_tail:
                copy = np.concatenate([copy, poly_a_tail(rng)])
            if rng.random() < 0.5:
                copy = reverse_complement(copy)
            start = place(occupied, copy.size, rng)
            if start is None:
                failures += 1
                continue
            codes[start:start + copy.size] = copy
            copies.append(RepeatCopy(contig, start, start + copy.size, family.name, round(float(divergence), 4)))
            covered += copy.size
    return copies


def _is_lower_period(unit: np.ndarray) -> bool:
    """True when a repeat unit is itself periodic (AA, ATAT, ...), i.e. really a shorter unit."""
    k = unit.size
    return any(k % d == 0 and np.array_equal(unit, np.roll(unit, d)) for d in range(1, k))


def insert_tandem_repeats(codes: np.ndarray, occupied: np.ndarray, config: DemoConfig,
                          rng: np.random.Generator) -> int:
    length_mb = codes.size / 1e6
    inserted = 0
    for _ in range(rng.poisson(config.str_per_mb * length_mb)):
        period = int(rng.choice([2, 3, 4, 5, 6], p=[0.45, 0.2, 0.2, 0.1, 0.05]))
        unit = random_bases(0.4, period, rng)
        while _is_lower_period(unit):
            unit = random_bases(0.4, period, rng)
        length = int(np.clip(rng.lognormal(np.log(config.str_median_length), 0.5), 3 * period, 120))
        tract = np.tile(unit, length // period + 1)[:length]
        if rng.random() < 0.25:  # an impurity splits the tract, as in many real STRs
            tract[rng.integers(0, length)] = rng.integers(0, 4)
        start = place(occupied, length, rng)
        if start is not None:
            codes[start:start + length] = tract
            inserted += 1
    for _ in range(rng.poisson(config.homopolymer_per_mb * length_mb)):
        length = int(min(5 + rng.geometric(0.18), 30))
        base = rng.choice([A, T]) if rng.random() < 0.8 else rng.choice([C, G])
        start = place(occupied, length, rng)
        if start is not None:
            codes[start:start + length] = base
            inserted += 1
    return inserted


def add_segmental_duplications(sequences: dict[str, np.ndarray], config: DemoConfig,
                               rng: np.random.Generator) -> list[tuple[Interval, Interval, bool]]:
    """Copy 5-30 kb stretches elsewhere at high identity; returns (source, copy, reversed) triples."""
    names = list(sequences)
    lengths = np.array([sequences[n].size for n in names], dtype=np.float64)
    used: dict[str, list[tuple[int, int]]] = {n: [] for n in names}

    def free(contig: str, start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in used[contig])

    pairs = []
    for _ in range(config.segdup_count):
        for _attempt in range(50):
            length = int(rng.integers(config.segdup_length[0], config.segdup_length[1] + 1))
            source = names[rng.choice(len(names), p=lengths / lengths.sum())]
            if rng.random() < config.segdup_cross_contig_fraction and len(names) > 1:
                others = [n for n in names if n != source]
                weights = np.array([sequences[n].size for n in others], dtype=np.float64)
                target = others[rng.choice(len(others), p=weights / weights.sum())]
            else:
                target = source
            margin = config.contig_end_margin
            if min(sequences[source].size, sequences[target].size) < length + 2 * margin + 100:
                continue
            s_start = int(rng.integers(margin, sequences[source].size - length - margin))
            t_start = int(rng.integers(margin, sequences[target].size - length - margin - 50))
            if not (free(source, s_start, s_start + length) and free(target, t_start, t_start + length + 50)):
                continue
            if source == target and not (t_start + length + 50 <= s_start or t_start >= s_start + length):
                continue
            identity = rng.uniform(*config.segdup_identity)
            copy = mutate(sequences[source][s_start:s_start + length], 1 - identity, rng, indel_share=0.1)
            reverse = bool(rng.random() < 0.4)
            if reverse:
                copy = reverse_complement(copy)
            copy = copy[: sequences[target].size - margin - t_start]
            sequences[target][t_start:t_start + copy.size] = copy
            used[source].append((s_start, s_start + length))
            used[target].append((t_start, t_start + copy.size))
            pairs.append((Interval(source, s_start, s_start + length, "segdup"),
                          Interval(target, t_start, t_start + copy.size, "segdup"), reverse))
            break
    return pairs


def _project_repeats_into_copies(copies: list[RepeatCopy], pairs) -> list[RepeatCopy]:
    """Repeat copies overwritten by a segdup copy disappear; those of its source reappear there."""
    kept = [r for r in copies
            if not any(r.contig == t.contig and r.start < t.end and r.end > t.start for _, t, _ in pairs)]
    for source, target, reverse in pairs:
        for r in copies:
            if r.contig != source.contig or r.start < source.start or r.end > source.end:
                continue
            if reverse:
                start, end = target.start + (source.end - r.end), target.start + (source.end - r.start)
            else:
                start, end = target.start + (r.start - source.start), target.start + (r.end - source.start)
            start, end = max(start, target.start), min(end, target.end)
            if end > start:
                kept.append(RepeatCopy(target.contig, start, end, r.family, r.divergence))
    return kept


def find_tandem_tracts(codes: np.ndarray, config: DemoConfig) -> TandemTracts:
    """Pure homopolymers and STR tracts (unit 2-6, >= 3 copies) of the final sequence."""
    starts, ends, periods = [], [], []
    for period in range(1, 7):
        min_length = config.homopolymer_min_length if period == 1 else max(config.str_min_length, 3 * period)
        s, e = periodic_tracts(codes, period, min_length)
        if period > 1 and s.size:
            # A homopolymer is also period-2..6 periodic; keep only tracts whose unit is not shorter.
            units = codes[s[:, None] + np.arange(period)]
            lower = np.zeros(s.size, dtype=bool)
            for d in range(1, period):
                if period % d == 0:
                    lower |= (units == np.roll(units, d, axis=1)).all(axis=1)
            s, e = s[~lower], e[~lower]
        starts.append(s)
        ends.append(e)
        periods.append(np.full(s.size, period, dtype=np.int8))
    s, e, p = (np.concatenate(x) for x in (starts, ends, periods))
    order = np.lexsort((e, s))
    return TandemTracts(s[order], e[order], p[order])


def simulate_reference(config: DemoConfig, rng: np.random.Generator) -> Reference:
    """All contigs of the demo reference, with their repeats and tracts recorded."""
    sequences: dict[str, np.ndarray] = {}
    copies: list[RepeatCopy] = []
    consensi = {family.name: make_consensus(family, rng) for family in config.repeat_families}
    for contig, length in config.contig_lengths.items():
        gc = isochore_gc_profile(length, config, rng)
        codes = random_bases(gc, length, rng)
        deplete_cpg(codes, config.cpg_retention, rng)
        occupied = np.zeros(length, dtype=bool)
        copies += insert_interspersed_repeats(contig, codes, occupied, consensi, config, rng)
        n_tandem = insert_tandem_repeats(codes, occupied, config, rng)
        sequences[contig] = codes
        log.info("reference %s: %d bp, GC %.3f, %d repeat copies, %d STR/homopolymer insertions",
                 contig, length, float(np.isin(codes, (C, G)).mean()),
                 sum(1 for r in copies if r.contig == contig), n_tandem)
    pairs = add_segmental_duplications(sequences, config, rng)
    copies = _project_repeats_into_copies(copies, pairs)
    segdups = [interval for source, target, _ in pairs for interval in (source, target)]
    log.info("reference: %d segmental duplications (%d cross-contig)", len(pairs),
             sum(1 for s, t, _ in pairs if s.contig != t.contig))
    tracts = {contig: find_tandem_tracts(codes, config) for contig, codes in sequences.items()}
    return Reference(sequences, copies, segdups, tracts)


def tract_mask(reference: Reference, contig: str) -> np.ndarray:
    """Bases of ``contig`` inside an STR or homopolymer tract."""
    tracts = reference.tracts[contig]
    return mask_from_intervals(reference.sequences[contig].size, tracts.starts, tracts.ends)
