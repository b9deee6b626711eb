"""The deepvariant engine rehearsed through the stand-in runtime (tests/standin), on a tiny two-build layout
made here: DNA on hg19-like names (chr1, chr10, chr2), RNA on GRCh38-like names (1, 10, 2)."""
from __future__ import annotations

import gzip
import json
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from lowcov import InputError
from lowcov.dvexamples import DVExample, expand_spec, read_dataset_config, read_example_info
from lowcov.engines import ENGINES, Engine, HappyRequest, engine_for
from lowcov.engines.commands import (CHANNEL_LIST, DeepVariantImages, make_examples_command, override_disagreements,
                                     override_items)
from lowcov.engines.deepvariant import DeepVariantEngine
from lowcov.engines.plan import plan_differences, write_plan
from lowcov.engines.runtime import (ContainerCommand, ContainerError, ContainerRunError, ContainerRuntime,
                                    detect_runtime)
from lowcov.engines.shuffle import verify_dataset_config
from lowcov.engines.training_outputs import (read_event_scalars, require_checkpoint, select_checkpoint, training_curves,
                                             write_train_log)
from lowcov.layout import Layout
from lowcov.tfrecord import decode_example, iter_records
from lowcov.train.config import CASE_STUDY_V1, CASE_STUDY_V2

STANDIN = Path(__file__).parent / "standin"
FIXTURE = Path(__file__).parent / "fixtures" / "deepvariant_1_8_flags.json"
DV_KEYS = {"image/encoded", "image/shape", "label", "variant/encoded", "alt_allele_indices/encoded", "locus"}


# -- a tiny layout -------------------------------------------------------------------------------------


def _fasta(path: Path, lengths: dict[str, int], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    with open(path, "w") as handle:
        for name, length in lengths.items():
            handle.write(f">{name}\n{''.join(rng.choice(list('ACGT'), length))}\n")
    pysam.faidx(str(path))
    return path


def _bam(path: Path, reference: Path, sample: str) -> Path:
    lengths = dict(line.split("\t")[:2] for line in Path(f"{reference}.fai").read_text().splitlines())
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "RG": [{"ID": "rg", "SM": sample}],
              "SQ": [{"SN": name, "LN": int(length)} for name, length in lengths.items()]}
    unsorted = path.with_suffix(".unsorted.bam")
    with pysam.FastaFile(str(reference)) as fasta, pysam.AlignmentFile(str(unsorted), "wb", header=header) as bam:
        for tid, name in enumerate(lengths):
            for start in range(0, int(lengths[name]) - 100, 50):
                read = pysam.AlignedSegment(bam.header)
                read.query_name, read.reference_id, read.reference_start = f"{name}_{start}", tid, start
                read.query_sequence = fasta.fetch(name, start, start + 100)
                read.cigarstring, read.mapping_quality, read.flag = "100M", 60, 0
                read.query_qualities = pysam.qualitystring_to_array("I" * 100)
                read.set_tag("RG", "rg")
                bam.write(read)
    pysam.sort("-o", str(path), str(unsorted))
    pysam.index(str(path))
    unsorted.unlink()
    return path


def _truth(path: Path, reference: Path, sample: str) -> Path:
    lengths = dict(line.split("\t")[:2] for line in Path(f"{reference}.fai").read_text().splitlines())
    header = pysam.VariantHeader()
    for name, length in lengths.items():
        header.contigs.add(name, length=int(length))
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.add_sample(sample)
    plain = Path(str(path).removesuffix(".gz"))
    with pysam.FastaFile(str(reference)) as fasta, pysam.VariantFile(str(plain), "w", header=header) as vcf:
        for name in lengths:
            for i, position in enumerate(range(150, int(lengths[name]) - 150, 137)):
                ref = fasta.fetch(name, position, position + 1)
                record = vcf.new_record(contig=name, start=position, stop=position + 1,
                                        alleles=(ref, "A" if ref != "A" else "C"))
                record.samples[sample]["GT"] = (0, 1) if i % 3 else (1, 1)
                vcf.write(record)
    pysam.tabix_index(str(plain), preset="vcf", force=True)
    return path


