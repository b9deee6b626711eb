from dataclasses import replace

import numpy as np
import pytest

from lowcov import InputError
from lowcov.make_examples import ExamplesConfig, make_examples
from lowcov.pileup import PileupConfig
from lowcov.shards import ExampleSet


def test_training_examples_label_the_planted_variants(tmp_path, diploid_sample):
    config = ExamplesConfig(mode="training", threads=1, region_size=7000, examples_per_shard=3)
    examples = make_examples(diploid_sample["bam"], diploid_sample["fasta"], tmp_path / "ex", ["chr1"], config,
                             truth_vcf=diploid_sample["truth"], confident_bed=diploid_sample["bed"])
    data = examples.load()
    found = {(int(p), r, a): int(l) for p, r, a, l in zip(data.meta["position"], data.meta["ref"],
                                                        data.meta["alt"], data.labels)}
    expected = {(pos, ref, alt): gt.count("1") for _, pos, ref, alt, gt in diploid_sample["records"]}
    assert found == expected  # error-free reads: the planted variants and nothing else
    assert data.images.shape == (4, 100, 221, 8)
    # insert_size: the reference rows 254, read rows the fragment length of ~300 bp pairs
    insert = data.images[..., 6]
    assert (insert[:, :5][data.images[:, :5, :, 0] > 0] == 254).all()
    read_pixels = insert[:, 5:][data.images[:, 5:, :, 0] > 0]
    assert 40 < np.median(read_pixels) < 120
    info = examples.info
    assert info["class_counts"] == {"hom_ref": 0, "het": 2, "hom_alt": 2}
    assert len(info["shards"]) == 2 and info["channels"][0] == "read_base"


def test_pileup_encodes_reference_reads_and_support(tmp_path, diploid_sample):
    config = ExamplesConfig(mode="calling", threads=1)
    examples = make_examples(diploid_sample["bam"], diploid_sample["fasta"], tmp_path / "ex", ["chr1"], config)
    data = examples.load()
    assert (data.labels == -1).all()
    order = np.argsort(data.meta["position"])
    het_snp = data.images[order[0]]  # the het SNP at 5000
    centre = 110
    ref_rows = het_snp[:5, centre]
    assert (ref_rows[:, 1] == 254).all() and (ref_rows[:, 4] == 152).all()
    reads = het_snp[5:]
    covered = reads[:, centre, 0] > 0
    supports = reads[covered, centre, 4]
    assert set(np.unique(supports)) == {152, 254}
    fraction = (supports == 254).mean()
    assert 0.3 < fraction < 0.7  # one haplotype of two
    # the supporting reads show the alt base, which differs from the reference
    assert (reads[covered][supports == 254, centre, 5] == 254).all()
    assert (reads[covered][supports == 152, centre, 5] == 50).all()
    hom_insertion = data.images[order[3]][5:]
    covered = hom_insertion[:, centre, 2] > 0  # mapping quality is drawn wherever a read covers
    assert covered.sum() > 20
    assert (hom_insertion[covered, centre, 4] == 254).mean() > 0.9
    # the insertion's anchor base is drawn as 0 in the read-base channel, as DeepVariant does
    assert (hom_insertion[covered, centre, 0] == 0).mean() > 0.9


def test_examples_are_deterministic_and_reused(tmp_path, diploid_sample):
    config = ExamplesConfig(mode="training", threads=2, region_size=5000, examples_per_shard=2, seed=7)
    args = (diploid_sample["bam"], diploid_sample["fasta"])
    kwargs = dict(truth_vcf=diploid_sample["truth"], confident_bed=diploid_sample["bed"])
    one_worker = replace(config, threads=1)
    a = make_examples(*args, tmp_path / "a", ["chr1"], config, **kwargs).load()
    b = make_examples(*args, tmp_path / "b", ["chr1"], one_worker, **kwargs).load()
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    mtime = (tmp_path / "a" / "example_info.json").stat().st_mtime_ns
    make_examples(*args, tmp_path / "a", ["chr1"], config, **kwargs)
    # the number of workers is not part of the set's identity: the same bytes, so a re-run reuses them
    make_examples(*args, tmp_path / "a", ["chr1"], one_worker, **kwargs)
    assert (tmp_path / "a" / "example_info.json").stat().st_mtime_ns == mtime
    make_examples(*args, tmp_path / "a", ["chr1"], replace(one_worker, seed=8), **kwargs)
    assert (tmp_path / "a" / "example_info.json").stat().st_mtime_ns != mtime  # another seed: made again


