"""The plan: the shell script of everything the ``seed`` profile runs with the ``deepvariant`` engine,
written without running anything, and how it differs from the case study's commands.

:func:`write_plan` builds each container command with the same builders the engine executes
(:mod:`.commands`) and the same runtime spelling (:meth:`.runtime.ContainerRuntime.argv`), in run
order: downloads, the RNA pseudo-truth, training and tune examples, shuffling, the original model's
Quick Tests, V1 and V2 fine-tuning, checkpoint selection, calling chr1 (full and 50 %) and hap.py. Steps
lowcov runs in Python (downloads, preparation, filtering, shuffling, selection) appear as the Python
calls that run them. :func:`plan_differences` lists, with reasons, where the plan departs from the case
study's commands (chapter 8 shows both).
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from ..layout import Layout
from ..train.config import CASE_STUDY_V1, CASE_STUDY_V2
from .commands import (CallRequest, DeepVariantImages, HappyRequest, TrainingExamplesRequest, TrainRequest,
                       happy_command, make_examples_command, override_disagreements, run_deepvariant_command,
                       train_command)
from .runtime import ContainerCommand, ContainerRuntime

if TYPE_CHECKING:
    import pandas as pd

#: the RNA build's (Ensembl GRCh38) autosomes: the case study makes RNA examples of all of them (its
#: ``--regions``) except the tune contig (its ``--exclude_regions``); the RNA of chr1 trains, the DNA of chr1 tests
RNA_AUTOSOMES = tuple(str(n) for n in range(1, 23))
ITERATIONS = {"V1": CASE_STUDY_V1, "V2": CASE_STUDY_V2}
MODEL_FILES = {"dv_config": "dv_config", "init_checkpoint": "wgs_checkpoint_index"}


def seed_model_files(layout: Layout) -> dict[str, Path]:
    """Where the seed downloads put DeepVariant 1.8's ``dv_config.py`` and the WGS checkpoint prefix."""
    from ..seed import downloaded_path

    index = downloaded_path(layout, MODEL_FILES["init_checkpoint"])
    return {"dv_config": downloaded_path(layout, MODEL_FILES["dv_config"]),
            "init_checkpoint": index.with_name(index.name.removesuffix(".index"))}


def _layout(layout_or_profile: Layout | str) -> Layout:
    return layout_or_profile if isinstance(layout_or_profile, Layout) else Layout(layout_or_profile)


def _shell(runtime: ContainerRuntime, command: ContainerCommand) -> str:
    argv = runtime.argv(command, check_mounts=False)
    line = shlex.join(argv)
    if command.log_path is not None:
        line += f" > {shlex.quote(str(command.log_path))} 2>&1"
    return line


def _python(code: str) -> str:
    return f"python -c {shlex.quote(code)}"


