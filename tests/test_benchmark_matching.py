"""Property tests of the matcher on small random references and VCFs written by the tests.

Every assertion is an exact count tuple:
(TRUTH.TOTAL, TRUTH.TP, TRUTH.FN, QUERY.TOTAL, QUERY.FP, QUERY.UNK, FP.gt, FP.al).
"""
from __future__ import annotations

import random

import pytest

from lowcov.benchmark import compare

from benchmark_helpers import counts, random_sequence, random_variants, write_bed, write_fasta, write_vcf

HOMOPOLYMER_AT = 1000  # 0-based start of an 8-base run of A
REPEAT_AT = 2000  # 0-based start of (CA)x6


@pytest.fixture
def genome(tmp_path):
    """A 4 kb random chr1 with a homopolymer and a tandem repeat at known places."""
    rng = random.Random(11)
    seq = list(random_sequence(4000, rng))
    seq[HOMOPOLYMER_AT - 1] = "G"
    seq[HOMOPOLYMER_AT:HOMOPOLYMER_AT + 8] = "AAAAAAAA"
    seq[HOMOPOLYMER_AT + 8] = "C"
    seq[REPEAT_AT - 1] = "T"
    seq[REPEAT_AT:REPEAT_AT + 12] = "CACACACACACA"
    seq[REPEAT_AT + 12] = "G"
    seq = "".join(seq)
    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": seq})
    return seq, fasta


def run(tmp_path, fasta, truth, query, contigs=None, **kwargs):
    contigs = contigs or {"chr1": 4000}
    t = write_vcf(tmp_path / "truth.vcf.gz", contigs, truth)
    q = write_vcf(tmp_path / "query.vcf.gz", kwargs.pop("query_contigs", contigs), query,
                  filters=kwargs.pop("filters", ()))
    return compare(t, q, fasta, **kwargs)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_self_comparison_is_perfect(tmp_path, genome, seed):
    seq, fasta = genome
    records = random_variants(seq, "chr1", random.Random(seed), 50)
    n_snp = sum(1 for r in records if len(r[2]) == len(r[3]) == 1)
    n_indel = len(records) - n_snp
    result = run(tmp_path, fasta, records, records)
    assert counts(result, "SNP") == (n_snp, n_snp, 0, n_snp, 0, 0, 0, 0)
    assert counts(result, "INDEL") == (n_indel, n_indel, 0, n_indel, 0, 0, 0, 0)
    for variant_type in ("SNP", "INDEL"):
        assert result.metric(variant_type, "METRIC.Recall") == 1.0
        assert result.metric(variant_type, "METRIC.Precision") == 1.0
        assert result.metric(variant_type, "METRIC.F1_Score") == 1.0


def test_deletion_shifted_in_homopolymer_is_tp(tmp_path, genome):
    seq, fasta = genome
    h = HOMOPOLYMER_AT
    truth = [("chr1", h, "GA", "G", "0/1")]  # left-aligned deletion of one A
    query = [("chr1", h + 7, "AA", "A", "0/1")]  # the same deletion written at the run's right end
    assert counts(run(tmp_path, fasta, truth, query), "INDEL") == (1, 1, 0, 1, 0, 0, 0, 0)


def test_insertion_shifted_in_tandem_repeat_is_tp(tmp_path, genome):
    seq, fasta = genome
    r = REPEAT_AT
    truth = [("chr1", r, "T", "TCA", "1/1")]  # insertion of one CA unit before the repeat
    query = [("chr1", r + 4, "A", "ACA", "1/1")]  # the same insertion two units later
    assert counts(run(tmp_path, fasta, truth, query), "INDEL") == (1, 1, 0, 1, 0, 0, 0, 0)


