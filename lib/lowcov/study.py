"""The case study's experiments, wired from the stage functions (the notebooks call these).

* :func:`original_model`: the stand-in for DeepVariant's published WGS checkpoint. The case study
  starts from ``gs://deepvariant/models/DeepVariant/1.8.0/checkpoints/wgs``; that TensorFlow checkpoint
  cannot be loaded here, so the book trains its own original model the way DeepVariant's WGS model is
  trained: DNA of the training contigs, labelled by the truth in confident regions, reads mixed at
  several coverages, tuned on chr10, never touching the chr1 test set.
* :func:`rna_examples` and :func:`fine_tune`: the case study's fine-tuning on RNA reads labelled by an
  RNA pseudo-truth, starting from the original model's checkpoint, with its V1/V2 overrides.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pysam

from . import InputError
from .benchmark import BenchmarkResult, compare
from .benchmark.regions import RegionSet
from .call import CallConfig, call_variants
from .candidates import CandidateConfig
from .coverage import DepthConfig, contig_depth
from .intervals import true_runs
from .examples import ExamplesConfig, make_examples
from .fileio import atomic_output, sha256sum
from .layout import Layout
from .manifest import run_stage
from .shards import ExampleSet
from .model import with_batch_norm_statistics
from .train import CASE_STUDY_V2, TrainConfig, TrainResult, apply_overrides, train

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: Training settings of the demo's original model. DeepVariant's defaults (batch 16384, 10 epochs,
#: tune every 12,800 steps) are sized for hundreds of millions of examples; the demo has tens of
#: thousands, so batches are small and the schedule short. Same keys, same syntax. Adam (lr 0.001)
#: converges in the steps a CPU allows (3 epochs: tune f1_weighted 0.978, SGD with lr 0.01 0.967);
#: bfloat16 arithmetic (``precision=auto``: where the CPU computes it natively) doubles the steps per
#: second, spent on the read fractions of :data:`DEMO_READ_FRACTIONS` (the learning rate decays every half
#: epoch). Tuning at epoch ends on 5,000 tune examples costs a quarter of what tuning every 150 steps on
#: 3,000 did. Chosen on the tune contig chr10 (calls benchmarked against the truth, never chr1), two
#: seeds each, SNP/INDEL F1 at full coverage and at 50 %: the earlier setup (float32, 3 epochs of
#: fractions 1.0 and 0.5, no per-read branch in the model) 0.9986/0.9028 and 0.981/0.844; bfloat16 + the per-read branch + 6 epochs of 1.0 and 0.5 0.9992/0.9066
#: and 0.984/0.867; these settings (same number of steps) 0.9992/0.9186 and 0.985/0.874, tune-set
#: log-loss 0.0575 against 0.061 and 0.074 (bcftools on chr10: 0.9981/0.9067 and 0.9816/0.9008).
DEMO_ORIGINAL_OVERRIDES = [
    "config.optimizer=adam",
    "config.learning_rate=0.001",
    "config.batch_size=64",
    "config.num_epochs=3",
    "config.learning_rate_num_epochs_per_decay=0.5",
    "config.learning_rate_decay_rate=0.7",
    "config.tune_every_steps=0",
    "config.log_every_steps=50",
    "config.num_validation_examples=5000",
    "config.precision=auto",
]

#: Coverages mixed into the original model's training examples, as DeepVariant's training data mixes
#: downsampled copies of its BAMs: the test sets are at 1.0 and 0.5, and the fractions between and below
#: them show the network each labelled site with other subsets of its reads.
DEMO_READ_FRACTIONS = (1.0, 0.75, 0.5, 0.3)


@dataclass(frozen=True)
class ExampleSets:
    train: ExampleSet
    tune: ExampleSet


def training_examples(layout: Layout, bam: Path, name: str, truth_vcf: Path, confident_bed: Path,
                      reference: Path, config: ExamplesConfig = ExamplesConfig(), force: bool = False,
                      training_contigs: Sequence[str] | None = None) -> ExampleSets:
    """Labelled, shuffled examples of the training contigs and of the tune contig (chr10)."""
    training_contigs = list(training_contigs or layout.training_contigs(reference))
    train_config = replace(config, mode="training")
    common = dict(truth_vcf=truth_vcf, confident_bed=confident_bed, force=force)
    train_set = make_examples(bam, reference, layout.examples_dir(f"{name}.train"), training_contigs, train_config,
                              exclude_contigs=[layout.test_contig], **common)
    tune_set = make_examples(bam, reference, layout.examples_dir(f"{name}.tune"), [layout.tune_contig], train_config,
                             exclude_contigs=[layout.test_contig], **common)
    return ExampleSets(train_set, tune_set)


def original_model(layout: Layout, overrides: Sequence[str] = DEMO_ORIGINAL_OVERRIDES,
                   read_fractions: tuple[float, ...] = DEMO_READ_FRACTIONS, examples: ExamplesConfig = ExamplesConfig(),
                   threads: int = 2, force: bool = False) -> tuple[ExampleSets, TrainResult]:
    """Train (or reuse) the original model on the DNA of the training contigs."""
    sets = training_examples(layout, layout.dna_bam, "dna", layout.truth_vcf, layout.confident_bed,
                             layout.dna_reference, replace(examples, read_fractions=read_fractions, threads=threads),
                             force=force)
    config = apply_overrides(TrainConfig(num_threads=threads), list(overrides))
    result = train(sets.train, sets.tune, config, layout.model_dir("original"), force=force, restart_on_change=True)
    return sets, result


# ------------------------------------------------------------------------------------------------
# inputs of a notebook


def require_inputs(needed: Mapping[str | os.PathLike, str]) -> None:
    """Raise FileNotFoundError for the first missing path, naming the notebook that makes it.

    ``needed`` maps a stage output to the notebook (e.g. ``"04_truth_generation"``) that writes it, so
    running a notebook before the ones it depends on says what to run first.
    """
    for path, notebook in needed.items():
        if not Path(path).exists():
            raise FileNotFoundError(f"{path} is missing: run notebook {notebook} first")


def original_checkpoint(layout: Layout) -> Path:
    """The original model's selected checkpoint (written by notebook 03_original_model)."""
    return layout.model_dir("original") / "checkpoints" / "best.pt"


