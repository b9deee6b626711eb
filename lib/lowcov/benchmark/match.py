"""Haplotype-aware matching of truth and query units, in the manner of vcfeval.

Units of both sides are grouped into *superloci*: a unit joins the current superlocus when it
starts within ``window`` bases of the furthest end seen so far. Inside a superlocus the matcher
looks for the largest sets of truth and query units whose diploid haplotype sequences are
identical, so the same haplotype written differently (an indel placed elsewhere in a repeat, an
MNP vs its SNPs, a complex allele vs its decomposition) matches. Matched units are TP (``gm``).
Unmatched units are then compared with genotypes ignored (one haplotype, any called allele): those
that match are genotype errors (``am``, counted in FP.gt); the rest are ``lm`` (allele errors,
FP.al) when an unmatched unit of the other side shares the superlocus, else ``.``.

Phasing is used where present: units of one phase block keep their relative phase and only the
block as a whole may be flipped; unphased heterozygous units are tried both ways. Enumeration is
bounded per superlocus (``max_states`` per side); a larger superlocus falls back to allele-level
matching (identical normalised genotype = TP, identical alleles = ``am``) with a warning.

Consequences worth knowing (see tests): an insertion and a deletion that cancel out on one truth
haplotype (hap.py's ``pathtraversal`` case) produce the reference sequence, so a query that
simply omits them matches them and they count as TP; hap.py's default engine (xcmp) reports them
as FN, vcfeval as TP. We follow vcfeval: the haplotypes are identical.

Most superloci hold one truth and one query unit with identical normalised genotypes; those, and
lone units, are decided with array operations without building any haplotype.
"""
from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from ..haplotypes import Placement, walk_diploid
from .calls import UnitTable

log = logging.getLogger(__name__)

# decisions (BD) and match kinds (BK) as small integer codes
TP, FN, FP, UNK, NOT_COUNTED = 0, 1, 2, 3, 4
DECISION_NAMES = ("TP", "FN", "FP", "UNK", "N")
KIND_NONE, KIND_GM, KIND_AM, KIND_LM = 0, 1, 2, 3
KIND_NAMES = (".", "gm", "am", "lm")


@dataclass(frozen=True)
class MatchConfig:
    """Knobs of the matcher.

    window: units within this many bases of each other are compared together (vcfeval's loose
        match distance and hap.py's ``--scmp-distance`` default to 30).
    max_states: haplotype combinations enumerated per side of a superlocus before falling back
        to allele-level matching.
    use_phasing: keep phased genotypes' relative phase (False: every het may be flipped).
    """

    window: int = 30
    max_states: int = 50_000
    use_phasing: bool = True


@dataclass
class SideResult:
    decision: np.ndarray  # int8 codes TP/FN/FP
    kind: np.ndarray  # int8 codes ./gm/am/lm
    partner: np.ndarray  # index of the identical unit on the other side (TP or am), -1 if none
    cluster: np.ndarray  # superlocus id (per contig)


@dataclass
class ContigMatch:
    truth: SideResult
    query: SideResult
    cluster_start: np.ndarray  # 1-based start of each superlocus (hap.py's BS)
    stats: Counter = field(default_factory=Counter)


# ----------------------------------------------------------------------------------------------
# haplotype enumeration

class _Unit:
    """One unit as the enumerator sees it: alleles by GT index (0 = reference) and its GT."""

    __slots__ = ("alleles", "gt", "block")

    def __init__(self, alleles, gt, block):
        self.alleles = (None,) + tuple(alleles)
        self.gt = tuple(g if g > 0 else 0 for g in gt)
        self.block = block


def _state_count(units: list[_Unit], diploid: bool) -> int:
    total = 1
    for u in units:
        if diploid:
            total *= 2 if u.gt[0] == u.gt[1] else 3
        else:
            total *= 1 + len({g for g in u.gt if g > 0})
    return total


