"""DeepVariant 1.8's command lines, built as argument lists: one builder per binary the engine runs.

The engine (:mod:`.deepvariant`) runs exactly what these return and the plan (:mod:`.plan`) prints it,
so the two cannot drift apart. Flags are those of DeepVariant's own command lines in its training case
study and in the case study this book reproduces; ``tests/fixtures/deepvariant_1_8_flags.json`` lists
where each flag was read in google/deepvariant.

The case study's fine-tuning settings come from its *text* (the V1 and V2 bullet lists,
:data:`lowcov.train.config.CASE_STUDY_V1` / ``CASE_STUDY_V2``), each value spelled as the text spells
it; :func:`override_disagreements` lists where its V2 example command says otherwise.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .. import InputError
from ..train.config import (CASE_STUDY_V1, CASE_STUDY_V2, CASE_STUDY_V2_COMMAND, TrainConfig, apply_overrides,
                            command_config_overrides)
from .runtime import GPU_SUFFIX, ContainerCommand

BIN_DIR = "/opt/deepvariant/bin"
#: the case study's channels: DeepVariant's six base channels and insert size (the WGS model's seventh)
CHANNEL_LIST = "BASE_CHANNELS,insert_size"
HAPPY_IMAGE = "jmcdani20/hap.py:v0.3.12"
HAPPY_BINARY = "/opt/hap.py/bin/hap.py"
#: the case study's overrides by iteration
OVERRIDE_SETS = {"V1": CASE_STUDY_V1, "V2": CASE_STUDY_V2}
_OVERRIDE_TEXT = re.compile(r"^\s*(?:--)?config\.(?P<key>\w+)\s*=\s*(?P<value>'[^']*'|\"[^\"]*\"|\S+)")


@dataclass(frozen=True)
class DeepVariantImages:
    """The images by tag: ``google/deepvariant:1.8.0`` for CPU stages, ``...-gpu`` for train and calling."""

    version: str = "1.8.0"
    repository: str = "google/deepvariant"

    @property
    def cpu(self) -> str:
        return f"{self.repository}:{self.version}"

    @property
    def gpu(self) -> str:
        return f"{self.cpu}{GPU_SUFFIX}"

    def for_gpu(self, gpu: bool) -> str:
        return self.gpu if gpu else self.cpu


def binary(name: str) -> str:
    return f"{BIN_DIR}/{name}"


def shard_spec(path_prefix: str | Path, n_shards: int, suffix: str = ".gz") -> str:
    """DeepVariant's sharded name: ``prefix@N.gz``."""
    return f"{path_prefix}@{n_shards}{suffix}"


# --------------------------------------------------------------------------------------------------
# make_examples


@dataclass(frozen=True)
class TrainingExamplesRequest:
    """What one ``make_examples --mode training`` run over all its shards makes. ``regions`` and
    ``exclude_regions``: DeepVariant's space-separated region literals (contig names of ``reference``)."""

    name: str
    reads: Path
    reference: Path
    truth_vcf: Path
    confident_regions: Path
    regions: tuple[str, ...]
    out_dir: Path
    exclude_regions: tuple[str, ...] = ()
    n_shards: int = 16
    channel_list: str = CHANNEL_LIST

    @property
    def examples_spec(self) -> str:
        return shard_spec(self.out_dir / f"{self.name}.with_label.tfrecord", self.n_shards)

    @property
    def log_dir(self) -> Path:
        return self.out_dir / "logs"


def make_examples_command(request: TrainingExamplesRequest, task: int, images: DeepVariantImages) -> ContainerCommand:
    """``make_examples --mode training`` for shard ``task`` of ``request.n_shards`` (the case study's
    flags, with its ``--channel_list`` and the train / tune split as ``--regions`` / ``--exclude_regions``)."""
    if not 0 <= task < request.n_shards:
        raise ValueError(f"task {task} is not one of 0..{request.n_shards - 1}")
    argv = [binary("make_examples"), "--mode", "training",
            "--ref", str(request.reference), "--reads", str(request.reads),
            "--examples", request.examples_spec,
            "--truth_variants", str(request.truth_vcf), "--confident_regions", str(request.confident_regions),
            "--task", str(task), "--regions", " ".join(request.regions)]
    if request.exclude_regions:
        argv += ["--exclude_regions", " ".join(request.exclude_regions)]
    argv += ["--channel_list", request.channel_list]
    return ContainerCommand(
        image=images.cpu, command=tuple(argv),
        mounts=(request.reference.parent, request.reads.parent, request.truth_vcf.parent,
                request.confident_regions.parent, request.out_dir),
        log_path=request.log_dir / f"make_examples.{request.name}.task{task:05d}.log",
        label=f"make_examples {request.name} task {task} of {request.n_shards}")


