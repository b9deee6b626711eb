"""lowcov.benchmark against hap.py's own small test cases (../shared/fixtures/happy).

hap.py's expected CSVs predate FP.al and (some) F1, so only the columns they have are compared,
the way hap.py's own scripts do: counts exactly, metrics and ratios to 3 significant digits, with
'.' and an empty cell both meaning "no value".
"""
from __future__ import annotations

import math

import pandas as pd
import pytest

from lowcov import InputError
from lowcov.benchmark import compare

from benchmark_helpers import counts, happy_fixture


def _value(x) -> float:
    if isinstance(x, str):
        return math.nan if x.strip() in ("", ".", "NaN") else float(x)
    return float(x)


def assert_matches_expected(result, expected_csv) -> None:
    expected = pd.read_csv(expected_csv, dtype=str, keep_default_na=False)
    ours = result.summary
    assert list(ours["Type"] + "/" + ours["Filter"]) == list(expected["Type"] + "/" + expected["Filter"])
    for column in expected.columns[2:]:
        for (_, exp_row), (_, our_row) in zip(expected.iterrows(), ours.iterrows()):
            want, got = _value(exp_row[column]), _value(our_row[column])
            where = f"{exp_row['Type']}/{exp_row['Filter']} {column}"
            if math.isnan(want):
                assert math.isnan(got), f"{where}: expected no value, got {got}"
            else:
                assert f"{got:.3g}" == f"{want:.3g}", f"{where}: expected {want}, got {got}"


@pytest.mark.parametrize("truth, query, reference, bed", [
    ("truth.vcf", "query.vcf", "test.fa", "fp.bed"),  # numeric contig names
    ("chrtruth.vcf", "chrquery.vcf", "chrtest.fa", "chrfp.bed"),  # chr-prefixed names
    ("chrtruth.vcf", "query.vcf", "chrtest.fa", "chrfp.bed"),  # query renamed to the reference's names
])
def test_numeric_chrs(tmp_path, truth, query, reference, bed):
    folder = happy_fixture("numeric_chrs", tmp_path)
    result = compare(folder / truth, folder / query, folder / reference, confident_bed=folder / bed)
    assert_matches_expected(result, folder / "expected.summary.csv")
    assert counts(result, "SNP") == (2, 2, 0, 4, 1, 1, 0, 0)
    assert set(result.summary["Type"]) == {"SNP"}  # no INDEL rows without INDEL observations


def test_numeric_chrs_vcf_body_matches_happy(tmp_path):
    """Decisions per record equal hap.py's expected.vcf (BD, BK, BI, BVT, BLT and Regions)."""
    import pysam

    folder = happy_fixture("numeric_chrs", tmp_path)
    compare(folder / "truth.vcf", folder / "query.vcf", folder / "test.fa", confident_bed=folder / "fp.bed",
            output_prefix=tmp_path / "out")
    ours = [(r.chrom, r.pos, r.ref, r.alts, r.info.get("BS"), r.info.get("Regions"),
             tuple("." if r.samples[s][k] is None else str(r.samples[s][k])
                   for s in ("TRUTH", "QUERY") for k in ("BD", "BK", "BVT", "BLT")))
            for r in pysam.VariantFile(str(tmp_path / "out.vcf.gz"))]
    expected = []
    for line in (folder / "expected.vcf").read_text().splitlines():
        f = line.split("\t")
        info = dict(kv.split("=") for kv in f[7].split(";"))
        samples = [dict(zip(f[8].split(":"), f[i].split(":"))) for i in (9, 10)]
        expected.append((f[0], int(f[1]), f[3], (f[4],), int(info["BS"]),
                         tuple(info["Regions"].split(",")) if "Regions" in info else None,
                         tuple(s[k] for s in samples for k in ("BD", "BK", "BVT", "BLT"))))
    assert ours == expected


def test_fp_region_accuracy(tmp_path):
    """Insertions at confident-region edges (both flanking bases), CONF_VARS, het-alt splitting."""
    folder = happy_fixture("fp_region_accuracy", tmp_path)
    result = compare(folder / "truth.vcf", folder / "query.vcf", folder / "test.fa", confident_bed=folder / "fp.bed",
                     output_prefix=tmp_path / "fp")
    assert_matches_expected(result, folder / "expected.summary.csv")
    assert counts(result, "INDEL") == (3, 3, 0, 3, 0, 1, 0, 0)
    assert counts(result, "SNP") == (1, 1, 0, 6, 4, 1, 0, 0)
    import pysam
    decisions = {(r.pos, r.alts): (r.samples["QUERY"]["BD"], r.info.get("Regions"))
                 for r in pysam.VariantFile(str(tmp_path / "fp.vcf.gz")) if r.samples["QUERY"]["BD"]}
    # the 520 A>ATT,T 2/1 call splits into an SNP FP in CONF and an insertion outside it
    assert decisions[(520, ("T",))][0] == "FP"
    assert decisions[(520, ("ATT",))][0] == "UNK"
    # the 100 insertion is confident only through the truth record's extent (CONF_VARS)
    assert decisions[(100, ("ATT",))][0] == "TP"


