"""Training labels as DeepVariant's default labeller makes them: by matching haplotypes, not alleles.

A candidate's label is the number of copies of its alternate allele that the truth implies (0, 1 or 2).
Looking the allele up in the truth misses a true variant written differently: a deletion the reads
place at the left end of a repeat and the truth at the right, an MNP the truth writes as one record
and the reads as two SNPs. DeepVariant's ``haplotype_labeler`` (the default of make_examples'
``--labeler_algorithm``, deepvariant/labeler/haplotype_labeler.py) asks instead which genotypes of
the candidates give the same two haplotype sequences as the truth, and lowcov does the same, per
partition of make_examples:

1. **Truth.** The truth records overlapping the partition, without those that are filtered (FILTER
   other than PASS or ``.``), those that overlap no confident region (training mode; a calling set
   labelled for analysis keeps them), and hom-ref ones.
2. **Groups.** Candidates and truth records, merged in order of start (a candidate before a truth
   record at the same start), are grouped greedily: variants with the same end are taken together;
   they join the current group when each starts within ``max_separation`` (30) bases of the end of a
   variant already in it, the group holds fewer than ``max_group_size`` (8) variants of its kind
   (candidate or truth), and the product of the numbers of possible genotypes of the group's
   variants stays below ``max_gt_options_product`` (100,000); a variant that ends no later than the
   previous one always joins. A group without truth is labelled hom-ref without enumeration.
3. **Genotypes.** Every unphased genotype of every candidate site (0/0, 0/1, 1/1, and all pairs when
   a site has more alleles); for a truth record its own genotype and those that miss some of its
   alternate alleles (1/1 gives 1/1, 0/1, 0/0; 1/2 gives 1/2, 0/1, 0/2, 0/0), phase ignored.
4. **Match.** Among assignments of genotypes to candidates and truth that give the same unordered
   pair of haplotype sequences, the one that misses the fewest truth alleles wins, then the one
   with the fewest candidates left hom-ref; ties go to the first in DeepVariant's order (genotype
   combinations as ``itertools.product`` over the candidates in order of start, each candidate's
   genotypes in the order DeepVariant iterates them, a Python set; a truth sequence pair keeps the
   last truth assignment that produced it). All hom-ref on both sides always matches, so every
   group gets labels.
5. **Label.** The example of alternate allele *k* of a site gets the number of *k* in the site's
   genotype (DeepVariant's ``label_for_alt_alleles``).

A consequence of step 4 worth knowing: when several candidates together make the truth's haplotypes
(a one-base deletion in a homopolymer, an insertion after it and an SNP, which together equal the
truth's insertion), DeepVariant prefers that explanation, because it leaves fewer candidates hom-ref:
those candidates are labelled present and the one candidate written exactly as the truth record is
labelled hom-ref. On the demo's DNA training set these are the only labels that change from the
allele lookup (the simulated truth is written normalised, with no MNP or complex records).

Where lowcov differs:

* lowcov writes one candidate per alternate allele; the candidates at one VCF position are
  labelled together as one multi-allelic site, as DeepVariant's candidate is, and each gets its own
  allele's count.
* Haplotypes are built by :mod:`lowcov.haplotypes` (shared with the benchmark's matcher) from the
  trimmed alleles, not from the VCF alleles with their padding base: a variant next to another's
  padding base may share its haplotype (DeepVariant counts that as an overlap). A symbolic or ``*``
  truth allele can never match a candidate's sequence, so it is labelled as missed.
* A truth genotype with a missing allele (``./1``) is left out (DeepVariant's sum-of-alleles test
  drops it too); a haploid genotype counts as homozygous.
* Which candidates become examples (inside the confident regions) is make_examples' rule, unchanged
  here: lowcov keeps a candidate only when the confident regions contain it, DeepVariant when they
  overlap it.

As in DeepVariant, a truth variant is found only within the partition being labelled (1 kb): a
candidate at a partition's last bases whose truth record starts in the next partition is labelled
hom-ref, and so is one more than 30 bases from its truth representation (a long repeat).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pysam

from . import InputError
from .benchmark.regions import RegionSet
from .haplotypes import MinimalAllele, Placement, minimal_allele, walk_diploid
from .normalize import RefFetch, is_sequence_allele

log = logging.getLogger(__name__)

HOM_REF = (0, 0)


@dataclass(frozen=True)
class LabelerConfig:
    """DeepVariant's defaults (haplotype_labeler.py's _MAX_GROUP_SIZE and friends)."""

    max_group_size: int = 8
    max_separation: int = 30
    max_gt_options_product: int = 100_000
    #: variants ending within this many bases of the previous one always join its group
    force_group_within_bp: int = 0


@dataclass(frozen=True)
class Variant:
    """A candidate site or a truth record as the labeller sees it."""

    start: int  # 0-based start of the VCF REF
    end: int  # start + len(REF)
    alleles: tuple[MinimalAllele | None, ...]  # index 0 is the reference (None), then each ALT
    genotype: tuple[int, int] = HOM_REF  # truth records only

    @property
    def n_genotypes(self) -> int:
        """Unphased diploid genotypes over its alleles: 3 for one ALT, 6 for two."""
        n = len(self.alleles)
        return n * (n + 1) // 2

    @property
    def walk_order(self) -> tuple[int, int]:
        """Haplotypes are built left to right by the alleles' own (trimmed) extents."""
        spans = [a for a in self.alleles[1:] if a is not None]
        return min(a[0] for a in spans), max(a[1] for a in spans)


