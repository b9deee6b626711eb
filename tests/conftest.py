"""Shared fixtures: small real files (FASTA, BAM, VCF) written by the tests themselves."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


def write_fasta(path: Path, contigs: dict[str, str]) -> Path:
    with open(path, "w") as handle:
        for name, seq in contigs.items():
            handle.write(f">{name}\n")
            for i in range(0, len(seq), 60):
                handle.write(seq[i:i + 60] + "\n")
    pysam.faidx(str(path))
    return path


def random_sequence(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list("ACGT"), length))


def reverse_complement(seq: str) -> str:
    return seq.translate(str.maketrans("ACGT", "TGCA"))[::-1]


def write_reads_bam(path: Path, header: pysam.AlignmentHeader, reads, quality: int = 30) -> Path:
    """An indexed BAM of hand-made reads on the first contig: (name, 0-based start, CIGAR, bases) tuples in
    coordinate order, with an optional fifth item, the base qualities (default ``quality`` everywhere)."""
    with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
        for name, start, cigar, bases, *qualities in reads:
            rec = pysam.AlignedSegment(header)
            rec.query_name, rec.reference_id, rec.reference_start, rec.mapping_quality = name, 0, start, 60
            rec.cigarstring, rec.query_sequence = cigar, bases
            rec.query_qualities = qualities[0] if qualities else [quality] * len(bases)
            bam.write(rec)
    pysam.index(str(path))
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def small_genome(tmp_path, rng):
    """Two random contigs, chr1 (20 kb) and chr2 (10 kb), as an indexed FASTA."""
    contigs = {"chr1": random_sequence(rng, 20_000), "chr2": random_sequence(rng, 10_000)}
    return write_fasta(tmp_path / "genome.fa", contigs), contigs


def write_pairs(path1: Path, path2: Path, genome: dict[str, str], n_pairs: int, rng, insert: int = 300,
                read_length: int = 100) -> None:
    """Error-free FR read pairs sampled uniformly from the contigs."""
    import gzip

    names = list(genome)
    weights = np.array([len(genome[n]) for n in names], dtype=float)
    with gzip.open(path1, "wt") as r1, gzip.open(path2, "wt") as r2:
        for i in range(n_pairs):
            contig = names[rng.choice(len(names), p=weights / weights.sum())]
            seq = genome[contig]
            start = int(rng.integers(0, len(seq) - insert))
            fragment = seq[start:start + insert]
            if rng.random() < 0.5:
                fragment = reverse_complement(fragment)
            quals = "I" * read_length
            r1.write(f"@p{i}\n{fragment[:read_length]}\n+\n{quals}\n")
            r2.write(f"@p{i}\n{reverse_complement(fragment)[:read_length]}\n+\n{quals}\n")


def apply_variants(seq: str, variants: list[tuple[int, str, str]]) -> str:
    """Apply (0-based start, ref, alt) edits, right to left so earlier offsets stay valid."""
    for start, ref, alt in sorted(variants, reverse=True):
        assert seq[start:start + len(ref)] == ref, (start, ref)
        seq = seq[:start] + alt + seq[start + len(ref):]
    return seq


def write_truth_vcf(path: Path, contigs: dict[str, str], records: list[tuple[str, int, str, str, str]],
                    sample: str = "S1") -> Path:
    """records: (contig, 1-based pos, ref, alt, GT like '0|1'); written bgzipped and tabix-indexed."""
    plain = path.with_suffix("")
    with open(plain, "w") as handle:
        handle.write("##fileformat=VCFv4.2\n")
        for name, seq in contigs.items():
            handle.write(f"##contig=<ID={name},length={len(seq)}>\n")
        handle.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        handle.write(f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}\n")
        for contig, pos, ref, alt, gt in sorted(records, key=lambda r: (list(contigs).index(r[0]), r[1])):
            handle.write(f"{contig}\t{pos}\t.\t{ref}\t{alt}\t50\tPASS\t.\tGT\t{gt}\n")
    pysam.tabix_index(str(plain), preset="vcf", force=True)
    return Path(str(plain) + ".gz")


@pytest.fixture
def diploid_sample(tmp_path, rng):
    """A 20 kb chr1 with a het SNP, a hom SNP, a het 3 bp deletion and a hom 2 bp insertion, 30x of
    error-free read pairs drawn from both haplotypes, aligned; returns a dict of paths and the truth."""
    from lowcov.align import align_reads

    seq = random_sequence(rng, 20_000)
    genome = {"chr1": seq}
    fasta = write_fasta(tmp_path / "ref.fa", genome)
    snp_het = (4999, seq[4999], "ACGT"[("ACGT".index(seq[4999]) + 1) % 4])
    snp_hom = (7999, seq[7999], "ACGT"[("ACGT".index(seq[7999]) + 2) % 4])
    deletion = (11999, seq[11999:12003], seq[11999])
    insertion = (14999, seq[14999], seq[14999] + "GA")
    hap1 = apply_variants(seq, [snp_het, snp_hom, insertion])
    hap2 = apply_variants(seq, [snp_hom, deletion, insertion])
    records = [("chr1", snp_het[0] + 1, snp_het[1], snp_het[2], "1|0"),
               ("chr1", snp_hom[0] + 1, snp_hom[1], snp_hom[2], "1|1"),
               ("chr1", deletion[0] + 1, deletion[1], deletion[2], "0|1"),
               ("chr1", insertion[0] + 1, insertion[1], insertion[2], "1|1")]
    truth = write_truth_vcf(tmp_path / "truth.vcf.gz", genome, records)
    bed = tmp_path / "confident.bed"
    bed.write_text("chr1\t100\t19900\n")
    r1, r2 = tmp_path / "r1.fq.gz", tmp_path / "r2.fq.gz"
    import gzip
    with gzip.open(r1, "wt") as f1, gzip.open(r2, "wt") as f2:
        for hap_index, hap in enumerate((hap1, hap2)):
            tmp1, tmp2 = tmp_path / f"h{hap_index}_1.fq.gz", tmp_path / f"h{hap_index}_2.fq.gz"
            write_pairs(tmp1, tmp2, {"chr1": hap}, 1500, rng)
            for src, dst in ((tmp1, f1), (tmp2, f2)):
                with gzip.open(src, "rt") as handle:
                    dst.write(handle.read().replace("@p", f"@h{hap_index}p"))
    bam = align_reads([r1, r2], fasta, tmp_path / "sample.bam", threads=1)
    return {"fasta": fasta, "truth": truth, "bed": bed, "bam": bam, "records": records, "seq": seq}
