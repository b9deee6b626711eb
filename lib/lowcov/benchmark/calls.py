"""Comparison units: what is matched and counted.

Each record's called ALT alleles are normalised one by one (split multi-allelic records); alleles
of one record that land on the same position and are of the same kind (SNP-like or indel) stay
together as one unit, e.g. a het-alt ``A>ATT,ATC 2/1``; others become separate units with the
genotype projected onto them (``A>ATT,T 2/1`` gives an insertion ``0/1`` and an SNP ``1/0``). One
unit is one counted record, which reproduces hap.py's counts after its own split-and-merge
preprocessing. Units split from one unphased record share a phase block, so the matcher keeps
them on opposite haplotypes as the genotype says.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .annotate import genotype_class, primitives
from ..haplotypes import MinimalAllele, trim_as_written
from ..normalize import normalize
from .vcfio import ImportFailure, RawRecords

log = logging.getLogger(__name__)

@dataclass
class UnitTable:
    """The units of one side on one contig, column by column, sorted by ``start``."""

    chrom: str
    pos: np.ndarray  # VCF POS of the unit's normalised representation
    ref: list[str]
    alts: list[tuple[str, ...]]
    gt: list[tuple[int, int]]  # indices into (REF,) + alts; -1 missing
    phased: np.ndarray
    block: list[object]  # phase block (units sharing one keep their relative phase) or None
    alleles: list[tuple[MinimalAllele, ...]]  # minimal, left-aligned form of alts, same order
    written: list[tuple[MinimalAllele, ...]]  # minimal form as written (trimmed, not shifted):
    # haplotypes are built from these, so a left shift can never make neighbours overlap
    start: np.ndarray  # minimal extent, for clustering
    end: np.ndarray
    region_start: np.ndarray  # extent for region capture (pure insertion: both flanking bases)
    region_end: np.ndarray
    pure_insertion: np.ndarray
    record_start: np.ndarray  # the original record's REF span (for CONF_VARS)
    record_end: np.ndarray
    is_indel: np.ndarray  # BVT: INDEL if True else SNP
    ti: np.ndarray
    tv: np.ndarray
    subtypes: np.ndarray
    blt: np.ndarray  # genotype class strings
    filters: list[tuple[str, ...]]
    passes: np.ndarray
    qual: list[float | None]
    gt_key: np.ndarray  # canonical genotype over minimal alleles; equal keys = same call
    allele_key: np.ndarray  # canonical set of called alleles, genotype ignored
    skipped: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.pos)


def _allele_text(allele: MinimalAllele) -> str:
    return f"{allele[0]}:{allele[1]}:{allele[2]}"


def _ref_agrees(seq: str, pos: int, ref: str) -> bool:
    ref = ref.upper()
    window = seq[pos - 1: pos - 1 + len(ref)]
    if window == ref:
        return True
    if len(window) != len(ref):
        return False
    return all(a == b or a == "N" or b == "N" for a, b in zip(window, ref))


def build_units(raw: RawRecords, chrom: str, seq: str, role: str, path: str,
                failures: list[ImportFailure]) -> UnitTable:
    """Normalise one contig's records into units; REF disagreements go to ``failures``.

    One loop on purpose: a record's alleles, genotype and failures are decided together, in record order.
    """

    def fetch(_chrom: str, start: int, end: int) -> str:
        return seq[max(0, start):end]

    cols: dict[str, list] = {name: [] for name in (
        "pos", "ref", "alts", "gt", "phased", "block", "alleles", "written", "start", "end", "region_start", "region_end",
        "pure_insertion", "record_start", "record_end", "is_indel", "ti", "tv", "subtypes", "blt", "filters",
        "qual", "gt_key", "allele_key")}
    skipped: Counter = Counter()
    for i in sorted(range(len(raw)), key=raw.pos.__getitem__):
        pos, ref, alts, gt = raw.pos[i], raw.ref[i], raw.alts[i], raw.gt[i]
        if not _ref_agrees(seq, pos, ref):
            failures.append(ImportFailure(path, role, chrom, pos, ref, ",".join(alts),
                                          f"REF does not match the reference ({seq[pos - 1:pos - 1 + len(ref)] or 'past the contig end'})"))
            continue
        # group the called alleles into units by normalised position and kind
        groups: dict[tuple[int, bool], list[tuple[int, object, object]]] = {}
        for index in sorted({g for g in gt if g > 0}):
            allele = normalize(fetch, chrom, pos, ref, alts[index - 1])
            if allele.start == allele.end and not allele.inserted:
                continue  # ALT == REF: no change
            prims = primitives(seq[allele.start:allele.end], allele.inserted)
            groups.setdefault((allele.pos, prims.is_indel), []).append((index, allele, prims))
        if not groups:
            skipped["ALT equal to REF"] += 1
            continue
        split = len(groups) > 1
        for (unit_pos, is_indel), members in groups.items():
            unit_ref = max((m[1].ref for m in members), key=len)
            unit_alts = tuple(m[1].alt + unit_ref[len(m[1].ref):] for m in members)
            to_unit = {m[0]: k for k, m in enumerate(members, start=1)}
            unit_gt = tuple(to_unit.get(g, -1 if g < 0 else 0) for g in gt)
            if raw.phased[i]:
                block = ("PS", raw.phase_set[i])
            elif split and unit_gt[0] != unit_gt[1]:
                block = ("record", role, chrom, pos)  # keep the split alleles on their own haplotypes
            else:
                block = None
            minimal = tuple((m[1].start, m[1].end, m[1].inserted) for m in members)
            written = []
            for m in members:
                w_start, w_ref, w_alt = trim_as_written(pos - 1, ref.upper(), alts[m[0] - 1].upper())
                written.append((w_start, w_start + len(w_ref), w_alt))
            starts = [a[0] for a in minimal]
            ends = [a[1] for a in minimal]
            insertion = [a[0] == a[1] for a in minimal]
            if all(insertion) and len(set(starts)) == 1:
                region = (starts[0] - 1, starts[0] + 1)
            else:
                region = (min(s - 1 if ins else s for s, ins in zip(starts, insertion)),
                          max(e + 1 if ins else e for e, ins in zip(ends, insertion)))
            called = [minimal[g - 1] if g > 0 else None for g in unit_gt]
            cols["pos"].append(unit_pos)
            cols["ref"].append(unit_ref)
            cols["alts"].append(unit_alts)
            cols["gt"].append(unit_gt)
            cols["phased"].append(raw.phased[i])
            cols["block"].append(block)
            cols["alleles"].append(minimal)
            cols["written"].append(tuple(written))
            # left shifts only move alleles left: this extent covers both representations
            cols["start"].append(min(starts))
            cols["end"].append(max(max(ends), max(w[1] for w in written)))
            cols["region_start"].append(region[0])
            cols["region_end"].append(region[1])
            cols["pure_insertion"].append(all(insertion) and len(set(starts)) == 1)
            cols["record_start"].append(pos - 1)
            cols["record_end"].append(pos - 1 + len(ref))
            cols["is_indel"].append(is_indel)
            cols["ti"].append(any(m[2].transition for m in members))
            cols["tv"].append(any(m[2].transversion for m in members))
            bits = 0
            for m in members:
                bits |= m[2].subtype_bits
            cols["subtypes"].append(bits)
            cols["blt"].append(genotype_class(unit_gt))
            cols["filters"].append(raw.filters[i])
            cols["qual"].append(raw.qual[i])
            cols["gt_key"].append("|".join(sorted(_allele_text(a) if a else "R" for a in called)))
            cols["allele_key"].append(",".join(sorted({_allele_text(a) for a in called if a})))
    order = np.argsort(np.asarray(cols["start"], dtype=np.int64), kind="stable")

    def arr(name: str, dtype=None) -> np.ndarray:
        return np.asarray(cols[name], dtype=dtype)[order] if cols[name] else np.zeros(0, dtype=dtype or object)

    def lst(name: str) -> list:
        values = cols[name]
        return [values[j] for j in order]

    return UnitTable(
        chrom=chrom, pos=arr("pos", np.int64), ref=lst("ref"), alts=lst("alts"), gt=lst("gt"),
        phased=arr("phased", bool), block=lst("block"), alleles=lst("alleles"), written=lst("written"),
        start=arr("start", np.int64), end=arr("end", np.int64),
        region_start=arr("region_start", np.int64), region_end=arr("region_end", np.int64),
        pure_insertion=arr("pure_insertion", bool), record_start=arr("record_start", np.int64),
        record_end=arr("record_end", np.int64), is_indel=arr("is_indel", bool), ti=arr("ti", bool),
        tv=arr("tv", bool), subtypes=arr("subtypes", np.int64), blt=arr("blt", object),
        filters=lst("filters"), passes=np.array([not f for f in lst("filters")], dtype=bool),
        qual=lst("qual"), gt_key=arr("gt_key", object), allele_key=arr("allele_key", object), skipped=skipped)


def empty_units(chrom: str) -> UnitTable:
    return build_units(RawRecords(), chrom, "", "none", "", [])
