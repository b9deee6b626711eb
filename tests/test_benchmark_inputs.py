"""Bad and unusual input, outputs, command line, normalisation API and case-study helpers."""
from __future__ import annotations

import gzip
import random
import subprocess
import sys

import pandas as pd
import pysam
import pytest

from lowcov import InputError
from lowcov.benchmark import (CASE_STUDY_COLUMNS, SUMMARY_COLUMNS, compare, normalize, normalize_allele,
                              iter_normalized_alleles)
from lowcov.benchmark import case_study
from lowcov.benchmark.cli import main

from benchmark_helpers import counts, random_sequence, random_variants, write_fasta, write_vcf

LENGTH = 3000


@pytest.fixture
def genome(tmp_path):
    seq = random_sequence(LENGTH, random.Random(3))
    return seq, write_fasta(tmp_path / "ref.fa", {"chr1": seq})


@pytest.fixture
def snps(genome):
    seq, _ = genome
    return random_variants(seq, "chr1", random.Random(2), 20, indel_fraction=0.0)


# -- normalisation API ---------------------------------------------------------------------------

def test_normalize_allele_left_aligns_and_pads():
    ref = "GCAAAAAATCACACAG"

    def fetch(_chrom, start, end):
        return ref[start:end]

    assert normalize_allele(fetch, "c", 8, "AA", "A") == (2, "CA", "C")  # run of A: leftmost
    assert normalize_allele(fetch, "c", 7, "A", "AA") == (2, "C", "CA")
    assert normalize_allele(fetch, "c", 12, "CAC", "C") == (9, "TCA", "T")  # CA repeat unit
    assert normalize_allele(fetch, "c", 1, "GC", "G") == (1, "GC", "G")  # nothing to shift
    assert normalize_allele(fetch, "c", 2, "CAA", "TAA") == (2, "C", "T")  # trimmed SNP
    assert normalize_allele(fetch, "c", 2, "C", "A") == (2, "C", "A")
    allele = normalize(fetch, "c", 8, "AA", "A")
    assert (allele.start, allele.end, allele.inserted, allele.kind) == (2, 3, "", "DEL")


def test_normalize_at_contig_start_pads_on_the_right():
    ref = "AAAC"

    def fetch(_chrom, start, end):
        return ref[start:end]

    assert normalize_allele(fetch, "c", 2, "AA", "A") == (1, "AA", "A")
    assert normalize_allele(fetch, "c", 3, "A", "AA") == (1, "A", "AA")


def test_normalisation_is_independent_of_placement_in_a_repeat():
    rng = random.Random(5)
    for _ in range(50):
        unit = random_sequence(rng.randint(1, 3), rng)
        flank_left = random_sequence(10, rng)
        flank_right = random_sequence(10, rng)
        ref = flank_left + unit * 5 + flank_right

        def fetch(_chrom, start, end, ref=ref):
            return ref[start:end]

        forms = set()
        for k in range(1, 5):  # delete one unit, written after the k-th copy
            pos0 = len(flank_left) + k * len(unit) - 1
            forms.add(normalize_allele(fetch, "c", pos0 + 1, ref[pos0:pos0 + 1 + len(unit)], ref[pos0]))
        assert len(forms) == 1


def test_iter_normalized_alleles_splits_multiallelic_records(tmp_path, genome):
    seq, fasta = genome
    p = 100
    alts = [c for c in "ACGT" if c != seq[p]][:2]
    vcf = write_vcf(tmp_path / "m.vcf.gz", {"chr1": LENGTH}, [("chr1", p + 1, seq[p], ",".join(alts), "1/2")])
    with pysam.FastaFile(str(fasta)) as fa:
        records = list(iter_normalized_alleles(vcf, fa.fetch))
    assert [(r.allele.pos, r.allele.alt, r.allele_copies) for r in records] == [(p + 1, alts[0], 1), (p + 1, alts[1], 1)]


# -- bad input ----------------------------------------------------------------------------------

def test_plain_and_unindexed_vcfs_are_read(tmp_path, genome, snps):
    _, fasta = genome
    truth = write_vcf(tmp_path / "truth.vcf", {"chr1": LENGTH}, snps, bgzip=False)
    query = write_vcf(tmp_path / "query.vcf.gz", {"chr1": LENGTH}, list(reversed(snps)), sort=False)
    assert not (tmp_path / "query.vcf.gz.tbi").exists()
    assert counts(compare(truth, query, fasta), "SNP") == (20, 20, 0, 20, 0, 0, 0, 0)


def test_gzip_that_is_not_bgzip_is_refused(tmp_path, genome, snps):
    _, fasta = genome
    plain = write_vcf(tmp_path / "q.vcf", {"chr1": LENGTH}, snps, bgzip=False)
    with open(plain, "rb") as src, gzip.open(tmp_path / "q.vcf.gz", "wb") as dst:
        dst.write(src.read())
    with pytest.raises(InputError, match="not bgzip"):
        compare(plain, tmp_path / "q.vcf.gz", fasta)