class TruthRecords:
    """The truth records of one region that may label candidates (step 1 of the module docstring)."""

    def __init__(self, variants: list[Variant]):
        self.variants = variants
        self.starts = np.array([v.start for v in variants], dtype=np.int64)
        self.ends = np.array([v.end for v in variants], dtype=np.int64)

    @classmethod
    def read(cls, truth_vcf: str | os.PathLike, contig: str, start: int, end: int,
             confident: RegionSet | None = None) -> "TruthRecords":
        try:
            vcf = pysam.VariantFile(str(truth_vcf))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot open truth VCF {truth_vcf}: {exc}") from exc
        variants, dropped = [], 0
        with vcf:
            if contig not in vcf.header.contigs:
                return cls([])
            if not vcf.header.samples:
                raise InputError(f"truth VCF {truth_vcf} has no sample column to take genotypes from")
            for rec in vcf.fetch(contig, start, end):
                if any(f not in ("PASS", ".") for f in rec.filter.keys()):
                    continue
                gt = tuple(rec.samples[0].get("GT") or ())
                if not gt or any(g is None for g in gt):
                    dropped += 1
                    continue
                genotype = (gt[0], gt[0]) if len(gt) == 1 else (gt[0], gt[1])
                if sum(genotype) == 0:
                    continue
                alleles = tuple(minimal_allele(rec.pos, rec.ref, alt) if is_sequence_allele(alt)
                                else (rec.start, rec.stop, alt) for alt in rec.alts or ())
                variants.append(Variant(rec.start, rec.stop, (None,) + alleles, genotype))
        if dropped:
            log.info("%s %s:%d-%d: %d truth records with a missing genotype allele left out", truth_vcf, contig,
                     start + 1, end, dropped)
        if confident is not None and variants:
            inside = confident.overlaps(contig, np.array([v.start for v in variants]), np.array([v.end for v in variants]))
            variants = [v for v, keep in zip(variants, inside) if keep]
        return cls(variants)

    def overlapping(self, start: int, end: int) -> list[Variant]:
        """The records overlapping [start, end), as DeepVariant's VCF query of a partition returns them."""
        hits = np.flatnonzero((self.starts < end) & (self.ends > start))
        return [self.variants[i] for i in hits]


def candidate_sites(positions: Sequence[int], refs: Sequence[str], alts: Sequence[str]
                    ) -> tuple[list[Variant], list[tuple[int, int]]]:
    """One multi-allelic site per VCF position, as DeepVariant's candidates are; returns the sites in
    order of start and, per candidate, (site index, allele index)."""
    by_pos: dict[int, list[int]] = {}
    for i, pos in enumerate(positions):
        by_pos.setdefault(int(pos), []).append(i)
    sites, where = [], [(0, 0)] * len(positions)
    for pos in sorted(by_pos):
        members = by_pos[pos]
        longest_ref = max((refs[i] for i in members), key=len)
        alleles = tuple(minimal_allele(pos, refs[i], alts[i]) for i in members)
        for k, i in enumerate(members, start=1):
            where[i] = (len(sites), k)
        sites.append(Variant(pos - 1, pos - 1 + len(longest_ref), (None,) + alleles))
    return sites, where


