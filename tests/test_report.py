"""lowcov.report: every branch of the book's sentences, and its tables, on small hand-made results."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from lowcov import report
from lowcov.benchmark import BenchmarkResult
from lowcov.benchmark.case_study import published_table

METRICS = ("TRUTH.TOTAL", "TRUTH.TP", "TRUTH.FN", "QUERY.FP", "FP.gt", "METRIC.Recall", "METRIC.Precision",
           "METRIC.Frac_NA", "METRIC.F1_Score")
BASE = {"METRIC.Recall": 0.90, "METRIC.Precision": 0.95, "METRIC.F1_Score": 0.92}


def result(snp: dict | None = None, indel: dict | None = None, buckets: dict | None = None) -> BenchmarkResult:
    """A benchmark result with ALL and PASS rows for SNP and INDEL: the baseline metrics, with ``snp``/``indel``
    added to them as changes; ``buckets`` maps (type, subset) to recall in the coverage strata."""
    rows = []
    for kind, moved in (("SNP", snp or {}), ("INDEL", indel or {})):
        values = {m: BASE.get(m, 0.0) + moved.get(m, 0.0) for m in METRICS}
        values.update({"TRUTH.TOTAL": 100, "TRUTH.TP": 90, "TRUTH.FN": 10, "QUERY.FP": 5, "FP.gt": 2})
        rows += [{"Type": kind, "Filter": filter_name, **values} for filter_name in ("ALL", "PASS")]
    extended = pd.DataFrame([{"Type": kind, "Subtype": "*", "Filter": "ALL", "Subset": subset, "TRUTH.TOTAL": 40,
                              "TRUTH.TP": round(40 * recall), "METRIC.Recall": recall, "METRIC.Precision": 0.9}
                             for (kind, subset), recall in (buckets or {}).items()],
                            columns=["Type", "Subtype", "Filter", "Subset", "TRUTH.TOTAL", "TRUTH.TP",
                                     "METRIC.Recall", "METRIC.Precision"])
    return BenchmarkResult(summary=pd.DataFrame(rows), extended=extended, import_failures=pd.DataFrame(), skipped={},
                           stats={}, outputs={}, seconds=0.0)


def moved(recall=0.0, precision=0.0, f1=0.0) -> dict:
    return {"METRIC.Recall": recall, "METRIC.Precision": precision, "METRIC.F1_Score": f1}


def buckets(snp: float, indel: float) -> dict:
    return {("SNP", "depth_1-7"): snp, ("INDEL", "depth_1-7"): indel, ("SNP", "depth_8-20"): 0.95,
            ("INDEL", "depth_8-20"): 0.9}


ORIGINAL = result(buckets=buckets(0.5, 0.4))


# ---- words that follow a sign ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, word", [(0.001, "higher"), (-0.001, "lower"), (0.0004, "unchanged"),
                                         (-0.0005, "unchanged")])
def test_direction_names_changes_beyond_rounding_only(value, word):
    assert report.direction(value) == word


def test_selected_is_original_when_both_selected_checkpoints_score_as_the_original():
    results = {"Original": ORIGINAL, "V1": result(), "V2": result()}
    assert report.selected_is_original_text(results).startswith("The calls of both selected checkpoints score exactly")


def test_selected_is_original_names_the_run_that_scores_differently():
    results = {"Original": ORIGINAL, "V1": result(), "V2": result(snp=moved(recall=0.01))}
    assert report.selected_is_original_text(results) == (
        "V1's selected checkpoint scores exactly as the original model. "
        "V2's selected checkpoint scores differently from the original model.")


# ---- tables and glued values ----------------------------------------------------------------------------

def metrics_frame(results: dict) -> pd.DataFrame:
    from lowcov.study.evaluation import metrics_table

    return metrics_table({(name, "downsampled"): r for name, r in results.items()})


def test_metric_values_are_named_by_slug_type_and_metric():
    values = report.metric_values(metrics_frame({"V1 (last)": result(indel=moved(recall=-0.1))}),
                                  report.model_slugs({}))
    assert values["v1_last_indel_recall"] == pytest.approx(0.8)
    assert values["v1_last_snp_f1_score"] == pytest.approx(0.92)
    assert set(values) == {f"v1_last_{kind}_{m}" for kind in ("snp", "indel")
                           for m in ("recall", "precision", "f1_score", "frac_na")}


def test_metrics_by_model_keeps_the_models_and_columns_asked_for():
    ours = metrics_frame({"Original": ORIGINAL, "V1": result(), "other": result()})
    table = report.metrics_by_model(ours, ["Original", "V1"], ["METRIC.Recall", "METRIC.F1_Score"])
    assert list(table.columns) == ["Recall", "F1_Score"]
    assert list(table.index) == [("INDEL", "Original"), ("INDEL", "V1"), ("SNP", "Original"), ("SNP", "V1")]
    assert "Dataset" not in report.metrics_by_model(ours, ["V1"]).columns
    renamed = report.model_rows(ours, ["V1", "other"], rename={"other": "V1"})
    assert set(renamed.Model) == {"V1"}


def test_key_metrics_of_one_type():
    key = pd.DataFrame({"Model": ["a", "a"], "Type": ["SNP", "INDEL"], "Source": ["lowcov"] * 2, "x": [1, 2]})
    assert report.of_type(key, "INDEL").to_dict("index") == {("a", "lowcov"): {"x": 2}}


def test_strata_tables_and_values():
    results = {"Original": ORIGINAL, "V1 (last)": result(buckets=buckets(0.6, 0.4))}
    strata = report.strata_table(results)
    assert list(strata.Subset.cat.categories) == ["depth_1-7", "depth_8-20", "depth_gt20"]
    values = report.strata_values(strata, report.model_slugs({}))
    assert values["v1_last_snp_recall_depth_1_7"] == pytest.approx(0.6)
    assert values["original_indel_recall_depth_8_20"] == pytest.approx(0.9)
    assert report.lowest_bucket_truth(strata) == {"snp_truth_depth_1_7": 40, "indel_truth_depth_1_7": 40}
    table = report.recall_by_bucket(strata, ["Original", "V1 (last)"])
    assert list(table.columns) == ["Original", "V1 (last)", "TRUTH.TOTAL"]
    assert table.loc[("SNP", "depth_1-7"), "V1 (last)"] == pytest.approx(0.6)


def test_lowest_bucket_truth_is_zero_when_the_bucket_is_empty():
    strata = report.strata_table({"Original": result(buckets={("SNP", "depth_8-20"): 0.9})})
    assert report.lowest_bucket_truth(strata) == {"snp_truth_depth_1_7": 0, "indel_truth_depth_1_7": 0}


def test_change_values_give_the_change_and_its_direction():
    results = {"Original": ORIGINAL, "V1": result(indel=moved(precision=0.01))}
    values = report.change_values(results, ["V1"])
    assert values["v1_indel_precision_change"] == pytest.approx(0.01)
    assert values["v1_indel_precision_direction"] == "higher"
    assert values["v1_snp_recall_direction"] == "unchanged"
    assert len(values) == 2 * 3 * 2


def test_published_changes_read_the_case_studys_tables():
    tables = {name: published_table(name) for name in ("quick_test_downsampled", "v1", "v2")}
    changes = report.published_changes(tables)
    before = tables["quick_test_downsampled"].query("Type == 'INDEL' and Filter == 'ALL'")["METRIC.Recall"].iloc[0]
    after = tables["v1"].query("Type == 'INDEL' and Filter == 'ALL'")["METRIC.Recall"].iloc[0]
    assert changes["v1", "INDEL", "METRIC.Recall"] == pytest.approx(after - before)
    values = report.published_change_values(changes)
    assert values["cs_v1_indel_recall_change"] == changes["v1", "INDEL", "METRIC.Recall"]
    assert len(values) == 2 * 2 * 3


# ---- chapter 7: the direction of the fine-tuned models --------------------------------------------------

def changes(value: float, overrides: dict | None = None) -> dict:
    """(type, metric) -> ``value`` for every metric the text discusses, except ``overrides``."""
    out = {(kind, metric): value for kind in report.TYPES for metric in report.MOVED_METRICS.values()}
    return {**out, **(overrides or {})}


def words(moves: dict) -> dict:
    """The direction words of rounded changes (no intervals)."""
    return {key: report.direction(value) for key, value in moves.items()}


def test_agreement_when_nothing_moved():
    assert report.agreement_text("V1", words(changes(0.0)), changes(-0.01)) == \
        "V1 shows no detectable change on any metric, where the case study's moved."
    interval_words = {key: "no detectable change" for key in changes(0.0)}
    assert report.agreement_text("V1", interval_words, changes(-0.01)).startswith("V1 shows no detectable change")


def test_agreement_lists_the_same_and_the_different_metrics():
    ours = changes(-0.01, {("INDEL", "METRIC.Precision"): -0.01})
    theirs = changes(-0.01, {("INDEL", "METRIC.Precision"): 0.02})
    text = report.agreement_text("V1", words(ours), theirs)
    assert text.startswith("V1 moved like the case study's for SNP Recall lower, SNP Precision lower, SNP F1 lower")
    assert text.endswith("; differently for INDEL Precision lower.")


def test_agreement_when_no_metric_moved_the_same_way():
    assert report.agreement_text("V1", words(changes(0.01)), changes(-0.01)).startswith(
        "V1 moved like the case study's for no metric; differently for SNP Recall higher")


def test_agreement_without_differences_has_no_differently_clause():
    assert "differently" not in report.agreement_text("V1", words(changes(0.01)), changes(0.01))


def four_models(**moves) -> dict:
    return {"Original": ORIGINAL, **{m: result(**moves.get(m, {})) for m in report.FINE_TUNED}}


def test_verdict_names_models_better_on_both_types():
    results = four_models(V2={"snp": moved(f1=0.01), "indel": moved(f1=0.01)})
    assert report.verdict_text(results) == "Fine-tuning on RNA made both SNP and INDEL F1 better for V2."


def test_verdict_names_models_worse_on_one_type():
    results = four_models(**{"V1 (last)": {"indel": moved(f1=-0.01)}, "V2": {"snp": moved(f1=0.01)}})
    assert report.verdict_text(results) == ("No fine-tuned model is better than the original on both SNP and INDEL "
                                            "F1; V1 (last) are worse on at least one.")


def test_verdict_when_nothing_moved():
    assert report.verdict_text(four_models()) == \
        "No fine-tuned model is better than the original on both SNP and INDEL F1."


def test_direction_text_joins_the_four_models_and_the_verdict():
    published = {(v, kind, metric): -0.01 for v in ("v1", "v2") for kind in report.TYPES
                 for metric in report.MOVED_METRICS.values()}
    text = report.direction_text(four_models(), published)
    assert text.startswith("the selected V1 shows no detectable change on any metric")
    assert "V2 at the end of its run shows no detectable change" in text and text.endswith("SNP and INDEL F1.")


def model_intervals(models, recall_interval=(-0.02, -0.03, -0.01)):
    """A bootstrap table for ``models``: recall lower (whole interval below zero), everything else unmoved."""
    from lowcov.bootstrap import direction

    rows = []
    for model in ["Original", *models]:
        for kind in report.TYPES:
            for metric in report.MOVED_METRICS.values():
                change, low, high = recall_interval if (model != "Original" and metric == report.RECALL) else (0, -0.01, 0.01)
                rows.append({"Model": model, "Type": kind, "Metric": metric, "seeds": 1, "estimate": 0.9 + change,
                             "low": 0.89, "high": 0.91, "change": change, "change_low": low, "change_high": high,
                             "direction": "" if model == "Original" else direction(low, high)})
    return pd.DataFrame(rows)


def test_direction_words_come_from_the_intervals_when_given():
    # the point changes say nothing moved; the intervals say recall fell: the words follow the intervals
    table = model_intervals(report.FINE_TUNED)
    values = report.change_values(four_models(), intervals=table)
    assert values["v2_last_snp_recall_direction"] == "lower" and values["v2_last_snp_recall_change"] == -0.02
    assert values["v1_indel_precision_direction"] == "no detectable change"
    assert report.last_recall_text(four_models(), intervals=table).startswith("As in the case study")
    published = {(v, kind, metric): -0.01 for v in ("v1", "v2") for kind in report.TYPES
                 for metric in report.MOVED_METRICS.values()}
    text = report.direction_text(four_models(), published, intervals=table)
    assert "SNP Recall lower, INDEL Recall lower" in text and "differently for SNP Precision no detectable change" in text
    assert text.endswith("fine-tuning changed nothing measurable.")


def last_runs(snp_recall: tuple[float, float], indel_recall: tuple[float, float], indel_precision=(0.0, 0.0)):
    return {"Original": ORIGINAL, **{m: result(snp=moved(recall=s), indel=moved(recall=i, precision=p))
                                     for m, s, i, p in zip(report.LAST_RUNS, snp_recall, indel_recall,
                                                           indel_precision)}}


def test_recall_fell_for_both_types_indels_most():
    text = report.last_recall_text(last_runs((-0.01, -0.01), (-0.02, -0.03)))
    assert text == ("As in the case study, fine-tuning on RNA labels made the caller miss more DNA variants at the "
                    "end of both runs, indels most.")


def test_recall_fell_for_both_types_snps_most_in_one_run():
    text = report.last_recall_text(last_runs((-0.01, -0.05), (-0.02, -0.03)))
    assert text.endswith("at the end of both runs.")


def test_recall_fell_only_for_snps():
    assert report.last_recall_text(last_runs((-0.01, -0.01), (-0.02, 0.0))).endswith(
        "only for SNPs, not for INDELs.")


def test_recall_fell_only_for_indels():
    assert report.last_recall_text(last_runs((-0.01, 0.0), (-0.02, -0.02))).endswith(
        "only for indels, not for SNPs.")


def test_recall_did_not_fall():
    assert report.last_recall_text(last_runs((-0.01, 0.0), (0.0, -0.02))).startswith("Unlike the case study")


def test_indel_precision_rose_in_both_runs():
    assert report.indel_precision_text(last_runs((0, 0), (0, 0), (0.01, 0.02))) == \
        "INDEL precision rose at the end of both runs, as in the case study."


def test_indel_precision_disagrees_with_the_case_study():
    assert report.indel_precision_text(last_runs((0, 0), (0, 0), (0.01, -0.02))).endswith(
        "it is higher (V1 (last)) and it is lower (V2 (last)).")


def test_few_steps_text_when_recall_fell():
    assert report.few_steps_text(last_runs((-0.01, -0.01), (0, 0))).startswith("Steps taken at a learning rate still inside its warm-up")


def test_few_steps_text_when_recall_held():
    assert report.few_steps_text(last_runs((0, 0), (0, 0))).startswith("With steps this small")


def bucket_intervals(rows):
    """A bootstrap table of the lowest bucket's recall, by hand: (model, type, estimate, change, low, high)."""
    from lowcov.bootstrap import direction

    return pd.DataFrame([{"Model": model, "Type": kind, "Metric": "METRIC.Recall", "seeds": 1, "estimate": estimate,
                          "low": estimate - 0.1, "high": estimate + 0.1, "change": change, "change_low": low,
                          "change_high": high, "direction": "" if model == "Original" else direction(low, high)}
                         for model, kind, estimate, change, low, high in rows])