def test_mnp_against_separate_snps_is_tp(tmp_path, genome):
    seq, fasta = genome
    p = 300  # 0-based
    a, b = [c for c in "ACGT" if c != seq[p]][0], [c for c in "ACGT" if c != seq[p + 1]][0]
    truth = [("chr1", p + 1, seq[p], a, "0/1"), ("chr1", p + 2, seq[p + 1], b, "0/1")]  # unphased
    query = [("chr1", p + 1, seq[p:p + 2], a + b, "0/1")]
    result = run(tmp_path, fasta, truth, query)
    # both truth SNPs matched (on one haplotype), the MNP is one SNP-type query record
    assert counts(result, "SNP") == (2, 2, 0, 1, 0, 0, 0, 0)


def test_complex_allele_against_its_decomposition_is_tp(tmp_path, genome):
    seq, fasta = genome
    p = 500  # 0-based start of the complex event
    snp = [c for c in "ACGT" if c != seq[p] and c != seq[p + 3]][0]
    # complex: REF 4 bases -> ALT = substituted first base + last base (2 bases deleted)
    truth = [("chr1", p + 1, seq[p:p + 4], snp + seq[p + 3], "0|1")]
    # decomposition: the SNP and a 2-base deletion after it, phased on the same haplotype
    query = [("chr1", p + 1, seq[p], snp, "0|1"), ("chr1", p + 1, seq[p:p + 3], seq[p], "0|1")]
    result = run(tmp_path, fasta, truth, query)
    assert counts(result, "INDEL") == (1, 1, 0, 1, 0, 0, 0, 0)  # complex truth; the query's deletion
    assert counts(result, "SNP") == (0, 0, 0, 1, 0, 0, 0, 0)  # the query's SNP primitive is TP too


def test_phase_is_used_when_both_sides_are_phased(tmp_path, genome):
    seq, fasta = genome
    p = 700
    a, b = [c for c in "ACGT" if c != seq[p]][0], [c for c in "ACGT" if c != seq[p + 5]][0]
    truth = [("chr1", p + 1, seq[p], a, "0|1", "PASS"), ("chr1", p + 6, seq[p + 5], b, "0|1", "PASS")]
    cis = [("chr1", p + 1, seq[p:p + 6], a + seq[p + 1:p + 5] + b, "0/1")]  # both on one haplotype
    trans = [("chr1", p + 1, seq[p:p + 6], a + seq[p + 1:p + 5] + seq[p + 5], "0/1"),
             ("chr1", p + 6, seq[p + 5], b, "0/1")]
    assert counts(run(tmp_path, fasta, truth, cis), "SNP") == (2, 2, 0, 1, 0, 0, 0, 0)
    # unphased query hets may be put in phase with the truth: TP whichever phase the truth has
    (tmp_path / "t2").mkdir()
    assert counts(run(tmp_path / "t2", fasta, truth, trans), "SNP") == (2, 2, 0, 2, 0, 0, 0, 0)
    # a phased query in trans against a phased cis truth: phase is obeyed, so only one SNP of each
    # side can be on matching haplotypes (the largest matching set); the other pair agrees once
    # genotypes are ignored, so it is a genotype error (FP.gt)
    (tmp_path / "t3").mkdir()
    opposite = [("chr1", p + 1, seq[p], a, "0|1"), ("chr1", p + 6, seq[p + 5], b, "1|0")]
    assert counts(run(tmp_path / "t3", fasta, truth, opposite), "SNP") == (2, 1, 1, 2, 1, 0, 1, 0)
    # without phasing the same calls match completely
    from lowcov.benchmark import BenchmarkConfig, MatchConfig

    (tmp_path / "t4").mkdir()
    unphased = run(tmp_path / "t4", fasta, truth, opposite, config=BenchmarkConfig(match=MatchConfig(use_phasing=False)))
    assert counts(unphased, "SNP") == (2, 2, 0, 2, 0, 0, 0, 0)


