"""lowcov.bootstrap: block-bootstrap intervals reproduce hap.py's counts and behave as intervals should."""
import random

import numpy as np
import pytest

from benchmark_helpers import random_sequence, write_bed, write_fasta, write_vcf
from lowcov import bootstrap
from lowcov.benchmark import compare


@pytest.fixture
def benchmarks(tmp_path):
    """A 400 kb contig with 300 SNPs and 60 indels; one caller misses a tenth of them and adds false SNPs
    (some FILTERed), a second misses twice as many."""
    rng = random.Random(7)
    seq = random_sequence(400_000, rng)
    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": seq})
    lengths = {"chr1": len(seq)}
    positions = sorted(rng.sample(range(1000, 399_000, 97), 360))
    truth = []
    for n, pos in enumerate(positions):
        ref = seq[pos - 1]
        if n % 6 == 0:  # an insertion
            truth.append(("chr1", pos, ref, ref + "AC", "0/1"))
        else:
            truth.append(("chr1", pos, ref, "ACGT"[("ACGT".index(ref) + 1) % 4], "0/1" if n % 3 else "1/1"))
    truth_vcf = write_vcf(tmp_path / "truth.vcf.gz", lengths, truth)
    bed = write_bed(tmp_path / "conf.bed", [("chr1", 500, 150_000), ("chr1", 160_000, 399_500)])
    false = [("chr1", p, seq[p - 1], "ACGT"[("ACGT".index(seq[p - 1]) + 2) % 4], "0/1",
              "LowQual" if i % 2 else "PASS") for i, p in enumerate(range(2_051, 398_000, 20_011))]

    def caller(name, miss_every):
        kept = [r + ("PASS",) for i, r in enumerate(truth) if i % miss_every]
        records = sorted(kept + false, key=lambda r: r[1])
        vcf = write_vcf(tmp_path / f"{name}.vcf.gz", lengths, records, filters=["LowQual"])
        return compare(truth_vcf, vcf, fasta, confident_bed=bed, output_prefix=tmp_path / name)

    return {"good": caller("good", 10), "worse": caller("worse", 5), "bed": bed}


def test_counts_reproduce_the_summary_rows(benchmarks):
    blocks = bootstrap.Blocks.of_bed(benchmarks["bed"], size=50_000)
    assert len(blocks) == 8  # 500-150,000 and 160,000-399,500 touch blocks 0-2 and 3-7
    for filter_name in ("ALL", "PASS"):
        counts = bootstrap.block_counts(benchmarks["good"], blocks, filter_name).sum(axis=0)
        values = bootstrap.metrics_of(counts)
        for t, variant_type in enumerate(bootstrap.TYPES):
            for metric in bootstrap.METRICS:
                expected = benchmarks["good"].metric(variant_type, metric, filter_name)
                assert values[metric][t] == pytest.approx(expected, abs=1e-6)


def test_intervals_cover_the_estimate_and_detect_a_real_difference(benchmarks):
    blocks = bootstrap.Blocks.of_bed(benchmarks["bed"], size=50_000)
    table = bootstrap.intervals({"Original": benchmarks["good"], "Worse": benchmarks["worse"]}, blocks,
                                resamples=400)
    recall = table[table.Metric == "METRIC.Recall"].set_index(["Model", "Type"])
    for key, row in recall.iterrows():
        assert row.low <= row.estimate <= row.high and row.low < row.high
    snp = recall.loc[("Worse", "SNP")]
    # a tenth more of the SNPs missed: a real drop, seen as one
    assert snp.change == pytest.approx(snp.estimate - recall.loc[("Original", "SNP")].estimate)
    assert snp.change_high < 0 and snp.direction == "lower"
    original = recall.loc[("Original", "SNP")]
    assert original.change == 0 and original.change_low == 0 and original.change_high == 0
    # identical replicates change nothing but the seed count
    replicated = bootstrap.intervals({"Original": benchmarks["good"], "Twice": [benchmarks["good"]] * 2}, blocks,
                                     resamples=400)
    twice = replicated[replicated.Model == "Twice"]
    assert (twice.seeds == 2).all() and (twice.direction == "no detectable change").all()
    assert np.allclose(twice.change_low, 0) and np.allclose(twice.change_high, 0)
    widths = bootstrap.resolution(table)
    assert set(widths) == {"SNP", "INDEL"} and widths["INDEL"] > widths["SNP"] > 0  # fewer indels: wider


def test_the_same_seed_gives_the_same_intervals(benchmarks):
    blocks = bootstrap.Blocks.of_bed(benchmarks["bed"], size=50_000)
    first = bootstrap.intervals({"Original": benchmarks["good"]}, blocks, resamples=200)
    again = bootstrap.intervals({"Original": benchmarks["good"]}, blocks, resamples=200)
    other = bootstrap.intervals({"Original": benchmarks["good"]}, blocks, resamples=200, seed=1)
    assert first.equals(again) and not first.equals(other)


@pytest.mark.parametrize("low, high, word", [(0.001, 0.02, "higher"), (-0.03, -0.0001, "lower"),
                                             (-0.01, 0.01, "no detectable change"), (0.0, 0.01, "no detectable change")])
def test_direction_words_come_from_the_whole_interval(low, high, word):
    assert bootstrap.direction(low, high) == word


def test_a_result_without_observations_is_refused(benchmarks):
    from dataclasses import replace

    blocks = bootstrap.Blocks.of_bed(benchmarks["bed"])
    with pytest.raises(ValueError, match="observations"):
        bootstrap.block_counts(replace(benchmarks["good"], observations=None), blocks)


def test_the_sweep_table_holds_every_coverage_with_its_depth(benchmarks):
    blocks = bootstrap.Blocks.of_bed(benchmarks["bed"], size=50_000)
    table = bootstrap.sweep_intervals({"ds50": {"Original": benchmarks["good"], "Worse": benchmarks["worse"]},
                                       "full": {"Original": benchmarks["good"], "Worse": benchmarks["good"]}},
                                      {"ds50": 15.2, "full": 30.1}, blocks, resamples=200)
    assert set(table.Dataset) == {"ds50", "full"} and set(table.Depth) == {15.2, 30.1}
    worse = table[(table.Model == "Worse") & (table.Metric == "METRIC.Recall") & (table.Type == "SNP")]
    assert list(worse.sort_values("Depth").direction) == ["lower", "no detectable change"]