def test_thin_sites_when_no_model_raised_recall_beyond_the_noise():
    # V1 (last) rose by 0.05 but its interval reaches below zero: not "rose"
    lowest = bucket_intervals([("Original", "SNP", 0.5, 0, 0, 0), ("V1 (last)", "SNP", 0.55, 0.05, -0.01, 0.1),
                               ("V2 (last)", "INDEL", 0.4, -0.1, -0.2, -0.05)])
    assert report.thin_sites_text(lowest).startswith("No fine-tuned model raised recall there beyond the noise")


def test_thin_sites_names_the_models_that_raised_recall():
    lowest = bucket_intervals([("Original", "INDEL", 0.4, 0, 0, 0), ("V2 (last)", "INDEL", 0.45, 0.05, 0.01, 0.09),
                               ("V1", "SNP", 0.6, 0.1, 0.0, 0.2)])
    assert report.thin_sites_text(lowest).startswith(
        "Recall there rose for V2 (last) (INDEL +0.0500 [+0.0100, +0.0900]); with a few dozen")


# ---- chapter 7: batch-norm statistics and the controls --------------------------------------------------

def test_mechanism_table_columns_and_missing_bucket():
    results = {"Original": ORIGINAL, "V1 (last)": result(snp=moved(recall=-0.1), buckets={})}
    table = report.mechanism_table(results, report.strata_table(results), ["Original", "V1 (last)"])
    assert list(table.columns) == ["SNP recall", "SNP precision", "SNP F1", "SNP recall, depth 1-7",
                                   "INDEL recall", "INDEL precision", "INDEL F1", "INDEL recall, depth 1-7"]
    assert table.loc["V1 (last)", "SNP recall"] == pytest.approx(0.8)
    assert math.isnan(table.loc["V1 (last)", "SNP recall, depth 1-7"])
    assert table.loc["Original", "SNP recall, depth 1-7"] == pytest.approx(0.5)


