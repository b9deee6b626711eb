"""Per-base read depth and the case study's coverage buckets.

The case study ran ``samtools depth`` (without ``-a``, so only covered bases are listed) and counted
bases with depth 1-7 ("low"), 8-20 ("medium") and >20 ("high"). :func:`contig_depth` computes the same
depth as ``samtools depth`` with its defaults (reads flagged unmapped, secondary, QC-fail or duplicate
are skipped; deletions and reference skips are not counted; overlapping mates count twice), but from
each read's aligned blocks with a difference array instead of a pileup, so its cost grows with the
number of reads, not with read length x depth: long RNA reads and deep genes stay cheap. BAM with a
``.bai`` index is read by :mod:`lowcov.bamraw` (compiled record loop, ISA-L inflate; about twice as fast
as ``samtools depth``, ``benchmarks/benchmark_coverage.py``); other inputs go through pysam. Contigs, and
pieces of long contigs read through pysam, run as shards of :mod:`lowcov.executor`, each returning its
histogram and window means (pieces start at multiples of the window), so only small arrays travel.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numba
import numpy as np
import pandas as pd
import pysam
from . import InputError, bamraw
from .checks import bam_contigs, require_bam
from .executor import chosen_scheduler, run_shards
from .fileio import atomic_output
from .intervals import true_runs
from .reads import EXCLUDED_FLAGS

log = logging.getLogger(__name__)

#: the case study's buckets: name, lowest depth, highest depth (None = no upper bound)
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("Low Coverage (1-7)", 1, 7),
    ("Medium Coverage (8-20)", 8, 20),
    ("High Coverage (>20)", 21, None),
)

#: samtools depth's default exclusion (UNMAP, SECONDARY, QCFAIL, DUP): the same reads pileups skip
SAMTOOLS_DEPTH_EXCLUDE = EXCLUDED_FLAGS


@dataclass(frozen=True)
class DepthConfig:
    min_mapq: int = 0
    exclude_flags: int = SAMTOOLS_DEPTH_EXCLUDE
    #: depth along the contig is averaged over windows of this size for plots
    bin_size: int = 10_000
    #: local worker processes (lowcov.executor); in one process, threads that decompress the BAM
    threads: int = 2
    #: inputs read through pysam with fewer reference bases than this are done in one process
    #: (threads then decompress the BAM): handing pieces to workers costs more than it saves
    pool_min_bases: int = 1_000_000


def contig_depth(bam_path: str | os.PathLike, contig: str, config: DepthConfig = DepthConfig(),
                 start: int = 0, end: int | None = None, decompression_threads: int = 1) -> np.ndarray:
    """Depth at every base of ``contig[start:end]`` (0-based, half-open; default the whole contig)."""
    with pysam.AlignmentFile(str(require_bam(bam_path)), "rb") as bam:
        try:
            length = bam.get_reference_length(contig)
        except KeyError:
            raise InputError(f"contig {contig} is not in {bam_path}") from None
        tid = bam.get_tid(contig)
    end = length if end is None else min(end, length)
    if not 0 <= start < end:
        raise InputError(f"empty region {contig}:{start + 1}-{end} for {bam_path}")
    delta = np.zeros(end - start + 1, dtype=np.int32)
    if bamraw.readable(bam_path):
        span = bamraw.region_span(bam_path, tid, start, end)
        if span is not None:
            for buffer in bamraw.region_buffers(bam_path, span, threads=decompression_threads):
                if _add_block_edges(buffer, tid, start, end, config.exclude_flags, config.min_mapq, delta):
                    break
    else:
        _add_block_edges_pysam(bam_path, contig, start, end, config, decompression_threads, delta)
    return np.cumsum(delta[:-1], dtype=np.int32)


@numba.njit(cache=True, nogil=True)
def _add_block_edges(buf, tid, start, end, exclude_flags, min_mapq, delta) -> bool:
    """+1/-1 at both ends of every aligned block (M, =, X) of the records in ``buf``, clipped to
    ``[start, end)``; True once a record lies past the region (the BAM is sorted: nothing follows)."""
    at, n = 0, len(buf)
    while at < n:
        size = bamraw.record_size(buf, at)
        ref, pos = bamraw.i32(buf, at + bamraw.REF_ID), bamraw.i32(buf, at + bamraw.POS)
        if ref != tid or pos >= end:
            return True
        if not (bamraw.u16(buf, at + bamraw.FLAG) & exclude_flags) and buf[at + bamraw.MAPQ] >= min_mapq:
            c = bamraw.cigar_offset(buf, at)
            for k in range(bamraw.u16(buf, at + bamraw.N_CIGAR)):
                value = bamraw.u32(buf, c + 4 * k)
                op, length = value & 0xF, value >> 4
                if op == 0 or op == 7 or op == 8:
                    lo, hi = max(pos, start), min(pos + length, end)
                    if lo < hi:
                        delta[lo - start] += 1
                        delta[hi - start] -= 1
                    pos += length
                elif op == 2 or op == 3:
                    pos += length
        at += size
    return False


def _add_block_edges_pysam(bam_path, contig: str, start: int, end: int, config: DepthConfig, threads: int,
                           delta: np.ndarray) -> None:
    """The same edges through pysam, for inputs the raw reader does not take (CRAM, CSI index)."""
    starts: list[int] = []
    ends: list[int] = []
    with pysam.AlignmentFile(str(bam_path), "rb", threads=max(1, threads)) as bam:
        for read in bam.fetch(contig, start, end):
            if read.flag & config.exclude_flags or read.mapping_quality < config.min_mapq:
                continue
            for block_start, block_end in read.get_blocks():
                starts.append(block_start)
                ends.append(block_end)
    span = end - start
    first = np.clip(np.asarray(starts, dtype=np.int64) - start, 0, span)
    last = np.clip(np.asarray(ends, dtype=np.int64) - start, 0, span)
    keep = first < last
    delta += np.bincount(first[keep], minlength=span + 1).astype(np.int32)
    delta -= np.bincount(last[keep], minlength=span + 1).astype(np.int32)


def depth_histogram(depth: np.ndarray) -> np.ndarray:
    """``h[d]`` = number of bases with depth ``d``."""
    return np.bincount(depth)


def bin_means(depth: np.ndarray, bin_size: int) -> np.ndarray:
    n_full = len(depth) // bin_size
    means = depth[: n_full * bin_size].reshape(n_full, bin_size).mean(axis=1) if n_full else np.empty(0)
    if len(depth) % bin_size:
        means = np.append(means, depth[n_full * bin_size:].mean())
    return means


def _piece_summary(task) -> tuple[np.ndarray, np.ndarray]:
    """Task: the depth histogram and window means of one piece of a contig."""
    bam_path, contig, start, end, config, decompression_threads = task
    depth = contig_depth(bam_path, contig, config, start, end, decompression_threads)
    return depth_histogram(depth), bin_means(depth, config.bin_size)


def _regions(lengths: dict[str, int], contigs: list[str], workers: int, bin_size: int) -> list[tuple[str, int, int]]:
    """Contigs cut into about ``2 * workers`` pieces in all (at most 20 Mb each), so one long contig
    still keeps every worker busy; each piece's depth is exact because blocks are clipped to it, and
    pieces start at multiples of ``bin_size`` so that their window means are the contig's."""
    total = sum(lengths[c] for c in contigs)
    size = max(250_000, min(20_000_000, -(-total // max(1, 2 * workers))))
    size = -(-size // bin_size) * bin_size
    return [(c, s, min(s + size, lengths[c])) for c in contigs for s in range(0, lengths[c], size)]


def _combine_pieces(pieces: list[tuple[str, int, int]], summaries: list[tuple[np.ndarray, np.ndarray]],
                    bin_size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-contig histogram (long table) and window means from the pieces' summaries, pieces in contig order."""
    histograms, bins = [], []
    by_contig: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for (contig, _, _), summary in zip(pieces, summaries):
        by_contig.setdefault(contig, []).append(summary)
    for contig, parts in by_contig.items():
        hist = np.zeros(max(len(h) for h, _ in parts), dtype=np.int64)
        for h, _ in parts:
            hist[:len(h)] += h
        means = np.concatenate([m for _, m in parts])
        nonzero = np.flatnonzero(hist)
        histograms.append(pd.DataFrame({"contig": contig, "depth": nonzero, "bases": hist[nonzero]}))
        bins.append(pd.DataFrame({"contig": contig, "start": np.arange(len(means)) * bin_size, "mean_depth": means}))
    return pd.concat(histograms, ignore_index=True), pd.concat(bins, ignore_index=True)


@dataclass
class DepthSummary:
    """Depth histogram per contig (long table: contig, depth, bases) and windowed mean depth."""

    histogram: pd.DataFrame
    bins: pd.DataFrame

    def buckets(self) -> pd.Series:
        return bucket_counts(self.histogram)

    def covered_bases(self) -> int:
        return int(self.histogram.loc[self.histogram.depth > 0, "bases"].sum())


def bucket_counts(histogram: pd.DataFrame) -> pd.Series:
    """Bases per case-study bucket from a (depth, bases) histogram; depth 0 is not counted."""
    out = {}
    for name, low, high in BUCKETS:
        mask = histogram.depth >= low
        if high is not None:
            mask &= histogram.depth <= high
        out[name] = int(histogram.loc[mask, "bases"].sum())
    return pd.Series(out, dtype="int64")


def depth_summary(bam_path: str | os.PathLike, contigs: Sequence[str] | None = None,
                  config: DepthConfig = DepthConfig(), out_prefix: str | os.PathLike | None = None,
                  scheduler=None) -> DepthSummary:
    """Depth histogram and windowed means of ``bam_path`` over ``contigs`` (default: all).

    With ``out_prefix``, writes ``PREFIX.histogram.tsv`` and ``PREFIX.bins.tsv``. ``scheduler``: where the
    pieces run (:mod:`lowcov.executor`; default ``config.threads`` local workers, or this process when there
    is one piece or a small input).
    """
    bam_path = require_bam(bam_path)
    available = bam_contigs(bam_path)
    contigs = list(available) if contigs is None else list(contigs)
    unknown = [c for c in contigs if c not in available]
    if unknown:
        raise InputError(f"contig(s) {', '.join(unknown)} not in {bam_path} (it has {', '.join(list(available)[:8])}...)")
    raw = bamraw.readable(bam_path)
    # the raw reader runs whole contigs (threads inflate inside one when there is only one); pysam's
    # loop needs pieces of long contigs to keep the workers busy
    pieces = ([(c, 0, available[c]) for c in contigs] if raw
              else _regions(available, contigs, config.threads, config.bin_size))
    small = sum(available[c] for c in contigs) < config.pool_min_bases
    in_process = chosen_scheduler(scheduler) is None and (config.threads <= 1 or len(pieces) == 1 or (not raw and small))
    shards_on = {"threads": 1} if in_process else {"threads": config.threads, "scheduler": scheduler}
    decompression_threads = config.threads if in_process else 1
    tasks = [(str(bam_path), c, s, e, config, decompression_threads) for c, s, e in pieces]
    summaries = run_shards(_piece_summary, tasks, description=f"depth {Path(bam_path).name}", unit=" regions",
                           labels=[f"{c}:{s + 1}-{e}" for c, s, e in pieces], **shards_on)
    summary = DepthSummary(*_combine_pieces(pieces, summaries, config.bin_size))
    if out_prefix is not None:
        for name, frame in (("histogram", summary.histogram), ("bins", summary.bins)):
            with atomic_output(f"{out_prefix}.{name}.tsv") as tmp:
                frame.to_csv(tmp, sep="\t", index=False)
    return summary


def read_depth_summary(out_prefix: str | os.PathLike) -> DepthSummary:
    return DepthSummary(pd.read_csv(f"{out_prefix}.histogram.tsv", sep="\t", dtype={"contig": str}),
                        pd.read_csv(f"{out_prefix}.bins.tsv", sep="\t", dtype={"contig": str}))


def write_bucket_beds(bam_path: str | os.PathLike, contig: str, out_dir: str | os.PathLike,
                      config: DepthConfig = DepthConfig()) -> dict[str, Path]:
    """One BED per coverage bucket of ``contig`` (for stratified benchmarking), keyed by bucket name."""
    depth = contig_depth(require_bam(bam_path), contig, config)
    out_dir = Path(out_dir)
    paths = {}
    for name, low, high in BUCKETS:
        mask = depth >= low
        if high is not None:
            mask &= depth <= high
        slug = name.split(" (")[0].split()[0].lower()
        path = out_dir / f"{Path(bam_path).name.removesuffix('.bam')}.{contig}.depth_{slug}.bed"
        with atomic_output(path) as tmp, open(tmp, "w") as handle:
            for start, end in zip(*true_runs(mask)):
                handle.write(f"{contig}\t{start}\t{end}\n")
        paths[name] = path
    return paths


#: the case study's table (bases per bucket, from samtools depth on its files)
CASE_STUDY_BUCKETS = pd.DataFrame(
    [[459_658, 4_355_513, 220_221_898], [117_313_191, 106_047_660, 1_170_103],
     [478_281_601, 137_024_743, 95_840_555]],
    index=pd.Index(["Original", "Downsampled", "RNA Training"], name="Dataset"),
    columns=[name for name, _, _ in BUCKETS],
)


def coverage_stage(layout, config: DepthConfig = DepthConfig(), force: bool = False,
                   downsample_fraction: float = 0.5, rna_preset: str = "ccs") -> dict[str, DepthSummary]:
    """Depth summaries of the case study's three datasets: Original (chr1 DNA), Downsampled, RNA Training.

    Depth summaries are written to ``<profile>/coverage/`` with a stage manifest, so a re-run with the
    same inputs only reads them back.
    """
    from .manifest import run_stage

    datasets = {
        "Original": (layout.dna_test_bam(1.0), [layout.test_contig]),
        "Downsampled": (layout.dna_test_bam(downsample_fraction), [layout.test_contig]),
        "RNA Training": (layout.rna_bam(rna_preset), None),
    }
    out_dir = layout.stage("coverage")
    rows = {}
    for name, (bam, contigs) in datasets.items():
        prefix = out_dir / name.lower().replace(" ", "_")
        outputs = [Path(f"{prefix}.histogram.tsv"), Path(f"{prefix}.bins.tsv")]
        run_stage(out_dir, f"depth_{prefix.name}", inputs=[bam], params={"config": config, "contigs": contigs},
                  outputs=outputs, force=force,
                  work=lambda bam=bam, contigs=contigs, prefix=prefix: {
                      "covered_bases": depth_summary(bam, contigs, config, prefix).covered_bases()})
        rows[name] = read_depth_summary(prefix)
    return rows


def bucket_table(summaries: dict[str, DepthSummary]) -> pd.DataFrame:
    """The case study's coverage table: bases per bucket, one row per dataset."""
    table = pd.DataFrame({name: summary.buckets() for name, summary in summaries.items()}).T
    table.index.name = "Dataset"
    return table


def bucket_fractions(table: pd.DataFrame) -> pd.DataFrame:
    """Each row of a bucket table as fractions of its covered bases."""
    return table.div(table.sum(axis=1), axis=0)


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    from math import comb

    return float(sum(comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(0, min(k, n) + 1)))


def expected_buckets_after_downsampling(histogram: pd.DataFrame, fraction: float) -> pd.Series:
    """Bases per bucket expected after keeping each read with probability ``fraction``.

    Each base at depth d keeps Binomial(d, fraction) reads (mates are kept together, which leaves
    the expectation unchanged and only widens the spread a little where mates overlap).
    """
    hist = histogram.groupby("depth")["bases"].sum()
    expected = {}
    for name, low, high in BUCKETS:
        total = 0.0
        for depth, bases in hist.items():
            if depth < low:
                continue
            upper = depth if high is None else min(high, depth)
            total += bases * (binomial_cdf(upper, depth, fraction) - binomial_cdf(low - 1, depth, fraction))
        expected[name] = total
    return pd.Series(expected)


def max_low_share_after_downsampling(buckets: pd.Series, fraction: float) -> float:
    """Upper bound on the share of covered bases in the 1-7 bucket after downsampling a dataset
    whose bucket counts (1-7, 8-20, >20) are ``buckets``, whatever its exact depths.

    Bases that were at depth <= 20 may all land in 1-7; a base at depth >= 21 lands there with
    probability at most P(Binomial(21, f) <= 7) (the chance falls as depth grows) and stays covered
    with probability at least 1 - (1 - f)^21.
    """
    low, medium, high = (float(v) for v in buckets.iloc[:3])
    p_low = binomial_cdf(7, 21, fraction)
    p_covered = 1 - (1 - fraction) ** 21
    return min(1.0, (low + medium + high * p_low) / max(high * p_covered, 1.0))
