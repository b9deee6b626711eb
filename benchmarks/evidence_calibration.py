"""Does the original model weigh a SNP candidate's evidence as its labels do? Calibration by supporting reads.

Usage (from the repository root, after chapter 3 has run on the profile):

    .venv/bin/python benchmarks/evidence_calibration.py                  # the book's original model, demo
    .venv/bin/python benchmarks/evidence_calibration.py --checkpoint path/to/best.pt --examples path/to/set

Over the SNP candidates of a labelled example set (default: the original model's training set, then its tune
set), grouped by the evidence a genotype caller weighs at low coverage, prints per group the share of each label,
the model's mean probability of each class, the group's mean log loss and its share of the side's loss. Two sides:

1. **het or hom-ref**: candidates with 2-5 reads supporting the allele at the candidate's column (k), grouped by
   k, the share of the reads there they are, and the supporting bases' mean quality;
2. **het or hom-alt**: candidates whose supporting reads are at least 0.6 of the depth, grouped by the reads
   that do not support the allele and by depth.

A model that fits its labels has mean probabilities near the label shares in every group; where it does not, the
"het gap" (mean het probability minus the labelled het share) says on which evidence it errs and in which
direction. These groups are where the demo's calls at 50 % coverage turn. The counts come from the images
themselves (the reads drawn at the centre column, the ``read_supports_variant`` channel), so they are what the
network saw, after realignment and the read fractions of training. Computed on the training set, a gap is a
failure to fit; on the tune set (another contig), it is what calling meets.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from quality_sensitivity import Channels, phred_of_pixels, probed_model, reads_at_candidate
from lowcov.layout import Layout
from lowcov.model import CLASS_NAMES, REFERENCE_ROWS, predict
from lowcov.shards import ExampleSet

#: alt-read share buckets (right-open edges) and their names
SHARE_EDGES, SHARE_NAMES = (0.15, 0.25, 0.4), ("<0.15", "0.15-0.25", "0.25-0.4", ">=0.4")
#: supporting bases' mean quality buckets (right-open edges) and their names
QUALITY_EDGES, QUALITY_NAMES = (20, 25), ("<Q20", "Q20-25", ">=Q25")
#: depth buckets (right-open edges) and their names, for the hom-alt side
DEPTH_EDGES, DEPTH_NAMES = (8, 12, 16, 24), ("<8", "8-11", "12-15", "16-23", ">=24")
#: reads not supporting the allele: buckets (right-open edges) and their names, for the hom-alt side
OTHERS_EDGES, OTHERS_NAMES = (1, 2, 3, 4), ("0", "1", "2", "3", ">=4")
#: the het/hom-ref side: candidates with this many supporting reads at most
MAX_SUPPORT = 5
#: the het/hom-alt side: candidates with at least this share of supporting reads
MIN_HOM_SHARE = 0.6


def _bucket(values: np.ndarray, edges: tuple[float, ...], names: tuple[str, ...]) -> pd.Categorical:
    """Each value's bucket name, ordered as the buckets are."""
    return pd.Categorical.from_codes(np.digitize(values, edges), categories=list(names), ordered=True)