def test_largest_change_is_over_recall_and_precision_of_both_types():
    results = {"Original": ORIGINAL, "x": result(snp=moved(recall=0.01, f1=0.5), indel=moved(precision=-0.03))}
    assert report.largest_change(results, "x") == pytest.approx(0.03)


def test_bn_restored_when_the_statistics_explain_the_change():
    text = report.bn_restored_text({"V1": 0.04, "V2": 0.08}, {"V1": 0.01, "V2": 0.001})
    assert "almost as the original model does" in text and "0.0100 (V1) and 0.0010 (V2), against 0.0400" in text


def test_bn_restored_when_the_weights_changed_the_calls_too():
    text = report.bn_restored_text({"V1": 0.04, "V2": 0.08}, {"V1": 0.011, "V2": 0.001})
    assert "still differ from the original model by up to 0.0110 (V1)" in text
    assert text.endswith("the weights changed the calls too, not only the statistics.")


def test_frozen_text_when_not_run():
    assert report.frozen_text({}, []) == "V2 was not run with frozen statistics on this profile."


def test_frozen_text_like_the_original():
    results = {"Original": ORIGINAL, "V2, frozen BN": result(snp=moved(recall=0.0019))}
    assert report.frozen_text(results, ["V2, frozen BN"]) == (
        "V2 run with frozen statistics calls chr1 like the original model (largest change in recall or precision "
        "0.0019).")


def test_frozen_text_differently_from_the_original():
    results = {"Original": ORIGINAL, "V2, frozen BN": result(snp=moved(recall=0.0021))}
    assert "calls chr1 differently from the original model" in report.frozen_text(results, ["V2, frozen BN"])


def test_hom_ref_fraction():
    assert report.hom_ref_fraction({"hom_ref": 1, "het": 2, "hom_alt": 1}) == 0.25


FROZEN_SEEDS = ["V2, small batches, frozen BN (seed 1)", "V2, small batches, frozen BN (seed 2)"]
MOVING = ["V2, small batches"]


def controls(frozen_moves: list[dict], moving_move: dict) -> dict:
    return {"Original": ORIGINAL, **dict(zip(FROZEN_SEEDS, (result(**m) for m in frozen_moves))),
            MOVING[0]: result(**moving_move)}


def pooled_f1(frozen=(0.0, -0.01, 0.01), moving=(0.0, -0.01, 0.01)) -> pd.DataFrame:
    """The two small-batch controls' F1 changes (seeds pooled) as lowcov.bootstrap.intervals gives them."""
    from lowcov.bootstrap import direction

    return pd.DataFrame([{"Model": model, "Type": kind, "Metric": "METRIC.F1_Score", "seeds": 2, "estimate": 0.9,
                          "low": 0.8, "high": 0.95, "change": c, "change_low": low, "change_high": high,
                          "direction": direction(low, high)}
                         for model, (c, low, high) in (("V2, small batches, frozen BN", frozen),
                                                       ("V2, small batches", moving)) for kind in ("SNP", "INDEL")])


def learning(results, intervals=None) -> str:
    return report.learning_text(results, [*FROZEN_SEEDS, *MOVING], 0.2, 0.5, 300,
                                pooled_f1() if intervals is None else intervals)


def test_seeds_of_a_control():
    assert report.seeds_of("V2, small batches", [*FROZEN_SEEDS, *MOVING]) == MOVING
    assert report.seeds_of("V2, small batches, frozen BN", [*FROZEN_SEEDS, *MOVING]) == FROZEN_SEEDS
    assert report.seeds_text(["a"]) == "one seed" and report.seeds_text(["a", "b"]) == "2 seeds"


def test_learning_text_when_the_controls_were_not_run():
    assert report.learning_text({}, ["V2, frozen BN"], 0.2, 0.5, 300, pooled_f1()) == \
        "The small-batch controls were not run on this profile."


def test_learning_text_every_seed_calls_more():
    more = {"snp": moved(recall=0.01, precision=-0.01), "indel": moved(recall=0.02, precision=-0.01)}
    text = learning(controls([more, more], {}))
    assert "(V2, small batches, frozen BN; 2 seeds)" in text
    assert "SNP recall +0.0100 to +0.0100, SNP precision -0.0100 to -0.0100" in text
    assert "Every seed calls more variants. The RNA training labels are 20% hom-ref against 50%" in text
    assert "seeds disagree" not in text
    assert "(V2, small batches; one seed): SNP recall +0.0000" in text
    assert text.endswith("Neither raised F1 on both types beyond the noise (seeds pooled, 95 % intervals).")


def test_learning_text_seeds_disagree_and_one_collapsed():
    up = {"snp": moved(recall=0.01)}
    down = {"snp": moved(recall=-0.01, precision=-0.06)}
    text = learning(controls([up, down], {}))
    assert "SNP recall -0.0100 to +0.0100" in text
    assert "The seeds disagree on the direction: on 300 RNA training examples" in text
    assert "The run that lost most precision, V2, small batches, frozen BN (seed 2), called more variants" in text


def test_learning_text_seeds_disagree_without_a_collapse():
    text = learning(controls([{"snp": moved(recall=0.01)}, {"snp": moved(recall=-0.01, precision=-0.04)}], {}))
    assert "The seeds disagree" in text and "lost most precision" not in text


def test_learning_text_seeds_agree_without_calling_more():
    text = learning(controls([{"snp": moved(recall=-0.01)}, {"snp": moved(recall=-0.02)}], {}))
    assert "Every seed calls more" not in text and "seeds disagree" not in text


def test_learning_text_recall_fell_with_every_seed():
    text = learning(controls([{}, {}], {"snp": moved(recall=-0.01), "indel": moved(recall=-0.01)}))
    assert " Recall fell with every seed, as in the case study." in text


