"""lowcov.parity: DeepVariant's examples against lowcov's, pixel by pixel, on example files written here.

"DeepVariant's" examples are lowcov's own written in DeepVariant's TFRecord format
(lowcov.dvexamples.export_example_set), then altered on purpose: a few pixels of a read row, one
reference pixel, two reads drawn in each other's rows, one candidate dropped and one added.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lowcov import InputError
from lowcov.dvexamples import (ExampleInfo, example_info_path, export_example_set, read_examples, write_example_info,
                               write_examples)
from lowcov.parity import RowDifference, compare_examples, parity_table
from lowcov.pileup import WGS_CHANNELS
from lowcov.shards import ExampleSet, shard_name, write_info, write_shard

HEIGHT, WIDTH = 20, 31
CANDIDATES = [("chr1", 101, "A", "G"), ("chr1", 140, "C", "T"), ("chr1", 170, "AT", "A"), ("chr2", 12, "G", "C,T"),
              ("chr2", 55, "T", "TA"), ("chr2", 90, "C", "A")]
BASE_QUALITY = WGS_CHANNELS.index("base_quality")


def write_native_set(directory: Path, seed: int = 0) -> ExampleSet:
    """Pileup-like images: five reference rows, a random depth of reads with random pixel values, empty below."""
    rng = np.random.default_rng(seed)
    n = len(CANDIDATES)
    images = np.zeros((n, HEIGHT, WIDTH, len(WGS_CHANNELS)), np.uint8)
    images[:, :5] = rng.integers(1, 255, (n, 5, WIDTH, len(WGS_CHANNELS)))
    for i in range(n):
        depth = int(rng.integers(6, HEIGHT - 5))
        images[i, 5:5 + depth] = rng.integers(1, 255, (depth, WIDTH, len(WGS_CHANNELS)))
    meta = {"contig": np.array([c[0] for c in CANDIDATES]), "position": np.array([c[1] for c in CANDIDATES]),
            "ref": np.array([c[2] for c in CANDIDATES]), "alt": np.array([c[3] for c in CANDIDATES]),
            "alt_count": np.full(n, -1), "depth": np.full(n, -1)}
    directory.mkdir(parents=True)
    write_shard(directory / shard_name(0, 1), images, np.full(n, -1, np.int8), meta)
    write_info(directory, {"height": HEIGHT, "width": WIDTH, "channels": list(WGS_CHANNELS), "n_examples": n,
                           "shards": [shard_name(0, 1)]})
    return ExampleSet.open(directory)


@pytest.fixture
def pair(tmp_path):
    native = write_native_set(tmp_path / "native")
    exported = export_example_set(native, tmp_path / "exported" / "examples.tfrecord.gz")
    examples = list(read_examples(exported))
    altered = [e.image.copy() for e in examples]
    altered[0][7, 3:6, BASE_QUALITY] += 1  # three pixels of read 2 (row 7)
    altered[1][0, 15, 0] ^= 1  # one reference pixel of read_base
    altered[2][[5, 6]] = altered[2][[6, 5]]  # reads 0 and 1 drawn in each other's rows
    dropped = examples[4]
    extra = replace(examples[5], variant=replace(examples[5].variant, start=999, end=1000), locus=None)
    deepvariant = [replace(e, image=image) for e, image in zip(examples, altered) if e is not dropped] + [extra]
    spec = tmp_path / "deepvariant" / "examples.tfrecord.gz"
    spec.parent.mkdir()
    write_examples(spec, deepvariant)
    write_example_info(example_info_path(spec), ExampleInfo.from_names(HEIGHT, WIDTH, WGS_CHANNELS))
    return {"native": native, "exported": exported, "deepvariant": spec, "examples": examples,
            "native_images": [e.image for e in examples]}


def test_altered_pixels_are_found_where_they_were_made(pair):
    report = compare_examples(pair["deepvariant"], pair["native"].directory)
    assert report.matched == 5 and not report.shape_mismatches and not report.identical
    assert report.only_native == [("chr2:55-55", ("TA",))]
    assert report.only_deepvariant == [("chr2:1000-1000", ("A",))]
    assert report.channels_only_deepvariant == report.channels_only_native == []

    swapped = pair["native_images"][2]
    swap_differs = (swapped[5] != swapped[6]).sum(axis=0)  # per channel, rows 5 and 6 each
    by_channel = {c.channel: c for c in report.channels}
    for index, name in enumerate(WGS_CHANNELS):
        parity = by_channel[name]
        expected = 2 * int(swap_differs[index]) + 3 * (index == BASE_QUALITY) + (index == 0)
        assert parity.pixels == 5 * HEIGHT * WIDTH
        assert parity.pixels - parity.agreeing == expected, name
        assert parity.reference_pixels_differing == (index == 0)
    swap_gap = np.abs(swapped[5].astype(int) - swapped[6].astype(int)).max(axis=0)  # per channel
    assert by_channel["base_quality"].max_abs_difference == max(1, int(swap_gap[BASE_QUALITY]))
    assert by_channel["strand"].max_abs_difference == int(swap_gap[WGS_CHANNELS.index("strand")])

    listed = {locus: [d for d in report.differences if d.locus == locus]
              for locus in ("chr1:101-101", "chr1:140-140", "chr1:170-171")}
    assert listed["chr1:101-101"] == [RowDifference("chr1:101-101", "G", "base_quality", row=7, read=2, first_column=3,
                                                    last_column=5, pixels=3, native_row_with_same_read=None)]
    assert listed["chr1:140-140"] == [RowDifference("chr1:140-140", "T", "read_base", row=0, read=None,
                                                    first_column=15, last_column=15, pixels=1,
                                                    native_row_with_same_read=None)]
    moved = listed["chr1:170-171"]
    assert {(d.row, d.read, d.native_row_with_same_read) for d in moved} == {(5, 0, 6), (6, 1, 5)}
    assert len(report.differences) == 2 + sum(1 for d in moved)
    frame = report.differences_frame()
    assert len(frame) == len(report.differences) and str(frame.read.dtype) == "Int64"
    assert frame.read.isna().sum() == 1  # the reference row
    assert report.differences_not_listed == 0

    table = parity_table(report)
    assert list(table.channel) == list(WGS_CHANNELS)
    row = table.set_index("channel").loc["base_quality"]
    assert row.examples == 5 and row.examples_differing == 1 + int(swap_differs[BASE_QUALITY] > 0)
    assert row.agreeing_percent == pytest.approx(100 * row.agreeing / row.pixels)
    assert "5 candidates in both sets (1 only in DeepVariant's, 1 only in lowcov's" in report.summary()


def test_unaltered_export_is_identical_and_listing_is_capped(pair):
    same = compare_examples(pair["exported"], pair["native"].directory)
    assert same.identical and same.matched == len(CANDIDATES) and same.differences == []
    capped = compare_examples(pair["deepvariant"], pair["native"].directory, max_listed=1)
    assert len(capped.differences) == 1 and capped.differences_not_listed > 0
    full = compare_examples(pair["deepvariant"], pair["native"].directory)
    assert len(capped.differences) + capped.differences_not_listed == len(full.differences)


def test_channels_are_paired_by_name(pair):
    # DeepVariant's side named as if its last channel were another one: only six are compared
    names = list(WGS_CHANNELS[:-1]) + ["haplotype"]
    report = compare_examples(pair["deepvariant"], pair["native"].directory, deepvariant_channels=names)
    assert [c.channel for c in report.channels] == list(WGS_CHANNELS[:-1])
    assert report.channels_only_deepvariant == ["haplotype"] and report.channels_only_native == ["insert_size"]
    with pytest.raises(InputError, match="share no channel"):
        compare_examples(pair["deepvariant"], pair["native"].directory, deepvariant_channels=[f"x{i}" for i in range(7)])


def test_bad_input_is_named(pair, tmp_path):
    bare = tmp_path / "bare" / "examples.tfrecord.gz"
    bare.parent.mkdir()
    write_examples(bare, pair["examples"][:2])
    with pytest.raises(InputError, match=r"bare/examples\.tfrecord\.gz: no example_info\.json"):
        compare_examples(bare, pair["native"].directory)
    twice = tmp_path / "twice" / "examples.tfrecord.gz"
    twice.parent.mkdir()
    write_examples(twice, [pair["examples"][0], pair["examples"][0]])
    with pytest.raises(InputError, match=r"two examples for the candidate chr1:101-101 G"):
        compare_examples(twice, pair["native"].directory, deepvariant_channels=list(WGS_CHANNELS))