def _largest_subsets(options: list[list[Placement]], ref: str, offset: int, end: int
                     ) -> dict[tuple[str, str], tuple[int, int]]:
    """Walk ``options`` (placement 0 of each unit leaves it out) -> for every reachable sequence pair,
    (number of units included, bit mask of them), keeping the first of the largest subsets."""
    best: dict[tuple[str, str], tuple[int, int]] = {}

    def keep_largest(key: tuple[str, str], picks: list[int]) -> None:
        count = sum(1 for k in picks if k)
        known = best.get(key)
        if known is None or count > known[0]:
            best[key] = (count, sum(1 << i for i, k in enumerate(picks) if k))

    walk_diploid(options, ref, offset, end, keep_largest)
    return best


def _diploid_haplotypes(units: list[_Unit], ref: str, offset: int, end: int, use_phasing: bool
                        ) -> dict[tuple[str, str], tuple[int, int]]:
    """Every diploid sequence pair reachable by including a subset of ``units`` (each with a phase
    orientation) -> (number of units included, bit mask of them), keeping the largest subset."""
    options = []
    for unit in units:
        g0, g1 = unit.gt
        first, second = unit.alleles[g0], unit.alleles[g1]
        if g0 == g1:
            options.append([Placement(None, None), Placement(first, second)])
        else:
            block = unit.block if use_phasing else None
            options.append([Placement(None, None), Placement(first, second, block, 0),
                            Placement(second, first, block, 1)])
    return _largest_subsets(options, ref, offset, end)


def _haploid_haplotypes(units: list[_Unit], ref: str, offset: int, end: int) -> dict[tuple[str, str], tuple[int, int]]:
    """Like :func:`_diploid_haplotypes` on one haplotype (drawn twice), each unit contributing any one
    of its called alleles: a match here means the alleles agree and only the genotype differs."""
    options = [[Placement(None, None)] + [Placement(unit.alleles[g], unit.alleles[g])
                                          for g in sorted({g for g in unit.gt if g > 0})] for unit in units]
    return _largest_subsets(options, ref, offset, end)


def _best_common(truth_best: dict, query_best: dict) -> tuple[int, int]:
    """Masks of the truth and query subsets with identical sequences and most units in total."""
    best_score, best_masks = (-1, -1), (0, 0)
    smaller, larger, truth_is_smaller = ((truth_best, query_best, True) if len(truth_best) <= len(query_best)
                                         else (query_best, truth_best, False))
    for key, (count_small, mask_small) in smaller.items():
        other = larger.get(key)
        if other is None:
            continue
        count_truth, count_query = (count_small, other[0]) if truth_is_smaller else (other[0], count_small)
        score = (count_truth + count_query, count_truth)
        if score > best_score:
            best_score = score
            best_masks = (mask_small, other[1]) if truth_is_smaller else (other[1], mask_small)
    return best_masks


# ----------------------------------------------------------------------------------------------
# per-superlocus decisions

def _pair_by_key(t_members: list[int], q_members: list[int], t_keys, q_keys) -> list[tuple[int, int]]:
    free: dict[str, list[int]] = defaultdict(list)
    for q in q_members:
        free[q_keys[q]].append(q)
    pairs = []
    for t in t_members:
        candidates = free.get(t_keys[t])
        if candidates:
            pairs.append((t, candidates.pop(0)))
    return pairs


def _all_single_base(members: list[int], units: UnitTable) -> bool:
    """Only single-base substitutions, at most one unit per position."""
    positions = set()
    for u in members:
        for start, end, inserted in units.alleles[u]:
            if end - start != 1 or len(inserted) != 1:
                return False
        if units.start[u] in positions:
            return False
        positions.add(units.start[u])
    return True


def _written_span(units: UnitTable, u: int) -> tuple[int, int]:
    alleles = units.written[u]
    return min(a[0] for a in alleles), max(a[1] for a in alleles)


