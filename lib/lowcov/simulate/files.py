"""Writers for the simulated files: FASTA+fai, VCF.gz+tbi, BED, BED12, FASTQ.gz.

Each writer writes to the path it is given; :func:`lowcov.fileio.atomic_output` around it makes
the final name appear only when the file (and its index) is complete. Nothing time- or
path-dependent goes into a file, so the same simulation gives byte-identical files.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pysam

from .reference import Interval
from .rna import EditingSite, Transcript
from .sequence import ASCII
from .dna import open_gzip_for_writing
from .variants import Variant

FASTA_LINE = 60


def write_fasta(path: str | os.PathLike, sequences: dict[str, np.ndarray]) -> None:
    """Uppercase FASTA with 60-base lines, and its .fai beside it."""
    with open(path, "wb") as out:
        for name, codes in sequences.items():
            out.write(f">{name}\n".encode())
            letters = ASCII[codes]
            full = letters.size // FASTA_LINE * FASTA_LINE
            lines = np.empty((full // FASTA_LINE, FASTA_LINE + 1), dtype=np.uint8)
            lines[:, :FASTA_LINE] = letters[:full].reshape(-1, FASTA_LINE)
            lines[:, FASTA_LINE] = ord("\n")
            out.write(lines.tobytes())
            if full < letters.size:
                out.write(letters[full:].tobytes() + b"\n")
    pysam.faidx(str(path))


def _bgzip_and_index(text_path: Path, final_path: Path, preset: str) -> None:
    pysam.tabix_compress(str(text_path), str(final_path), force=True)
    text_path.unlink()
    pysam.tabix_index(str(final_path), preset=preset, force=True)


def write_truth_vcf(path: str | os.PathLike, contig_lengths: dict[str, int], variants: Sequence[Variant],
                    sample: str, reference_name: str = "genome.fa") -> None:
    """Phased VCF 4.2, bgzipped, with a .tbi beside it. ``variants`` must be sorted in contig order."""
    path = Path(path)
    header = ["##fileformat=VCFv4.2", '##FILTER=<ID=PASS,Description="All filters passed">',
              f"##reference={reference_name}", "##source=lowcov.simulate (demo truth)"]
    header += [f"##contig=<ID={name},length={length}>" for name, length in contig_lengths.items()]
    header += ['##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">',
               "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", sample])]
    text = path.with_name(path.name + ".txt")
    with open(text, "w") as out:
        out.write("\n".join(header) + "\n")
        out.writelines("\t".join(v.vcf_fields()) + "\n" for v in variants)
    _bgzip_and_index(text, path, "vcf")


def write_editing_vcf(path: str | os.PathLike, contig_lengths: dict[str, int], sites: Sequence[EditingSite],
                      reference_name: str = "genome.fa") -> None:
    """Sites-only VCF of RNA editing sites, in reference orientation (A>G on +, T>C on - genes)."""
    path = Path(path)
    header = ["##fileformat=VCFv4.2", '##FILTER=<ID=PASS,Description="All filters passed">',
              f"##reference={reference_name}", "##source=lowcov.simulate (demo RNA editing, not DNA variants)"]
    header += [f"##contig=<ID={name},length={length}>" for name, length in contig_lengths.items()]
    header += ['##INFO=<ID=GENE,Number=1,Type=String,Description="Gene">',
               '##INFO=<ID=TRANSCRIPT,Number=1,Type=String,Description="Transcript the site was chosen in">',
               '##INFO=<ID=STRAND,Number=1,Type=String,Description="Transcript strand (A>G on this strand)">',
               '##INFO=<ID=EDIT_FRACTION,Number=1,Type=Float,Description="Fraction of reads edited">',
               "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"])]
    text = path.with_name(path.name + ".txt")
    with open(text, "w") as out:
        out.write("\n".join(header) + "\n")
        for s in sites:
            info = f"GENE={s.gene};TRANSCRIPT={s.transcript};STRAND={s.strand};EDIT_FRACTION={s.fraction}"
            out.write("\t".join([s.contig, str(s.pos + 1), ".", s.ref, s.alt, ".", "PASS", info]) + "\n")
    _bgzip_and_index(text, path, "vcf")


def write_bed(path: str | os.PathLike, intervals: Iterable[Interval], with_name: bool = False) -> None:
    with open(path, "w") as out:
        for r in intervals:
            out.write(f"{r.contig}\t{r.start}\t{r.end}\t{r.name}\n" if with_name else f"{r.contig}\t{r.start}\t{r.end}\n")


def write_bed12(path: str | os.PathLike, transcripts: Sequence[Transcript], contig_order: Sequence[str]) -> None:
    """Gene models as BED12 (one line per transcript), sorted by position."""
    order = {c: i for i, c in enumerate(contig_order)}
    with open(path, "w") as out:
        for t in sorted(transcripts, key=lambda t: (order[t.contig], t.start, t.name)):
            sizes = ",".join(str(e - s) for s, e in t.exons) + ","
            starts = ",".join(str(s - t.start) for s, _ in t.exons) + ","
            out.write(f"{t.contig}\t{t.start}\t{t.end}\t{t.name}\t0\t{t.strand}\t{t.start}\t{t.end}\t0\t"
                      f"{len(t.exons)}\t{sizes}\t{starts}\n")


def write_fastq(path: str | os.PathLike, records: Iterable[tuple[str, str, str]], level: int = 1) -> None:
    gz, raw = open_gzip_for_writing(path, level)
    try:
        for name, sequence, quality in records:
            gz.write(f"@{name}\n{sequence}\n+\n{quality}\n".encode())
    finally:
        gz.close()
        raw.close()


def read_bed(path: str | os.PathLike) -> dict[str, list[tuple[int, int]]]:
    intervals: dict[str, list[tuple[int, int]]] = {}
    with open(path) as handle:
        for line in handle:
            if line.strip() and not line.startswith(("#", "track", "browser")):
                fields = line.split("\t")
                intervals.setdefault(fields[0], []).append((int(fields[1]), int(fields[2])))
    return intervals
