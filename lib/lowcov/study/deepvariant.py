"""The case study's experiments on the ``deepvariant`` engine: chapters 3-7 run by DeepVariant 1.8's images.

What the case study itself ran, stage by stage through :func:`lowcov.engines.engine_for`:

======== ======================================================================== ===========================
chapter  runs                                                                     writes (under the profile)
======== ======================================================================== ===========================
3        ``run_deepvariant`` (published WGS model) on the test contig, full and   ``calls/deepvariant/``
         at the profile's fraction (the Quick Tests), benchmarked by lowcov
4        ``run_deepvariant --model_type WES`` on the RNA reads (RNA build names), ``truth_rna/``
         then lowcov's RNA confident regions and pseudo-truth filter
5        ``make_examples --mode training`` in shards (train: the RNA autosomes    ``examples/deepvariant/``
         without the tune contig; validation: the tune contig), shuffled, with
         ``dataset_config.pbtxt`` and ``example_info.json``
6        ``train`` V1 and V2 from the published checkpoint; the best EMA           ``models/deepvariant_v1|v2``
         checkpoint by ``tune/f1_weighted``; curves from the event files
7        ``run_deepvariant --customized_model`` with each selected checkpoint,    ``calls/deepvariant/``,
         benchmarked by lowcov (and hap.py's image when asked)                    ``benchmark/``
======== ======================================================================== ===========================

The paths are those of the plan (:mod:`lowcov.engines.plan`), so a plan run by hand and the chapters share
their outputs. The book's native-only parts (the original model's training, most of its controls, the
mechanism analysis) have no counterpart here: DeepVariant's ``train`` has no switch for them. The two
batch-norm controls run on DeepVariant's network outside the container and are called by it
(:mod:`.deepvariant_controls`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from ..benchmark import BenchmarkResult
from ..checks import fasta_contigs, require_inputs
from ..layout import Layout
from ..manifest import run_stage
from .evaluation import DATASETS, benchmark_calls, fraction_of, test_bam
from .pseudo_truth import PseudoTruthConfig, RnaTruth, filter_pseudo_truth, rna_confident_regions

if TYPE_CHECKING:
    import pandas as pd

    from ..engines.deepvariant import DeepVariantEngine
    from ..engines.training_outputs import Checkpoint

#: the published model in chapter 3's and 7's tables (the native chapters' "Original")
PUBLISHED = "Original"
#: the fine-tuning runs by name, with their directories under ``models/``
ITERATIONS = ("V1", "V2")
TRAINING_SET, VALIDATION_SET = "training_set", "validation_set"


@dataclass(frozen=True)
class DeepVariantSettings:
    """The chapters' notebook parameters for the engine: shards, parallel shards, GPU, image tag."""

    n_shards: int = 16
    workers: int | None = None
    gpu: bool = True
    allow_cpu_fallback: bool = False
    image_version: str = "1.8.0"


def deepvariant_engine(layout: Layout, settings: DeepVariantSettings = DeepVariantSettings()) -> "DeepVariantEngine":
    """The engine of ``layout`` (its downloaded ``dv_config.py`` and WGS checkpoint), with the runtime found
    on this machine (apptainer images under ``<profile>/containers``)."""
    from ..engines import DeepVariantImages, engine_for
    from ..engines.runtime import detect_runtime

    runtime = detect_runtime(sif_dir=layout.root / "containers", allow_cpu_fallback=settings.allow_cpu_fallback)
    options = dict(runtime=runtime, images=DeepVariantImages(settings.image_version), n_shards=settings.n_shards,
                   gpu=settings.gpu, allow_cpu_fallback=settings.allow_cpu_fallback)
    if settings.workers:
        options["workers"] = settings.workers
    return engine_for("deepvariant", layout, **options)


# -- where things go (the plan's paths) ---------------------------------------------------------------


def dataset_tag(fraction: float) -> str:
    return f"ds{round(fraction * 100):02d}"


def model_slug(model: str) -> str:
    """A model's name in file names: ``V2`` -> ``v2``, ``V2, frozen BN`` -> ``v2_frozen_bn``."""
    return re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")


def calls_vcf(layout: Layout, model: str, fraction: float) -> Path:
    return layout.stage("calls") / "deepvariant" / f"{model_slug(model)}.{dataset_tag(fraction)}.vcf.gz"


def examples_dir(layout: Layout) -> Path:
    return layout.stage("examples") / "deepvariant"


def dataset_config(layout: Layout, name: str) -> Path:
    return examples_dir(layout) / f"{name}.dataset_config.pbtxt"


def experiment_dir(layout: Layout, iteration: str) -> Path:
    return layout.stage("models") / f"deepvariant_{iteration.lower()}"


