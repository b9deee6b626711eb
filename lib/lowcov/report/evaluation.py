"""Chapter 7's words and tables: the models on the downsampled test contig, and what moves the calls."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from .common import BASELINE, BN_RESTORED_FRACTION, F1, FRAC_NA, FROZEN_LIKE_ORIGINAL, LOWEST_BUCKET, MOVED_METRICS, PRECISION, PRECISION_COLLAPSE, RECALL, TYPES, UNCHANGED_TOLERANCE, change, direction, metric_key, seeds_text


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
    """Whether each run's selected (trained) checkpoint scores exactly as the original model."""
    same = {version: results[version].summary.equals(results[BASELINE].summary) for version in versions}
    if all(same.values()):
        return ("The calls of both selected checkpoints score exactly as the original model's: their training moved "
                "no call on this contig.")
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
    from ..study.evaluation import STRATA

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


def change_values(results: Mapping[str, Any], models: Sequence[str] = FINE_TUNED,
                  intervals: pd.DataFrame | None = None) -> dict[str, Any]:
    """Glue name -> change against the original model and its direction, per model, type and metric,
    e.g. ``v1_last_indel_recall_change`` and ``v1_last_indel_recall_direction``. With ``intervals``
    (:func:`lowcov.bootstrap.intervals`) the change is its estimate (the mean over seeds of a replicated run)
    and the word that of its whole 95 % interval; without, the word reads the rounded change."""
    values: dict[str, Any] = {}
    for model in models:
        words = ours_directions(results, model, intervals)
        for kind in TYPES:
            for short, metric in MOVED_METRICS.items():
                moved = (_interval_row(intervals, model, kind, metric).change if intervals is not None
                         else change(results, model, kind, metric))
                values[f"{MODEL_SLUGS[model]}_{kind.lower()}_{short}_change"] = float(moved)
                values[f"{MODEL_SLUGS[model]}_{kind.lower()}_{short}_direction"] = words[kind, metric]
    return values


def _interval_row(intervals: pd.DataFrame, model: str, kind: str, metric: str):
    rows = intervals[(intervals.Model == model) & (intervals.Type == kind) & (intervals.Metric == metric)]
    if rows.empty:
        raise KeyError(f"no interval for {model} {kind} {metric}")
    return rows.iloc[0]


def ours_directions(results: Mapping[str, Any], model: str,
                    intervals: pd.DataFrame | None = None) -> dict[tuple[str, str], str]:
    """(type, metric) -> the direction word of ``model``'s change: from its whole 95 % interval when
    ``intervals`` are given ("higher", "lower", "no detectable change"), else from the rounded change."""
    return {(kind, metric): (_interval_row(intervals, model, kind, metric).direction if intervals is not None
                             else direction(change(results, model, kind, metric)))
            for kind in TYPES for metric in MOVED_METRICS.values()}


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


def agreement_text(label: str, ours: Mapping[tuple[str, str], str], theirs: Mapping[tuple[str, str], float]) -> str:
    """Which of recall/precision/F1 (SNP and INDEL) moved the way the case study's did.

    ``ours`` maps (type, metric) to the direction word of our change (:func:`ours_directions`), ``theirs``
    to the case study's change against its starting model (its tables have no intervals; on ~250,000 SNPs
    and ~38,000 indels every change it reports is far beyond rounding)."""
    same, other = [], []
    for kind in TYPES:
        for metric in MOVED_METRICS.values():
            name = f"{kind} {metric.split('.')[1].replace('_Score', '')}"
            mine = ours[kind, metric]
            (same if mine == direction(theirs[kind, metric]) else other).append(f"{name} {mine}")
    if all(text.endswith(("unchanged", "no detectable change")) for text in same + other):
        return f"{label} shows no detectable change on any metric, where the case study's moved."
    return (f"{label} moved like the case study's for {', '.join(same) or 'no metric'}"
            f"{'; differently for ' + ', '.join(other) if other else ''}.")


def changes_of(results: Mapping[str, Any], model: str) -> dict[tuple[str, str], float]:
    """(type, metric) -> ``model``'s change against the original model, for the metrics the text discusses."""
    return {(kind, metric): change(results, model, kind, metric) for kind in TYPES for metric in MOVED_METRICS.values()}


