"""make_examples: candidates, pileup images and labels, sharded on disk.

Like DeepVariant's ``make_examples``, in two modes:

* ``training``: only candidates inside the confident regions, each labelled with its genotype class
  (0 hom-ref, 1 het, 2 hom-alt) by DeepVariant's default labeller, which matches the haplotypes the
  candidates can make against those of the truth (:mod:`lowcov.labeler`), so a true variant the truth
  writes differently is still labelled as present. ``labeler="allele"`` keeps the earlier rule instead:
  the number of truth haplotypes that carry the candidate's allele once both are normalised by
  :mod:`lowcov.normalize`. Either way ``example_info.json`` counts the labels on which the two rules
  differ (``label_changes``, by variant type and class). Examples are shuffled across shards with a
  seed.
* ``calling``: every candidate, unlabelled (or labelled when a truth VCF is given, for analysis), in
  genomic order.

Multi-allelic sites get one example per alternate allele, and with ``allele_pairs`` one per pair of
alternate alleles as DeepVariant makes them: a pair's image marks the reads carrying either allele, its
label counts the genotype's alleles among the pair, and :mod:`lowcov.postprocess_variants` combines the
predictions with DeepVariant's rule. Reads are realigned around indels first (:mod:`lowcov.realigner`).

Work is split into regions run as shards by :mod:`lowcov.executor` (in this process, on local worker
processes, or on a Dask cluster); each region reads its BAM records once
(:mod:`lowcov.bamraw`) and walks partitions of ``partition_size`` bases with at most
``max_reads_per_partition`` reads, as DeepVariant does; laying reads out, counting alleles and drawing
images are compiled loops (:mod:`lowcov.reads`, :mod:`lowcov.candidates`, :mod:`lowcov.pileup`).
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pysam

from . import InputError
from .normalize import is_sequence_allele, normalize
from .benchmark.regions import RegionSet
from .candidates import CandidateConfig, IndelNormaliser, allele_pairs, find_candidates, read_indel_keys
from .executor import ENV_VAR, ExecutorError, run_shards
from .fileio import temporary_name
from .checks import bam_contigs, check_contigs_match, fasta_contigs, require_bam, require_fasta, require_vcf
from .bamraw import RecordTable, read_region
from .labeler import TruthRecords, label_partition
from .pileup import DEFAULT_CHANNELS, NOT_SUPPORTS, OTHER_ALT_SUPPORTS, PileupConfig, draw, parse_channel_list
from .realigner import RealignerConfig, realign
from .reads import CODE_OF_BYTE, ReadFilter, lay_out, name_ranks, overlapping, sample_reads
from .genome_regions import Region, parse_region, region_list, split_regions, subtract_regions
from .shards import ExampleSet, PackedImages, PackedShard, shard_name, write_info, write_shard
from .shuffle_examples import shuffle_parts

log = logging.getLogger(__name__)

MODES = ("training", "calling")
#: haplotype: DeepVariant's haplotype_labeler (lowcov.labeler); allele: exact lookup of the normalised allele
LABELERS = ("haplotype", "allele")


@dataclass(frozen=True)
class IndelEmphasis:
    """lowcov's, not DeepVariant's (issue 16): training mode writes ``copies`` extra copies of the examples of
    indel candidates made at read fractions up to ``max_fraction``, so that training weighs the few-read
    indels of low coverage more, as a loss weight would (``variants_only``: only those labelled het or
    hom-alt, which also moves the model's prior towards calling them)."""

    copies: int = 1
    max_fraction: float = 0.5
    variants_only: bool = False

    def __post_init__(self):
        if self.copies < 1 or not 0.0 < self.max_fraction <= 1.0:
            raise ValueError(f"IndelEmphasis needs copies >= 1 and 0 < max_fraction <= 1, got {self}")

    def copies_of(self, is_indel: bool, label: int, fraction: float) -> int:
        """Extra copies of one training example."""
        if not is_indel or fraction > self.max_fraction or (self.variants_only and label < 1):
            return 0
        return self.copies


#: ExamplesConfig fields that say how the examples are made, not what they are: left out of a set's identity
#: (as lowcov.train.EXECUTION_KEYS are out of a training run's)
EXECUTION_KEYS = frozenset({"threads"})


@dataclass(frozen=True)
class ExamplesConfig:
    mode: str = "training"
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    pileup: PileupConfig = field(default_factory=PileupConfig)
    reads: ReadFilter = field(default_factory=ReadFilter)
    #: local realignment around indels before counting alleles and drawing (DeepVariant's default for short reads)
    realigner: RealignerConfig = field(default_factory=RealignerConfig)
    partition_size: int = 1000
    max_reads_per_partition: int = 1500
    #: bases per shard (one task of lowcov.executor)
    region_size: int = 500_000
    #: local worker processes (1: in this process); ignored when a Dask scheduler is given
    threads: int = 2
    seed: int = 1
    #: examples per output shard after shuffling (training mode)
    examples_per_shard: int = 2000
    #: also an image for each pair of alt alleles at a multi-allelic site, as DeepVariant makes them (off until
    #: a model trained with them is measured on the tune contig: issue 16)
    allele_pairs: bool = False
    #: make examples at each of these fractions of the reads (templates kept by name, like
    #: ``samtools view -s``): DeepVariant's training data mixes coverages the same way. A fraction listed again
    #: is another subset of the reads (sampled with the next seed), as a second downsampled copy of a BAM is
    read_fractions: tuple[float, ...] = (1.0,)
    #: how candidates get their labels (see LABELERS)
    labeler: str = "haplotype"
    #: training mode: extra copies of low-coverage indel examples (lowcov's, not DeepVariant's; None: none)
    indel_emphasis: IndelEmphasis | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.labeler not in LABELERS:
            raise ValueError(f"labeler must be one of {LABELERS}, got {self.labeler!r}")
        if not self.read_fractions or not all(0.0 < f <= 1.0 for f in self.read_fractions):
            raise ValueError(f"read_fractions must be in (0, 1], got {self.read_fractions}")
        if self.read_fractions.count(1.0) > 1:
            raise ValueError("read_fractions lists 1.0 more than once: every copy would hold the same reads")


def truth_genotypes(truth_vcf: str | os.PathLike, fetch, region: Region, margin: int = 200
                    ) -> dict[tuple[int, str, str], int]:
    """Normalised truth alleles near ``region`` -> number of haplotypes that carry each (the ``allele``
    labeller)."""
    copies: dict[tuple[int, str, str], int] = {}
    with pysam.VariantFile(str(truth_vcf)) as vcf:
        if region.contig not in vcf.header.contigs:
            return copies
        sample = next(iter(vcf.header.samples))
        for rec in vcf.fetch(region.contig, max(0, region.start - margin), region.end + margin):
            gt = rec.samples[sample].get("GT") or ()
            for index, alt in enumerate(rec.alts or (), start=1):
                n = sum(1 for g in gt if g == index)
                if n and is_sequence_allele(alt):
                    key = normalize(fetch, rec.chrom, rec.pos, rec.ref, alt).as_tuple()
                    copies[key] = copies.get(key, 0) + n
    return copies


def _examples_for_partition(records: RecordTable, name_rank: np.ndarray, fasta, region_contig: str, start: int,
                            end: int, config: ExamplesConfig, rng: np.random.Generator, normaliser: IndelNormaliser):
    pileup = config.pileup
    half = pileup.half_width
    chosen = sample_reads(overlapping(records, start, end), config.max_reads_per_partition, rng)
    if not len(chosen):
        return []
    window_start = max(0, start - half)
    partition_records, carried, uninformative = records.subset(chosen), {}, {}
    if config.realigner.enabled:
        realigned = realign(partition_records, fasta.fetch, region_contig, normaliser, config.realigner,
                            span=(window_start, end + half))
        partition_records, carried, uninformative = realigned.records, realigned.carried, realigned.uninformative
    reads = lay_out(partition_records, window_start, end + half, name_rank[chosen])
    indels = read_indel_keys(reads, normaliser, config.candidates.max_indel_length)
    for read, alleles in carried.items():  # a read ending inside an insertion carries the whole allele
        if alleles:
            indels[read] = alleles
        else:
            indels.pop(read, None)
    reference = fasta.fetch(region_contig, start, end)
    candidates = find_candidates(reads, indels, region_contig, start, end, reference, config.candidates)
    if not candidates:
        return []
    window_seq = fasta.fetch(region_contig, window_start, end + half + 1)
    window_codes = CODE_OF_BYTE[np.frombuffer(window_seq.encode(), dtype=np.uint8)]
    window_codes[np.frombuffer(window_seq.upper().encode(), dtype=np.uint8) == ord("N")] = 5
    all_reads = np.arange(len(reads))
    out = []
    pairs = allele_pairs(candidates) if config.allele_pairs else []
    by_position: dict[int, list] = {}  # a site's alt alleles, for drawing another alt's reads apart
    if pileup.other_alt_support != NOT_SUPPORTS:
        for cand in candidates:
            by_position.setdefault(cand.pos, []).append(cand)
    for cand in sorted(candidates + pairs, key=lambda c: (c.pos, len(c.keys), c.ref, c.alt)):
        centre = cand.anchor
        codes_here = reads.code_at(all_reads, centre)
        covering = np.flatnonzero(codes_here != 0)
        covering = covering[np.lexsort((reads.name_rank[covering], reads.lo[covering]))]
        if len(covering) > pileup.max_reads:
            pick = np.random.default_rng([config.seed, cand.pos]).choice(len(covering), pileup.max_reads,
                                                                         replace=False)
            covering = covering[np.sort(pick)]
        # a pair's image marks the reads that carry either of its alleles
        members = getattr(cand, "members", ()) or (cand,)
        supports = _carriers(members, covering, indels, codes_here)
        tied = _carriers([m for m in members if m.is_indel], covering, uninformative, codes_here)
        others = [c for c in by_position.get(cand.pos, ()) if c not in members]
        other_alt = _carriers(others, covering, indels, codes_here) if others else None
        # reference codes for the image's columns (zeros past the contig ends)
        ref_cols = np.zeros(pileup.width, dtype=np.uint8)
        lo = centre - half
        a, b = max(lo, window_start), min(centre + half + 1, window_start + len(window_codes))
        ref_cols[a - lo:b - lo] = window_codes[a - window_start:b - window_start]
        out.append((cand, draw(pileup, centre, ref_cols, reads, covering, supports, window_codes, tied, other_alt)))
    return out


def _carriers(alleles: Sequence, covering: np.ndarray, indels: dict, codes_here: np.ndarray) -> np.ndarray:
    """Whether each covering read carries any of ``alleles``: indels by their normalised key among the read's
    (``indels``: read -> keys, the keys it carries or, for the realigner's ties, fits as well as the reference),
    SNPs by the base at the anchor."""
    carries = np.zeros(len(covering), dtype=bool)
    for allele in alleles:
        if allele.is_indel:
            carries |= np.array([allele.key in indels.get(int(i), ()) for i in covering], dtype=bool)
        else:
            carries |= codes_here[covering] == CODE_OF_BYTE[ord(allele.alt)]
    return carries


def _label(cands: Sequence, labeler: str, truth_alleles: dict, truths, fetch, contig: str
           ) -> tuple[list[int], list[str]]:
    """One partition's labels by ``labeler``, and per candidate the change "TYPE allele>haplotype" where
    the two rules disagree ("" where they agree).

    DeepVariant's label for an image is how many of the genotype's alleles are among the image's alt
    alleles, so an allele pair's label is the sum of its two members' labels (at most 2); the haplotype
    labeller sees each distinct single allele once, as DeepVariant labels a multi-allelic site's alleles."""
    singles = list(dict.fromkeys(m for c in cands for m in getattr(c, "members", ()) or (c,)))
    by_haplotype_single = dict(zip((m.key for m in singles), label_partition(
        [m.pos for m in singles], [m.ref for m in singles], [m.alt for m in singles], truths, fetch, contig)))
    by_allele = [min(sum(truth_alleles.get(k, 0) for k in c.keys), 2) for c in cands]
    by_haplotype = [min(sum(by_haplotype_single[k] for k in c.keys), 2) for c in cands]
    chosen = by_haplotype if labeler == "haplotype" else by_allele
    changed = [f"{'INDEL' if c.is_indel else 'SNP'} {a}>{h}" if a != h else ""
               for c, a, h in zip(cands, by_allele, by_haplotype)]
    return chosen, changed


def _run_region(task) -> dict:
    """Worker: all examples of one region into one part file; returns its counts."""
    bam_path, fasta_path, region, fraction, config, truth_vcf, confident_bed, part_path, replicate = task
    if fraction < 1.0:
        config = replace(config, reads=replace(config.reads, keep_fraction=fraction, keep_seed=config.seed + replicate))
    rng = np.random.default_rng([config.seed, zlib.crc32(region.contig.encode()), region.start,
                                 int(fraction * 1000)] + ([replicate] if replicate else []))
    confident = RegionSet.from_bed(confident_bed, "CONF") if confident_bed else None
    # images are deflated as they are drawn: a region keeps pieces, about a thirtieth of the pileups' size
    pieces, crcs, shape = [], [], None
    labels, meta = [], {k: [] for k in ("contig", "position", "ref", "alt", "alt_count", "depth")}
    label_changes: Counter = Counter()
    start_time = time.perf_counter()
    n_candidates = 0
    records = read_region(bam_path, region.contig, region.start, region.end)
    records = records.subset(config.reads.accepts(records))
    name_rank = name_ranks(records)
    with pysam.FastaFile(str(fasta_path)) as fasta:
        normaliser = IndelNormaliser(fasta.fetch, region.contig)
        truth_alleles = truth_genotypes(truth_vcf, fasta.fetch, region) if truth_vcf else None
        # DeepVariant's labeller trusts only the confident truth; calling sets labelled for analysis keep it all
        truth_records = (TruthRecords.read(truth_vcf, region.contig, region.start, region.end,
                                           confident if config.mode == "training" else None) if truth_vcf else None)
        for start in range(region.start, region.end, config.partition_size):
            end = min(start + config.partition_size, region.end)
            produced = _examples_for_partition(records, name_rank, fasta, region.contig, start, end, config, rng,
                                               normaliser)
            n_candidates += len(produced)
            if not produced:
                continue
            if truth_vcf:
                produced_labels, changed = _label(
                    [c for c, _ in produced], config.labeler, truth_alleles,
                    truth_records.overlapping(start, end), fasta.fetch, region.contig)
            else:
                produced_labels, changed = [-1] * len(produced), [""] * len(produced)
            if config.mode == "training" and confident is not None:
                starts = np.array([c.anchor for c, _ in produced], dtype=np.int64)
                ends = np.array([c.anchor + len(c.ref) for c, _ in produced], dtype=np.int64)
                inside = confident.covers(region.contig, starts, ends)
            else:
                inside = np.ones(len(produced), dtype=bool)
            emphasis = config.indel_emphasis if config.mode == "training" else None
            for (cand, image), label, change, keep in zip(produced, produced_labels, changed, inside):
                if not keep:
                    continue
                if change:
                    label_changes[change] += 1
                extra = emphasis.copies_of(cand.is_indel, label, fraction) if emphasis else 0
                piece, crc = PackedImages.deflate(image)
                shape = image.shape
                for _ in range(1 + extra):
                    pieces.append(piece)
                    crcs.append(crc)
                    labels.append(label)
                    for name, value in (("contig", cand.contig), ("position", cand.pos), ("ref", cand.ref),
                                        ("alt", cand.alt), ("alt_count", cand.alt_count), ("depth", cand.depth)):
                        meta[name].append(value)
    if pieces:
        part = PackedShard(PackedImages.from_pieces(shape, pieces, crcs), np.array(labels, np.int8),
                           {k: np.array(v) for k, v in meta.items()})
        if config.mode == "training":  # split and gathered by the shuffle, still deflated
            part.write(part_path)
        else:  # kept in order: the part is a shard
            write_shard(part_path, part.images, part.labels, part.meta)
    counts = np.bincount(np.array([l for l in labels if l >= 0], dtype=np.int64), minlength=3).tolist()
    return {"region": str(region), "read_fraction": fraction, "replicate": replicate,
            "part": str(part_path) if pieces else None, "n_examples": len(pieces),
            "n_candidates": n_candidates, "class_counts": counts, "shape": shape,
            "label_changes": dict(label_changes),
            "labels_sha256": hashlib.sha256(np.array(labels, np.int8).tobytes()).hexdigest(),
            "seconds": time.perf_counter() - start_time}


def _load_kernels(task) -> None:
    """Run the compiled loops once on the first kilobase of the first task: on a fresh clone this compiles
    them once into numba's cache, which the workers then load instead of each compiling them."""
    bam_path, fasta_path, region, _, config, *_ = task
    end = min(region.start + config.partition_size, region.end)
    records = read_region(bam_path, region.contig, region.start, end)
    records = records.subset(config.reads.accepts(records))
    with pysam.FastaFile(str(fasta_path)) as fasta:
        _examples_for_partition(records, name_ranks(records), fasta, region.contig, region.start, end, config,
                                np.random.default_rng(0), IndelNormaliser(fasta.fetch, region.contig))


def make_examples(bam: str | os.PathLike, reference: str | os.PathLike, out_dir: str | os.PathLike,
                  regions: Sequence[str], config: ExamplesConfig = ExamplesConfig(),
                  truth_vcf: str | os.PathLike | None = None, confident_bed: str | os.PathLike | None = None,
                  exclude_contigs: Sequence[str] = (), force: bool = False, scheduler=None) -> ExampleSet:
    """Write an example set for ``regions`` (``chr2``, ``chr1:1-100000``) of ``bam`` into ``out_dir``.

    A complete set made with the same inputs and configuration is reused unless ``force``. The set is built
    under a temporary name beside ``out_dir`` and renamed when complete, so a failed run leaves nothing under
    ``out_dir``. ``scheduler``: where the regions run (:mod:`lowcov.executor`; default the process's
    setting, ``LOWCOV_SCHEDULER`` or ``config.threads`` local workers); the examples are the same bytes
    wherever they run. One function on purpose: input checks, the regions, the shuffle and
    ``example_info.json`` are the stage's steps in order, and each is a call.
    """
    from .manifest import code_digest, fingerprint, jsonable

    out_dir = Path(out_dir)
    bam = require_bam(bam)
    reference = require_fasta(reference)
    lengths = fasta_contigs(reference)
    wanted = [parse_region(r, lengths) for r in regions]
    excluded = [r for r in wanted if r.contig in set(exclude_contigs)]
    if excluded:
        raise InputError(f"region {excluded[0]} is on an excluded contig ({', '.join(exclude_contigs)}): "
                         "the test contig must never be used for training")
    check_contigs_match(bam_contigs(bam), bam, lengths, reference, needed=sorted({r.contig for r in wanted}))
    if config.mode == "training" and truth_vcf is None:
        raise InputError("training mode needs a truth VCF (truth_vcf=...) to label candidates")
    if truth_vcf is not None:
        truth_vcf = require_vcf(truth_vcf)
        with pysam.VariantFile(str(truth_vcf)) as vcf:
            truth_contigs = set(vcf.header.contigs)
        absent = sorted({r.contig for r in wanted} - truth_contigs)
        if absent and not (truth_contigs & {r.contig for r in wanted}):
            raise InputError(f"truth VCF {truth_vcf} has none of the contigs {', '.join(absent)} "
                             f"(it has {', '.join(sorted(truth_contigs)[:8])}); check 'chr' naming")

    # the code that draws and labels the examples is part of the set's identity, as its inputs are; how many
    # workers made them is not (the same bytes on any number)
    params = {"config": {key: value for key, value in asdict(config).items() if key not in EXECUTION_KEYS},
              "regions": [str(r) for r in wanted],
              "inputs": [fingerprint(p) for p in (bam, truth_vcf, confident_bed) if p is not None],
              "code": code_digest(__name__)}
    info_path = out_dir / "example_info.json"
    if info_path.exists() and not force:
        existing = ExampleSet.open(out_dir)
        if existing.info.get("params") == jsonable(params) and all(p.exists() for p in existing.shards):
            log.info("examples in %s are up to date (%d examples)", out_dir, len(existing))
            return existing
    if out_dir.exists():
        shutil.rmtree(out_dir)
    work_dir = temporary_name(out_dir)
    if work_dir.exists():  # left by a process of the same id that was killed
        shutil.rmtree(work_dir)
    try:
        info = _make_set(bam, reference, wanted, config, truth_vcf, confident_bed, work_dir, scheduler)
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise
    info["params"] = jsonable(params)
    write_info(work_dir, info)
    os.replace(work_dir, out_dir)
    log.info("wrote %d examples (%s) in %.1f s to %s", info["n_examples"], info["class_counts"], info["seconds"],
             out_dir)
    return ExampleSet.open(out_dir)


def _make_set(bam: Path, reference: Path, wanted: list[Region], config: ExamplesConfig, truth_vcf: Path | None,
              confident_bed, work_dir: Path, scheduler) -> dict:
    """The regions' examples, shuffled into shards (training) or kept in order (calling), in ``work_dir``;
    returns ``example_info.json``'s fields but ``params``."""
    parts_dir = work_dir / ".parts"
    parts_dir.mkdir(parents=True)
    fractions = [(fraction, config.read_fractions[:i].count(fraction))  # (fraction, how many times listed before)
                 for i, fraction in enumerate(config.read_fractions)]
    pieces = [(region, fraction, replicate) for fraction, replicate in fractions
              for region in split_regions(wanted, config.region_size)]
    tasks = [(str(bam), str(reference), region, fraction, config, str(truth_vcf) if truth_vcf else None,
              str(confident_bed) if confident_bed else None, parts_dir / f"part-{i:05d}.npz", replicate)
             for i, (region, fraction, replicate) in enumerate(pieces)]
    started = time.perf_counter()
    if tasks:
        _load_kernels(tasks[0])
    log.info("make_examples (%s): %d regions of %s", config.mode, len(tasks), bam)
    shards_on = {"scheduler": scheduler, "threads": max(1, config.threads)}
    results = run_shards(_run_region, tasks, description=f"make_examples {config.mode}",
                         labels=[f"{region} (reads x{fraction:g}{f', copy {r + 1}' if r else ''})"
                                 for region, fraction, r in pieces],
                         weights=[region.end - region.start for region, *_ in pieces], unit="bp", **shards_on)
    parts = [(Path(r["part"]), r["n_examples"]) for r in results if r["part"]]
    if config.mode == "training":
        shards = shuffle_parts(parts, work_dir, config.examples_per_shard, config.seed, shards_on)
    else:
        shards = []
        for i, (part, _) in enumerate(parts):
            name = shard_name(i, len(parts))
            os.replace(part, work_dir / name)
            shards.append(name)
    seconds = time.perf_counter() - started
    shutil.rmtree(parts_dir)
    n_examples = sum(r["n_examples"] for r in results)
    class_counts = np.sum([r["class_counts"] for r in results], axis=0).tolist() if results else [0, 0, 0]
    label_changes = sum((Counter(r["label_changes"]) for r in results), Counter())
    info = {
        "mode": config.mode, "bam": str(bam), "reference": str(reference),
        "truth_vcf": str(truth_vcf) if truth_vcf else None,
        "confident_bed": str(confident_bed) if confident_bed else None,
        "read_fractions": list(config.read_fractions),
        "height": config.pileup.height, "width": config.pileup.width, "channels": list(config.pileup.channels),
        "n_examples": n_examples, "n_candidates": sum(r["n_candidates"] for r in results),
        "class_counts": {"hom_ref": class_counts[0], "het": class_counts[1], "hom_alt": class_counts[2]},
        # examples whose label the allele lookup ("SNP 0>1": class 0) and the haplotype labeller (class 1) disagree on
        "label_changes": dict(sorted(label_changes.items())),
        # the labels of every region in order: a set relabelled with the same examples gets another digest
        "labels_sha256": hashlib.sha256("".join(r["labels_sha256"] for r in results).encode()).hexdigest(),
        "shards": shards, "seconds": round(seconds, 2),
        "examples_per_second": round(n_examples / seconds, 1) if seconds else None,
        "regions": [{k: v for k, v in r.items() if k not in ("part", "labels_sha256")} for r in results],
    }
    return info


# -- command line ----------------------------------------------------------------------------------


def _cli_config(args, channels: tuple[str, ...]) -> ExamplesConfig:
    """The ExamplesConfig the command line asks for (ValueError names a setting it refuses)."""
    return ExamplesConfig(
        pileup=PileupConfig(channels=channels, other_alt_support=OTHER_ALT_SUPPORTS
                            if args.add_supporting_other_alt_color else NOT_SUPPORTS),
        mode=args.mode, threads=args.threads, seed=args.seed, labeler=args.labeler_algorithm.split("_")[0],
        read_fractions=tuple(args.read_fractions or (args.downsample_fraction,)),
        reads=ReadFilter(min_mapping_quality=args.min_mapping_quality),
        candidates=replace(CandidateConfig(), min_base_quality=args.min_base_quality,
                           min_snp_count=args.vsc_min_count_snps, min_snp_fraction=args.vsc_min_fraction_snps,
                           min_indel_count=args.vsc_min_count_indels,
                           min_indel_fraction=args.vsc_min_fraction_indels))


def main(argv: Sequence[str] | None = None) -> int:
    """``lowcov make-examples``: DeepVariant's make_examples flags where they mean the same."""
    import argparse
    import logging as _logging

    parser = argparse.ArgumentParser(prog="lowcov make-examples", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--ref", required=True, help="reference FASTA (indexed or indexable)")
    parser.add_argument("--reads", required=True, help="aligned, sorted, indexed BAM or CRAM")
    parser.add_argument("--examples", required=True,
                        help="output: a lowcov example-set directory, or DeepVariant's files (name.tfrecord.gz, "
                             "written as name.tfrecord-0000i-of-0000N.gz with example_info.json)")
    parser.add_argument("--truth_variants", help="truth VCF (training mode: labels)")
    parser.add_argument("--confident_regions", help="BED of confident regions (training mode)")
    parser.add_argument("--regions", help="space-separated regions or BED files (default: every contig)")
    parser.add_argument("--exclude_regions", help="space-separated regions or BED files to leave out")
    parser.add_argument("--min_mapping_quality", type=int, default=ReadFilter().min_mapping_quality)
    parser.add_argument("--min_base_quality", type=int, default=CandidateConfig().min_base_quality)
    parser.add_argument("--vsc_min_count_snps", type=int, default=CandidateConfig().min_snp_count)
    parser.add_argument("--vsc_min_fraction_snps", type=float, default=CandidateConfig().min_snp_fraction)
    parser.add_argument("--vsc_min_count_indels", type=int, default=CandidateConfig().min_indel_count)
    parser.add_argument("--vsc_min_fraction_indels", type=float, default=CandidateConfig().min_indel_fraction)
    parser.add_argument("--downsample_fraction", type=float, default=1.0,
                        help="keep this fraction of read templates (by name, as samtools view -s)")
    parser.add_argument("--read_fractions", type=float, nargs="+", default=None,
                        help="lowcov: make examples at each of these fractions (overrides --downsample_fraction); "
                             "a fraction listed again is another, independent subset of the reads")
    parser.add_argument("--threads", type=int, default=ExamplesConfig().threads,
                        help="local worker processes (1: none); ignored with --scheduler")
    parser.add_argument("--scheduler", default=None,
                        help="a running Dask scheduler (tcp://HOST:8786) or a dask-jobqueue YAML file "
                             f"(default: ${ENV_VAR}, else local workers)")
    parser.add_argument("--seed", type=int, default=ExamplesConfig().seed, help="shuffling and read sampling")
    parser.add_argument("--labeler_algorithm", choices=("haplotype_labeler", "allele_labeler"),
                        default="haplotype_labeler",
                        help="haplotype_labeler: DeepVariant's default; allele_labeler: lowcov's exact lookup of "
                             "the normalised allele in the truth (not DeepVariant's positional_labeler)")
    parser.add_argument("--channel_list", default=",".join(DEFAULT_CHANNELS),
                        help="the image's channels, as DeepVariant's flag (BASE_CHANNELS = its six base channels); "
                             "default lowcov's: BASE_CHANNELS,insert_size,homopolymer_weighted. DeepVariant's "
                             "published WGS model reads BASE_CHANNELS,insert_size")
    parser.add_argument("--add_supporting_other_alt_color", action="store_true",
                        help="as DeepVariant's flag: reads carrying another alt allele of a multi-allelic site are "
                             "drawn with read_supports_variant 76 instead of 152")
    parser.add_argument("--force", action="store_true", help="remake even if a current set exists")
    args = parser.parse_args(argv)
    _logging.basicConfig(level=_logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        lengths = fasta_contigs(require_fasta(args.ref))
        wanted = region_list(args.regions, lengths) or [Region(c, 0, n) for c, n in lengths.items()]
        wanted = subtract_regions(wanted, region_list(args.exclude_regions, lengths))
        if not wanted:
            raise InputError("--exclude_regions leaves nothing of --regions to make examples from")
        try:
            channels = parse_channel_list(args.channel_list)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        try:
            config = _cli_config(args, channels)
        except ValueError as exc:
            raise InputError(f"make_examples settings: {exc}") from None
        from .dvexamples import export_example_set, is_deepvariant_path

        deepvariant_format = is_deepvariant_path(args.examples)
        out_dir = Path(args.examples + ".lowcov") if deepvariant_format else Path(args.examples)
        examples = make_examples(args.reads, args.ref, out_dir, [str(r) for r in wanted], config,
                                 truth_vcf=args.truth_variants, confident_bed=args.confident_regions, force=args.force,
                                 scheduler=args.scheduler)
        written = export_example_set(examples, args.examples) if deepvariant_format else str(examples.directory)
    except (InputError, ExecutorError) as exc:
        log.error("%s", exc)
        return 1
    info = examples.info
    print(f"make_examples ({args.mode}): {info['n_examples']} examples of {info['n_candidates']} candidates "
          f"in {len(info['shards'])} shards, class counts {info['class_counts']}, {info['seconds']} s -> {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