def test_fp_region_accuracy_without_conf_adjustment(tmp_path):
    from lowcov.benchmark import BenchmarkConfig

    folder = happy_fixture("fp_region_accuracy", tmp_path)
    result = compare(folder / "truth.vcf", folder / "query.vcf", folder / "test.fa", confident_bed=folder / "fp.bed",
                     config=BenchmarkConfig(adjust_conf_regions=False))
    # without CONF_VARS the 100 insertion (one flanking base in the BED) is outside on both sides
    assert counts(result, "INDEL") == (2, 2, 0, 3, 0, 2, 0, 0)


def test_per_sample_ft(tmp_path):
    folder = happy_fixture("per_sample_ft", tmp_path)
    result = compare(folder / "per_sample_ft_lhs.vcf", folder / "per_sample_ft_rhs.vcf", folder / "chrQ.fa")
    assert counts(result, "SNP", "ALL") == (3, 3, 0, 3, 0, 0, 0, 0)
    assert counts(result, "SNP", "PASS") == (3, 1, 2, 1, 0, 0, 0, 0)
    assert result.metric("SNP", "METRIC.Recall", "PASS") == pytest.approx(0.333333)
    assert result.metric("SNP", "METRIC.Precision", "PASS") == 1.0
    assert result.metric("SNP", "TRUTH.TOTAL.TiTv_ratio", "ALL") == 0.5
    assert result.metric("SNP", "QUERY.TOTAL.TiTv_ratio", "ALL") == 0.5
    assert math.isnan(result.metric("SNP", "QUERY.TOTAL.TiTv_ratio", "PASS"))


def test_haploid_truth_matches_homozygous_query(tmp_path):
    import pysam

    folder = happy_fixture("haploid", tmp_path)
    result = compare(folder / "truth.vcf", folder / "query.vcf", folder / "test.fa", output_prefix=tmp_path / "h")
    assert counts(result, "SNP") == (1, 1, 0, 1, 0, 0, 0, 0)
    (record,) = list(pysam.VariantFile(str(tmp_path / "h.vcf.gz")))
    assert (record.pos, record.ref, record.alts, record.info["BS"]) == (5, "A", ("T",), 5)
    for sample in ("TRUTH", "QUERY"):
        call = record.samples[sample]
        assert (call["GT"], call["BD"], call["BK"], call["BVT"], call["BLT"]) == ((1, 1), "TP", "gm", "SNP", "homalt")


def test_open_indel_records_are_import_failures(tmp_path):
    folder = happy_fixture("open_indel", tmp_path)
    result = compare(folder / "test.vcf", folder / "test_q.vcf", folder / "test.fa")
    assert len(result.import_failures) == 4  # the four truth records with '.' inside REF or ALT
    assert set(result.import_failures["role"]) == {"truth"}
    assert (result.summary[["TRUTH.TOTAL", "QUERY.TOTAL"]] == 0).all().all()


def test_open_indel_faulty_query_fails_cleanly(tmp_path):
    folder = happy_fixture("open_indel", tmp_path)
    with pytest.raises(InputError, match="test_q_failure.vcf"):
        compare(folder / "test.vcf", folder / "test_q_failure.vcf", folder / "test.fa")


def test_pathtraversal_ins_del_pair_is_matched_by_haplotype(tmp_path):
    """The truth has an SNP plus an insertion and a deletion that cancel out; the query has only
    the SNP. hap.py's default engine (xcmp) reports the pair as 2 INDEL FN. Our vcfeval-style
    matcher compares haplotype sequences: with the insertion and the deletion on one haplotype that
    haplotype equals the reference, so the query's haplotypes are identical to the truth's with all
    three variants included, and the largest matching set contains them: 2 INDEL TP (this is what
    vcfeval does too). The deliberate difference from xcmp is asserted here."""
    folder = happy_fixture("pathtraversal", tmp_path)
    result = compare(folder / "test.vcf", folder / "test2.vcf", folder / "test.fa")
    assert counts(result, "SNP") == (1, 1, 0, 1, 0, 0, 0, 0)  # as hap.py
    assert counts(result, "INDEL") == (2, 2, 0, 0, 0, 0, 0, 0)  # hap.py/xcmp: (2, 0, 2, 0, 0, 0, 0)
    expected = pd.read_csv(folder / "expected.summary.csv")
    snp_rows = expected[expected["Type"] == "SNP"]
    assert list(snp_rows["TRUTH.TP"]) == [1, 1] and list(snp_rows["QUERY.TOTAL"]) == [1, 1]


def test_snp_counting_mnp_against_snp(tmp_path):
    """An MNP query (AAAAAA>TATTTT) against one truth SNP inside it: without decomposition the
    haplotypes differ, so 1 FN and 1 FP counted as an allele error (hap.py with -D predicts the same)."""
    folder = happy_fixture("snp_counting", tmp_path)
    assert counts(compare(folder / "truth.vcf", folder / "query.vcf", folder / "test.fa"), "SNP") == \
        (1, 1, 0, 5, 4, 0, 0, 0)
    assert counts(compare(folder / "truth.vcf", folder / "query2.vcf", folder / "test.fa"), "SNP") == \
        (1, 0, 1, 1, 1, 0, 0, 1)
