"""Allele normalisation: trim shared bases, then left-align indels against the reference.

This is the one normaliser of the project: the benchmark compares normalised alleles, and
make_examples labels candidates with the same functions, so a candidate and its truth allele can
never disagree merely because of how they were written.

Conventions: ``pos`` is the 1-based VCF POS; ``start``/``end`` are 0-based, half-open reference
coordinates of the *minimal* change (no padding base), so an insertion has ``start == end`` and
means "insert ``inserted`` before reference base ``start``".
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable, Iterator

import pysam

from . import InputError

log = logging.getLogger(__name__)

#: ``fetch(chrom, start, end) -> bases`` (0-based, half-open), e.g. ``pysam.FastaFile.fetch``
RefFetch = Callable[[str, int, int], str]

#: left-shifting reads the reference in blocks of this many bases
_SHIFT_BLOCK = 64


@dataclass(frozen=True, slots=True)
class NormalizedAllele:
    """One REF/ALT pair after trimming and left-alignment."""

    chrom: str
    pos: int  # VCF POS (1-based) of the normalised, VCF-padded representation
    ref: str  # VCF REF (with a padding base for insertions and deletions)
    alt: str  # VCF ALT
    start: int  # 0-based start of the minimal change
    end: int  # 0-based end of the minimal change (== start for an insertion)
    inserted: str  # bases that replace reference[start:end]

    @property
    def kind(self) -> str:
        """SNP, MNP, INS, DEL or COMPLEX (by the minimal change)."""
        deleted = self.end - self.start
        if deleted == len(self.inserted):
            return "SNP" if deleted == 1 else "MNP"
        if deleted == 0:
            return "INS"
        if not self.inserted:
            return "DEL"
        return "COMPLEX"

    @property
    def is_indel(self) -> bool:
        return self.end - self.start != len(self.inserted)

    def as_tuple(self) -> tuple[int, str, str]:
        return self.pos, self.ref, self.alt


def trim_allele(start: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Remove the shared suffix, then the shared prefix; ``start`` is 0-based.

    Suffix first, so that e.g. ``ATA>A`` becomes a deletion of ``AT`` (which left-alignment then
    moves as far left as it goes); either order gives the same left-aligned result for indels.
    """
    n = min(len(ref), len(alt))
    suffix = 0
    while suffix < n and ref[-1 - suffix] == alt[-1 - suffix]:
        suffix += 1
    if suffix:
        ref, alt = ref[: len(ref) - suffix], alt[: len(alt) - suffix]
    n = min(len(ref), len(alt))
    prefix = 0
    while prefix < n and ref[prefix] == alt[prefix]:
        prefix += 1
    return start + prefix, ref[prefix:], alt[prefix:]


def _left_shift(fetch: RefFetch, chrom: str, start: int, unit: str) -> tuple[int, str]:
    """Move an indel whose changed bases are ``unit`` (inserted before, or deleted from, ``start``)
    left while the base before it equals the unit's last base (a rotation of the unit)."""
    while start > 0:
        block_start = max(0, start - _SHIFT_BLOCK)
        block = fetch(chrom, block_start, start).upper()
        if len(block) != start - block_start:  # a fetch past the contig: stop rather than loop
            return start, unit
        for base in reversed(block):
            if base != unit[-1]:
                return start, unit
            unit = unit[-1] + unit[:-1]
            start -= 1
    return start, unit


