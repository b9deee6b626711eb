import gzip
import json

import pysam
import pytest

from lowcov import InputError
from lowcov.checks import (check_contigs_match, require_bam, require_fasta, require_gzip_complete, require_vcf)
from lowcov.fileio import atomic_output
from lowcov.manifest import is_current, run_stage


def test_atomic_output_leaves_nothing_on_error_and_keeps_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with atomic_output(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_stage_is_skipped_when_inputs_and_params_are_unchanged(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("a")
    out = tmp_path / "out.txt"
    calls = []

    def work():
        calls.append(1)
        with atomic_output(out) as tmp:
            tmp.write_text(source.read_text().upper())
        return {"n": 1}

    run_stage(tmp_path, "upper", [source], {"k": 1}, [out], work)
    run_stage(tmp_path, "upper", [source], {"k": 1}, [out], work)
    assert len(calls) == 1
    run_stage(tmp_path, "upper", [source], {"k": 2}, [out], work)  # parameter changed
    assert len(calls) == 2
    source.write_text("b")  # input changed
    run_stage(tmp_path, "upper", [source], {"k": 2}, [out], work)
    assert len(calls) == 3 and out.read_text() == "B"
    out.unlink()  # output lost
    assert not is_current(tmp_path, "upper", [source], {"k": 2}, [out])
    run_stage(tmp_path, "upper", [source], {"k": 2}, [out], work, force=False)
    run_stage(tmp_path, "upper", [source], {"k": 2}, [out], work, force=True)
    assert len(calls) == 5
    record = json.loads((tmp_path / "upper.manifest.json").read_text())
    assert record["params"] == {"k": 2} and record["extra"] == {"n": 1}
    assert record["inputs"][0]["sha256"]


def test_missing_fasta_index_is_built_and_truncated_bam_is_named(tmp_path, small_genome):
    fasta, _ = small_genome
    (tmp_path / "genome.fa.fai").unlink()
    require_fasta(fasta)
    assert (tmp_path / "genome.fa.fai").exists()
    header = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6", "SO": "coordinate"},
                                              "SQ": [{"SN": "chr1", "LN": 20000}]})
    bam = tmp_path / "reads.bam"
    with pysam.AlignmentFile(str(bam), "wb", header=header) as out:
        for i in range(200):
            rec = pysam.AlignedSegment(header)
            rec.query_name, rec.reference_id, rec.reference_start = f"r{i}", 0, i * 10
            rec.cigarstring, rec.query_sequence = "50M", "A" * 50
            out.write(rec)
    require_bam(bam)  # index built on demand
    assert (tmp_path / "reads.bam.bai").exists()
    cut = tmp_path / "cut.bam"
    cut.write_bytes(bam.read_bytes()[:-40])
    with pytest.raises(InputError, match="cut.bam.*truncated|truncated.*cut.bam"):
        require_bam(cut)


def test_truncated_gzip_and_plain_gzip_vcf_are_named(tmp_path):
    path = tmp_path / "reads.fq.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("@r\nACGT\n+\nIIII\n" * 5000)
    require_gzip_complete(path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match="reads.fq.gz"):
        require_gzip_complete(path)
    vcf = tmp_path / "calls.vcf.gz"
    with gzip.open(vcf, "wt") as handle:
        handle.write("##fileformat=VCFv4.2\n")
    with pytest.raises(InputError, match="not bgzip"):
        require_vcf(vcf)


def test_contig_naming_mismatch_names_both_files_and_the_convention():
    with pytest.raises(InputError) as err:
        check_contigs_match({"1": 100}, "reads.bam", {"chr1": 100}, "genome.fa")
    message = str(err.value)
    assert "reads.bam" in message and "genome.fa" in message and "chr" in message
    with pytest.raises(InputError, match="different reference builds"):
        check_contigs_match({"chr1": 100}, "reads.bam", {"chr1": 120}, "genome.fa")
    check_contigs_match({"chr1": 100}, "reads.bam", {"chr1": 100, "chr2": 5}, "genome.fa")