# ------------------------------------------------------------------------------------------------
# the RNA pseudo-truth ("Generating Ground Truths")

#: Candidate thresholds for RNA reads: DeepVariant's WGS SNP thresholds with the indel fraction of its
#: PacBio presets (``vsc_min_fraction_indels=0.12``): long-read RNA carries HiFi-like homopolymer errors,
#: so the WGS indel fraction of 0.06 would make every noisy homopolymer a candidate.
RNA_CANDIDATES = CandidateConfig(min_indel_fraction=0.12)


@dataclass(frozen=True)
class PseudoTruthConfig:
    """How a caller run on RNA reads becomes training labels (the case study's "Generating Ground Truths").

    Read splitting at splice gaps (DeepVariant's ``split_skip_reads``) needs no flag here: lowcov's read
    layout never draws or counts an ``N`` (reference skip) operation as coverage.
    """

    #: which RNA alignment: ``ccs`` (the case study's ``pbmm2 --preset CCS``) or the splice-aware ``isoseq``
    preset: str = "ccs"
    candidates: CandidateConfig = RNA_CANDIDATES
    #: keep non-ref PASS calls with at least this genotype quality (0: every PASS call, as the case study,
    #: which used the RNA caller's VCF as it came)
    min_gq: int = 0
    #: DeepVariant's RNA-seq case study: only bases with RNA depth >= 3 are confident; calls whose
    #: depth (DP) is below it are dropped too
    min_depth: int = 3
    threads: int = 2
    call: CallConfig = field(default_factory=CallConfig)