def snp_evidence(model: torch.nn.Module, examples: ExampleSet, shards: int = 0) -> pd.DataFrame:
    """One row per SNP candidate with two or more supporting reads: k, depth, supporting bases' mean quality,
    label and the model's three probabilities."""
    channels = Channels(examples)
    frames = []
    for number, shard in enumerate(examples.iter_shards()):
        if shards and number >= shards:
            break
        snp = np.array([len(r) == 1 and len(a) == 1 for r, a in zip(shard.meta["ref"], shard.meta["alt"])])
        present, supports = reads_at_candidate(shard.images, channels)
        k, depth = supports.sum(axis=1), present.sum(axis=1)
        picked = np.flatnonzero(snp & (k >= 2))
        if not len(picked):
            continue
        centre = shard.images.shape[2] // 2
        quality = [phred_of_pixels(shard.images[i, REFERENCE_ROWS:, centre, channels.quality][supports[i]])
                   for i in picked]
        probabilities = predict(model, shard.images[picked], batch_size=256)
        frame = pd.DataFrame(probabilities, columns=[f"p_{name}" for name in CLASS_NAMES])
        frame.insert(0, "label", shard.labels[picked].astype(int))
        frame.insert(0, "quality", quality)
        frame.insert(0, "depth", depth[picked])
        frame.insert(0, "k", k[picked])
        frames.append(frame)
    if not frames:
        raise SystemExit(f"{examples.directory}: no SNP candidates with two or more supporting reads")
    rows = pd.concat(frames, ignore_index=True)
    share = (rows.k / rows.depth.clip(lower=1)).to_numpy()
    return rows.assign(share=share, **{
        "alt share": _bucket(share, SHARE_EDGES, SHARE_NAMES),
        "base Q": _bucket(rows.quality.to_numpy(), QUALITY_EDGES, QUALITY_NAMES),
        "depth bucket": _bucket(rows.depth.to_numpy(), DEPTH_EDGES, DEPTH_NAMES),
        "other reads": _bucket((rows.depth - rows.k).to_numpy(), OTHERS_EDGES, OTHERS_NAMES),
        "loss": -np.log(np.clip(rows[[f"p_{n}" for n in CLASS_NAMES]].to_numpy()[
            np.arange(len(rows)), rows.label.to_numpy()], 1e-7, 1.0))})


def calibration_table(rows: pd.DataFrame, keys: list[str], min_count: int = 30) -> pd.DataFrame:
    """Per group of ``keys`` with at least ``min_count`` candidates: label shares, the model's mean probabilities,
    mean log loss and the group's share of ``rows``' total loss; het gap = the model's mean het probability minus
    the labelled het share."""
    out = []
    for values, group in rows.groupby(keys, sort=True, observed=True):
        if len(group) < min_count:
            continue
        entry = dict(zip(keys, values), n=len(group))
        for index, name in enumerate(CLASS_NAMES):
            entry[f"labelled {name}"] = (group.label == index).mean()
        for name in CLASS_NAMES:
            entry[f"model {name}"] = group[f"p_{name}"].mean()
        entry["het gap"] = entry["model het"] - entry["labelled het"]
        entry["log loss"] = group.loss.mean()
        entry["loss share"] = group.loss.sum() / rows.loss.sum()
        out.append(entry)
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a model checkpoint (default: the profile's original model, chapter 3)")
    parser.add_argument("--examples", type=Path, nargs="*", default=None,
                        help="labelled example sets (default: the original model's training and tune sets)")
    parser.add_argument("--shards", type=int, default=0, help="shards of each set to read (0: all)")
    parser.add_argument("--min-count", type=int, default=30, help="smallest group printed")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    layout = Layout(args.profile)
    checkpoint, model = probed_model(layout, args.checkpoint)
    sets = args.examples or [layout.examples_dir("dna.train"), layout.examples_dir("dna.tune")]
    print(f"model {checkpoint}")
    pd.set_option("display.width", 200)
    sides = {
        f"het or hom-ref: 2-{MAX_SUPPORT} supporting reads": (lambda r: r.k <= MAX_SUPPORT,
                                                              ["k", "alt share", "base Q"]),
        f"het or hom-alt: supporting reads >= {MIN_HOM_SHARE:g} of the depth": (lambda r: r.share >= MIN_HOM_SHARE,
                                                                              ["other reads", "depth bucket"]),
    }
    for directory in sets:
        examples = ExampleSet.open(directory)
        rows = snp_evidence(model, examples, args.shards)
        print(f"\n{examples.directory}: {len(rows)} SNP candidates with two or more supporting reads")
        for side, (select, keys) in sides.items():
            table = calibration_table(rows[select(rows)], keys, args.min_count)
            gap = float((table["het gap"].abs() * table.n).sum() / table.n.sum()) if len(table) else float("nan")
            print(f"\n{side}; groups of >= {args.min_count}; mean |het gap| {gap:.3f}")
            print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