def test_learning_text_names_controls_whose_f1_rose_on_both_types_beyond_the_noise():
    results = controls([{}, {}], {"snp": moved(f1=0.01), "indel": moved(f1=0.01)})
    text = learning(results, pooled_f1(moving=(0.01, 0.002, 0.02)))
    assert "Recall fell with every seed" not in text
    assert text.endswith(" F1 rose on both types, beyond the noise (seeds pooled, 95 % intervals), for "
                         "V2, small batches.")
    # the same point changes with an interval that reaches zero: no claim
    assert learning(results, pooled_f1(moving=(0.01, -0.002, 0.02))).endswith("Neither raised F1 on both types "
                                                                              "beyond the noise (seeds pooled, 95 % intervals).")


def thin_controls(rise: tuple[float, float, float], precision: tuple[float, float, float]):
    """The lowest bucket's and the whole contig's intervals of a control against the original."""
    from lowcov.bootstrap import direction

    change, low, high = rise
    lowest = bucket_intervals([("Original", "SNP", 0.5, 0, 0, 0), ("V2, frozen BN", "SNP", 0.5 + change, *rise)])
    overall = pd.DataFrame([{"Model": "V2, frozen BN", "Type": kind, "Metric": "METRIC.Precision", "seeds": 1,
                             "estimate": 0.9, "low": 0.8, "high": 0.95, "change": precision[0],
                             "change_low": precision[1], "change_high": precision[2],
                             "direction": direction(precision[1], precision[2])} for kind in ("SNP", "INDEL")])
    return lowest, overall


def test_controls_thin_sites_when_no_control_ran():
    assert report.controls_thin_sites_text(pd.DataFrame(), pd.DataFrame(), []) == "No control was run on this profile."


def test_controls_thin_sites_when_no_control_raised_recall_beyond_the_noise():
    lowest, overall = thin_controls((0.1, -0.01, 0.2), (0.0, -0.01, 0.01))
    assert report.controls_thin_sites_text(lowest, overall, ["V2, frozen BN"]).startswith(
        "At depth 1-7 no control raised recall beyond the noise")


def test_controls_thin_sites_raised_recall_at_a_cost_in_precision():
    lowest, overall = thin_controls((0.1, 0.02, 0.2), (-0.01, -0.02, -0.004))
    text = report.controls_thin_sites_text(lowest, overall, ["V2, frozen BN"])
    assert text.startswith("At depth 1-7 recall rose for V2, frozen BN (SNP 0.500 to 0.600, change "
                           "+0.1000 [+0.0200, +0.2000]), and over all of chr1")


def test_controls_thin_sites_names_each_control_once_with_its_types():
    lowest = bucket_intervals([("Original", "SNP", 0.5, 0, 0, 0), ("Original", "INDEL", 0.4, 0, 0, 0),
                               ("V2, frozen BN", "SNP", 0.6, 0.1, 0.02, 0.2),
                               ("V2, frozen BN", "INDEL", 0.45, 0.05, 0.01, 0.09)])
    _, overall = thin_controls((0.1, 0.02, 0.2), (-0.01, -0.02, 0.001))
    assert report.controls_thin_sites_text(lowest, overall, ["V2, frozen BN"]) == (
        "At depth 1-7 recall rose for V2, frozen BN (SNP 0.500 to 0.600, change +0.1000 [+0.0200, +0.2000], "
        "INDEL 0.400 to 0.450, change +0.0500 [+0.0100, +0.0900]).")


def test_controls_thin_sites_raised_recall_without_a_detectable_cost():
    lowest, overall = thin_controls((0.1, 0.02, 0.2), (-0.01, -0.02, 0.001))
    assert report.controls_thin_sites_text(lowest, overall, ["V2, frozen BN"]) == \
        "At depth 1-7 recall rose for V2, frozen BN (SNP 0.500 to 0.600, change +0.1000 [+0.0200, +0.2000])."


# ---- chapter 3: the original model against bcftools -----------------------------------------------------

def summary(rows):
    """A benchmark summary with the columns versus_peer reads: (Type, Filter, FN, FP, F1)."""
    from types import SimpleNamespace

    return SimpleNamespace(summary=pd.DataFrame(rows, columns=["Type", "Filter", "TRUTH.FN", "QUERY.FP",
                                                               "METRIC.F1_Score"]))


PEER = summary([("SNP", "ALL", 3, 9, 0.9977), ("SNP", "PASS", 10, 1, 0.9978),
                ("INDEL", "ALL", 37, 105, 0.8826), ("INDEL", "PASS", 38, 62, 0.9142)])


def test_the_model_is_set_against_the_peers_better_row_per_type():
    model = summary([("SNP", "ALL", 2, 3, 0.9990), ("SNP", "PASS", 9, 9, 0.5),
                     ("INDEL", "ALL", 30, 20, 0.9100), ("INDEL", "PASS", 1, 1, 0.99)])
    table = report.versus_peer(model, PEER)
    assert list(table.index) == ["SNP", "INDEL"]
    assert list(table["peer filter"]) == ["PASS", "PASS"]
    assert table.loc["SNP", "F1 margin"] == pytest.approx(0.0012)
    assert list(table["fewer errors"]) == [11 - 5, 100 - 50]
    assert report.margin_text(table.loc["SNP"]) == ("ahead of bcftools' PASS calls by 0.0012 in F1 (6 fewer errors: "
                                                    "2 FN + 3 FP against 10 FN + 1 FP)")


def test_margin_text_behind_with_one_more_error():
    behind = report.versus_peer(summary([("SNP", "ALL", 4, 8, 0.99766), ("INDEL", "ALL", 54, 39, 0.9175)]), PEER)
    assert report.margin_text(behind.loc["SNP"]).startswith(
        "behind bcftools' PASS calls by 0.0001 in F1 (1 more error:")


def test_margin_text_level():
    level = report.versus_peer(summary([("SNP", "ALL", 10, 1, 0.9978), ("INDEL", "ALL", 38, 62, 0.9142)]), PEER)
    assert report.margin_text(level.loc["SNP"]).startswith("level with bcftools' PASS calls by 0.0000 in F1 "
                                                           "(0 fewer errors:")


def chapter3_results() -> dict:
    return {("Original", "full"): result(buckets=buckets(0.5, 0.4)),
            ("Original", "downsampled"): result(snp=moved(recall=-0.1), buckets=buckets(0.3, 0.2)),
            ("bcftools", "full"): result(snp=moved(f1=-0.02)), ("bcftools", "downsampled"): result()}


def test_dataset_values_name_f1_and_recall_per_dataset():
    from lowcov.study.evaluation import metrics_table

    values = report.dataset_values(metrics_table(chapter3_results()))
    assert values["original_downsampled_snp_recall"] == pytest.approx(0.8)
    assert values["original_full_indel_f1"] == pytest.approx(0.92)
    assert len(values) == 2 * 2 * 2


def test_peer_comparison_adds_the_peers_pass_rows():
    comparison = report.peer_comparison(chapter3_results())
    assert len(comparison) == 4 * 2 + 2 * 2  # ALL: 4 (model, dataset) x 2 types; PASS: bcftools' 2 x 2
    assert set(comparison[comparison.Filter == "PASS"].Model) == {"bcftools"}
    table = report.comparison_table(comparison)
    assert table.index.names == ["Type", "Dataset", "Model", "Filter"]
    bars = report.all_rows_per_dataset(comparison)
    assert list(bars.Model.unique()) == ["Original / full", "Original / downsampled", "bcftools / full",
                                         "bcftools / downsampled"]


def test_peer_values_are_the_pass_rows():
    comparison = pd.DataFrame({"Model": ["bcftools", "bcftools", "Original"], "Filter": ["PASS", "ALL", "ALL"],
                               "Dataset": ["full"] * 3, "Type": ["SNP"] * 3, "METRIC.F1_Score": [0.9, 0.8, 0.7]})
    assert report.peer_values(comparison) == {"bcftools_full_snp_f1": 0.9}


