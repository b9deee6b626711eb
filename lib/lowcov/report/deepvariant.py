"""The deepvariant engine's words in chapters 3-7: what ran, what the book's native-only parts become, and a
plain notice when the numbers come from the test stand-in rather than from DeepVariant."""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

#: the file the test stand-in (``tests/standin``) leaves in every folder it writes to: DeepVariant never does
STANDIN_MARKER = "STANDIN-OUTPUT.txt"
STANDIN_MARKER_TEXT = ("Written by lowcov's test stand-in for DeepVariant's containers (tests/standin): "
                       "placeholder outputs with DeepVariant's formats, not DeepVariant's results.\n")


def standin_outputs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The folders among ``paths`` (files stand for their folder) that hold the stand-in's marker."""
    folders = {Path(p) if Path(p).is_dir() else Path(p).parent for p in paths}
    return sorted(folder for folder in folders if (folder / STANDIN_MARKER).exists())


def rehearsal_text(paths: Iterable[str | os.PathLike]) -> str:
    """A warning sentence when any of ``paths`` was written by the stand-in, else ''."""
    marked = standin_outputs(paths)
    if not marked:
        return ""
    return ("**Rehearsal, not DeepVariant.** These outputs were written by lowcov's test stand-in for the "
            f"container runtime ({len(marked)} folder(s), e.g. {marked[0]}): it checks every DeepVariant command "
            "against DeepVariant 1.8's flags and writes files in DeepVariant's formats, but its calls, labels, "
            "checkpoints and curves are placeholders. No number in this chapter says anything about DeepVariant "
            "or about the data.")


def engine_table(description: Mapping[str, str]) -> pd.DataFrame:
    """What runs the chapter (:func:`lowcov.study.deepvariant.describe`) as a two-column table."""
    return pd.Series(dict(description), name="value").to_frame()


def published_model_text(test_contig: str, fraction: float) -> str:
    return (f"On the deepvariant engine there is no model to train: the case study's Quick Tests run DeepVariant's "
            f"published WGS model (the image's built-in checkpoint) with `run_deepvariant --model_type=WGS` on "
            f"`{test_contig}` at full coverage and at {fraction:.0%} of its reads, and the calls are scored by "
            "lowcov's benchmark as hap.py would score them.")


def pseudo_truth_facts_table(facts: Mapping[str, Any], min_gq: int, min_depth: int) -> pd.DataFrame:
    """How DeepVariant's WES calls on the RNA became the pseudo-truth: calls, each filter, what is left,
    and the RNA confident bases."""
    kept = facts["filter"]
    return pd.Series({"RNA contigs called": ", ".join(facts["contigs"]), "calls written": kept["records"],
                      "removed: not PASS (RefCall/LowQual)": kept["not_pass"],
                      "removed: reference genotype": kept["ref_genotype"], f"removed: GQ < {min_gq}": kept["low_gq"],
                      f"removed: DP < {min_depth}": kept["low_depth"], "pseudo-truth variants": kept["kept"],
                      f"RNA bases with depth >= {min_depth}": facts["rna_min_depth_bases"],
                      "RNA confident bases": facts["confident_bases"]}, name="value").to_frame()


def pseudo_truth_text(facts: Mapping[str, Any], min_depth: int) -> str:
    kept = facts["filter"]
    where = ("inside the DNA confident regions" if facts.get("dna_confident_intersected") else
             "without the DNA confident regions, which are coordinates of the DNA build (the RNA reads are "
             "aligned to another one; lifting the regions over is not done here)")
    return (f"DeepVariant's WES model made {kept['records']} calls on the RNA reads of {len(facts['contigs'])} "
            f"contigs; {kept['kept']} of them form the pseudo-truth. The RNA confident regions are the "
            f"{facts['confident_bases']} bases with RNA depth of at least {min_depth}, {where}. The pseudo-truth "
            "cannot be benchmarked here: the case study's RNA sample has no truth set.")


