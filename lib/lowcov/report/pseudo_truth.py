"""Chapters 4 and 5's tables: the RNA pseudo-truth, its quality, and the RNA examples' labels."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .common import F1, PRECISION, RECALL, TYPES


# ---- chapters 4 and 5: the RNA pseudo-truth and the RNA examples ---------------------------------------

def pseudo_truth_steps(facts: Mapping[str, Any], min_gq: int, min_depth: int) -> pd.DataFrame:
    """How the RNA calls became the pseudo-truth: candidates, calls, what each filter removed, what is left."""
    kept = facts["filter"]
    return pd.Series({"RNA calling examples (candidates)": facts["rna_examples"], "calls written": kept["records"],
                      "removed: not PASS (RefCall/LowQual)": kept["not_pass"],
                      "removed: reference genotype": kept["ref_genotype"], f"removed: GQ < {min_gq}": kept["low_gq"],
                      f"removed: DP < {min_depth}": kept["low_depth"], "pseudo-truth variants": kept["kept"]},
                     name="records").to_frame()


def pseudo_truth_values(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Glue name -> the RNA contigs, calls, pseudo-truth variants and confident bases."""
    return {"rna_contigs": ", ".join(facts["contigs"]), "pseudo_truth_variants": int(facts["filter"]["kept"]),
            "rna_calls": int(facts["filter"]["records"]), "rna_confident_bases": int(facts["confident_bases"]),
            "rna_min_depth_bases": int(facts["rna_min_depth_bases"])}


def _observed(result: Any, kind: str) -> bool:
    """Whether a benchmark has rows for variant type ``kind`` (a tiny genome's regions may hold none)."""
    return not result.summary[(result.summary["Type"] == kind) & (result.summary["Filter"] == "ALL")].empty


#: hap.py columns that count variants (glued as integers); the others are fractions
COUNT_METRICS = ("TRUTH.TOTAL", "FP.gt", "QUERY.FP")


def pseudo_truth_quality(result: Any) -> dict[str, float | int]:
    """Glue name -> the pseudo-truth against the real truth per type: recall, precision, F1, truth
    variants, genotype errors, false positives and het/hom ratios, e.g. ``pseudo_snp_gt``, ``truth_snp_het_hom``."""
    values: dict[str, float | int] = {}
    for kind in TYPES:
        if not _observed(result, kind):
            # no variant of this type in the RNA confident regions (a tiny genome): nothing counted, no fraction
            values.update({f"pseudo_{kind.lower()}_{m.split('.')[-1].lower()}": 0 if m in COUNT_METRICS else float("nan")
                           for m in (RECALL, PRECISION, F1, *COUNT_METRICS)})
            values[f"pseudo_{kind.lower()}_het_hom"] = values[f"truth_{kind.lower()}_het_hom"] = float("nan")
            continue
        for metric in (RECALL, PRECISION, F1, *COUNT_METRICS):
            value = result.metric(kind, metric)
            values[f"pseudo_{kind.lower()}_{metric.split('.')[-1].lower()}"] = \
                int(value) if metric in COUNT_METRICS else float(value)
        values[f"pseudo_{kind.lower()}_het_hom"] = float(result.metric(kind, "QUERY.TOTAL.het_hom_ratio"))
        values[f"truth_{kind.lower()}_het_hom"] = float(result.metric(kind, "TRUTH.TOTAL.het_hom_ratio"))
    return values


def gq_sweep(kept: Mapping[int, Mapping[str, int]], results: Mapping[int, Any]) -> pd.DataFrame:
    """The pseudo-truth at each GQ threshold: variants kept (``kept``: threshold -> filter counts) and its
    benchmark per type (``results``: threshold -> result)."""
    sweep = [{"min GQ": threshold, "Type": kind, "pseudo-truth variants": kept[threshold]["kept"],
              **{m: results[threshold].metric(kind, m) if _observed(results[threshold], kind) else float("nan")
                 for m in ("TRUTH.TP", "QUERY.FP", "FP.gt", RECALL, PRECISION, F1)}}
             for threshold in kept for kind in TYPES]
    return pd.DataFrame(sweep).set_index(["Type", "min GQ"]).sort_index()


def editing_values(n_sites: int, calls: pd.DataFrame, in_truth: pd.DataFrame) -> dict[str, int]:
    """Glue name -> editing sites, how many the model called non-reference, how many are pseudo-truth labels."""
    return {"editing_sites": int(n_sites), "editing_called": int((calls.GT != "0/0").sum()),
            "editing_in_truth": int(len(in_truth))}


def editing_table(calls: pd.DataFrame, in_truth: pd.DataFrame) -> pd.DataFrame:
    """The model's calls at editing sites, marked where they are pseudo-truth labels."""
    return calls.assign(**{"in pseudo-truth": calls.position.isin(in_truth.position)})


def class_balance_values(balance: pd.DataFrame, dna_counts: Mapping[str, int]) -> dict[str, float | int]:
    """Glue name -> examples per class of the RNA splits, het fractions and het per hom-alt of RNA and DNA."""
    values: dict[str, float | int] = {}
    for split in ("train", "tune"):
        for column in ("examples", "hom_ref", "het", "hom_alt"):
            values[f"rna_{split}_{column}"] = int(balance.loc[split, column])
        values[f"rna_{split}_het_fraction"] = float(balance.loc[split, "het fraction"])
    dna = pd.Series(dna_counts)
    values["dna_het_fraction"] = float(dna["het"] / dna.sum())
    # max(.., 1): a set without hom-alt examples gives the het count rather than a division by zero
    values["rna_train_het_per_homalt"] = float(balance.loc["train", "het"] / max(balance.loc["train", "hom_alt"], 1))
    values["dna_het_per_homalt"] = float(dna["het"] / max(dna["hom_alt"], 1))
    return values


def class_balance_table(balance: pd.DataFrame):
    """:func:`lowcov.study.rna_examples.class_balance` with fractions to 3 places and counts as integers."""
    return balance.style.format({c: "{:.3f}" if c.endswith("fraction") else "{:.0f}" for c in balance.columns})