@dataclass(frozen=True)
class RnaTruth:
    """The pseudo-truth stage's files (under ``<profile>/truth_rna/``) and what its manifests recorded."""

    calls_vcf: Path  # every call of the original model on the RNA reads
    pseudo_truth_vcf: Path  # the calls kept as labels
    confident_bed: Path  # RNA depth >= min_depth intersected with the DNA confident regions
    facts: dict = field(default_factory=dict)

    @classmethod
    def paths(cls, layout: Layout, preset: str = "ccs") -> "RnaTruth":
        stage = layout.stage("truth_rna")
        return cls(stage / f"rna_{preset}.calls.vcf.gz", stage / f"rna_{preset}.pseudo_truth.vcf.gz",
                   stage / f"rna_{preset}.confident.bed")

    @classmethod
    def existing(cls, layout: Layout, preset: str = "ccs") -> "RnaTruth":
        """The files notebook 04_truth_generation wrote, or a FileNotFoundError naming the missing one."""
        truth = cls.paths(layout, preset)
        require_inputs({truth.pseudo_truth_vcf: "04_truth_generation", truth.confident_bed: "04_truth_generation"})
        return truth


def rna_confident_regions(rna_bam: str | os.PathLike, dna_confident_bed: str | os.PathLike,
                          contigs: Sequence[str], out_bed: str | os.PathLike, min_depth: int = 3,
                          depth: DepthConfig = DepthConfig()) -> dict[str, int]:
    """Bases of ``contigs`` with RNA depth >= ``min_depth`` (``samtools depth`` semantics) that are also
    in the DNA confident regions, as a BED; returns base counts."""
    dna = RegionSet.from_bed(dna_confident_bed, "CONF")
    if not set(dna.contigs) & set(contigs):
        raise InputError(f"the DNA confident regions {dna_confident_bed} have none of the contigs "
                         f"{', '.join(contigs)}: they must be on the RNA reads' reference build")
    counts = {"rna_min_depth_bases": 0, "confident_bases": 0}
    with atomic_output(out_bed) as tmp, open(tmp, "w") as handle:
        for contig in contigs:
            rna_depth = contig_depth(rna_bam, contig, depth)
            confident = np.zeros(len(rna_depth), dtype=bool)
            for start, end in zip(*dna.intervals(contig)):
                confident[start:end] = True
            keep = (rna_depth >= min_depth) & confident
            counts["rna_min_depth_bases"] += int((rna_depth >= min_depth).sum())
            counts["confident_bases"] += int(keep.sum())
            for start, end in zip(*true_runs(keep)):
                handle.write(f"{contig}\t{start}\t{end}\n")
    return counts


def filter_pseudo_truth(calls_vcf: str | os.PathLike, out_vcf: str | os.PathLike, min_gq: int = 20,
                        min_depth: int = 0) -> dict[str, int]:
    """Keep the PASS calls with a non-reference genotype, GQ >= ``min_gq`` and DP >= ``min_depth``.

    RefCall and LowQual records and uncertain genotypes would label candidates wrongly; what is left is
    the truth the training examples are labelled with. Returns how many records each rule removed.
    """
    counts = {"records": 0, "not_pass": 0, "ref_genotype": 0, "low_gq": 0, "low_depth": 0, "kept": 0}
    with pysam.VariantFile(str(calls_vcf)) as source, atomic_output(out_vcf) as tmp:
        plain = Path(str(tmp).removesuffix(".gz"))
        header = source.header.copy()
        header.add_line(f"##lowcov_pseudo_truth=\"PASS, non-ref GT, GQ>={min_gq}, DP>={min_depth} from {calls_vcf}\"")
        with pysam.VariantFile(str(plain), "w", header=header) as sink:
            for record in source:
                counts["records"] += 1
                call = record.samples[0]
                genotype = [g for g in (call.get("GT") or ()) if g is not None]
                if list(record.filter.keys()) != ["PASS"]:
                    counts["not_pass"] += 1
                elif not any(genotype):
                    counts["ref_genotype"] += 1
                elif (call.get("GQ") or 0) < min_gq:
                    counts["low_gq"] += 1
                elif (call.get("DP") or 0) < min_depth:
                    counts["low_depth"] += 1
                else:
                    counts["kept"] += 1
                    sink.write(record)
        pysam.tabix_compress(str(plain), str(tmp), force=True)
        plain.unlink()
        pysam.tabix_index(str(tmp), preset="vcf", force=True)
    return counts


