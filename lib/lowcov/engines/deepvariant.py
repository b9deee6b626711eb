"""The ``deepvariant`` engine: the study's stages run by DeepVariant 1.8's own images.

===================== ===================================================== ==================================
stage                 runs                                                  writes
===================== ===================================================== ==================================
training examples     ``make_examples --mode training`` x N shards (*)      ``<name>.with_label.tfrecord-*``
shuffle               :mod:`.shuffle` (in Python, seeded)                   shards + pbtxt + example_info.json
train                 ``train --config=dv_config.py:wgs`` + V1/V2 overrides ``checkpoints/ema/checkpoint-*``
select checkpoint     :func:`.training_outputs.select_checkpoint`           (the deployed prefix)
call variants         ``run_deepvariant --customized_model``                bgzipped VCF + .tbi
RNA pseudo-truth      ``run_deepvariant --model_type WES``                  bgzipped VCF + .tbi
hap.py (optional)     ``hap.py --engine=vcfeval``                           ``<prefix>.summary.csv``
===================== ===================================================== ==================================

(*) on threads of this process, or as Dask tasks when a scheduler is chosen (:func:`run_in_pool`).

Every command comes from :mod:`.commands` and runs through :mod:`.runtime`. A shard, a training run
or a call that finished leaves a ``.done`` marker holding its command; a re-run skips what is marked,
so a run killed mid-way re-runs only its missing shards. Reads and references are checked before a
container starts: a BAM whose contig names are not the reference's (hg19 ``chr1`` against Ensembl
GRCh38 ``1``, or the reverse) is an error naming both files.
"""
from __future__ import annotations

import logging
import os
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import InputError
from ..checks import (bam_contigs, check_contigs_match, describe_naming, fasta_contigs, require_bam, require_fasta,
                      require_file)
from ..executor import chosen_scheduler, run_shards
from ..dvexamples import example_info_path, read_dataset_config, read_example_info, sharded_filename
from .commands import (CallRequest, DeepVariantImages, HappyRequest, TrainingExamplesRequest, TrainRequest,
                       happy_command, make_examples_command, run_deepvariant_command, train_command)
from .runtime import ContainerCommand, ContainerRunError, ContainerRuntime, detect_runtime
from .shuffle import shuffle_examples, verify_dataset_config
from .training_outputs import require_checkpoint, select_checkpoint

log = logging.getLogger(__name__)


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".done")


def _is_done(output: Path, command: ContainerCommand) -> bool:
    marker = _marker(output)
    return output.exists() and marker.exists() and marker.read_text() == shlex.join(command.command)


def _mark_done(output: Path, command: ContainerCommand) -> None:
    _marker(output).write_text(shlex.join(command.command))


def region_contigs(regions: Sequence[str]) -> list[str]:
    """Contig names of DeepVariant region literals (``chr1``, ``chr1:100-200``); BED paths are skipped."""
    names = []
    for region in regions:
        for part in region.split():
            if part.endswith((".bed", ".bed.gz", ".bedpe")):
                continue
            names.append(part.split(":", 1)[0])
    return list(dict.fromkeys(names))


def require_same_build(reads: str | os.PathLike, reference: str | os.PathLike, regions: Sequence[str]) -> None:
    """``reads`` must name and size the contigs of ``regions`` as ``reference`` does: DeepVariant reads
    by name, so hg19's ``chr1`` against Ensembl GRCh38's ``1`` would find no reads at all."""
    reads, reference = require_bam(reads), require_fasta(reference)
    wanted = region_contigs(regions)
    in_reads, in_reference = bam_contigs(reads), fasta_contigs(reference)
    if not set(in_reads) & set(in_reference):
        raise InputError(
            f"the contig names of {reads} ({describe_naming(in_reads)}, e.g. {', '.join(list(in_reads)[:3])}) match "
            f"neither build of the reference it is run against, {reference} ({describe_naming(in_reference)}, e.g. "
            f"{', '.join(list(in_reference)[:3])}); the study's DNA is on hg19 (chr1, ...) and its RNA on Ensembl "
            "GRCh38 (1, ...): give the reference the reads were aligned to")
    check_contigs_match(in_reads, reads, in_reference, reference, needed=wanted)
    absent = [c for c in wanted if c not in in_reads]
    if absent:
        raise InputError(f"{reads} has no contig {', '.join(absent)} (it has {', '.join(list(in_reads)[:5])}, ...); "
                         f"the regions must use the names of {reference}")


@dataclass(frozen=True)
class ShardJob:
    """One make_examples shard: picklable, so a process or cluster executor can run it."""

    runtime: ContainerRuntime
    command: ContainerCommand
    output: Path
    task: int


