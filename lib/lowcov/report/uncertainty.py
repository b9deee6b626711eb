"""Chapters 3 and 7's intervals in words and tables: estimates with their 95 % intervals, and the direction
words of changes, which come only from whole intervals (:func:`lowcov.bootstrap.direction`).

The input is :func:`lowcov.bootstrap.intervals`' table (one row per model, type and metric).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ..bootstrap import RESAMPLES
from .common import BASELINE, F1, MOVED_METRICS, TYPES

SHORT = {metric: name for name, metric in MOVED_METRICS.items()}


def with_interval(estimate: float, low: float, high: float, signed: bool = False) -> str:
    """``0.9735 [0.9660, 0.9801]`` (``+0.0012 [-0.0030, +0.0051]`` for a change)."""
    form = "+.4f" if signed else ".4f"
    estimate, low, high = (round(float(v), 4) + 0.0 for v in (estimate, low, high))  # no "-0.0000"
    return f"{estimate:{form}} [{low:{form}}, {high:{form}}]"


def _rows(table: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    missing = [m for m in models if m not in set(table.Model)]
    if missing:
        raise KeyError(f"no intervals for {missing}")
    return table[table.Model.isin(models)]


def interval_table(table: pd.DataFrame, models: Sequence[str], metrics: Sequence[str] = tuple(MOVED_METRICS.values()),
                   published: Mapping[str, Mapping[tuple[str, str], float]] | None = None) -> pd.DataFrame:
    """Rows: model (with its number of seeds), columns: type and metric, cells ``estimate [low, high]``;
    ``published`` adds rows of numbers from elsewhere (the case study's), without intervals."""
    rows = {}
    for model in models:
        picked = _rows(table, [model])
        seeds = int(picked.seeds.iloc[0])
        label = model if seeds == 1 else f"{model} (mean of {seeds} seeds)"
        rows[label] = {(kind, metric.removeprefix("METRIC.")): with_interval(r.estimate, r.low, r.high)
                       for kind in TYPES for metric in metrics
                       for r in picked[(picked.Type == kind) & (picked.Metric == metric)].itertuples()}
    for name, values in (published or {}).items():
        rows[name] = {(kind, metric.removeprefix("METRIC.")): f"{values[kind, metric]:.4f}"
                      for kind in TYPES for metric in metrics if (kind, metric) in values}
    frame = pd.DataFrame(rows).T
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame


def published_metrics(table: pd.DataFrame, filter_name: str = "ALL") -> dict[tuple[str, str], float]:
    """(type, metric) -> value of a table in hap.py's layout (the case study's published rows)."""
    rows = table[table.Filter == filter_name].set_index("Type")
    return {(kind, metric): float(rows.loc[kind, metric]) for kind in rows.index for metric in MOVED_METRICS.values()}


def change_table(table: pd.DataFrame, models: Sequence[str],
                 metrics: Sequence[str] = tuple(MOVED_METRICS.values())) -> pd.DataFrame:
    """Rows: model, columns: type and metric, cells ``change [low, high]`` against the baseline and the
    direction word of the whole interval."""
    rows = {}
    for model in models:
        picked = _rows(table, [model])
        rows[model] = {(kind, metric.removeprefix("METRIC.")):
                       f"{with_interval(r.change, r.change_low, r.change_high, signed=True)} {r.direction}"
                       for kind in TYPES for metric in metrics
                       for r in picked[(picked.Type == kind) & (picked.Metric == metric)].itertuples()}
    frame = pd.DataFrame(rows).T
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame


def interval_values(table: pd.DataFrame, slugs: Mapping[str, str]) -> dict[str, str]:
    """Glue name -> each model's estimate with its interval, and its change against the baseline with the
    change's interval, as text: e.g. ``v2_indel_recall_interval``, ``v2_indel_recall_change_interval`` (the
    change's value and direction word are :func:`lowcov.report.change_values`')."""
    values: dict[str, str] = {}
    for row in table.itertuples():
        if row.Model not in slugs or row.Metric not in SHORT:
            continue
        key = f"{slugs[row.Model]}_{row.Type.lower()}_{SHORT[row.Metric]}"
        values[f"{key}_interval"] = with_interval(row.estimate, row.low, row.high)
        if row.Model != BASELINE:
            values[f"{key}_change_interval"] = with_interval(row.change, row.change_low, row.change_high, signed=True)
    return values


def directions(table: pd.DataFrame, model: str) -> dict[tuple[str, str], str]:
    """(type, metric) -> the direction word of ``model``'s change against the baseline."""
    picked = _rows(table, [model])
    return {(r.Type, r.Metric): r.direction for r in picked.itertuples()}


def interval_verdict_text(table: pd.DataFrame, models: Sequence[str]) -> str:
    """Which fine-tuned models have a higher F1 than the original on both types, on one, or a lower F1 on
    one, judged by whole intervals of the paired differences."""
    words = {m: {kind: directions(table, m)[kind, F1] for kind in TYPES} for m in models}
    better = [m for m in models if all(w == "higher" for w in words[m].values())]
    if better:
        return "F1 is higher on both SNPs and indels, beyond the 95 % interval, for " + ", ".join(better) + "."
    higher = [f"{m} ({', '.join(k for k, w in words[m].items() if w == 'higher')})" for m in models
              if "higher" in words[m].values()]
    lower = [f"{m} ({', '.join(k for k, w in words[m].items() if w == 'lower')})" for m in models
             if "lower" in words[m].values()]
    if not higher and not lower:
        return ("No fine-tuned model's F1 differs from the original's on either type beyond the 95 % interval: "
                "within what resampling the genome moves, fine-tuning changed nothing measurable.")
    parts = []
    if higher:
        parts.append("F1 is higher on one type only for " + ", ".join(higher))
    if lower:
        parts.append("lower for " + ", ".join(lower))
    return ("No fine-tuned model has a higher F1 than the original on both types beyond the 95 % interval; "
            + "; ".join(parts) + ".")


def resolution_text(widths: Mapping[str, float], counts: Mapping[str, int], block_size: int, n_blocks: int) -> str:
    """The smallest recall change the test contig can resolve per type, and how the intervals were made."""
    per_type = "; ".join(f"{kind}: {widths[kind]:.4f} ({widths[kind] * counts[kind]:.0f} of {counts[kind]} "
                         f"variants)" for kind in TYPES if kind in widths)
    return (f"Intervals are 95 % percentile intervals of a block bootstrap: the confident regions of the test contig "
            f"cut into {n_blocks} blocks of {block_size // 1000} kb, drawn with replacement {RESAMPLES} times (the same "
            "draws for every model, so differences are paired), and over the training seeds where a run was "
            f"replicated. Half the width of the original model's recall interval is the smallest recall change one "
            f"model's calls can resolve here: {per_type}.")


def bar_value_text(warm_start: float, selected: Mapping[str, tuple[int, float]]) -> str:
    """The warm start's tune score as the bar, and which trained checkpoint each run selected and why."""
    parts = []
    for name, (step, score) in selected.items():
        side = "above" if score > warm_start else "below" if score < warm_start else "level with"
        parts.append(f"{name} selected its checkpoint of step {step} (f1_weighted {score:.4f}, {side} the bar)")
    return (f"The warm start scores f1_weighted {warm_start:.4f} on the tune set: DeepVariant logs this as the bar a "
            "tune must beat to reset early stopping, but never saves the warm start as a checkpoint, so it cannot be "
            "selected. " + "; ".join(parts) + ": each run's best trained checkpoint, the earlier one on a tie.")




def sweep_text(table: pd.DataFrame, models: Sequence[str], metric: str = F1) -> str:
    """Per model and type, at which mean depths its ``metric`` is higher or lower than the original's (whole
    intervals), and whether it crosses the original anywhere in the sweep."""
    sentences = []
    for model in models:
        for kind in TYPES:
            rows = table[(table.Model == model) & (table.Type == kind) & (table.Metric == metric)].sort_values("Depth")
            higher = [f"{r.Depth:.0f}x" for r in rows.itertuples() if r.direction == "higher"]
            lower = [f"{r.Depth:.0f}x" for r in rows.itertuples() if r.direction == "lower"]
            name = _metric_of(model, f"{kind} {metric.removeprefix('METRIC.').replace('_Score', '')}")
            if higher and lower:
                sentences.append(f"{name} crosses the original's: higher at {', '.join(higher)}, lower at "
                                 f"{', '.join(lower)}")
            elif higher or lower:
                word, depths = ("higher", higher) if higher else ("lower", lower)
                sentences.append(f"{name} is {word} at {', '.join(depths)} and never crosses the original's")
            else:
                sentences.append(f"{name} shows no detectable change at any depth")
    text = "; ".join(sentences) + "."
    return text[:1].upper() + text[1:]


def _metric_of(model: str, metric: str) -> str:
    """"V2's SNP F1", "bcftools' SNP F1", but "the SNP F1 of DNA at 50 %" (a possessive after a phrase misreads)."""
    if " " in model:
        return f"the {metric} of {model}"
    return f"{model}' {metric}" if model.endswith("s") else f"{model}'s {metric}"
