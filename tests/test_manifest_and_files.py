import gzip
import json

import pysam
import pytest

from lowcov import InputError
from lowcov.checks import (check_contigs_match, require_bam, require_fasta, require_gzip_complete, require_vcf)
from lowcov.fileio import atomic_output
from lowcov.manifest import code_digest, is_current, run_stage


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


def write_package(root, files: dict[str, str]):
    package = root / "toypkg"
    package.mkdir(exist_ok=True)
    for name, text in files.items():
        (package / name).write_text(text)
    code_digest.cache_clear()
    return package


def test_code_digest_follows_imports_and_ignores_unrelated_modules(tmp_path):
    package = write_package(tmp_path, {
        "__init__.py": "", "stage.py": "from .labels import rule\n\ndef work():\n    from . import deep\n",
        "labels.py": "def rule(x):\n    return x > 1\n", "deep.py": "X = 1\n", "prose.py": "TEXT = 'a'\n"})

    def digest():
        code_digest.cache_clear()
        return code_digest("toypkg.stage", package, "toypkg")

    first = digest()
    (package / "prose.py").write_text("TEXT = 'b'\n")  # not imported by the stage
    assert digest() == first
    (package / "labels.py").write_text("def rule(x):\n    return x > 2\n")  # a changed label rule
    second = digest()
    assert second != first
    (package / "deep.py").write_text("X = 2\n")  # imported inside a function
    assert digest() not in (first, second)
    assert code_digest("os") is None  # not lowcov's


def test_a_stage_reruns_when_the_code_that_made_it_changes(tmp_path):
    out = tmp_path / "out.txt"
    calls = []

    def work():
        calls.append(1)
        out.write_text("x")

    run_stage(tmp_path, "s", [], {}, [out], work, code="digest-1")
    run_stage(tmp_path, "s", [], {}, [out], work, code="digest-1")
    assert len(calls) == 1
    run_stage(tmp_path, "s", [], {}, [out], work, code="digest-2")
    assert len(calls) == 2
    assert json.loads((tmp_path / "s.manifest.json").read_text())["code"] == "digest-2"
    # by default the code is that of the module defining the work: lowcov's own stages carry a digest
    from lowcov.test_set import prepare_test_set  # noqa: F401
    assert code_digest("lowcov.test_set") and code_digest("lowcov.test_set") != code_digest("lowcov.demo")


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
