"""The seed profile's batch-norm controls and chapter 8's parity sample, on files made here.

The controls themselves run end to end in tests/test_seed_rehearsal.py (a real random-weight DeepVariant
checkpoint through the stand-in runtime); here: their training plan and the words the chapters print,
and the parity check of chapter 8 on examples whose DeepVariant side is lowcov's own examples written
in DeepVariant's format (so every candidate must match and every pixel agree).
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from lowcov.dvexamples import (ExampleInfo, Variant, example_info_path, expand_spec, export_example_set,
                               read_example_info, read_examples, write_examples)
from lowcov.make_examples import ExamplesConfig, make_examples
from lowcov.parity import parity_table
from lowcov.pileup import WGS_CHANNELS
from lowcov.report import deepvariant as dv_report
from lowcov.study.deepvariant import model_slug
from lowcov.study.deepvariant_controls import (CPU_INFERENCE_RATE, CPU_TRAINING_RATE, FROZEN_BN, FROZEN_BN_OVERRIDES,
                                               training_plan)
from lowcov.study.example_parity import example_parity, parity_config, partition_regions
from lowcov.train import CASE_STUDY_V2, TrainConfig, apply_overrides


def test_model_names_in_file_names():
    assert [model_slug(m) for m in ("Original", "V1", "V2", FROZEN_BN.name, "V2, original BN")] == \
        ["original", "v1", "v2", "v2_frozen_bn", "v2_original_bn"]


def test_frozen_bn_control_is_v2_on_deepvariants_network():
    config = apply_overrides(TrainConfig(), list(FROZEN_BN_OVERRIDES))
    v2 = apply_overrides(TrainConfig(), list(CASE_STUDY_V2))
    assert config.freeze_batch_norm and config.model_type == "inception_v3" and config.write_deepvariant_checkpoint
    assert (config.learning_rate, config.batch_size, config.num_epochs) == (v2.learning_rate, v2.batch_size,
                                                                            v2.num_epochs)


def test_training_plan_counts_steps_examples_and_tunes():
    config = apply_overrides(TrainConfig(), list(FROZEN_BN_OVERRIDES))  # batch 256, 20 epochs, full tune set
    plan = training_plan(config, n_train=1000, n_tune=300)
    assert plan.steps == 4 * 20 and plan.examples_trained == 1000 * 20 and plan.tunes == 1 + 20
    assert math.isclose(plan.cpu_seconds, 20_000 / CPU_TRAINING_RATE + 21 * 300 / CPU_INFERENCE_RATE)
    capped = training_plan(apply_overrides(config, ["config.max_steps=2"]), n_train=45, n_tune=5)
    assert (capped.steps, capped.examples_trained, capped.tunes) == (2, 90, 3)
    text = dv_report.training_plan_text(FROZEN_BN.name, plan, cuda=False)
    assert "at most 80 steps on 1000 examples" in text and "no CUDA GPU" in text and "42 minutes" in text
    assert "under a minute" in dv_report.training_plan_text(FROZEN_BN.name, capped, cuda=False)
    larger = training_plan(config, n_train=100_000, n_tune=300)
    assert "about 66.2 hours" in dv_report.training_plan_text(FROZEN_BN.name, larger, cuda=True)


def test_drift_text_says_which_controls_kept_the_statistics():
    still = {"weights_relative": 0.01, "weights_max_abs": 0.1, "batch_norm_statistics_relative": 0.0,
             "batch_norm_statistics_max_abs": 0.0}
    moved = {**still, "batch_norm_statistics_relative": 0.2, "batch_norm_statistics_max_abs": 1.5}
    text = dv_report.deepvariant_drift_text({"V2": moved, "V2, frozen BN": still, "V2, original BN": still})
    assert "V2's batch-norm statistics moved by 2.0e-01" in text
    assert "V2, frozen BN and V2, original BN keep the published statistics to the bit" in text
    broken = dv_report.deepvariant_drift_text({"V2": moved, "V2, frozen BN": moved})
    assert "V2, frozen BN does not keep them exactly" in broken
    table = dv_report.deepvariant_drift_table({"V2": moved, "V2, frozen BN": still})
    assert table.loc["V2, frozen BN", "batch-norm statistics: largest change"] == 0.0


def test_controls_results_table_and_text():
    rows = []
    for dataset in ("full", "downsampled"):
        for model, recall in (("Original", 0.9), ("V2", 0.8), ("V2, frozen BN", 0.85), ("V2, original BN", 0.0)):
            for kind in ("SNP", "INDEL"):
                rows.append({"Model": model, "Dataset": dataset, "Type": kind, "METRIC.Recall": recall,
                             "METRIC.Precision": 0.99, "METRIC.F1_Score": 0.9 if recall else float("nan")})
    ours = pd.DataFrame(rows)
    table = dv_report.controls_results_table(ours)
    assert list(table.columns) == ["SNP recall", "SNP precision", "SNP F1", "INDEL recall", "INDEL precision",
                                   "INDEL F1"]
    assert table.loc[("downsampled", "V2, frozen BN"), "SNP recall"] == 0.85
    assert math.isnan(table.loc[("full", "V2, original BN"), "SNP F1"])  # no calls: F1 undefined, still a column
    text = dv_report.controls_results_text(ours, "downsampled", ["V2, frozen BN"])
    assert text.startswith("On the downsampled test contig, SNP recall: Original 0.9000, V2 0.8000, "
                           "V2, frozen BN 0.8500; INDEL recall: Original 0.9000")


def test_not_run_text_and_listing():
    listing = dv_report.deepvariant_controls_table(FROZEN_BN.extra, FROZEN_BN.purpose, {},
                                                   {FROZEN_BN.name: "TensorFlow is not installed"})
    assert listing.loc[FROZEN_BN.name, "checkpoint called"] == "not run: TensorFlow is not installed"
    assert dv_report.not_run_text({FROZEN_BN.name: "why"}) == f"* **{FROZEN_BN.name}** was not run: why."


def test_partition_regions_merge_neighbouring_partitions():
    variants = [Variant("chr1", 4999, 5000, "A", ("G",)), Variant("chr1", 5010, 5011, "C", ("T",)),
                Variant("chr1", 6000, 6001, "G", ("A",)), Variant("chr1", 9000, 9003, "ACG", ("A",)),
                Variant("chr2", 10, 11, "T", ("C",))]
    assert partition_regions(variants, 1000) == ["chr1:4001-7000", "chr1:9001-10000", "chr2:1-1000"]


def test_parity_of_the_same_examples_in_deepvariants_format(tmp_path, diploid_sample):
    """DeepVariant's side is lowcov's own examples of the whole contig, written as DeepVariant writes them:
    the sample's sites drawn again over their partitions must give the same candidates and the same pixels."""
    info_config = ExamplesConfig(threads=1)
    whole = make_examples(diploid_sample["bam"], diploid_sample["fasta"], tmp_path / "whole", ["chr1"],
                          parity_config(_dv_info(), info_config), truth_vcf=diploid_sample["truth"],
                          confident_bed=diploid_sample["bed"])
    spec = export_example_set(whole, tmp_path / "dv" / "validation.tfrecord.gz")
    assert len(list(read_examples(spec))) == 4
    assert read_example_info(example_info_path(spec)).channel_names == tuple(whole.info["channels"])

    report = example_parity(spec, diploid_sample["bam"], diploid_sample["fasta"], diploid_sample["truth"],
                            diploid_sample["bed"], tmp_path / "parity", n=3, config=info_config)
    sampled = [e.variant for e in read_examples(tmp_path / "parity" / "deepvariant_sample.tfrecord.gz")]
    assert len(sampled) == 3 and sampled == [e.variant for e in list(read_examples(spec))[:3]]
    assert report.matched == 3 and not report.only_deepvariant and report.identical
    table = parity_table(report)
    assert list(table.channel) == list(whole.info["channels"]) and (table.agreeing_percent == 100).all()
    assert (table.examples == 3).all()
    text = dv_report.parity_text(report)
    assert "3 of the 3 sampled" in text and "every compared pixel agrees" in text

    # a changed pixel on DeepVariant's side is found, in its channel
    examples = list(read_examples(spec))
    image = examples[0].image.copy()
    image[7, 100, 1] ^= 0x10  # base_quality of the third read at column 100
    write_examples(expand_spec(spec)[0], [replace(examples[0], image=image), *examples[1:]])
    again = example_parity(spec, diploid_sample["bam"], diploid_sample["fasta"], diploid_sample["truth"],
                           diploid_sample["bed"], tmp_path / "parity", n=3, config=info_config)
    by_channel = {c.channel: c for c in again.channels}
    assert by_channel["base_quality"].read_pixels_differing == 1 and not again.identical
    assert all(c.agreeing == c.pixels for name, c in by_channel.items() if name != "base_quality")
    assert np.array_equal(examples[1].image, list(read_examples(spec))[1].image)


def _dv_info() -> ExampleInfo:
    return ExampleInfo.from_names(100, 221, WGS_CHANNELS)


def test_no_deepvariant_examples_is_one_line():
    assert "\n" not in dv_report.no_deepvariant_examples_text()


def test_evaluation_text_names_the_controls_as_the_books():
    plain = dv_report.deepvariant_evaluation_text({"V1": "a/checkpoint-1", "V2": "b/checkpoint-2"}, "chr1", "downsampled")
    assert "controls" not in plain and "V2: `checkpoint-2`" in plain
    both = dv_report.deepvariant_evaluation_text({"V2": "b/c", "V2, frozen BN": "x/best.ckpt",
                                                  "V2, original BN": "y/v2_original_bn.ckpt"}, "chr1", "downsampled")
    assert "V2, frozen BN and V2, original BN are this book's batch-norm controls of chapter 6" in both