def normalize(fetch: RefFetch, chrom: str, pos: int, ref: str, alt: str) -> NormalizedAllele:
    """Trim and left-align one REF/ALT pair at VCF ``pos`` (1-based).

    Indels are left-aligned through repeats and padded with the preceding reference base (the
    following base at the very start of a contig); substitutions and complex alleles are trimmed
    only. ``alt`` must be a sequence allele (no ``<SYMBOLIC>``, ``*`` or ``.``), and an ALT equal to
    REF is returned as an empty change (``start == end``, ``inserted == ""``).
    """
    ref, alt = ref.upper(), alt.upper()
    start, ref_core, alt_core = trim_allele(pos - 1, ref, alt)
    if ref_core and alt_core or (not ref_core and not alt_core):
        # substitution, MNP or complex (no unique shift exists), or no change at all
        if not ref_core:
            return NormalizedAllele(chrom, pos, ref, alt, start, start, "")
        return NormalizedAllele(chrom, start + 1, ref_core, alt_core, start, start + len(ref_core), alt_core)
    is_insertion = not ref_core
    unit = alt_core or ref_core
    start, unit = _left_shift(fetch, chrom, start, unit)
    end = start if is_insertion else start + len(unit)
    if start > 0:
        pad = fetch(chrom, start - 1, start).upper()
        vcf_ref, vcf_alt = (pad, pad + unit) if is_insertion else (pad + unit, pad)
        vcf_pos = start  # the padding base's 1-based position
    else:
        # VCF pads an event at the very first base with the base that follows it
        pad = fetch(chrom, end, end + 1).upper()
        vcf_ref, vcf_alt = (pad, unit + pad) if is_insertion else (unit + pad, pad)
        vcf_pos = 1
    return NormalizedAllele(chrom, vcf_pos, vcf_ref, vcf_alt, start, end, unit if is_insertion else "")


def normalize_allele(fetch: RefFetch, chrom: str, pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """``(pos, ref, alt)`` of the normalised allele: the form make_examples labels with."""
    return normalize(fetch, chrom, pos, ref, alt).as_tuple()


def is_sequence_allele(allele: str) -> bool:
    """True for an ALT made of bases; False for ``<DEL>``, ``*``, ``.``, breakends."""
    return bool(allele) and allele[0] != "<" and allele not in ("*", ".") and not any(c in allele for c in "[]")


@dataclass(frozen=True, slots=True)
class AlleleRecord:
    """One ALT allele of a VCF record, normalised, with the sample's genotype and filters."""

    allele: NormalizedAllele
    allele_index: int  # index of this ALT in the original record (1-based, as in GT)
    original_pos: int
    original_ref: str
    genotype: tuple[int | None, ...]  # the sample's GT as written (allele indices of the record)
    phased: bool
    filters: tuple[str, ...]  # FILTER plus the sample's FT values, without PASS

    @property
    def allele_copies(self) -> int:
        """How many of the sample's haplotypes carry this allele (0, 1 or 2)."""
        return sum(1 for g in self.genotype if g == self.allele_index)


def iter_normalized_alleles(vcf_path: str | os.PathLike, fetch: RefFetch, sample: str | int = 0,
                            called_only: bool = True) -> Iterator[AlleleRecord]:
    """Yield each ALT allele of each record of ``vcf_path``, normalised against ``fetch``.

    ``called_only`` keeps only alleles present in the sample's GT (symbolic and ``*`` alleles are
    always skipped). Records are yielded in file order; normalised positions can move left, so
    sort the result if you need order. REF is not checked against the reference here (the
    benchmark does that and reports disagreements).
    """
    try:
        vcf = pysam.VariantFile(str(vcf_path))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot open VCF {vcf_path}: {exc}") from exc
    with vcf:
        samples = list(vcf.header.samples)
        if not samples:
            raise InputError(f"VCF has no sample column: {vcf_path}")
        has_ft = "FT" in vcf.header.formats
        for rec in vcf:
            call = rec.samples[sample]
            genotype = tuple(call.get("GT") or (None,))
            filters = [f for f in rec.filter.keys() if f != "PASS"]
            if has_ft and call.get("FT") not in (None, "PASS", "."):
                filters += [f for f in str(call.get("FT")).replace(",", ";").split(";") if f not in ("PASS", ".")]
            for index, alt in enumerate(rec.alts or (), start=1):
                if not is_sequence_allele(alt) or (called_only and index not in genotype):
                    continue
                yield AlleleRecord(normalize(fetch, rec.chrom, rec.pos, rec.ref, alt), index, rec.pos, rec.ref,
                                   genotype, bool(call.phased), tuple(filters))
