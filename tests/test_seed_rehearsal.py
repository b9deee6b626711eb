"""The seed profile's chain rehearsed end to end: a fake seed (tiny simulated data, DNA on hg19-like names, RNA
aligned to a renamed GRCh38-like build, engine deepvariant) runs the book's chapters through
``python -m lowcov.book --profile <yaml>`` with the stand-in container runtime (tests/standin) first on PATH.

The stand-in's outputs are placeholders: this asserts the plumbing (every DeepVariant command it saw passed
its flag check, DeepVariant-shaped files, the selected checkpoint, chapter 7's tables, the notice that the
numbers are a rehearsal), never the quality of a result.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pysam
import pytest
import torch

from lowcov.demo import write_fake_seed
from lowcov.dvexamples import read_dataset_config
from lowcov.engines.plan import seed_model_files
from lowcov.layout import REPO_ROOT, Layout
from lowcov.report.deepvariant import STANDIN_MARKER
from lowcov.dvmodel import load_checkpoint
from lowcov.study import deepvariant, deepvariant_controls

STANDIN = Path(__file__).parent / "standin"
sys.path.insert(0, str(STANDIN))
import standin  # noqa: E402  (the stand-in's own flag parser)

FLAGS = json.loads(standin.FIXTURE.read_text())
# every chapter that runs a stage, and chapter 8's parity table of DeepVariant's examples
CHAPTERS = ("01", "02", "03", "04", "05", "06", "07", "08")


def _published_model(layout: Layout) -> Path:
    """Files shaped as the seed downloads put them: dv_config.py and the WGS checkpoint's three files. The
    checkpoint is a real one, DeepVariant's network built with Keras (random weights) and saved as
    DeepVariant saves it, its batch-norm statistics those of the stand-in's images (random pixels), so that
    the batch-norm controls read, train and write real weights."""
    files = seed_model_files(layout)
    files["dv_config"].parent.mkdir(parents=True, exist_ok=True)
    files["dv_config"].write_text("# DeepVariant 1.8's dv_config.py stands here (rehearsal)\n")
    prefix = files["init_checkpoint"]
    _keras_checkpoint(prefix)
    (prefix.parent / "example_info.json").write_text(json.dumps(
        {"version": "1.8.0", "shape": [100, 221, 7], "channels": [1, 2, 3, 4, 5, 6, 19]}))
    return prefix


def _keras_checkpoint(prefix: Path) -> None:
    tf = pytest.importorskip("tensorflow", reason="the batch-norm controls need: pip install 'lowcov[deepvariant]'")
    tf_keras = pytest.importorskip("tf_keras", reason="DeepVariant's Keras 2 model needs tf-keras")
    from test_dvmodel import build_deepvariant_keras, images

    tf_keras.utils.set_random_seed(17)
    model = build_deepvariant_keras(tf_keras)
    norms = [layer for layer in model.layers if isinstance(layer, tf_keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0  # one training pass sets the moving statistics to the batch's
    model((images(8, seed=1).astype(np.float32) - 128) / 128, training=True)
    for layer in norms:
        layer.momentum = 0.99
    tf.train.Checkpoint(model).write(str(prefix))  # prefix.index + prefix.data-00000-of-00001


def _batch_norm_statistics(module) -> list:
    return [tensor for bn in module.bns for tensor in (bn.running_mean, bn.running_var)]


def _fake_gpu(folder: Path) -> Path:
    """An ``nvidia-smi`` listing one GPU, so train and calling take the -gpu image and the GPU flags."""
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / "nvidia-smi"
    tool.write_text('#!/bin/sh\necho "GPU 0: rehearsal (UUID: GPU-00000000)"\n')
    tool.chmod(0o755)
    return folder


def _executed_outputs(notebook: Path) -> tuple[list[str], list[str]]:
    """(markdown outputs, plain-text outputs) of an executed notebook's cells."""
    markdown, plain = [], []
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/markdown" in data:
                markdown.append("".join(data["text/markdown"]))
            if "text/plain" in data:
                plain.append("".join(data["text/plain"]))
    return markdown, plain


