"""Allele-pair images of multi-allelic sites and DeepVariant's rule combining their predictions."""
import numpy as np
import pysam

from lowcov.make_examples import ExamplesConfig, make_examples
from lowcov.pileup import NOT_SUPPORTS, OTHER_ALT_SUPPORTS, PileupConfig
from lowcov.postprocess_variants import _site_records

from conftest import random_sequence, write_fasta, write_truth_vcf

SITE = 1000  # 0-based; hap 1 carries C there, hap 2 G (a 1|2 site)


def _het_alt_sample(tmp_path, rng):
    seq = random_sequence(rng, 2000)
    ref_base = seq[SITE]
    first, second = [b for b in "ACGT" if b != ref_base][:2]
    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": seq})
    truth = write_truth_vcf(tmp_path / "truth.vcf.gz", {"chr1": seq},
                            [("chr1", SITE + 1, ref_base, f"{first},{second}", "1|2")])
    bed = tmp_path / "confident.bed"
    bed.write_text("chr1\t500\t1500\n")
    header = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6", "SO": "coordinate"},
                                              "SQ": [{"SN": "chr1", "LN": len(seq)}]})
    haps = [seq[:SITE] + base + seq[SITE + 1:] for base in (first, second)]
    path = tmp_path / "reads.bam"
    with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
        for k, start in enumerate(range(910, 1000, 9)):
            rec = pysam.AlignedSegment(header)
            rec.query_name, rec.reference_id, rec.reference_start, rec.mapping_quality = f"r{k}", 0, start, 60
            rec.cigarstring, rec.query_sequence = "100M", haps[k % 2][start:start + 100]
            rec.query_qualities = [35] * 100
            bam.write(rec)
    pysam.index(str(path))
    return {"fasta": fasta, "truth": truth, "bed": bed, "bam": path, "alleles": (ref_base, first, second)}


def test_a_het_alt_site_gets_each_allele_and_the_pair_labelled_as_deepvariant_does(tmp_path, rng):
    sample = _het_alt_sample(tmp_path, rng)
    ref_base, first, second = sample["alleles"]
    config = ExamplesConfig(mode="training", threads=1, allele_pairs=True)
    data = make_examples(sample["bam"], sample["fasta"], tmp_path / "ex", ["chr1"], config,
                         truth_vcf=sample["truth"], confident_bed=sample["bed"]).load()
    found = {str(a): int(label) for a, label in zip(data.meta["alt"], data.labels)}
    assert found == {first: 1, second: 1, f"{first},{second}": 2}
    support = {str(a): (image[5:, 110, 4] == 254).sum() for a, image in zip(data.meta["alt"], data.images)}
    covering = (data.images[0][5:, 110, 0] > 0).sum()
    assert support[first] + support[second] == covering == support[f"{first},{second}"] == 10
    unpaired = make_examples(sample["bam"], sample["fasta"], tmp_path / "single", ["chr1"],
                             ExamplesConfig(mode="training", threads=1),  # the default: no pair images
                             truth_vcf=sample["truth"], confident_bed=sample["bed"]).load()
    assert sorted(unpaired.meta["alt"].tolist()) == sorted([first, second])


def test_reads_of_the_other_alt_are_drawn_as_deepvariants_add_supporting_other_alt_color_draws_them(tmp_path, rng):
    sample = _het_alt_sample(tmp_path, rng)
    ref_base, first, second = sample["alleles"]
    images = {}
    for name, other in (("default", NOT_SUPPORTS), ("flag", OTHER_ALT_SUPPORTS)):
        config = ExamplesConfig(mode="training", threads=1, allele_pairs=True,
                                pileup=PileupConfig(other_alt_support=other))
        data = make_examples(sample["bam"], sample["fasta"], tmp_path / name, ["chr1"], config,
                             truth_vcf=sample["truth"], confident_bed=sample["bed"]).load()
        images[name] = {str(a): image[5:15, 110] for a, image in zip(data.meta["alt"], data.images)}
    for alt, other_alt in ((first, second), (second, first)):
        base_pixel = {b: p for b, p in zip("ACGT", (250, 30, 180, 100))}
        carries_other = images["flag"][alt][:, 0] == base_pixel[other_alt]
        assert carries_other.sum() == 5
        # DeepVariant's default: the other alt's reads look like reads without the allele (152)
        assert set(images["default"][alt][carries_other, 4]) == {NOT_SUPPORTS}
        assert set(images["flag"][alt][carries_other, 4]) == {76}
        assert set(images["flag"][alt][~carries_other, 4]) == {254}
    # a pair image asks about both alleles: every read supports it either way
    assert set(images["flag"][f"{first},{second}"][:, 4]) == {254}


def _meta(alts):
    n = len(alts)
    return {"ref": np.array(["A"] * n), "alt": np.array(alts), "depth": np.full(n, 20), "alt_count": np.full(n, 8)}


def test_pair_predictions_combine_with_the_smallest_probability_per_genotype():
    a, b, pair = [0.05, 0.9, 0.05], [0.6, 0.35, 0.05], [0.05, 0.05, 0.9]
    site = _site_records([0, 1, 2], np.array([a, b, pair]), _meta(["C", "G", "C,G"]))
    # DeepVariant's rule: P(1/2) comes from the pair image alone, every other genotype is capped by it
    assert site["gt"] == (1, 2) and site["alts"] == ["C", "G"]
    assert np.allclose(site["gp"], np.array([0.05, 0.05, 0.05, 0.05, 0.9, 0.05]) / 1.15)
    # without the pair image the per-allele products call the first allele only
    assert _site_records([0, 1], np.array([a, b]), _meta(["C", "G"]))["gt"] == (0, 1)


def test_alleles_below_the_multi_allelic_qual_filter_are_pruned():
    a, weak, pair = [0.05, 0.9, 0.05], [0.9, 0.08, 0.02], [0.1, 0.1, 0.8]  # weak: QUAL 0.46 < 1
    site = _site_records([0, 1, 2], np.array([a, weak, pair]), _meta(["C", "G", "C,G"]))
    assert site["alts"] == ["C"] and site["gt"] == (0, 1) and np.allclose(site["gp"], a)