def training_data_text(balance: pd.DataFrame, tune_contig: str) -> str:
    train, tune = balance.loc["training_set"], balance.loc["validation_set"]
    return (f"make_examples labelled {int(train['examples'])} training examples and {int(tune['examples'])} "
            f"validation examples (`{tune_contig}`); after the seeded shuffle, each set's "
            "`dataset_config.pbtxt` counts them and `example_info.json` lies beside the shards, as DeepVariant's "
            "train requires.")


def skipped_controls_text() -> str:
    return ("V1 and V2 run once each, as in the case study. Of the book's controls, the two about batch "
            "normalisation run below on DeepVariant's own network; the others (small batches, 50 % DNA, RNA "
            "labelled by the truth) are not run on this engine: each would be a further fine-tuning of DeepVariant's "
            "network, the data controls on examples DeepVariant's make_examples has not made here.")


def fine_tune_text(summary: pd.DataFrame, metric: str = "tune/f1_weighted") -> str:
    parts = [f"{name} saved {int(row['checkpoints saved'])} checkpoints and deploys `{row['selected checkpoint']}` "
             f"(step {int(row['selected step'])}, {metric} {float(row['selected tune metric']):.4f})"
             for name, row in summary.iterrows()]
    return ("Each run's checkpoint is chosen as DeepVariant's users choose it, the best " + metric
            + " among the saved EMA checkpoints: " + "; ".join(parts) + ".")


def deepvariant_examples_text(rna_test_contig: str, rna_tune_contig: str) -> str:
    return ("The case study's \"Make Examples\" step as it ran it: DeepVariant's `make_examples --mode training` on "
            "the RNA reads, in shards, labelled by the RNA pseudo-truth of the previous chapter inside the RNA "
            f"confident regions, over every RNA autosome (its `--regions`, which include `{rna_test_contig}`: the "
            f"RNA of the test chromosome trains, its DNA tests) except `{rna_tune_contig}` (its `--exclude_regions`), "
            f"and again over `{rna_tune_contig}` alone for the validation set; then shuffled into the files "
            "`train` reads.")


def deepvariant_fine_tune_intro() -> str:
    return ("The case study's \"Fine tuning\" step as it ran it: DeepVariant's `train --config=dv_config.py:wgs` "
            "from the published WGS checkpoint (`--config.init_checkpoint`), on the shuffled RNA examples of the "
            "previous chapter, with V1's and V2's overrides as the case study's text lists them (each line below, "
            "passed as `--config.<key>=<value>`); `train` saves an EMA checkpoint named after its step and "
            "`tune/f1_weighted` at every tune, and writes its curves into TensorBoard event files.")


def deepvariant_evaluation_text(checkpoints: Mapping[str, os.PathLike], test_contig: str, dataset: str) -> str:
    named = "; ".join(f"{name}: `{Path(prefix).name}`" for name, prefix in checkpoints.items())
    controls = [name for name in checkpoints if name not in ("V1", "V2")]
    extra = ""
    if controls:
        verb, noun = ("is", "control") if len(controls) == 1 else ("are", "controls")
        extra = f" {_joined(controls)} {verb} this book's batch-norm {noun} of chapter 6, not the case study's."
    return (f"The case study's \"Results\" as it ran them: `run_deepvariant --customized_model` on `{test_contig}` "
            f"({dataset}) with each run's deployed checkpoint ({named}), beside the published WGS model of chapter 3 "
            "and bcftools, every call set scored by lowcov's benchmark in the confident regions of the test "
            f"contig.{extra} The book's intervals and coverage sweep belong to the native chapters.")


def happy_text() -> str:
    return ("hap.py's own summary (its image, `--engine=vcfeval --pass-only`, `-l` the test contig), as DeepVariant's "
            "training case study runs it, for the same call sets:")


# -- chapter 6: the batch-norm controls on DeepVariant's network -------------------------------------------