def plan_commands(layout_or_profile: Layout | str = "seed", runtime: ContainerRuntime | None = None,
                  images: DeepVariantImages | None = None, n_shards: int = 16, gpu: bool = True) -> list[tuple[str, list[str]]]:
    """The plan as ``(section title, shell lines)`` in run order."""
    from ..seed import downloaded_path, load_manifest
    from ..study import deepvariant as chapters
    from ..study.pseudo_truth import RnaTruth

    layout = _layout(layout_or_profile)
    runtime = runtime or ContainerRuntime(os.environ.get("LOWCOV_CONTAINER", "docker") or "docker",
                                          sif_dir=layout.root / "containers")
    images = images or DeepVariantImages()
    models = seed_model_files(layout)
    sections: list[tuple[str, list[str]]] = []

    manifest = load_manifest()
    downloads = [f"# {entry.download_urls[0]} -> {downloaded_path(layout, entry.key, manifest)}"
                 for entry in manifest.files]
    pulls = sorted({images.cpu, images.for_gpu(gpu)})
    sections.append(("downloads and preparation (lowcov, resumable; then the images)",
                     downloads + [f"python -m lowcov.acquire --profile {layout.profile}"]
                     + [shlex.join(runtime.pull_command(image)) for image in pulls]))

    rna_bam, rna_reference = layout.rna_bam("ccs"), layout.rna_reference
    truth = RnaTruth.paths(layout)
    rna_calls = CallRequest(rna_bam, rna_reference, truth.calls_vcf, RNA_AUTOSOMES, model_type="WES",
                            num_shards=n_shards, gpu=gpu)
    sections.append(("RNA pseudo-truth: DeepVariant's WES model on the RNA reads (chapter 4)", [
        _shell(runtime, run_deepvariant_command(rna_calls, images)),
        "# then lowcov keeps the confident calls and the RNA confident regions (notebook 04):",
        _python(f"from lowcov.study.pseudo_truth import filter_pseudo_truth; "
                f"filter_pseudo_truth({str(truth.calls_vcf)!r}, {str(truth.pseudo_truth_vcf)!r})")]))

    examples_dir = chapters.examples_dir(layout)
    requests = {
        "training_set": TrainingExamplesRequest("training_set", rna_bam, rna_reference, truth.pseudo_truth_vcf,
                                                truth.confident_bed, (" ".join(RNA_AUTOSOMES),), examples_dir,
                                                (layout.rna_tune_contig,), n_shards),
        "validation_set": TrainingExamplesRequest("validation_set", rna_bam, rna_reference, truth.pseudo_truth_vcf,
                                                  truth.confident_bed, (layout.rna_tune_contig,), examples_dir, (), n_shards),
    }
    for name, request in requests.items():
        sections.append((f"make_examples --mode training: {name} ({n_shards} shards; the engine runs several at once; chapter 5)",
                         [_shell(runtime, make_examples_command(request, task, images)) for task in range(n_shards)]))
    pbtxts = {name: chapters.dataset_config(layout, name) for name in requests}
    sections.append(("shuffle into shards + dataset_config.pbtxt + example_info.json (lowcov)", [
        _python(f"from lowcov.engines.shuffle import shuffle_examples; "
                f"shuffle_examples({request.examples_spec!r}, {str(examples_dir)!r}, {name!r})")
        for name, request in requests.items()]))

    quick = _test_contig_calls(layout, runtime, images, chapters.PUBLISHED, None, n_shards, gpu)
    sections.append(("the original model's Quick Tests: chr1 full and 50 % + hap.py (chapter 3)", quick))

    for iteration, overrides in ITERATIONS.items():
        experiment_dir = chapters.experiment_dir(layout, iteration)
        request = TrainRequest(models["dv_config"], pbtxts["training_set"], pbtxts["validation_set"],
                               models["init_checkpoint"], experiment_dir, tuple(overrides), gpu=gpu)
        variable = f"{iteration}_CHECKPOINT"
        ema_dir = experiment_dir / "checkpoints" / "ema"
        lines = [_shell(runtime, train_command(request, images)),
                 f"{variable}=\"$(" + _python(f"from lowcov.engines.training_outputs import select_checkpoint; "
                                              f"print(select_checkpoint({str(experiment_dir)!r}).prefix)") + ')"']
        # the selected checkpoint is known only when training ends: the calls read it from the shell variable
        lines += [line.replace(f"--customized_model={ema_dir / variable}", f"--customized_model=\"${{{variable}}}\"")
                  for line in _test_contig_calls(layout, runtime, images, iteration, ema_dir / variable, n_shards, gpu)]
        sections.append((f"{iteration}: train from the published WGS checkpoint, select the best EMA checkpoint, "
                         "call chr1 full and 50 %, hap.py (chapters 6-7)", lines))
    sections.append(_controls_section(layout, runtime, images, n_shards, gpu))
    return sections