def run_shard(job: ShardJob) -> Path:
    """Run one shard from scratch (a partial output of a killed run is removed first) and mark it done."""
    _marker(job.output).unlink(missing_ok=True)
    job.output.unlink(missing_ok=True)
    job.runtime.run(job.command)
    if not job.output.exists():
        raise ContainerRunError(f"{job.command.label} exited 0 but wrote no {job.output} (log: {job.command.log_path})")
    _mark_done(job.output, job.command)
    return job.output


def run_in_pool(jobs: Sequence[ShardJob], workers: int, run_one: Callable[[ShardJob], object] = run_shard,
                scheduler: Any = None) -> list[tuple[ShardJob, Exception]]:
    """Run every job and return the failures: each job runs even when another fails, so a re-run has
    fewer to do. Without a Dask scheduler (``scheduler`` or ``lowcov.executor``'s configured one) the
    jobs run ``workers`` at a time on threads of this process, since each only waits for its container;
    with one, each job is a Dask task on the cluster's workers (which need the container runtime and the
    shared paths)."""
    collect = partial(_error_of, run_one)
    if chosen_scheduler(scheduler) is None:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            errors = list(pool.map(collect, jobs))
    else:
        errors = run_shards(collect, jobs, description="make_examples shards", scheduler=scheduler,
                            labels=[f"task {job.task}" for job in jobs])
    return [(job, error) for job, error in zip(jobs, errors) if error is not None]


def _error_of(run_one: Callable[[ShardJob], object], job: ShardJob) -> Exception | None:
    """``run_one(job)``'s container or input error, returned so that the other shards still run."""
    try:
        run_one(job)
    except (ContainerRunError, InputError) as exc:
        return exc
    return None