def test_examples_are_made_again_when_the_code_that_labels_them_changes(tmp_path, diploid_sample, monkeypatch):
    from lowcov import manifest

    config = ExamplesConfig(mode="training", threads=1, region_size=20000, seed=7)
    args = (diploid_sample["bam"], diploid_sample["fasta"], tmp_path / "a", ["chr1"], config)
    kwargs = dict(truth_vcf=diploid_sample["truth"], confident_bed=diploid_sample["bed"])
    make_examples(*args, **kwargs)
    info = tmp_path / "a" / "example_info.json"
    mtime = info.stat().st_mtime_ns
    make_examples(*args, **kwargs)
    assert info.stat().st_mtime_ns == mtime  # same code: reused
    digest = manifest.code_digest
    # as after an edit of a module make_examples imports (a label rule in lowcov.normalize, say)
    monkeypatch.setattr(manifest, "code_digest", lambda module: "edited " + digest(module))
    make_examples(*args, **kwargs)
    assert info.stat().st_mtime_ns != mtime


def test_the_shuffle_moves_each_training_image_unchanged(tmp_path, diploid_sample):
    # the shuffle reorders deflated pieces: every shuffled image must be the one drawn in genomic order
    args = (diploid_sample["bam"], diploid_sample["fasta"])
    kwargs = dict(truth_vcf=diploid_sample["truth"], confident_bed=diploid_sample["bed"])
    shuffled = make_examples(*args, tmp_path / "t", ["chr1"],
                             ExamplesConfig(mode="training", threads=1, region_size=5000, examples_per_shard=2),
                             **kwargs).load()
    in_order = make_examples(*args, tmp_path / "c", ["chr1"], ExamplesConfig(mode="calling", threads=1), **kwargs).load()
    at = {(int(p), a): i for i, (p, a) in enumerate(zip(in_order.meta["position"], in_order.meta["alt"]))}
    for image, position, alt in zip(shuffled.images, shuffled.meta["position"], shuffled.meta["alt"]):
        assert np.array_equal(image, in_order.images[at[int(position), alt]])
    assert len(shuffled) == 4 and shuffled.meta["position"].tolist() != sorted(shuffled.meta["position"].tolist())


def test_confident_regions_restrict_training_examples(tmp_path, diploid_sample):
    bed = tmp_path / "narrow.bed"
    bed.write_text("chr1\t4000\t9000\n")
    examples = make_examples(diploid_sample["bam"], diploid_sample["fasta"], tmp_path / "ex", ["chr1"],
                             ExamplesConfig(threads=1), truth_vcf=diploid_sample["truth"], confident_bed=bed)
    assert sorted(examples.load().meta["position"].tolist()) == [5000, 8000]


def test_bad_inputs_are_named(tmp_path, diploid_sample):
    args = (diploid_sample["bam"], diploid_sample["fasta"], tmp_path / "ex")
    with pytest.raises(InputError, match="chr7"):
        make_examples(*args, ["chr7"], ExamplesConfig(mode="calling"))
    with pytest.raises(InputError, match="excluded"):
        make_examples(*args, ["chr1"], ExamplesConfig(), truth_vcf=diploid_sample["truth"], exclude_contigs=["chr1"])
    with pytest.raises(InputError, match="truth VCF"):
        make_examples(*args, ["chr1"], ExamplesConfig(mode="training"))
    with pytest.raises(ValueError, match="odd"):
        PileupConfig(width=220)
    with pytest.raises(InputError, match="not a complete example set"):
        ExampleSet.open(tmp_path / "nothing")


