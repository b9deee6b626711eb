"""What every chapter's words share: the metrics, the baseline, the thresholds behind direction words."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any



TYPES = ("SNP", "INDEL")
RECALL, PRECISION, F1, FRAC_NA = "METRIC.Recall", "METRIC.Precision", "METRIC.F1_Score", "METRIC.Frac_NA"
#: the metrics whose direction the text discusses, with the short names of their glue keys
MOVED_METRICS = {"recall": RECALL, "precision": PRECISION, "f1_score": F1}
BASELINE = "Original"
#: the lowest coverage bucket of the benchmark's strata: where RNA training would have to help
LOWEST_BUCKET = "depth_1-7"

# Thresholds. The text prints metrics with four decimals, so a change is named only where it shows there.
#: a change within +-0.0005 is "unchanged": it rounds to +-0.000x, below the last digit the text prints
UNCHANGED_TOLERANCE = 0.0005
#: "the statistics, not the weights": putting the original statistics back must remove at least three quarters
#: of the largest change (a quarter is left at most); more than that left means the weights moved the calls too
BN_RESTORED_FRACTION = 0.25
#: a frozen-statistics run whose largest recall/precision change is below 0.002 (two calls in a thousand, four
#: times the rounding tolerance) calls "like" the original model; above it the text says "differently from"
FROZEN_LIKE_ORIGINAL = 0.002
#: a seed that lost more than 0.05 of SNP precision (one call in twenty) is named as the run that collapsed;
#: smaller losses are within what the seeds' disagreement already describes
PRECISION_COLLAPSE = 0.05
#: a starting model with tune f1_weighted of at least 0.99 agrees "almost perfectly" with its own
#: pseudo-truth labels: one label in a hundred or fewer is left for a fine-tuned checkpoint to win
SELF_AGREEMENT = 0.99


def metric_key(metric: str) -> str:
    """The glue-name form of a hap.py metric: ``METRIC.F1_Score`` -> ``f1_score``."""
    return metric.split(".")[1].lower()


def change(results: Mapping[str, Any], model: str, kind: str, metric: str, baseline: str = BASELINE):
    """``model``'s ``metric`` minus the baseline model's, for one variant type."""
    return results[model].metric(kind, metric) - results[baseline].metric(kind, metric)


def direction(value: float, tolerance: float = UNCHANGED_TOLERANCE) -> str:
    """"higher", "lower" or "unchanged" (within ``tolerance``)."""
    return "higher" if value > tolerance else "lower" if value < -tolerance else "unchanged"


def seeds_text(models: Sequence[str]) -> str:
    return "one seed" if len(models) == 1 else f"{len(models)} seeds"