@pytest.mark.slow
def test_the_seed_chain_runs_through_the_standin(tmp_path):
    # the native control stops after two steps (V2 would run 20 epochs of InceptionV3 steps on the CPU)
    profile = write_fake_seed(tmp_path / "fake", parameters={"dv_shards": 2, "happy": True,
                                                             "execution_overrides": ["config.max_steps=2"]})
    data, builds = tmp_path / "data", tmp_path / "builds"
    layout = Layout(str(profile), root=data / "fake-seed")
    assert (layout.test_contig, layout.tune_contig, layout.rna_test_contig, layout.rna_tune_contig) == \
        ("chr1", "chr10", "1", "10")
    published = _published_model(layout)
    calls = tmp_path / "standin_calls.jsonl"
    env = dict(os.environ, LOWCOV_DATA=str(data), LOWCOV_PROFILE_BUILDS=str(builds), LOWCOV_STANDIN_PYTHON=sys.executable,
               STANDIN_CALLS=str(calls),
               PATH=os.pathsep.join([str(STANDIN), str(_fake_gpu(tmp_path / "gpu")), os.environ["PATH"]]))
    env.pop("LOWCOV_CONTAINER", None)
    only = [argument for number in CHAPTERS for argument in ("--only", number)]
    result = subprocess.run([sys.executable, "-m", "lowcov.book", "--profile", str(profile), "--no-build", *only],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # every container run the stand-in saw was a docker run it accepted (a refusal fails the chapter)
    runs = [json.loads(line)["args"] for line in calls.read_text().splitlines()]
    containers = [args for args in runs if args[0] == "run"]
    binaries = Counter(next(a for a in args if a.startswith("/opt/")).rsplit("/", 1)[-1] for args in containers)
    # run_deepvariant: chapter 3's two Quick Tests and 4's WES run; chapter 6 calls V2 and the two controls on
    # both datasets (the published model's calls are chapter 3's); chapter 7 adds V1 (the rest are reused)
    assert binaries == {"make_examples": 4, "train": 2, "run_deepvariant": 10, "hap.py": 5}, binaries
    for args in containers:  # checked again here, against DeepVariant 1.8's flag definitions
        command = args[next(i for i, a in enumerate(args) if a.startswith("/opt/")):]
        binary = command[0].rsplit("/", 1)[-1]
        spec = dict(FLAGS["binaries"][binary], all=FLAGS["binaries"])
        standin.parse_flags(binary, command[1:], spec)
    trains = [args for args in containers if "/opt/deepvariant/bin/train" in args]
    assert all("google/deepvariant:1.8.0-gpu" in args and "--gpus" in args for args in trains)
    assert any("--config.weight_decay=0.00005" in args for args in trains)  # V2's text, not its command
    makes = [args for args in containers if "/opt/deepvariant/bin/make_examples" in args]
    training = [args for args in makes if "training_set" in " ".join(args)]
    assert training and all(args[args.index("--regions") + 1] == "1 2 3 4 5 6 7 8 9 10" and
                            args[args.index("--exclude_regions") + 1] == "10" for args in training)
    rna = [args for args in containers if "--model_type=WES" in args]
    assert len(rna) == 1 and not any(a.startswith("--customized_model") for a in rna[0])
    # each container's log holds the command it ran: chapter outputs are traceable to a command line
    logs = list((data / "fake-seed").rglob("*.log"))
    assert len(logs) >= sum(binaries.values()) and all(log.read_text().startswith("# ") for log in logs)

    # DeepVariant-shaped outputs, in the plan's places
    for name in (deepvariant.TRAINING_SET, deepvariant.VALIDATION_SET):
        config = read_dataset_config(deepvariant.dataset_config(layout, name))
        assert config.num_examples > 0 and (deepvariant.examples_dir(layout) / "example_info.json").exists()
    selected = deepvariant.existing_fine_tuned(layout, with_controls=False)
    for iteration, prefix in selected.items():
        assert prefix.parent == deepvariant.experiment_dir(layout, iteration) / "checkpoints" / "ema"
        assert prefix.name.startswith("checkpoint-") and Path(f"{prefix}.index").exists()
        assert (deepvariant.experiment_dir(layout, iteration) / "train_log.csv").exists()
    for model in ("Original", "V1", "V2", "V2, frozen BN", "V2, original BN"):
        vcf = deepvariant.calls_vcf(layout, model, 0.5)
        with pysam.VariantFile(str(vcf)) as calls_file:
            assert {r.contig for r in calls_file} == {"chr1"}
        assert Path(f"{vcf}.tbi").exists()
        assert Path(f"{deepvariant.happy_prefix(layout, model, 0.5)}.summary.csv").exists()
    assert (deepvariant.calls_vcf(layout, "Original", 1.0)).exists()
    assert (layout.stage("calls") / "deepvariant" / STANDIN_MARKER).exists()

    # the chapters: the rehearsal notice wherever the engine ran; chapter 6 names the selected checkpoints,
    # chapter 7 shows the case study's tables for V1 and V2 beside lowcov's and hap.py's
    executed = builds / "fake-seed" / "executed"
    for number in ("03", "04", "05", "06", "07"):
        markdown, _ = _executed_outputs(next(executed.glob(f"{number}_*.ipynb")))
        assert any(text.startswith("**Rehearsal, not DeepVariant.**") for text in markdown), number
    markdown, _ = _executed_outputs(next(executed.glob("06_*.ipynb")))
    assert any(all(prefix.name in text for prefix in selected.values()) for text in markdown)
    markdown, plain = _executed_outputs(next(executed.glob("07_*.ipynb")))
    tables = "\n".join(plain)
    assert "case study" in tables and "lowcov" in tables and "V1 Fine-Tuned" in tables
    assert any("hap.py's own summary" in text for text in markdown)
    happy = [text for text in plain if "QUERY.TOTAL" in text and text.splitlines()[1:2]
             and text.splitlines()[1].startswith("Model")]
    assert happy and all(any(line.startswith(f"{m} ") for line in happy[0].splitlines()) for m in ("Original", "V1", "V2"))

    assert "V2, frozen BN" in tables and "V2, original BN" in tables  # hap.py's rows of the controls

    # the batch-norm controls: DeepVariant checkpoints lowcov.dvmodel loads; frozen statistics are the
    # published model's to the bit, the swap holds V2's weights with the published statistics
    controls = deepvariant_controls.existing_controls(layout)
    assert set(controls) == {"V2, frozen BN", "V2, original BN"}
    assert set(deepvariant.existing_fine_tuned(layout)) == {"V1", "V2", *controls}
    original, v2 = load_checkpoint(published), load_checkpoint(selected["V2"])
    frozen, swapped = load_checkpoint(controls["V2, frozen BN"]), load_checkpoint(controls["V2, original BN"])
    for start, trained in zip(_batch_norm_statistics(original), _batch_norm_statistics(frozen)):
        assert torch.equal(start, trained)
    assert not torch.equal(frozen.convs[0].weight, original.convs[0].weight)  # its weights trained
    assert not all(torch.equal(a, b) for a, b in zip(_batch_norm_statistics(original), _batch_norm_statistics(v2)))
    for start, put_back in zip(_batch_norm_statistics(original), _batch_norm_statistics(swapped)):
        assert torch.equal(start, put_back)
    for (name, weight), (_, kept) in zip(v2.named_parameters(), swapped.named_parameters()):
        assert torch.equal(weight, kept), name
    run = json.loads((deepvariant_controls.frozen_bn_directory(layout) / "best_checkpoint.json").read_text())
    assert run["steps"] == 2 and run["config"]["freeze_batch_norm"] and run["config"]["model_type"] == "inception_v3"
    for model in controls:
        assert deepvariant.calls_vcf(layout, model, 1.0).exists()
    markdown, plain = _executed_outputs(next(executed.glob("06_*.ipynb")))
    assert any("V2, frozen BN and V2, original BN keep the published statistics to the bit" in text
               for text in markdown)
    assert any("trains at most 2 steps on 45 examples" in text for text in markdown)
    assert any("SNP recall" in text and "SNP F1" in text and "V2, original BN" in text for text in plain)

    # chapter 8: the parity table of DeepVariant's validation examples (the stand-in's random pixels: no
    # pixel is expected to agree, only the plumbing)
    markdown, plain = _executed_outputs(next(executed.glob("08_*.ipynb")))
    parity = [text for text in markdown if "examples of the validation set DeepVariant's make_examples" in text]
    assert parity and "The first 5 examples" in parity[0]
    assert any("agreeing_percent" in text for text in plain)