def _phase_constrained(members: list[int], units: UnitTable) -> bool:
    """Whether two heterozygous units share a phase block (their relative phase is fixed)."""
    seen = set()
    for u in members:
        block = units.block[u]
        if block is None or units.gt[u][0] == units.gt[u][1]:
            continue
        if block in seen:
            return True
        seen.add(block)
    return False


def _decide_snps_by_position(t_members: list[int], q_members: list[int], truth: UnitTable, query: UnitTable,
                             t_res: SideResult, q_res: SideResult) -> None:
    """Single-base substitutions at distinct positions cannot form each other's haplotypes, so the
    haplotype comparison reduces to comparing each position's genotype; no enumeration needed."""
    q_at = {int(query.start[q]): q for q in q_members}
    t_positions = {int(truth.start[t]) for t in t_members}
    unmatched_t = [t for t in t_members if int(truth.start[t]) not in q_at
                   or truth.gt_key[t] != query.gt_key[q_at[int(truth.start[t])]]]
    unmatched_q = {q for q in q_members if int(query.start[q]) not in t_positions}
    for t in t_members:
        q = q_at.get(int(truth.start[t]))
        if q is None:
            t_res.decision[t] = FN
            continue
        if truth.gt_key[t] == query.gt_key[q]:
            t_res.decision[t] = q_res.decision[q] = TP
            t_res.kind[t] = q_res.kind[q] = KIND_GM
            t_res.partner[t], q_res.partner[q] = q, t
            continue
        t_res.decision[t], q_res.decision[q] = FN, FP
        unmatched_q.add(q)
        shared = set(truth.allele_key[t].split(",")) & set(query.allele_key[q].split(","))
        if shared:
            t_res.kind[t] = q_res.kind[q] = KIND_AM
            t_res.partner[t], q_res.partner[q] = q, t
    # allele errors only where the other side also has something unmatched in the superlocus
    for t in unmatched_t:
        if t_res.kind[t] != KIND_AM and unmatched_q:
            t_res.kind[t] = KIND_LM
    for q in unmatched_q:
        q_res.decision[q] = FP
        if q_res.kind[q] != KIND_AM and unmatched_t:
            q_res.kind[q] = KIND_LM


