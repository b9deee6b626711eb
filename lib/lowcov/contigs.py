"""Contig names: the ``1`` (Ensembl/NCBI, GRCh37/GRCh38) and ``chr1`` (UCSC, hg19/hg38) conventions.

The case study mixes three naming worlds: the RNA reads are aligned to Ensembl GRCh38 (``1``), the DNA
test BAM comes with UCSC hg19 (``chr1``), and the GIAB v3.3.2 truth is GRCh37 (``1``). GRCh37 and hg19
share the sequences of chr1-22 and X (not of the mitochondrion: hg19's ``chrM`` is not GRCh37's ``MT``),
so the truth only needs renaming to be used against hg19. This module

* reads which contigs a BAM / VCF / BED / FASTA uses (:func:`file_contigs`, :func:`used_contigs`);
* picks the rename that makes a file's names match a reference's (:func:`pick_rename`), checking
  lengths where the file records them, and raising :class:`~lowcov.InputError` naming both files when
  no simple rename (none, add ``chr``, strip ``chr``) works;
* applies a rename: BAM (header only, via ``samtools reheader``), VCF (bgzip + tabix), BED, FASTA
  (streaming rewrite + faidx), each written atomically.
"""
from __future__ import annotations

import contextlib
import gzip
import logging
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Mapping, Sequence

import pysam
from pysam.libcbgzf import BGZFile
from tqdm import tqdm

from . import InputError
from .checks import describe_naming, fasta_contigs, require_bgzf_complete, require_file
from .fileio import atomic_output

log = logging.getLogger(__name__)

#: contigs whose names differ between conventions by more than the prefix
SPECIAL_WITH_PREFIX = {"MT": "chrM"}
SPECIAL_WITHOUT_PREFIX = {v: k for k, v in SPECIAL_WITH_PREFIX.items()}

_FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fa.gz", ".fasta.gz", ".fna.gz")
_VCF_SUFFIXES = (".vcf", ".vcf.gz")  # text VCF only: renaming rewrites text
_BED_SUFFIXES = (".bed", ".bed.gz")
_BAM_SUFFIXES = (".bam", ".cram", ".sam")
#: BED lines that are not intervals
_BED_HEADER_PREFIXES = (b"#", b"track", b"browser")

_FASTA_NAME = re.compile(rb">(\S*)")
_VCF_CONTIG_LINE = re.compile(rb"^(##contig=<(?:.*?,)?ID=)([^,>]+)")
_VCF_CONTIG_LENGTH = re.compile(rb"[<,]length=(\d+)")


@dataclass(frozen=True)
class ContigRename:
    """A rename of contig names: ``mapping`` old -> new; names not in it are kept as they are."""

    mapping: Mapping[str, str] = field(default_factory=dict)
    description: str = "no rename"

    def __call__(self, name: str) -> str:
        return self.mapping.get(name, name)

    @property
    def is_identity(self) -> bool:
        return all(old == new for old, new in self.mapping.items())

    def inverse(self) -> "ContigRename":
        return ContigRename({new: old for old, new in self.mapping.items()}, f"inverse of {self.description}")

    def as_bytes(self) -> dict[bytes, bytes]:
        return {old.encode(): new.encode() for old, new in self.mapping.items() if old != new}


IDENTITY = ContigRename()


def add_chr_prefix(names: Sequence[str]) -> ContigRename:
    """``1`` -> ``chr1``, ``MT`` -> ``chrM``; names that already start with ``chr`` stay."""
    mapping = {n: SPECIAL_WITH_PREFIX.get(n, f"chr{n}") for n in names if not n.startswith("chr")}
    return ContigRename(mapping, "add the 'chr' prefix")


def strip_chr_prefix(names: Sequence[str]) -> ContigRename:
    """``chr1`` -> ``1``, ``chrM`` -> ``MT``; names without the prefix stay."""
    mapping = {n: SPECIAL_WITHOUT_PREFIX.get(n, n[3:]) for n in names if n.startswith("chr") and len(n) > 3}
    return ContigRename(mapping, "strip the 'chr' prefix")


# -- what a file contains ------------------------------------------------------------------------


