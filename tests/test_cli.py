"""The stage commands (`lowcov make-examples`, `train`, `call-variants`) give what the library calls give."""
import subprocess
import sys

import numpy as np
import pysam
import pytest

from lowcov import cli
from lowcov.call_variants import call_variants
from lowcov.genome_regions import Region, subtract_regions
from lowcov.make_examples import ExamplesConfig, make_examples
from lowcov.pileup import WGS_CHANNELS
from lowcov.batchnorm import weights_digest
from lowcov.shards import ExampleSet
from lowcov.train import TrainConfig, apply_overrides, train

TINY_TRAINING = ["--config.batch_size=2", "--config.num_epochs=1", "--config.tune_every_steps=0",
                 "--config.log_every_steps=1", "--config.num_validation_examples=0", "--config.num_threads=1",
                 "--config.learning_rate=0.001", "--config.batch_norm_momentum=0.1"]


def examples_equal(a: ExampleSet, b: ExampleSet) -> None:
    first, second = a.load(), b.load()
    assert len(first) > 0
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.labels, second.labels)
    for key in first.meta:
        np.testing.assert_array_equal(first.meta[key], second.meta[key])


def vcf_records(path):
    with pysam.VariantFile(str(path)) as vcf:
        return [str(record) for record in vcf]


def test_the_three_stages_from_the_command_line_equal_the_library(tmp_path, diploid_sample):
    sample = diploid_sample
    common = ["--ref", str(sample["fasta"]), "--reads", str(sample["bam"]), "--threads", "1"]
    labels = ["--truth_variants", str(sample["truth"]), "--confident_regions", str(sample["bed"])]
    # DeepVariant's split: train on the contig without a held-out stretch, tune on that stretch
    assert cli.main(["make-examples", "--mode", "training", *common, *labels, "--regions", "'chr1'",
                     "--exclude_regions", "chr1:10001-20000", "--examples", str(tmp_path / "cli.train")]) == 0
    assert cli.main(["make-examples", "--mode", "training", *common, *labels, "--regions", "chr1:10001-20000",
                     "--examples", str(tmp_path / "cli.tune")]) == 0
    assert cli.main(["make-examples", "--mode", "calling", *common, "--regions", "chr1",
                     "--examples", str(tmp_path / "cli.calling")]) == 0
    training = ExamplesConfig(mode="training", threads=1)
    library = {
        "train": make_examples(sample["bam"], sample["fasta"], tmp_path / "lib.train", ["chr1:1-10000"], training,
                               truth_vcf=sample["truth"], confident_bed=sample["bed"]),
        "tune": make_examples(sample["bam"], sample["fasta"], tmp_path / "lib.tune", ["chr1:10001-20000"], training,
                              truth_vcf=sample["truth"], confident_bed=sample["bed"]),
        "calling": make_examples(sample["bam"], sample["fasta"], tmp_path / "lib.calling", ["chr1"],
                                 ExamplesConfig(mode="calling", threads=1)),
    }
    for split, example_set in library.items():
        examples_equal(ExampleSet.open(tmp_path / f"cli.{split}"), example_set)
    assert len(library["train"]) == 2 and len(library["tune"]) == 2  # two planted variants on each side

    datasets = [f"--config.train_dataset_pbtxt={tmp_path / 'cli.train'}",
                f"--config.tune_dataset_pbtxt={tmp_path / 'cli.tune'}"]
    assert cli.main(["train", "--config=dv_config.py:wgs", *datasets, *TINY_TRAINING, "--strategy=mirrored",
                     "--experiment_dir", str(tmp_path / "cli.model"), "--device", "cpu"]) == 0
    config = apply_overrides(TrainConfig(), [*datasets, *TINY_TRAINING])
    result = train(library["train"], library["tune"], config, tmp_path / "lib.model", device="cpu")
    cli_best = tmp_path / "cli.model" / "checkpoints" / "best.pt"
    assert weights_digest(cli_best) == weights_digest(result.best_checkpoint)

    assert cli.main(["call-variants", "--examples", str(tmp_path / "cli.calling"), "--checkpoint", str(cli_best),
                     "--ref", str(sample["fasta"]), "--outfile", str(tmp_path / "cli.vcf.gz"), "--device", "cpu"]) == 0
    call_variants(library["calling"].directory, cli_best, sample["fasta"], tmp_path / "lib.vcf.gz")
    assert vcf_records(tmp_path / "cli.vcf.gz") == vcf_records(tmp_path / "lib.vcf.gz")
    assert len(vcf_records(tmp_path / "lib.vcf.gz")) == 4


def test_exclude_regions_cuts_bases_out_of_regions():
    regions = [Region("chr1", 0, 100), Region("chr2", 0, 50)]
    kept = subtract_regions(regions, [Region("chr1", 20, 30), Region("chr1", 90, 200), Region("chr2", 0, 50)])
    assert kept == [Region("chr1", 0, 20), Region("chr1", 30, 90)]