def test_genotype_errors_count_in_fp_gt(tmp_path, genome):
    seq, fasta = genome
    snp_alt = [c for c in "ACGT" if c != seq[100]][0]
    truth = [("chr1", 101, seq[100], snp_alt, "0/1"), ("chr1", 1000, "GA", "G", "1/1")]
    query = [("chr1", 101, seq[100], snp_alt, "1/1"), ("chr1", 1007, "AA", "A", "0/1")]
    result = run(tmp_path, fasta, truth, query)
    assert counts(result, "SNP") == (1, 0, 1, 1, 1, 0, 1, 0)
    assert counts(result, "INDEL") == (1, 0, 1, 1, 1, 0, 1, 0)


def test_allele_errors_count_in_fp_al(tmp_path, genome):
    seq, fasta = genome
    alt1, alt2 = [c for c in "ACGT" if c != seq[100]][:2]
    truth = [("chr1", 101, seq[100], alt1, "0/1"), ("chr1", 601, seq[600:603], seq[600], "0/1")]
    query = [("chr1", 101, seq[100], alt2, "0/1"), ("chr1", 601, seq[600:604], seq[600], "0/1")]
    result = run(tmp_path, fasta, truth, query)
    assert counts(result, "SNP") == (1, 0, 1, 1, 1, 0, 0, 1)
    assert counts(result, "INDEL") == (1, 0, 1, 1, 1, 0, 0, 1)


def test_false_positive_near_a_true_positive_is_not_an_allele_error(tmp_path, genome):
    seq, fasta = genome
    alt = [c for c in "ACGT" if c != seq[100]][0]
    alt2 = [c for c in "ACGT" if c != seq[105]][0]
    truth = [("chr1", 101, seq[100], alt, "0/1")]
    query = [("chr1", 101, seq[100], alt, "0/1"), ("chr1", 106, seq[105], alt2, "0/1")]
    assert counts(run(tmp_path, fasta, truth, query), "SNP") == (1, 1, 0, 2, 1, 0, 0, 0)


def test_calls_outside_confident_regions_are_unk(tmp_path, genome):
    seq, fasta = genome
    records = random_variants(seq, "chr1", random.Random(5), 40, indel_fraction=0.0)
    inside = [r for r in records if r[1] <= 2000]
    outside = [r for r in records if r[1] > 2000]
    extra_fp = [("chr1", r[1] + 20, seq[r[1] + 19], [c for c in "ACGT" if c != seq[r[1] + 19]][0], "0/1")
                for r in records[:4]]  # FPs 20 bp after the first four truth SNPs (all inside)
    bed = write_bed(tmp_path / "conf.bed", [("chr1", 0, 2000)])
    result = run(tmp_path, fasta, records, records + extra_fp, confident_bed=bed)
    assert all(r[1] <= 2000 for r in extra_fp)
    n_in, n_out = len(inside), len(outside)
    assert counts(result, "SNP") == (n_in, n_in, 0, n_in + n_out + 4, 4, n_out, 0, 0)
    assert result.metric("SNP", "METRIC.Frac_NA") == round(n_out / (n_in + n_out + 4), 6)


def test_pass_row_drops_filtered_calls(tmp_path, genome):
    seq, fasta = genome
    records = random_variants(seq, "chr1", random.Random(8), 20, indel_fraction=0.0)
    query = [r + (("LowQual",) if i % 4 == 0 else ("PASS",)) for i, r in enumerate(records)]
    fp = ("chr1", 3901, seq[3900], [c for c in "ACGT" if c != seq[3900]][0], "0/1", "LowQual")
    n_filtered = sum(1 for q in query if q[5] == "LowQual")
    result = run(tmp_path, fasta, records, query + [fp], filters=["LowQual"])
    assert counts(result, "SNP", "ALL") == (20, 20, 0, 21, 1, 0, 0, 0)
    assert counts(result, "SNP", "PASS") == (20, 20 - n_filtered, n_filtered, 20 - n_filtered, 0, 0, 0, 0)
    from lowcov.benchmark import BenchmarkConfig

    (tmp_path / "po").mkdir()
    pass_only = run(tmp_path / "po", fasta, records, query + [fp], filters=["LowQual"],
                    config=BenchmarkConfig(pass_only=True))
    assert counts(pass_only, "SNP", "ALL") == counts(pass_only, "SNP", "PASS") == \
        (20, 20 - n_filtered, n_filtered, 20 - n_filtered, 0, 0, 0, 0)


