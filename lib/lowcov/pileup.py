"""Pileup images in DeepVariant's geometry and channel encoding.

An image is ``height`` rows x ``width`` columns x one channel per feature, centred on the candidate's
anchor base. The first ``ref_rows`` rows draw the reference; below them up to ``height - ref_rows``
reads that cover the anchor, in order of alignment start. Pixel values (max 254), per DeepVariant:

=====================  ==========================================================
read_base              A 250, G 180, T 100, C 30; N, deleted base, insertion anchor 0
base_quality           254 * min(q, 40) / 40
mapping_quality        254 * min(mq, 60) / 60
strand                 forward 70, reverse 240
read_supports_variant  254 if the read carries the candidate's alt allele, else 152
base_differs_from_ref  254 if the read's base differs from the reference, else 50
=====================  ==========================================================

Uncovered pixels (outside a read, or in a splice gap) are 0 in every channel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .reads import DELETED, LaidOutRead

DEFAULT_CHANNELS = ("read_base", "base_quality", "mapping_quality", "strand", "read_supports_variant",
                    "base_differs_from_ref")

#: base code (0 none, 1-4 ACGT, 5 N, 6 deleted) -> read_base pixel
BASE_PIXEL = np.array([0, 250, 30, 180, 100, 0, 0], dtype=np.uint8)
QUALITY_PIXEL = (254 * np.minimum(np.arange(256), 40) / 40).astype(np.uint8)
STRAND_PIXEL = {False: 70, True: 240}
SUPPORTS, NOT_SUPPORTS = 254, 152
DIFFERS, MATCHES = 254, 50


@dataclass(frozen=True)
class PileupConfig:
    height: int = 100
    width: int = 221
    ref_rows: int = 5
    channels: tuple[str, ...] = DEFAULT_CHANNELS

    def __post_init__(self):
        unknown = set(self.channels) - set(DEFAULT_CHANNELS)
        if unknown:
            raise ValueError(f"unknown pileup channel(s) {sorted(unknown)}; available: {DEFAULT_CHANNELS}")
        if self.width % 2 == 0:
            raise ValueError(f"pileup width must be odd so the candidate sits in the centre column, got {self.width}")

    @property
    def half_width(self) -> int:
        return self.width // 2

    @property
    def max_reads(self) -> int:
        return self.height - self.ref_rows


@dataclass
class ReadPixels:
    """Candidate-independent pixels of one laid-out read, over its window span."""

    start: int
    base: np.ndarray
    quality: np.ndarray
    differs: np.ndarray
    covered: np.ndarray
    mapq: int
    strand: int


def read_pixels(read: LaidOutRead, reference_codes: np.ndarray, window_start: int) -> ReadPixels:
    """``reference_codes`` are base codes of the reference from ``window_start``."""
    offset = read.start - window_start
    ref = reference_codes[offset:offset + len(read.codes)]
    base = BASE_PIXEL[read.codes]
    for anchor, _ in read.insertions:
        if read.start <= anchor < read.end:
            base[anchor - read.start] = 0
    covered = read.codes != 0
    differs = np.where(covered & ((read.codes != ref) | (read.codes == DELETED)), DIFFERS, MATCHES).astype(np.uint8)
    return ReadPixels(read.start, base, QUALITY_PIXEL[read.quals], differs, covered,
                      int(254 * min(read.mapq, 60) / 60),
                      STRAND_PIXEL[read.reverse])


def reference_rows(config: PileupConfig, reference_codes: np.ndarray) -> np.ndarray:
    """The ``ref_rows`` x width x channels block drawn above the reads."""
    rows = np.zeros((config.ref_rows, config.width, len(config.channels)), dtype=np.uint8)
    values = {"read_base": BASE_PIXEL[reference_codes], "base_quality": 254, "mapping_quality": 254,
              "strand": STRAND_PIXEL[False], "read_supports_variant": NOT_SUPPORTS, "base_differs_from_ref": MATCHES}
    covered = reference_codes != 0
    for c, name in enumerate(config.channels):
        rows[:, :, c] = np.where(covered, values[name], 0)
    return rows


def draw(config: PileupConfig, centre: int, reference_codes: np.ndarray, pixels: list[ReadPixels],
         supports: list[bool]) -> np.ndarray:
    """The image centred on reference position ``centre``; ``reference_codes`` covers the image's
    columns (``centre - half_width`` ...). ``pixels`` are already selected and ordered."""
    image = np.zeros((config.height, config.width, len(config.channels)), dtype=np.uint8)
    image[:config.ref_rows] = reference_rows(config, reference_codes)
    first = centre - config.half_width
    index = {name: c for c, name in enumerate(config.channels)}
    for row, (px, support) in enumerate(zip(pixels, supports), start=config.ref_rows):
        lo, hi = max(px.start, first), min(px.start + len(px.base), first + config.width)
        if lo >= hi:
            continue
        src = slice(lo - px.start, hi - px.start)
        dst = slice(lo - first, hi - first)
        covered = px.covered[src]
        if "read_base" in index:
            image[row, dst, index["read_base"]] = px.base[src]
        if "base_quality" in index:
            image[row, dst, index["base_quality"]] = px.quality[src]
        if "base_differs_from_ref" in index:
            image[row, dst, index["base_differs_from_ref"]] = px.differs[src]
        for name, value in (("mapping_quality", px.mapq), ("strand", px.strand),
                            ("read_supports_variant", SUPPORTS if support else NOT_SUPPORTS)):
            if name in index:
                image[row, dst, index[name]] = np.where(covered, value, 0)
    return image