def test_stage_commands_refuse_bad_input_with_the_reason(tmp_path, diploid_sample, caplog):
    sample = diploid_sample
    assert cli.main(["make-examples", "--mode", "calling", "--ref", str(sample["fasta"]), "--reads",
                     str(sample["bam"]), "--regions", "chr1:1-100", "--exclude_regions", "chr1",
                     "--examples", str(tmp_path / "none")]) == 1
    assert "leaves nothing" in caplog.text
    assert cli.main(["make-examples", "--mode", "calling", "--ref", str(sample["fasta"]), "--reads",
                     str(sample["bam"]), "--channel_list", "BASE_CHANNELS,gc_content",
                     "--examples", str(tmp_path / "gc")]) == 1
    assert "unknown channel(s) ['gc_content']" in caplog.text
    assert cli.main(["make-examples", "--mode", "training", "--ref", str(sample["fasta"]), "--reads",
                     str(sample["bam"]), "--read_fractions", "1.0", "1.0", "--examples", str(tmp_path / "twice")]) == 1
    assert "1.0 more than once" in caplog.text and not (tmp_path / "twice").exists()
    assert cli.main(["train", "--config=dv_config.py:exome", "--experiment_dir", str(tmp_path / "m")]) == 1
    assert "wgs" in caplog.text
    assert cli.main(["train", "--experiment_dir", str(tmp_path / "m"), "--config.batch_size=2"]) == 1
    assert "train_dataset_pbtxt" in caplog.text
    assert cli.main(["train", "--experiment_dir", str(tmp_path / "m"), "--config.no_such_key=2",
                     f"--config.train_dataset_pbtxt={tmp_path}", f"--config.tune_dataset_pbtxt={tmp_path}"]) == 1
    assert "no_such_key" in caplog.text


def test_channel_list_makes_examples_for_deepvariants_wgs_model(tmp_path, diploid_sample):
    sample = diploid_sample
    assert cli.main(["make-examples", "--mode", "calling", "--ref", str(sample["fasta"]), "--reads", str(sample["bam"]),
                     "--regions", "chr1:1-10000", "--threads", "1", "--channel_list", "BASE_CHANNELS,insert_size",
                     "--examples", str(tmp_path / "wgs")]) == 0
    wgs = ExampleSet.open(tmp_path / "wgs")
    assert tuple(wgs.info["channels"]) == WGS_CHANNELS and wgs.load().images.shape[3] == 7
    lowcov_default = make_examples(sample["bam"], sample["fasta"], tmp_path / "default", ["chr1:1-10000"],
                                   ExamplesConfig(mode="calling", threads=1)).load()
    # the same images, less the channel DeepVariant's WGS model does not read
    np.testing.assert_array_equal(wgs.load().images, lowcov_default.images[..., :7])


def test_add_supporting_other_alt_color_sets_deepvariants_other_allele_pixel(tmp_path, diploid_sample):
    sample = diploid_sample
    common = ["make-examples", "--mode", "calling", "--ref", str(sample["fasta"]), "--reads", str(sample["bam"]),
              "--regions", "chr1:1-5000", "--threads", "1"]
    assert cli.main(common + ["--add_supporting_other_alt_color", "--examples", str(tmp_path / "flag")]) == 0
    assert cli.main(common + ["--examples", str(tmp_path / "plain")]) == 0
    drawn = {name: ExampleSet.open(tmp_path / name).info["params"]["config"]["pileup"]["other_alt_support"]
             for name in ("flag", "plain")}
    assert drawn == {"flag": 76, "plain": 152}


def test_the_installed_command_lists_the_stages():
    shown = subprocess.run([sys.executable, "-m", "lowcov.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("make-examples", "train", "call-variants", "benchmark", "acquire"):
        assert f"lowcov {command}" in shown.stdout
    unknown = subprocess.run([sys.executable, "-m", "lowcov.cli", "frobnicate"], capture_output=True, text=True)
    assert unknown.returncode == 2


def test_deepvariant_example_files_out_of_make_examples_and_into_train(tmp_path, diploid_sample, caplog):
    from lowcov.dvexamples import expand_spec, read_examples

    sample = diploid_sample
    common = ["--ref", str(sample["fasta"]), "--reads", str(sample["bam"]), "--threads", "1",
              "--truth_variants", str(sample["truth"]), "--confident_regions", str(sample["bed"])]
    specs = {}
    for split, region in (("train", "chr1:1-10000"), ("tune", "chr1:10001-20000")):
        out = tmp_path / "dv" / f"{split}.tfrecord.gz"
        assert cli.main(["make-examples", "--mode", "training", *common, "--regions", region,
                         "--examples", str(out)]) == 0
        files = expand_spec(str(out).replace(".tfrecord.gz", ".tfrecord-?????-of-?????.gz"))
        examples = [e for f in files for e in read_examples(f)]
        assert len(examples) == 2 and {e.label for e in examples} <= {1, 2}
        lowcov_set = ExampleSet.open(str(out) + ".lowcov")
        assert sorted(e.image.tobytes() for e in examples) == sorted(i.tobytes() for i in lowcov_set.load().images)
        config = tmp_path / f"{split}.dataset_config.pbtxt"
        config.write_text(f'# class1: 2\nname: "demo"\ntfrecord_path: "{files[0].parent}/{split}.tfrecord-?????-of-'
                          f'{len(files):05d}.gz"\nnum_examples: 2\n')
        specs[split] = config
    assert cli.main(["train", f"--config.train_dataset_pbtxt={specs['train']}",
                     f"--config.tune_dataset_pbtxt={specs['tune']}", *TINY_TRAINING,
                     "--experiment_dir", str(tmp_path / "model"), "--device", "cpu"]) == 0
    assert (tmp_path / "model" / "checkpoints" / "best.pt").exists()
    specs["tune"].write_text(specs["tune"].read_text().replace("num_examples: 2", "num_examples: 5"))
    assert cli.main(["train", f"--config.train_dataset_pbtxt={specs['train']}",
                     f"--config.tune_dataset_pbtxt={specs['tune']}", *TINY_TRAINING,
                     "--experiment_dir", str(tmp_path / "model2")]) == 1
    assert "num_examples is 5" in caplog.text