def _decide_superlocus(t_members: list[int], q_members: list[int], truth: UnitTable, query: UnitTable,
                       seq: str, config: MatchConfig, t_res: SideResult, q_res: SideResult,
                       stats: Counter) -> None:
    # with phase fixed on both sides, genotypes alone do not decide: enumerate haplotypes
    both_phased = config.use_phasing and _phase_constrained(t_members, truth) and _phase_constrained(q_members, query)
    # every unit has an identical counterpart: the whole superlocus matches as written
    if not both_phased and sorted(truth.gt_key[t] for t in t_members) == sorted(query.gt_key[q] for q in q_members):
        for t, q in _pair_by_key(t_members, q_members, truth.gt_key, query.gt_key):
            t_res.decision[t], t_res.kind[t], t_res.partner[t] = TP, KIND_GM, q
            q_res.decision[q], q_res.kind[q], q_res.partner[q] = TP, KIND_GM, t
        stats["superloci identical"] += 1
        return
    if not both_phased and _all_single_base(t_members, truth) and _all_single_base(q_members, query):
        _decide_snps_by_position(t_members, q_members, truth, query, t_res, q_res)
        stats["superloci of SNPs only"] += 1
        return
    # haplotypes are replayed from the alleles as written, so visit units in that order
    t_members = sorted(t_members, key=lambda u: _written_span(truth, u))
    q_members = sorted(q_members, key=lambda u: _written_span(query, u))
    t_units = [_Unit(truth.written[t], truth.gt[t], truth.block[t]) for t in t_members]
    q_units = [_Unit(query.written[q], query.gt[q], query.block[q]) for q in q_members]
    lo = int(min(truth.start[t_members].min(), query.start[q_members].min()))
    hi = int(max(truth.end[t_members].max(), query.end[q_members].max()))
    ref = seq[lo:hi]
    too_large = max(_state_count(t_units, True), _state_count(q_units, True)) > config.max_states
    if too_large:
        stats["superloci too large (allele-level)"] += 1
        log.warning("%s:%d-%d: %d truth and %d query variants are too many to enumerate haplotypes; "
                    "matching them allele by allele", truth.chrom, lo + 1, hi, len(t_members), len(q_members))
        matched_pairs = _pair_by_key(t_members, q_members, truth.gt_key, query.gt_key)
        t_matched = {t for t, _ in matched_pairs}
        q_matched = {q for _, q in matched_pairs}
    else:
        stats["superloci haplotype-compared"] += 1
        t_mask, q_mask = _best_common(_diploid_haplotypes(t_units, ref, lo, hi, config.use_phasing),
                                      _diploid_haplotypes(q_units, ref, lo, hi, config.use_phasing))
        t_matched = {t for k, t in enumerate(t_members) if t_mask >> k & 1}
        q_matched = {q for k, q in enumerate(q_members) if q_mask >> k & 1}
        matched_pairs = _pair_by_key(sorted(t_matched), sorted(q_matched), truth.gt_key, query.gt_key)
    for t in t_matched:
        t_res.decision[t], t_res.kind[t] = TP, KIND_GM
    for q in q_matched:
        q_res.decision[q], q_res.kind[q] = TP, KIND_GM
    for t, q in matched_pairs:
        t_res.partner[t], q_res.partner[q] = q, t

    t_left = [t for t in t_members if t not in t_matched]
    q_left = [q for q in q_members if q not in q_matched]
    for t in t_left:
        t_res.decision[t] = FN
    for q in q_left:
        q_res.decision[q] = FP
    if not t_left or not q_left:
        return  # an FP beside a correctly called variant is not an allele error: kind stays '.'
    # genotype-blind comparison of what is left: matches are genotype errors (am)
    t_units_left = [_Unit(truth.written[t], truth.gt[t], None) for t in t_left]
    q_units_left = [_Unit(query.written[q], query.gt[q], None) for q in q_left]
    if too_large or max(_state_count(t_units_left, False), _state_count(q_units_left, False)) > config.max_states:
        am_pairs = _pair_by_key(t_left, q_left, truth.allele_key, query.allele_key)
        t_am = {t for t, _ in am_pairs}
        q_am = {q for _, q in am_pairs}
    else:
        t_mask, q_mask = _best_common(_haploid_haplotypes(t_units_left, ref, lo, hi),
                                      _haploid_haplotypes(q_units_left, ref, lo, hi))
        t_am = {t for k, t in enumerate(t_left) if t_mask >> k & 1}
        q_am = {q for k, q in enumerate(q_left) if q_mask >> k & 1}
        am_pairs = _pair_by_key(sorted(t_am), sorted(q_am), truth.allele_key, query.allele_key)
    for t, q in am_pairs:
        t_res.partner[t], q_res.partner[q] = q, t
    for t in t_left:
        t_res.kind[t] = KIND_AM if t in t_am else KIND_LM
    for q in q_left:
        q_res.kind[q] = KIND_AM if q in q_am else KIND_LM


# ----------------------------------------------------------------------------------------------

def _new_side(n: int) -> SideResult:
    return SideResult(np.full(n, FN, dtype=np.int8), np.zeros(n, dtype=np.int8),
                      np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64))