def test_stratification_rows(tmp_path, genome):
    seq, fasta = genome
    records = random_variants(seq, "chr1", random.Random(9), 30, indel_fraction=0.0)
    low = write_bed(tmp_path / "low.bed", [("chr1", 0, 1500)])
    query = records[:-3]  # the last three truth SNPs missed (all beyond 1500)
    assert all(r[1] > 1500 for r in records[-3:])
    result = run(tmp_path, fasta, records, query, stratify={"low": low})
    ext = result.extended
    row = ext[(ext["Type"] == "SNP") & (ext["Subset"] == "low") & (ext["Filter"] == "ALL")].iloc[0]
    n_low = sum(1 for r in records if r[1] <= 1500)
    assert (row["TRUTH.TOTAL"], row["TRUTH.TP"], row["QUERY.TOTAL"], row["Subset.Size"]) == (n_low, n_low, n_low, 1500)
    star = ext[(ext["Type"] == "SNP") & (ext["Subset"] == "*") & (ext["Filter"] == "ALL")].iloc[0]
    assert (star["TRUTH.TOTAL"], star["TRUTH.FN"]) == (30, 3)


def test_shuffled_unindexed_query_gives_the_same_result(tmp_path, genome):
    seq, fasta = genome
    records = random_variants(seq, "chr1", random.Random(4), 40)
    truth = write_vcf(tmp_path / "truth.vcf.gz", {"chr1": 4000}, records)
    shuffled = list(records)
    random.Random(1).shuffle(shuffled)
    query = write_vcf(tmp_path / "query.vcf.gz", {"chr1": 4000}, shuffled, sort=False)
    result = compare(truth, query, fasta)
    n_snp = sum(1 for r in records if len(r[2]) == len(r[3]) == 1)
    assert counts(result, "SNP") == (n_snp, n_snp, 0, n_snp, 0, 0, 0, 0)
    n_indel = len(records) - n_snp
    assert counts(result, "INDEL") == (n_indel, n_indel, 0, n_indel, 0, 0, 0, 0)


def test_contig_naming_differences_are_reconciled(tmp_path, genome):
    seq, fasta = genome
    records = random_variants(seq, "chr1", random.Random(6), 20, indel_fraction=0.0)
    renamed = [("1",) + r[1:] for r in records]
    result = run(tmp_path, fasta, records, renamed, query_contigs={"1": 4000})
    assert counts(result, "SNP") == (20, 20, 0, 20, 0, 0, 0, 0)


def test_large_superlocus_falls_back_to_allele_matching(tmp_path, genome, caplog):
    from lowcov.benchmark import BenchmarkConfig, MatchConfig

    seq, fasta = genome
    # 8 SNPs and an indel 3 bases apart: one superlocus; a tiny state budget forces the fallback
    snps = [("chr1", 1500 + 3 * i, seq[1499 + 3 * i], [c for c in "ACGT" if c != seq[1499 + 3 * i]][0], "0/1")
            for i in range(8)]
    indel = ("chr1", 1530, seq[1529:1531], seq[1529], "0/1")
    query = snps[:6] + [indel]
    result = run(tmp_path, fasta, snps + [indel], query,
                 config=BenchmarkConfig(match=MatchConfig(max_states=10)))
    assert counts(result, "SNP") == (8, 6, 2, 6, 0, 0, 0, 0)
    assert counts(result, "INDEL") == (1, 1, 0, 1, 0, 0, 0, 0)
    assert "too many to enumerate" in caplog.text
