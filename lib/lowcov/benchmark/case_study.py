"""The case study's published hap.py numbers, as data, and side-by-side comparisons with ours.

Tables (``/work/shared/seed/case-study.md``): "Quick Tests" on chr1 with the original model at
full coverage (``quick_test_original``) and on 50 % downsampled reads
(``quick_test_downsampled``), then the fine-tuned models on the downsampled reads ("Results after
V1": ``v1``, "Results from V2": ``v2``). The ALL and PASS rows are identical in every table (the
case study's DeepVariant output had no filtered calls in confident regions), so only ALL is stored
and PASS is derived. Values are as printed there (6 significant decimals at most; ``NaN`` kept).
"""
from __future__ import annotations

import math

import pandas as pd

from .engine import CASE_STUDY_COLUMNS, BenchmarkResult

NAN = math.nan

_COUNT_COLUMNS = ["TRUTH.TOTAL", "TRUTH.TP", "TRUTH.FN", "QUERY.TOTAL", "QUERY.FP", "QUERY.UNK", "FP.gt"]
_VALUE_COLUMNS = ["METRIC.Recall", "METRIC.Precision", "METRIC.Frac_NA", "METRIC.F1_Score",
                  "TRUTH.TOTAL.TiTv_ratio", "QUERY.TOTAL.TiTv_ratio", "TRUTH.TOTAL.het_hom_ratio",
                  "QUERY.TOTAL.het_hom_ratio"]

#: table name -> {Type: (counts..., metrics...)} for the ALL row, in CASE_STUDY_COLUMNS order
PUBLISHED: dict[str, dict[str, tuple]] = {
    "quick_test_original": {
        "INDEL": (38202, 36742, 1460, 79490, 3194, 37719, 1233,
                  0.961782, 0.923535, 0.474513, 0.942271, NAN, NAN, 1.309084, 2.461615),
        "SNP": (247102, 246841, 261, 285311, 296, 38047, 58,
                0.998944, 0.998803, 0.133353, 0.998873, 2.191042, 2.106741, 1.390929, 1.364694),
    },
    "quick_test_downsampled": {
        "INDEL": (38202, 27934, 10268, 60215, 7154, 24552, 3934,
                  0.731218, 0.7994, 0.407739, 0.763791, NAN, NAN, 1.30908, 1.84383),
        "SNP": (247102, 223103, 23999, 264348, 4313, 36859, 3689,
                0.902878, 0.981041, 0.139434, 0.940338, 2.19104, 2.11538, 1.39093, 1.19887),
    },
    "v1": {
        "INDEL": (38202, 22350, 15852, 39629, 3419, 13485, 3147,
                  0.585048, 0.869224, 0.340281, 0.699371, NAN, NAN, 1.30908, 1.03282),
        "SNP": (247102, 215037, 32065, 250690, 5260, 30352, 4308,
                0.870236, 0.976128, 0.121074, 0.920145, 2.19104, 2.11049, 1.39093, 1.17069),
    },
    "v2": {
        "INDEL": (38202, 23750, 14452, 42300, 3050, 15069, 2852,
                  0.621695, 0.887995, 0.356241, 0.731358, NAN, NAN, 1.30908, 0.892249),
        "SNP": (247102, 215764, 31338, 253949, 4603, 33529, 4045,
                0.873178, 0.979117, 0.13203, 0.923118, 2.19104, 2.11985, 1.39093, 1.15887),
    },
}

TABLE_TITLES = {
    "quick_test_original": "Quick Tests: original model, chr1, full coverage",
    "quick_test_downsampled": "Quick Tests: original model, chr1, 50% downsampled",
    "v1": "Results after V1 (fine-tuned, downsampled)",
    "v2": "Results from V2 (fine-tuned, downsampled)",
}