def _controls_section(layout: Layout, runtime: ContainerRuntime, images: DeepVariantImages, n_shards: int,
                      gpu: bool) -> tuple[str, list[str]]:
    """Chapter 6's batch-norm controls on DeepVariant's network: made by lowcov (its trainer and checkpoint
    surgery, since DeepVariant's train cannot freeze batch norm), then called by the container like V2."""
    from ..study import deepvariant as chapters
    from ..study import deepvariant_controls as controls

    lines = ["# lowcov: V2 with frozen batch norm (native InceptionV3 fine-tuning from the published checkpoint) and "
             "V2's selected checkpoint with the published batch-norm statistics, both written as DeepVariant checkpoints",
             # V2's selected checkpoint reaches Python through the environment (a quoted program sees no shell variables)
             'V2_CHECKPOINT="${V2_CHECKPOINT}" ' + _python(
                 f"import os; from lowcov.layout import Layout; from lowcov.study import deepvariant as d, "
                 f"deepvariant_controls as c; layout = Layout({layout.profile!r}); engine = d.deepvariant_engine(layout); "
                 f"c.run_controls(layout, engine, d.existing_training_data(layout), os.environ['V2_CHECKPOINT'])")]
    prefixes = {controls.FROZEN_BN.name: controls.frozen_bn_prefix(layout),
                controls.ORIGINAL_BN: controls.original_bn_prefix(layout)}
    for name, prefix in prefixes.items():
        lines += _test_contig_calls(layout, runtime, images, name, prefix, n_shards, gpu)
    return ("batch-norm controls on DeepVariant's network: lowcov makes them, the container calls them "
            "(chapters 6-7)", lines)


def _test_contig_calls(layout: Layout, runtime: ContainerRuntime, images: DeepVariantImages, model: str,
                       checkpoint: Path | None, n_shards: int, gpu: bool) -> list[str]:
    """``model`` (``checkpoint`` None: the image's own WGS model) calls the test contig at full coverage and at
    the profile's fraction, each call followed by hap.py: the shell lines, in order."""
    from ..study import deepvariant as chapters

    lines = []
    for fraction in (1.0, layout.downsample_fraction):
        call = CallRequest(layout.dna_test_bam(fraction), layout.dna_reference,
                           chapters.calls_vcf(layout, model, fraction), (layout.test_contig,),
                           customized_model=checkpoint, num_shards=n_shards, gpu=gpu)
        lines.append(_shell(runtime, run_deepvariant_command(call, images)))
        lines.append(_shell(runtime, happy_command(_happy(layout, call, chapters.happy_prefix(layout, model, fraction)))))
    return lines


def _happy(layout: Layout, call: CallRequest, prefix: Path) -> HappyRequest:
    return HappyRequest(layout.truth_vcf, call.output_vcf, layout.confident_bed, layout.dna_reference, prefix,
                        layout.test_contig)


def write_plan(layout_or_profile: Layout | str, path: str | os.PathLike, **options) -> Path:
    """Write the plan (see :func:`plan_commands` for ``options``) as an executable shell script."""
    layout = _layout(layout_or_profile)
    lines = ["#!/usr/bin/env bash",
             f"# What lowcov's {layout.profile!r} profile runs with the deepvariant engine, in order (written by",
             "# lowcov.engines.plan.write_plan; nothing was run to write it). Container commands are built by the",
             "# functions the engine runs them with. Differences from the case study: lowcov.engines.plan.plan_differences.",
             "set -euo pipefail", ""]
    for title, commands in plan_commands(layout, **options):
        lines += [f"# === {title}", *commands, ""]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".partial-{path.name}")
    tmp.write_text("\n".join(lines))
    tmp.chmod(0o755)
    os.replace(tmp, path)
    return path


