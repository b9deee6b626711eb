"""Contig renaming between the '1' and 'chr1' conventions, for BAM, VCF, BED and FASTA."""
from __future__ import annotations

import gzip
import random
from pathlib import Path

import pysam
import pytest

from lowcov import InputError
from lowcov.downsample import extract_contig
from lowcov.fileio import copy_file
from lowcov.contigs import (IDENTITY, add_chr_prefix, apply_rename, file_contigs,
                            match_reference_naming, pick_rename, rename_bam, rename_bed, rename_fasta,
                            rename_vcf, strip_chr_prefix, used_contigs)

UCSC = {"chr1": 1200, "chr2": 700, "chrM": 300}
ENSEMBL = {"1": 1200, "2": 700, "MT": 300}


def random_sequence(length: int, rng: random.Random) -> str:
    return "".join(rng.choice("ACGT") for _ in range(length))


def write_fasta(path: Path, contigs: dict[str, int], seed: int = 0, gzip_plain: bool = False,
                description: str = "dna:chromosome") -> Path:
    rng = random.Random(seed)
    lines = []
    for name, length in contigs.items():
        seq = random_sequence(length, rng)
        lines.append(f">{name} {description} {name}\n")
        lines.extend(seq[i:i + 60] + "\n" for i in range(0, length, 60))
    text = "".join(lines).encode()
    if gzip_plain:
        path.write_bytes(gzip.compress(text, mtime=0))
    else:
        path.write_bytes(text)
    return path


def write_bam(path: Path, contigs: dict[str, int], reads_per_contig: int = 20, seed: int = 0) -> Path:
    rng = random.Random(seed)
    header = pysam.AlignmentHeader.from_dict({
        "HD": {"VN": "1.6", "SO": "coordinate"},
        "SQ": [{"SN": n, "LN": l} for n, l in contigs.items()]})
    records = []
    for tid, (name, length) in enumerate(contigs.items()):
        for i in range(reads_per_contig):
            seg = pysam.AlignedSegment(header)
            seg.query_name = f"{name}_read{i}"
            seg.flag = 0
            seg.reference_id = tid
            seg.reference_start = rng.randrange(0, length - 50)
            seg.mapping_quality = 60
            seg.cigartuples = [(0, 50)]
            seg.query_sequence = random_sequence(50, rng)
            seg.query_qualities = pysam.qualitystring_to_array("I" * 50)
            records.append(seg)
    records.sort(key=lambda r: (r.reference_id, r.reference_start))
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for rec in records:
            out.write(rec)
    pysam.index(str(path))
    return path


def write_vcf(path: Path, contigs: dict[str, int], declare: bool = True, extra_declared: dict | None = None,
              records_on: list[str] | None = None) -> Path:
    lines = ["##fileformat=VCFv4.2"]
    if declare:
        for name, length in {**contigs, **(extra_declared or {})}.items():
            lines.append(f"##contig=<ID={name},length={length}>")
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tHG001")
    for name in records_on or list(contigs):
        for pos in (10, 100, 200):
            lines.append(f"{name}\t{pos}\t.\tA\tG\t50\tPASS\t.\tGT\t0/1")
    plain = path.with_suffix("") if path.name.endswith(".gz") else path
    plain.write_text("\n".join(lines) + "\n")
    if path.name.endswith(".gz"):
        pysam.tabix_index(str(plain), preset="vcf", force=True)  # bgzips to plain + ".gz"
    return path