def test_contig_missing_from_reference_is_refused(tmp_path, genome, snps):
    _, fasta = genome
    truth = write_vcf(tmp_path / "truth.vcf.gz", {"chr1": LENGTH}, snps)
    query = write_vcf(tmp_path / "query.vcf.gz", {"chr1": LENGTH, "chrZ": 500},
                      snps + [("chrZ", 10, "A", "C", "0/1")])
    with pytest.raises(InputError, match=r"chrZ.*query\.vcf\.gz"):
        compare(truth, query, fasta)


def test_ref_disagreeing_with_reference_is_counted_not_dropped(tmp_path, genome, snps):
    seq, fasta = genome
    p = 2500  # not among the SNP sites (spacing 60 from 10)
    wrong = [c for c in "ACGT" if c != seq[p]][0]
    alt = [c for c in "ACGT" if c not in (seq[p], wrong)][0]
    truth = write_vcf(tmp_path / "truth.vcf.gz", {"chr1": LENGTH}, snps)
    query = write_vcf(tmp_path / "query.vcf.gz", {"chr1": LENGTH}, snps + [("chr1", p + 1, wrong, alt, "0/1")])
    result = compare(truth, query, fasta, output_prefix=tmp_path / "out")
    assert counts(result, "SNP") == (20, 20, 0, 20, 0, 0, 0, 0)
    assert len(result.import_failures) == 1
    failure = result.import_failures.iloc[0]
    assert (failure["role"], failure["pos"], failure["reason"].startswith("REF does not match")) == ("query", p + 1, True)
    flagged = [r for r in pysam.VariantFile(str(tmp_path / "out.vcf.gz")) if "IMPORT_FAIL" in r.info]
    assert [(r.pos, r.samples["QUERY"]["BD"]) for r in flagged] == [(p + 1, "N")]


def test_vcf_from_another_build_is_refused(tmp_path, genome):
    seq, fasta = genome
    records = [("chr1", p + 1, [c for c in "ACGT" if c != seq[p]][0], seq[p], "0/1") for p in range(100, 1300, 60)]
    vcf = write_vcf(tmp_path / "t.vcf.gz", {"chr1": LENGTH}, records)
    with pytest.raises(InputError, match="different reference build"):
        compare(vcf, vcf, fasta)


def test_malformed_gt_is_refused(tmp_path, genome, snps):
    _, fasta = genome
    truth = write_vcf(tmp_path / "truth.vcf.gz", {"chr1": LENGTH}, snps)
    bad = list(snps)
    bad[3] = bad[3][:4] + ("0/x",)
    query = write_vcf(tmp_path / "query.vcf", {"chr1": LENGTH}, bad, bgzip=False)
    with pytest.raises(InputError, match=r"query\.vcf.*cannot parse"):
        compare(truth, query, fasta)


def test_gt_naming_a_missing_allele_is_refused(tmp_path, genome, snps):
    _, fasta = genome
    bad = list(snps)
    bad[0] = bad[0][:4] + ("0/2",)
    truth = write_vcf(tmp_path / "truth.vcf", {"chr1": LENGTH}, bad, bgzip=False)
    with pytest.raises(InputError, match=r"truth\.vcf.*GT allele '2'"):
        compare(truth, truth, fasta)


def test_empty_query_gives_a_table_of_zeros(tmp_path, genome, snps):
    _, fasta = genome
    truth = write_vcf(tmp_path / "truth.vcf.gz", {"chr1": LENGTH}, snps)
    query = write_vcf(tmp_path / "query.vcf.gz", {"chr1": LENGTH}, [])
    result = compare(truth, query, fasta, output_prefix=tmp_path / "empty")
    assert counts(result, "SNP") == (20, 0, 20, 0, 0, 0, 0, 0)
    assert counts(result, "SNP", "PASS") == (20, 0, 20, 0, 0, 0, 0, 0)
    assert result.metric("SNP", "METRIC.Recall") == 0.0 and result.metric("SNP", "METRIC.Precision") == 0.0
    assert list(pd.read_csv(tmp_path / "empty.summary.csv").columns) == SUMMARY_COLUMNS


def test_both_empty_gives_all_rows_with_zero_counts(tmp_path, genome):
    _, fasta = genome
    empty = write_vcf(tmp_path / "e.vcf.gz", {"chr1": LENGTH}, [])
    result = compare(empty, empty, fasta)
    assert list(result.summary["Type"] + "/" + result.summary["Filter"]) == \
        ["INDEL/ALL", "INDEL/PASS", "SNP/ALL", "SNP/PASS"]
    assert (result.summary[["TRUTH.TOTAL", "QUERY.TOTAL", "QUERY.FP"]] == 0).all().all()