def verdict_text(results: Mapping[str, Any], models: Sequence[str] = FINE_TUNED,
                 intervals: pd.DataFrame | None = None) -> str:
    """Whether any fine-tuned model beats the original on both SNP and INDEL F1, and which are worse on one
    (judged by whole 95 % intervals when ``intervals`` are given)."""
    if intervals is not None:
        from .uncertainty import interval_verdict_text

        return interval_verdict_text(intervals, models)
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


def direction_text(results: Mapping[str, Any], published: Mapping[tuple[str, str, str], float],
                   intervals: pd.DataFrame | None = None) -> str:
    """Each fine-tuned model against the case study's direction of change, then the verdict."""
    def theirs(version: str) -> dict[tuple[str, str], float]:
        return {(kind, metric): value for (v, kind, metric), value in published.items() if v == version}

    def ours(model: str) -> dict[tuple[str, str], str]:
        return ours_directions(results, model, intervals)

    return " ".join([agreement_text("the selected V1", ours("V1"), theirs("v1")),
                     agreement_text("The selected V2", ours("V2"), theirs("v2")),
                     agreement_text("V1 at the end of its run", ours("V1 (last)"), theirs("v1")),
                     agreement_text("V2 at the end of its run", ours("V2 (last)"), theirs("v2")),
                     verdict_text(results, intervals=intervals)])


def recall_lost(results: Mapping[str, Any], models: Sequence[str] = LAST_RUNS,
                intervals: pd.DataFrame | None = None) -> dict[str, bool]:
    """Per type: whether recall fell for every one of ``models`` (its whole 95 % interval below zero when
    ``intervals`` are given, else beyond rounding)."""
    return {kind: all(ours_directions(results, m, intervals)[kind, RECALL] == "lower" for m in models)
            for kind in TYPES}


def last_recall_text(results: Mapping[str, Any], models: Sequence[str] = LAST_RUNS,
                     intervals: pd.DataFrame | None = None) -> str:
    """Whether recall fell at the end of both runs, as in the case study, and for which types."""
    lost = recall_lost(results, models, intervals)
    if lost["SNP"] and lost["INDEL"]:
        indels_most = all(change(results, m, "INDEL", RECALL) < change(results, m, "SNP", RECALL) for m in models)
        return ("As in the case study, fine-tuning on RNA labels made the caller miss more DNA variants at the end "
                f"of both runs{', indels most' if indels_most else ''}.")
    if lost["SNP"] or lost["INDEL"]:
        kept = "INDEL" if lost["SNP"] else "SNP"
        return (f"The case study saw recall fall for both types; here it fell at the end of both runs only for "
                f"{'SNPs' if lost['SNP'] else 'indels'}, not for {kept}s.")
    return "Unlike the case study, recall did not fall for both types at the end of both runs."


def indel_precision_text(results: Mapping[str, Any], models: Sequence[str] = LAST_RUNS,
                         intervals: pd.DataFrame | None = None) -> str:
    """Whether INDEL precision rose at the end of every run, as in the case study."""
    words = {m: ours_directions(results, m, intervals)["INDEL", PRECISION] for m in models}
    if all(word == "higher" for word in words.values()):
        return "INDEL precision rose at the end of both runs, as in the case study."
    def stated(word: str) -> str:
        return f"it shows {word}" if word == "no detectable change" else f"it is {word}"

    return ("Where the two disagree is INDEL precision: the case study's rose with fine-tuning, while at the end "
            "of our runs " + " and ".join(f"{stated(w)} ({m})" for m, w in words.items()) + ".")


def few_steps_text(results: Mapping[str, Any], models: Sequence[str] = LAST_RUNS) -> str:
    """What a recall drop after steps that never leave the warm-up says (or that the demo cannot tell)."""
    if any(recall_lost(results, models).values()):
        return ("Steps taken at a learning rate still inside its warm-up are enough to lower recall on DNA, which "
                "points at what the network is shown rather than at training too long (the section on batch-norm "
                "statistics below separates the two things those steps changed).")
    return ("With steps this small (the learning rate never leaves its warm-up) the weights barely move, so the demo "
            "cannot test that reading.")