#: the case study's key-metrics tables: (section, model, Type) -> the table its numbers come from
KEY_METRIC_SOURCES = {
    ("Quick Tests", "Original", "INDEL"): "quick_test_original",
    ("Quick Tests", "Downsampled", "INDEL"): "quick_test_downsampled",
    ("Performance Comparison", "Original", "INDEL"): "quick_test_downsampled",
    ("Performance Comparison", "V1 Fine-Tuned", "INDEL"): "v1",
    ("Performance Comparison", "V2 Fine-Tuned", "INDEL"): "v2",
    ("Performance Comparison", "Original", "SNP"): "quick_test_downsampled",
    ("Performance Comparison", "V1 Fine-Tuned", "SNP"): "v1",
    ("Performance Comparison", "V2 Fine-Tuned", "SNP"): "v2",
}
KEY_METRICS = ["METRIC.Recall", "METRIC.Precision", "METRIC.Frac_NA", "METRIC.F1_Score"]


def published_table(name: str) -> pd.DataFrame:
    """One of the case study's tables in its layout (INDEL ALL, INDEL PASS, SNP ALL, SNP PASS)."""
    if name not in PUBLISHED:
        raise KeyError(f"unknown case-study table {name!r}; choose one of {', '.join(PUBLISHED)}")
    rows = []
    for variant_type in ("INDEL", "SNP"):
        values = PUBLISHED[name][variant_type]
        for filter_name in ("ALL", "PASS"):
            rows.append(dict(zip(CASE_STUDY_COLUMNS, (variant_type, filter_name) + values)))
    frame = pd.DataFrame(rows, columns=CASE_STUDY_COLUMNS)
    frame[_COUNT_COLUMNS] = frame[_COUNT_COLUMNS].astype("int64")
    return frame


def _ours(result: BenchmarkResult | pd.DataFrame) -> pd.DataFrame:
    summary = result.summary if isinstance(result, BenchmarkResult) else result
    return summary.reindex(columns=CASE_STUDY_COLUMNS)


def side_by_side(name: str, result: BenchmarkResult | pd.DataFrame | None) -> pd.DataFrame:
    """Rows ``case study`` and ``lowcov`` for each Type/Filter of table ``name``.

    ``result`` may be None (not computed yet): the lowcov rows are then empty.
    """
    published = published_table(name).assign(Source="case study")
    if result is None:
        ours = published[["Type", "Filter"]].assign(Source="lowcov")
    else:
        ours = _ours(result).assign(Source="lowcov")
    frame = pd.concat([published, ours], ignore_index=True)
    frame[_COUNT_COLUMNS] = frame[_COUNT_COLUMNS].astype("Int64")  # integers, <NA> where not computed
    frame["Source"] = pd.Categorical(frame["Source"], ["case study", "lowcov"])
    frame = frame.sort_values(["Type", "Filter", "Source"], kind="stable").reset_index(drop=True)
    return frame[["Type", "Filter", "Source"] + CASE_STUDY_COLUMNS[2:]]


def key_metrics(results: dict[str, BenchmarkResult | pd.DataFrame | None] | None = None,
                section: str = "Performance Comparison", filter_name: str = "ALL") -> pd.DataFrame:
    """Recall, precision, Frac_NA and F1 per model and Type: the case study's values and ours.

    ``results`` maps a table name (``quick_test_original``, ``quick_test_downsampled``, ``v1``,
    ``v2``) to our result for the same experiment; missing ones give empty lowcov rows.
    """
    results = results or {}
    rows = []
    for (sec, model, variant_type), table in KEY_METRIC_SOURCES.items():
        if sec != section:
            continue
        published = dict(zip(CASE_STUDY_COLUMNS[2:], PUBLISHED[table][variant_type]))
        rows.append({"Model": model, "Type": variant_type, "Source": "case study",
                     **{m: published[m] for m in KEY_METRICS}})
        ours = results.get(table)
        values = {m: math.nan for m in KEY_METRICS}
        if ours is not None:
            summary = _ours(ours)
            match = summary[(summary["Type"] == variant_type) & (summary["Filter"] == filter_name)]
            if not match.empty:
                values = {m: float(match.iloc[0][m]) for m in KEY_METRICS}
        rows.append({"Model": model, "Type": variant_type, "Source": "lowcov", **values})
    frame = pd.DataFrame(rows, columns=["Model", "Type", "Source"] + KEY_METRICS)
    return frame.sort_values(["Type"], kind="stable").reset_index(drop=True)