def happy_prefix(layout: Layout, model: str, fraction: float) -> Path:
    return layout.stage("benchmark") / "deepvariant" / f"{model_slug(model)}.{dataset_tag(fraction)}"


def benchmark_name(model: str) -> str:
    """The benchmark files' name of a model (apart from the native chapters' ``original``, ``v1``, ...)."""
    return f"deepvariant_{'published' if model == PUBLISHED else model_slug(model)}"


def rna_autosomes(layout: Layout) -> list[str]:
    """The RNA reference's autosomes in its own naming and order (the case study: Ensembl's 1..22)."""
    autosomes = {str(n) for n in range(1, 23)}
    return [c for c in fasta_contigs(layout.rna_reference) if c.removeprefix("chr") in autosomes]


# -- chapter 3 and 7: calling and benchmarking -------------------------------------------------------------


def call_test_contig(layout: Layout, engine: "DeepVariantEngine", model: str, dataset: str,
                     checkpoint: Path | None = None, force: bool = False) -> Path:
    """``run_deepvariant`` on the test contig of ``dataset`` with the published WGS model (``checkpoint``
    None) or a fine-tuned checkpoint; a finished call with the same command is reused."""
    fraction = fraction_of(dataset)
    vcf = calls_vcf(layout, model, fraction)
    vcf.parent.mkdir(parents=True, exist_ok=True)
    if force:
        Path(f"{vcf}.done").unlink(missing_ok=True)
    request = engine.call_request(test_bam(layout, dataset), layout.dna_reference, vcf, [layout.test_contig],
                                  checkpoint)
    return engine.call_variants(request)


def evaluate(layout: Layout, engine: "DeepVariantEngine", model: str, dataset: str,
             checkpoint: Path | None = None, force: bool = False) -> BenchmarkResult:
    """:func:`call_test_contig`, then lowcov's benchmark (hap.py's tables, stratified by coverage bucket)."""
    vcf = call_test_contig(layout, engine, model, dataset, checkpoint, force)
    return benchmark_calls(layout, vcf, benchmark_name(model), dataset, force)


def quick_tests(layout: Layout, engine: "DeepVariantEngine", force: bool = False) -> dict[str, BenchmarkResult]:
    """The case study's Quick Tests: the published WGS model on the test contig, full and downsampled."""
    return {dataset: evaluate(layout, engine, PUBLISHED, dataset, force=force) for dataset in DATASETS}


def happy_tables(layout: Layout, engine: "DeepVariantEngine", models: Sequence[str], dataset: str) -> "pd.DataFrame":
    """hap.py's own summary (its image, ``--engine=vcfeval``) of each model's calls, beside lowcov's."""
    import pandas as pd

    from ..engines import HappyRequest

    fraction = fraction_of(dataset)
    tables = {}
    for model in models:
        prefix = happy_prefix(layout, model, fraction)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        request = HappyRequest(layout.truth_vcf, calls_vcf(layout, model, fraction), layout.confident_bed,
                               layout.dna_reference, prefix, layout.test_contig)
        tables[model] = pd.read_csv(engine.happy(request))
    return pd.concat(tables, names=["Model", "row"]).reset_index(level="row", drop=True)


# -- chapter 4: the RNA pseudo-truth ------------------------------------------------------------------------


def rna_pseudo_truth(layout: Layout, engine: "DeepVariantEngine", config: PseudoTruthConfig = PseudoTruthConfig(),
                     split_skip_reads: bool = False, force: bool = False) -> RnaTruth:
    """The case study's "Generating Ground Truths": DeepVariant's WES model on the RNA reads of the RNA
    autosomes, then lowcov's RNA confident regions (RNA depth >= ``config.min_depth``, within the DNA
    confident regions when both are on one build) and its pseudo-truth filter."""
    bam, reference = layout.rna_bam(config.preset), layout.rna_reference
    require_inputs({bam: "01_data_acquisition", layout.confident_bed: "01_data_acquisition"})
    truth = RnaTruth.paths(layout, config.preset)
    contigs = rna_autosomes(layout)
    # the DNA confident regions are coordinates of the DNA build: on another build they mean nothing
    dna_confident = layout.confident_bed if reference == layout.dna_reference else None
    regions = run_stage(truth.confident_bed.parent, f"rna_{config.preset}_confident_deepvariant",
                        [bam] + ([dna_confident] if dna_confident else []),
                        {"contigs": contigs, "min_depth": config.min_depth, "dna_confident": bool(dna_confident)},
                        [truth.confident_bed],
                        lambda: rna_confident_regions(bam, dna_confident, contigs, truth.confident_bed,
                                                      config.min_depth), force=force)
    if force:
        Path(f"{truth.calls_vcf}.done").unlink(missing_ok=True)
    request = engine.call_request(bam, reference, truth.calls_vcf, [" ".join(contigs)], None,
                                  model_type="WES", split_skip_reads=split_skip_reads)
    engine.rna_pseudo_truth(request)
    kept = run_stage(truth.calls_vcf.parent, f"rna_{config.preset}_pseudo_truth_deepvariant", [truth.calls_vcf],
                     {"min_gq": config.min_gq, "min_depth": config.min_depth}, [truth.pseudo_truth_vcf],
                     lambda: filter_pseudo_truth(truth.calls_vcf, truth.pseudo_truth_vcf, config.min_gq,
                                                 config.min_depth), force=force)
    facts = {"contigs": contigs, "dna_confident_intersected": dna_confident is not None,
             **regions["extra"], "filter": kept["extra"]}
    return replace(truth, facts=facts)