def deepvariant_controls_intro() -> str:
    return ("Fine-tuning changes two things in a network with batch normalisation: the **weights**, by gradient "
            "steps, and the **running statistics** of every batch-norm layer, re-estimated from the examples it is "
            "shown (here RNA pileups) at every step whatever the learning rate. DeepVariant's `train` has no switch "
            "to keep the statistics still, so this book's two controls that separate them run on DeepVariant's "
            "own network outside the container, in lowcov's PyTorch copy of it, which reads and writes "
            "DeepVariant's checkpoints; each comes back as a DeepVariant checkpoint that `run_deepvariant "
            "--customized_model` calls with, on the test contig at full coverage and at the profile's fraction, "
            "as V1 and V2 are called. Neither is the case study's.")


def deepvariant_controls_table(frozen_extra: Sequence[str], frozen_purpose: str, checkpoints: Mapping[str, Any],
                               not_run: Mapping[str, str], frozen_name: str = "V2, frozen BN",
                               original_name: str = "V2, original BN") -> pd.DataFrame:
    """The two controls: what each changes, how it is made, what it isolates, and the checkpoint the
    container calls (or why it did not run)."""
    def where(name: str) -> str:
        if name in checkpoints:
            return f"`{Path(checkpoints[name]).parent.parent.name}/.../{Path(checkpoints[name]).name}`"
        return f"not run: {not_run.get(name, 'not run')}"

    rows = {
        frozen_name: {"added to V2": "; ".join(frozen_extra),
                      "made by": ("lowcov's trainer on DeepVariant's network (config.model_type=inception_v3) from "
                                  "the published checkpoint, on chapter 5's DeepVariant examples, with V2's lines; "
                                  "its selected checkpoint written in DeepVariant's format"),
                      "what it isolates": frozen_purpose, "checkpoint called": where(frozen_name)},
        original_name: {"added to V2": "(no training)",
                        "made by": ("the checkpoint DeepVariant's train selected for V2, with every batch-norm "
                                    "statistic replaced by the published model's"),
                        "what it isolates": "V2's weights without the statistics V2 re-estimated on RNA",
                        "checkpoint called": where(original_name)},
    }
    return pd.DataFrame(rows).T


def training_plan_text(name: str, plan: Any, cuda: bool) -> str:
    """How long the native run of ``name`` takes, from :func:`lowcov.study.deepvariant_controls.training_plan`."""
    from ..study.deepvariant_controls import CPU_TRAINING_RATE

    hours, minutes = plan.cpu_seconds / 3600, plan.cpu_seconds / 60
    duration = (f"{hours:.1f} hours" if hours >= 1 else f"{minutes:.0f} minutes" if minutes >= 1
                else "under a minute")
    where = ("This machine has a CUDA GPU, which the run uses: expect far less." if cuda else
             "This machine has no CUDA GPU, so that is what the run takes here.")
    return (f"{name} trains at most {plan.steps} steps on {plan.n_train} examples ({plan.examples_trained} examples "
            f"shown to the network, {plan.tunes} tune evaluations of {plan.n_tune} examples; early stopping may "
            f"end it sooner): about {duration} on a 2-core CPU, where DeepVariant's network trains at ~{CPU_TRAINING_RATE:.0f} examples/s "
            f"(benchmarks/benchmark_dvmodel.py). {where}")


def not_run_text(not_run: Mapping[str, str]) -> str:
    return "".join(f"\n* **{name}** was not run: {why}." for name, why in not_run.items()).lstrip("\n")


