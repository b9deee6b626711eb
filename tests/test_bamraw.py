"""The raw BAM reader against pysam on BAMs written by the tests."""
import shutil

import numpy as np
import pysam
import pytest

from lowcov import InputError, bamraw
from lowcov.align import align_reads
from lowcov.coverage import DepthConfig, _add_block_edges_pysam, contig_depth
from conftest import write_pairs


@pytest.fixture
def aligned(tmp_path, small_genome, rng):
    fasta, genome = small_genome
    r1, r2 = tmp_path / "r1.fq.gz", tmp_path / "r2.fq.gz"
    write_pairs(r1, r2, genome, 3000, rng)
    return align_reads([r1, r2], fasta, tmp_path / "dna.bam", threads=1), fasta


def records_in(bam_path, contig, start, end):
    """(name, flag, pos) of every record the raw reader yields for a region, in order."""
    with pysam.AlignmentFile(str(bam_path)) as bam:
        tid = bam.get_tid(contig)
    span = bamraw.BaiIndex.read(bamraw.bai_path(bam_path)).span(tid, start, end)
    out = []
    for buffer in bamraw.region_buffers(bam_path, span, chunk_bytes=5000):
        at = 0
        while at < len(buffer):
            ref, pos = bamraw.i32(buffer, at + bamraw.REF_ID), bamraw.i32(buffer, at + bamraw.POS)
            length = bamraw.reference_length(buffer, at)
            if ref == tid and pos < end and pos + max(length, 1) > start:
                name_end = at + bamraw.READ_NAME + int(buffer[at + bamraw.L_READ_NAME]) - 1  # without the NUL
                name = bytes(buffer[at + bamraw.READ_NAME:name_end])
                out.append((name.decode(), int(bamraw.u16(buffer, at + bamraw.FLAG)), int(pos)))
            at += bamraw.record_size(buffer, at)
    return out


@pytest.mark.parametrize("region", [("chr1", 0, 20000), ("chr1", 4321, 9876), ("chr2", 5000, 5001), ("chr2", 0, 10000)])
def test_region_records_are_exactly_pysams_fetch(aligned, region):
    bam_path, _ = aligned
    with pysam.AlignmentFile(str(bam_path)) as bam:
        expected = [(r.query_name, r.flag, r.reference_start) for r in bam.fetch(*region)]
    assert expected and records_in(bam_path, *region) == expected


def test_depth_engines_agree_on_pieces_and_flags(aligned):
    bam_path, _ = aligned
    config = DepthConfig(min_mapq=20)
    for start, end in ((0, 20000), (0, 7000), (7000, 13333), (19990, 20000)):
        delta = np.zeros(end - start + 1, dtype=np.int32)
        _add_block_edges_pysam(bam_path, "chr1", start, end, config, 1, delta)
        assert np.array_equal(contig_depth(bam_path, "chr1", config, start, end), np.cumsum(delta[:-1]))


def test_cram_goes_through_pysam_with_the_same_depth(aligned, tmp_path):
    bam_path, fasta = aligned
    cram = tmp_path / "dna.cram"
    pysam.view("-C", "-T", str(fasta), "-o", str(cram), str(bam_path), catch_stdout=False)
    pysam.index(str(cram))
    assert bamraw.readable(bam_path) and not bamraw.readable(cram)
    assert np.array_equal(contig_depth(cram, "chr2"), contig_depth(bam_path, "chr2"))


def test_truncated_bam_is_an_error_naming_the_file(aligned, tmp_path):
    bam_path, _ = aligned
    cut = tmp_path / "cut.bam"
    data = bam_path.read_bytes()
    cut.write_bytes(data[: len(data) // 2 + 7])
    shutil.copy(f"{bam_path}.bai", f"{cut}.bai")
    with pytest.raises(InputError, match="cut.bam"):
        contig_depth(cut, "chr2")
    # a hole in the middle, with the EOF marker intact: only the record walk can see it
    holed = tmp_path / "holed.bam"
    holed.write_bytes(data[: len(data) // 2] + data[len(data) // 2 + 1000:])
    shutil.copy(f"{bam_path}.bai", f"{holed}.bai")
    with pytest.raises(InputError, match="holed.bam"):
        contig_depth(holed, "chr2")


def test_bad_index_is_an_error_naming_it(tmp_path):
    fake = tmp_path / "x.bam.bai"
    fake.write_bytes(b"CSI\1" + bytes(20))
    with pytest.raises(InputError, match="x.bam.bai"):
        bamraw.BaiIndex.read(fake)
