"""Writing the benchmark's files: PREFIX.summary.csv, PREFIX.extended.csv, PREFIX.vcf.gz (+ .tbi).

The VCF has hap.py's two sample columns, TRUTH and QUERY, with per-sample BD (decision), BK (match
kind), BI (subtype flags), BVT (variant type) and BLT (genotype class), and INFO BS (superlocus
start) and Regions. A truth unit and the query unit it was paired with (identical representation)
share a row; every other unit has its own row with ``./.`` in the other column. Records that
could not be imported appear with BD=N and the IMPORT_FAIL flag. Every file is written atomically.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import pysam

from ..fileio import atomic_output
from .annotate import SUBTYPE_BIT
from .calls import UnitTable
from .match import DECISION_NAMES, KIND_NAMES
from .vcfio import ImportFailure

_EMPTY_SAMPLE = "./.:.:.:.:NOCALL:nocall"


def _bi(units: UnitTable, i: int) -> str:
    flags = []
    if units.ti[i]:
        flags.append("ti")
    if units.tv[i]:
        flags.append("tv")
    bits = int(units.subtypes[i])
    flags += [name.lower() for name, bit in SUBTYPE_BIT.items() if bits & bit]
    return ",".join(flags) or "."


def _gt_text(gt: tuple[int, int], phased: bool) -> str:
    if not phased:
        gt = tuple(sorted(gt))  # unphased: written in ascending order, as normalisers do
    return ("|" if phased else "/").join("." if g < 0 else str(g) for g in gt)


def _sample(units: UnitTable, i: int, decision: int, kind: int, gt: tuple[int, int] | None = None) -> str:
    gt = units.gt[i] if gt is None else gt
    return ":".join((_gt_text(gt, bool(units.phased[i])), DECISION_NAMES[decision], KIND_NAMES[kind], _bi(units, i),
                     "INDEL" if units.is_indel[i] else "SNP", str(units.blt[i])))


def contig_records(chrom: str, truth: UnitTable, query: UnitTable, truth_decision: np.ndarray,
                   query_decision: np.ndarray, truth_kind: np.ndarray, query_kind: np.ndarray,
                   truth_partner: np.ndarray, truth_cluster: np.ndarray, query_cluster: np.ndarray,
                   cluster_start: np.ndarray, truth_regions: list[str], query_regions: list[str]
                   ) -> list[tuple[int, str]]:
    """(POS, VCF line) for every unit of one contig."""
    lines: list[tuple[int, str]] = []
    shared_query: set[int] = set()
    for t in range(len(truth)):
        q = int(truth_partner[t])
        alts = truth.alts[t]
        pair = q >= 0 and query.ref[q] == truth.ref[t] and query.alts[q] == alts and truth.pos[t] == query.pos[q]
        if pair:
            shared_query.add(q)
            filters = ";".join(query.filters[q]) or "PASS"
            qual = "." if query.qual[q] is None else f"{query.qual[q]:g}"
            query_sample = _sample(query, q, query_decision[q], query_kind[q])
            regions = truth_regions[t]  # identical representation: identical extent and regions
        else:
            filters, qual, query_sample, regions = "PASS", ".", _EMPTY_SAMPLE, truth_regions[t]
        info = f"BS={cluster_start[truth_cluster[t]]}" + (f";Regions={regions}" if regions else "")
        lines.append((int(truth.pos[t]), "\t".join((
            chrom, str(truth.pos[t]), ".", truth.ref[t], ",".join(alts), qual, filters, info,
            "GT:BD:BK:BI:BVT:BLT", _sample(truth, t, truth_decision[t], truth_kind[t]), query_sample))))
    for q in range(len(query)):
        if q in shared_query:
            continue
        filters = ";".join(query.filters[q]) or "PASS"
        qual = "." if query.qual[q] is None else f"{query.qual[q]:g}"
        info = f"BS={cluster_start[query_cluster[q]]}" + (f";Regions={query_regions[q]}" if query_regions[q] else "")
        lines.append((int(query.pos[q]), "\t".join((
            chrom, str(query.pos[q]), ".", query.ref[q], ",".join(query.alts[q]), qual, filters, info,
            "GT:BD:BK:BI:BVT:BLT", _EMPTY_SAMPLE, _sample(query, q, query_decision[q], query_kind[q])))))
    return lines


def failure_records(failures: Iterable[ImportFailure]) -> dict[str, list[tuple[int, str]]]:
    by_contig: dict[str, list[tuple[int, str]]] = {}
    failed = "./.:N:.:.:NOCALL:fail"
    for f in failures:
        reason = f.reason.replace(" ", "_").replace(";", ",").replace("=", ":")
        truth, query = (failed, _EMPTY_SAMPLE) if f.role == "truth" else (_EMPTY_SAMPLE, failed)
        by_contig.setdefault(f.chrom, []).append((f.pos, "\t".join((
            f.chrom, str(f.pos), ".", f.ref if f.ref else "N", f.alts if f.alts else ".", ".", "PASS",
            f"IMPORT_FAIL;FAIL_REASON={reason[:200]}", "GT:BD:BK:BI:BVT:BLT", truth, query))))
    return by_contig


def _header(contigs: Mapping[str, int], filters: Iterable[str], subsets: Iterable[str]) -> str:
    lines = ["##fileformat=VCFv4.2"]
    lines += [f"##contig=<ID={name},length={length}>" for name, length in contigs.items()]
    lines += [f'##FILTER=<ID={f},Description="Filter from the query VCF">' for f in sorted(set(filters)) if f != "PASS"]
    lines += [
        '##INFO=<ID=BS,Number=1,Type=Integer,Description="Start of the superlocus (1-based) in which the record was compared">',
        '##INFO=<ID=Regions,Number=.,Type=String,Description="Regions containing the record: CONF, TS_contained, '
        'TS_boundary, stratification labels (' + ",".join(subsets) + ')">',
        '##INFO=<ID=IMPORT_FAIL,Number=0,Type=Flag,Description="Record could not be imported; not counted">',
        '##INFO=<ID=FAIL_REASON,Number=1,Type=String,Description="Why the record could not be imported">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=BD,Number=1,Type=String,Description="Decision: TP, FP, FN, UNK (outside confident regions), N (not counted)">',
        '##FORMAT=<ID=BK,Number=1,Type=String,Description="Match kind: gm (haplotype match), am (alleles match, genotype differs), '
        'lm (allele mismatch beside an unmatched variant), . (none)">',
        '##FORMAT=<ID=BI,Number=.,Type=String,Description="Subtype flags: ti, tv, indel length classes">',
        '##FORMAT=<ID=BVT,Number=1,Type=String,Description="Variant type: SNP or INDEL">',
        '##FORMAT=<ID=BLT,Number=1,Type=String,Description="Genotype class: het, homalt, hetalt, halfcall, ...">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTRUTH\tQUERY",
    ]
    return "\n".join(lines) + "\n"


def write_comparison_vcf(path: str | os.PathLike, contigs: Mapping[str, int],
                         records: Mapping[str, list[tuple[int, str]]], filters: Iterable[str],
                         subsets: Iterable[str]) -> Path:
    """Sorted, bgzipped, tabix-indexed; ``records`` maps contig -> (POS, line)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        text_path = tmp.with_name(tmp.name[:-3] if tmp.name.endswith(".gz") else tmp.name + ".txt")
        try:
            with open(text_path, "w") as handle:
                handle.write(_header(contigs, filters, subsets))
                for chrom in contigs:
                    for _, line in sorted(records.get(chrom, ()), key=lambda r: r[0]):
                        handle.write(line)
                        handle.write("\n")
            pysam.tabix_index(str(text_path), preset="vcf", force=True, keep_original=False)
            compressed = Path(str(text_path) + ".gz")
            if compressed != tmp:
                os.replace(compressed, tmp)
                os.replace(str(compressed) + ".tbi", str(tmp) + ".tbi")
        finally:
            if text_path.exists():
                text_path.unlink()
    return path


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """NaN as an empty cell, as hap.py writes it."""
    path = Path(path)
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, index=False, na_rep="")
    return path
