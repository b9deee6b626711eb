import numpy as np
import pysam
import pysam.bcftools

from lowcov.call import CallConfig, write_vcf


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
