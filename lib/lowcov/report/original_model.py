"""Chapter 3's tables and words: the original model beside the classical peer."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .common import BASELINE, F1, RECALL, TYPES
from .evaluation import strata_table


# ---- chapter 3: the original model beside the classical peer --------------------------------------------

def dataset_values(ours: pd.DataFrame, model: str = BASELINE, prefix: str = "original") -> dict[str, float]:
    """Glue name -> ``model``'s F1 and recall per dataset and type, e.g. ``original_full_snp_f1``."""
    values = {}
    for _, row in ours[ours.Model == model].iterrows():
        values[f"{prefix}_{row.Dataset}_{row.Type.lower()}_f1"] = float(row[F1])
        values[f"{prefix}_{row.Dataset}_{row.Type.lower()}_recall"] = float(row[RECALL])
    return values


def peer_comparison(results: Mapping[tuple[str, str], Any], peer: str = "bcftools") -> pd.DataFrame:
    """Every (model, dataset)'s ALL rows, and the peer's PASS rows too (its LowQual calls filtered),
    with a Filter column, in ``results``' order."""
    from ..study.evaluation import metrics_table

    return pd.concat([metrics_table(results, "ALL").assign(Filter="ALL"),
                      metrics_table({k: v for k, v in results.items() if k[0] == peer}, "PASS").assign(Filter="PASS")],
                     ignore_index=True)


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """:func:`peer_comparison` indexed and sorted by type, dataset, model and filter."""
    keys = ["Type", "Dataset", "Model", "Filter"]
    return comparison.sort_values(keys).set_index(keys)


def peer_values(comparison: pd.DataFrame, peer: str = "bcftools") -> dict[str, float]:
    """Glue name -> the peer's PASS F1 per dataset and type, e.g. ``bcftools_full_snp_f1``."""
    rows = comparison[(comparison.Model == peer) & (comparison.Filter == "PASS")]
    return {f"{peer}_{row.Dataset}_{row.Type.lower()}_f1": float(row[F1]) for _, row in rows.iterrows()}


def all_rows_per_dataset(comparison: pd.DataFrame) -> pd.DataFrame:
    """The ALL rows of :func:`peer_comparison`, one bar label per model and dataset ("bcftools / full")."""
    rows = comparison[comparison.Filter == "ALL"]
    return rows.assign(Model=rows.Model + " / " + rows.Dataset)


def versus_peer_values(versus: pd.DataFrame) -> dict[str, str]:
    """Glue name -> :func:`margin_text` per dataset and type, e.g. ``versus_full_snp``."""
    return {f"versus_{dataset}_{kind.lower()}": margin_text(row) for (dataset, kind), row in versus.iterrows()}


def recall_by_dataset_bucket(results: Mapping[tuple[str, str], Any]) -> pd.DataFrame:
    """Truth variants and recall per dataset, type and coverage bucket (rows) and model (columns)."""
    strata = pd.concat([strata_table({model: result}).assign(Dataset=dataset)
                        for (model, dataset), result in results.items()], ignore_index=True)
    return strata.pivot_table(index=["Dataset", "Type", "Subset"], columns="Model", values=["TRUTH.TOTAL", RECALL],
                              observed=True).round(4)


def versus_peer(model: Any, peer: Any, model_filter: str = "ALL") -> pd.DataFrame:
    """Per variant type: the model's F1 and errors beside the peer's better row (ALL or PASS, by F1).

    Errors are what F1 counts against a caller, FN + FP (a genotype error is one of each). ``F1 margin``
    and ``fewer errors`` are positive where the model is ahead.
    """
    def row(result: Any, variant_type: str, filter_name: str) -> pd.Series:
        summary = result.summary
        return summary[(summary["Type"] == variant_type) & (summary["Filter"] == filter_name)].iloc[0]

    rows = []
    for variant_type in TYPES:
        ours = row(model, variant_type, model_filter)
        theirs = max((row(peer, variant_type, f) for f in ("ALL", "PASS")), key=lambda r: r[F1])
        errors = {who: int(r["TRUTH.FN"] + r["QUERY.FP"]) for who, r in (("model", ours), ("peer", theirs))}
        rows.append({"Type": variant_type, "model F1": ours[F1], "model FN": int(ours["TRUTH.FN"]),
                     "model FP": int(ours["QUERY.FP"]), "peer filter": theirs["Filter"],
                     "peer F1": theirs[F1], "peer FN": int(theirs["TRUTH.FN"]),
                     "peer FP": int(theirs["QUERY.FP"]),
                     "F1 margin": ours[F1] - theirs[F1],
                     "fewer errors": errors["peer"] - errors["model"]})
    return pd.DataFrame(rows).set_index("Type")


def margin_text(row: pd.Series, peer_name: str = "bcftools") -> str:
    """One row of :func:`versus_peer` in words, e.g. "ahead of bcftools' PASS calls by 0.0012 in F1
    (5 fewer errors: 2 FN + 3 FP against 9 FN + 1 FP)"."""
    margin, fewer = float(row["F1 margin"]), int(row["fewer errors"])
    side = "ahead of" if margin > 0 else "behind" if margin < 0 else "level with"
    count = f"{abs(fewer)} {'fewer' if fewer >= 0 else 'more'} error{'' if abs(fewer) == 1 else 's'}"
    return (f"{side} {peer_name}' {row['peer filter']} calls by {abs(margin):.4f} in F1 ({count}: "
            f"{row['model FN']} FN + {row['model FP']} FP against {row['peer FN']} FN + {row['peer FP']} FP)")