def _bed(path: Path, reference: Path) -> Path:
    lengths = dict(line.split("\t")[:2] for line in Path(f"{reference}.fai").read_text().splitlines())
    path.write_text("".join(f"{name}\t0\t{length}\n" for name, length in lengths.items()))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("two_builds")
    dna_ref = _fasta(root / "ucsc_hg19.fa", {"chr1": 3000, "chr10": 2000, "chr2": 2000}, 1)
    rna_ref = _fasta(root / "grch38.fa", {"1": 3000, "10": 2000, "2": 2000}, 2)
    return {"dna_reference": dna_ref, "rna_reference": rna_ref,
            "dna_bam": _bam(root / "dna.chr1.bam", dna_ref, "HG001"),
            "dna_truth": _truth(root / "truth.vcf.gz", dna_ref, "HG001"),
            "dna_confident": _bed(root / "confident.bed", dna_ref),
            "rna_bam": _bam(root / "rna.ccs.bam", rna_ref, "UHRR"),
            "rna_truth": _truth(root / "rna.pseudo_truth.vcf.gz", rna_ref, "UHRR"),
            "rna_confident": _bed(root / "rna.confident.bed", rna_ref),
            "root": root}


@pytest.fixture
def standin(monkeypatch, tmp_path) -> Path:
    """The stand-in first on PATH; its invocations are logged to the returned JSON-lines file."""
    monkeypatch.setenv("PATH", f"{STANDIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("LOWCOV_STANDIN_PYTHON", sys.executable)
    monkeypatch.delenv("LOWCOV_CONTAINER", raising=False)
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("STANDIN_CALLS", str(calls))
    return calls


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line)["args"] for line in log.read_text().splitlines()] if log.exists() else []


def _model_files(root: Path) -> dict[str, Path]:
    """A dv_config.py and a published-checkpoint-shaped prefix (index, data, example_info.json)."""
    models = root / "downloads"
    models.mkdir(exist_ok=True)
    (models / "dv_config.py").write_text("# DeepVariant's dv_config.py stands here\n")
    prefix = models / "deepvariant.wgs.ckpt"
    Path(f"{prefix}.index").write_bytes(b"index")
    Path(f"{prefix}.data-00000-of-00001").write_bytes(b"data")
    (models / "example_info.json").write_text(json.dumps({"version": "1.8.0", "shape": [100, 221, 7],
                                                          "channels": [1, 2, 3, 4, 5, 6, 19]}))
    return {"dv_config": models / "dv_config.py", "init_checkpoint": prefix}


def _engine(root: Path, **options) -> DeepVariantEngine:
    runtime = detect_runtime(gpu_probe=lambda: True)
    return DeepVariantEngine(runtime=runtime, n_shards=3, workers=2, **_model_files(root), **options)


# -- the whole chain ------------------------------------------------------------------------------------