def test_versus_peer_values_name_each_dataset_and_type():
    versus = pd.concat({"full": report.versus_peer(summary([("SNP", "ALL", 10, 1, 0.9978),
                                                            ("INDEL", "ALL", 38, 62, 0.9142)]), PEER)},
                       names=["Dataset"])
    values = report.versus_peer_values(versus)
    assert set(values) == {"versus_full_snp", "versus_full_indel"}
    assert values["versus_full_snp"].startswith("level with bcftools'")


def test_recall_by_dataset_bucket():
    table = report.recall_by_dataset_bucket(chapter3_results())
    assert table.loc[("downsampled", "SNP", "depth_1-7"), ("METRIC.Recall", "Original")] == pytest.approx(0.3)
    assert table.loc[("full", "INDEL", "depth_8-20"), ("TRUTH.TOTAL", "Original")] == 40


# ---- chapter 6: the fine-tuning runs --------------------------------------------------------------------

def test_config_table_shows_changed_keys_and_the_always_shown_ones():
    from lowcov.train import TrainConfig

    configs = {"V1": TrainConfig(batch_size=256, num_threads=4), "V2": TrainConfig(learning_rate=0.5)}
    table = report.config_table(TrainConfig(), configs, hidden=("num_threads",),
                                always=("best_checkpoint_metric",))
    assert list(table.index) == ["batch_size", "learning_rate", "best_checkpoint_metric", "init_checkpoint"]
    assert list(table.columns) == ["DeepVariant default", "V1", "V2"]
    assert table.loc["batch_size", "V1"] == "256" and table.loc["init_checkpoint", "DeepVariant default"] == "''"


def test_config_differences_list_only_disagreeing_keys():
    from lowcov.train import TrainConfig

    table = report.config_differences(TrainConfig(batch_size=1, init_checkpoint="a"), TrainConfig(batch_size=2),
                                      ("bullets", "command"))
    assert table.to_dict("index") == {"batch_size": {"bullets": "1", "command": "2"}}
    mixed = report.config_differences(TrainConfig(batch_size=1, weight_decay=5e-05), TrainConfig(batch_size=2),
                                      ("bullets", "command"))
    assert mixed.loc["batch_size", "bullets"] == "1" and mixed.loc["weight_decay", "bullets"] == "5e-05"


def test_schedule_values_count_steps_and_the_peak_learning_rate():
    from lowcov.train import TrainConfig

    values = report.schedule_values({"V1": TrainConfig(batch_size=256, num_epochs=2, warmup_steps=100,
                                                       learning_rate=0.01)}, n_train=300)
    assert values["v1_steps_per_epoch"] == 2 and values["v1_planned_steps"] == 4 and values["v1_warmup"] == 100
    assert 0.001 < values["v1_peak_lr"] < 0.01  # still warming up at the last step


def training_run(tmp_path, name: str, start: float, last: float, best_step: int = 3, steps: int = 3,
                 selected: float | None = None, seed: int = 2024, warmup_steps: int = 500):
    from types import SimpleNamespace

    log = tmp_path / f"{name}.csv"
    pd.DataFrame({"event": ["init", "train", "tune"], "step": [0, 1, 3], "tune_f1_weighted": [start, None, last],
                  "learning_rate": [0.0, 0.001, 0.002]}).to_csv(log, index=False)
    return SimpleNamespace(log_path=log, best_step=best_step,
                           best_metrics={"tune/f1_weighted": last if selected is None else selected}, steps=steps,
                           epochs=1, stopped_by="epochs", wall_seconds=1.234,
                           config=SimpleNamespace(seed=seed, warmup_steps=warmup_steps))


def scheduled_run(tmp_path, name: str, steps: int, steps_per_epoch: int, **config):
    """A run whose training log holds the learning rate of every update, as train's schedule gives it."""
    from types import SimpleNamespace

    from lowcov.train import TrainConfig, learning_rate_at

    train_config = TrainConfig(**config)
    log = tmp_path / f"{name}.csv"
    pd.DataFrame({"event": ["init"] + ["train"] * steps, "step": range(steps + 1),
                  "learning_rate": [learning_rate_at(0, train_config, steps_per_epoch)]
                  + [learning_rate_at(step, train_config, steps_per_epoch) for step in range(steps)]}).to_csv(log, index=False)
    return SimpleNamespace(log_path=log, steps=steps, epochs=steps / steps_per_epoch, stopped_by="num_epochs",
                           config=train_config, precision="bfloat16" if name == "v1" else "float32")


