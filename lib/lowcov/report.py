"""The book's words and tables: each sentence that depends on which way a number went, and each table a chapter shows, built from plain results.

Chapters call these functions and glue what they return, so every branch of the prose is tested here
(``tests/test_report.py``) instead of being typed in a notebook. Results are anything with hap.py's
``summary`` and ``metric(type, name)`` (a :class:`lowcov.benchmark.BenchmarkResult`); tables are
pandas DataFrames.
"""
from __future__ import annotations

import ast
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

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
#: "lost precision on both types" for the controls that raised recall at thin sites: a loss beyond 0.005
#: (ten times the rounding tolerance) so that the extra false calls are more than rounding
COSTLY_PRECISION_LOSS = 0.005
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


# ---- chapter 7: the models on the downsampled chr1 -------------------------------------------------------

#: the model directory names (and glue prefixes) of chapter 7's models; control runs add their own
MODEL_SLUGS = {"Original": "original", "V1": "v1", "V2": "v2", "V1 (last)": "v1_last", "V2 (last)": "v2_last",
               "V1 (last, original BN)": "v1_last_original_bn", "V2 (last, original BN)": "v2_last_original_bn",
               "bcftools": "bcftools"}
#: the case study's models (the selected checkpoints) and the end-of-run weights, beside the classical peer
CASE_STUDY_MODELS = ["Original", "V1", "V2", "V1 (last)", "V2 (last)", "bcftools"]
#: the fine-tuned models the direction sentences discuss, and the end-of-run ones among them
FINE_TUNED = ("V1", "V2", "V1 (last)", "V2 (last)")
LAST_RUNS = ("V1 (last)", "V2 (last)")


def model_slugs(control_slugs: Mapping[str, str]) -> dict[str, str]:
    """Model name -> directory name / glue prefix, for chapter 7's models and the control runs."""
    return {**MODEL_SLUGS, **control_slugs}


def mechanism_models(control_names: Iterable[str]) -> list[str]:
    """The models of the batch-norm section: the end-of-run weights with and without the original
    statistics, and every control run."""
    return ["Original", "V1 (last)", "V1 (last, original BN)", "V2 (last)", "V2 (last, original BN)", *control_names]


def metric_values(ours: pd.DataFrame, slugs: Mapping[str, str]) -> dict[str, float]:
    """Glue name -> value of every model's recall, precision, F1 and Frac_NA, e.g. ``v1_snp_f1_score``."""
    values = {}
    for _, row in ours.iterrows():
        for metric in (RECALL, PRECISION, F1, FRAC_NA):
            values[f"{slugs[row.Model]}_{row.Type.lower()}_{metric_key(metric)}"] = float(row[metric])
    return values


def selected_is_original_text(results: Mapping[str, Any], versions: Sequence[str] = ("V1", "V2")) -> str:
    """Whether each run's selected checkpoint scores exactly as the original model (it selected step 0)."""
    same = {version: results[version].summary.equals(results[BASELINE].summary) for version in versions}
    if all(same.values()):
        return ("The calls of both selected checkpoints score exactly as the original model's: both runs selected the "
                "starting model (chapter 6).")
    return " ".join(f"{v}'s selected checkpoint scores {'exactly as' if same[v] else 'differently from'} the original "
                    "model." for v in same)


