"""How much the original model's genotype call follows base quality, against how much the labels do.

Usage (from the repository root, after chapter 3 has run on the profile):

    .venv/bin/python benchmarks/quality_sensitivity.py                 # the book's original model, demo
    .venv/bin/python benchmarks/quality_sensitivity.py --checkpoint path/to/best.pt --sites 100

Two tables, over SNP candidates with exactly two supporting reads at a depth of 6-12 reads (where a call at
50 % coverage turns on whether two alt bases are errors):

1. **Labels** (the model's training examples): the share labelled het and the model's mean het probability,
   bucketed by the supporting bases' own mean quality and, separately, by the mean quality of the same two reads
   over the 32 columns around the candidate (the candidate's column excluded); and a logistic fit of the het label
   on both qualities, which says which one the labels follow when the other is held fixed.
   The demo's simulator makes each base wrong with exactly the probability its own quality states, with
   per-read and per-base quality noise, so the base's quality is the sharper evidence.
2. **Response** (the test contig's calling examples at the downsampled coverage, the first ``--sites``
   candidates in the examples' order): het(Q40) - het(Q10), the model's het probability with the two supporting
   reads' quality pixels set to Q40 minus with them set to Q10, over three scopes: the candidate's base only, the
   33 columns around it, the whole read. A model that weighs the evidence as the simulator made it moves most
   with the base.
"""
from __future__ import annotations

import argparse
from itertools import islice
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from lowcov.checkpoints import load_checkpoint
from lowcov.layout import Layout
from lowcov.model import REFERENCE_ROWS, predict
from lowcov.pileup import QUALITY_PIXEL, SUPPORTS
from lowcov.shards import ExampleSet

HET = 1
#: columns either side of the candidate in the "window" scope (the per-read branch's half window)
HALF_WINDOW = 16
SCOPES = {"base": 0, "33 columns": HALF_WINDOW, "whole read": None}
BUCKETS = ((0, 20, "< Q20"), (20, 25, "Q20-25"), (25, 30, "Q25-30"), (30, 99, ">= Q30"))


class Channels:
    """Where the two channels this benchmark reads sit in an example set's images."""

    def __init__(self, examples: ExampleSet) -> None:
        names = list(examples.info["channels"])
        missing = {"base_quality", "read_supports_variant"} - set(names)
        if missing:
            raise SystemExit(f"{examples.directory}: the images have no {sorted(missing)} channel")
        self.quality, self.support = names.index("base_quality"), names.index("read_supports_variant")