def _risen_in_bucket(lowest: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """The recall rows of ``models`` whose whole 95 % interval of the change in the bucket lies above zero."""
    return lowest[(lowest.Metric == RECALL) & lowest.Model.isin(list(models)) & (lowest.direction == "higher")]


def _change_interval(row: Any) -> str:
    """``+0.0500 [+0.0100, +0.0900]``: a row's change with its interval."""
    from .uncertainty import with_interval

    return with_interval(row.change, row.change_low, row.change_high, signed=True)


def thin_sites_text(lowest: pd.DataFrame, models: Sequence[str] = FINE_TUNED) -> str:
    """Whether any fine-tuned model raised recall in the lowest coverage bucket beyond the noise. ``lowest`` is
    :func:`lowcov.bootstrap.intervals` over that bucket's truth variants (``subset=LOWEST_BUCKET``)."""
    rescued = _risen_in_bucket(lowest, models)
    if rescued.empty:
        return ("No fine-tuned model raised recall there beyond the noise (no 95 % interval of a change lies above "
                "zero), where the hypothesis expected RNA to help most. At a site with one or two alternate reads the "
                "information a caller needs is missing from the DNA, and training on other reads cannot add it back.")
    return ("Recall there rose for "
            + "; ".join(f"{row.Model} ({row.Type} {_change_interval(row)})" for row in rescued.itertuples())
            + "; with a few dozen variants in the bucket that is a handful of calls, and it has to be read beside "
              "the same models' changes elsewhere.")


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


#: the small-batch controls learning_text reads (names as chapter 6's tables give them): statistics frozen, moving
SMALL_BATCH_CONTROLS = ("V2, small batches, frozen BN", "V2, small batches")


def learning_text(results: Mapping[str, Any], control_names: Sequence[str], rna_hom_ref: float, dna_hom_ref: float,
                  n_rna_train: int, intervals: pd.DataFrame) -> str:
    """What the small-batch controls (weights given real steps) did to the calls, seed by seed; whether either
    raised F1 on both types is judged on ``intervals`` (:func:`lowcov.bootstrap.intervals`, seeds pooled):
    the whole interval of the change above zero."""
    from .uncertainty import directions

    frozen_control, moving_control = SMALL_BATCH_CONTROLS
    learnt = seeds_of(frozen_control, control_names)
    both = seeds_of(moving_control, control_names)
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
    better = [c for c in SMALL_BATCH_CONTROLS if all(directions(intervals, c)[(k, F1)] == "higher" for k in TYPES)]
    text += f" With the statistics moving as well (V2, small batches; {seeds_text(both)}): {_moves(results, both)}."
    if all(change(results, m, k, RECALL) < -UNCHANGED_TOLERANCE for m in both for k in TYPES):
        text += " Recall fell with every seed, as in the case study."
    text += (" Neither raised F1 on both types beyond the noise (seeds pooled, 95 % intervals)." if not better else
             " F1 rose on both types, beyond the noise (seeds pooled, 95 % intervals), for " + ", ".join(better) + ".")
    return text


def controls_thin_sites_text(lowest: pd.DataFrame, overall: pd.DataFrame, control_names: Sequence[str]) -> str:
    """Whether any control raised recall in the lowest bucket beyond the noise (``lowest``: the bucket's
    intervals), and whether the same control lost precision on both types over the whole contig (``overall``:
    :func:`lowcov.bootstrap.intervals`); ``control_names`` as the tables name them (seeds pooled)."""
    from .uncertainty import directions

    if not control_names:
        return "No control was run on this profile."
    risen = _risen_in_bucket(lowest, control_names)
    if risen.empty:
        return "At depth 1-7 no control raised recall beyond the noise (no 95 % interval of a change lies above zero)."
    baseline = lowest[(lowest.Model == BASELINE) & (lowest.Metric == RECALL)].set_index("Type").estimate
    models = list(dict.fromkeys(risen.Model))  # each control once, its types together
    costly = all(directions(overall, model)[(kind, PRECISION)] == "lower" for model in models for kind in TYPES)
    return ("At depth 1-7 recall rose for "
            + "; ".join(f"{model} (" + ", ".join(
                f"{row.Type} {baseline[row.Type]:.3f} to {row.estimate:.3f}, change {_change_interval(row)}"
                for row in risen[risen.Model == model].itertuples()) + ")" for model in models)
            + (", and over all of chr1 the same weights lost precision on both types (whole intervals below zero): "
               "the extra calls at thin sites come with more false calls everywhere." if costly else "."))
