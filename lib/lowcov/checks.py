"""Input validation shared by every stage: indexes, truncation, contig naming.

Each check either fixes what can be fixed cheaply (a missing index) or raises :class:`InputError`
naming the file and the problem.
"""
from __future__ import annotations

import gzip
import logging
import os
import zlib
from pathlib import Path
from typing import Mapping

import pysam

from . import InputError

log = logging.getLogger(__name__)

BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} not found: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"{what} is empty: {path}")
    return path


def is_bgzf(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(18)
    return len(head) >= 18 and head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"


def require_bgzf_complete(path: Path, what: str) -> None:
    """A BGZF file (BAM, .vcf.gz, .fa.gz) must end with the 28-byte EOF block, else it was cut short."""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - len(BGZF_EOF)))
        if handle.read() != BGZF_EOF:
            raise InputError(f"{what} is truncated (no BGZF end-of-file block): {path}")


def require_gzip_complete(path: str | os.PathLike) -> Path:
    """Stream a plain gzip file to its end; a cut-short file raises with its name."""
    path = require_file(path, "gzip file")
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 22):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"gzip file is truncated or corrupt: {path} ({exc})") from exc
    return path


def require_fasta(path: str | os.PathLike) -> Path:
    """A FASTA with a .fai index (built if missing). Gzipped FASTA must be bgzipped to be indexed."""
    path = require_file(path, "reference FASTA")
    if path.suffix == ".gz":
        if not is_bgzf(path):
            raise InputError(
                f"reference FASTA is gzip but not bgzip, so it cannot be indexed: {path} "
                "(decompress it, or recompress with bgzip)")
        require_bgzf_complete(path, "reference FASTA")
    fai = Path(str(path) + ".fai")
    if not fai.exists() or fai.stat().st_mtime < path.stat().st_mtime:
        log.info("indexing %s", path)
        try:
            pysam.faidx(str(path))
        except pysam.SamtoolsError as exc:
            raise InputError(f"cannot index reference FASTA {path}: {exc}") from exc
    return path


def fasta_contigs(path: str | os.PathLike) -> dict[str, int]:
    with pysam.FastaFile(str(require_fasta(path))) as fasta:
        return dict(zip(fasta.references, fasta.lengths))


def require_bam(path: str | os.PathLike, build_index: bool = True) -> Path:
    """A complete, coordinate-sorted BAM with an index (built if missing and allowed)."""
    path = require_file(path, "BAM")
    if path.suffix == ".bam":
        require_bgzf_complete(path, "BAM")
    index_candidates = [Path(str(path) + ".bai"), path.with_suffix(".bai"), Path(str(path) + ".csi"),
                        Path(str(path) + ".crai")]
    if not any(p.exists() for p in index_candidates):
        if not build_index:
            raise InputError(f"BAM has no index (.bai/.csi): {path} (run samtools index)")
        log.info("indexing %s", path)
        try:
            pysam.index(str(path))
        except pysam.SamtoolsError as exc:
            raise InputError(f"cannot index BAM {path} (is it coordinate-sorted?): {exc}") from exc
    return path


def bam_contigs(path: str | os.PathLike) -> dict[str, int]:
    with pysam.AlignmentFile(str(path), "rb") as bam:
        return dict(zip(bam.references, bam.lengths))


def require_vcf(path: str | os.PathLike, build_index: bool = True) -> Path:
    """A bgzipped VCF with a tabix index (built if missing)."""
    path = require_file(path, "VCF")
    if path.suffix == ".gz":
        if not is_bgzf(path):
            raise InputError(f"VCF is gzip but not bgzip, so it cannot be indexed: {path}")
        require_bgzf_complete(path, "VCF")
        if not (Path(str(path) + ".tbi").exists() or Path(str(path) + ".csi").exists()):
            if not build_index:
                raise InputError(f"VCF has no tabix index: {path}")
            pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


def describe_naming(names) -> str:
    names = list(names)
    with_chr = sum(1 for n in names if n.startswith("chr"))
    if not names:
        return "no contigs"
    if with_chr == len(names):
        return "'chr'-prefixed names (UCSC style, e.g. chr1)"
    if with_chr == 0:
        return "names without 'chr' (Ensembl/NCBI style, e.g. 1)"
    return "a mix of 'chr'-prefixed and plain names"


def check_contigs_match(query: Mapping[str, int], query_path, reference: Mapping[str, int], reference_path,
                        needed: list[str] | None = None) -> None:
    """Contigs of ``query`` (a BAM or VCF) used here must exist in the reference with the same length.

    ``needed`` restricts the check to the contigs a stage will read; by default all of ``query``.
    """
    needed = list(query) if needed is None else needed
    missing = [c for c in needed if c not in reference]
    if missing:
        hint = ""
        if describe_naming(query) != describe_naming(reference):
            hint = (f"; {query_path} uses {describe_naming(query)} but {reference_path} uses "
                    f"{describe_naming(reference)} (rename with lowcov.contigs)")
        raise InputError(f"contig(s) {', '.join(missing[:5])} of {query_path} are not in the reference "
                         f"{reference_path}{hint}")
    wrong = [(c, query[c], reference[c]) for c in needed if c in query and query[c] != reference[c]]
    if wrong:
        c, ql, rl = wrong[0]
        raise InputError(f"contig {c} has length {ql} in {query_path} but {rl} in {reference_path}: "
                         "they were made against different reference builds")


def require_inputs(needed: Mapping[str | os.PathLike, str]) -> None:
    """Raise FileNotFoundError for the first missing path, naming the notebook that makes it.

    ``needed`` maps a stage output to the notebook (e.g. ``"04_truth_generation"``) that writes it, so
    running a notebook before the ones it depends on says what to run first.
    """
    for path, notebook in needed.items():
        if not Path(path).exists():
            raise FileNotFoundError(f"{path} is missing: run notebook {notebook} first")