def test_seed_chain_through_the_standin(data, standin, tmp_path):
    engine = _engine(tmp_path)
    assert isinstance(engine, Engine) and engine.runtime.name == "docker"
    examples = tmp_path / "examples"
    train_request = engine.training_examples_request(
        "training_set", data["rna_bam"], data["rna_reference"], data["rna_truth"], data["rna_confident"],
        ["1 2 10"], examples, exclude_regions=["10"])
    tune_request = engine.training_examples_request(
        "validation_set", data["rna_bam"], data["rna_reference"], data["rna_truth"], data["rna_confident"],
        ["10"], examples)
    train_spec = engine.make_training_examples(train_request)
    tune_spec = engine.make_training_examples(tune_request)

    shards = expand_spec(train_spec)
    assert [p.name for p in shards] == [f"training_set.with_label.tfrecord-{i:05d}-of-00003.gz" for i in range(3)]
    records = [decode_example(r) for path in shards for r in iter_records(path)]
    assert records and all(DV_KEYS <= set(r) for r in records)
    with gzip.open(shards[0]) as handle:  # gzip TFRecord, as DeepVariant writes
        assert handle.read(8)
    example = DVExample.decode(next(iter_records(shards[0])))
    assert example.image.shape == (100, 221, 7) and example.label in (1, 2)
    assert {DVExample.decode(r).variant.reference_name for p in shards for r in iter_records(p)} == {"1", "2"}
    assert read_example_info(Path(str(shards[0]) + ".example_info.json")).channels == (1, 2, 3, 4, 5, 6, 19)
    me_calls = [c for c in _calls(standin) if "/opt/deepvariant/bin/make_examples" in c]
    assert len(me_calls) == 6
    first = me_calls[0]
    assert first[first.index("--channel_list") + 1] == "BASE_CHANNELS,insert_size"
    assert first[first.index("--exclude_regions") + 1] == "10" and "google/deepvariant:1.8.0" in first
    assert "--gpus" not in first

    train_pbtxt = engine.shuffle(train_spec, examples, "training_set", seed=7)
    tune_pbtxt = engine.shuffle(tune_spec, examples, "validation_set", seed=7)
    config = verify_dataset_config(train_pbtxt)
    assert config.num_examples == len(records)
    assert train_pbtxt.read_text().startswith("# class")
    assert (examples / "example_info.json").exists()
    shuffled = [DVExample.decode(r).locus for p in expand_spec(config.tfrecord_path) for r in iter_records(p)]
    assert sorted(shuffled) == sorted(DVExample.decode(r).locus for p in shards for r in iter_records(p))

    experiment = tmp_path / "models" / "v2"
    engine.train(train_pbtxt, tune_pbtxt, experiment, CASE_STUDY_V2)
    train_call = next(c for c in _calls(standin) if "/opt/deepvariant/bin/train" in c)
    assert "google/deepvariant:1.8.0-gpu" in train_call and train_call[train_call.index("--gpus") + 1] == "all"
    for line in ("--config.weight_decay=0.00005", "--config.num_validation_examples=0",
                 "--config.early_stopping_patience=50", "--config.learning_rate_decay_rate=0.995"):
        assert line in train_call
    assert f"--config.init_checkpoint={tmp_path / 'downloads' / 'deepvariant.wgs.ckpt'}" in train_call
    assert f"--config={tmp_path / 'downloads' / 'dv_config.py'}:wgs" in train_call

    best = select_checkpoint(experiment)
    saved = sorted((p.name for p in (experiment / "checkpoints" / "ema").glob("*.index")))
    assert len(saved) == 20 and best.prefix.name + ".index" in saved
    assert best.metric == max(float(n.split("-")[2]) for n in saved)
    assert best.step not in (min(int(n.split("-")[1]) for n in saved), max(int(n.split("-")[1]) for n in saved))
    curves = training_curves(experiment)
    assert {"tune/f1_weighted", "train/loss", "epoch"} <= set(curves.columns)
    assert len(curves) == 20 and curves["tune/f1_weighted"].max() == pytest.approx(best.metric, abs=1e-5)
    train_log = pd.read_csv(write_train_log(experiment, tmp_path / "train_log.csv"))
    assert list(train_log.columns) == ["step", "event", "train_loss", "tune_loss", "tune_f1_weighted"]
    assert (train_log.event == "tune").all() and train_log.tune_loss.isna().all()  # the stand-in logs no tune loss
    assert train_log.step.tolist() == curves.step.tolist()
    assert train_log.tune_f1_weighted.max() == pytest.approx(best.metric, abs=1e-5)

    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    call = engine.call_request(data["dna_bam"], data["dna_reference"], calls_dir / "v2.ds50.vcf.gz", ["chr1"],
                               engine.select_checkpoint(experiment))
    vcf = engine.call_variants(call)
    assert Path(f"{vcf}.tbi").exists()
    with pysam.VariantFile(str(vcf)) as calls:
        assert {r.contig for r in calls} == {"chr1"}
    rd_call = next(c for c in _calls(standin) if "/opt/deepvariant/bin/run_deepvariant" in c)
    assert f"--customized_model={best.prefix}" in rd_call and "--model_type=WGS" in rd_call
    # the fine-tuned network makes every call: 1.8's small model is off
    assert "--disable_small_model=true" in rd_call

    rna = engine.call_request(data["rna_bam"], data["rna_reference"], calls_dir / "rna.calls.vcf.gz", ["1 2 10"],
                              None, split_skip_reads=True)
    engine.rna_pseudo_truth(rna)
    rna_call = [c for c in _calls(standin) if "/opt/deepvariant/bin/run_deepvariant" in c][-1]
    assert "--model_type=WES" in rna_call and "--make_examples_extra_args=split_skip_reads=true" in rna_call
    assert not any(a.startswith("--customized_model") for a in rna_call)

    summary = engine.happy(HappyRequest(data["dna_truth"], vcf, data["dna_confident"], data["dna_reference"],
                                        tmp_path / "calls" / "v2.ds50.happy", "chr1"))
    assert summary.read_text().startswith("Type,Filter,TRUTH.TOTAL")

    before = len(_calls(standin))
    engine.make_training_examples(train_request)
    engine.train(train_pbtxt, tune_pbtxt, experiment, CASE_STUDY_V2)
    engine.call_variants(call)
    assert len(_calls(standin)) == before, "a re-run of finished stages runs nothing"