def group_variants(candidates: Sequence[Variant], truths: Sequence[Variant], config: LabelerConfig = LabelerConfig()
                   ) -> list[tuple[list[int], list[int]]]:
    """DeepVariant's greedy grouping (step 2): a list of (candidate indices, truth indices)."""
    merged = sorted([(v.start, 0, i) for i, v in enumerate(candidates)] + [(v.start, 1, i) for i, v in enumerate(truths)])
    variant = [candidates, truths]
    blocks: list[list[tuple[int, int]]] = []  # runs of consecutive variants with the same end
    for _, kind, i in merged:
        if blocks and variant[blocks[-1][0][0]][blocks[-1][0][1]].end == variant[kind][i].end:
            blocks[-1].append((kind, i))
        else:
            blocks.append([(kind, i)])

    def joins(group: list[tuple[int, int]], kind: int, i: int, product: int) -> bool:
        if not group:
            return True
        if product >= config.max_gt_options_product:
            return False
        if sum(1 for k, _ in group if k == kind) >= config.max_group_size:
            return False
        start = variant[kind][i].start
        return any(start - variant[k][j].end + 1 <= config.max_separation for k, j in group)

    groups, current, product, previous_end = [], [], 1, 0
    for block in blocks:
        block_product = int(np.prod([variant[k][i].n_genotypes for k, i in block]))
        first_end = variant[block[0][0]][block[0][1]].end
        if (all(joins(current, k, i, product * block_product) for k, i in block)
                or first_end - previous_end <= config.force_group_within_bp):
            current.extend(block)
            product *= block_product
        else:
            groups.append(current)
            current, product = list(block), block_product
        previous_end = first_end
    if current:
        groups.append(current)
    return [([i for k, i in g if k == 0], [i for k, i in g if k == 1]) for g in groups]


def _candidate_genotypes(variant: Variant) -> list[tuple[int, int]]:
    """Every unphased genotype, in the order DeepVariant iterates them: it builds a set from the VCF
    likelihood order (0/0, 0/1, 1/1, 0/2, ...) and iterates the set; a set of the same int tuples
    iterates in the same order here (their hashes are not randomised), which decides ties."""
    n = len(variant.alleles)
    return list({(i, j) for j in range(n) for i in range(j + 1)})


def _truth_genotypes(variant: Variant) -> list[tuple[int, int]]:
    """The truth genotype and every genotype that misses some of its alleles, sorted (DeepVariant's
    ``with_false_negative_genotypes``)."""
    alts = set(variant.genotype) - {0}
    return sorted({HOM_REF, variant.genotype} | {(0, a) for a in alts})


def _placements(variant: Variant, genotypes: list[tuple[int, int]]) -> tuple[list[Placement], list[int]]:
    """Each genotype both ways round (one way for a homozygote), and which genotype each placement is."""
    placements, owner = [], []
    for index, (i, j) in enumerate(genotypes):
        first, second = variant.alleles[i], variant.alleles[j]
        placements.append(Placement(first, second))
        owner.append(index)
        if i != j:
            placements.append(Placement(second, first))
            owner.append(index)
    return placements, owner


def _enumerate(variants: Sequence[Variant], genotypes: list[list[tuple[int, int]]], ref: str, offset: int, end: int,
               visit: Callable[[tuple[str, str], int, tuple[int, ...]], None], wanted: Sequence[str] | None = None
               ) -> None:
    """Walk every genotype combination of ``variants`` (in start order) and call ``visit(sequences, rank,
    combination)``: ``rank`` orders combinations as ``itertools.product`` does; ``combination`` holds each
    variant's genotype index, in the variants' order. ``wanted``: see :func:`walk_diploid`."""
    walk = sorted(range(len(variants)), key=lambda v: variants[v].walk_order)
    options = [_placements(variants[v], genotypes[v]) for v in walk]
    weights = [1] * len(variants)
    for v in range(len(variants) - 2, -1, -1):
        weights[v] = weights[v + 1] * len(genotypes[v + 1])

    def on_leaf(sequences: tuple[str, str], picks: list[int]) -> None:
        combination = [0] * len(variants)
        for w, (v, k) in enumerate(zip(walk, picks)):
            combination[v] = options[w][1][k]
        visit(sequences, sum(c * weights[v] for v, c in enumerate(combination)), tuple(combination))

    walk_diploid([o[0] for o in options], ref, offset, end, on_leaf, wanted)


