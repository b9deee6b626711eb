"""Uncertainty of benchmark metrics: a paired block bootstrap over the confident regions (and over seeds).

A benchmark's recall, precision and F1 are ratios of counts of variants, and neighbouring variants are
not independent (a repeat, a low-coverage stretch, a mis-mapped segmental duplication make several errors
at once). So the test contig's confident regions are cut into blocks of :data:`BLOCK_SIZE` bases, the
blocks are drawn with replacement :data:`RESAMPLES` times, and each metric is recomputed from the counts
of the drawn blocks; the 95 % interval is the 2.5th to 97.5th percentile of those values (percentile
bootstrap). Models called on the same contig are resampled with the *same* draws, so the interval of a
difference between two models (paired) is narrower than the two intervals side by side suggest. A model
trained with several seeds is resampled over its seeds too: each draw takes the seeds with replacement
and averages their metrics, so the interval covers both the genome's and the training's randomness.

Reads :class:`~lowcov.benchmark.BenchmarkResult` objects (their per-unit ``observations``) and the
confident BED; returns tables. The counts reproduce hap.py's summary rows exactly (tested).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .benchmark import BenchmarkResult
from .benchmark.quantify import QUERY_FP, QUERY_TP, TRUTH_FN, TRUTH_TP
from .benchmark.regions import RegionSet

#: bases per resampled block: longer than the stretches errors cluster in (repeats, segmental
#: duplications: a few kb), short enough that the demo's chr1 has dozens of blocks
BLOCK_SIZE = 100_000
#: bootstrap draws; the percentile interval's ends move by less than 0.001 between 1,000 and 4,000
RESAMPLES = 1000
CONFIDENCE = 0.95
#: the draws are seeded so that every rendering of the book shows the same intervals
BOOTSTRAP_SEED = 20241128

TYPES = ("SNP", "INDEL")
METRICS = ("METRIC.Recall", "METRIC.Precision", "METRIC.F1_Score")
#: count columns per type: truth TP, truth FN, query TP, query FP (hap.py's ingredients of the metrics)
_COUNTS = (TRUTH_TP, TRUTH_FN, QUERY_TP, QUERY_FP)


@dataclass(frozen=True)
class Blocks:
    """The blocks of the confident regions: (contig, block index) pairs, in order."""

    keys: tuple[tuple[str, int], ...]
    size: int

    @classmethod
    def of_bed(cls, confident_bed: str | os.PathLike, size: int = BLOCK_SIZE) -> "Blocks":
        regions = RegionSet.from_bed(confident_bed, "CONF")
        keys = []
        for contig in regions.contigs:
            starts, ends = regions.intervals(contig)
            indices = sorted({i for s, e in zip(starts, ends) for i in range(int(s) // size, (int(e) - 1) // size + 1)})
            keys += [(contig, i) for i in indices]
        if not keys:
            raise ValueError(f"{confident_bed} holds no confident bases to resample")
        return cls(tuple(keys), size)

    def __len__(self) -> int:
        return len(self.keys)


def block_counts(result: BenchmarkResult, blocks: Blocks, filter_name: str = "ALL",
                 subset: str = "*") -> np.ndarray:
    """Counts [block, type (SNP, INDEL), truth TP / truth FN / query TP / query FP] of one benchmark."""
    obs = result.observations
    if obs is None or len(obs.contig) != len(obs.decision):
        raise ValueError("this benchmark result carries no per-unit observations (run lowcov.benchmark.compare)")
    category = obs.categories(pass_view=filter_name == "PASS")
    index = {key: n for n, key in enumerate(blocks.keys)}
    block = np.array([index.get((c, int(s) // blocks.size), -1) for c, s in zip(obs.contig, obs.start)],
                     dtype=np.int64)
    keep = block >= 0
    if subset != "*":
        keep &= obs.subsets[subset]
    counts = np.zeros((len(blocks), len(TYPES), len(_COUNTS)), dtype=np.int64)
    for t, is_indel in enumerate((False, True)):
        for c, code in enumerate(_COUNTS):
            chosen = keep & (obs.is_indel == is_indel) & (category == code)
            counts[:, t, c] = np.bincount(block[chosen], minlength=len(blocks))
    return counts


def metrics_of(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Recall, precision and F1 from counts [..., 4] (hap.py's definitions; NaN where undefined)."""
    counts = counts.astype(np.float64)
    truth_tp, truth_fn, query_tp, query_fp = (counts[..., i] for i in range(4))
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = truth_tp / (truth_tp + truth_fn)
        precision = query_tp / (query_tp + query_fp)
        f1 = 2 * recall * precision / (recall + precision)
    return {"METRIC.Recall": recall, "METRIC.Precision": precision, "METRIC.F1_Score": f1}


