"""``compare()``: the whole benchmark, from two VCFs and a reference to hap.py's tables.

Contigs are processed one at a time (the reference contig is held in memory while current):
normalise both sides into units, match them by haplotype, apply confident regions (with hap.py's
CONF_VARS adjustment) and strata, then tally. Query records on contigs the truth does not cover are
ignored, as hap.py does (its default locations are the truth's contigs).
"""
from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .. import InputError
from .calls import UnitTable, build_units
from .match import UNK, ContigMatch, MatchConfig, match_contig
from .output import contig_records, failure_records, write_comparison_vcf, write_csv
from .quantify import Observations, extended_table, summary_table
from .reference import ReferenceGenome
from .regions import RegionSet
from .vcfio import ContigResolver, ImportFailure, RawRecords, ReadOptions, read_vcf

log = logging.getLogger(__name__)

#: columns of the case study's tables (hap.py's summary without FP.al)
CASE_STUDY_COLUMNS = [
    "Type", "Filter", "TRUTH.TOTAL", "TRUTH.TP", "TRUTH.FN", "QUERY.TOTAL", "QUERY.FP", "QUERY.UNK", "FP.gt",
    "METRIC.Recall", "METRIC.Precision", "METRIC.Frac_NA", "METRIC.F1_Score", "TRUTH.TOTAL.TiTv_ratio",
    "QUERY.TOTAL.TiTv_ratio", "TRUTH.TOTAL.het_hom_ratio", "QUERY.TOTAL.het_hom_ratio",
]


@dataclass(frozen=True)
class BenchmarkConfig:
    """Options of a comparison (hap.py's flag in brackets).

    pass_only: drop non-PASS query records before matching, so ALL == PASS (``--pass-only``).
    use_filtered_truth: keep non-PASS truth records (``--usefiltered-truth``); by default dropped.
    adjust_conf_regions: add the extents of truth records inside the confident BED to it
        (``--adjust-conf-regions``, hap.py's default), so an insertion at a region edge whose
        truth record is inside counts.
    truth_sample / query_sample: sample name or index (default: the first sample).
    write_vcf: write PREFIX.vcf.gz when an output prefix is given.
    """

    pass_only: bool = False
    use_filtered_truth: bool = False
    adjust_conf_regions: bool = True
    truth_sample: str | int | None = None
    query_sample: str | int | None = None
    match: MatchConfig = field(default_factory=MatchConfig)
    write_vcf: bool = True


@dataclass
class BenchmarkResult:
    """What :func:`compare` returns: the tables plus what was not counted and why."""

    summary: pd.DataFrame
    extended: pd.DataFrame
    import_failures: pd.DataFrame  # one row per record that could not be imported
    skipped: dict[str, dict[str, int]]  # per role: reason -> records not compared
    stats: dict[str, int]
    outputs: dict[str, Path]
    seconds: float
    #: one entry per compared unit and side, with its decision and place: what :mod:`lowcov.bootstrap`
    #: resamples (None for results read back from files)
    observations: Observations | None = None

    def case_study_table(self, filters: tuple[str, ...] = ("ALL", "PASS")) -> pd.DataFrame:
        """The summary in the case study's column layout (hap.py's, without FP.al)."""
        return case_study_layout(self.summary, filters)

    def metric(self, variant_type: str, name: str, filter_name: str = "ALL") -> float:
        """e.g. ``result.metric("SNP", "METRIC.F1_Score")``."""
        row = self.summary[(self.summary["Type"] == variant_type) & (self.summary["Filter"] == filter_name)]
        if row.empty:
            raise KeyError(f"no {variant_type}/{filter_name} row (no {variant_type} observations)")
        return row.iloc[0][name]


def case_study_layout(summary: pd.DataFrame, filters: tuple[str, ...] = ("ALL", "PASS")) -> pd.DataFrame:
    frame = summary[summary["Filter"].isin(filters)]
    return frame[CASE_STUDY_COLUMNS].reset_index(drop=True)


def print_case_study_table(result: "BenchmarkResult | pd.DataFrame") -> pd.DataFrame:
    """Print (and return) the table as the case study shows it."""
    summary = result.summary if isinstance(result, BenchmarkResult) else result
    table = case_study_layout(summary)
    with pd.option_context("display.max_columns", None, "display.width", 250):
        print(table.to_string(index=False, na_rep="NaN"))
    return table


def _region_labels(n: int, labels: list[tuple[str, np.ndarray]]) -> list[str]:
    out = [""] * n
    for name, mask in labels:
        for i in np.flatnonzero(mask):
            out[i] = f"{out[i]},{name}" if out[i] else name
    return out


