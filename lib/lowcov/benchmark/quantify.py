"""From per-unit decisions to hap.py's tables (spec sections 1, 2 and 4).

Counting unit: one comparison unit (one output record) per side. Truth observations are TP/FN
units of type SNP or INDEL; query observations TP/FP/UNK units. The PASS row is derived from the
same matching by relabelling (truth TP whose supporting query call fails filters -> FN; failing
query calls dropped); TRUTH.TOTAL is therefore equal in ALL and PASS.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .annotate import SUBTYPE_BIT, SUBTYPES
from .match import FN, FP, KIND_AM, KIND_LM, TP, UNK

SUMMARY_COLUMNS = [
    "Type", "Filter", "TRUTH.TOTAL", "TRUTH.TP", "TRUTH.FN", "QUERY.TOTAL", "QUERY.FP", "QUERY.UNK", "FP.gt",
    "FP.al", "METRIC.Recall", "METRIC.Precision", "METRIC.Frac_NA", "METRIC.F1_Score", "TRUTH.TOTAL.TiTv_ratio",
    "QUERY.TOTAL.TiTv_ratio", "TRUTH.TOTAL.het_hom_ratio", "QUERY.TOTAL.het_hom_ratio",
]
COUNT_GROUPS = ["TRUTH.TOTAL", "TRUTH.TP", "TRUTH.FN", "QUERY.TOTAL", "QUERY.TP", "QUERY.FP", "QUERY.UNK"]
EXTENDED_KEYS = ["Type", "Subtype", "Subset", "Filter", "Genotype", "QQ.Field", "QQ"]
EXTENDED_COLUMNS = EXTENDED_KEYS + [
    "METRIC.Recall", "METRIC.Precision", "METRIC.Frac_NA", "METRIC.F1_Score", "FP.gt", "FP.al",
    "Subset.Size", "Subset.IS_CONF.Size", "Subset.Level",
] + [f"{g}{suffix}" for g in COUNT_GROUPS
     for suffix in ("", ".ti", ".tv", ".het", ".homalt", ".TiTv_ratio", ".het_hom_ratio")]

#: hap.py prints metrics with C's %f: six decimals
METRIC_DECIMALS = 6

# observation categories per row view
TRUTH_TP, TRUTH_FN, QUERY_TP, QUERY_FP, _Q_UNK, _NONE = range(6)


@dataclass
class Observations:
    """One entry per unit and side (truth units first), as arrays."""

    is_truth: np.ndarray
    is_indel: np.ndarray
    decision: np.ndarray  # TP/FN/FP/UNK codes after region relabelling
    kind: np.ndarray
    passes: np.ndarray  # for truth: whether the query call(s) that made it TP pass filters
    ti: np.ndarray
    tv: np.ndarray
    het: np.ndarray
    homalt: np.ndarray
    subtypes: np.ndarray
    subsets: dict[str, np.ndarray]  # subset name -> membership (without '*')
    #: where each unit is (contig and 0-based start), for resampling by genomic block
    contig: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    start: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def concatenate(cls, parts: list["Observations"], subset_names: list[str]) -> "Observations":
        def cat(name: str, dtype) -> np.ndarray:
            arrays = [getattr(p, name) for p in parts]
            return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype=dtype)

        subsets = {s: (np.concatenate([p.subsets[s] for p in parts]) if parts else np.zeros(0, dtype=bool))
                   for s in subset_names}
        return cls(cat("is_truth", bool), cat("is_indel", bool), cat("decision", np.int8), cat("kind", np.int8),
                   cat("passes", bool), cat("ti", bool), cat("tv", bool), cat("het", bool), cat("homalt", bool),
                   cat("subtypes", np.int64), subsets, cat("contig", object), cat("start", np.int64))

    def categories(self, pass_view: bool) -> np.ndarray:
        d = self.decision
        cat = np.full(len(d), _NONE, dtype=np.int8)
        t, q = self.is_truth, ~self.is_truth
        if not pass_view:
            cat[t & (d == TP)] = TRUTH_TP
            cat[t & (d == FN)] = TRUTH_FN
            cat[q & (d == TP)] = QUERY_TP
            cat[q & (d == FP)] = QUERY_FP
            cat[q & (d == UNK)] = _Q_UNK
        else:
            cat[t & (d == TP) & self.passes] = TRUTH_TP
            cat[t & ((d == FN) | ((d == TP) & ~self.passes))] = TRUTH_FN
            cat[q & (d == TP) & self.passes] = QUERY_TP
            cat[q & (d == FP) & self.passes] = QUERY_FP
            cat[q & (d == UNK) & self.passes] = _Q_UNK
        return cat


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def metrics(truth_tp: int, truth_total: int, query_tp: int, query_fp: int, query_unk: int) -> dict[str, float]:
    """Recall, precision, Frac_NA and F1 with hap.py's conventions for empty denominators."""
    query_total = query_tp + query_fp + query_unk
    recall = truth_tp / truth_total if truth_total else 0.0
    if query_total == 0:
        precision = 0.0
    elif query_tp + query_fp == 0:
        precision = math.nan
    else:
        precision = query_tp / (query_tp + query_fp)
    frac_na = query_unk / query_total if query_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else math.nan
    return {
        "METRIC.Recall": round(recall, METRIC_DECIMALS),
        "METRIC.Precision": round(precision, METRIC_DECIMALS) if not math.isnan(precision) else math.nan,
        "METRIC.Frac_NA": round(frac_na, METRIC_DECIMALS),
        "METRIC.F1_Score": round(f1, METRIC_DECIMALS) if not math.isnan(f1) else math.nan,
    }