@dataclass
class DeepVariantEngine:
    """The study's stages through DeepVariant 1.8's containers (module docstring).

    ``dv_config`` / ``init_checkpoint``: DeepVariant 1.8's ``dv_config.py`` and the published WGS
    checkpoint prefix (the seed manifest downloads both); ``workers``: make_examples shards at once."""

    runtime: ContainerRuntime | None = None
    images: DeepVariantImages = field(default_factory=DeepVariantImages)
    dv_config: Path | None = None
    init_checkpoint: Path | None = None
    n_shards: int = 16
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    gpu: bool = True
    allow_cpu_fallback: bool = False
    #: a Dask scheduler address or dask-jobqueue YAML for make_examples' shards (None: lowcov.executor's
    #: configured one, else threads on this machine)
    scheduler: Any = None
    name: str = "deepvariant"

    def __post_init__(self):
        if self.runtime is None:
            self.runtime = detect_runtime(allow_cpu_fallback=self.allow_cpu_fallback)

    # -- make_examples -------------------------------------------------------------------------------
    def training_examples_request(self, name: str, reads: Path, reference: Path, truth_vcf: Path,
                                  confident_regions: Path, regions: Sequence[str], out_dir: Path,
                                  exclude_regions: Sequence[str] = ()) -> TrainingExamplesRequest:
        return TrainingExamplesRequest(name, Path(reads), Path(reference), Path(truth_vcf), Path(confident_regions),
                                       tuple(regions), Path(out_dir), tuple(exclude_regions), self.n_shards)

    def make_training_examples(self, request: TrainingExamplesRequest) -> str:
        """All shards of ``request`` (only those not already done); returns the examples spec."""
        require_same_build(request.reads, request.reference, request.regions)
        require_file(request.truth_vcf, "truth VCF")
        require_file(request.confident_regions, "confident regions BED")
        request.log_dir.mkdir(parents=True, exist_ok=True)
        jobs = [ShardJob(self.runtime, make_examples_command(request, task, self.images),
                         Path(sharded_filename(request.examples_spec, task)), task)
                for task in range(request.n_shards)]
        pending = [job for job in jobs if not _is_done(job.output, job.command)]
        log.info("make_examples %s: %d of %d shards to run", request.name, len(pending), request.n_shards)
        failures = run_in_pool(pending, self.workers, scheduler=self.scheduler)
        if failures:
            job, first = failures[0]
            raise ContainerRunError(f"{len(failures)} of {request.n_shards} make_examples shards of {request.name} "
                                    f"failed (a re-run runs only these); the first, task {job.task}:\n{first}")
        info = example_info_path(request.examples_spec)
        if not info.exists():
            raise InputError(f"make_examples wrote no {info}; train needs it beside the examples")
        return request.examples_spec

    def shuffle(self, examples: str, out_dir: Path, dataset_name: str, seed: int = 1) -> Path:
        return shuffle_examples(examples, out_dir, dataset_name, seed=seed).pbtxt

    # -- train -----------------------------------------------------------------------------------------
    def train_request(self, train_dataset: Path, tune_dataset: Path, experiment_dir: Path,
                      overrides: Sequence[str]) -> TrainRequest:
        if self.dv_config is None or self.init_checkpoint is None:
            raise InputError("the deepvariant engine's train needs dv_config (DeepVariant 1.8's dv_config.py) and "
                             "init_checkpoint (the published WGS checkpoint prefix): download them with "
                             "python -m lowcov.acquire --profile seed, or pass them")
        return TrainRequest(Path(self.dv_config), Path(train_dataset), Path(tune_dataset), Path(self.init_checkpoint),
                            Path(experiment_dir), tuple(overrides), gpu=self.gpu)

    def train(self, train_dataset: Path, tune_dataset: Path, experiment_dir: Path, overrides: Sequence[str]) -> Path:
        """Fine-tune from the published checkpoint; a finished run with the same command is reused, an
        unfinished one resumes (train restores its state from ``experiment_dir``)."""
        request = self.train_request(train_dataset, tune_dataset, experiment_dir, overrides)
        require_file(request.dv_config, "dv_config.py")
        require_checkpoint(request.init_checkpoint)
        for pbtxt in (request.train_dataset_pbtxt, request.tune_dataset_pbtxt):
            verify_dataset_config(pbtxt)
        self._require_same_inputs(request)
        command = train_command(request, self.images)
        done = request.experiment_dir / "train"
        if _is_done(done, command):
            log.info("%s: trained already with this command; reusing it", request.experiment_dir)
            return request.experiment_dir
        request.experiment_dir.mkdir(parents=True, exist_ok=True)
        self.runtime.run(command)
        done.write_text("complete\n")
        _mark_done(done, command)
        return request.experiment_dir

    @staticmethod
    def _require_same_inputs(request: TrainRequest) -> None:
        """The examples must have the published model's shape and channels, or the warm start fails."""
        model_info = request.init_checkpoint.parent / "example_info.json"
        if not model_info.exists():
            return
        examples_info = Path(read_dataset_config(request.train_dataset_pbtxt).tfrecord_path).parent / "example_info.json"
        wanted, got = read_example_info(model_info), read_example_info(examples_info)
        if (wanted.shape, wanted.channels) != (got.shape, got.channels):
            raise InputError(f"{examples_info}: examples of shape {list(got.shape)} with channels {list(got.channels)} "
                             f"cannot fine-tune {request.init_checkpoint}, made for shape {list(wanted.shape)} and "
                             f"channels {list(wanted.channels)} ({model_info})")

    def select_checkpoint(self, experiment_dir: Path, metric: str = "tune/f1_weighted") -> Path:
        return select_checkpoint(experiment_dir, metric).prefix

    # -- calling ---------------------------------------------------------------------------------------
    def call_request(self, reads: Path, reference: Path, output_vcf: Path, regions: Sequence[str],
                     checkpoint: Path | None, model_type: str = "WGS", split_skip_reads: bool = False) -> CallRequest:
        return CallRequest(Path(reads), Path(reference), Path(output_vcf), tuple(regions), model_type,
                           None if checkpoint is None else Path(checkpoint), self.n_shards, split_skip_reads, self.gpu)

    def call_variants(self, request: CallRequest) -> Path:
        """``run_deepvariant`` (make_examples, call_variants, postprocess_variants); reused when done."""
        require_same_build(request.reads, request.reference, request.regions)
        if request.customized_model is not None:
            require_checkpoint(request.customized_model)
        command = run_deepvariant_command(request, self.images)
        if _is_done(request.output_vcf, command):
            log.info("%s: called already with this command; reusing it", request.output_vcf)
            return request.output_vcf
        request.intermediate_results_dir.mkdir(parents=True, exist_ok=True)
        self.runtime.run(command)
        if not request.output_vcf.exists():
            raise ContainerRunError(f"{command.label} exited 0 but wrote no {request.output_vcf}")
        _mark_done(request.output_vcf, command)
        return request.output_vcf

    def rna_pseudo_truth(self, request: CallRequest) -> Path:
        """The case study's RNA calls: the image's WES model on the RNA reads (no customized model)."""
        return self.call_variants(replace(request, model_type="WES", customized_model=None))

    def happy(self, request: HappyRequest) -> Path:
        """hap.py's summary CSV (``<prefix>.summary.csv``) for the query against the truth."""
        command = happy_command(request)
        summary = Path(f"{request.output_prefix}.summary.csv")
        if _is_done(summary, command):
            return summary
        self.runtime.run(command)
        if not summary.exists():
            raise ContainerRunError(f"{command.label} exited 0 but wrote no {summary}")
        _mark_done(summary, command)
        return summary
