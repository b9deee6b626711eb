"""Diploid haplotype sequences built from variants: the one enumerator shared by the benchmark's
matcher (:mod:`lowcov.benchmark.match`) and make_examples' labeller (:mod:`lowcov.labeler`).

Both ask the same question of a few nearby variants: which pairs of haplotype sequences can they
produce over a window of the reference? The answer does not depend on how each variant was written,
so an indel placed anywhere in a repeat, or an MNP and its SNPs, give the same sequences.

A variant enters as a list of *placements*: each says which allele goes on the first and on the
second haplotype (``None``: the reference there), and may commit a phase block to one orientation
(the benchmark keeps phased calls' relative phase this way). :func:`walk_diploid` tries one
placement per variant, in list order with the first variant outermost, drops combinations whose
alleles overlap on a haplotype, and hands each surviving combination's sequence pair, unordered
(so a heterozygote placed either way round is one diploid sequence), to a callback.

Alleles are minimal: ``(start, end, inserted)``, 0-based and half-open on the reference, as in
:mod:`lowcov.normalize`; an insertion has ``start == end``. Variants must be listed in order of
their alleles' starts, so that an allele starting before the end of the previous one on the same
haplotype is recognised as an overlap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

#: a minimal allele: (start, end, inserted bases) on the reference, 0-based
MinimalAllele = tuple[int, int, str]

#: a haplotype under construction: (sequence so far, next reference base, last insertion point or -1)
PartialHaplotype = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class Placement:
    """One way to put a variant on the two haplotypes."""

    first: MinimalAllele | None
    second: MinimalAllele | None
    #: a phase block this placement commits to orientation ``flip`` (None: no constraint)
    block: object = None
    flip: int = 0


def trim_as_written(start: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Shared prefix first (VCF's padding base is on the left), then suffix: keeps an allele where
    its writer put it, e.g. ``AGA>A`` after an SNP at the first A stays a deletion of ``GA``.
    ``start`` is 0-based; returns the 0-based start and the trimmed REF and ALT."""
    n = min(len(ref), len(alt))
    prefix = 0
    while prefix < n and ref[prefix] == alt[prefix]:
        prefix += 1
    ref, alt = ref[prefix:], alt[prefix:]
    n = min(len(ref), len(alt))
    suffix = 0
    while suffix < n and ref[-1 - suffix] == alt[-1 - suffix]:
        suffix += 1
    return start + prefix, ref[:len(ref) - suffix], alt[:len(alt) - suffix]


def minimal_allele(pos: int, ref: str, alt: str) -> MinimalAllele:
    """The minimal allele of a VCF REF/ALT pair at 1-based ``pos``, trimmed as written (not shifted)."""
    start, trimmed_ref, trimmed_alt = trim_as_written(pos - 1, ref.upper(), alt.upper())
    return start, start + len(trimmed_ref), trimmed_alt


def extend_haplotype(hap: PartialHaplotype, allele: MinimalAllele | None, ref: str, offset: int
                     ) -> PartialHaplotype | None:
    """Append ``allele`` to a partial haplotype over ``ref`` (which starts at ``offset``); None when it
    overlaps what is already on the haplotype (two insertions at one point count as overlapping)."""
    if allele is None:
        return hap
    seq, cursor, last_insertion = hap
    start, end, inserted = allele
    if start < cursor or (start == end and start == last_insertion):
        return None
    return seq + ref[cursor - offset:start - offset] + inserted, end, start if start == end else -1


def walk_diploid(placements: Sequence[Sequence[Placement]], ref: str, offset: int, end: int,
                 visit: Callable[[tuple[str, str], list[int]], None],
                 wanted: Sequence[str] | None = None) -> None:
    """Call ``visit(sequences, picks)`` for every compatible choice of one placement per variant.

    ``ref`` holds the reference from ``offset`` to ``end`` and must cover every allele; ``sequences``
    is the pair of haplotype sequences over that window, smaller first; ``picks[i]`` is the index of
    the placement chosen for variant ``i`` (the list is reused: copy it to keep it). With ``wanted``,
    only choices whose two sequences are both among ``wanted`` are visited: a partial haplotype that
    begins no wanted sequence is abandoned at once, which keeps many variants cheap.
    """
    n = len(placements)
    tail = end - offset
    picks = [0] * n

    def viable(before: PartialHaplotype, after: PartialHaplotype) -> bool:
        return after is before or any(w.startswith(after[0]) for w in wanted)

    def step(i: int, hap_a: PartialHaplotype, hap_b: PartialHaplotype, orientation: dict) -> None:
        if i == n:
            a = hap_a[0] + ref[hap_a[1] - offset:tail]
            b = hap_b[0] + ref[hap_b[1] - offset:tail]
            visit((a, b) if a <= b else (b, a), picks)
            return
        for k, placement in enumerate(placements[i]):
            block = placement.block
            if block is not None and orientation.get(block, placement.flip) != placement.flip:
                continue
            new_a = extend_haplotype(hap_a, placement.first, ref, offset)
            if new_a is None or (wanted is not None and not viable(hap_a, new_a)):
                continue
            new_b = extend_haplotype(hap_b, placement.second, ref, offset)
            if new_b is None or (wanted is not None and not viable(hap_b, new_b)):
                continue
            picks[i] = k
            if block is not None and block not in orientation:
                step(i + 1, new_a, new_b, {**orientation, block: placement.flip})
            else:
                step(i + 1, new_a, new_b, orientation)

    start: PartialHaplotype = ("", offset, -1)
    step(0, start, start, {})