# -- chapter 5: training examples ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingData:
    """The shuffled training and validation sets train reads (``dataset_config.pbtxt`` each)."""

    pbtxt: dict[str, Path]
    class_counts: dict[str, dict[int, int]] = field(default_factory=dict)


def training_inputs(layout: Layout, truth: RnaTruth, preset: str = "ccs") -> dict[str, Path]:
    """What the training and validation examples are made from: the RNA reads and reference, labelled by
    the pseudo-truth inside the RNA confident regions."""
    return {"reads": layout.rna_bam(preset), "reference": layout.rna_reference,
            "truth_vcf": truth.pseudo_truth_vcf, "confident_regions": truth.confident_bed}


def training_requests(layout: Layout, engine: "DeepVariantEngine", truth: RnaTruth, preset: str = "ccs"):
    """The case study's two make_examples runs: its ``--regions`` (every RNA autosome) without the tune
    contig for training, the tune contig for validation."""
    inputs, out = training_inputs(layout, truth, preset), examples_dir(layout)
    autosomes = rna_autosomes(layout)
    return {TRAINING_SET: engine.training_examples_request(
                TRAINING_SET, **inputs, regions=[" ".join(autosomes)], out_dir=out,
                exclude_regions=[layout.rna_tune_contig]),
            VALIDATION_SET: engine.training_examples_request(
                VALIDATION_SET, **inputs, regions=[layout.rna_tune_contig], out_dir=out)}


def make_training_data(layout: Layout, engine: "DeepVariantEngine", truth: RnaTruth, preset: str = "ccs",
                       seed: int = 1) -> TrainingData:
    """make_examples ``--mode training`` in shards, then the seeded shuffle with its dataset configs."""
    from ..engines.shuffle import class_counts

    require_inputs({truth.pseudo_truth_vcf: "04_truth_generation", truth.confident_bed: "04_truth_generation"})
    pbtxts, counts = {}, {}
    for name, request in training_requests(layout, engine, truth, preset).items():
        pbtxts[name] = engine.shuffle(engine.make_training_examples(request), examples_dir(layout), name, seed=seed)
        counts[name] = class_counts(pbtxts[name])
    return TrainingData(pbtxts, counts)


def existing_training_data(layout: Layout) -> TrainingData:
    """The dataset configs chapter 5 wrote, or a FileNotFoundError naming the missing one."""
    from ..engines.shuffle import class_counts

    pbtxts = {name: dataset_config(layout, name) for name in (TRAINING_SET, VALIDATION_SET)}
    require_inputs({path: "05_make_examples" for path in pbtxts.values()})
    return TrainingData(pbtxts, {name: class_counts(path) for name, path in pbtxts.items()})


def class_balance(data: TrainingData) -> "pd.DataFrame":
    """Examples per genotype class (0 hom-ref, 1 het, 2 hom-alt) of each set, as the pbtxt counts them,
    in the columns of :func:`lowcov.study.rna_examples.class_balance`."""
    import pandas as pd

    names = {0: "hom_ref", 1: "het", 2: "hom_alt"}
    rows = {}
    for split, counts in data.class_counts.items():
        total = sum(counts.values())
        named = {names.get(label, str(label)): count for label, count in sorted(counts.items())}
        rows[split] = {**named, "examples": total,
                       **{f"{k} fraction": (v / total if total else float("nan")) for k, v in named.items()}}
    return pd.DataFrame(rows).T.fillna(0)


# -- chapter 6: fine-tuning -----------------------------------------------------------------------------------