def _observations(truth: UnitTable, query: UnitTable, t_decision: np.ndarray, q_decision: np.ndarray,
                  match: ContigMatch, subsets: dict[str, tuple[np.ndarray, np.ndarray]],
                  match_contig_name: str) -> Observations:
    n_clusters = len(match.cluster_start)
    failing = ~query.passes
    cluster_has_failing = np.bincount(match.query.cluster[failing], minlength=n_clusters) > 0 \
        if n_clusters else np.zeros(0, dtype=bool)
    partner = match.truth.partner
    # a truth TP counts in the PASS row only if the query call(s) that matched it pass: its
    # identical partner when it has one, otherwise every query call of its superlocus
    has_partner = partner >= 0
    truth_passes = np.where(has_partner, query.passes[np.where(has_partner, partner, 0)] if len(query) else True,
                            ~cluster_has_failing[match.truth.cluster] if n_clusters else True)
    return Observations(
        is_truth=np.concatenate([np.ones(len(truth), bool), np.zeros(len(query), bool)]),
        is_indel=np.concatenate([truth.is_indel, query.is_indel]),
        decision=np.concatenate([t_decision, q_decision]),
        kind=np.concatenate([match.truth.kind, match.query.kind]),
        passes=np.concatenate([np.asarray(truth_passes, dtype=bool).reshape(-1), query.passes]),
        ti=np.concatenate([truth.ti, query.ti]), tv=np.concatenate([truth.tv, query.tv]),
        het=np.concatenate([truth.blt == "het", query.blt == "het"]),
        homalt=np.concatenate([truth.blt == "homalt", query.blt == "homalt"]),
        subtypes=np.concatenate([truth.subtypes, query.subtypes]),
        subsets={name: np.concatenate([t_mask, q_mask]) for name, (t_mask, q_mask) in subsets.items()},
        contig=np.full(len(truth) + len(query), match_contig_name, dtype=object),
        start=np.concatenate([truth.region_start, query.region_start]).astype(np.int64),
    )


#: more REF disagreements than this fraction of a contig's records means another reference build
WRONG_BUILD_FRACTION = 0.5
WRONG_BUILD_MIN_RECORDS = 10


def _refuse_wrong_build(parsed, chrom: str, failures: list[ImportFailure]) -> None:
    mismatched = sum(1 for f in failures if f.chrom == chrom and f.role == parsed.role
                     and f.reason.startswith("REF does not match"))
    total = len(parsed.records.get(chrom, ()))
    if mismatched >= WRONG_BUILD_MIN_RECORDS and mismatched > WRONG_BUILD_FRACTION * total:
        raise InputError(f"{mismatched} of {total} records of {parsed.path} on {chrom} have a REF that disagrees "
                         "with the reference: the VCF was made against a different reference build")