def plan_differences() -> list[dict]:
    """Where the plan departs from the case study's commands: ``step``, ``case_study``, ``plan``, ``why``."""
    rows = [
        {"step": "all containers", "case_study": "sudo docker run -v ${HOME}:${HOME} (-w ${HOME})",
         "plan": "docker|podman|apptainer; each input and output directory mounted at its own path; docker runs "
                 "as the calling user (--user uid:gid)",
         "why": "the same paths inside and out without exposing the whole home directory; outputs owned by the user"},
        {"step": "GPU", "case_study": "--gpus 1",
         "plan": "--gpus all (docker), --device nvidia.com/gpu=all (podman), --nv (apptainer)",
         "why": "each runtime's own spelling; the case study's machine had one GPU, so 'all' is the same there"},
        {"step": "images", "case_study": "google/deepvariant-1.8.0-gpu (pseudo-truth), deepvariant-custom_v2:1.8.0 (train)",
         "plan": "google/deepvariant:1.8.0 (make_examples), google/deepvariant:1.8.0-gpu (train, run_deepvariant)",
         "why": "the first name is not a published image (the tag is after ':'); the custom image is not published"},
        {"step": "RNA pseudo-truth", "case_study": "run_deepvariant --model_type WES ... (arguments elided)",
         "plan": "--model_type=WES on the aligned RNA reads over chromosomes 1-22, with --intermediate_results_dir; "
                 "split_skip_reads=true only when asked",
         "why": "the case study does not show the rest of its command; DeepVariant's RNA-seq case study adds "
                "split_skip_reads=true, which the case study does not mention"},
        {"step": "make_examples regions", "case_study": "--regions \"'chr1 chr2 chr3 ... chr22'\" --exclude_regions \"'chr10'\"",
         "plan": "--regions '1 2 ... 22' --exclude_regions 10 (one argument each)",
         "why": "the quotes are for GNU parallel's shell, which an argument list does not need; the RNA reads are "
                "aligned to Ensembl GRCh38, whose contigs are 1..22, not chr1..chr22"},
        {"step": "make_examples reference and truth",
         "case_study": "GRCh38_no_alt_analysis_set.fasta; HG002 GIAB v4.2.1 truth and confident regions",
         "plan": "the Ensembl GRCh38 primary assembly the RNA reads were aligned to; the RNA pseudo-truth and the "
                 "RNA confident regions",
         "why": "a BAM is read against the reference it was aligned to; the case study's text labels the RNA with "
                "its DeepVariant pseudo-truth (HG002 is not the RNA's sample, UHRR)"},
        {"step": "make_examples channels", "case_study": "(no --channel_list)",
         "plan": "--channel_list BASE_CHANNELS,insert_size",
         "why": "DeepVariant 1.8 refuses training mode without --channel_list; these are the WGS model's 7 channels"},
        {"step": "validation examples", "case_study": "\"run this again for the validation set\"",
         "plan": "make_examples --regions 10 (validation_set)", "why": "written out so the plan is complete"},
        {"step": "shuffle", "case_study": "DeepVariant's shuffle script (Apache Beam)",
         "plan": "lowcov.engines.shuffle: the same output files (shards, dataset_config.pbtxt, example_info.json)",
         "why": "runs without Beam or a cloud project; seeded"},
        {"step": "train config", "case_study": "--config=/home/rubinthomas/dv_config.py:wgs",
         "plan": "--config=<downloads>/dv_config.py:wgs (DeepVariant's r1.8 branch)",
         "why": "the case study's file is not published; its text quotes get_wgs_config of 1.8"},
        {"step": "train data and start", "case_study": "gs://deep-var-test/*.dataset_config.pbtxt; init_checkpoint gs://...",
         "plan": "local dataset configs; init_checkpoint = the downloaded copy of the same published checkpoint",
         "why": "the case study's bucket is private; the checkpoint is the same three files"},
        {"step": "V1 command", "case_study": "(no command; a bullet list)", "plan": "the V1 bullet list as --config overrides",
         "why": "the text is the only record of V1"},
        {"step": "calling", "case_study": "run_deepvariant on chr1 (Quick Tests; fine-tuned models)",
         "plan": "--customized_model=<best EMA checkpoint by tune/f1_weighted>, --regions=chr1, --num_shards, "
                 "--intermediate_results_dir",
         "why": "the case study does not say which checkpoint it deployed; DeepVariant's users take the best metric"},
        {"step": "small model", "case_study": "(not mentioned; DeepVariant 1.8's run_deepvariant default)",
         "plan": "--disable_small_model=true on every call",
         "why": "1.8.0's small model genotypes confident biallelic candidates before the network sees them; left on, "
                "part of V1's and V2's calls would be the published small model's, not the fine-tuned network's. "
                "So the published model's Quick Test here may differ from the case study's by the small model's calls"},
        {"step": "logs", "case_study": "( time ... ) 2>&1 | tee ...log", "plan": "each command's output to its own log file",
         "why": "a failed shard's log names the task; the engine reports its tail"},
    ]
    for row in override_disagreements():
        rows.append({"step": f"V2 config.{row['key']}", "case_study": f"example command: {row['command']}",
                     "plan": f"text: {row['text']}" if row["text"] is not None else "not set (WGS default)",
                     "why": row["note"]})
    return rows


def plan_differences_table() -> "pd.DataFrame":
    """:func:`plan_differences` as a pandas table (chapter 8)."""
    import pandas as pd

    return pd.DataFrame(plan_differences(), columns=["step", "case_study", "plan", "why"])