def test_apptainer_binds_and_nv(data, standin, tmp_path, monkeypatch):
    monkeypatch.setenv("LOWCOV_CONTAINER", "apptainer")
    runtime = detect_runtime(sif_dir=tmp_path / "sif", gpu_probe=lambda: True)
    assert runtime.name == "apptainer"
    images = DeepVariantImages()
    command = ContainerCommand(images.gpu, ("/opt/deepvariant/bin/run_deepvariant", "--version"), gpu=True)
    with pytest.raises(ContainerError, match=r"apptainer pull .*deepvariant_1\.8\.0-gpu\.sif docker://google/deepvariant:1\.8\.0-gpu"):
        runtime.run(command)
    (tmp_path / "sif").mkdir()
    for image in (images.cpu, images.gpu):
        subprocess.run(runtime.pull_command(image), check=True)
    engine = DeepVariantEngine(runtime=runtime, n_shards=2, workers=1)
    request = engine.training_examples_request("tune", data["rna_bam"], data["rna_reference"], data["rna_truth"],
                                               data["rna_confident"], ["10"], tmp_path / "ex")
    engine.make_training_examples(request)
    argv = next(c for c in _calls(standin) if c[0] == "exec")
    binds = [argv[i + 1].split(":") for i, a in enumerate(argv) if a == "--bind"]
    assert binds and all(host == inside for host, inside in binds)
    assert str(runtime.sif_path(images.cpu)) in argv and "--nv" not in argv
    assert runtime.argv(command, check_mounts=False)[3:4] == ["--nv"]


# -- failures ---------------------------------------------------------------------------------------------


def test_shards_run_as_dask_tasks_on_a_cluster_and_failures_are_collected(data, standin, tmp_path, monkeypatch,
                                                                          caplog):
    """With a scheduler each make_examples shard is a task on the cluster's workers (started here after the
    stand-in is on PATH, as a user's workers have the runtime); a failing shard does not stop the others."""
    from lowcov import executor

    monkeypatch.setenv("STANDIN_FAIL_TASKS", "2")
    caplog.set_level(logging.INFO, logger="lowcov.executor")
    with executor.separate_cluster(workers=2, log_dir=tmp_path) as address:
        engine = _engine(tmp_path, scheduler=address)
        request = engine.training_examples_request("training_set", data["rna_bam"], data["rna_reference"],
                                                   data["rna_truth"], data["rna_confident"], ["1 2"], tmp_path / "ex")
        with pytest.raises(ContainerRunError, match="1 of 3 make_examples shards .* task 2"):
            engine.make_training_examples(request)
    assert "make_examples shards: 3 shards on 2 Dask workers" in caplog.text
    tasks = sorted(c[c.index("--task") + 1] for c in _calls(standin) if "--task" in c)
    assert tasks == ["0", "1", "2"]
    done = sorted(p.name for p in (tmp_path / "ex").glob("*.gz.done"))
    assert done == ["training_set.with_label.tfrecord-00000-of-00003.gz.done",
                    "training_set.with_label.tfrecord-00001-of-00003.gz.done"]