def of_type(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The case study's key-metrics table for one variant type, one row per model and source."""
    return table[table.Type == kind].drop(columns="Type").set_index(["Model", "Source"])


def model_rows(ours: pd.DataFrame, models: Sequence[str], rename: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The rows of :func:`lowcov.study.evaluation.metrics_table` for ``models``; ``rename`` gives several
    runs one name (the seeds of a control, drawn as one bar)."""
    rows = ours[ours.Model.isin(models)]
    return rows.assign(Model=rows.Model.replace(rename)) if rename else rows


#: what the chapters' text reads from a hap.py table (the full table is one click away)
DISCUSSED_COLUMNS = ["TRUTH.TOTAL", "TRUTH.FN", "QUERY.FP", RECALL, PRECISION, F1]


def metrics_by_model(ours: pd.DataFrame, models: Sequence[str],
                     columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``models``' rows by type and model, metrics to 4 places (as the text prints them); ``columns`` picks
    the ones the text discusses, named without hap.py's ``METRIC.`` prefix (all, with it, by default)."""
    table = model_rows(ours, models).set_index(["Type", "Model"]).drop(columns="Dataset").sort_index().round(4)
    return short_names(table[list(columns)]) if columns else table


def short_names(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with hap.py's ``METRIC.`` prefix dropped from its column names, so it fits the text column."""
    return table.rename(columns=lambda name: name.removeprefix("METRIC."))


def discussed(table: pd.DataFrame, keys: Sequence[str] = ("Type", "Filter", "Source")) -> pd.DataFrame:
    """A table in hap.py's layout (e.g. :func:`lowcov.benchmark.case_study.side_by_side`) cut to the
    :data:`DISCUSSED_COLUMNS`, indexed by ``keys``, metrics to 4 places and named without hap.py's
    ``METRIC.`` prefix, so it fits the text column (the full table keeps hap.py's names)."""
    return short_names(table.set_index(list(keys))[DISCUSSED_COLUMNS].round(4))


def strata_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per model, type and coverage bucket: truth variants, true positives, recall and precision."""
    from .study.evaluation import STRATA

    strata = []
    for name, result in results.items():
        ext = result.extended
        rows = ext[(ext.Subtype == "*") & (ext.Filter == "ALL") & ext.Subset.isin(list(STRATA))]
        strata.append(rows[["Type", "Subset", "TRUTH.TOTAL", "TRUTH.TP", RECALL, PRECISION]].assign(Model=name))
    strata = pd.concat(strata, ignore_index=True)
    strata["Subset"] = pd.Categorical(strata.Subset, list(STRATA))
    return strata


def strata_values(strata: pd.DataFrame, slugs: Mapping[str, str]) -> dict[str, float]:
    """Glue name -> recall per model, type and bucket, e.g. ``v1_snp_recall_depth_1_7``; and the truth
    variants in the lowest bucket (``snp_truth_depth_1_7``, 0 where the bucket has none)."""
    values: dict[str, Any] = {}
    for _, row in strata.iterrows():
        values[f"{slugs[row.Model]}_{row.Type.lower()}_recall_{row.Subset.replace('-', '_')}"] = \
            float(row[RECALL])
    return values


def lowest_bucket_truth(strata: pd.DataFrame) -> dict[str, int]:
    """Glue name -> truth variants of each type in the lowest bucket, 0 where the bucket has none."""
    values = {}
    for kind in TYPES:
        low = strata[(strata.Type == kind) & (strata.Subset == LOWEST_BUCKET)]
        values[f"{kind.lower()}_truth_depth_1_7"] = int(low["TRUTH.TOTAL"].iloc[0]) if len(low) else 0
    return values


def recall_by_bucket(strata: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Recall per type and bucket (rows) and model (columns), with the bucket's truth variants."""
    return (strata[strata.Model.isin(models)]
            .pivot_table(index=["Type", "Subset"], columns="Model", values=RECALL, observed=True).round(4)
            .join(strata.groupby(["Type", "Subset"], observed=True)["TRUTH.TOTAL"].first()))


def lowest_bucket_recall(strata: pd.DataFrame) -> pd.Series:
    """Recall in the lowest bucket, indexed by (model, type)."""
    return strata[strata.Subset == LOWEST_BUCKET].set_index(["Model", "Type"])[RECALL]


def change_values(results: Mapping[str, Any], models: Sequence[str] = FINE_TUNED) -> dict[str, Any]:
    """Glue name -> change against the original model and its direction, per model, type and metric,
    e.g. ``v1_last_indel_recall_change`` and ``v1_last_indel_recall_direction``."""
    values: dict[str, Any] = {}
    for model in models:
        for kind in TYPES:
            for short, metric in MOVED_METRICS.items():
                moved = change(results, model, kind, metric)
                values[f"{MODEL_SLUGS[model]}_{kind.lower()}_{short}_change"] = float(moved)
                values[f"{MODEL_SLUGS[model]}_{kind.lower()}_{short}_direction"] = direction(moved)
    return values


def published_changes(published: Mapping[str, pd.DataFrame], versions: Sequence[str] = ("v1", "v2"),
                      before: str = "quick_test_downsampled") -> dict[tuple[str, str, str], float]:
    """(version, type, metric) -> the change the case study's tables show from ``before`` to ``version``."""
    changes = {}
    for version in versions:
        for kind in TYPES:
            for metric in MOVED_METRICS.values():
                start = published[before].query("Type == @kind and Filter == 'ALL'")[metric].iloc[0]
                after = published[version].query("Type == @kind and Filter == 'ALL'")[metric].iloc[0]
                changes[version, kind, metric] = float(after - start)
    return changes


def published_change_values(changes: Mapping[tuple[str, str, str], float]) -> dict[str, float]:
    """Glue name -> the case study's change, e.g. ``cs_v1_indel_recall_change``."""
    return {f"cs_{version}_{kind.lower()}_{metric_key(metric)}_change": value
            for (version, kind, metric), value in changes.items()}


def agreement_text(label: str, ours: Mapping[tuple[str, str], float], theirs: Mapping[tuple[str, str], float]) -> str:
    """Which of recall/precision/F1 (SNP and INDEL) moved the way the case study's did.

    ``ours`` and ``theirs`` map (type, metric) to the change against the starting model."""
    same, other = [], []
    for kind in TYPES:
        for metric in MOVED_METRICS.values():
            name = f"{kind} {metric.split('.')[1].replace('_Score', '')}"
            mine = direction(ours[kind, metric])
            (same if mine == direction(theirs[kind, metric]) else other).append(f"{name} {mine}")
    if all(text.endswith("unchanged") for text in same + other):
        return f"{label} is unchanged on every metric, where the case study's moved."
    return (f"{label} moved like the case study's for {', '.join(same) or 'no metric'}"
            f"{'; differently for ' + ', '.join(other) if other else ''}.")


def changes_of(results: Mapping[str, Any], model: str) -> dict[tuple[str, str], float]:
    """(type, metric) -> ``model``'s change against the original model, for the metrics the text discusses."""
    return {(kind, metric): change(results, model, kind, metric) for kind in TYPES for metric in MOVED_METRICS.values()}


def verdict_text(results: Mapping[str, Any], models: Sequence[str] = FINE_TUNED) -> str:
    """Whether any fine-tuned model beats the original on both SNP and INDEL F1, and which are worse on one."""
    def f1(model: str, kind: str):
        return results[model].metric(kind, F1)

    worse = [m for m in models if f1(m, "SNP") < f1(BASELINE, "SNP") - UNCHANGED_TOLERANCE
             or f1(m, "INDEL") < f1(BASELINE, "INDEL") - UNCHANGED_TOLERANCE]
    better = [m for m in models if f1(m, "SNP") > f1(BASELINE, "SNP") + UNCHANGED_TOLERANCE
              and f1(m, "INDEL") > f1(BASELINE, "INDEL") + UNCHANGED_TOLERANCE]
    if better:
        return "Fine-tuning on RNA made both SNP and INDEL F1 better for " + ", ".join(better) + "."
    return ("No fine-tuned model is better than the original on both SNP and INDEL F1"
            + (f"; {', '.join(worse)} are worse on at least one." if worse else "."))


def direction_text(results: Mapping[str, Any], published: Mapping[tuple[str, str, str], float]) -> str:
    """Each fine-tuned model against the case study's direction of change, then the verdict."""
    def theirs(version: str) -> dict[tuple[str, str], float]:
        return {(kind, metric): value for (v, kind, metric), value in published.items() if v == version}

    return " ".join([agreement_text("the selected V1", changes_of(results, "V1"), theirs("v1")),
                     agreement_text("The selected V2", changes_of(results, "V2"), theirs("v2")),
                     agreement_text("V1 at the end of its run", changes_of(results, "V1 (last)"), theirs("v1")),
                     agreement_text("V2 at the end of its run", changes_of(results, "V2 (last)"), theirs("v2")),
                     verdict_text(results)])


def recall_lost(results: Mapping[str, Any], models: Sequence[str] = LAST_RUNS) -> dict[str, bool]:
    """Per type: whether recall fell (beyond rounding) for every one of ``models``."""
    return {kind: all(change(results, m, kind, RECALL) < -UNCHANGED_TOLERANCE for m in models) for kind in TYPES}


def last_recall_text(results: Mapping[str, Any], models: Sequence[str] = LAST_RUNS) -> str:
    """Whether recall fell at the end of both runs, as in the case study, and for which types."""
    lost = recall_lost(results, models)
    if lost["SNP"] and lost["INDEL"]:
        indels_most = all(change(results, m, "INDEL", RECALL) < change(results, m, "SNP", RECALL) for m in models)
        return ("As in the case study, fine-tuning on RNA labels made the caller miss more DNA variants at the end "
                f"of both runs{', indels most' if indels_most else ''}.")
    if lost["SNP"] or lost["INDEL"]:
        kept = "INDEL" if lost["SNP"] else "SNP"
        return (f"The case study saw recall fall for both types; here it fell at the end of both runs only for "
                f"{'SNPs' if lost['SNP'] else 'indels'}, not for {kept}s.")
    return "Unlike the case study, recall did not fall for both types at the end of both runs."


def indel_precision_text(results: Mapping[str, Any], models: Sequence[str] = LAST_RUNS) -> str:
    """Whether INDEL precision rose at the end of every run, as in the case study."""
    moves = {m: change(results, m, "INDEL", PRECISION) for m in models}
    if all(d > UNCHANGED_TOLERANCE for d in moves.values()):
        return "INDEL precision rose at the end of both runs, as in the case study."
    return ("Where the two disagree is INDEL precision: the case study's rose with fine-tuning, while at the end "
            "of our runs " + " and ".join(f"it is {direction(d)} ({m})" for m, d in moves.items()) + ".")


def few_steps_text(results: Mapping[str, Any], models: Sequence[str] = LAST_RUNS) -> str:
    """What a recall drop after a handful of small steps says (or that the demo cannot tell)."""
    if any(recall_lost(results, models).values()):
        return ("A handful of small steps is enough to lower recall on DNA, which points at what the network is "
                "shown rather than at training too long (the section on batch-norm statistics below separates the "
                "two things those steps changed).")
    return "With so few and such small steps the weights barely move, so the demo cannot test that reading."


def bucket_change(strata: pd.DataFrame, model: str, kind: str, subset: str = LOWEST_BUCKET) -> float:
    """``model``'s recall minus the original model's in one coverage bucket."""
    pick = strata[(strata.Type == kind) & (strata.Subset == subset)].set_index("Model")[RECALL]
    return float(pick[model] - pick[BASELINE])


def thin_sites_text(strata: pd.DataFrame, models: Sequence[str] = FINE_TUNED) -> str:
    """Whether any fine-tuned model raised recall in the lowest coverage bucket."""
    rescued = [f"{m} ({kind})" for m in models for kind in TYPES if bucket_change(strata, m, kind) > UNCHANGED_TOLERANCE]
    if not rescued:
        return ("No fine-tuned model raised recall there, where the hypothesis expected RNA to help most. At a site "
                "with one or two alternate reads the information a caller needs is missing from the DNA, and "
                "training on other reads cannot add it back.")
    return ("Recall there rose for " + ", ".join(rescued) + "; with a few dozen variants in the bucket that is a "
            "handful of calls, and it has to be read beside the same models' losses elsewhere.")


def mechanism_table(results: Mapping[str, Any], strata: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Per model: SNP and INDEL recall, precision, F1 and recall in the lowest bucket (rounded to 4 places)."""
    lowest = lowest_bucket_recall(strata)
    rows = {}
    for model in models:
        row = {}
        for kind in TYPES:
            for short, metric in (("recall", RECALL), ("precision", PRECISION), ("F1", F1)):
                row[f"{kind} {short}"] = results[model].metric(kind, metric)
            row[f"{kind} recall, depth 1-7"] = float(lowest.get((model, kind), float("nan")))
        rows[model] = row
    return pd.DataFrame(rows).T.round(4)


def largest_change(results: Mapping[str, Any], model: str, metrics: Sequence[str] = (RECALL, PRECISION)):
    """The largest change against the original model in SNP/INDEL recall or precision."""
    return max(abs(change(results, model, kind, metric)) for kind in TYPES for metric in metrics)


def bn_restored_text(own: Mapping[str, float], restored: Mapping[str, float]) -> str:
    """Whether V1's and V2's end-of-run weights call like the original once its statistics are put back.

    ``own`` and ``restored`` map "V1"/"V2" to :func:`largest_change` with the run's own and with the
    original statistics."""
    if all(restored[v] <= BN_RESTORED_FRACTION * own[v] for v in own):
        return ("With the original model's batch-norm statistics put back, the end-of-run weights of V1 and V2 call "
                f"chr1 almost as the original model does: the largest change in SNP or INDEL recall or precision is "
                f"{restored['V1']:.4f} (V1) and {restored['V2']:.4f} (V2), against {own['V1']:.4f} and "
                f"{own['V2']:.4f} with their own statistics. What changed the DNA calls is the statistics batch norm "
                "gathered from RNA pileups, not what the weights learnt.")
    return ("With the original model's batch-norm statistics put back, the end-of-run weights still differ from the "
            f"original model by up to {restored['V1']:.4f} (V1) and {restored['V2']:.4f} (V2) in recall or "
            f"precision, against {own['V1']:.4f} and {own['V2']:.4f} with their own statistics: the weights changed "
            "the calls too, not only the statistics.")


def frozen_text(results: Mapping[str, Any], control_names: Iterable[str], frozen: str = "V2, frozen BN") -> str:
    """Whether the V2 run with frozen batch-norm statistics calls like the original model."""
    if frozen not in control_names:
        return "V2 was not run with frozen statistics on this profile."
    largest = largest_change(results, frozen)
    return (f"V2 run with frozen statistics calls chr1 {'like' if largest < FROZEN_LIKE_ORIGINAL else 'differently from'} "
            f"the original model (largest change in recall or precision {largest:.4f}).")


def hom_ref_fraction(class_counts: Mapping[str, int]) -> float:
    """The fraction of an example set's labels that are hom-ref."""
    return class_counts["hom_ref"] / sum(class_counts.values())


def seeds_of(control: str, control_names: Iterable[str]) -> list[str]:
    """The runs of one control: its name alone (one seed) or "<name> (seed N)"."""
    return [m for m in control_names if m == control or m.startswith(f"{control} (seed")]


def _span(results: Mapping[str, Any], models: Sequence[str], kind: str, metric: str) -> str:
    values = [change(results, m, kind, metric) for m in models]
    return f"{values[0]:+.4f}" if len(values) == 1 else f"{min(values):+.4f} to {max(values):+.4f}"


def _moves(results: Mapping[str, Any], models: Sequence[str]) -> str:
    return ", ".join(f"{kind} {short} {_span(results, models, kind, metric)}" for kind in TYPES
                     for short, metric in (("recall", RECALL), ("precision", PRECISION), ("F1", F1)))


def learning_text(results: Mapping[str, Any], control_names: Sequence[str], rna_hom_ref: float, dna_hom_ref: float,
                  n_rna_train: int) -> str:
    """What the small-batch controls (weights given real steps) did to the calls, over their seeds."""
    learnt = seeds_of("V2, small batches, frozen BN", control_names)
    both = seeds_of("V2, small batches", control_names)
    if not (learnt and both):
        return "The small-batch controls were not run on this profile."
    recall = {k: [change(results, m, k, RECALL) for m in learnt] for k in TYPES}
    precision = {k: [change(results, m, k, PRECISION) for m in learnt] for k in TYPES}
    text = (f"Given steps at the full learning rate with the statistics frozen (V2, small batches, frozen BN; "
            f"{seeds_text(learnt)}), the calls change against the original model by {_moves(results, learnt)}.")
    if all(v > UNCHANGED_TOLERANCE for k in recall for v in recall[k]) and \
            all(v < -UNCHANGED_TOLERANCE for k in precision for v in precision[k]):
        text += (f" Every seed calls more variants. The RNA training labels are {rna_hom_ref:.0%} hom-ref against "
                 f"{dna_hom_ref:.0%} in the DNA training set (RNA reads, with few errors, make few candidates that are "
                 "not variants), so what a classifier learns from them is that a candidate is rarely reference.")
    elif any(min(v) < -UNCHANGED_TOLERANCE and max(v) > UNCHANGED_TOLERANCE
             for v in (*recall.values(), *precision.values())):
        text += (f" The seeds disagree on the direction: on {n_rna_train} RNA training examples, what these steps "
                 "teach the weights depends on the order the examples come in.")
        worst = min(learnt, key=lambda m: change(results, m, "SNP", PRECISION))
        if change(results, worst, "SNP", PRECISION) < -PRECISION_COLLAPSE:
            text += (f" The run that lost most precision, {worst}, called more variants; the RNA training labels are "
                     f"{rna_hom_ref:.0%} hom-ref against {dna_hom_ref:.0%} in the DNA training set.")
    better = [m for m in learnt + both if all(change(results, m, k, F1) > UNCHANGED_TOLERANCE for k in TYPES)]
    text += f" With the statistics moving as well (V2, small batches; {seeds_text(both)}): {_moves(results, both)}."
    if all(change(results, m, k, RECALL) < -UNCHANGED_TOLERANCE for m in both for k in TYPES):
        text += " Recall fell with every seed, as in the case study."
    text += (" No control run raised F1 on both types." if not better else
             " F1 rose on both types for " + ", ".join(better) + ".")
    return text


def controls_thin_sites_text(results: Mapping[str, Any], strata: pd.DataFrame, control_names: Sequence[str]) -> str:
    """Whether any control raised recall in the lowest bucket, and whether it paid in precision overall."""
    if not control_names:
        return "No control was run on this profile."
    lowest = lowest_bucket_recall(strata)
    risen = [(model, kind) for model in control_names for kind in TYPES
             if lowest[(model, kind)] - lowest[(BASELINE, kind)] > UNCHANGED_TOLERANCE]
    if not risen:
        return "At depth 1-7 no control raised recall."
    costly = all(change(results, model, kind, PRECISION) < -COSTLY_PRECISION_LOSS
                 for model in {model for model, _ in risen} for kind in TYPES)
    return ("At depth 1-7 recall rose for "
            + "; ".join(f"{model} ({kind} {lowest[(BASELINE, kind)]:.3f} to {lowest[(model, kind)]:.3f})"
                        for model, kind in risen)
            + (", and over all of chr1 the same weights lost precision on both types: the extra calls at thin sites "
               "come with more false calls everywhere." if costly else "."))


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


#: hap.py columns that count variants (glued as integers); the others are fractions
COUNT_METRICS = ("TRUTH.TOTAL", "FP.gt", "QUERY.FP")


def pseudo_truth_quality(result: Any) -> dict[str, float | int]:
    """Glue name -> the pseudo-truth against the real truth per type: recall, precision, F1, truth
    variants, genotype errors, false positives and het/hom ratios, e.g. ``pseudo_snp_gt``, ``truth_snp_het_hom``."""
    values: dict[str, float | int] = {}
    for kind in TYPES:
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
              **{m: results[threshold].metric(kind, m) for m in ("TRUTH.TP", "QUERY.FP", "FP.gt", RECALL, PRECISION, F1)}}
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


# ---- chapter 6: the fine-tuning runs --------------------------------------------------------------------

def config_table(defaults: Any, configs: Mapping[str, Any], hidden: Iterable[str], always: Sequence[str] = (
        "tune_every_steps", "num_epochs", "learning_rate_num_epochs_per_decay", "best_checkpoint_metric"),
                 init_checkpoint: str = "original model best.pt") -> pd.DataFrame:
    """The keys any of ``configs`` changes from ``defaults`` (except ``hidden`` ones), then ``always``,
    beside DeepVariant's defaults; ``init_checkpoint`` names the start of every run."""
    fields = list(type(defaults).__dataclass_fields__)
    shown = [k for k in fields if k not in hidden and any(getattr(c, k) != getattr(defaults, k) for c in configs.values())]
    shown += list(always)
    table = pd.DataFrame({"DeepVariant default": {k: getattr(defaults, k) for k in shown},
                          **{name: {k: getattr(c, k) for k in shown} for name, c in configs.items()}})
    table = table.astype(object)  # the row added below is text in columns that may be numbers
    table.loc["init_checkpoint"] = ["''", *[init_checkpoint] * len(configs)]
    return table.astype(str)


def config_differences(first: Any, second: Any, names: tuple[str, str],
                       ignored: Iterable[str] = ("train_dataset_pbtxt", "tune_dataset_pbtxt", "init_checkpoint")
                       ) -> pd.DataFrame:
    """The keys where two configurations disagree (except ``ignored``), one column each."""
    keys = [k for k in type(first).__dataclass_fields__ if getattr(first, k) != getattr(second, k) and k not in ignored]
    # object columns: each value printed as itself (an int column with a float in it would print 50 as 50.0)
    return pd.DataFrame({name: pd.Series({k: getattr(config, k) for k in keys}, dtype=object)
                         for name, config in zip(names, (first, second))}).astype(str)


def schedule_values(configs: Mapping[str, Any], n_train: int) -> dict[str, float | int]:
    """Glue name -> each run's steps per epoch, planned steps, warm-up and peak learning rate on ``n_train``
    examples, e.g. ``v1_planned_steps``."""
    from .train import learning_rate_at

    values: dict[str, float | int] = {}
    for name, c in configs.items():
        steps_per_epoch = math.ceil(n_train / c.batch_size)
        total = steps_per_epoch * c.num_epochs
        values[f"{name.lower()}_steps_per_epoch"] = int(steps_per_epoch)
        values[f"{name.lower()}_planned_steps"] = int(total)
        values[f"{name.lower()}_warmup"] = int(c.warmup_steps)
        values[f"{name.lower()}_peak_lr"] = float(max(learning_rate_at(s, c, steps_per_epoch) for s in range(total)))
    return values


def _tune_scores(log_path) -> tuple[float, float, int]:
    """A training log's tune f1_weighted at the start (step 0) and at the last evaluation, and how many
    evaluations it made."""
    log = pd.read_csv(log_path)
    start = log[log.event == "init"].iloc[0]
    tuned = log.dropna(subset=["tune_f1_weighted"])
    return float(start.tune_f1_weighted), float(tuned.tune_f1_weighted.iloc[-1]), len(tuned)


def selected_text(best_step: int) -> str:
    return "the starting model itself (step 0)" if best_step == 0 else f"the checkpoint of step {best_step}"


def fine_tune_summary(runs: Mapping[str, Any]) -> pd.DataFrame:
    """Per run: the step it selected and its tune score, the starting and last tune scores, how long it ran."""
    rows = {}
    for name, run in runs.items():
        start, last, evaluations = _tune_scores(run.log_path)
        rows[name] = {"selected step": run.best_step, "selected tune f1_weighted": run.best_metrics["tune/f1_weighted"],
                      "starting model tune f1_weighted (step 0)": start, "last tune f1_weighted": last,
                      "steps run": run.steps, "epochs": run.epochs, "stopped by": run.stopped_by,
                      "tune evaluations": evaluations, "seconds": round(run.wall_seconds, 1)}
    return pd.DataFrame(rows).T


def fine_tune_values(runs: Mapping[str, Any]) -> dict[str, Any]:
    """Glue name -> each run's selected step and score, start and last tune score, steps and the words for
    what it selected, e.g. ``v2_selected_text``."""
    values: dict[str, Any] = {}
    for name, run in runs.items():
        start, last, _ = _tune_scores(run.log_path)
        values[f"{name.lower()}_best_step"] = int(run.best_step)
        values[f"{name.lower()}_best_f1"] = float(run.best_metrics["tune/f1_weighted"])
        values[f"{name.lower()}_start_f1"] = start
        values[f"{name.lower()}_last_f1"] = last
        values[f"{name.lower()}_steps"] = int(run.steps)
        values[f"{name.lower()}_selected_text"] = selected_text(run.best_step)
    return values


def self_labelled_text(summary: pd.DataFrame) -> str:
    """Whether the starting model agrees with its own pseudo-truth labels so well that no step can win."""
    if min(summary["starting model tune f1_weighted (step 0)"]) >= SELF_AGREEMENT:
        return ("This is built into the experiment: the tune labels are the original model's own calls on the RNA "
                "reads (chapter 4), so the starting model agrees with them almost perfectly and every step away from "
                "it can only lose agreement.")
    return ("The starting model does not agree perfectly with its own pseudo-truth labels (calls removed by the "
            "filters of chapter 4 become hom-ref labels), which leaves room for a fine-tuned checkpoint to score "
            "higher.")


def controls_table(all_controls: Sequence[Any], chosen: Sequence[Any]) -> pd.DataFrame:
    """Every control: what it adds to V2's list, what it isolates, its seeds and whether it runs here."""
    return pd.DataFrame({"added to V2's list": {c.name: "; ".join(c.extra) for c in all_controls},
                         "what it isolates": {c.name: c.purpose for c in all_controls},
                         "seeds": {c.name: ", ".join(map(str, c.seeds)) for c in all_controls},
                         "run here": {c.name: c in chosen for c in all_controls}})


def drift_table(runs: Mapping[str, Any], drifts: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Per run: steps, selected step, peak learning rate and how far its end-of-run weights and batch-norm
    statistics moved (:func:`lowcov.model.checkpoint_drift`)."""
    rows = {}
    for name, run in runs.items():
        drift = drifts[name]
        rows[name] = {"steps run": run.steps, "selected step": run.best_step,
                      "peak learning rate": pd.read_csv(run.log_path).learning_rate.max(),
                      "weights: relative change": drift["weights_relative"],
                      "weights: largest change": drift["weights_max_abs"],
                      "batch-norm statistics: relative change": drift["batch_norm_statistics_relative"],
                      "batch-norm statistics: largest change": drift["batch_norm_statistics_max_abs"],
                      "seconds": round(run.wall_seconds, 1)}
    return pd.DataFrame(rows).T.astype({"steps run": int, "selected step": int})


def drift_values(drifts: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Glue name -> relative drift of weights and statistics, e.g. ``v2_weights_drift``, ``v2_bn_drift``."""
    values = {}
    for slug, drift in drifts.items():
        values[f"{slug}_weights_drift"] = float(drift["weights_relative"])
        values[f"{slug}_bn_drift"] = float(drift["batch_norm_statistics_relative"])
    return values


def controls_drift_text(drifts: pd.DataFrame, shown: Sequence[str], control_runs: Mapping[str, Any]) -> str:
    """How far the controls (the ``shown`` runs of :func:`drift_table`) moved, and what they selected."""
    if not control_runs:
        return "No control was run on this profile."

    def moved(name: str) -> str:
        row = drifts.loc[name]
        return (f"{name} ran {int(row['steps run'])} steps (peak learning rate {row['peak learning rate']:.1e}); its "
                f"weights moved by {row['weights: relative change']:.1e} and its statistics by "
                f"{row['batch-norm statistics: relative change']:.1e}")

    text = "; ".join(moved(name) for name in shown) + "."
    if all(r.best_step == 0 for r in control_runs.values()):
        return text + " Every control, too, selected the starting model (step 0) on the RNA tune set."
    return text + " Selected checkpoints: " + ", ".join(f"{n} step {r.best_step}" for n, r in control_runs.items()) + "."


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
    from .study.evaluation import metrics_table

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


# ---- chapter 8: what this rendering was computed with --------------------------------------------------

def short(value: Any, width: int = 80) -> str:
    """``value`` as text (JSON unless a string), cut to ``width`` characters with "..."."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def relative(path: str, root: Path) -> str:
    """``path`` relative to ``root`` where it is inside it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return path


def notebook_runs(state: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Each notebook's last recorded run (from the runner's state file): when, how long, what was passed."""
    return pd.DataFrame([{"notebook": name, "finished": record.get("finished"), "seconds": record.get("seconds"),
                          "parameters passed": short(record.get("parameters", {}))}
                         for name, record in sorted(state.items())], columns=["notebook", "finished", "seconds",
                                                                              "parameters passed"])


def notebook_runs_values(runs: pd.DataFrame) -> dict[str, float | int]:
    """Glue name -> the recorded runs' total minutes and count."""
    return {"total_run_minutes": float(runs.seconds.sum() / 60) if not runs.empty else 0.0,
            "notebooks_recorded": int(len(runs))}


def notebook_runs_table(runs: pd.DataFrame, state_file: Path) -> pd.DataFrame | str:
    return runs.set_index("notebook") if not runs.empty else f"{state_file} records no runs yet"


def notebook_parameters(sources: Mapping[str, Path], passed: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Every parameter of every notebook's ``parameters`` cell: its default, the value passed in this run
    where it differs, and the comment on its line. ``sources`` maps a notebook's stem to its file, ``passed``
    a notebook's file name to the parameters papermill was given."""
    rows = []
    for stem, path in sources.items():
        cells = json.loads(path.read_text())["cells"]
        source = next(("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), "")
        given = passed.get(path.name, {})
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
                default = ast.get_source_segment(source, node.value)
                line = source.splitlines()[node.end_lineno - 1]
                comment = line.split("#", 1)[1].strip() if "#" in line else ""
                used = given.get(name, "")
                try:
                    same = name not in given or ast.literal_eval(default) == used
                except ValueError:
                    same = False
                rows.append({"notebook": stem, "parameter": name, "default": short(default, 70),
                             "this run": "" if same else short(repr(used), 40), "meaning": short(comment, 90)})
    return pd.DataFrame(rows).set_index(["notebook", "parameter"])


def package_versions(distribution: str = "lowcov", indirect: Sequence[str] = ("myst-nb", "sphinx", "nbformat",
                                                                                "pytest")) -> pd.DataFrame:
    """The packages ``distribution`` requires (not its extras), the range it allows and the version installed;
    then ``indirect`` ones that are installed, and the distribution itself."""
    import importlib.metadata as metadata
    import re

    def installed(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    packages = []
    for requirement in [r for r in metadata.requires(distribution) or [] if "extra ==" not in r]:
        name = re.split(r"[<>=!~;\s\[]", requirement, maxsplit=1)[0]
        packages.append({"package": name, "required": requirement[len(name):] or "any",
                         "installed": installed(name) or "not installed"})
    packages += [{"package": name, "required": "(indirect)", "installed": installed(name)} for name in indirect
                 if installed(name)]
    packages.append({"package": distribution, "required": "", "installed": metadata.version(distribution)})
    return pd.DataFrame(packages).set_index("package")


def software() -> dict[str, Any]:
    """Python, the platform, the native tools pysam and mappy bundle, and torch with its device and threads."""
    import importlib.metadata as metadata
    import os
    import platform
    import sys

    import pysam.version
    import torch

    return {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
            "CPU cores (os.cpu_count)": os.cpu_count(),
            "htslib (bundled in pysam)": pysam.version.__htslib_version__,
            "samtools (bundled in pysam)": pysam.version.__samtools_version__,
            "bcftools (bundled in pysam)": pysam.version.__bcftools_version__,
            "minimap2 (mappy)": metadata.version("mappy"), "torch": torch.__version__,
            "torch device": "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "torch threads": torch.get_num_threads()}


def manifest_records(root: Path) -> dict[Path, dict]:
    """Every stage manifest under ``root`` (``*.manifest.json``), by path, in path order."""
    return {path: json.loads(path.read_text()) for path in sorted(root.rglob("*.manifest.json"))}


def manifest_stages(records: Mapping[Path, Mapping[str, Any]], repo: Path) -> pd.DataFrame:
    """One row per stage manifest: where, when it finished, its seconds and how many files it read and wrote."""
    stages = pd.DataFrame([{"stage": r.get("stage", path.stem), "directory": relative(str(path.parent), repo),
                            "finished": r.get("finished"), "seconds": round(float(r.get("seconds") or 0), 1),
                            "inputs": len(r.get("inputs", [])), "outputs": len(r.get("outputs", []))}
                           for path, r in records.items()])
    return stages.set_index("stage").sort_values(["directory", "finished"])


def manifest_files(records: Mapping[Path, Mapping[str, Any]], repo: Path, role: str) -> pd.DataFrame | str:
    """The files (``role``: "inputs" or "outputs") every stage recorded, with size and sha256 (or mtime)."""
    files = pd.DataFrame([{"stage": r.get("stage", path.stem), "file": relative(f["path"], repo),
                           "bytes": f.get("size"), "sha256": f.get("sha256") or f"(mtime) {f.get('mtime_ns')}"}
                          for path, r in records.items() for f in r.get(role, [])])
    return files.set_index(["stage", "file"]).sort_index() if not files.empty else f"no stage recorded {role}"


def flatten(value: Any, prefix: str = ""):
    """(dotted key, value) of every leaf of nested dicts."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def manifest_parameters(records: Mapping[Path, Mapping[str, Any]]) -> pd.DataFrame | str:
    """Each stage's recorded parameters, nested keys joined with dots, long values cut."""
    params = pd.DataFrame([{"stage": r.get("stage", path.stem), "parameter": key, "value": short(value)}
                           for path, r in records.items() for key, value in flatten(r.get("params", {})) if key])
    return params.set_index(["stage", "parameter"]).sort_index() if not params.empty else \
        "no stage recorded parameters"


def training_runs(root: Path, repo: Path) -> pd.DataFrame | str:
    """Every training run under ``root`` (its ``best_checkpoint.json``): steps, selection, speed, start."""
    models = []
    for path in sorted(root.glob("models/*/best_checkpoint.json")):
        run = json.loads(path.read_text())
        models.append({"model": path.parent.name, "complete": run.get("complete"), "steps": run.get("steps"),
                       "stopped by": run.get("stopped_by"), "selected step": run.get("best_step"),
                       run.get("best_checkpoint_metric", "metric"): run.get("best_value"),
                       "examples/s": round(float(run.get("examples_per_second") or 0), 1),
                       "seconds": round(float(run.get("wall_seconds") or 0), 1),
                       "initialised from": relative(run["init"]["checkpoint"], repo) if run.get("init") else ""})
    return pd.DataFrame(models).set_index("model") if models else "no training runs yet"


def example_sets(root: Path, repo: Path) -> pd.DataFrame | str:
    """Every example set under ``root`` (its ``example_info.json``): mode, reads, counts, geometry, seconds."""
    sets = []
    for path in sorted(root.glob("examples/*/example_info.json")):
        info = json.loads(path.read_text())
        sets.append({"example set": path.parent.name, "mode": info.get("mode"),
                     "reads": relative(str(info.get("bam", "")), repo), "examples": info.get("n_examples"),
                     "candidates": info.get("n_candidates"),
                     "geometry": f"{info.get('height')} x {info.get('width')} x {len(info.get('channels', []))}",
                     "class counts": short(info.get("class_counts", {}), 60), "seconds": info.get("seconds")})
    return pd.DataFrame(sets).set_index("example set") if sets else "no example sets yet"