def reads_at_candidate(images: np.ndarray, channels: Channels) -> tuple[np.ndarray, np.ndarray]:
    """Masks [N, read rows] of the reads drawn at the candidate's column and of those supporting its allele."""
    centre = images[:, REFERENCE_ROWS:, images.shape[2] // 2, :]
    present = centre.any(axis=2)
    return present, present & (centre[:, :, channels.support] == SUPPORTS)


def two_read_snp_candidates(images: np.ndarray, refs, alts, channels: Channels, min_depth: int = 6,
                            max_depth: int = 12) -> np.ndarray:
    """Indices of SNP candidates with exactly two reads supporting the alt at the centre column."""
    present, supports = reads_at_candidate(images, channels)
    depth = present.sum(axis=1)
    snp = np.array([len(r) == 1 and len(a) == 1 for r, a in zip(refs, alts)], dtype=bool)
    return np.flatnonzero(snp & (supports.sum(axis=1) == 2) & (depth >= min_depth) & (depth <= max_depth))


def supporting_rows(image: np.ndarray, channels: Channels) -> np.ndarray:
    """Image rows of the reads supporting the candidate's allele."""
    return np.flatnonzero(reads_at_candidate(image[None], channels)[1][0]) + REFERENCE_ROWS


def phred_of_pixels(pixels: np.ndarray) -> float:
    return float(pixels.mean()) * 40 / 254


def base_and_read_quality(image: np.ndarray, channels: Channels) -> tuple[float, float]:
    """The supporting bases' mean quality, and their reads' mean quality over the 32 columns around them."""
    rows, centre = supporting_rows(image, channels), image.shape[1] // 2
    window = image[rows, centre - HALF_WINDOW:centre + HALF_WINDOW + 1, channels.quality].astype(float)
    window[:, HALF_WINDOW] = 0
    return phred_of_pixels(image[rows, centre, channels.quality]), phred_of_pixels(window[window > 0])


def with_quality(image: np.ndarray, phred: int, half: int | None, channels: Channels) -> np.ndarray:
    """A copy of ``image`` with the supporting reads' quality pixels set to ``phred`` within ``half`` columns of
    the candidate (None: the whole read); uncovered pixels stay empty."""
    out, centre = image.copy(), image.shape[1] // 2
    columns = slice(None) if half is None else slice(centre - half, centre + half + 1)
    for row in supporting_rows(image, channels):
        segment = out[row, columns, channels.quality]
        segment[segment > 0] = QUALITY_PIXEL[phred]
    return out


def training_candidates(model: torch.nn.Module, examples: ExampleSet, shards: int) -> np.ndarray:
    """Rows (supporting bases' quality, their reads' quality around them, labelled het, model's het probability)
    for the two-read SNP candidates of the first ``shards`` shards (0: all)."""
    rows: list[tuple[float, float, float, float]] = []
    channels = Channels(examples)
    for number, shard in enumerate(examples.iter_shards()):
        if shards and number >= shards:
            break
        picked = two_read_snp_candidates(shard.images, shard.meta["ref"], shard.meta["alt"], channels)
        if not len(picked):
            continue
        het = predict(model, shard.images[picked], batch_size=256)[:, HET]
        for index, probability in zip(picked, het):
            base, read = base_and_read_quality(shard.images[index], channels)
            rows.append((base, read, float(shard.labels[index] == HET), float(probability)))
    return np.array(rows, dtype=float).reshape(-1, 4)


def logistic_fit(features: np.ndarray, outcome: np.ndarray, iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic regression (intercept first) by Newton's method: coefficients, standard errors."""
    design = np.column_stack([np.ones(len(features)), features])
    coefficients = np.zeros(design.shape[1])
    for _ in range(iterations):
        fitted = 1 / (1 + np.exp(-design @ coefficients))
        information = (design * (fitted * (1 - fitted))[:, None]).T @ design
        step = np.linalg.solve(information, design.T @ (outcome - fitted))
        coefficients += step
        if np.abs(step).max() < 1e-10:
            break
    return coefficients, np.sqrt(np.diag(np.linalg.inv(information)))


def candidate_images(examples: ExampleSet, channels: Channels) -> Iterator[np.ndarray]:
    """The two-read SNP candidates' images, in the examples' order."""
    for shard in examples.iter_shards():
        for index in two_read_snp_candidates(shard.images, shard.meta["ref"], shard.meta["alt"], channels):
            yield shard.images[index]


def response_table(model: torch.nn.Module, examples: ExampleSet, sites: int) -> dict[str, np.ndarray]:
    """het(Q40) - het(Q10) per scope for the first ``sites`` two-read SNP candidates."""
    moves: dict[str, list[float]] = {scope: [] for scope in SCOPES}
    channels = Channels(examples)
    for image in islice(candidate_images(examples, channels), sites):
        # one batch per candidate: (Q10, Q40) for each scope in turn
        variants = [with_quality(image, phred, half, channels) for half in SCOPES.values() for phred in (10, 40)]
        het = predict(model, np.stack(variants))[:, HET].reshape(len(SCOPES), 2)
        for scope, (low, high) in zip(SCOPES, het):
            moves[scope].append(float(high - low))
    return {scope: np.array(values) for scope, values in moves.items()}


def probed_model(layout: Layout, checkpoint: Path | None) -> tuple[Path, torch.nn.Module]:
    """``checkpoint`` (default: the profile's original model, chapter 3) and its model, in eval mode."""
    path = checkpoint or layout.model_dir("original") / "checkpoints" / "best.pt"
    return path, load_checkpoint(path).model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a model checkpoint (default: the profile's original model, chapter 3)")
    parser.add_argument("--train-examples", type=Path, default=None,
                        help="labelled examples for table 1 (default: the original model's training set)")
    parser.add_argument("--calling-examples", type=Path, default=None,
                        help="examples for table 2 (default: the test contig's calling examples, downsampled)")
    parser.add_argument("--train-shards", type=int, default=0, help="shards of --train-examples to read (0: all)")
    parser.add_argument("--sites", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    layout = Layout(args.profile)
    checkpoint, model = probed_model(layout, args.checkpoint)
    train = ExampleSet.open(args.train_examples or layout.examples_dir("dna.train"))
    calling = ExampleSet.open(args.calling_examples or layout.examples_dir("calling.downsampled"))
    print(f"model {checkpoint}")
    candidates = training_candidates(model, train, args.train_shards)
    shards = f"first {args.train_shards} shards" if args.train_shards else "all shards"
    print(f"\n1. labels: {len(candidates)} two-read SNP candidates in {train.directory} ({shards})")
    print(f"{'quality of':16s} {'bucket':8s} {'n':>6s} {'labelled het':>13s} {'model het':>10s}")
    for column, measure in enumerate(("base", "read around it")):
        for low, high, bucket in BUCKETS:
            inside = (candidates[:, column] >= low) & (candidates[:, column] < high)
            if inside.any():
                print(f"{measure:16s} {bucket:8s} {inside.sum():6d} {candidates[inside, 2].mean():13.3f} "
                      f"{candidates[inside, 3].mean():10.3f}")
    if len(candidates) > 10:
        coefficients, errors = logistic_fit(candidates[:, :2] - 20, candidates[:, 2])
        print(f"correlation of the two qualities r = {np.corrcoef(candidates[:, 0], candidates[:, 1])[0, 1]:.2f}; "
              f"logit(labelled het) per Phred: base {coefficients[1]:+.3f} (se {errors[1]:.3f}), "
              f"read around it {coefficients[2]:+.3f} (se {errors[2]:.3f})")
    moves = response_table(model, calling, args.sites)
    print(f"\n2. response: het(Q40) - het(Q10) on {len(moves['base'])} two-read SNP candidates in {calling.directory}")
    for scope, values in moves.items():
        print(f"{scope:12s} mean {values.mean():+.3f}  median {np.median(values):+.3f}  "
              f"range {values.min():+.3f} to {values.max():+.3f}")


if __name__ == "__main__":
    main()