def test_shards_are_numbered_without_gaps(tmp_path, diploid_sample):
    # one shard per example asked for: the seeded spread leaves some shards empty, which must not show
    config = ExamplesConfig(mode="training", threads=1, examples_per_shard=1, seed=3)
    examples = make_examples(diploid_sample["bam"], diploid_sample["fasta"], tmp_path / "ex", ["chr1"], config,
                             truth_vcf=diploid_sample["truth"], confident_bed=diploid_sample["bed"])
    shards = examples.info["shards"]
    assert shards == [f"shard-{i:05d}-of-{len(shards):05d}.npz" for i in range(len(shards))]
    assert sorted(p.name for p in (tmp_path / "ex").glob("shard-*")) == shards
    assert len(shards) < 4 and sum(len(s) for s in examples.iter_shards()) == 4  # seed 3 leaves one empty


def test_indel_emphasis_copies_the_low_coverage_indel_examples_only(tmp_path, diploid_sample):
    from collections import Counter

    from lowcov.make_examples import IndelEmphasis

    args = (diploid_sample["bam"], diploid_sample["fasta"])
    kwargs = dict(truth_vcf=diploid_sample["truth"], confident_bed=diploid_sample["bed"])
    plain = ExamplesConfig(mode="training", threads=1, read_fractions=(1.0, 0.5), seed=7)
    emphasised = replace(plain, indel_emphasis=IndelEmphasis(copies=2, max_fraction=0.5))

    def counts(config, name):
        data = make_examples(*args, tmp_path / name, ["chr1"], config, **kwargs).load()
        return Counter(zip(data.meta["position"].tolist(), data.meta["ref"].tolist(), data.meta["alt"].tolist(),
                           data.labels.tolist())), data

    before, _ = counts(plain, "plain")
    after, data = counts(emphasised, "emphasised")
    assert sum(before.values()) == 8  # four planted variants at each of the two fractions
    for (pos, ref, alt, label), n in before.items():
        # a copy at 0.5 is the example itself, twice more; SNPs and the 1.0 examples are untouched
        assert after[(pos, ref, alt, label)] == (n + 2 if len(ref) != len(alt) else n)
    indel = data.meta["position"] == diploid_sample["records"][2][1]
    assert len({data.images[i].tobytes() for i in np.flatnonzero(indel)}) == 2  # one image per fraction

    rule = IndelEmphasis(copies=1, max_fraction=0.5, variants_only=True)
    assert [rule.copies_of(True, 0, 0.3), rule.copies_of(True, 1, 0.3), rule.copies_of(True, 2, 0.75),
            rule.copies_of(False, 1, 0.3)] == [0, 1, 0, 0]
    with pytest.raises(ValueError, match="copies"):
        IndelEmphasis(copies=0)


def test_a_fraction_listed_twice_is_another_subset_of_the_reads(tmp_path, diploid_sample):
    args = (diploid_sample["bam"], diploid_sample["fasta"])
    kwargs = dict(truth_vcf=diploid_sample["truth"], confident_bed=diploid_sample["bed"])

    def images_by_site(fractions, name):
        config = ExamplesConfig(mode="training", threads=1, read_fractions=fractions, seed=7)
        examples = make_examples(*args, tmp_path / name, ["chr1"], config, **kwargs)
        data = examples.load()
        by_site: dict = {}
        for position, image in zip(data.meta["position"].tolist(), data.images):
            by_site.setdefault(position, set()).add(image.tobytes())
        return examples, by_site

    once, single = images_by_site((0.5,), "once")
    twice, double = images_by_site((0.5, 0.5), "twice")
    assert len(twice) == 2 * len(once)
    # the first copy is the same subset as before; the second is another one, so images differ at every site
    assert all(single[site] <= double[site] and len(double[site]) == 2 for site in single)
    assert [r["replicate"] for r in twice.info["regions"]] == [0, 1]
    with pytest.raises(ValueError, match="1.0 more than once"):
        ExamplesConfig(read_fractions=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        ExamplesConfig(read_fractions=(0.5, 0.0))