def resample_weights(n_blocks: int, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """[resample, block]: how often each block is drawn in each resample (drawing n_blocks of n_blocks)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_blocks, size=(resamples, n_blocks))
    return np.stack([np.bincount(row, minlength=n_blocks) for row in draws])


def _replicate_draws(weights: np.ndarray, runs: Sequence[np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Per metric, [resample, type]: the metric of the drawn blocks, averaged over seeds drawn with
    replacement (one run: no seed draw)."""
    per_run = np.stack([np.einsum("rb,btc->rtc", weights, counts) for counts in runs])  # [run, r, type, 4]
    values = metrics_of(per_run)
    if len(runs) == 1:
        return {m: v[0] for m, v in values.items()}
    rng = np.random.default_rng([seed, len(runs)])
    chosen = rng.integers(0, len(runs), size=(weights.shape[0], len(runs)))  # [r, drawn run]
    rows = np.arange(weights.shape[0])[:, None]
    return {m: np.nanmean(v[chosen, rows], axis=1) for m, v in values.items()}


def _bounds(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - confidence) / 2 * 100
    return np.nanpercentile(values, tail, axis=0), np.nanpercentile(values, 100 - tail, axis=0)


def direction(low: float, high: float) -> str:
    """"higher" only when the whole interval of a difference is above zero, "lower" when below, else
    "no detectable change"."""
    if low > 0:
        return "higher"
    if high < 0:
        return "lower"
    return "no detectable change"


def intervals(results: Mapping[str, BenchmarkResult | Sequence[BenchmarkResult]], blocks: Blocks,
              baseline: str | None = "Original", filter_name: str = "ALL", subset: str = "*",
              resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """One row per model, type and metric: the estimate (the mean over seeds for replicated runs), its 95 %
    interval, and, against ``baseline`` (paired: the same block draws), the difference with its interval
    and the direction word of :func:`direction`.

    ``results`` maps a model to its benchmark, or to a list of benchmarks of the same model trained with
    different seeds.
    """
    runs = {name: [value] if isinstance(value, BenchmarkResult) else list(value) for name, value in results.items()}
    if baseline is not None and baseline not in runs:
        raise KeyError(f"baseline {baseline!r} is not among the models {list(runs)}")
    weights = resample_weights(len(blocks), resamples, seed)
    counts = {name: [block_counts(r, blocks, filter_name, subset) for r in rs] for name, rs in runs.items()}
    draws = {name: _replicate_draws(weights, cs, seed) for name, cs in counts.items()}
    point = {name: {m: np.mean([metrics_of(c.sum(axis=0))[m] for c in cs], axis=0) for m in METRICS}
             for name, cs in counts.items()}
    rows = []
    for name in runs:
        for metric in METRICS:
            low, high = _bounds(draws[name][metric])
            for t, variant_type in enumerate(TYPES):
                row = {"Model": name, "Type": variant_type, "Metric": metric, "seeds": len(runs[name]),
                       "estimate": float(point[name][metric][t]), "low": float(low[t]), "high": float(high[t])}
                if baseline is not None:
                    change = draws[name][metric][:, t] - draws[baseline][metric][:, t]
                    change_low, change_high = _bounds(change)
                    row.update({"change": float(point[name][metric][t] - point[baseline][metric][t]),
                                "change_low": float(change_low), "change_high": float(change_high),
                                "direction": "" if name == baseline else direction(change_low, change_high)})
                rows.append(row)
    return pd.DataFrame(rows)


def resolution(table: pd.DataFrame, model: str = "Original", metric: str = "METRIC.Recall") -> dict[str, float]:
    """Per type, half the width of ``model``'s 95 % interval of ``metric``: a change smaller than this
    cannot be told from the resampling noise of one model's calls (paired differences resolve somewhat
    finer, since both models share most calls)."""
    rows = table[(table.Model == model) & (table.Metric == metric)].set_index("Type")
    return {t: float((rows.loc[t, "high"] - rows.loc[t, "low"]) / 2) for t in TYPES if t in rows.index}


def sweep_intervals(results_by_dataset: Mapping[str, Mapping[str, BenchmarkResult]], depth: Mapping[str, float],
                    blocks: Blocks, baseline: str = "Original", resamples: int = RESAMPLES,
                    seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """:func:`intervals` at each coverage of a sweep (the same block draws at every coverage), with the
    dataset and its mean depth as columns."""
    return pd.concat([intervals(results, blocks, baseline, resamples=resamples, seed=seed)
                      .assign(Dataset=dataset, Depth=float(depth[dataset]))
                      for dataset, results in results_by_dataset.items()], ignore_index=True)