def rna_pseudo_truth(layout: Layout, checkpoint: str | os.PathLike, config: PseudoTruthConfig = PseudoTruthConfig(),
                     force: bool = False) -> RnaTruth:
    """Call the RNA reads of the training and tune contigs (never the test contig) with ``checkpoint``
    and keep the confident calls as a pseudo-truth, with the RNA confident regions.

    Three stages in ``<profile>/truth_rna/``, each skipped when its manifest is current: confident
    regions, calls, pseudo-truth.
    """
    checkpoint = Path(checkpoint)
    require_inputs({checkpoint: "03_original_model", layout.rna_bam(config.preset): "01_data_acquisition",
                    layout.confident_bed: "01_data_acquisition"})
    stage = layout.stage("truth_rna")
    truth = RnaTruth.paths(layout, config.preset)
    bam, reference = layout.rna_bam(config.preset), layout.rna_reference
    contigs = layout.training_contigs(reference) + [layout.tune_contig]
    regions = run_stage(stage, f"rna_{config.preset}_confident", [bam, layout.confident_bed],
                        {"contigs": contigs, "min_depth": config.min_depth}, [truth.confident_bed],
                        lambda: rna_confident_regions(bam, layout.confident_bed, contigs, truth.confident_bed,
                                                      config.min_depth), force=force)
    examples_config = ExamplesConfig(mode="calling", candidates=config.candidates, threads=config.threads)
    examples = make_examples(bam, reference, layout.examples_dir(f"rna_{config.preset}.calling"), contigs,
                             examples_config, exclude_contigs=[layout.test_contig], force=force)
    calls = run_stage(stage, f"rna_{config.preset}_calls", [checkpoint, examples.directory / "example_info.json"],
                      config.call, [truth.calls_vcf],
                      lambda: call_variants(examples.directory, checkpoint, reference, truth.calls_vcf, config.call),
                      force=force)
    kept = run_stage(stage, f"rna_{config.preset}_pseudo_truth", [truth.calls_vcf],
                     {"min_gq": config.min_gq, "min_depth": config.min_depth}, [truth.pseudo_truth_vcf],
                     lambda: filter_pseudo_truth(truth.calls_vcf, truth.pseudo_truth_vcf, config.min_gq,
                                                 config.min_depth), force=force)
    facts = {"contigs": contigs, "rna_examples": len(examples), **regions["extra"], **calls["extra"],
             "filter": kept["extra"]}
    return replace(truth, facts=facts)


def benchmark_pseudo_truth(layout: Layout, truth: RnaTruth) -> BenchmarkResult:
    """The pseudo-truth scored against the real truth inside the RNA confident regions (demo only: the
    case study had no truth for its RNA sample)."""
    prefix = layout.stage("truth_rna") / f"{truth.pseudo_truth_vcf.name.removesuffix('.vcf.gz')}.vs_truth"
    return compare(layout.truth_vcf, truth.pseudo_truth_vcf, layout.rna_reference,
                   confident_bed=truth.confident_bed, output_prefix=prefix)


def calls_at_sites(calls_vcf: str | os.PathLike, sites_vcf: str | os.PathLike) -> "pd.DataFrame":
    """Records of ``calls_vcf`` with an alt allele listed at the same position in ``sites_vcf`` (e.g. the
    simulated RNA-editing sites): RNA-only changes a pseudo-truth would teach as DNA variants."""
    import pandas as pd

    with pysam.VariantFile(str(sites_vcf)) as sites:
        wanted = {(r.contig, r.pos, r.ref, alt) for r in sites for alt in (r.alts or ())}
    rows = []
    with pysam.VariantFile(str(calls_vcf)) as calls:
        for record in calls:
            for alt in record.alts or ():
                if (record.contig, record.pos, record.ref, alt) in wanted:
                    call = record.samples[0]
                    rows.append({"contig": record.contig, "position": record.pos, "ref": record.ref, "alt": alt,
                                 "GT": "/".join(str(g) for g in call["GT"]), "GQ": call.get("GQ"),
                                 "DP": call.get("DP"), "VAF": call.get("VAF")[0] if call.get("VAF") else None})
    return pd.DataFrame(rows, columns=["contig", "position", "ref", "alt", "GT", "GQ", "DP", "VAF"])