def test_schedule_table_says_how_far_each_run_got_along_its_warm_up(tmp_path):
    runs = {"V1": scheduled_run(tmp_path, "v1", 100, 10, batch_size=256, learning_rate=0.001, warmup_steps=1000),
            "V2": scheduled_run(tmp_path, "v2", 600, 30, batch_size=256, learning_rate=0.001, warmup_steps=500,
                                learning_rate_decay_rate=0.995),
            "small batches": scheduled_run(tmp_path, "c", 80, 80, batch_size=32, learning_rate=0.001, warmup_steps=0)}
    table = report.schedule_table(runs)
    assert table.loc["V1", "steps run"] == 100 and table.loc["V1", "steps per epoch"] == 10
    assert not table.loc["V1", "warm-up ended"] and table.loc["V2", "warm-up ended"]
    assert table.loc["small batches", "warm-up ended"] and table.loc["small batches", "batch size"] == 32
    assert (table.loc["V1", "arithmetic"], table.loc["V2", "arithmetic"]) == ("bfloat16", "float32")
    # V1 climbs linearly from a tenth of its rate towards the rate decayed to step 1000 (0.9999 every 22 steps):
    # its last update, after 99 steps, is 99/1000 of the way
    target = 0.9999 ** (1000 // 22)
    assert table.loc["V1", "peak learning rate"] == pytest.approx(0.001 * (0.1 + (target - 0.1) * 99 / 1000))
    # V2's peak is where its warm-up ends, at the rate already decayed 0.995 every 67 steps (2.25 epochs of 30)
    assert table.loc["V2", "peak / configured"] == pytest.approx(0.995 ** (500 // 67))
    assert table.loc["small batches", "peak / configured"] == pytest.approx(1.0)
    text = report.schedule_text(table)
    assert text.startswith("Still inside the warm-up when training stopped: V1 ran 100 of 1000 warm-up steps")
    assert "(19% of the learning rate)" in text and text.endswith("Past it: V2.")
    # seeds of one run share a schedule and are named together
    seeds = report.schedule_table({"V1 (seed 1)": runs["V1"], "V1 (seed 2)": runs["V1"]})
    assert report.schedule_text(seeds).startswith("Still inside the warm-up when training stopped: V1 (seed 1), "
                                                  "V1 (seed 2) ran 100 of 1000 warm-up steps and peaked at 1.89e-04")
    assert report.schedule_text(table.drop(index="V1")).startswith("Every run with a warm-up got past it")
    assert report.schedule_text(table.loc[["small batches"]]) == "No run has a warm-up."


def test_fine_tune_summary_and_values(tmp_path):
    runs = {"V1": training_run(tmp_path, "v1", 0.995, 0.9, best_step=1), "V2": training_run(tmp_path, "v2", 0.995, 0.8)}
    summary = report.fine_tune_summary(runs)
    assert summary.loc["V2", "last tune f1_weighted"] == 0.8 and summary.loc["V1", "tune evaluations"] == 1
    assert summary.loc["V1", "warm start tune f1_weighted (the bar)"] == 0.995
    assert summary.loc["V1", "seconds"] == 1.2 and summary.loc["V1", "peak learning rate"] == 0.002
    assert not summary.loc["V1", "warm-up ended"]  # 3 steps of a 500-step warm-up
    values = report.fine_tune_values(runs)
    assert values["v1_selected_text"] == "the checkpoint of step 1"
    assert values["v2_selected_text"] == "the checkpoint of step 3"
    assert values["v2_start_f1"] == 0.995 and values["v2_steps"] == 3


def test_self_labelled_text_when_no_trained_checkpoint_reaches_the_warm_start(tmp_path):
    summary = report.fine_tune_summary({"V1": training_run(tmp_path, "v1", 0.99, 0.9)})
    assert report.self_labelled_text(summary).startswith("No trained checkpoint reaches the warm start's score")


def test_self_labelled_text_when_trained_checkpoints_score_higher(tmp_path):
    summary = report.fine_tune_summary({"V1": training_run(tmp_path, "v1", 0.95, 0.97)})
    assert report.self_labelled_text(summary).startswith("Every run's selected checkpoint scores above")


def test_self_labelled_text_when_the_runs_disagree(tmp_path):
    summary = report.fine_tune_summary({"V1": training_run(tmp_path, "v1", 0.995, 0.9),
                                        "V2": training_run(tmp_path, "v2", 0.98, 0.99)})
    assert report.self_labelled_text(summary).startswith("The runs differ")


def test_self_labelled_text_when_the_selected_checkpoints_tie_with_the_warm_start(tmp_path):
    summary = report.fine_tune_summary({"V1": training_run(tmp_path, "v1", 1.0, 1.0), "V2": training_run(tmp_path, "v2", 1.0, 1.0)})
    assert report.self_labelled_text(summary).startswith("Every run's selected checkpoint scores exactly as the warm start")


def test_replicate_summary_lists_every_seed(tmp_path):
    table = report.replicate_summary({"V2": [training_run(tmp_path, "a", 0.99, 0.9, seed=2024),
                                             training_run(tmp_path, "b", 0.99, 0.92, seed=2025)]})
    assert list(table.index) == ["V2 (seed 2024)", "V2 (seed 2025)"]
    assert table.loc["V2 (seed 2025)", "selected tune f1_weighted"] == 0.92


def intervals_table(v2_recall_change=(-0.03, -0.05, -0.01), v1_f1_change=(0.01, 0.004, 0.02)):
    """A bootstrap table as lowcov.bootstrap.intervals returns it, by hand."""
    rows = []
    for model, seeds in (("Original", 1), ("V1", 3), ("V2", 3)):
        for kind in ("SNP", "INDEL"):
            for metric in ("METRIC.Recall", "METRIC.Precision", "METRIC.F1_Score"):
                change, low, high = 0.0, 0.0, 0.0
                if model == "V2" and metric == "METRIC.Recall":
                    change, low, high = v2_recall_change
                if model == "V1" and metric == "METRIC.F1_Score":
                    change, low, high = v1_f1_change
                from lowcov.bootstrap import direction
                rows.append({"Model": model, "Type": kind, "Metric": metric, "seeds": seeds, "estimate": 0.9 + change,
                             "low": 0.88 + change, "high": 0.92 + change, "change": change, "change_low": low,
                             "change_high": high, "direction": "" if model == "Original" else direction(low, high)})
    return pd.DataFrame(rows)


def test_interval_tables_show_estimates_intervals_and_words():
    table = intervals_table()
    shown = report.interval_table(table, ["Original", "V2"], published={"case study V2": {("SNP", "METRIC.Recall"): 0.873}})
    assert shown.loc["Original", ("SNP", "Recall")] == "0.9000 [0.8800, 0.9200]"
    assert shown.loc["V2 (mean of 3 seeds)", ("INDEL", "Recall")] == "0.8700 [0.8500, 0.8900]"
    assert shown.loc["case study V2", ("SNP", "Recall")] == "0.8730"
    changes = report.change_table(table, ["V1", "V2"])
    assert changes.loc["V2", ("SNP", "Recall")] == "-0.0300 [-0.0500, -0.0100] lower"
    assert changes.loc["V1", ("SNP", "F1_Score")] == "+0.0100 [+0.0040, +0.0200] higher"
    assert changes.loc["V2", ("SNP", "Precision")].endswith("no detectable change")
    values = report.interval_values(table, {"Original": "original", "V1": "v1", "V2": "v2"})
    assert values["v2_indel_recall_change_interval"] == "-0.0300 [-0.0500, -0.0100]"
    assert values["original_snp_recall_interval"] == "0.9000 [0.8800, 0.9200]"
    assert "original_snp_recall_change_interval" not in values
    with pytest.raises(KeyError, match="no intervals"):
        report.interval_table(table, ["V9"])


@pytest.mark.parametrize("v1_f1, v2_recall, start", [
    ((0.01, 0.004, 0.02), (-0.03, -0.05, -0.01), "F1 is higher on both SNPs and indels, beyond the 95 % interval, for V1"),
    ((-0.01, -0.02, -0.004), (0.0, -0.01, 0.01), "No fine-tuned model has a higher F1 than the original on both "
                                                 "types beyond the 95 % interval; lower for V1 (SNP, INDEL)."),
    ((0.001, -0.002, 0.004), (0.0, -0.01, 0.01), "No fine-tuned model's F1 differs from the original's"),
])
def test_interval_verdict_branches(v1_f1, v2_recall, start):
    table = intervals_table(v2_recall_change=v2_recall, v1_f1_change=v1_f1)
    assert report.interval_verdict_text(table, ["V1", "V2"]).startswith(start)


def test_interval_verdict_names_a_model_higher_on_one_type():
    table = intervals_table(v1_f1_change=(0.0, -0.01, 0.01))
    table.loc[(table.Model == "V2") & (table.Type == "INDEL") & (table.Metric == "METRIC.F1_Score"),
              ["change", "change_low", "change_high", "direction"]] = [0.006, 0.0003, 0.0126, "higher"]
    assert report.interval_verdict_text(table, ["V1", "V2"]) == (
        "No fine-tuned model has a higher F1 than the original on both types beyond the 95 % interval; "
        "F1 is higher on one type only for V2 (INDEL).")
    assert report.with_interval(-0.0, -0.00001, 0.0, signed=True) == "+0.0000 [+0.0000, +0.0000]"


def test_resolution_and_bar_texts():
    text = report.resolution_text({"SNP": 0.01, "INDEL": 0.03}, {"SNP": 2500, "INDEL": 570}, 100_000, 40)
    assert "40 blocks of 100 kb" in text and "INDEL: 0.0300 (17 of 570 variants)" in text
    bar = report.bar_value_text(0.99, {"V1": (1, 0.98), "V2": (20, 0.995)})
    assert "never saves the warm start" in bar and "step 1 (f1_weighted 0.9800, below the bar)" in bar
    assert "step 20 (f1_weighted 0.9950, above the bar)" in bar


def test_controls_table_marks_the_runs_made_here():
    from types import SimpleNamespace

    a = SimpleNamespace(name="a", extra=["x=1", "y=2"], purpose="p", seeds=(1, 2), examples="rna", steps_of_v2=False)
    b = SimpleNamespace(name="b", extra=[], purpose="q", seeds=(3,), examples="dna_low_coverage", steps_of_v2=True)
    table = report.controls_table([a, b], [b])
    assert table.to_dict("index") == {"a": {"added to V2's list": "x=1; y=2", "trained on": "V2's RNA examples",
                                            "what it isolates": "p", "seeds": "1, 2", "run here": False},
                                      "b": {"added to V2's list": "V2's number of steps",
                                            "trained on": "50 % DNA, truth labels", "what it isolates": "q",
                                            "seeds": "3", "run here": True}}


DRIFT = {"weights_relative": 1e-4, "weights_max_abs": 1e-3, "batch_norm_statistics_relative": 0.2,
         "batch_norm_statistics_max_abs": 3.0}


def test_drift_table_and_values(tmp_path):
    runs = {"V2": training_run(tmp_path, "v2", 0.99, 0.9)}
    table = report.drift_table(runs, {"V2": DRIFT})
    assert table.loc["V2", "peak learning rate"] == 0.002 and table.loc["V2", "steps run"] == 3
    assert report.drift_values({"v2": DRIFT}) == {"v2_weights_drift": 1e-4, "v2_bn_drift": 0.2}


def test_controls_drift_text_when_no_control_ran():
    assert report.controls_drift_text(pd.DataFrame(), [], {}) == "No control was run on this profile."


def test_controls_drift_text_lists_the_selected_checkpoints(tmp_path):
    control_runs = {"c": training_run(tmp_path, "c", 0.99, 0.9, best_step=2)}
    drifts = report.drift_table(control_runs, {"c": DRIFT})
    assert report.controls_drift_text(drifts, ["c"], control_runs).endswith(" Selected checkpoints: c step 2.")


# ---- chapter 8: what the rendering was computed with ----------------------------------------------------

def test_short_and_relative(tmp_path):
    assert report.short("abc") == "abc" and report.short({"a": 1}) == '{"a": 1}'
    assert report.short("x" * 10, width=6) == "xxx..."
    assert report.relative(str(tmp_path / "a" / "b"), tmp_path) == "a/b"
    assert report.relative("/elsewhere/c", tmp_path) == "/elsewhere/c"


def test_notebook_runs_with_and_without_records(tmp_path):
    runs = report.notebook_runs({"02.ipynb": {"finished": "t2", "seconds": 60, "parameters": {"force": True}},
                                 "01.ipynb": {"finished": "t1", "seconds": 120}})
    assert list(runs.notebook) == ["01.ipynb", "02.ipynb"] and runs["parameters passed"].iloc[1] == '{"force": true}'
    assert report.notebook_runs_values(runs) == {"total_run_minutes": 3.0, "notebooks_recorded": 2}
    assert list(report.notebook_runs_table(runs, tmp_path / "state.json").index) == ["01.ipynb", "02.ipynb"]
    empty = report.notebook_runs({})
    assert report.notebook_runs_values(empty) == {"total_run_minutes": 0.0, "notebooks_recorded": 0}
    assert report.notebook_runs_table(empty, tmp_path / "state.json").endswith("state.json records no runs yet")


def test_notebook_parameters_read_defaults_comments_and_what_was_passed(tmp_path):
    import json

    path = tmp_path / "07_x.ipynb"
    path.write_text(json.dumps({"cells": [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]},
         "source": ['profile = "demo"   # "demo" or "seed"\n', "force = False\n", "n = 3  # how many"]}]}))
    table = report.notebook_parameters({"07_x": path}, {"07_x.ipynb": {"force": True, "n": 3}})
    assert table.loc[("07_x", "profile"), "meaning"] == '"demo" or "seed"'
    assert table.loc[("07_x", "force"), "this run"] == "True"
    assert table.loc[("07_x", "n"), "this run"] == "" and table.loc[("07_x", "n"), "default"] == "3"


