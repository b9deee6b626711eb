import numpy as np
import pysam
import pysam.bcftools

from lowcov.call_variants import CallConfig
from lowcov.postprocess_variants import write_vcf


def test_postprocess_writes_genotypes_qualities_and_filters(tmp_path, small_genome):
    fasta, genome = small_genome
    seq = genome["chr1"]
    alt = lambda b: "ACGT"[("ACGT".index(b) + 1) % 4]  # noqa: E731
    meta = {
        "contig": np.array(["chr1", "chr1", "chr2", "chr1", "chr1"]),
        "position": np.array([500, 100, 50, 900, 900]),
        "ref": np.array([seq[499], seq[99], genome["chr2"][49], seq[899] + seq[900], seq[899]]),
        "alt": np.array([alt(seq[499]), alt(seq[99]), alt(genome["chr2"][49]), seq[899], alt(seq[899])]),
        "alt_count": np.array([10, 1, 9, 6, 5]),
        "depth": np.array([20, 30, 18, 25, 25]),
    }
    probs = np.array([[0.01, 0.98, 0.01],   # confident het
                      [0.999, 0.0005, 0.0005],  # hom-ref -> RefCall
                      [0.55, 0.05, 0.40],    # ref most likely -> RefCall
                      [0.02, 0.96, 0.02],    # het deletion ...
                      [0.03, 0.95, 0.02]])   # ... and het SNP at the same position -> 1/2
    out = write_vcf(probs, meta, fasta, tmp_path / "calls.vcf.gz", "S1", "model.pt", CallConfig(min_qual=20))
    assert (tmp_path / "calls.vcf.gz.tbi").exists()
    with pysam.VariantFile(str(out)) as vcf:
        records = list(vcf)
        assert "lowcov_model" in str(vcf.header)
    assert [(r.chrom, r.pos) for r in records] == [("chr1", 100), ("chr1", 500), ("chr1", 900), ("chr2", 50)]
    refcall, het, multi, low = records
    assert list(refcall.filter) == ["RefCall"] and refcall.samples["S1"]["GT"] == (0, 0)
    assert list(het.filter) == ["PASS"] and het.samples["S1"]["GT"] == (0, 1)
    assert het.samples["S1"]["GQ"] == 17  # -10 log10(0.02)
    assert abs(het.qual - 20.0) < 1e-3     # -10 log10(0.01)
    assert het.samples["S1"]["PL"][1] == 0 and het.samples["S1"]["AD"] == (10, 10)
    assert multi.samples["S1"]["GT"] == (1, 2) and len(multi.samples["S1"]["PL"]) == 6
    assert multi.ref == seq[899] + seq[900] and set(multi.alts) == {seq[899], alt(seq[899]) + seq[900]}
    assert list(low.filter) == ["RefCall"]
    # bcftools reads it without complaint
    text = pysam.bcftools.view(str(out), "-H")
    assert len(text.strip().splitlines()) == 4


def test_identical_weights_are_predicted_once_and_each_vcf_names_its_checkpoint(tmp_path, small_genome):
    import torch

    from lowcov.call_variants import call_variants
    from lowcov.batchnorm import weights_digest
    from lowcov.model import DEFAULT_CHANNELS, build_model, save_checkpoint
    from lowcov.shards import shard_name, write_info, write_shard

    fasta, genome = small_genome
    rng = np.random.default_rng(3)
    n, height, width = 24, 20, 31
    positions = np.sort(rng.choice(np.arange(100, 1500), n, replace=False))
    seq = genome["chr1"]
    meta = {"contig": np.array(["chr1"] * n), "position": positions,
            "ref": np.array([seq[p - 1] for p in positions]),
            "alt": np.array(["ACGT"[("ACGT".index(seq[p - 1]) + 1) % 4] for p in positions]),
            "alt_count": rng.integers(1, 10, n), "depth": rng.integers(10, 20, n)}
    images = rng.integers(0, 255, (n, height, width, len(DEFAULT_CHANNELS)), dtype=np.uint8)
    examples = tmp_path / "examples"
    examples.mkdir()
    write_shard(examples / shard_name(0, 1), images, np.full(n, -1, np.int8), meta)
    write_info(examples, {"height": height, "width": width, "channels": list(DEFAULT_CHANNELS), "n_examples": n,
                          "shards": [shard_name(0, 1)], "class_counts": {"-1": n}})
    torch.manual_seed(0)
    model = build_model("compact", height, width, DEFAULT_CHANNELS).eval()
    first = save_checkpoint(tmp_path / "start.pt", model, step=0)
    same = save_checkpoint(tmp_path / "selected.pt", model, step=40, extra={"metrics": {"tune/f1_weighted": 1.0}})
    with torch.no_grad():
        model.classifier.weight.add_(0.5)
    other = save_checkpoint(tmp_path / "other.pt", model, step=40)
    assert weights_digest(first) == weights_digest(same) != weights_digest(other)

    cache = tmp_path / "cache"
    runs = {path.stem: call_variants(examples, path, fasta, tmp_path / f"{path.stem}.vcf.gz", cache_dir=cache)
            for path in (first, same, other)}
    assert [runs[k]["predictions_reused"] for k in ("start", "selected", "other")] == [False, True, False]
    assert len(list(cache.iterdir())) == 2

    def records(name):
        with pysam.VariantFile(str(tmp_path / f"{name}.vcf.gz")) as vcf:
            return [str(r) for r in vcf], str(vcf.header)

    (start_records, start_header), (selected_records, selected_header) = records("start"), records("selected")
    assert start_records == selected_records and len(start_records) > 0
    assert "selected.pt" in selected_header and "selected.pt" not in start_header
    uncached = call_variants(examples, same, fasta, tmp_path / "uncached.vcf.gz")
    assert not uncached["predictions_reused"] and records("uncached")[0] == selected_records