def _tally(cat: np.ndarray, obs: Observations, mask: np.ndarray) -> dict[str, float]:
    c = cat[mask]
    counts = {name: np.bincount(c, weights=getattr(obs, name)[mask].astype(np.float64), minlength=6)
              for name in ("ti", "tv", "het", "homalt")}
    counts["n"] = np.bincount(c, minlength=6).astype(np.float64)
    fp = c == QUERY_FP
    kind = obs.kind[mask]
    groups = {
        "TRUTH.TP": [TRUTH_TP], "TRUTH.FN": [TRUTH_FN], "TRUTH.TOTAL": [TRUTH_TP, TRUTH_FN],
        "QUERY.TP": [QUERY_TP], "QUERY.FP": [QUERY_FP], "QUERY.UNK": [_Q_UNK], "QUERY.TOTAL": [QUERY_TP, QUERY_FP, _Q_UNK],
    }
    row: dict[str, float] = {}
    for group, cats in groups.items():
        for name, suffix in (("n", ""), ("ti", ".ti"), ("tv", ".tv"), ("het", ".het"), ("homalt", ".homalt")):
            row[group + suffix] = int(sum(counts[name][k] for k in cats))
    row["FP.gt"] = int(np.count_nonzero(fp & (kind == KIND_AM)))
    row["FP.al"] = int(np.count_nonzero(fp & (kind == KIND_LM)))
    return row


def _row_values(row: dict[str, float], variant_type: str) -> dict[str, float]:
    out = dict(row)
    out.update(metrics(row["TRUTH.TP"], row["TRUTH.TOTAL"], row["QUERY.TP"], row["QUERY.FP"], row["QUERY.UNK"]))
    for group in COUNT_GROUPS:
        out[f"{group}.TiTv_ratio"] = (_ratio(row[f"{group}.ti"], row[f"{group}.tv"])
                                      if variant_type == "SNP" else math.nan)
        out[f"{group}.het_hom_ratio"] = _ratio(row[f"{group}.het"], row[f"{group}.homalt"])
    return out


def extended_table(obs: Observations, subset_sizes: dict[str, tuple[float, float]],
                   qq_field: str = "QUAL") -> pd.DataFrame:
    """One row per Type x Subtype x Subset x Filter for the types that have observations.

    ``subset_sizes`` maps each subset name (including '*') to (Subset.Size, Subset.IS_CONF.Size),
    in output order.
    """
    categories = {"ALL": obs.categories(False), "PASS": obs.categories(True)}
    counted = categories["ALL"] != _NONE
    rows = []
    types = [t for t, flag in (("INDEL", True), ("SNP", False)) if np.any(counted & (obs.is_indel == flag))]
    if not types:
        types = ["INDEL", "SNP"]
    for variant_type in types:
        type_mask = obs.is_indel == (variant_type == "INDEL")
        subtypes = ["*"] + (list(SUBTYPES) if variant_type == "INDEL" else [])
        for subtype in subtypes:
            sub_mask = type_mask if subtype == "*" else type_mask & ((obs.subtypes & SUBTYPE_BIT[subtype]) != 0)
            for subset, (size, conf_size) in subset_sizes.items():
                mask = sub_mask if subset == "*" else sub_mask & obs.subsets[subset]
                for filter_name, cat in categories.items():
                    values = _row_values(_tally(cat, obs, mask), variant_type)
                    rows.append({"Type": variant_type, "Subtype": subtype, "Subset": subset, "Filter": filter_name,
                                 "Genotype": "*", "QQ.Field": qq_field, "QQ": "*", "Subset.Size": size,
                                 "Subset.IS_CONF.Size": conf_size, "Subset.Level": 0 if subset == "*" else 1,
                                 **values})
    frame = pd.DataFrame(rows, columns=EXTENDED_COLUMNS)
    return frame


def summary_table(extended: pd.DataFrame) -> pd.DataFrame:
    """hap.py's summary.csv: the Subtype=*, Subset=* rows, INDEL before SNP, ALL before PASS."""
    rows = extended[(extended["Subtype"] == "*") & (extended["Subset"] == "*")]
    rows = rows.sort_values(["Type", "Filter"], kind="stable")
    return rows[SUMMARY_COLUMNS].reset_index(drop=True)