def file_kind(path: str | os.PathLike) -> str:
    """``bam``, ``vcf``, ``bed`` or ``fasta``, from the file name."""
    name = Path(path).name.lower()
    for kind, suffixes in (("fasta", _FASTA_SUFFIXES), ("vcf", _VCF_SUFFIXES), ("bed", _BED_SUFFIXES),
                           ("bam", _BAM_SUFFIXES)):
        if name.endswith(suffixes):
            return kind
    raise InputError(f"cannot tell the format of {path} from its name (expected one of "
                     f"{', '.join(_FASTA_SUFFIXES + _VCF_SUFFIXES + _BED_SUFFIXES + _BAM_SUFFIXES)})")


def _open_text_bytes(path: Path) -> BinaryIO:
    """A binary line reader for plain or (b)gzipped text."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _scan_first_column(path: Path, comment_prefixes: tuple[bytes, ...]) -> dict[str, None]:
    """Contig names in column 1 of a text file, in order of first appearance (lengths unknown)."""
    seen: dict[str, None] = {}
    last = None
    try:
        with _open_text_bytes(path) as handle:
            for line in handle:
                if not line.strip() or line.startswith(comment_prefixes):
                    continue
                contig = line.split(b"\t", 1)[0].strip()
                if contig != last:
                    seen.setdefault(contig.decode(), None)
                    last = contig
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"cannot read {path}: truncated or corrupt ({exc})") from exc
    return seen


def _vcf_header_contigs(path: Path) -> dict[str, int | None]:
    """The ##contig lines of a VCF's own header text.

    Read as text rather than through pysam, which merges the contigs of an index file into the header
    and so cannot tell a file's declared contigs from those of a mismatched index.
    """
    contigs: dict[str, int | None] = {}
    try:
        with _open_text_bytes(path) as handle:
            for line in handle:
                if not line.startswith(b"##"):
                    break
                match = _VCF_CONTIG_LINE.match(line)
                if match:
                    length = _VCF_CONTIG_LENGTH.search(line)
                    contigs[match.group(2).decode()] = int(length.group(1)) if length else None
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"cannot read the VCF header of {path}: {exc}") from exc
    return contigs


def file_contigs(path: str | os.PathLike) -> dict[str, int | None]:
    """Contigs a file declares, with lengths where the format records them (None otherwise).

    BAM: the @SQ lines. FASTA: the .fai (built if missing). VCF: the ##contig lines, or the contigs of
    its records when the header has none. BED: the contigs of its records.
    """
    path = require_file(path, "file")
    kind = file_kind(path)
    if kind == "bam":
        with pysam.AlignmentFile(str(path), check_sq=False) as bam:
            return dict(zip(bam.references, bam.lengths))
    if kind == "fasta":
        return dict(fasta_contigs(path))
    if kind == "vcf":
        declared = _vcf_header_contigs(path)
        return declared or _scan_first_column(path, (b"#",))
    return _scan_first_column(path, _BED_HEADER_PREFIXES)


def used_contigs(path: str | os.PathLike) -> dict[str, int | None]:
    """Contigs a file actually has data on (reads, records, sequences), with lengths where known.

    Headers often declare every contig of the build (e.g. GRCh37's GL000192.1), most of which no record
    uses; matching only the used ones avoids refusing a rename over contigs that do not matter.
    """
    path = require_file(path, "file")
    kind = file_kind(path)
    declared = file_contigs(path)
    if kind == "bam":
        try:
            with pysam.AlignmentFile(str(path), check_sq=False) as bam:
                stats = bam.get_index_statistics()
            return {s.contig: declared.get(s.contig) for s in stats if s.mapped > 0}
        except ValueError:  # no index: every declared contig counts
            return declared
    if kind == "vcf":
        tbi = Path(str(path) + ".tbi")
        csi = Path(str(path) + ".csi")
        names: list[str] = []
        if str(path).endswith(".gz") and (tbi.exists() or csi.exists()):
            with pysam.TabixFile(str(path)) as tabix:
                names = list(tabix.contigs)
            if declared and not set(names) <= set(declared):
                # an index that names contigs the header does not declare belongs to another file
                log.warning("the index of %s does not match its header; reading its records instead", path)
                names = []
        if not names:
            names = list(_scan_first_column(path, (b"#",)))
        return {n: declared.get(n) for n in names}
    return declared


# -- choosing a rename ---------------------------------------------------------------------------


def _examples(names, limit: int = 3) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (", ..." if len(names) > limit else "")


def pick_rename(path: str | os.PathLike, reference: str | os.PathLike,
                needed: Sequence[str] | None = None) -> ContigRename:
    """The rename (none, add ``chr``, strip ``chr``) that makes ``path``'s contigs match ``reference``'s.

    ``needed`` names contigs *in the reference's naming* that the renamed file must contain (e.g.
    ``["chr1"]`` for the test set); other contigs of the file may then be absent from the reference.
    Without ``needed`` every contig the file uses must exist in the reference. Where the file records a
    length, it must equal the reference's: equal names with different lengths mean different builds.
    Raises :class:`InputError` naming both files when no simple rename works.
    """
    path, reference = Path(path), Path(reference)
    query = used_contigs(path)
    target = file_contigs(reference)
    if not query:
        raise InputError(f"{path} has no contigs with data, so it cannot be matched to {reference}")
    names = list(query)
    candidates = (IDENTITY, add_chr_prefix(names), strip_chr_prefix(names))
    best: tuple[int, ContigRename, list[str]] | None = None
    for rename in candidates:
        renamed = {rename(name): name for name in names}
        if needed is None:
            missing = [new for new in renamed if new not in target]
            checked = [new for new in renamed if new in target]
        else:
            missing = [n for n in needed if n not in renamed or n not in target]
            checked = [n for n in needed if n in renamed and n in target]
        if missing:
            if best is None or len(missing) < best[0]:
                best = (len(missing), rename, missing)
            continue
        wrong = [(renamed[new], new, query[renamed[new]], target[new]) for new in checked
                 if query[renamed[new]] is not None and target[new] is not None
                 and query[renamed[new]] != target[new]]
        if wrong:
            old, new, file_length, ref_length = wrong[0]
            raise InputError(
                f"contig {old} of {path} ({file_length} bp) corresponds by name to {new} of {reference} "
                f"({ref_length} bp) but the lengths differ: the two files come from different genome builds "
                f"({len(wrong)} contig(s) differ)")
        if not rename.is_identity:
            log.info("%s uses %s, %s uses %s: %s", path, describe_naming(names), reference,
                     describe_naming(target), rename.description)
        return rename
    assert best is not None
    wanted = "the contigs it uses" if needed is None else f"the needed contig(s) {_examples(needed)}"
    raise InputError(
        f"no simple rename (none, add 'chr', strip 'chr') makes {wanted} of {path} match the reference "
        f"{reference}: {path} uses {describe_naming(names)} (e.g. {_examples(names)}), {reference} uses "
        f"{describe_naming(target)} (e.g. {_examples(target)}); with the closest rename "
        f"({best[1].description}) still missing from the reference: {_examples(best[2], 5)}")


# -- applying a rename ---------------------------------------------------------------------------


def _as_rename(rename: ContigRename | Mapping[str, str] | None) -> ContigRename:
    if rename is None:
        return IDENTITY
    if isinstance(rename, ContigRename):
        return rename
    return ContigRename(dict(rename), "custom rename")


@contextlib.contextmanager
def _progress_reader(path: Path, description: str, progress: bool) -> Iterator[BinaryIO]:
    """The raw bytes of ``path`` with a progress bar over its (compressed) size."""
    with open(path, "rb") as raw, tqdm.wrapattr(raw, "read", total=path.stat().st_size, desc=description,
                                                unit="B", unit_scale=True, unit_divisor=1024,
                                                disable=not progress) as wrapped:
        yield wrapped


def _split_lines(stream, block_size: int = 1 << 22) -> Iterator[bytes]:
    """Lines (with their newline) of a binary stream read in large blocks."""
    pending = b""
    while block := stream.read(block_size):
        lines = (pending + block).split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending


def _text_lines(path: Path, description: str, progress: bool) -> Iterator[bytes]:
    """Lines of plain or (b)gzipped text, with a progress bar; truncation raises InputError."""
    with open(path, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    with _progress_reader(path, description, progress) as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        try:
            yield from _split_lines(stream)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(f"{path} is truncated or corrupt ({exc})") from exc


class _TextSink:
    """Writes plain text, or BGZF when the target name ends in .gz (so tabix/faidx can index it)."""

    def __init__(self, tmp: Path, final: Path):
        self.compressed = final.name.endswith(".gz")
        self.handle = BGZFile(str(tmp), "wb") if self.compressed else open(tmp, "wb", 1 << 20)

    def write(self, data: bytes) -> None:
        self.handle.write(data)

    def close(self) -> None:
        self.handle.close()


def _rename_first_column(lines: Iterator[bytes], mapping: dict[bytes, bytes], header: Callable[[bytes], bytes],
                         sink: _TextSink, header_prefixes: tuple[bytes, ...] = (b"#",)) -> int:
    """Rename column 1 of data lines; ``header`` rewrites header lines. Returns data lines written."""
    written = 0
    for line in lines:
        if line.startswith(header_prefixes) or not line.strip():
            sink.write(header(line))
            continue
        contig, sep, rest = line.partition(b"\t")
        sink.write(mapping.get(contig, contig) + sep + rest)
        written += 1
    return written


def rename_vcf(src: str | os.PathLike, dst: str | os.PathLike,
               rename: ContigRename | Mapping[str, str] | None, progress: bool = True) -> Path:
    """Rewrite ``src`` (VCF, plain or bgzipped) with renamed contigs (##contig lines and CHROM column).

    A ``dst`` ending in .gz is bgzipped and tabix-indexed. Record order is unchanged, so a sorted input
    stays sorted.
    """
    src, dst = require_file(src, "VCF"), Path(dst)
    mapping = _as_rename(rename).as_bytes()

    def header(line: bytes) -> bytes:
        match = _VCF_CONTIG_LINE.match(line)
        if not match:
            return line
        name = match.group(2)
        return match.group(1) + mapping.get(name, name) + line[match.end():]

    with atomic_output(dst) as tmp:
        sink = _TextSink(tmp, dst)
        try:
            records = _rename_first_column(_text_lines(src, f"rename {src.name}", progress), mapping, header, sink)
        finally:
            sink.close()
        if sink.compressed:
            try:
                pysam.tabix_index(str(tmp), preset="vcf", force=True)
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot index the renamed copy of {src} (is it sorted?): {exc}") from exc
    log.info("wrote %s (%d records, %s)", dst, records, _as_rename(rename).description)
    return dst


def rename_bed(src: str | os.PathLike, dst: str | os.PathLike,
               rename: ContigRename | Mapping[str, str] | None, progress: bool = True) -> Path:
    """Rewrite a BED (plain or gzipped) with renamed contigs; a ``dst`` ending in .gz is bgzipped+tabixed."""
    src, dst = require_file(src, "BED"), Path(dst)
    mapping = _as_rename(rename).as_bytes()
    with atomic_output(dst) as tmp:
        sink = _TextSink(tmp, dst)
        try:
            _rename_first_column(_text_lines(src, f"rename {src.name}", progress), mapping, lambda line: line, sink,
                                 _BED_HEADER_PREFIXES)
        finally:
            sink.close()
        if sink.compressed:
            # track/browser lines are not '#' comments: tabix must be told to skip them
            header_lines = 0
            for line in _text_lines(tmp, "", False):
                if not (line.startswith(_BED_HEADER_PREFIXES) or not line.strip()):
                    break
                header_lines += 1
            pysam.tabix_index(str(tmp), force=True, seq_col=0, start_col=1, end_col=2, zerobased=True,
                              meta_char="#", line_skip=header_lines)
    return dst


def rename_fasta(src: str | os.PathLike, dst: str | os.PathLike,
                 rename: ContigRename | Mapping[str, str] | None = None, progress: bool = True) -> Path:
    """Stream ``src`` (plain, gzip or bgzip FASTA) to ``dst`` with renamed sequences, then faidx it.

    With ``rename=None`` this only (de)compresses: Ensembl ships plain gzip, which samtools cannot index,
    so the file is written plain (``dst`` without .gz) or as BGZF (``dst`` ending in .gz). The rest of
    each header line (Ensembl's description) is kept.
    """
    src, dst = require_file(src, "reference FASTA"), Path(dst)
    mapping = _as_rename(rename).as_bytes()
    with atomic_output(dst) as tmp:
        sink = _TextSink(tmp, dst)
        try:
            if not mapping:
                _copy_decompressed(src, sink, progress)
            else:
                for line in _text_lines(src, f"rename {src.name}", progress):
                    if line.startswith(b">"):
                        name = _FASTA_NAME.match(line).group(1)
                        line = b">" + mapping.get(name, name) + line[1 + len(name):]
                    sink.write(line)
        finally:
            sink.close()
        try:
            pysam.faidx(str(tmp))
        except pysam.SamtoolsError as exc:
            raise InputError(f"the FASTA written from {src} cannot be indexed: {exc}") from exc
    log.info("wrote %s (%s)", dst, _as_rename(rename).description)
    return dst


def _copy_decompressed(src: Path, sink: _TextSink, progress: bool) -> None:
    with open(src, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    with _progress_reader(src, f"copy {src.name}", progress) as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        try:
            while block := stream.read(1 << 22):
                sink.write(block)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(f"{src} is truncated or corrupt ({exc})") from exc


def rename_bam(src: str | os.PathLike, dst: str | os.PathLike,
               rename: ContigRename | Mapping[str, str] | None) -> Path:
    """Copy ``src`` to ``dst`` with renamed @SQ lines; the reads are copied untouched, then indexed.

    Reads refer to contigs by index, so only the header changes (``samtools reheader``, which copies the
    compressed read blocks without decoding them). Names inside aux tags (``SA:Z``, ``XA:Z``) are *not*
    rewritten; no stage of lowcov reads them.
    """
    src, dst = require_file(src, "BAM"), Path(dst)
    if src.suffix != ".bam":
        raise InputError(f"only BAM files can be renamed here, not {src} (convert it with samtools view -b)")
    require_bgzf_complete(src, "BAM")
    rename = _as_rename(rename)
    with pysam.AlignmentFile(str(src), check_sq=False) as bam:
        header = bam.header.to_dict()
    for sq in header.get("SQ", []):
        sq["SN"] = rename(sq["SN"])
    with atomic_output(dst) as tmp:
        header_sam = tmp.with_name(tmp.name + ".header.sam")
        try:
            header_sam.write_text(str(pysam.AlignmentHeader.from_dict(header)))
            pysam.samtools.reheader("--no-PG", str(header_sam), str(src), save_stdout=str(tmp))
        finally:
            header_sam.unlink(missing_ok=True)
        pysam.index(str(tmp))
    log.info("wrote %s (%s)", dst, rename.description)
    return dst


_RENAMERS = {"bam": rename_bam, "vcf": rename_vcf, "bed": rename_bed, "fasta": rename_fasta}


def apply_rename(src: str | os.PathLike, dst: str | os.PathLike,
                 rename: ContigRename | Mapping[str, str] | None, progress: bool = True) -> Path:
    """Rename contigs of a BAM, VCF, BED or FASTA (format from the file name)."""
    kind = file_kind(src)
    if kind == "bam":  # reheader copies blocks without decoding them: too quick to need a bar
        return rename_bam(src, dst, rename)
    return _RENAMERS[kind](src, dst, rename, progress=progress)


def match_reference_naming(src: str | os.PathLike, reference: str | os.PathLike, dst: str | os.PathLike,
                           needed: Sequence[str] | None = None, progress: bool = True) -> ContigRename:
    """Write ``src`` to ``dst`` with contig names matching ``reference``'s; returns the rename used.

    When no rename is needed the file is still rewritten (a plain copy for BED, re-bgzip + tabix for VCF,
    header-identical copy for BAM) so that ``dst`` always has its index.
    """
    rename = pick_rename(src, reference, needed)
    apply_rename(src, dst, rename, progress=progress)
    return rename
