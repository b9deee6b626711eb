"""Pixel parity between DeepVariant's pileup examples and lowcov's for the same BAM and sites: how close
the native ``make_examples`` draws what DeepVariant's does, channel by channel.

:func:`compare_examples` pairs the two sets' examples by candidate -- the locus make_examples writes
(``chr:start+1-end``) and the alternate allele(s) the example is about -- and compares every pixel of
every channel the two share by name. It reports per channel how many pixels agree (:class:`ChannelParity`)
and, for every pixel row that differs, where: the row (the first five draw the reference, the rest one
read each, in the order the pileup sorts them), the columns, and whether the other set draws the same
read on another row (the same read placed elsewhere, not drawn differently). Candidates only one side has are
listed, not compared. :func:`parity_table` is the per-channel table for the book.

Either side may be DeepVariant's example files (gzip TFRecord ``tf.Example`` s, a spec such as
``examples.tfrecord@16.gz``, with ``example_info.json`` naming the channels; :mod:`lowcov.dvexamples`)
or a lowcov example-set directory. lowcov's side is held in memory, each image compressed (a pileup is
mostly empty pixels: ~10-20 kB per example); DeepVariant's side is streamed.
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from . import InputError
from .dvexamples import Variant, find_example_info, is_deepvariant_path, read_example_info, read_examples
from .pileup import PileupConfig
from .shards import ExampleSet

#: rows at the top of a pileup that draw the reference (DeepVariant's and lowcov's)
REFERENCE_ROWS = PileupConfig.ref_rows

#: a candidate: make_examples' locus string and the alternate alleles the example is about
Key = tuple[str, tuple[str, ...]]


@dataclass
class ChannelParity:
    """One channel over all matched examples."""

    channel: str
    pixels: int = 0
    agreeing: int = 0
    #: differing pixels in the reference rows and in the read rows
    reference_pixels_differing: int = 0
    read_pixels_differing: int = 0
    examples_differing: int = 0
    max_abs_difference: int = 0

    @property
    def fraction_agreeing(self) -> float:
        return self.agreeing / self.pixels if self.pixels else float("nan")


@dataclass(frozen=True)
class RowDifference:
    """The pixels of one row of one channel of one example that differ."""

    locus: str
    alt: str
    channel: str
    row: int
    #: the read's place in the pileup (row - 5); None for the reference rows
    read: int | None
    first_column: int
    last_column: int
    pixels: int
    #: the row of the lowcov image that draws DeepVariant's row ``row`` exactly (all shared channels), when
    #: that is another row: the same read, sorted elsewhere; None otherwise
    native_row_with_same_read: int | None


@dataclass
class ParityReport:
    """What :func:`compare_examples` found."""

    deepvariant: str
    native: str
    channels: list[ChannelParity]
    #: channels only one side has (not compared)
    channels_only_deepvariant: list[str]
    channels_only_native: list[str]
    matched: int = 0
    only_deepvariant: list[Key] = field(default_factory=list)
    only_native: list[Key] = field(default_factory=list)
    #: candidates both sides have with images of other sizes (not compared): key -> (DeepVariant's, lowcov's)
    shape_mismatches: dict[Key, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    differences: list[RowDifference] = field(default_factory=list)
    #: differing rows beyond ``max_listed`` (counted in ``channels`` but not listed)
    differences_not_listed: int = 0

    @property
    def identical(self) -> bool:
        return (self.matched > 0 and not self.shape_mismatches
                and all(c.agreeing == c.pixels for c in self.channels))

    def differences_frame(self):
        """The listed differences as a pandas DataFrame, one row per differing (example, channel, row)."""
        import pandas as pd

        columns = list(RowDifference.__dataclass_fields__)
        frame = pd.DataFrame([[getattr(d, c) for c in columns] for d in self.differences], columns=columns)
        # None (a reference row; no read elsewhere) stays missing rather than turning the rows into floats
        return frame.astype({"read": "Int64", "native_row_with_same_read": "Int64"})

    def summary(self) -> str:
        agreeing = sum(c.agreeing for c in self.channels)
        pixels = sum(c.pixels for c in self.channels)
        share = f"{100 * agreeing / pixels:.3f}%" if pixels else "no pixels"
        return (f"{self.matched} candidates in both sets ({len(self.only_deepvariant)} only in DeepVariant's, "
                f"{len(self.only_native)} only in lowcov's, {len(self.shape_mismatches)} of other sizes); "
                f"{share} of {pixels} pixels agree over {len(self.channels)} channels")


# --------------------------------------------------------------------------------------------------
# reading either side


def _channel_names(source: str | os.PathLike, channels: list[str] | None) -> list[str]:
    if channels is not None:
        return list(channels)
    if is_deepvariant_path(source):
        info = find_example_info(source)
        if info is None:
            raise InputError(f"{source}: no example_info.json beside the examples to name their channels; "
                             "pass the channel names")
        return list(read_example_info(info).channel_names)
    return list(ExampleSet.open(source).info["channels"])


def _examples(source: str | os.PathLike) -> Iterator[tuple[Key, np.ndarray]]:
    """(candidate, image) for every example of ``source``, streamed."""
    if is_deepvariant_path(source):
        for example in read_examples(source):
            locus = example.locus if example.locus is not None else example.variant.locus
            yield (locus, example.alt_alleles), example.image
        return
    for shard in ExampleSet.open(source).iter_shards():
        meta = shard.meta
        missing = [k for k in ("contig", "position", "ref", "alt") if k not in meta]
        if missing:
            raise InputError(f"{source}: its examples have no {missing[0]!r} metadata to match them by candidate")
        for i in range(len(shard)):
            start, ref, alts = int(meta["position"][i]) - 1, str(meta["ref"][i]), tuple(str(meta["alt"][i]).split(","))
            yield (Variant(str(meta["contig"][i]), start, start + len(ref), ref, alts).locus, alts), shard.images[i]


def _describe(key: Key) -> str:
    return f"{key[0]} {','.join(key[1])}"


# --------------------------------------------------------------------------------------------------
# comparing


def _same_read_rows(deepvariant: np.ndarray, native: np.ndarray) -> dict[int, int]:
    """DeepVariant's read rows that differ from lowcov's row of the same number but equal another of lowcov's
    rows exactly (the same read, sorted to another place): {DeepVariant's row: lowcov's row}."""
    native_rows: dict[bytes, int] = {}
    for row in range(REFERENCE_ROWS, native.shape[0]):
        content = native[row].tobytes()
        if native[row].any():
            native_rows.setdefault(content, row)
    moved = {}
    for row in range(REFERENCE_ROWS, deepvariant.shape[0]):
        if deepvariant[row].any() and not np.array_equal(deepvariant[row], native[row]):
            other = native_rows.get(deepvariant[row].tobytes())
            if other is not None and other != row:
                moved[row] = other
    return moved


def compare_examples(deepvariant: str | os.PathLike, native: str | os.PathLike, *,
                     deepvariant_channels: list[str] | None = None, native_channels: list[str] | None = None,
                     max_listed: int = 10_000) -> ParityReport:
    """Compare DeepVariant's examples with lowcov's for the same BAM and sites (module docstring).

    ``deepvariant`` and ``native``: DeepVariant example files (spec) or a lowcov example-set directory;
    channel names come from their ``example_info.json`` unless given. At most ``max_listed`` differing
    rows are listed (all are counted). A candidate present twice on one side is an error (its examples
    could not be paired).
    """
    dv_names, native_names = _channel_names(deepvariant, deepvariant_channels), _channel_names(native, native_channels)
    shared = [name for name in dv_names if name in native_names]
    if not shared:
        raise InputError(f"{deepvariant} (channels {dv_names}) and {native} (channels {native_names}) share no "
                         "channel to compare")
    dv_index = [dv_names.index(name) for name in shared]
    native_index = [native_names.index(name) for name in shared]
    report = ParityReport(str(deepvariant), str(native), [ChannelParity(name) for name in shared],
                          [n for n in dv_names if n not in shared], [n for n in native_names if n not in shared])

    held: dict[Key, tuple[tuple[int, ...], bytes]] = {}
    for key, image in _examples(native):
        if key in held:
            raise InputError(f"{native}: two examples for the candidate {_describe(key)}")
        if image.shape[2] != len(native_names):
            raise InputError(f"{native}: an image of {image.shape[2]} channels for {_describe(key)}, but the "
                             f"channel names are {native_names}")
        held[key] = (image.shape, zlib.compress(np.ascontiguousarray(image).tobytes(), 1))

    seen: set[Key] = set()
    for key, dv_image in _examples(deepvariant):
        if key in seen:
            raise InputError(f"{deepvariant}: two examples for the candidate {_describe(key)}")
        seen.add(key)
        if key not in held:
            report.only_deepvariant.append(key)
            continue
        shape, packed = held[key]
        if dv_image.shape[:2] != shape[:2] or dv_image.shape[2] != len(dv_names):
            report.shape_mismatches[key] = (tuple(dv_image.shape), tuple(shape))
            continue
        native_image = np.frombuffer(zlib.decompress(packed), np.uint8).reshape(shape)
        report.matched += 1
        _compare_pair(report, key, dv_image[:, :, dv_index], native_image[:, :, native_index], max_listed)
    report.only_native = [key for key in held if key not in seen]
    return report


def _compare_pair(report: ParityReport, key: Key, deepvariant: np.ndarray, native: np.ndarray,
                  max_listed: int) -> None:
    """Add one matched example (both images restricted to the shared channels, in the same order)."""
    differs = deepvariant != native  # [rows, columns, channels]
    moved = _same_read_rows(deepvariant, native) if differs.any() else {}
    for c, parity in enumerate(report.channels):
        plane = differs[:, :, c]
        count = int(plane.sum())
        parity.pixels += plane.size
        parity.agreeing += plane.size - count
        if not count:
            continue
        parity.examples_differing += 1
        reference = int(plane[:REFERENCE_ROWS].sum())
        parity.reference_pixels_differing += reference
        parity.read_pixels_differing += count - reference
        gap = np.abs(deepvariant[:, :, c].astype(np.int16) - native[:, :, c].astype(np.int16))
        parity.max_abs_difference = max(parity.max_abs_difference, int(gap.max()))
        for row in np.flatnonzero(plane.any(axis=1)):
            if len(report.differences) >= max_listed:
                report.differences_not_listed += 1
                continue
            columns = np.flatnonzero(plane[row])
            report.differences.append(RowDifference(
                key[0], ",".join(key[1]), parity.channel, int(row),
                int(row) - REFERENCE_ROWS if row >= REFERENCE_ROWS else None,
                int(columns[0]), int(columns[-1]), len(columns), moved.get(int(row))))


def parity_table(report: ParityReport):
    """Per channel: pixels compared, the share that agree, where the differing ones are (reference rows,
    read rows), how many examples differ and the largest pixel difference -- a pandas DataFrame.

    When it applies: both example sets come from the same BAM, reference and candidate sites with the same
    pileup geometry and channel list (DeepVariant 1.8's WGS channels are lowcov's default; its 100 x 221)
    -- on the book's ``seed`` profile, once the ``deepvariant`` engine has run make_examples, against the
    native make_examples' examples for those sites. Candidates only one side made are left out of the
    table (``report.only_deepvariant`` / ``only_native``), so the table measures drawing, not candidate
    finding; differing read rows that the other side draws on another row (:class:`RowDifference`)
    point at read order rather than drawing. On ``demo`` there are no DeepVariant examples and no table.
    """
    import pandas as pd

    rows = [{"channel": c.channel, "pixels": c.pixels, "agreeing": c.agreeing,
             "agreeing_percent": 100 * c.fraction_agreeing,
             "reference_rows_differing": c.reference_pixels_differing, "read_rows_differing": c.read_pixels_differing,
             "examples_differing": c.examples_differing, "examples": report.matched,
             "max_abs_difference": c.max_abs_difference} for c in report.channels]
    return pd.DataFrame(rows)
