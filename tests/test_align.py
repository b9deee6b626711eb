import gzip

import numpy as np

import pysam
import pytest

from lowcov import InputError
from lowcov.align import AlignConfig, align_reads, read_sequences
from conftest import reverse_complement, write_pairs


def test_paired_reads_align_to_their_origin_sorted_and_indexed(tmp_path, small_genome, rng):
    fasta, genome = small_genome
    r1, r2 = tmp_path / "r1.fq.gz", tmp_path / "r2.fq.gz"
    write_pairs(r1, r2, genome, 400, rng)
    out = align_reads([r1, r2], fasta, tmp_path / "out.bam", AlignConfig(threads=2, batch_size=50, sample="S1"))
    assert (tmp_path / "out.bam.bai").exists()
    with pysam.AlignmentFile(str(out)) as bam:
        assert bam.header["HD"]["SO"] == "coordinate"
        assert bam.header["RG"][0]["SM"] == "S1"
        records = list(bam.fetch(until_eof=True))
    assert len(records) == 800
    positions = [(r.reference_id, r.reference_start) for r in records]
    assert positions == sorted(positions)
    mapped = [r for r in records if not r.is_unmapped]
    assert len(mapped) == 800  # error-free reads from random sequence all map uniquely
    for r in mapped:
        assert r.is_proper_pair and r.mapping_quality == 60
        assert r.cigarstring == "100M"
        assert r.query_sequence == genome[r.reference_name][r.reference_start:r.reference_end]
        assert abs(r.template_length) == 300
        assert r.get_tag("RG") == "rg1"
    assert sum(r.is_read1 for r in mapped) == 400


def test_single_end_long_reads_with_ccs_preset(tmp_path, small_genome, rng):
    fasta, genome = small_genome
    reads = tmp_path / "long.fq.gz"
    truth = {}
    with gzip.open(reads, "wt") as handle:
        for i in range(30):
            start = int(rng.integers(0, 20_000 - 2000))
            seq = genome["chr1"][start:start + 2000]
            if i % 2:
                seq = reverse_complement(seq)
            truth[f"m{i}"] = start
            handle.write(f"@m{i}\n{seq}\n+\n{'~' * len(seq)}\n")
    out = align_reads([reads], fasta, tmp_path / "long.bam", preset="ccs", threads=1)
    with pysam.AlignmentFile(str(out)) as bam:
        for r in bam.fetch("chr1"):
            assert r.reference_start == truth[r.query_name]
            assert r.is_reverse == bool(int(r.query_name[1:]) % 2)


def test_spliced_read_gets_a_reference_skip_with_isoseq_preset(tmp_path, small_genome):
    fasta, genome = small_genome
    chrom = genome["chr1"]
    # two 400 bp exons separated by a 2 kb intron with canonical GT..AG splice sites
    exon1, exon2 = chrom[1000:1400], chrom[3400:3800]
    intron = "GT" + chrom[1402:3398] + "AG"
    spliced_genome = dict(genome, chr1=chrom[:1400] + intron + chrom[3400:])
    fasta = tmp_path / "spliced.fa"
    from conftest import write_fasta
    write_fasta(fasta, spliced_genome)
    reads = tmp_path / "tx.fa"
    reads.write_text(f">tx\n{exon1 + exon2}\n")
    out = align_reads([reads], fasta, tmp_path / "tx.bam", preset="isoseq", threads=1)
    with pysam.AlignmentFile(str(out)) as bam:
        (read,) = list(bam.fetch("chr1"))
    assert read.reference_start == 1000
    assert (3, 2000) in read.cigartuples  # N operation spanning the intron


def test_mismatched_pairs_raise_naming_both_files(tmp_path, small_genome, rng):
    fasta, genome = small_genome
    r1, r2 = tmp_path / "a.fq.gz", tmp_path / "b.fq.gz"
    write_pairs(r1, r2, genome, 10, rng)
    with gzip.open(r2, "wt") as handle:
        handle.write("@other\nACGT\n+\nIIII\n")
    with pytest.raises(InputError, match="a.fq.gz"):
        align_reads([r1, r2], fasta, tmp_path / "x.bam")
    assert not (tmp_path / "x.bam").exists()


def test_unaligned_bam_input_is_read_like_fastq(tmp_path):
    header = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6"}})
    path = tmp_path / "u.bam"
    with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
        rec = pysam.AlignedSegment(header)
        rec.query_name, rec.query_sequence, rec.flag = "m1", "ACGTTT", 4
        bam.write(rec)
    (read,) = list(read_sequences(path))
    assert (read.name, read.seq) == ("m1", "ACGTTT")


def test_pair_with_an_unmappable_mate_keeps_both_records_together(tmp_path, small_genome, rng):
    from conftest import random_sequence

    fasta, genome = small_genome
    r1, r2 = tmp_path / "r1.fq", tmp_path / "r2.fq"
    good = genome["chr1"][5000:5100]
    junk = random_sequence(np.random.default_rng(99), 100)
    r1.write_text(f"@x/1\n{good}\n+\n{'I' * 100}\n")
    r2.write_text(f"@x/2\n{junk}\n+\n{'I' * 100}\n")
    out = align_reads([r1, r2], fasta, tmp_path / "x.bam", threads=1)
    with pysam.AlignmentFile(str(out)) as bam:
        mapped, unmapped = sorted(bam.fetch(until_eof=True), key=lambda r: r.is_unmapped)
    assert mapped.query_name == unmapped.query_name == "x"
    assert mapped.reference_start == 5000 and mapped.mate_is_unmapped and not mapped.is_proper_pair
    assert unmapped.is_unmapped and unmapped.reference_name == "chr1" and unmapped.reference_start == 5000
    assert unmapped.query_sequence == junk


def test_soft_clipped_mates_keep_their_clips_at_the_clipped_end(tmp_path, small_genome, rng):
    """A pair whose reads start with 14 mismatching bases: each record's clip sits on the side of those bases
    and its aligned bases match the reference (the second mate's clip once landed on the wrong end)."""
    fasta, genome = small_genome
    seq = genome["chr1"]
    r1, r2 = tmp_path / "r1.fq.gz", tmp_path / "r2.fq.gz"
    complement = str.maketrans("ACGT", "TGCA")  # bases that mismatch wherever they are placed
    with gzip.open(r1, "wt") as f1, gzip.open(r2, "wt") as f2:
        for i, start in enumerate((2000, 9000, 15000)):
            fragment, mate = seq[start:start + 300], reverse_complement(seq[start:start + 300])
            f1.write(f"@p{i}\n{fragment[:14].translate(complement) + fragment[14:100]}\n+\n{'I' * 100}\n")
            f2.write(f"@p{i}\n{mate[:14].translate(complement) + mate[14:100]}\n+\n{'I' * 100}\n")
    out = align_reads([r1, r2], fasta, tmp_path / "out.bam", AlignConfig(threads=1, batch_size=10))
    with pysam.AlignmentFile(str(out)) as bam:
        records = [r for r in bam.fetch(until_eof=True) if not r.is_unmapped]
    assert len(records) == 6
    for r in records:
        clips = [(k, n) for k, (op, n) in enumerate(r.cigartuples) if op == 4]
        # the junk is the read's first bases: the start of the record when forward, its end when reverse
        assert clips == [(len(r.cigartuples) - 1 if r.is_reverse else 0, 14)], (r.query_name, r.cigarstring)
        assert r.query_alignment_sequence == seq[r.reference_start:r.reference_end]
