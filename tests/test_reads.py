"""Reads laid out from raw BAM records, checked against pysam's view of the same alignments."""
import numpy as np
import pysam
import pytest

from lowcov import bamraw
from lowcov.downsample import keep_mask
from lowcov.make_examples import ExamplesConfig, make_examples
from lowcov.reads import CODE_OF_BYTE, DELETED, ReadFilter, lay_out


def hand_made_bam(tmp_path):
    """Alignments with every CIGAR operation the layout handles, one without qualities, one filtered."""
    header = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6", "SO": "coordinate"},
                                              "SQ": [{"SN": "chr1", "LN": 5000}]})
    specs = [  # name, start, cigar, sequence, flag, mapq, qualities
        ("clip", 100, "3S10M2I5M4D6M", "GGG" + "ACGTACGTAC" + "TT" + "CAGTA" + "ACGTRN", 16, 60, True),
        ("splice", 105, "8M300N7M", "ACGTACGTCCGGAAT", 0, 30, True),
        ("noqual", 110, "20M", "ACGTACGTACGTACGTACGT", 0, 60, False),
        ("dup", 112, "10M", "ACGTACGTAC", 0x400, 60, True),
        ("edge", 400, "2D5M", "ACGTA", 0, 60, True),
    ]
    path = tmp_path / "hand.bam"
    rng = np.random.default_rng(3)
    with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
        for name, start, cigar, seq, flag, mapq, with_quality in specs:
            rec = pysam.AlignedSegment(header)
            rec.query_name, rec.reference_id, rec.reference_start, rec.flag = name, 0, start, flag
            rec.cigarstring, rec.query_sequence, rec.mapping_quality = cigar, seq, mapq
            rec.template_length = {"clip": -350, "noqual": 1200}.get(name, 0)  # the others have no mate
            if with_quality:
                rec.query_qualities = pysam.qualitystring_to_array("".join(chr(33 + q) for q in rng.integers(2, 41, len(seq))))
            bam.write(rec)
    pysam.index(str(path))
    return path


def expected_codes(read: pysam.AlignedSegment):
    """Per reference position: (code, quality) from pysam's aligned pairs."""
    out = {}
    quals = read.query_qualities if read.query_qualities is not None else [30] * read.query_length
    pairs = read.get_aligned_pairs()
    for k, (q, r) in enumerate(pairs):
        if r is None:
            continue
        if q is None:
            op = [op for op, start, end in cigar_spans(read) if start <= r < end][0]
            if op == 3:
                continue  # splice gap: uncovered
            before = next((pq for pq, _ in reversed(pairs[:k]) if pq is not None), None)
            after = next((pq for pq, _ in pairs[k:] if pq is not None), None)
            flank = [quals[i] for i in (before, after) if i is not None]
            out[r] = (DELETED, min(flank) if flank else 0)
        else:
            out[r] = (int(CODE_OF_BYTE[ord(read.query_sequence[q])]), quals[q])
    return out


def cigar_spans(read):
    pos = read.reference_start
    for op, n in read.cigartuples:
        if op in (0, 2, 3, 7, 8):
            yield op, pos, pos + n
            pos += n


@pytest.mark.parametrize("window", [(0, 5000), (104, 117), (390, 402)])
def test_layout_matches_pysam_aligned_pairs(tmp_path, window):
    path = hand_made_bam(tmp_path)
    records = bamraw.read_region(path, "chr1", *window)
    records = records.subset(ReadFilter().accepts(records))
    reads = lay_out(records, *window)
    with pysam.AlignmentFile(str(path)) as bam:
        expected = [r for r in bam.fetch("chr1", *window) if not r.is_duplicate]
    assert len(reads) == len(expected) >= 1
    assert list(reads.fragment_length) == [abs(r.template_length) for r in expected]
    for i, read in enumerate(expected):
        want = {p: v for p, v in expected_codes(read).items() if window[0] <= p < window[1]}
        got = {}
        for pos in range(reads.lo[i], reads.hi[i]):
            code, qual = reads.codes[reads.offset[i] + pos - reads.lo[i]], reads.quals[reads.offset[i] + pos - reads.lo[i]]
            if code:
                got[pos] = (int(code), int(qual))
        assert got == want, read.query_name
        assert bool(reads.reverse[i]) == read.is_reverse and reads.mapq[i] == read.mapping_quality
    # events are kept whole even where the window cuts the read
    if window == (0, 5000):
        inserted = [reads.inserted_sequence(k) for k in range(len(reads.ins_read))]
        assert inserted == ["TT"] and reads.ins_anchor.tolist() == [109]
        assert reads.del_anchor.tolist() == [114, 399] and reads.del_length.tolist() == [4, 2]


