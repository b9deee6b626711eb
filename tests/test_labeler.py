"""The haplotype labeller (lowcov.labeler): DeepVariant's labels on real reads and truth VCFs."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import apply_variants, random_sequence, write_fasta, write_pairs, write_truth_vcf
from lowcov.benchmark.regions import RegionSet
from lowcov.labeler import LabelerConfig, TruthRecords, Variant, group_variants, label_partition
from lowcov.make_examples import ExamplesConfig, make_examples
from lowcov.shards import ExampleSet
from lowcov.train import dataset_signature


def _mutate(base: str, shift: int = 1) -> str:
    return "ACGT"[("ACGT".index(base) + shift) % 4]


@pytest.fixture
def rewritten_truth(tmp_path, rng):
    """An 8 kb contig whose truth VCF writes three events differently from how reads show them, and
    30x of error-free read pairs from both haplotypes, aligned.

    * a hom MNP written as one record (reads: two SNPs);
    * a het deletion in a CA repeat plus an SNP three bases after it, written as one complex record
      (reads: a deletion, which lowcov left-aligns, and an SNP);
    * a het deletion in an AG repeat written at the repeat's right end (reads: left-aligned);
    * a plain het SNP.
    """
    from lowcov.align import align_reads

    flank = [random_sequence(rng, 1000) for _ in range(8)]
    # repeats bounded by bases that cannot extend them
    ca_repeat = "G" + "CA" * 6 + "TTG"
    ag_repeat = "C" + "AG" * 5 + "T"
    seq = flank[0] + flank[1] + flank[2] + ca_repeat + flank[3] + ag_repeat + flank[4] + flank[5] + flank[6]
    ca = 3000  # 0-based index of the G before the CA repeat
    ag = 3000 + len(ca_repeat) + 1000
    mnp_at, snp_at = 1500, 5500
    mnp = (mnp_at, seq[mnp_at:mnp_at + 2], _mutate(seq[mnp_at]) + _mutate(seq[mnp_at + 1], 2))
    last_ca = ca + 1 + 10  # the last CA of the repeat
    complex_ref = seq[last_ca - 1:ca + len(ca_repeat)]  # A + CA + TTG
    complex_alt = complex_ref[0] + "TTC"
    assert complex_ref.endswith("CATTG")
    last_ag = ag + 1 + 8
    right_deletion = (last_ag - 1, seq[last_ag - 1:last_ag + 2], seq[last_ag - 1])
    snp = (snp_at, seq[snp_at], _mutate(seq[snp_at], 3))
    hap1 = apply_variants(seq, [mnp, (last_ca - 1, complex_ref, complex_alt), snp])
    hap2 = apply_variants(seq, [mnp, right_deletion])
    records = [("chr1", mnp[0] + 1, mnp[1], mnp[2], "1|1"),
               ("chr1", last_ca, complex_ref, complex_alt, "1|0"),
               ("chr1", right_deletion[0] + 1, right_deletion[1], right_deletion[2], "0|1"),
               ("chr1", snp[0] + 1, snp[1], snp[2], "1|0")]
    genome = {"chr1": seq}
    fasta = write_fasta(tmp_path / "ref.fa", genome)
    truth = write_truth_vcf(tmp_path / "truth.vcf.gz", genome, records)
    bed = tmp_path / "confident.bed"
    bed.write_text(f"chr1\t200\t{len(seq) - 200}\n")
    r1, r2 = tmp_path / "r1.fq.gz", tmp_path / "r2.fq.gz"
    write_pairs(r1, r2, {"hap1": hap1, "hap2": hap2}, 1200, rng)  # the two haplotypes as contigs: ~30x
    bam = align_reads([r1, r2], fasta, tmp_path / "sample.bam", threads=1)
    return {"fasta": fasta, "truth": truth, "bed": bed, "bam": bam, "seq": seq, "records": records,
            "mnp": mnp_at, "ca": ca, "ag": ag, "snp": snp_at}


def _labels(tmp_path, sample, labeler: str) -> tuple[dict, dict]:
    config = ExamplesConfig(mode="training", threads=1, labeler=labeler)
    examples = make_examples(sample["bam"], sample["fasta"], tmp_path / labeler, ["chr1"], config,
                             truth_vcf=sample["truth"], confident_bed=sample["bed"])
    data = examples.load()
    found = {(int(p), r, a): int(l) for p, r, a, l in zip(data.meta["position"], data.meta["ref"], data.meta["alt"],
                                                        data.labels)}
    return found, examples.info


def test_rewritten_truth_is_labelled_by_haplotypes_not_by_allele_lookup(tmp_path, rewritten_truth):
    sample = rewritten_truth
    seq = sample["seq"]
    by_haplotype, info = _labels(tmp_path, sample, "haplotype")
    by_allele, allele_info = _labels(tmp_path, sample, "allele")
    mnp, ca, ag, snp = sample["mnp"], sample["ca"], sample["ag"], sample["snp"]
    mnp_snps = [(mnp + 1, seq[mnp], _mutate(seq[mnp])), (mnp + 2, seq[mnp + 1], _mutate(seq[mnp + 1], 2))]
    ca_deletion = (ca + 1, "GCA", "G")  # left-aligned to the repeat's first CA
    ca_snp = (ca + 16, "G", "C")
    ag_deletion = (ag + 1, "CAG", "C")
    plain_snp = (snp + 1, seq[snp], _mutate(seq[snp], 3))
    assert seq[ca:ca + 3] == "GCA" and seq[ca + 15] == "G" and seq[ag:ag + 3] == "CAG"
    # error-free reads: these six candidates and no others
    assert set(by_haplotype) == set(by_allele) == set(mnp_snps) | {ca_deletion, ca_snp, ag_deletion, plain_snp}
    expected = {mnp_snps[0]: 2, mnp_snps[1]: 2, ca_deletion: 1, ca_snp: 1, ag_deletion: 1, plain_snp: 1}
    assert by_haplotype == expected
    # the allele lookup normalises the right-aligned deletion too, but cannot see an MNP's SNPs or a
    # complex record's deletion and SNP
    assert by_allele == {**expected, mnp_snps[0]: 0, mnp_snps[1]: 0, ca_deletion: 0, ca_snp: 0}
    changes = {"SNP 0>2": 2, "SNP 0>1": 1, "INDEL 0>1": 1}
    assert info["label_changes"] == allele_info["label_changes"] == changes
    assert info["class_counts"] == {"hom_ref": 0, "het": 4, "hom_alt": 2}
    assert allele_info["class_counts"] == {"hom_ref": 4, "het": 2, "hom_alt": 0}


def test_truth_records_follow_deepvariants_filters(tmp_path, rng):
    seq = random_sequence(rng, 3000)
    genome = {"chr1": seq}
    records = [("chr1", p + 1, seq[p], _mutate(seq[p]), gt)
               for p, gt in ((500, "0/1"), (1000, "1/1"), (1500, "0/0"), (2000, "./1"), (2500, "1"))]
    truth = write_truth_vcf(tmp_path / "truth.vcf.gz", genome, records)
    bed = tmp_path / "confident.bed"
    bed.write_text("chr1\t0\t900\nchr1\t1400\t3000\n")
    read = TruthRecords.read(truth, "chr1", 0, 3000, RegionSet.from_bed(bed, "CONF"))
    # 1000 lies outside the confident regions, 1500 is hom-ref, 2000 has a missing allele;
    # a haploid genotype counts as homozygous
    assert [(v.start, v.genotype) for v in read.variants] == [(500, (0, 1)), (2500, (1, 1))]
    assert [v.start for v in read.overlapping(2400, 2501)] == [2500]
    assert read.overlapping(2501, 3000) == []
    assert TruthRecords.read(truth, "chr9", 0, 100).variants == []
    everywhere = TruthRecords.read(truth, "chr1", 0, 3000)
    assert [v.start for v in everywhere.variants] == [500, 1000, 2500]


def test_multiallelic_site_gets_each_alleles_copies(tmp_path, rng):
    seq = random_sequence(rng, 400)
    fetch = lambda _c, s, e: seq[s:e]  # noqa: E731
    a, b = _mutate(seq[200]), _mutate(seq[200], 2)
    het_alt = Variant(200, 201, (None, (200, 201, a), (200, 201, b)), (1, 2))
    # two candidates at one position are labelled as one site: one copy of each allele
    assert label_partition([201, 201], [seq[200]] * 2, [a, b], [het_alt], fetch, "chr1") == [1, 1]
    het = Variant(200, 201, (None, (200, 201, b)), (0, 1))
    assert label_partition([201, 201], [seq[200]] * 2, [a, b], [het], fetch, "chr1") == [0, 1]
    # a candidate the truth lacks stays hom-ref, the truth's hom allele is labelled 2
    hom = Variant(200, 201, (None, (200, 201, a)), (1, 1))
    assert label_partition([201, 251], [seq[200], seq[250]], [a, _mutate(seq[250])], [hom], fetch, "chr1") == [2, 0]


def test_groups_follow_deepvariants_limits():
    def snp(start):
        return Variant(start, start + 1, (None, (start, start + 1, "A")))

    truth = [Variant(100, 101, (None, (100, 101, "A")), (0, 1))]
    # a candidate 30 bases after the truth's end joins it (DeepVariant: start - end + 1 <= 30), 31 does not
    assert group_variants([snp(130)], truth) == [([0], [0])]
    assert group_variants([snp(131)], truth) == [([], [0]), ([0], [])]
    # no more than 8 candidates in a group: the ninth starts the next one
    many = [snp(200 + 2 * i) for i in range(9)]
    assert [len(c) for c, _ in group_variants(many, [])] == [8, 1]
    # the product of genotype counts stays below 100,000 (3^10 = 59,049; 3^11 = 177,147)
    spread = [snp(300 + 2 * i) for i in range(11)]
    wide = LabelerConfig(max_group_size=20)
    assert [len(c) for c, _ in group_variants(spread, [], wide)] == [10, 1]
    # a variant ending no later than the previous one (inside a deletion) joins a full group
    deletion = Variant(214, 230, (None, (215, 230, "")))
    full = [snp(200 + 2 * i) for i in range(7)] + [deletion]
    assert [len(c) for c, _ in group_variants(full + [snp(216)], [])] == [9]
    assert [len(c) for c, _ in group_variants(full + [snp(232)], [])] == [8, 1]


def test_far_representations_and_partitions_are_not_matched(rng):
    """What DeepVariant does not see, lowcov does not either: a truth deletion written more than 30
    bases from the candidate's (a long repeat) labels nothing."""
    seq = random_sequence(rng, 300).replace("A", "C") + "G" + "A" * 40 + "T" + random_sequence(rng, 300)
    fetch = lambda _c, s, e: seq[s:e]  # noqa: E731
    run = 300  # the G before the run of As
    right = Variant(run + 39, run + 41, (None, (run + 40, run + 41, "")), (1, 1))  # the run's last A deleted
    assert label_partition([run + 1], ["GA"], ["G"], [right], fetch, "chr1") == [0]
    near = Variant(run + 19, run + 21, (None, (run + 20, run + 21, "")), (1, 1))
    assert label_partition([run + 1], ["GA"], ["G"], [near], fetch, "chr1") == [2]


def test_label_digest_tells_relabelled_sets_apart(tmp_path, rewritten_truth):
    """Same examples, other labels: example_info.json's labels_sha256 differs, so a stage keyed on it
    (training) can tell; the same labels give the same digest."""
    _, by_haplotype = _labels(tmp_path, rewritten_truth, "haplotype")
    _, by_allele = _labels(tmp_path, rewritten_truth, "allele")
    assert by_haplotype["n_examples"] == by_allele["n_examples"] and by_haplotype["shards"] == by_allele["shards"]
    assert by_haplotype["labels_sha256"] != by_allele["labels_sha256"]
    again = make_examples(rewritten_truth["bam"], rewritten_truth["fasta"], tmp_path / "again", ["chr1"],
                          ExamplesConfig(mode="training", threads=1), truth_vcf=rewritten_truth["truth"],
                          confident_bed=rewritten_truth["bed"])
    assert again.info["labels_sha256"] == by_haplotype["labels_sha256"]
    # training's resume identity follows the labels, not only the geometry and shard names
    signature = {rule: dataset_signature(ExampleSet.open(tmp_path / rule)) for rule in ("haplotype", "allele")}
    assert signature["haplotype"] != signature["allele"]
    assert dataset_signature(again) == signature["haplotype"]