def test_filtered_truth_records_are_skipped_and_reported(tmp_path, genome, snps):
    _, fasta = genome
    truth_records = [r + (("LowQual",) if i < 2 else ("PASS",)) for i, r in enumerate(snps)]
    truth = write_vcf(tmp_path / "t.vcf.gz", {"chr1": LENGTH}, truth_records, filters=["LowQual"])
    query = write_vcf(tmp_path / "q.vcf.gz", {"chr1": LENGTH}, snps)
    result = compare(truth, query, fasta)
    assert counts(result, "SNP") == (18, 18, 0, 20, 2, 0, 0, 0)
    assert result.skipped["truth"]["filtered (FILTER/FT not PASS)"] == 2


# -- outputs and command line --------------------------------------------------------------------

def test_outputs_are_written_and_readable(tmp_path, genome):
    seq, fasta = genome
    records = random_variants(seq, "chr1", random.Random(7), 30)
    truth = write_vcf(tmp_path / "truth.vcf.gz", {"chr1": LENGTH}, records)
    query = write_vcf(tmp_path / "query.vcf.gz", {"chr1": LENGTH}, records[:-2])
    result = compare(truth, query, fasta, output_prefix=tmp_path / "run" / "bench")
    out = tmp_path / "run"
    assert sorted(p.name for p in out.iterdir()) == [
        "bench.extended.csv", "bench.summary.csv", "bench.vcf.gz", "bench.vcf.gz.tbi"]
    summary = pd.read_csv(out / "bench.summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert summary["TRUTH.TOTAL"].sum() == 2 * 30  # ALL + PASS rows
    decisions = [r.samples["TRUTH"]["BD"] for r in pysam.VariantFile(str(out / "bench.vcf.gz")) if
                 r.samples["TRUTH"]["BD"]]
    assert sorted(decisions) == ["FN"] * 2 + ["TP"] * 28
    with pysam.VariantFile(str(out / "bench.vcf.gz")) as vcf:
        assert len(list(vcf.fetch("chr1", 0, LENGTH))) == 30  # tabix index works; pairs share a row
    assert result.outputs["vcf"] == out / "bench.vcf.gz"


def test_cli_main(tmp_path, genome, snps, capsys):
    _, fasta = genome
    truth = write_vcf(tmp_path / "truth.vcf.gz", {"chr1": LENGTH}, snps)
    bed = tmp_path / "conf.bed"
    bed.write_text(f"chr1\t0\t{LENGTH}\n")
    assert main([str(truth), str(truth), "-r", str(fasta), "-f", str(bed), "--stratify", f"all={bed}",
                 "-o", str(tmp_path / "cli")]) == 0
    assert "METRIC.F1_Score" in capsys.readouterr().out
    extended = pd.read_csv(tmp_path / "cli.extended.csv")
    assert set(extended["Subset"]) == {"*", "TS_contained", "TS_boundary", "all"}
    assert main([str(truth), str(tmp_path / "missing.vcf.gz"), "-r", str(fasta), "-o", str(tmp_path / "x")]) == 2
    assert "missing.vcf.gz" in capsys.readouterr().err
    assert main([str(truth), str(truth), "-r", str(fasta), "--stratify", "nobed", "-o", str(tmp_path / "y")]) == 2


def test_python_dash_m(tmp_path, genome, snps):
    _, fasta = genome
    truth = write_vcf(tmp_path / "truth.vcf.gz", {"chr1": LENGTH}, snps)
    done = subprocess.run([sys.executable, "-m", "lowcov.benchmark", str(truth), str(truth), "-r", str(fasta),
                           "-o", str(tmp_path / "m"), "-q"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.summary.csv").exists()


# -- case study ----------------------------------------------------------------------------------

def test_case_study_tables_and_side_by_side(tmp_path, genome, snps):
    table = case_study.published_table("v2")
    assert list(table.columns) == CASE_STUDY_COLUMNS
    assert table.loc[(table["Type"] == "INDEL") & (table["Filter"] == "PASS"), "METRIC.F1_Score"].item() == 0.731358
    assert table.loc[table["Type"] == "SNP", "TRUTH.TOTAL"].tolist() == [247102, 247102]
    _, fasta = genome
    truth = write_vcf(tmp_path / "truth.vcf.gz", {"chr1": LENGTH}, snps)
    ours = compare(truth, truth, fasta)
    frame = case_study.side_by_side("quick_test_downsampled", ours)
    snp_all = frame[(frame["Type"] == "SNP") & (frame["Filter"] == "ALL")]
    assert snp_all["Source"].tolist() == ["case study", "lowcov"]
    assert snp_all["TRUTH.TOTAL"].tolist() == [247102, 20]
    assert list(ours.case_study_table().columns) == CASE_STUDY_COLUMNS
    metrics = case_study.key_metrics({"v1": ours})
    v1_snp = metrics[(metrics["Model"] == "V1 Fine-Tuned") & (metrics["Type"] == "SNP")]
    assert v1_snp["METRIC.Recall"].tolist() == [0.870236, 1.0]
    assert len(case_study.key_metrics(section="Quick Tests")) == 4
    with pytest.raises(KeyError):
        case_study.published_table("v3")