def test_downsampling_filter_is_samtools_choice(tmp_path, small_genome, rng):
    from conftest import write_pairs
    from lowcov.align import align_reads
    fasta, genome = small_genome
    write_pairs(tmp_path / "1.fq.gz", tmp_path / "2.fq.gz", genome, 400, rng)
    bam = align_reads([tmp_path / "1.fq.gz", tmp_path / "2.fq.gz"], fasta, tmp_path / "x.bam", threads=1)
    records = bamraw.read_region(bam, "chr1", 0, 20000)
    keep = ReadFilter(min_mapping_quality=0, exclude_flags=0, keep_fraction=0.3, keep_seed=5).accepts(records)
    with pysam.AlignmentFile(str(bam)) as handle:
        names = [r.query_name for r in handle.fetch("chr1", 0, 20000)]
    assert keep.tolist() == keep_mask(names, 5, 0.3).tolist() and 0.2 < keep.mean() < 0.4


def test_cram_input_gives_the_same_examples_as_bam(tmp_path, diploid_sample):
    cram = tmp_path / "sample.cram"
    pysam.view("-C", "-T", str(diploid_sample["fasta"]), "-o", str(cram), str(diploid_sample["bam"]),
               catch_stdout=False)
    pysam.index(str(cram))
    config = ExamplesConfig(mode="calling", threads=1)
    from_bam = make_examples(diploid_sample["bam"], diploid_sample["fasta"], tmp_path / "b", ["chr1"], config).load()
    from_cram = make_examples(cram, diploid_sample["fasta"], tmp_path / "c", ["chr1"], config).load()
    assert len(from_bam.labels) == 4 and np.array_equal(from_bam.images, from_cram.images)


def test_splice_gaps_are_blank_in_every_channel(tmp_path):
    from lowcov.pileup import PileupConfig, draw
    path = hand_made_bam(tmp_path)
    records = bamraw.read_region(path, "chr1", 0, 5000)
    records = records.subset(ReadFilter().accepts(records))
    reads = lay_out(records, 0, 5000)
    spliced = 1  # "splice": 8M300N7M from 105, gap [113, 413)
    assert (reads.lo[spliced], reads.hi[spliced]) == (105, 420)
    config = PileupConfig(height=8, width=21, ref_rows=2)
    window_codes = np.full(5000, 1, np.uint8)
    image = draw(config, 112, np.full(21, 1, np.uint8), reads, np.array([spliced]), np.array([True]), window_codes)
    row = image[2]
    gap = slice(11, 21)  # reference positions 113..122
    assert (row[gap] == 0).all()
    # the first block is drawn in every channel but insert_size: the read has no mate (TLEN 0)
    assert (row[3:11, :6] > 0).all(axis=1).sum() >= 7 and (row[3:11, 6] == 0).all()


def test_insert_size_pixels_follow_deepvariant():
    from lowcov.pileup import insert_size_pixels

    # 254 * min(|TLEN|, 1000) / 1000, truncated; no mate (TLEN 0) is 0
    assert list(insert_size_pixels(np.array([0, 300, -300, 999, 1000, 5000]))) == [0, 76, 76, 253, 254, 254]