def test_failed_shard_reports_and_rerun_runs_only_it(data, standin, tmp_path, monkeypatch):
    engine = _engine(tmp_path)
    request = engine.training_examples_request("training_set", data["rna_bam"], data["rna_reference"],
                                               data["rna_truth"], data["rna_confident"], ["1 2"], tmp_path / "ex")
    monkeypatch.setenv("STANDIN_FAIL_TASKS", "1")
    with pytest.raises(ContainerRunError) as failure:
        engine.make_training_examples(request)
    message = str(failure.value)
    assert "1 of 3 make_examples shards" in message and "task 1" in message
    assert "simulated failure" in message and "Re-run it with:" in message
    rerun = message.split("Re-run it with:\n", 1)[1].strip()
    assert shlex.split(rerun)[0].endswith("docker") and "--task 1 " in rerun + " "
    monkeypatch.delenv("STANDIN_FAIL_TASKS")
    standin.unlink()
    engine.make_training_examples(request)
    tasks = [c[c.index("--task") + 1] for c in _calls(standin) if "--task" in c]
    assert tasks == ["1"]
    # a shard cut short by a killed run: its file exists but was never marked done
    shard = Path(str(tmp_path / "ex" / "training_set.with_label.tfrecord-00002-of-00003.gz"))
    Path(f"{shard}.done").unlink()
    shard.write_bytes(shard.read_bytes()[:100])
    standin.unlink()
    engine.make_training_examples(request)
    assert [c[c.index("--task") + 1] for c in _calls(standin) if "--task" in c] == ["2"]
    assert sum(1 for _ in iter_records(shard)) > 0


def test_unknown_flag_is_refused_by_the_standin(standin, tmp_path):
    runtime = detect_runtime(gpu_probe=lambda: True)
    bad = ContainerCommand(DeepVariantImages().cpu, ("/opt/deepvariant/bin/make_examples", "--no_such_flag=1"),
                           mounts=(tmp_path,), log_path=tmp_path / "bad.log")
    with pytest.raises(ContainerRunError, match="unknown flag --no_such_flag"):
        runtime.run(bad)
    unmounted = ContainerCommand(DeepVariantImages().cpu, ("/opt/deepvariant/bin/make_examples", "--ref=/elsewhere/x.fa"),
                                 mounts=(tmp_path,))
    with pytest.raises(ContainerRunError, match="not inside a mounted directory"):
        runtime.run(unmounted)


def test_no_runtime_names_the_three(tmp_path):
    with pytest.raises(ContainerError) as failure:
        detect_runtime({"PATH": str(tmp_path)})
    assert all(name in str(failure.value) for name in ("docker", "podman", "apptainer", "LOWCOV_CONTAINER"))
    with pytest.raises(ContainerError, match="no podman executable"):
        detect_runtime({"PATH": str(tmp_path), "LOWCOV_CONTAINER": "podman"})
    with pytest.raises(ContainerError, match="not a supported runtime"):
        detect_runtime({"PATH": str(STANDIN), "LOWCOV_CONTAINER": "lxc"})


