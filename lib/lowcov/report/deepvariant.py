"""The deepvariant engine's words in chapters 3-7: what ran, what the book's native-only parts become, and a
plain notice when the numbers come from the test stand-in rather than from DeepVariant."""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
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
    return ("The book's controls (frozen batch-norm statistics, small batches, 50 % DNA, RNA labelled by the truth) "
            "and the drift of weights and statistics are not run on this engine: DeepVariant's `train` has no "
            "switch to freeze batch normalisation, and reading its TensorFlow checkpoints' tensors is the native "
            "chapters' subject. V1 and V2 run once each, as in the case study.")


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
    return (f"The case study's \"Results\" as it ran them: `run_deepvariant --customized_model` on `{test_contig}` "
            f"({dataset}) with each run's deployed checkpoint ({named}), beside the published WGS model of chapter 3 "
            "and bcftools, every call set scored by lowcov's benchmark in the confident regions of the test "
            "contig. The book's intervals, coverage sweep and controls belong to the native chapters.")


def happy_text() -> str:
    return ("hap.py's own summary (its image, `--engine=vcfeval --pass-only`, `-l` the test contig), as DeepVariant's "
            "training case study runs it, for the same call sets:")