def compare(truth_vcf: str | os.PathLike, query_vcf: str | os.PathLike, reference: str | os.PathLike,
            confident_bed: str | os.PathLike | None = None,
            stratify: Mapping[str, str | os.PathLike] | None = None,
            output_prefix: str | os.PathLike | None = None,
            config: BenchmarkConfig | None = None) -> BenchmarkResult:
    """Compare a query VCF with a truth VCF the way hap.py (with a vcfeval-style engine) does.

    Returns the summary and extended tables as DataFrames; with ``output_prefix`` also writes
    ``PREFIX.summary.csv``, ``PREFIX.extended.csv`` and ``PREFIX.vcf.gz`` (+ .tbi), atomically.
    ``stratify`` maps a subset name to a BED (e.g. coverage buckets). One function on purpose: it is
    hap.py's pipeline (read, match per contig, quantify, write) and each step is a call.
    """
    config = config or BenchmarkConfig()
    began = time.perf_counter()
    stratify = dict(stratify or {})
    for name in stratify:
        if name in ("*", "TS_contained", "TS_boundary") or not name or "," in name or ";" in name:
            raise InputError(f"stratification name {name!r} is reserved or contains ',' or ';'")
    with ReferenceGenome(reference) as genome:
        resolver = ContigResolver(genome.lengths, genome.path)
        truth = read_vcf(truth_vcf, "truth", resolver, ReadOptions(
            config.truth_sample, drop_failing_filters=not config.use_filtered_truth))
        query = read_vcf(query_vcf, "query", resolver, ReadOptions(
            config.query_sample, drop_failing_filters=config.pass_only))
        confident = RegionSet.from_bed(confident_bed, "CONF", rename=resolver) if confident_bed else None
        strata = {name: RegionSet.from_bed(path, name, rename=resolver) for name, path in stratify.items()}

        contigs = [c for c in genome.contigs if c in truth.records]
        ignored = {c: len(r) for c, r in query.records.items() if c not in truth.records}
        if ignored:
            log.info("%s: %d record(s) on contigs without truth records (%s) are ignored", query.path,
                     sum(ignored.values()), ", ".join(list(ignored)[:5]))
        failures: list[ImportFailure] = list(truth.failures) + [f for f in query.failures if f.chrom in truth.records]
        subset_names = (["TS_contained", "TS_boundary"] if confident is not None else []) + list(strata)
        parts: list[Observations] = []
        vcf_records: dict[str, list[tuple[int, str]]] = {}
        stats: Counter = Counter()
        skipped_units = {"truth": Counter(), "query": Counter()}
        non_n_length = 0
        for chrom in contigs:
            seq = genome.sequence(chrom)
            non_n_length += len(seq) - seq.count("N")
            t_units = build_units(truth.records[chrom], chrom, seq, "truth", str(truth.path), failures)
            q_units = build_units(query.records.get(chrom, RawRecords()), chrom, seq, "query", str(query.path),
                                  failures)
            for parsed in (truth, query):
                _refuse_wrong_build(parsed, chrom, failures)
            skipped_units["truth"].update(t_units.skipped)
            skipped_units["query"].update(q_units.skipped)
            match = match_contig(t_units, q_units, seq, config.match)
            stats.update(match.stats)
            t_decision = match.truth.decision.copy()
            q_decision = match.query.decision.copy()
            subsets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            t_labels: list[tuple[str, np.ndarray]] = []
            q_labels: list[tuple[str, np.ndarray]] = []
            if confident is not None:
                if config.adjust_conf_regions and len(t_units):
                    inside = confident.overlaps(chrom, t_units.record_start, t_units.record_end)
                    confident.union(chrom, t_units.region_start[inside], t_units.region_end[inside])
                t_conf = confident.captures(chrom, t_units.region_start, t_units.region_end, t_units.pure_insertion)
                q_conf = confident.captures(chrom, q_units.region_start, q_units.region_end, q_units.pure_insertion)
                t_decision[~t_conf] = UNK
                q_decision[~q_conf] = UNK
                n_clusters = len(match.cluster_start)
                in_conf = np.bincount(match.truth.cluster[t_conf], minlength=n_clusters) + \
                    np.bincount(match.query.cluster[q_conf], minlength=n_clusters)
                size = np.bincount(match.truth.cluster, minlength=n_clusters) + \
                    np.bincount(match.query.cluster, minlength=n_clusters)
                contained, boundary = in_conf == size, (in_conf > 0) & (in_conf < size)
                subsets["TS_contained"] = (contained[match.truth.cluster], contained[match.query.cluster])
                subsets["TS_boundary"] = (boundary[match.truth.cluster], boundary[match.query.cluster])
                t_labels += [("CONF", t_conf)] + [(n, subsets[n][0]) for n in ("TS_contained", "TS_boundary")]
                q_labels += [("CONF", q_conf)] + [(n, subsets[n][1]) for n in ("TS_contained", "TS_boundary")]
            for name, regions in strata.items():
                subsets[name] = (regions.captures(chrom, t_units.region_start, t_units.region_end,
                                                  t_units.pure_insertion),
                                 regions.captures(chrom, q_units.region_start, q_units.region_end,
                                                  q_units.pure_insertion))
                t_labels.append((name, subsets[name][0]))
                q_labels.append((name, subsets[name][1]))
            parts.append(_observations(t_units, q_units, t_decision, q_decision, match, subsets, chrom))
            if output_prefix is not None and config.write_vcf:
                vcf_records[chrom] = contig_records(
                    chrom, t_units, q_units, t_decision, q_decision, match.truth.kind, match.query.kind,
                    match.truth.partner, match.truth.cluster, match.query.cluster, match.cluster_start,
                    _region_labels(len(t_units), t_labels), _region_labels(len(q_units), q_labels))
            stats["truth units"] += len(t_units)
            stats["query units"] += len(q_units)

        observations = Observations.concatenate(parts, subset_names)
        conf_size = float(confident.size()) if confident is not None else float("nan")
        subset_sizes: dict[str, tuple[float, float]] = {"*": (float(non_n_length), conf_size)}
        if confident is not None:
            subset_sizes["TS_contained"] = (conf_size, conf_size)
            subset_sizes["TS_boundary"] = (float("nan"), float("nan"))
        for name, regions in strata.items():
            subset_sizes[name] = (float(regions.size()), float(regions.intersection_size(confident))
                                  if confident is not None else float("nan"))
        extended = extended_table(observations, subset_sizes)
        summary = summary_table(extended)

        failure_frame = pd.DataFrame([f.__dict__ for f in failures],
                                     columns=["path", "role", "chrom", "pos", "ref", "alts", "reason"])
        if failures:
            log.warning("%d record(s) could not be imported and were not counted; see result.import_failures",
                        len(failures))
        skipped = {
            "truth": dict(truth.skipped + skipped_units["truth"]),
            "query": dict(query.skipped + skipped_units["query"] + Counter(
                {"on a contig without truth records": sum(ignored.values())} if ignored else {})),
        }
        outputs: dict[str, Path] = {}
        if output_prefix is not None:
            prefix = str(output_prefix)
            outputs["summary"] = write_csv(summary, prefix + ".summary.csv")
            outputs["extended"] = write_csv(extended, prefix + ".extended.csv")
            if config.write_vcf:
                for chrom, lines in failure_records(failures).items():
                    vcf_records.setdefault(chrom, []).extend(lines)
                filters = {f for c in vcf_records.values() for _, line in c
                           for f in line.split("\t", 7)[6].split(";")}
                outputs["vcf"] = write_comparison_vcf(prefix + ".vcf.gz", genome.lengths, vcf_records, filters,
                                                      subset_names)
    seconds = time.perf_counter() - began
    log.info("benchmark of %s against %s: %d truth and %d query units in %.1f s", query.path, truth.path,
             stats["truth units"], stats["query units"], seconds)
    return BenchmarkResult(summary, extended, failure_frame, skipped, dict(stats), outputs, seconds, observations)
