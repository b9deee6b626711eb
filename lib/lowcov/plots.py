"""Figures the notebooks show. Each function draws on a matplotlib Axes (made if not given) and
returns it, so notebooks stay one line per figure."""
from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pysam

from .coverage import BUCKETS, DepthSummary, contig_depth

DATASET_COLOURS = {"Original": "#1f77b4", "Downsampled": "#ff7f0e", "RNA Training": "#2ca02c"}


def _axes(ax, figsize=(8, 3.5)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def depth_distributions(summaries: dict[str, DepthSummary], ax=None, max_depth: int = 200):
    """Fraction of covered bases at each depth, one line per dataset, with the bucket edges."""
    ax = _axes(ax)
    for name, summary in summaries.items():
        hist = summary.histogram.groupby("depth")["bases"].sum()
        hist = hist[hist.index > 0]
        fraction = hist / hist.sum()
        clipped = fraction[fraction.index <= max_depth]
        ax.plot(clipped.index, clipped.values, label=name, color=DATASET_COLOURS.get(name))
    for _, low, _ in BUCKETS[1:]:
        ax.axvline(low - 0.5, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("read depth (log scale)")
    ax.set_ylabel("fraction of covered bases")
    ax.legend(frameon=False)
    return ax


def coverage_along_contig(tracks: dict[str, DepthSummary], contig: str, ax=None):
    """Mean depth in windows along ``contig`` for each track (log scale: RNA spans orders of magnitude)."""
    ax = _axes(ax, figsize=(10, 3.5))
    for name, summary in tracks.items():
        bins = summary.bins[summary.bins.contig == contig]
        ax.step(bins.start / 1e6, bins.mean_depth + 0.1, where="post", label=name, color=DATASET_COLOURS.get(name))
    ax.set_yscale("log")
    ax.set_xlabel(f"{contig} position (Mb)")
    ax.set_ylabel("mean depth + 0.1")
    ax.legend(frameon=False)
    return ax


def _bed_intervals(path: str | os.PathLike, contig: str, start: int, end: int) -> list[tuple[int, int, str]]:
    out = []
    with open(path) as handle:
        for line in handle:
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.rstrip("\n").split("\t")
            if fields[0] == contig and int(fields[2]) > start and int(fields[1]) < end:
                out.append((int(fields[1]), int(fields[2]), fields[3] if len(fields) > 3 else ""))
    return out


def region_view(contig: str, start: int, end: int, bams: dict[str, str | os.PathLike],
                truth_vcf: str | os.PathLike, confident_bed: str | os.PathLike | None = None,
                genes_bed: str | os.PathLike | None = None, figsize=(10, 5)):
    """Depth of each BAM over a region, with truth SNPs/indels, confident regions and gene models."""
    fig, axes = plt.subplots(len(bams) + 1, 1, figsize=figsize, sharex=True,
                             gridspec_kw={"height_ratios": [3] * len(bams) + [2.2]})
    positions = np.arange(start, end) / 1e3
    for ax, (name, bam) in zip(axes, bams.items()):
        depth = contig_depth(bam, contig, start=start, end=end)
        ax.fill_between(positions, depth, step="mid", color=DATASET_COLOURS.get(name, "#555555"), alpha=0.8)
        ax.set_ylabel(f"{name}\ndepth", fontsize=9)
    track = axes[-1]
    if confident_bed is not None:
        for s, e, _ in _bed_intervals(confident_bed, contig, start, end):
            track.axvspan(max(s, start) / 1e3, min(e, end) / 1e3, ymin=0.75, ymax=0.95, color="#8fc98f", lw=0)
    with pysam.VariantFile(str(truth_vcf)) as vcf:
        for rec in vcf.fetch(contig, start, end):
            is_snp = all(len(a) == 1 for a in rec.alleles)
            track.plot([rec.pos / 1e3] * 2, [0.4, 0.62], color="#d62728" if is_snp else "#9467bd", lw=1.2)
    if genes_bed is not None:
        for s, e, name in _bed_intervals(genes_bed, contig, start, end):
            track.plot([max(s, start) / 1e3, min(e, end) / 1e3], [0.15, 0.15], color="black", lw=3)
    track.set_ylim(0, 1)
    track.set_yticks([0.15, 0.51, 0.85], ["genes", "truth", "confident"], fontsize=8)
    from matplotlib.lines import Line2D
    track.legend(handles=[Line2D([], [], color="#d62728", label="SNP"), Line2D([], [], color="#9467bd", label="indel")],
                 loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    track.set_xlabel(f"{contig} position (kb)")
    fig.tight_layout()
    return fig


def bucket_bars(ours: pd.DataFrame, theirs: pd.DataFrame, ax=None):
    """Fractions of covered bases per bucket, ours beside the case study's, per dataset."""
    ax = _axes(ax, figsize=(9, 3.5))
    ours_f = ours.div(ours.sum(axis=1), axis=0)
    theirs_f = theirs.div(theirs.sum(axis=1), axis=0)
    datasets = list(ours_f.index)
    width = 0.38
    x = np.arange(len(datasets))
    bottom_o = np.zeros(len(datasets))
    bottom_t = np.zeros(len(datasets))
    colours = ["#d9d9d9", "#9ecae1", "#3182bd"]
    for colour, bucket in zip(colours, ours_f.columns):
        ax.bar(x - width / 2 - 0.01, ours_f[bucket].values, width, bottom=bottom_o, color=colour,
               label=bucket, edgecolor="black", lw=0.5)
        ax.bar(x + width / 2 + 0.01, theirs_f.loc[datasets, bucket].values, width, bottom=bottom_t,
               color=colour, edgecolor="black", lw=0.5, hatch="//")
        bottom_o += ours_f[bucket].values
        bottom_t += theirs_f.loc[datasets, bucket].values
    ax.set_xticks(x, [f"{d}\nlowcov | case study" for d in datasets])
    ax.set_ylabel("fraction of covered bases")
    ax.legend(frameon=False, bbox_to_anchor=(1.01, 1), loc="upper left")
    return ax


def pileup_channels(image: np.ndarray, channels, title: str = "", figsize=(12, 2.6)):
    """Each channel of one pileup image [H, W, C] side by side, as the network sees it."""
    fig, axes = plt.subplots(1, len(channels), figsize=figsize)
    for c, (ax, name) in enumerate(zip(np.atleast_1d(axes), channels)):
        ax.imshow(image[:, :, c], cmap="gray", vmin=0, vmax=255, aspect="auto", interpolation="nearest")
        ax.set_title(name.replace("_", " "), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def training_curves(log_csv, title: str = "", axes=None, label: str | None = None, best_step: int | None = None,
                    marker: str = "o", linestyle: str = "-", markersize: float = 6):
    """Training loss and tune f1_weighted against step, from a training log (train_log.csv).

    The warm start's tune score (the log's ``init`` row), when there is one, is drawn as a horizontal line:
    DeepVariant's bar that a tune must beat, never a checkpoint; ``best_step`` (the selected checkpoint) as
    a dotted vertical line. Pass different ``marker``/``linestyle`` when drawing several runs whose curves
    coincide."""
    log = pd.read_csv(log_csv)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.3))
    train_rows = log.dropna(subset=["train_loss"])
    warm_start = log[log.event == "init"].dropna(subset=["tune_f1_weighted"])
    tune_rows = log[log.event != "init"].dropna(subset=["tune_f1_weighted"])
    if len(warm_start):
        axes[1].axhline(float(warm_start.tune_f1_weighted.iloc[0]), color="grey", ls="--", lw=1,
                        label=f"{label + ' ' if label else ''}warm start (the bar)")
    axes[0].plot(train_rows.step, train_rows.train_loss, ls=linestyle, label=label or "train loss")
    if tune_rows.tune_loss.notna().any():
        axes[0].plot(tune_rows.step, tune_rows.tune_loss, ls="--", marker=".", label=f"{label + ' ' if label else ''}tune loss")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("loss")
    axes[0].legend(frameon=False, fontsize=8)
    axes[1].plot(tune_rows.step, tune_rows.tune_f1_weighted, marker=marker, ls=linestyle, markersize=markersize,
                 label=label)
    if best_step is not None:
        axes[1].axvline(best_step, color="grey", ls=":", lw=1)
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("tune f1_weighted")
    if label or len(warm_start):
        axes[1].legend(frameon=False, fontsize=8)
    if title:
        axes[0].figure.suptitle(title, fontsize=10)
    axes[0].figure.tight_layout()
    return axes


def metric_bars(frame: pd.DataFrame, metrics=("METRIC.Recall", "METRIC.Precision", "METRIC.F1_Score"), ax=None,
                by: str = "Model", ylim: tuple[float, float] | None = None):
    """Grouped bars: one group per Type and metric, one bar per ``by`` value. ``frame`` has columns
    ``by``, Type and the metrics. Several rows of one ``by`` value and type (replicate runs) are drawn as
    their mean with a whisker from the lowest to the highest value (deterministic: no bootstrap)."""
    import seaborn as sns

    long = frame.melt(id_vars=[by, "Type"], value_vars=list(metrics), var_name="metric", value_name="value")
    long["metric"] = long["metric"].str.replace("METRIC.", "", regex=False)
    grid = sns.catplot(data=long, x="metric", y="value", hue=by, col="Type", kind="bar", height=3.2, aspect=1.3,
                       legend_out=True, errorbar=("pi", 100), err_kws={"linewidth": 1.2}, capsize=0.1)
    grid.set_titles("{col_name}", pad=16)  # room for the value labels of bars near the top
    for axis in grid.axes.flat:
        axis.set_xlabel("")
        if ylim:
            axis.set_ylim(*ylim)
        for container in axis.containers:
            axis.bar_label(container, fmt="%.3f", fontsize=6, rotation=90, padding=2)
    return grid


def recall_by_bucket(strata: pd.DataFrame, models, kinds=("SNP", "INDEL"), figsize=(11, 3.6)):
    """Recall per coverage bucket, one panel per variant type and one bar per model (in ``models``' order).
    ``strata`` has columns Type, Subset, Model and METRIC.Recall. The legend sits below the panels, clear
    of the bars, which reach the top of the axes where recall is near 1."""
    fig, axes = plt.subplots(1, len(kinds), figsize=figsize, sharey=True)
    for ax, kind in zip(np.atleast_1d(axes), kinds):
        rows = strata[(strata.Type == kind) & strata.Model.isin(models)]
        frame = rows.pivot_table(index="Subset", columns="Model", values="METRIC.Recall", observed=True)
        frame[[m for m in models if m in frame.columns]].plot.bar(ax=ax, rot=0, legend=False, width=0.8)
        ax.set_title(kind)
        ax.set_xlabel("depth of the downsampled reads at the variant")
        ax.set_ylabel("recall")
        ax.set_ylim(0, 1.0)
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(labels), frameon=False,
               fontsize=9)
    fig.tight_layout()
    return fig


def coverage_sweep(table: pd.DataFrame, metrics=("METRIC.F1_Score", "METRIC.Recall"), models=None):
    """F1 and recall (rows) of each type (columns) against the mean depth of the reads called, one line per
    model with its 95 % interval as error bars (the table of :func:`lowcov.bootstrap.sweep_intervals`)."""
    models = list(models or table.Model.unique())
    fig, axes = plt.subplots(len(metrics), 2, figsize=(10, 3.2 * len(metrics)), sharex=True, squeeze=False)
    for r, metric in enumerate(metrics):
        for c, kind in enumerate(("SNP", "INDEL")):
            ax = axes[r][c]
            for n, model in enumerate(models):
                rows = table[(table.Model == model) & (table.Type == kind) & (table.Metric == metric)].sort_values("Depth")
                shift = (n - (len(models) - 1) / 2) * 0.25  # side by side, so the error bars do not hide each other
                ax.errorbar(rows.Depth + shift, rows.estimate, yerr=[rows.estimate - rows.low, rows.high - rows.estimate],
                            marker="o", markersize=4, capsize=2, lw=1, label=model)
            ax.set_title(f"{kind} {metric.removeprefix('METRIC.').replace('_Score', '')}", fontsize=10)
            ax.grid(alpha=0.3)
            if r == len(metrics) - 1:
                ax.set_xlabel("mean depth of the reads called")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(models), frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return axes