def require_published_model(engine: "DeepVariantEngine") -> None:
    """``train``'s starting point must be on disk: DeepVariant 1.8's ``dv_config.py`` and the published WGS
    checkpoint (index, data, ``example_info.json``), where the seed downloads put them."""
    from .. import InputError

    prefix = Path(engine.init_checkpoint)
    wanted = [Path(engine.dv_config), Path(f"{prefix}.index"), Path(f"{prefix}.data-00000-of-00001"),
              prefix.parent / "example_info.json"]
    missing = [str(path) for path in wanted if not path.exists()]
    if missing:
        raise InputError(f"the deepvariant engine's train starts from DeepVariant 1.8's dv_config.py and its published "
                         f"WGS checkpoint, and {', '.join(missing)} is missing: the seed profile downloads them "
                         "(python -m lowcov.acquire --profile seed); for another profile put the files there "
                         "(data/manifests/seed.json lists their URLs)")


@dataclass(frozen=True)
class FineTuneRun:
    iteration: str
    experiment_dir: Path
    selected: "Checkpoint"
    checkpoints: int
    train_log: Path


def fine_tune(layout: Layout, engine: "DeepVariantEngine", data: TrainingData, iteration: str,
              overrides: Sequence[str], metric: str = "tune/f1_weighted", force: bool = False) -> FineTuneRun:
    """``train`` from the published checkpoint with the iteration's override lines, then the deployed
    checkpoint (the best ``metric``) and the curves of its event files as a training log."""
    from ..engines.training_outputs import list_checkpoints, select_checkpoint, write_train_log

    require_published_model(engine)
    directory = experiment_dir(layout, iteration)
    if force:
        Path(f"{directory / 'train'}.done").unlink(missing_ok=True)
    engine.train(data.pbtxt[TRAINING_SET], data.pbtxt[VALIDATION_SET], directory, overrides)
    selected = select_checkpoint(directory, metric)
    log = write_train_log(directory, directory / "train_log.csv", metric)
    return FineTuneRun(iteration, directory, selected, len(list_checkpoints(directory)), log)


def existing_fine_tuned(layout: Layout, metric: str = "tune/f1_weighted", with_controls: bool = True
                        ) -> dict[str, Path]:
    """Iteration -> the checkpoint chapter 6 selected, or a FileNotFoundError naming the missing run; then,
    ``with_controls``, the batch-norm controls on DeepVariant's network that chapter 6 finished
    (:func:`lowcov.study.deepvariant_controls.existing_controls`)."""
    from ..engines.training_outputs import select_checkpoint
    from .deepvariant_controls import existing_controls

    directories = {iteration: experiment_dir(layout, iteration) for iteration in ITERATIONS}
    require_inputs({Path(f"{d / 'train'}.done"): "06_finetune" for d in directories.values()})
    selected = {iteration: select_checkpoint(d, metric).prefix for iteration, d in directories.items()}
    return {**selected, **(existing_controls(layout) if with_controls else {})}


def fine_tune_summary(runs: Mapping[str, FineTuneRun]) -> "pd.DataFrame":
    import pandas as pd

    return pd.DataFrame({name: {"checkpoints saved": run.checkpoints, "selected checkpoint": run.selected.prefix.name,
                                "selected step": run.selected.step, "selected tune metric": run.selected.metric}
                         for name, run in runs.items()}).T


def evaluate_fine_tuned(layout: Layout, engine: "DeepVariantEngine", checkpoints: Mapping[str, Path], dataset: str,
                        force: bool = False) -> dict[str, BenchmarkResult]:
    """The published model and each fine-tuned checkpoint on ``dataset``, benchmarked alike (chapter 7)."""
    results = {PUBLISHED: evaluate(layout, engine, PUBLISHED, dataset, force=force)}
    for model, checkpoint in checkpoints.items():
        results[model] = evaluate(layout, engine, model, dataset, Path(checkpoint), force)
    return results


def outputs_of(layout: Layout) -> list[Path]:
    """Every file the engine wrote for this profile so far (what the stand-in notice looks at)."""
    places = [layout.stage("calls") / "deepvariant", examples_dir(layout), layout.stage("truth_rna"),
              *(experiment_dir(layout, i) for i in ITERATIONS)]
    return [p for place in places if place.exists() for p in place.iterdir()]


def describe(engine: "DeepVariantEngine") -> dict[str, str]:
    """What runs the chapter: the runtime, its executable and the images."""
    return {"runtime": engine.runtime.name, "executable": str(engine.runtime.executable),
            "CPU image": engine.images.cpu, "GPU image": engine.images.gpu if engine.gpu else "(not used)",
            "make_examples shards": str(engine.n_shards), "shards at once": str(engine.workers),
            "DeepVariant config": str(engine.dv_config), "published checkpoint": str(engine.init_checkpoint)}
