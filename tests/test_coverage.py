import io

import numpy as np
import pandas as pd
import pysam
import pytest

from lowcov import InputError
from lowcov.align import align_reads
from lowcov.coverage import (BUCKETS, DepthConfig, bucket_counts, contig_depth, depth_summary, write_bucket_beds)
from conftest import write_pairs


@pytest.fixture
def aligned(tmp_path, small_genome, rng):
    fasta, genome = small_genome
    r1, r2 = tmp_path / "r1.fq.gz", tmp_path / "r2.fq.gz"
    write_pairs(r1, r2, genome, 1500, rng)
    return align_reads([r1, r2], fasta, tmp_path / "dna.bam", threads=1)


def samtools_depth(bam) -> pd.DataFrame:
    text = pysam.samtools.depth(str(bam))
    return pd.read_csv(io.StringIO(text), sep="\t", header=None, names=["contig", "pos", "depth"])


def test_depth_equals_samtools_depth_base_for_base(aligned):
    reference = samtools_depth(aligned)
    for contig, rows in reference.groupby("contig"):
        depth = contig_depth(aligned, contig)
        assert np.array_equal(depth[rows.pos.values - 1], rows.depth.values)
        # samtools depth without -a lists exactly the covered bases
        assert (depth > 0).sum() == len(rows)


def test_deletions_and_splice_gaps_are_not_counted(tmp_path, small_genome):
    fasta, _ = small_genome
    header = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6", "SO": "coordinate"},
                                              "SQ": [{"SN": "chr1", "LN": 20000}]})
    path = tmp_path / "gap.bam"
    with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
        for i, cigar in enumerate(["10M5D10M", "10M100N10M"]):
            rec = pysam.AlignedSegment(header)
            rec.query_name, rec.reference_id, rec.reference_start = f"r{i}", 0, 100
            rec.cigarstring, rec.query_sequence, rec.mapping_quality = cigar, "A" * 20, 60
            bam.write(rec)
    pysam.index(str(path))
    depth = contig_depth(path, "chr1")
    assert depth[100:110].tolist() == [2] * 10
    assert depth[110:115].tolist() == [0] * 5   # deletion: only the spliced read spans, with N
    assert depth[115:125].tolist() == [1] * 10  # the deletion read's second block
    assert depth[210:220].tolist() == [1] * 10  # the spliced read's second block
    assert int(depth.sum()) == 40


def test_buckets_follow_the_case_study_edges():
    histogram = pd.DataFrame({"depth": [0, 1, 7, 8, 20, 21, 500], "bases": [100, 1, 2, 4, 8, 16, 32]})
    counts = bucket_counts(histogram)
    assert counts.tolist() == [3, 12, 48]
    assert list(counts.index) == [name for name, _, _ in BUCKETS]


def test_summary_writes_tables_and_bucket_beds_partition_covered_bases(tmp_path, aligned):
    summary = depth_summary(aligned, out_prefix=tmp_path / "dna")
    assert (tmp_path / "dna.histogram.tsv").exists() and (tmp_path / "dna.bins.tsv").exists()
    depth = contig_depth(aligned, "chr1")
    covered = int((depth > 0).sum()) + int((contig_depth(aligned, "chr2") > 0).sum())
    assert summary.covered_bases() == covered
    beds = write_bucket_beds(aligned, "chr1", tmp_path)
    total = 0
    for name, path in beds.items():
        for line in path.read_text().splitlines():
            _, start, end = line.split("\t")
            total += int(end) - int(start)
    assert total == int((depth > 0).sum())


def test_unknown_contig_and_empty_region_are_clear_errors(aligned):
    with pytest.raises(InputError, match="chrX"):
        depth_summary(aligned, ["chrX"])
    with pytest.raises(InputError, match="empty region"):
        contig_depth(aligned, "chr1", start=500, end=500)


def test_pieces_summarised_apart_give_the_whole_contigs_summary(aligned):
    from lowcov.coverage import DepthConfig, _combine_pieces, _piece_summary, bin_means, depth_histogram

    config = DepthConfig(bin_size=2000)
    # pieces start at multiples of the window, as depth_summary cuts them; the last window is partial
    pieces = [("chr1", 0, 6000), ("chr1", 6000, 14000), ("chr1", 14000, 20000), ("chr2", 0, 9500)]
    summaries = [_piece_summary((str(aligned), c, s, e, config, 1)) for c, s, e in pieces]
    histogram, bins = _combine_pieces(pieces, summaries, config.bin_size)
    for contig, length in (("chr1", 20000), ("chr2", 9500)):
        depth = contig_depth(aligned, contig, config, 0, length)
        hist = depth_histogram(depth)
        rows = histogram[histogram.contig == contig]
        assert rows.depth.tolist() == np.flatnonzero(hist).tolist()
        assert rows.bases.tolist() == hist[hist > 0].tolist()
        assert np.array_equal(bins[bins.contig == contig].mean_depth.to_numpy(), bin_means(depth, config.bin_size))
    assert bins[bins.contig == "chr1"].start.tolist() == list(range(0, 20000, 2000))


def test_summary_is_the_same_in_process_and_on_workers(tmp_path, aligned):
    one = depth_summary(aligned, config=DepthConfig(threads=1, bin_size=1000), out_prefix=tmp_path / "one")
    two = depth_summary(aligned, config=DepthConfig(threads=2, bin_size=1000), out_prefix=tmp_path / "two")
    assert one.covered_bases() == two.covered_bases() > 0
    for table in ("histogram", "bins"):
        assert (tmp_path / f"one.{table}.tsv").read_bytes() == (tmp_path / f"two.{table}.tsv").read_bytes()
