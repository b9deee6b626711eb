"""What kind of variant a call is, in hap.py's vocabulary (spec section 1).

* ``BVT``: SNP when every called allele is only substitutions (an MNP is one SNP record), INDEL
  when any allele inserts or deletes bases (complex alleles included).
* ``BI`` subtype flags: ``ti``/``tv`` for substitutions between A/C/G/T; indel length classes
  I1_5/I6_15/I16_PLUS and D1_5/... for pure indels, C1_5/... for alleles mixing both.
* ``BLT`` genotype class: het, homalt, hetalt, halfcall, nocall, homref, hemi, ambi.

Alleles whose minimal REF and ALT are both at least 2 bp are realigned (global alignment, match
+1, mismatch -4, gap open 6, gap extend 1, as hap.py does) before their primitives are counted;
otherwise bases are compared left to right and the remainder is an insertion or a deletion.
"""
from __future__ import annotations

from dataclasses import dataclass

TRANSITIONS = frozenset({("A", "G"), ("G", "A"), ("C", "T"), ("T", "C")})
BASES = frozenset("ACGT")

#: subtype classes as bit flags, in hap.py's row order
SUBTYPES = ("I1_5", "I6_15", "I16_PLUS", "D1_5", "D6_15", "D16_PLUS", "C1_5", "C6_15", "C16_PLUS")
SUBTYPE_BIT = {name: 1 << i for i, name in enumerate(SUBTYPES)}

_MATCH, _MISMATCH, _GAP_OPEN, _GAP_EXTEND = 1, -4, 6, 1
#: beyond this many cells the quadratic alignment is skipped (positional comparison instead)
_MAX_ALIGN_CELLS = 250_000


@dataclass(frozen=True, slots=True)
class Primitives:
    substitutions: int
    inserted: int
    deleted: int
    transition: bool
    transversion: bool

    @property
    def is_indel(self) -> bool:
        return bool(self.inserted or self.deleted)

    @property
    def subtype_bits(self) -> int:
        if not self.is_indel:
            return 0
        if self.substitutions:
            return SUBTYPE_BIT["C" + _length_class(self.inserted + self.deleted)]
        bits = 0
        if self.inserted:
            bits |= SUBTYPE_BIT["I" + _length_class(self.inserted)]
        if self.deleted:
            bits |= SUBTYPE_BIT["D" + _length_class(self.deleted)]
        return bits


def _length_class(length: int) -> str:
    return "1_5" if length <= 5 else "6_15" if length <= 15 else "16_PLUS"


def _substitution_flags(pairs) -> tuple[int, bool, bool]:
    count, ti, tv = 0, False, False
    for r, a in pairs:
        if r == a:
            continue
        count += 1
        if r in BASES and a in BASES:
            if (r, a) in TRANSITIONS:
                ti = True
            else:
                tv = True
    return count, ti, tv


def _align(ref: str, alt: str) -> tuple[list[tuple[str, str]], int, int]:
    """Global affine-gap alignment (Gotoh); returns aligned (ref, alt) base pairs, inserted and
    deleted base counts."""
    n, m = len(ref), len(alt)
    neg = float("-inf")
    # H: best ending in a (mis)match; E: ending in an insertion (gap in ref); F: a deletion
    H = [[neg] * (m + 1) for _ in range(n + 1)]
    E = [[neg] * (m + 1) for _ in range(n + 1)]
    F = [[neg] * (m + 1) for _ in range(n + 1)]
    H[0][0] = 0
    for j in range(1, m + 1):
        E[0][j] = -(_GAP_OPEN + _GAP_EXTEND * j)
    for i in range(1, n + 1):
        F[i][0] = -(_GAP_OPEN + _GAP_EXTEND * i)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            E[i][j] = max(max(H[i][j - 1], F[i][j - 1]) - _GAP_OPEN - _GAP_EXTEND, E[i][j - 1] - _GAP_EXTEND)
            F[i][j] = max(max(H[i - 1][j], E[i - 1][j]) - _GAP_OPEN - _GAP_EXTEND, F[i - 1][j] - _GAP_EXTEND)
            score = _MATCH if ref[i - 1] == alt[j - 1] else _MISMATCH
            H[i][j] = max(H[i - 1][j - 1], E[i - 1][j - 1], F[i - 1][j - 1]) + score
    pairs: list[tuple[str, str]] = []
    inserted = deleted = 0
    i, j = n, m
    state = max((H[n][m], 0), (E[n][m], 1), (F[n][m], 2))[1]
    while i > 0 or j > 0:
        if state == 0:
            pairs.append((ref[i - 1], alt[j - 1]))
            prev = max((H[i - 1][j - 1], 0), (E[i - 1][j - 1], 1), (F[i - 1][j - 1], 2))[1]
            i, j, state = i - 1, j - 1, prev
        elif state == 1:
            inserted += 1
            extend = E[i][j - 1] - _GAP_EXTEND
            opened = max(H[i][j - 1], F[i][j - 1]) - _GAP_OPEN - _GAP_EXTEND
            state = 1 if extend >= opened and j > 1 else (0 if H[i][j - 1] >= F[i][j - 1] else 2)
            j -= 1
        else:
            deleted += 1
            extend = F[i - 1][j] - _GAP_EXTEND
            opened = max(H[i - 1][j], E[i - 1][j]) - _GAP_OPEN - _GAP_EXTEND
            state = 2 if extend >= opened and i > 1 else (0 if H[i - 1][j] >= E[i - 1][j] else 1)
            i -= 1
        if i == 0 and j > 0:
            state = 1
        elif j == 0 and i > 0:
            state = 2
    return pairs, inserted, deleted


def primitives(ref_core: str, alt_core: str) -> Primitives:
    """Substitutions and inserted/deleted bases of a minimal (trimmed) REF/ALT pair."""
    if len(ref_core) == 1 and len(alt_core) == 1:
        count, ti, tv = _substitution_flags(((ref_core, alt_core),))
        return Primitives(count, 0, 0, ti, tv)
    if not ref_core or not alt_core:
        return Primitives(0, len(alt_core), len(ref_core), False, False)
    if len(ref_core) >= 2 and len(alt_core) >= 2 and len(ref_core) * len(alt_core) <= _MAX_ALIGN_CELLS:
        pairs, inserted, deleted = _align(ref_core, alt_core)
    else:
        common = min(len(ref_core), len(alt_core))
        pairs = list(zip(ref_core[:common], alt_core[:common]))
        inserted, deleted = len(alt_core) - common, len(ref_core) - common
    count, ti, tv = _substitution_flags(pairs)
    return Primitives(count, inserted, deleted, ti, tv)


def genotype_class(genotype: tuple[int, ...]) -> str:
    """hap.py's BLT for a GT tuple whose missing alleles are -1."""
    if len(genotype) == 1:
        return "nocall" if genotype[0] < 0 else "homref" if genotype[0] == 0 else "hemi"
    if len(genotype) > 2:
        return "ambi"
    a, b = genotype
    if a < 0 and b < 0:
        return "nocall"
    if a < 0 or b < 0:
        return "halfcall"
    if a == b:
        return "homref" if a == 0 else "homalt"
    if a == 0 or b == 0:
        return "het"
    return "hetalt"