def test_package_versions_list_lowcov_and_its_requirements():
    table = report.package_versions(indirect=("pytest", "surely-not-installed-package"))
    assert "lowcov" in table.index and "pandas" in table.index
    assert table.loc["pytest", "required"] == "(indirect)"
    assert "surely-not-installed-package" not in table.index


def test_software_names_python_and_the_bundled_tools():
    tools = report.software()
    assert {"python", "htslib (bundled in pysam)", "minimap2 (mappy)", "torch device"} <= set(tools)


def test_manifest_tables(tmp_path):
    import json

    stage = tmp_path / "data" / "demo" / "calls"
    stage.mkdir(parents=True)
    (stage / "call.manifest.json").write_text(json.dumps({
        "stage": "call", "finished": "t", "seconds": 1.26, "params": {"a": {"b": 1}, "c": "x"},
        "inputs": [{"path": str(tmp_path / "in.bam"), "size": 3, "sha256": "f" * 64}],
        "outputs": [{"path": "/other/out.vcf", "size": 4, "mtime_ns": 9}]}))
    records = report.manifest_records(tmp_path / "data")
    stages = report.manifest_stages(records, tmp_path)
    assert stages.loc["call", "directory"] == "data/demo/calls" and stages.loc["call", "seconds"] == 1.3
    inputs = report.manifest_files(records, tmp_path, "inputs")
    assert inputs.loc[("call", "in.bam"), "sha256"] == "f" * 64
    assert report.manifest_files(records, tmp_path, "outputs").loc[("call", "/other/out.vcf"), "sha256"] == "(mtime) 9"
    params = report.manifest_parameters(records)
    assert params.loc[("call", "a.b"), "value"] == "1" and params.loc[("call", "c"), "value"] == "x"
    assert report.manifest_files({}, tmp_path, "inputs") == "no stage recorded inputs"
    assert report.manifest_parameters({}) == "no stage recorded parameters"


def test_training_runs_and_example_sets(tmp_path):
    import json

    assert report.training_runs(tmp_path, tmp_path) == "no training runs yet"
    assert report.example_sets(tmp_path, tmp_path) == "no example sets yet"
    (tmp_path / "models" / "v1").mkdir(parents=True)
    (tmp_path / "models" / "v1" / "best_checkpoint.json").write_text(json.dumps({
        "complete": True, "steps": 5, "best_step": 0, "best_checkpoint_metric": "tune/f1_weighted", "best_value": 0.9,
        "init": {"checkpoint": str(tmp_path / "models" / "original" / "best.pt")}}))
    (tmp_path / "examples" / "dna.train").mkdir(parents=True)
    (tmp_path / "examples" / "dna.train" / "example_info.json").write_text(json.dumps({
        "mode": "training", "n_examples": 7, "height": 100, "width": 221, "channels": ["a", "b"],
        "class_counts": {"hom_ref": 1}}))
    runs = report.training_runs(tmp_path, tmp_path)
    assert runs.loc["v1", "tune/f1_weighted"] == 0.9 and runs.loc["v1", "initialised from"] == "models/original/best.pt"
    sets = report.example_sets(tmp_path, tmp_path)
    assert sets.loc["dna.train", "geometry"] == "100 x 221 x 2" and sets.loc["dna.train", "examples"] == 7


# ---- chapters 4 and 5: the pseudo-truth and the RNA examples --------------------------------------------

FACTS = {"rna_examples": 50, "contigs": ["chr2", "chr10"], "confident_bases": 1000, "rna_min_depth_bases": 1500,
         "filter": {"records": 40, "not_pass": 10, "ref_genotype": 5, "low_gq": 0, "low_depth": 1, "kept": 24}}


def test_pseudo_truth_steps_and_values():
    steps = report.pseudo_truth_steps(FACTS, 0, 3)
    assert steps.records.to_dict() == {"RNA calling examples (candidates)": 50, "calls written": 40,
                                       "removed: not PASS (RefCall/LowQual)": 10, "removed: reference genotype": 5,
                                       "removed: GQ < 0": 0, "removed: DP < 3": 1, "pseudo-truth variants": 24}
    assert report.pseudo_truth_values(FACTS) == {"rna_contigs": "chr2, chr10", "pseudo_truth_variants": 24,
                                                 "rna_calls": 40, "rna_confident_bases": 1000,
                                                 "rna_min_depth_bases": 1500}


def test_pseudo_truth_quality_glues_counts_as_integers():
    quality = result()
    quality.summary["QUERY.TOTAL.het_hom_ratio"] = 3.0
    quality.summary["TRUTH.TOTAL.het_hom_ratio"] = 1.5
    values = report.pseudo_truth_quality(quality)
    assert values["pseudo_snp_total"] == 100 and isinstance(values["pseudo_snp_total"], int)
    assert values["pseudo_indel_gt"] == 2 and values["pseudo_indel_fp"] == 5
    assert values["pseudo_snp_f1_score"] == pytest.approx(0.92) and isinstance(values["pseudo_snp_recall"], float)
    assert values["pseudo_snp_het_hom"] == 3.0 and values["truth_indel_het_hom"] == 1.5