# ------------------------------------------------------------------------------------------------
# RNA training examples and fine-tuning


def rna_examples(layout: Layout, truth: RnaTruth, preset: str = "ccs", config: ExamplesConfig = ExamplesConfig(),
                 force: bool = False) -> ExampleSets:
    """Training (training contigs) and tune (chr10) examples of the RNA reads, labelled by the
    pseudo-truth inside the RNA confident regions, with the RNA candidate thresholds."""
    require_inputs({truth.pseudo_truth_vcf: "04_truth_generation", truth.confident_bed: "04_truth_generation"})
    config = replace(config, candidates=RNA_CANDIDATES, read_fractions=(1.0,))
    return training_examples(layout, layout.rna_bam(preset), f"rna_{preset}", truth.pseudo_truth_vcf,
                             truth.confident_bed, layout.rna_reference, config, force=force)


def existing_rna_examples(layout: Layout, preset: str = "ccs") -> ExampleSets:
    """The RNA example sets notebook 05_make_examples wrote, or a FileNotFoundError naming the missing one."""
    dirs = {split: layout.examples_dir(f"rna_{preset}.{split}") for split in ("train", "tune")}
    require_inputs({d / "example_info.json": "05_make_examples" for d in dirs.values()})
    return ExampleSets(ExampleSet.open(dirs["train"]), ExampleSet.open(dirs["tune"]))


def class_balance(sets: ExampleSets) -> "pd.DataFrame":
    """Examples per genotype class in each split, with fractions."""
    import pandas as pd

    rows = {}
    for split, example_set in (("train", sets.train), ("tune", sets.tune)):
        counts = example_set.info["class_counts"]
        total = sum(counts.values())
        rows[split] = {**counts, "examples": total,
                       **{f"{k} fraction": (v / total if total else float("nan")) for k, v in counts.items()}}
    return pd.DataFrame(rows).T


#: Keys that only say how a run executes, never what it computes: the only additions allowed on top
#: of the case study's override lists.
FINE_TUNE_EXECUTION_KEYS = frozenset({"num_threads", "log_every_steps", "seed", "keep_checkpoints",
                                      "tune_in_memory_max_bytes", "max_steps"})


def fine_tune_config(overrides: Sequence[str], init_checkpoint: str | os.PathLike,
                     execution_overrides: Sequence[str] = (), threads: int = 2) -> TrainConfig:
    """DeepVariant's defaults + the case study's ``overrides`` verbatim + ``init_checkpoint``; the
    ``execution_overrides`` may only set :data:`FINE_TUNE_EXECUTION_KEYS`."""
    base = apply_overrides(TrainConfig(num_threads=threads), list(overrides))
    executed = apply_overrides(base, list(execution_overrides))
    changed = {k for k in TrainConfig.__dataclass_fields__ if getattr(base, k) != getattr(executed, k)}
    if changed - FINE_TUNE_EXECUTION_KEYS:
        raise InputError(f"execution overrides may only set {sorted(FINE_TUNE_EXECUTION_KEYS)}; "
                         f"{sorted(changed - FINE_TUNE_EXECUTION_KEYS)} would change the method")
    return replace(executed, init_checkpoint=str(init_checkpoint))


def fine_tune(layout: Layout, name: str, overrides: Sequence[str], sets: ExampleSets,
              init_checkpoint: str | os.PathLike, execution_overrides: Sequence[str] = (), threads: int = 2,
              force: bool = False) -> TrainResult:
    """Fine-tune ``init_checkpoint`` on ``sets`` with the case study's ``overrides`` into
    ``<profile>/models/<name>``; an interrupted run resumes, a completed one is reused."""
    require_inputs({init_checkpoint: "03_original_model"})
    config = fine_tune_config(overrides, init_checkpoint, execution_overrides, threads)
    experiment_dir = layout.model_dir(name)
    experiment_dir.mkdir(parents=True, exist_ok=True)
    # train() recognises a finished or resumable run by its config, which names the init checkpoint but
    # not its content: a retrained original model must restart the fine-tuning, so its digest is kept.
    marker = experiment_dir / "init_checkpoint.sha256"
    digest = sha256sum(init_checkpoint)
    stale = marker.exists() and marker.read_text().strip() != digest
    if stale:
        log.info("%s: the init checkpoint %s changed since the last run; training again", name, init_checkpoint)
    marker.write_text(digest + "\n")
    return train(sets.train, sets.tune, config, experiment_dir, force=force or stale, restart_on_change=True)