# --------------------------------------------------------------------------------------------------
# train


def override_items(overrides: Sequence[str]) -> list[tuple[str, str]]:
    """``(key, value as written)`` for each ``config.key = value ...`` line, in order; a key given twice
    keeps its last value (absl's rule). Each line is also checked against DeepVariant's WGS keys
    (:func:`lowcov.train.config.apply_overrides` raises on an unknown key or a bad value)."""
    items: dict[str, str] = {}
    for line in overrides:
        match = _OVERRIDE_TEXT.match(line)
        if not match:
            raise InputError(f"not a config override: {line!r} (expected config.<key> = <value>)")
        apply_overrides(TrainConfig(), [line])
        items.pop(match["key"], None)
        items[match["key"]] = match["value"].strip("'\"")
    return list(items.items())


@dataclass(frozen=True)
class TrainRequest:
    """One fine-tuning run: ``train --config=<dv_config.py>:wgs`` with dataset configs, the published
    checkpoint to start from and the iteration's overrides (``overrides``: the case study's lines)."""

    dv_config: Path
    train_dataset_pbtxt: Path
    tune_dataset_pbtxt: Path
    init_checkpoint: Path
    experiment_dir: Path
    overrides: tuple[str, ...] = tuple(CASE_STUDY_V2)
    config_name: str = "wgs"
    strategy: str = "mirrored"
    gpu: bool = True


def train_command(request: TrainRequest, images: DeepVariantImages) -> ContainerCommand:
    argv = [binary("train"), f"--config={request.dv_config}:{request.config_name}",
            f"--config.train_dataset_pbtxt={request.train_dataset_pbtxt}",
            f"--config.tune_dataset_pbtxt={request.tune_dataset_pbtxt}",
            f"--config.init_checkpoint={request.init_checkpoint}"]
    argv += [f"--config.{key}={value}" for key, value in override_items(request.overrides)]
    argv += [f"--experiment_dir={request.experiment_dir}", f"--strategy={request.strategy}"]
    checkpoint_dir = Path(request.init_checkpoint).parent
    return ContainerCommand(
        image=images.for_gpu(request.gpu), command=tuple(argv), gpu=request.gpu,
        mounts=(request.dv_config.parent, request.train_dataset_pbtxt.parent, request.tune_dataset_pbtxt.parent,
                checkpoint_dir, request.experiment_dir),
        workdir=request.experiment_dir, log_path=request.experiment_dir / "train.log",
        label=f"train {request.experiment_dir.name}")


def override_disagreements() -> list[dict]:
    """Where the case study's V2 example command disagrees with its V2 text, one row per key:
    ``key``, ``text`` (the bullet list's value, what the engine runs), ``command`` (the example command's
    value as absl would take it, the last one given) and ``note``."""
    text = dict(override_items(CASE_STUDY_V2))
    command_lines = command_config_overrides(CASE_STUDY_V2_COMMAND)
    given: dict[str, list[str]] = {}
    spaced: set[str] = set()
    for line in command_lines:
        match = _OVERRIDE_TEXT.match(line)
        key = match["key"]
        given.setdefault(key, []).append(match["value"].strip("'\""))
        if re.search(r"\s=|=\s", line):
            spaced.add(key)
    paths = {"train_dataset_pbtxt", "tune_dataset_pbtxt", "init_checkpoint"}
    rows = []
    for key in list(text) + [k for k in given if k not in text and k not in paths]:
        in_text, in_command = text.get(key), (given[key][-1] if key in given else None)
        notes = []
        if in_command is None:
            notes.append("set in the text only")
        elif in_text is None:
            notes.append("set in the command only (the text does not mention it; the engine leaves "
                         "DeepVariant's WGS default)")
        elif float(in_text) != float(in_command):
            notes.append("values differ; the engine follows the text")
        if key in given and len(given[key]) > 1:
            notes.append(f"given {len(given[key])} times in the command ({', '.join(given[key])}); absl keeps "
                         "the last")
        if key in spaced:
            notes.append("written with spaces around '=' in the command, which a shell splits into separate "
                         "arguments that train would not read as this override")
        if notes:
            rows.append({"key": key, "text": in_text, "command": in_command, "note": "; ".join(notes)})
    return rows