def write_bed(path: Path, contigs: list[str]) -> Path:
    lines = ["track name=confident", "# GIAB high-confidence regions"]
    lines += [f"{c}\t{start}\t{start + 50}" for c in contigs for start in (0, 100, 400)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def ucsc_fasta(tmp_path) -> Path:
    return write_fasta(tmp_path / "ucsc.fa", UCSC)


@pytest.fixture()
def ensembl_fasta(tmp_path) -> Path:
    return write_fasta(tmp_path / "ensembl.fa", ENSEMBL)


# -- renames ----------------------------------------------------------------------------------------


def test_prefix_renames_handle_the_mitochondrion():
    assert add_chr_prefix(["1", "MT", "chrX"]).mapping == {"1": "chr1", "MT": "chrM"}
    assert strip_chr_prefix(["chr1", "chrM", "2"]).mapping == {"chr1": "1", "chrM": "MT"}
    assert add_chr_prefix(["1"]).inverse()("chr1") == "1"
    assert IDENTITY.is_identity


@pytest.mark.parametrize("file_names,reference,expected", [
    (ENSEMBL, "ucsc", "add the 'chr' prefix"),
    (UCSC, "ensembl", "strip the 'chr' prefix"),
    (UCSC, "ucsc", "no rename"),
])
def test_pick_rename_for_bam_both_directions(tmp_path, ucsc_fasta, ensembl_fasta, file_names, reference, expected):
    bam = write_bam(tmp_path / "reads.bam", file_names)
    ref = ucsc_fasta if reference == "ucsc" else ensembl_fasta
    assert pick_rename(bam, ref).description == expected


def test_pick_rename_rejects_different_lengths_naming_both_files(tmp_path, ucsc_fasta):
    bam = write_bam(tmp_path / "grch38.bam", {"1": 1199, "2": 700})
    with pytest.raises(InputError) as info:
        pick_rename(bam, ucsc_fasta)
    message = str(info.value)
    assert str(bam) in message and str(ucsc_fasta) in message
    assert "1199" in message and "1200" in message and "different genome builds" in message


def test_pick_rename_without_a_simple_mapping_names_both_files(tmp_path, ucsc_fasta):
    bam = write_bam(tmp_path / "scaffolds.bam", {"scaffold_7": 1200, "1": 700})
    with pytest.raises(InputError) as info:
        pick_rename(bam, ucsc_fasta)
    message = str(info.value)
    assert str(bam) in message and str(ucsc_fasta) in message
    assert "scaffold_7" in message and "no simple rename" in message


def test_pick_rename_with_needed_contigs_ignores_others(tmp_path, ucsc_fasta):
    bam = write_bam(tmp_path / "mixed.bam", {"1": 1200, "unplaced_9": 500})
    assert pick_rename(bam, ucsc_fasta, needed=["chr1"]).description == "add the 'chr' prefix"
    with pytest.raises(InputError, match="chr2"):
        pick_rename(bam, ucsc_fasta, needed=["chr1", "chr2"])


def test_vcf_header_contigs_without_records_do_not_block_a_rename(tmp_path, ucsc_fasta):
    """GRCh37 VCF headers declare contigs like GL000192.1 that hg19 names differently; only used ones count."""
    vcf = write_vcf(tmp_path / "truth.vcf.gz", {"1": 1200, "2": 700}, extra_declared={"GL000192.1": 547496})
    assert "GL000192.1" in file_contigs(vcf)
    assert list(used_contigs(vcf)) == ["1", "2"]
    assert pick_rename(vcf, ucsc_fasta).description == "add the 'chr' prefix"


def test_a_vcf_index_from_another_file_is_not_trusted(tmp_path, ucsc_fasta):
    """The .tbi of the chr-named fallback truth next to a '1'-named VCF must not decide the rename."""
    vcf = write_vcf(tmp_path / "truth.vcf.gz", {"1": 1200, "2": 700})
    other = write_vcf(tmp_path / "other.vcf.gz", {"chr1": 1200, "chr2": 700})
    Path(str(other) + ".tbi").replace(Path(str(vcf) + ".tbi"))
    assert list(used_contigs(vcf)) == ["1", "2"]
    assert pick_rename(vcf, ucsc_fasta).description == "add the 'chr' prefix"


# -- BAM --------------------------------------------------------------------------------------------


def _alignment_fields(path: Path) -> list[tuple]:
    with pysam.AlignmentFile(str(path)) as bam:
        return [(r.query_name, r.reference_id, r.reference_start, r.cigarstring, r.query_sequence, r.flag)
                for r in bam.fetch(until_eof=True)]


@pytest.mark.parametrize("source,target", [(ENSEMBL, UCSC), (UCSC, ENSEMBL)])
def test_rename_bam_rewrites_the_header_only(tmp_path, source, target):
    src = write_bam(tmp_path / "src.bam", source)
    rename = add_chr_prefix(list(source)) if "1" in source else strip_chr_prefix(list(source))
    dst = rename_bam(src, tmp_path / "dst.bam", rename)
    with pysam.AlignmentFile(str(dst)) as bam:
        assert dict(zip(bam.references, bam.lengths)) == target
        first = next(iter(target))
        assert bam.count(first) == 20  # the new index answers queries by the new name
    assert _alignment_fields(dst) == _alignment_fields(src)
    assert Path(str(dst) + ".bai").exists()


def test_extract_contig(tmp_path):
    src = write_bam(tmp_path / "all.bam", UCSC, reads_per_contig=30)
    out = extract_contig(src, tmp_path / "chr1.bam", "chr1")
    with pysam.AlignmentFile(str(out)) as bam:
        contigs = {r.reference_name for r in bam.fetch(until_eof=True)}
        starts = [r.reference_start for r in bam.fetch("chr1")]
        assert list(bam.references) == list(UCSC)  # the header still matches the whole reference
    assert contigs == {"chr1"} and len(starts) == 30 and starts == sorted(starts)
    with pytest.raises(InputError, match=r"contig 1 is not in .*all\.bam.*'chr'-prefixed"):
        extract_contig(src, tmp_path / "none.bam", "1")
    assert not (tmp_path / "none.bam").exists()


# -- VCF / BED --------------------------------------------------------------------------------------


def _vcf_records(path: Path) -> list[tuple]:
    with pysam.VariantFile(str(path)) as vcf:
        return [(r.chrom, r.pos, r.ref, r.alts) for r in vcf]


def test_rename_vcf_both_directions(tmp_path, ucsc_fasta, ensembl_fasta):
    src = write_vcf(tmp_path / "grch37.vcf.gz", ENSEMBL)
    to_ucsc = match_reference_naming(src, ucsc_fasta, tmp_path / "hg19.vcf.gz")
    assert to_ucsc.description == "add the 'chr' prefix"
    out = tmp_path / "hg19.vcf.gz"
    assert Path(str(out) + ".tbi").exists()
    with pysam.VariantFile(str(out)) as vcf:
        assert dict((n, c.length) for n, c in vcf.header.contigs.items()) == UCSC
        assert [r.pos for r in vcf.fetch("chr1")] == [10, 100, 200]
    back = match_reference_naming(out, ensembl_fasta, tmp_path / "back.vcf.gz")
    assert back.description == "strip the 'chr' prefix"
    assert _vcf_records(tmp_path / "back.vcf.gz") == _vcf_records(src)


def test_rename_vcf_without_contig_header_lines(tmp_path, ucsc_fasta):
    src = write_vcf(tmp_path / "bare.vcf", ENSEMBL, declare=False)
    rename = pick_rename(src, ucsc_fasta)
    out = rename_vcf(src, tmp_path / "bare.chr.vcf.gz", rename)
    with pysam.TabixFile(str(out)) as tabix:
        assert set(tabix.contigs) == {"chr1", "chr2", "chrM"}


def test_rename_bed_both_directions(tmp_path, ucsc_fasta, ensembl_fasta):
    src = write_bed(tmp_path / "conf.bed", ["1", "2"])
    match_reference_naming(src, ucsc_fasta, tmp_path / "conf.chr.bed")
    lines = (tmp_path / "conf.chr.bed").read_text().splitlines()
    assert lines[:2] == ["track name=confident", "# GIAB high-confidence regions"]
    assert {l.split("\t")[0] for l in lines[2:]} == {"chr1", "chr2"}
    back = rename_bed(tmp_path / "conf.chr.bed", tmp_path / "back.bed", strip_chr_prefix(["chr1", "chr2"]))
    assert back.read_text() == src.read_text()
    gz = apply_rename(src, tmp_path / "conf.chr.bed.gz", add_chr_prefix(["1", "2"]))
    assert Path(str(gz) + ".tbi").exists()


# -- FASTA ------------------------------------------------------------------------------------------


def test_rename_fasta_from_plain_gzip_both_directions(tmp_path):
    src = write_fasta(tmp_path / "ensembl.fa.gz", ENSEMBL, gzip_plain=True)
    ucsc = rename_fasta(src, tmp_path / "ucsc.fa", add_chr_prefix(list(ENSEMBL)), progress=False)
    assert file_contigs(ucsc) == UCSC
    assert (tmp_path / "ucsc.fa").read_text().startswith(">chr1 dna:chromosome 1\n")
    bgz = rename_fasta(ucsc, tmp_path / "back.fa.gz", strip_chr_prefix(list(UCSC)), progress=False)
    assert file_contigs(bgz) == ENSEMBL
    with pysam.FastaFile(str(bgz)) as a, pysam.FastaFile(str(ucsc)) as b:
        assert a.fetch("MT") == b.fetch("chrM") and a.fetch("1") == b.fetch("chr1")


def test_decompress_fasta_without_rename(tmp_path):
    src = write_fasta(tmp_path / "ref.fa.gz", ENSEMBL, gzip_plain=True)
    out = rename_fasta(src, tmp_path / "ref.fa", progress=False)
    assert out.read_bytes() == gzip.decompress(src.read_bytes())
    assert Path(str(out) + ".fai").exists()


def test_truncated_gzip_fasta_is_an_input_error_and_leaves_nothing(tmp_path):
    src = write_fasta(tmp_path / "ref.fa.gz", {"1": 20000}, gzip_plain=True)
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"ref\.fa\.gz is truncated or corrupt"):
        rename_fasta(src, tmp_path / "ref.fa", progress=False)
    assert not (tmp_path / "ref.fa").exists()
    assert not list(tmp_path.glob(".partial-*"))


def test_unknown_format_and_copy_file(tmp_path):
    weird = tmp_path / "data.txt"
    weird.write_text("x")
    with pytest.raises(InputError, match="format of"):
        pick_rename(weird, weird)
    copied = copy_file(weird, tmp_path / "sub" / "copy.txt")
    assert copied.read_text() == "x"