def match_contig(truth: UnitTable, query: UnitTable, seq: str, config: MatchConfig = MatchConfig()) -> ContigMatch:
    """Decide TP/FN/FP and the match kind of every unit of one contig."""
    n_t, n_q = len(truth), len(query)
    t_res, q_res = _new_side(n_t), _new_side(n_q)
    q_res.decision[:] = FP
    stats: Counter = Counter()
    if n_t + n_q == 0:
        return ContigMatch(t_res, q_res, np.zeros(0, dtype=np.int64), stats)

    starts = np.concatenate([truth.start, query.start])
    ends = np.concatenate([truth.end, query.end])
    side = np.concatenate([np.zeros(n_t, dtype=np.int8), np.ones(n_q, dtype=np.int8)])
    index = np.concatenate([np.arange(n_t), np.arange(n_q)])
    order = np.lexsort((side, ends, starts))
    s_sorted, e_sorted = starts[order], ends[order]
    reach = np.maximum.accumulate(e_sorted)
    new_cluster = np.ones(len(order), dtype=bool)
    new_cluster[1:] = s_sorted[1:] - reach[:-1] > config.window
    cluster_sorted = np.cumsum(new_cluster) - 1
    n_clusters = int(cluster_sorted[-1]) + 1
    # hap.py's BS: the smallest VCF POS in the superlocus
    cluster_start = np.full(n_clusters, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(cluster_start, cluster_sorted, np.concatenate([truth.pos, query.pos])[order])
    cluster = np.empty(len(order), dtype=np.int64)
    cluster[order] = cluster_sorted
    t_res.cluster[:] = cluster[:n_t]
    q_res.cluster[:] = cluster[n_t:]

    t_count = np.bincount(t_res.cluster, minlength=n_clusters)
    q_count = np.bincount(q_res.cluster, minlength=n_clusters)
    # lone sides keep the defaults (FN / FP, kind '.')
    # one truth and one query unit: decide by identical genotype / identical alleles without haplotypes
    single_t = np.full(n_clusters, -1, dtype=np.int64)
    single_q = np.full(n_clusters, -1, dtype=np.int64)
    single_t[t_res.cluster] = np.arange(n_t)
    single_q[q_res.cluster] = np.arange(n_q)
    pair_clusters = np.flatnonzero((t_count == 1) & (q_count == 1))
    pt, pq = single_t[pair_clusters], single_q[pair_clusters]
    same_call = truth.gt_key[pt] == query.gt_key[pq] if len(pt) else np.zeros(0, dtype=bool)
    same_alleles = truth.allele_key[pt] == query.allele_key[pq] if len(pt) else np.zeros(0, dtype=bool)
    same_call = np.asarray(same_call, dtype=bool)
    genotype_error = np.asarray(same_alleles, dtype=bool) & ~same_call
    for mask, t_dec, q_dec, kind in ((same_call, TP, TP, KIND_GM), (genotype_error, FN, FP, KIND_AM)):
        t_idx, q_idx = pt[mask], pq[mask]
        t_res.decision[t_idx], q_res.decision[q_idx] = t_dec, q_dec
        t_res.kind[t_idx], q_res.kind[q_idx] = kind, kind
        t_res.partner[t_idx], q_res.partner[q_idx] = q_idx, t_idx
    stats["superloci"] = n_clusters
    stats["superloci decided without haplotypes"] = int(np.count_nonzero((t_count == 0) | (q_count == 0))) + \
        int(np.count_nonzero(same_call | genotype_error))

    decided = np.zeros(n_clusters, dtype=bool)
    decided[(t_count == 0) | (q_count == 0)] = True
    decided[pair_clusters[same_call | genotype_error]] = True
    remaining = np.flatnonzero(~decided)
    if len(remaining):
        boundaries = np.flatnonzero(new_cluster)
        bounds_end = np.append(boundaries[1:], len(order))
        for c in remaining:
            members = order[boundaries[c]:bounds_end[c]]
            members_side = side[members]
            t_members = sorted(index[members[members_side == 0]].tolist(), key=lambda t: (truth.start[t], truth.end[t]))
            q_members = sorted(index[members[members_side == 1]].tolist(), key=lambda q: (query.start[q], query.end[q]))
            _decide_superlocus(t_members, q_members, truth, query, seq, config, t_res, q_res, stats)
    return ContigMatch(t_res, q_res, cluster_start, stats)