# --------------------------------------------------------------------------------------------------
# calling


@dataclass(frozen=True)
class CallRequest:
    """``run_deepvariant`` over ``regions`` of ``reads``. ``customized_model``: a checkpoint prefix (the
    fine-tuned network); None = the image's built-in model of ``model_type``. ``split_skip_reads``:
    DeepVariant's RNA-seq setting (reads split at their N/skip CIGAR operations). ``small_model``: False
    passes ``--disable_small_model=true``. DeepVariant 1.8.0 introduced a small model that genotypes
    confident biallelic candidates inside make_examples, before the network sees them
    (docs/deepvariant-small-model-details.md); left on, part of a fine-tuned model's calls would be the
    published small model's, so the study compares networks only with it off."""

    reads: Path
    reference: Path
    output_vcf: Path
    regions: tuple[str, ...]
    model_type: str = "WGS"
    customized_model: Path | None = None
    num_shards: int = 16
    split_skip_reads: bool = False
    gpu: bool = True
    small_model: bool = False

    @property
    def intermediate_results_dir(self) -> Path:
        return self.output_vcf.parent / f"{self.output_vcf.name.removesuffix('.vcf.gz')}.intermediate"


def run_deepvariant_command(request: CallRequest, images: DeepVariantImages) -> ContainerCommand:
    argv = [binary("run_deepvariant"), f"--model_type={request.model_type}"]
    mounts: list[Path] = [request.reads.parent, request.reference.parent, request.output_vcf.parent,
                          request.intermediate_results_dir]
    if request.customized_model is not None:
        argv.append(f"--customized_model={request.customized_model}")
        mounts.append(Path(request.customized_model).parent)
    argv += [f"--ref={request.reference}", f"--reads={request.reads}", f"--regions={' '.join(request.regions)}",
             f"--output_vcf={request.output_vcf}", f"--num_shards={request.num_shards}",
             f"--intermediate_results_dir={request.intermediate_results_dir}"]
    if not request.small_model:
        argv.append("--disable_small_model=true")
    if request.split_skip_reads:
        argv.append("--make_examples_extra_args=split_skip_reads=true")
    return ContainerCommand(
        image=images.for_gpu(request.gpu), command=tuple(argv), gpu=request.gpu, mounts=tuple(mounts),
        log_path=request.output_vcf.parent / "logs" / f"{request.output_vcf.name.removesuffix('.vcf.gz')}.log",
        label=f"run_deepvariant {request.output_vcf.name}")


@dataclass(frozen=True)
class HappyRequest:
    truth_vcf: Path
    query_vcf: Path
    confident_regions: Path
    reference: Path
    output_prefix: Path
    location: str


def happy_command(request: HappyRequest, image: str = HAPPY_IMAGE) -> ContainerCommand:
    """hap.py with the vcfeval engine, as DeepVariant's training case study runs it."""
    argv = [HAPPY_BINARY, str(request.truth_vcf), str(request.query_vcf), "-f", str(request.confident_regions),
            "-r", str(request.reference), "-o", str(request.output_prefix), "-l", request.location,
            "--engine=vcfeval", "--pass-only"]
    return ContainerCommand(
        image=image, command=tuple(argv),
        mounts=(request.truth_vcf.parent, request.query_vcf.parent, request.confident_regions.parent,
                request.reference.parent, request.output_prefix.parent),
        log_path=request.output_prefix.parent / "logs" / f"{request.output_prefix.name}.happy.log",
        label=f"hap.py {request.output_prefix.name}")