#: the seed of DeepVariant-style runs here (TrainConfig's default): the case study's V1 and V2 use it
DEFAULT_SEED = TrainConfig().seed


@dataclass(frozen=True)
class FineTuneControl:
    """A fine-tuning run beyond the case study's two: V2's overrides plus a few lines, to separate what
    moves the DNA calls. Never presented as the case study's."""

    name: str
    #: model directory under ``<profile>/models/`` (of the run with :data:`DEFAULT_SEED`)
    slug: str
    #: override lines added after the case study's V2 list (the last value of a key wins)
    extra: tuple[str, ...]
    purpose: str
    #: one run per seed (data order, dropout): runs whose outcome may hinge on the seed are replicated
    seeds: tuple[int, ...] = (DEFAULT_SEED,)

    @property
    def overrides(self) -> list[str]:
        return list(CASE_STUDY_V2) + list(self.extra)

    @property
    def runs(self) -> tuple["ControlRun", ...]:
        return tuple(ControlRun(self, seed) for seed in self.seeds)


@dataclass(frozen=True)
class ControlRun:
    """One seed of a :class:`FineTuneControl`."""

    control: FineTuneControl
    seed: int

    @property
    def name(self) -> str:
        return self.control.name if len(self.control.seeds) == 1 else f"{self.control.name} (seed {self.seed})"

    @property
    def directory(self) -> str:
        return self.control.slug if self.seed == DEFAULT_SEED else f"{self.control.slug}_seed{self.seed}"


_FREEZE = "config.freeze_batch_norm=true"
_SMALL_BATCHES = ("config.batch_size=32", "config.warmup_steps=0")
_REPLICATES = (DEFAULT_SEED, DEFAULT_SEED + 1, DEFAULT_SEED + 2)

#: The controls of chapter 6. On the demo's few hundred RNA examples V2 runs one step per epoch, inside
#: its warm-up, so its weights hardly move; the controls freeze the batch-norm statistics (what V2 does
#: without them moving), and give the weights enough steps at the configured learning rate to learn from
#: the RNA labels (batches of 32: eight times the steps; no warm-up), with and without frozen statistics.
#: V2 takes whole-set batches, so its seed changes nothing but dropout; the small-batch runs depend on the
#: data order, and single runs of them pointed in different directions, hence three seeds each.
FINE_TUNE_CONTROLS = (
    FineTuneControl("V2, frozen BN", "v2_frozen_bn", (_FREEZE,),
                    "V2 with the original model's BN statistics kept: what weight updates alone do"),
    FineTuneControl("V2, small batches", "v2_small_batches", _SMALL_BATCHES,
                    "8x V2's steps at the full learning rate: the weights learn from the RNA labels",
                    _REPLICATES),
    FineTuneControl("V2, small batches, frozen BN", "v2_small_batches_frozen_bn", _SMALL_BATCHES + (_FREEZE,),
                    "both: what learning from the RNA labels does with the DNA statistics kept", _REPLICATES),
)


def fine_tune_controls(slugs: Sequence[str]) -> tuple[FineTuneControl, ...]:
    """The controls named by ``slugs`` (model directory names), in :data:`FINE_TUNE_CONTROLS` order."""
    known = {control.slug: control for control in FINE_TUNE_CONTROLS}
    unknown = sorted(set(slugs) - set(known))
    if unknown:
        raise ValueError(f"unknown fine-tuning controls {unknown}; choose from {sorted(known)}")
    return tuple(control for control in FINE_TUNE_CONTROLS if control.slug in set(slugs))


