"""The bcftools peer caller on a small simulated BAM with planted SNPs and indels."""
from __future__ import annotations

import random

import pysam
import pytest

from lowcov import InputError
from lowcov.benchmark import compare
from lowcov.bcftools import PeerCallerConfig, call_variants

from benchmark_helpers import counts, random_sequence, simulate_bam, write_fasta, write_vcf

LENGTH = 4000


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A 4 kb reference, two haplotypes with 6 SNPs and 2 indels, 30x single-end reads."""
    tmp = tmp_path_factory.mktemp("peer")
    rng = random.Random(21)
    seq = random_sequence(LENGTH, rng)
    fasta = write_fasta(tmp / "ref.fa", {"chrP": seq})

    def snp(p):
        return (p, seq[p], [c for c in "ACGT" if c != seq[p]][rng.randrange(3)])

    shared = [snp(600), snp(1800)]  # homozygous
    hap1 = shared + [snp(300), snp(1200), (2400, seq[2400:2403], seq[2400])]  # 2-base deletion
    hap2 = shared + [snp(900), snp(3000), (3300, seq[3300], seq[3300] + "GT")]  # insertion
    bam = simulate_bam(tmp / "reads.bam", "chrP", seq, [sorted(hap1), sorted(hap2)], depth=30)
    truth = []
    for variant in sorted(set(hap1) | set(hap2)):
        gt = "1/1" if variant in shared else "0/1"
        truth.append(("chrP", variant[0] + 1, variant[1], variant[2], gt))
    truth_vcf = write_vcf(tmp / "truth.vcf.gz", {"chrP": LENGTH}, truth)
    return tmp, fasta, bam, truth_vcf, truth


def test_peer_calls_the_planted_variants(sample):
    tmp, fasta, bam, truth_vcf, truth = sample
    out = call_variants(bam, fasta, tmp / "peer.vcf.gz")
    assert out.exists() and (tmp / "peer.vcf.gz.tbi").exists()
    with pysam.VariantFile(str(out)) as vcf:
        assert {"AD", "DP"} <= set(vcf.header.formats)
        assert "LowQual" in vcf.header.filters
        calls = list(vcf)
    result = compare(truth_vcf, out, fasta, output_prefix=tmp / "peer_bench")
    n_snp = sum(1 for t in truth if len(t[2]) == len(t[3]) == 1)
    snp = counts(result, "SNP")
    assert snp[:3] == (n_snp, n_snp, 0)  # every planted SNP found with the right genotype
    assert counts(result, "INDEL")[0] == 2
    called = {(c.pos, c.ref, c.alts[0]) for c in calls}
    for chrom, pos, ref, alt, gt in truth:
        if len(ref) == len(alt) == 1:
            assert (pos, ref, alt) in called


def test_peer_output_is_deterministic(sample):
    tmp, fasta, bam, _, _ = sample
    first = call_variants(bam, fasta, tmp / "a.vcf.gz")
    second = call_variants(bam, fasta, tmp / "b.vcf.gz")
    assert first.read_bytes() == second.read_bytes()


def test_low_quality_calls_are_marked_not_dropped(sample):
    tmp, fasta, bam, _, _ = sample
    strict = call_variants(bam, fasta, tmp / "strict.vcf.gz", PeerCallerConfig(min_qual=1e6))
    lenient = call_variants(bam, fasta, tmp / "lenient.vcf.gz")
    with pysam.VariantFile(str(strict)) as a, pysam.VariantFile(str(lenient)) as b:
        strict_calls, lenient_calls = list(a), list(b)
    assert len(strict_calls) == len(lenient_calls) > 0
    assert all(list(c.filter.keys()) == ["LowQual"] for c in strict_calls)


def test_region_restricts_calls(sample):
    tmp, fasta, bam, _, _ = sample
    out = call_variants(bam, fasta, tmp / "region.vcf.gz", PeerCallerConfig(region="chrP:1-1000"))
    with pysam.VariantFile(str(out)) as vcf:
        positions = [r.pos for r in vcf]
    assert positions and all(p <= 1000 for p in positions)


def test_contig_mismatch_is_refused(sample, tmp_path):
    _, _, bam, _, _ = sample
    other = write_fasta(tmp_path / "other.fa", {"chr1": random_sequence(LENGTH, random.Random(1))})
    with pytest.raises(InputError, match="chrP"):
        call_variants(bam, other, tmp_path / "x.vcf.gz")
    assert not (tmp_path / "x.vcf.gz").exists()
    with pytest.raises(InputError, match="chrQ"):
        call_variants(bam, sample[1], tmp_path / "y.vcf.gz", PeerCallerConfig(region="chrQ:1-10"))
