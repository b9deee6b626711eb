"""Downsampling keeps whole templates, about the requested fraction, reproducibly, and like samtools."""
from __future__ import annotations

import platform
import random
from collections import Counter
from pathlib import Path

import pysam
import pytest

from lowcov import InputError
from lowcov.downsample import (DownsampleConfig, downsample_bam, glibc_first_rand, keep_mask, keep_template,
                               samtools_subsample_argument)
from lowcov.fileio import sha256sum

CONTIG_LENGTH = 200_000
READ_LENGTH = 60


def _segment(header, name, flag, pos, mate_pos, tlen) -> pysam.AlignedSegment:
    seg = pysam.AlignedSegment(header)
    seg.query_name = name
    seg.flag = flag
    seg.reference_id = 0
    seg.reference_start = pos
    seg.mapping_quality = 60
    seg.cigartuples = [(0, READ_LENGTH)]
    seg.query_sequence = "ACGT" * (READ_LENGTH // 4)
    seg.query_qualities = pysam.qualitystring_to_array("I" * READ_LENGTH)
    seg.next_reference_id = 0
    seg.next_reference_start = mate_pos
    seg.template_length = tlen
    return seg


def write_paired_bam(path: Path, pairs: int, seed: int = 1, sort: bool = True,
                     name_prefix: str = "V300019088L1C001R") -> Path:
    """Pairs with BGISEQ-like names, plus a few supplementary records, coordinate-sorted and indexed."""
    rng = random.Random(seed)
    header = pysam.AlignmentHeader.from_dict({
        "HD": {"VN": "1.6", "SO": "coordinate" if sort else "unsorted"},
        "SQ": [{"SN": "chr1", "LN": CONTIG_LENGTH}]})
    records = []
    for i in range(pairs):
        name = f"{name_prefix}{i:07d}"
        start = rng.randrange(0, CONTIG_LENGTH - 600)
        mate = start + rng.randrange(100, 400)
        records.append(_segment(header, name, 0x1 | 0x2 | 0x20 | 0x40, start, mate, mate + READ_LENGTH - start))
        records.append(_segment(header, name, 0x1 | 0x2 | 0x10 | 0x80, mate, start, -(mate + READ_LENGTH - start)))
        if i % 50 == 0:  # a supplementary piece must follow its template
            records.append(_segment(header, name, 0x1 | 0x40 | 0x800, rng.randrange(0, CONTIG_LENGTH - 100),
                                    mate, 0))
    if sort:
        records.sort(key=lambda r: (r.reference_start, r.query_name, r.flag))
    else:
        rng.shuffle(records)
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for record in records:
            out.write(record)
    if sort:
        pysam.index(str(path))
    return path


@pytest.fixture(scope="module")
def source_bam(tmp_path_factory) -> Path:
    return write_paired_bam(tmp_path_factory.mktemp("ds") / "full.bam", pairs=4000)


def _names(path: Path) -> Counter:
    with pysam.AlignmentFile(str(path)) as bam:
        return Counter(r.query_name for r in bam.fetch(until_eof=True))


def test_half_of_the_pairs_are_kept_and_mates_stay_together(source_bam, tmp_path):
    result = downsample_bam(source_bam, tmp_path / "half.bam", fraction=0.5, seed=0, progress=False)
    before, after = _names(source_bam), _names(result.path)
    assert result.templates_in == 4000
    # binomial(4000, 0.5) has sd ~32: 5 sd is a loose but meaningful bound
    assert abs(result.templates_out - 2000) < 160
    assert result.templates_out == len(after)
    # every kept template keeps all its records (both mates, and the supplementary piece)
    assert all(after[name] == before[name] for name in after)
    assert result.records_out == sum(after.values())
    assert result.records_in == sum(before.values())


def test_output_is_sorted_and_indexed(source_bam, tmp_path):
    out = downsample_bam(source_bam, tmp_path / "q.bam", fraction=0.25, seed=3, progress=False).path
    assert Path(str(out) + ".bai").exists()
    with pysam.AlignmentFile(str(out)) as bam:
        assert bam.header.to_dict()["HD"]["SO"] == "coordinate"
        starts = [r.reference_start for r in bam.fetch("chr1")]
    assert starts == sorted(starts)
    assert not list(tmp_path.glob(".partial-*"))


def test_same_seed_gives_byte_identical_output_and_other_seed_differs(source_bam, tmp_path):
    a = downsample_bam(source_bam, tmp_path / "a.bam", fraction=0.5, seed=7, progress=False).path
    b = downsample_bam(source_bam, tmp_path / "b.bam", fraction=0.5, seed=7, progress=False).path
    c = downsample_bam(source_bam, tmp_path / "c.bam", fraction=0.5, seed=8, progress=False).path
    assert sha256sum(a) == sha256sum(b)
    assert set(_names(a)) != set(_names(c))


def test_smaller_fraction_keeps_a_subset(source_bam, tmp_path):
    """A template kept at 0.25 is kept at 0.5 with the same seed (samtools' nested samples)."""
    quarter = set(_names(downsample_bam(source_bam, tmp_path / "q.bam", 0.25, 5, progress=False).path))
    half = set(_names(downsample_bam(source_bam, tmp_path / "h.bam", 0.5, 5, progress=False).path))
    assert quarter < half


@pytest.mark.parametrize("seed,fraction", [(0, 0.5), (0, 0.1), (42, 0.5), (12345, 0.33)])
def test_same_reads_as_samtools_view_s(source_bam, tmp_path, seed, fraction):
    if seed and platform.libc_ver()[0] != "glibc":
        pytest.skip("samtools scrambles non-zero seeds with the C library's rand(); ours is glibc's")
    ours = downsample_bam(source_bam, tmp_path / "ours.bam", fraction, seed, progress=False).path
    theirs = tmp_path / "samtools.bam"
    pysam.view("-b", "-s", samtools_subsample_argument(seed, fraction), "-o", str(theirs), str(source_bam),
               catch_stdout=False)
    with pysam.AlignmentFile(str(ours)) as a, pysam.AlignmentFile(str(theirs)) as b:
        assert [r.to_string() for r in a] == [r.to_string() for r in b]


def test_samtools_engine_gives_the_same_reads(source_bam, tmp_path):
    python = downsample_bam(source_bam, tmp_path / "p.bam", config=DownsampleConfig(0.5, 11), progress=False)
    native = downsample_bam(source_bam, tmp_path / "s.bam",
                            config=DownsampleConfig(0.5, 11, engine="samtools"), progress=False)
    with pysam.AlignmentFile(str(python.path)) as a, pysam.AlignmentFile(str(native.path)) as b:
        assert [r.to_string() for r in a] == [r.to_string() for r in b]
    assert Path(str(native.path) + ".bai").exists()


def test_unsorted_input_gives_sorted_output(tmp_path):
    src = write_paired_bam(tmp_path / "unsorted.bam", pairs=300, sort=False)
    out = downsample_bam(src, tmp_path / "out.bam", 0.5, 1, progress=False).path
    with pysam.AlignmentFile(str(out)) as bam:
        starts = [r.reference_start for r in bam.fetch("chr1")]
    assert starts and starts == sorted(starts)


def test_hash_helpers():
    assert samtools_subsample_argument(0, 0.5) == "0.5"
    assert samtools_subsample_argument(42, 0.25) == "42.25"
    assert samtools_subsample_argument(3, 0.05) == "3.05"
    # glibc: srand(1); rand() == 1804289383 (the value every C programmer has seen)
    assert glibc_first_rand(1) == 1804289383
    names = [f"read{i}" for i in range(50)] + ["", "x" * 120]
    mask = keep_mask(names, 9, 0.5)
    assert [keep_template(n, 9, 0.5) for n in names] == list(mask)
    assert keep_mask(names, 9, 1.0).all()


def test_bad_parameters_are_input_errors(source_bam, tmp_path):
    with pytest.raises(InputError, match="fraction"):
        DownsampleConfig(fraction=0.0)
    with pytest.raises(InputError, match="seed"):
        DownsampleConfig(seed=-1)
    with pytest.raises(InputError, match="overwrite"):
        downsample_bam(source_bam, source_bam, 0.5, progress=False)
    with pytest.raises(InputError, match="not found"):
        downsample_bam(tmp_path / "missing.bam", tmp_path / "o.bam", 0.5, progress=False)