def test_detection_order(tmp_path):
    for name in ("apptainer", "podman"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    assert detect_runtime({"PATH": str(tmp_path)}).name == "podman"
    assert detect_runtime({"PATH": str(tmp_path), "LOWCOV_CONTAINER": "apptainer"}).name == "apptainer"


def test_image_missing_gives_the_pull_command(standin, tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_MISSING_IMAGES", "google/deepvariant:1.8.0")
    runtime = detect_runtime()
    with pytest.raises(ContainerError, match=r"pull it with: .*docker pull google/deepvariant:1\.8\.0$"):
        runtime.run(ContainerCommand("google/deepvariant:1.8.0", ("/opt/deepvariant/bin/run_deepvariant",)))


def test_gpu_flags_and_absent_gpu(tmp_path, caplog):
    command = ContainerCommand("google/deepvariant:1.8.0-gpu", ("/opt/deepvariant/bin/train",), gpu=True,
                               mounts=(tmp_path,), label="train v2")
    spelled = {name: ContainerRuntime(name).argv(command) for name in ("docker", "podman", "apptainer")}
    assert spelled["docker"][-4:-2] == ["--gpus", "all"]
    assert spelled["podman"][-4:-2] == ["--device", "nvidia.com/gpu=all"]
    assert spelled["apptainer"][-3] == "--nv"
    assert all(f"{tmp_path}:{tmp_path}" in argv for argv in spelled.values())
    no_gpu = ContainerRuntime("docker", gpu_probe=lambda: False)
    with pytest.raises(ContainerError, match="asks for a GPU .* nvidia-smi finds none"):
        no_gpu.resolve_gpu(command)
    fallback = ContainerRuntime("docker", gpu_probe=lambda: False, allow_cpu_fallback=True)
    with caplog.at_level(logging.WARNING):
        resolved = fallback.resolve_gpu(command)
    assert resolved.image == "google/deepvariant:1.8.0" and not resolved.gpu
    assert "no GPU" in caplog.text and "--gpus" not in fallback.argv(resolved)


def test_mounted_paths_must_exist(tmp_path):
    command = ContainerCommand("google/deepvariant:1.8.0", ("/opt/deepvariant/bin/make_examples",),
                               mounts=(tmp_path / "absent",))
    with pytest.raises(ContainerError, match="cannot mount .*absent"):
        ContainerRuntime("docker").argv(command)


def test_dataset_config_disagreeing_with_its_shards_is_refused(data, standin, tmp_path):
    engine = _engine(tmp_path)
    request = engine.training_examples_request("tune", data["rna_bam"], data["rna_reference"], data["rna_truth"],
                                               data["rna_confident"], ["10"], tmp_path / "ex")
    pbtxt = engine.shuffle(engine.make_training_examples(request), tmp_path / "ex", "tune")
    held = read_dataset_config(pbtxt).num_examples
    pbtxt.write_text(pbtxt.read_text().replace(f"num_examples: {held}", f"num_examples: {held + 5}"))
    with pytest.raises(InputError, match=f"num_examples is {held + 5} but .* holds {held} examples"):
        verify_dataset_config(pbtxt)
    with pytest.raises(InputError, match="num_examples"):
        engine.train(pbtxt, pbtxt, tmp_path / "model", CASE_STUDY_V1)


def test_checkpoint_prefix_without_index_is_refused(tmp_path):
    ema = tmp_path / "checkpoints" / "ema"
    ema.mkdir(parents=True)
    Path(f"{ema}/checkpoint-10-0.95000-1.data-00000-of-00001").write_bytes(b"w")
    with pytest.raises(InputError, match=r"checkpoint-10-0\.95000-1\.index is missing"):
        require_checkpoint(ema / "checkpoint-10-0.95000-1")
    with pytest.raises(InputError, match="no checkpoints/ema"):
        select_checkpoint(tmp_path)


def test_bam_matching_neither_build_is_refused(data, standin, tmp_path):
    engine = _engine(tmp_path)
    rna_on_hg19 = engine.training_examples_request("x", data["rna_bam"], data["dna_reference"], data["rna_truth"],
                                                   data["rna_confident"], ["chr1"], tmp_path / "ex")
    with pytest.raises(InputError, match="match neither"):
        engine.make_training_examples(rna_on_hg19)
    dna_on_grch38 = engine.call_request(data["dna_bam"], data["rna_reference"], tmp_path / "x.vcf.gz", ["1"], None)
    with pytest.raises(InputError, match="match neither"):
        engine.call_variants(dna_on_grch38)
    rna_region_name = engine.call_request(data["dna_bam"], data["dna_reference"], tmp_path / "x.vcf.gz", ["1"], None)
    with pytest.raises(InputError, match="contig.* 1 of .*dna.chr1.bam are not in the reference"):
        engine.call_variants(rna_region_name)
    assert not _calls(standin), "nothing may run before the inputs are checked"


# -- commands, plan, events --------------------------------------------------------------------------------


def test_every_flag_the_builders_use_is_in_the_fixture(tmp_path):
    fixture = json.loads(FIXTURE.read_text())
    for binary, spec in fixture["binaries"].items():
        for flag in spec["used_by_engine"]:
            if flag.startswith("config."):
                assert flag[len("config."):] in spec["config_keys"]
            else:
                assert flag in spec["flags"], (binary, flag)
                assert spec["flags"][flag]["source"] in fixture["sources"]
    request = DeepVariantEngine(runtime=ContainerRuntime("docker"), n_shards=4).training_examples_request(
        "t", tmp_path / "r.bam", tmp_path / "r.fa", tmp_path / "t.vcf.gz", tmp_path / "c.bed", ["1"], tmp_path)
    argv = make_examples_command(request, 3, DeepVariantImages()).command
    used = {a.lstrip("-").split("=")[0] for a in argv if a.startswith("--")}
    assert used <= set(fixture["binaries"]["make_examples"]["used_by_engine"])
    assert argv[argv.index("--examples") + 1].endswith("t.with_label.tfrecord@4.gz")
    assert argv[argv.index("--channel_list") + 1] == CHANNEL_LIST


def test_overrides_follow_the_text_and_disagreements_are_listed():
    assert override_items(CASE_STUDY_V2)[-1] == ("weight_decay", "0.00005")
    assert dict(override_items(CASE_STUDY_V1))["early_stopping_patience"] == "50"
    rows = {row["key"]: row for row in override_disagreements()}
    assert rows["weight_decay"]["text"] == "0.00005" and rows["weight_decay"]["command"] == "0.0005"
    assert rows["num_validation_examples"]["command"] == "20000"
    assert rows["early_stopping_patience"]["command"] == "250" and "2 times" in rows["early_stopping_patience"]["note"]
    assert rows["tune_every_steps"]["text"] is None and "optimizer" in rows
    assert "num_epochs" not in rows and "batch_size" not in rows
    with pytest.raises(InputError, match="unknown config key"):
        override_items(["config.learning_rat = 0.1"])


def test_plan_is_built_from_the_engine_commands(tmp_path, monkeypatch):
    monkeypatch.delenv("LOWCOV_CONTAINER", raising=False)
    layout = Layout("seed", root=tmp_path / "seed")
    script = write_plan(layout, tmp_path / "plan.sh").read_text()
    assert script.startswith("#!/usr/bin/env bash") and os.access(tmp_path / "plan.sh", os.X_OK)
    assert not list((tmp_path / "seed").rglob("*.vcf.gz")), "writing a plan runs nothing"
    lines = script.splitlines()
    me = [shlex.split(line.split(" > ")[0]) for line in lines if "/opt/deepvariant/bin/make_examples" in line]
    assert len(me) == 32 and all(a[a.index("--channel_list") + 1] == "BASE_CHANNELS,insert_size" for a in me)
    assert me[0][me[0].index("--exclude_regions") + 1] == "10"
    trains = [line for line in lines if "/opt/deepvariant/bin/train" in line]
    assert len(trains) == 2
    assert "--config.weight_decay=0.00005" in trains[1] and "--config.warmup_steps=1000" in trains[0]
    assert f"--config.init_checkpoint={layout.root / 'downloads' / 'deepvariant.wgs.ckpt'}" in trains[0]
    assert all("--gpus all google/deepvariant:1.8.0-gpu" in t for t in trains)
    assert '--customized_model="${V2_CHECKPOINT}"' in script and "--model_type=WES" in script
    assert "jmcdani20/hap.py:v0.3.12 /opt/hap.py/bin/hap.py" in script
    assert script.index("lowcov.acquire") < script.index("make_examples") < script.index("/bin/train")
    # the batch-norm controls: made by lowcov from V2's selected checkpoint, then called like V2
    controls = script[script.index("# === batch-norm controls"):]
    assert 'V2_CHECKPOINT="${V2_CHECKPOINT}" python -c' in controls and "run_controls" in controls
    called = [line for line in controls.splitlines() if "/opt/deepvariant/bin/run_deepvariant" in line]
    assert len(called) == 4 and all("--disable_small_model=true" in line for line in called)
    assert sum("deepvariant_v2_frozen_bn/deepvariant/best.ckpt" in line for line in called) == 2
    assert sum("v2_original_bn.ckpt" in line for line in called) == 2
    differences = plan_differences()
    assert all(row["why"] for row in differences)
    assert any(row["step"] == "V2 config.weight_decay" for row in differences)


def test_engine_for_names_and_the_native_adapter(tmp_path):
    assert set(ENGINES) == {"native", "deepvariant"}
    assert engine_for("native").name == "native" and isinstance(engine_for("native"), Engine)
    with pytest.raises(ValueError, match="unknown engine"):
        engine_for("gatk")
    layout = Layout("seed", root=tmp_path / "seed")
    engine = engine_for("deepvariant", layout=layout, runtime=ContainerRuntime("docker"))
    assert engine.init_checkpoint == layout.root / "downloads" / "deepvariant.wgs.ckpt"
    assert engine.dv_config.name == "dv_config.py"


def test_event_files_serialized_by_tensorflow_are_read(tmp_path):
    """Events built with TensorFlow's own protos and record writer: a scalar as TF2 writes it (a tensor)
    and as TF1 did (simple_value)."""
    tf = pytest.importorskip("tensorflow")
    from tensorflow.core.framework import summary_pb2
    from tensorflow.core.util import event_pb2

    with tf.io.TFRecordWriter(str(tmp_path / "events.out.tfevents.1.host")) as writer:
        writer.write(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        for step, value in ((0, 0.5), (128, 0.75), (256, 0.625)):
            tensor = summary_pb2.Summary.Value(tag="tune/f1_weighted", tensor=tf.make_tensor_proto(value, tf.float32))
            legacy = summary_pb2.Summary.Value(tag="train/loss", simple_value=1.0 / (step + 1))
            event = event_pb2.Event(wall_time=2.0 + step, step=step, summary=summary_pb2.Summary(value=[tensor, legacy]))
            writer.write(event.SerializeToString())
        epoch = summary_pb2.Summary.Value(tag="epoch", tensor=tf.make_tensor_proto(3, tf.int64))
        writer.write(event_pb2.Event(step=384, summary=summary_pb2.Summary(value=[epoch])).SerializeToString())
    scalars = read_event_scalars(tmp_path)
    f1 = scalars[scalars["tag"] == "tune/f1_weighted"]
    assert f1["step"].tolist() == [0, 128, 256] and f1["value"].tolist() == [0.5, 0.75, 0.625]
    loss = scalars[scalars["tag"] == "train/loss"]["value"].tolist()
    assert loss == pytest.approx([1.0, 1 / 129, 1 / 257], rel=1e-6)
    assert scalars[scalars["tag"] == "epoch"][["step", "value"]].values.tolist() == [[384, 3.0]]
    assert f1["wall_time"].tolist() == [2.0, 130.0, 258.0]