def test_gq_sweep_one_row_per_type_and_threshold():
    table = report.gq_sweep({0: {"kept": 24}, 20: {"kept": 20}}, {0: result(), 20: result(snp=moved(recall=-0.1))})
    assert list(table.index) == [("INDEL", 0), ("INDEL", 20), ("SNP", 0), ("SNP", 20)]
    assert table.loc[("SNP", 20), "METRIC.Recall"] == pytest.approx(0.8)
    assert table.loc[("SNP", 20), "pseudo-truth variants"] == 20


def test_editing_values_and_table():
    calls = pd.DataFrame({"position": [1, 2, 3], "GT": ["0/1", "0/0", "1/1"]})
    in_truth = pd.DataFrame({"position": [3]})
    assert report.editing_values(5, calls, in_truth) == {"editing_sites": 5, "editing_called": 2,
                                                         "editing_in_truth": 1}
    assert list(report.editing_table(calls, in_truth)["in pseudo-truth"]) == [False, False, True]


def test_class_balance_values_and_table():
    balance = pd.DataFrame({"hom_ref": [6, 3], "het": [3, 1], "hom_alt": [0, 1], "examples": [9, 5],
                            "het fraction": [1 / 3, 0.2]}, index=["train", "tune"])
    values = report.class_balance_values(balance, {"hom_ref": 2, "het": 4, "hom_alt": 2})
    assert values["rna_train_examples"] == 9 and values["rna_tune_hom_alt"] == 1
    assert values["rna_train_het_per_homalt"] == 3.0  # no hom-alt: the het count
    assert values["dna_het_fraction"] == 0.5 and values["dna_het_per_homalt"] == 2.0
    html = report.class_balance_table(balance).to_html()
    assert "0.333" in html and ">6<" in html


def test_discussed_keeps_the_columns_the_text_reads():
    table = pd.DataFrame([{"Type": "SNP", "Filter": "ALL", "Source": "lowcov", "TRUTH.TP": 1, "FP.gt": 2,
                           **{c: 0.123456 for c in report.DISCUSSED_COLUMNS}}])
    cut = report.discussed(table)
    assert list(cut.columns) == ["TRUTH.TOTAL", "TRUTH.FN", "QUERY.FP", "Recall", "Precision", "F1_Score"]
    assert cut.index.names == ["Type", "Filter", "Source"]
    assert cut.loc[("SNP", "ALL", "lowcov"), "Recall"] == 0.1235


def test_published_metrics_read_the_all_rows():
    from lowcov.benchmark import case_study

    table = case_study.published_table("v2")
    values = report.published_metrics(table)
    assert values["INDEL", "METRIC.Recall"] == pytest.approx(0.621695)  # the case study's V2 INDEL recall
    assert set(values) == {(kind, metric) for kind in ("INDEL", "SNP") for metric in report.MOVED_METRICS.values()}


def sweep_rows(model, kind, words_by_depth):
    return [{"Model": model, "Type": kind, "Metric": "METRIC.F1_Score", "Depth": depth, "direction": word}
            for depth, word in words_by_depth.items()]


def test_sweep_text_says_where_a_model_crosses_the_original():
    table = pd.DataFrame(sweep_rows("V2", "SNP", {3.0: "lower", 15.0: "no detectable change", 30.0: "higher"})
                         + sweep_rows("V2", "INDEL", {3.0: "lower", 15.0: "lower", 30.0: "no detectable change"})
                         + sweep_rows("DNA", "SNP", {3.0: "no detectable change", 30.0: "no detectable change"})
                         + sweep_rows("DNA", "INDEL", {3.0: "higher", 30.0: "no detectable change"})
                         + sweep_rows("bcftools", "SNP", {3.0: "lower"}) + sweep_rows("bcftools", "INDEL", {3.0: "higher"})
                         + sweep_rows("DNA at 50 %", "SNP", {3.0: "lower"}))
    text = report.sweep_text(table, ["V2", "DNA", "bcftools", "DNA at 50 %"])
    assert "the SNP F1 of DNA at 50 % is lower at 3x" in text and "50 %'s" not in text
    assert "bcftools' SNP F1 is lower at 3x" in text
    assert "V2's SNP F1 crosses the original's: higher at 30x, lower at 3x" in text
    assert "V2's INDEL F1 is lower at 3x, 15x and never crosses the original's" in text
    assert "DNA's SNP F1 shows no detectable change at any depth" in text
    assert "DNA's INDEL F1 is higher at 3x and never crosses" in text


def test_rehearsal_notice_only_where_the_standin_wrote(tmp_path):
    from lowcov.report.deepvariant import STANDIN_MARKER, rehearsal_text, standin_outputs

    real, rehearsed = tmp_path / "real", tmp_path / "rehearsed"
    for folder in (real, rehearsed):
        folder.mkdir()
        (folder / "calls.vcf.gz").write_bytes(b"")
    assert rehearsal_text([real / "calls.vcf.gz", real]) == ""
    (rehearsed / STANDIN_MARKER).write_text("stand-in\n")
    assert standin_outputs([real / "calls.vcf.gz", rehearsed / "calls.vcf.gz", rehearsed]) == [rehearsed]
    text = rehearsal_text([real / "calls.vcf.gz", rehearsed / "calls.vcf.gz"])
    assert text.startswith("**Rehearsal, not DeepVariant.**") and str(rehearsed) in text
    assert "placeholders" in text


def test_deepvariant_sentences_follow_the_results():
    import pandas as pd

    from lowcov.report.deepvariant import fine_tune_text, pseudo_truth_text, training_data_text

    facts = {"contigs": ["1", "2", "10"], "confident_bases": 1234, "rna_min_depth_bases": 2000,
             "filter": {"records": 70, "kept": 50, "not_pass": 20, "ref_genotype": 0, "low_gq": 0, "low_depth": 0}}
    other_build = pseudo_truth_text(facts, 3)
    assert "70 calls" in other_build and "50 of them" in other_build and "without the DNA confident" in other_build
    assert "inside the DNA confident regions" in pseudo_truth_text({**facts, "dna_confident_intersected": True}, 3)
    balance = pd.DataFrame({"examples": [40, 7]}, index=["training_set", "validation_set"])
    assert "40 training examples and 7 validation examples (`10`)" in training_data_text(balance, "10")
    summary = pd.DataFrame({"checkpoints saved": [10], "selected checkpoint": ["checkpoint-5-0.92969-1"],
                            "selected step": [5], "selected tune metric": [0.92969]}, index=["V1"])
    assert "V1 saved 10 checkpoints and deploys `checkpoint-5-0.92969-1` (step 5" in fine_tune_text(summary)


def test_pseudo_truth_quality_of_a_type_without_variants():
    """A tiny genome's RNA confident regions may hold no indel: nothing is counted and no fraction is made up."""
    quality = result()
    quality.summary["QUERY.TOTAL.het_hom_ratio"] = 3.0
    quality.summary["TRUTH.TOTAL.het_hom_ratio"] = 1.5
    quality.summary = quality.summary[quality.summary.Type != "INDEL"]
    values = report.pseudo_truth_quality(quality)
    assert values["pseudo_indel_total"] == 0 and values["pseudo_indel_gt"] == 0
    assert math.isnan(values["pseudo_indel_recall"]) and math.isnan(values["truth_indel_het_hom"])
    assert values["pseudo_snp_total"] == 100 and values["pseudo_snp_het_hom"] == 3.0