def best_genotypes(candidates: Sequence[Variant], truths: Sequence[Variant], ref: str, offset: int, end: int
                   ) -> list[tuple[int, int]]:
    """The genotypes of ``candidates`` (sorted by start) that best reproduce ``truths`` over ``ref``
    (the reference from ``offset`` to ``end``, covering every variant): steps 3 and 4."""
    if not truths:
        return [HOM_REF] * len(candidates)
    truth_genotypes = [_truth_genotypes(t) for t in truths]
    missed_by_truth: dict[tuple[str, str], tuple[int, int]] = {}  # sequences -> (rank, alleles missed)

    def on_truth(sequences, rank, combination):
        known = missed_by_truth.get(sequences)
        if known is None or rank > known[0]:  # DeepVariant keeps the last assignment per sequence pair
            missed = sum(sum(1 for g in options[c] if g == 0) - sum(1 for g in t.genotype if g == 0)
                         for t, options, c in zip(truths, truth_genotypes, combination))
            missed_by_truth[sequences] = (rank, missed)

    _enumerate(truths, truth_genotypes, ref, offset, end, on_truth)
    candidate_genotypes = [_candidate_genotypes(c) for c in candidates]
    # sequences -> [first rank seen, (hom-ref candidates, rank) of its best assignment, that assignment]
    by_sequences: dict[tuple[str, str], list] = {}

    def on_candidates(sequences, rank, combination):
        if sequences not in missed_by_truth:
            return
        hom_ref = sum(1 for options, c in zip(candidate_genotypes, combination) if options[c] == HOM_REF)
        known = by_sequences.get(sequences)
        if known is None:
            by_sequences[sequences] = [rank, (hom_ref, rank), combination]
            return
        known[0] = min(known[0], rank)
        if (hom_ref, rank) < known[1]:
            known[1], known[2] = (hom_ref, rank), combination

    # only candidate assignments that reproduce some truth assignment can win: walk just those
    truth_sequences = sorted({h for pair in missed_by_truth for h in pair})
    _enumerate(candidates, candidate_genotypes, ref, offset, end, on_candidates, truth_sequences)
    # fewest missed truth alleles, then fewest hom-ref candidates, then DeepVariant's order of discovery
    best = min(by_sequences.items(), key=lambda kv: (missed_by_truth[kv[0]][1], kv[1][1][0], kv[1][0]))
    combination = best[1][2]
    return [options[c] for options, c in zip(candidate_genotypes, combination)]


def label_partition(positions: Sequence[int], refs: Sequence[str], alts: Sequence[str], truths: Sequence[Variant],
                    fetch: RefFetch, contig: str, config: LabelerConfig = LabelerConfig()) -> list[int]:
    """Labels (copies of each candidate's alternate allele) for one partition's candidates, given the
    truth records that overlap the partition (:meth:`TruthRecords.overlapping`)."""
    sites, where = candidate_sites(positions, refs, alts)
    genotypes = [HOM_REF] * len(sites)
    truths = sorted(truths, key=lambda t: t.start)
    for site_ids, truth_ids in group_variants(sites, truths, config):
        if not site_ids or not truth_ids:
            continue
        group_sites = [sites[i] for i in site_ids]
        group_truths = [truths[i] for i in truth_ids]
        members = group_sites + group_truths
        lo = min(v.start for v in members)
        hi = max(v.end for v in members)
        ref = fetch(contig, lo, hi).upper()
        for i, genotype in zip(site_ids, best_genotypes(group_sites, group_truths, ref, lo, hi)):
            genotypes[i] = genotype
    return [sum(1 for g in genotypes[site] if g == k) for site, k in where]