def fine_tune_control(layout: Layout, run: ControlRun, sets: ExampleSets, init_checkpoint: str | os.PathLike,
                      execution_overrides: Sequence[str] = (), threads: int = 2, force: bool = False) -> TrainResult:
    """Run (or reuse) one seed of a control into ``<profile>/models/<run.directory>``."""
    return fine_tune(layout, run.directory, run.control.overrides, sets, init_checkpoint,
                     [*execution_overrides, f"config.seed={run.seed}"], threads, force)


def with_original_statistics(layout: Layout, name: str, force: bool = False) -> Path:
    """The end-of-run weights of fine-tuning run ``name`` with the original model's batch-norm
    statistics put back (``<profile>/models/<name>/checkpoints/last_original_bn.pt``)."""
    last = fine_tuned_checkpoints(layout, name)["last"]
    original = original_checkpoint(layout)
    out = last.parent / "last_original_bn.pt"
    run_stage(layout.model_dir(name), "last_original_bn", [last, original], {}, [out],
              lambda: with_batch_norm_statistics(last, original, out) and None, force=force)
    return out


def rna_example_gallery(examples: ExampleSet, truth_vcf: str | os.PathLike, min_gap: int = 30,
                        limit: int = 5000) -> dict[str, tuple]:
    """Two RNA pileups: a read with an intron-sized gap at a candidate (a splice junction: uncovered
    pixels in a splice-aware alignment, a long deletion in an unspliced one) and a site the real truth
    calls het whose RNA reads show mostly one allele (allele-specific expression). title -> (image, meta)."""
    data = examples.load(limit=limit)
    het_snps = set()
    with pysam.VariantFile(str(truth_vcf)) as vcf:
        for record in vcf:
            genotype = record.samples[0].get("GT") or ()
            if len(set(genotype)) == 2 and all(len(a) == 1 for a in record.alleles):
                het_snps |= {(record.contig, record.pos, alt) for alt in record.alts}
    ref_rows = 5

    def longest_gap(image) -> int:
        base = image[ref_rows:, :, 0] > 0
        best = 0
        for row in base[base.any(axis=1)]:
            covered = np.flatnonzero(row)
            if len(covered) > 1:
                best = max(best, int(np.diff(covered).max()) - 1)
        return best

    def meta_of(i):
        return {k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in data.meta.items()}

    gallery = {}
    gaps = [longest_gap(data.images[i]) for i in range(len(data))]
    spliced = int(np.argmax(gaps)) if gaps else None
    if spliced is not None and gaps[spliced] >= min_gap:
        gallery[f"spliced reads (a {gaps[spliced]}-column gap in a read)"] = (data.images[spliced], meta_of(spliced))
    vaf = data.meta["alt_count"] / np.maximum(data.meta["depth"], 1)
    skewed = [i for i in range(len(data))
              if (str(data.meta["contig"][i]), int(data.meta["position"][i]), str(data.meta["alt"][i])) in het_snps
              and data.meta["depth"][i] >= 8 and abs(vaf[i] - 0.5) >= 0.3]
    if skewed:
        i = max(skewed, key=lambda j: (abs(vaf[j] - 0.5), int(data.meta["depth"][j])))
        label = {0: "hom-ref", 1: "het", 2: "hom-alt"}.get(int(data.labels[i]), "unlabelled")
        gallery[f"allele-specific expression (truth het, RNA VAF {vaf[i]:.2f}, pseudo-truth label {label})"] = (
            data.images[i], meta_of(i))
    return gallery


def fine_tuned_checkpoints(layout: Layout, name: str) -> dict[str, Path]:
    """``selected`` (best.pt, the checkpoint the tune metric chose) and ``last`` (the weights evaluated at
    the end: what the fine-tuning itself produced) of the finished run ``<profile>/models/<name>``."""
    import json

    from .train import RECORD_NAME

    directory = layout.model_dir(name)
    record_path = directory / RECORD_NAME
    require_inputs({record_path: "06_finetune"})
    record = json.loads(record_path.read_text())
    if not record.get("complete"):
        raise FileNotFoundError(f"{directory} holds an unfinished run: run notebook 06_finetune to finish it")
    paths = {"selected": directory / record["best_checkpoint"],
             "last": directory / "checkpoints" / f"ckpt-{record['steps']}.pt"}
    require_inputs({path: "06_finetune" for path in paths.values()})
    return paths