def deepvariant_drift_table(drift: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """How far V2 and each control moved from the published checkpoint (:func:`lowcov.batchnorm.checkpoint_drift`)."""
    return pd.DataFrame({name: {"weights: relative change": d["weights_relative"],
                                "weights: largest change": d["weights_max_abs"],
                                "batch-norm statistics: relative change": d["batch_norm_statistics_relative"],
                                "batch-norm statistics: largest change": d["batch_norm_statistics_max_abs"]}
                         for name, d in drift.items()}).T


def deepvariant_drift_text(drift: Mapping[str, Mapping[str, float]]) -> str:
    """What the drift table shows: whether the controls kept the published statistics exactly."""
    kept = [name for name, d in drift.items() if name != "V2" and d["batch_norm_statistics_max_abs"] == 0.0]
    moved = [name for name, d in drift.items() if name != "V2" and d["batch_norm_statistics_max_abs"] != 0.0]
    parts = [f"Against the published checkpoint (relative change `||model - published|| / ||published||`, and the "
             f"largest single change): V2's batch-norm statistics moved by "
             f"{drift['V2']['batch_norm_statistics_relative']:.1e} and its weights by "
             f"{drift['V2']['weights_relative']:.1e}." if "V2" in drift else ""]
    if kept:
        parts.append(f"{_joined(kept)} {'keeps' if len(kept) == 1 else 'keep'} the published statistics to the bit.")
    if moved:
        parts.append(f"{_joined(moved)} {'does' if len(moved) == 1 else 'do'} not keep them exactly: "
                     "a defect, since this control exists to keep them.")
    return " ".join(p for p in parts if p)


def _joined(names: Sequence[str]) -> str:
    return f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else names[0]


def controls_results_table(ours: pd.DataFrame) -> pd.DataFrame:
    """Recall, precision and F1 by type for each model and dataset (rows), from
    :func:`lowcov.study.evaluation.metrics_table`."""
    metrics = {"METRIC.Recall": "recall", "METRIC.Precision": "precision", "METRIC.F1_Score": "F1"}
    wide = ours.pivot_table(index=["Dataset", "Model"], columns="Type", values=list(metrics), sort=False,
                            dropna=False)
    wide.columns = [f"{kind} {metrics[metric]}" for metric, kind in wide.columns]
    order = [f"{kind} {name}" for kind in ("SNP", "INDEL") for name in metrics.values()]
    return wide[[c for c in order if c in wide.columns]].round(4)


def controls_results_text(ours: pd.DataFrame, dataset: str, controls: Sequence[str]) -> str:
    """Recall of V2 and of each control beside the published model's on ``dataset``, in words."""
    rows = ours[ours.Dataset == dataset].set_index(["Model", "Type"])["METRIC.Recall"]
    models = [m for m in ("Original", "V2", *controls) if (m, "SNP") in rows.index]
    parts = [f"{m} {rows[(m, kind)]:.4f}" for kind in ("SNP", "INDEL") for m in models]
    n = len(models)
    return (f"On the {dataset} test contig, SNP recall: {', '.join(parts[:n])}; INDEL recall: "
            f"{', '.join(parts[n:])}. Where a control recovers what V2 lost against the published model, the "
            "batch-norm statistics re-estimated on RNA account for that part of the loss; where it does not, "
            "V2's weights do. These are single runs without intervals.")


# -- chapter 8: DeepVariant's examples beside lowcov's ------------------------------------------------------


def parity_text(report: Any) -> str:
    """What :func:`lowcov.parity.parity_table` shows, for :func:`lowcov.study.example_parity.deepvariant_tune_parity`."""
    sampled = report.matched + len(report.only_deepvariant) + len(report.shape_mismatches)
    share = ("every compared pixel agrees" if report.identical else
             "the table says, channel by channel, how many pixels agree and whether the differing ones are in the "
             "reference rows or the read rows" if report.matched else "so the table has no pixels to compare")
    return (f"The first {sampled} examples of the validation "
            "set DeepVariant's make_examples wrote in chapter 5 (a random sample: the set is shuffled) against "
            "lowcov's make_examples on the same reads, truth and confident regions, over the same 1000-base "
            "partitions, with DeepVariant's channels, image size and indel drawing. "
            f"{report.matched} of the {sampled} sampled candidates have a lowcov example "
            f"({len(report.only_deepvariant)} were not found by lowcov's candidate finder, which also made "
            f"{len(report.only_native)} examples DeepVariant's sample does not hold){'; over the matched ones, ' if report.matched else ', '}{share}. "
            "Candidates only one side made are left out of the table: it measures drawing, not candidate finding.")


def no_deepvariant_examples_text() -> str:
    return ("No pixel-parity table: this profile has no examples from DeepVariant's own make_examples "
            "(they exist once chapter 5 has run on the deepvariant engine).")
