"""Each read at an indel site before and after lowcov's realignment: position, CIGAR, and whether the pileup's
read_supports_variant channel would mark it as carrying the allele (issue 16's per-read analysis).

    python benchmarks/indel_read_support.py BAM REFERENCE CONTIG:POS:REF:ALT [...] [--min-haplotype-reads N]

POS is the VCF position (1-based) of the indel. The reads are those make_examples takes for the partition
holding the site (filtered as it filters them, realigned with :class:`lowcov.realigner.RealignerConfig`), and
a read supports the allele when one of its indels normalises to the allele, or the realigner reports it as
carrying it (a read ending inside an insertion), as in :mod:`lowcov.make_examples`. Reads that a realignment
moves off the site are listed too (marked ``left``). Other indels a read carries are printed, so a read with a
shifted or different insertion shows what it carries instead.
"""
from __future__ import annotations

import argparse

import numpy as np
import pysam

from lowcov import bamraw
from lowcov.candidates import IndelNormaliser, read_indel_keys
from lowcov.make_examples import ExamplesConfig
from lowcov.reads import ReadFilter, lay_out, overlapping
from lowcov.realigner import RealignerConfig, realign


def _cigar_text(table: bamraw.RecordTable, i: int) -> str:
    at = int(table.offsets[i])
    c = bamraw.cigar_offset(table.buf, at)
    values = [bamraw.u32(table.buf, c + 4 * k) for k in range(bamraw.u16(table.buf, at + bamraw.N_CIGAR))]
    return "".join(f"{v >> 4}{'MIDNSHP=X'[v & 15]}" for v in values)


def site_reads(bam: str, fasta: pysam.FastaFile, contig: str, pos: int, ref: str, alt: str,
               realigner: RealignerConfig, examples: ExamplesConfig = ExamplesConfig()) -> list[dict]:
    """One row per read that covers the site before or after realignment."""
    anchor = pos - 1
    start = anchor // examples.partition_size * examples.partition_size
    end = start + examples.partition_size
    half = examples.pileup.half_width
    records = bamraw.read_region(bam, contig, max(0, start - half), end + half)
    records = records.subset(ReadFilter().accepts(records))
    partition = records.subset(overlapping(records, start, end))
    normaliser = IndelNormaliser(fasta.fetch, contig)
    key = (normaliser.insertion(anchor, alt[1:]) if len(alt) > len(ref)
           else normaliser.deletion(anchor, len(ref) - len(alt)))
    window = (max(0, start - half), end + half)
    result = realign(partition, fasta.fetch, contig, normaliser, realigner, span=window)
    alleles = {}
    for name, table in (("before", partition), ("after", result.records)):
        alleles[name] = read_indel_keys(lay_out(table, *window), normaliser, examples.candidates.max_indel_length)
    for read, carried in result.carried.items():
        alleles["after"][read] = carried
    names = [n.tobytes().rstrip(b"\0").decode() for n in partition.names()[0]]
    rows = []
    for i in range(len(partition)):
        covers = {name: table.ref_start[i] <= anchor < table.ref_end[i]
                  for name, table in (("before", partition), ("after", result.records))}
        if not any(covers.values()):
            continue
        row = {"read": names[i], "reverse": bool(partition.flag[i] & 0x10), "mate": 2 if partition.flag[i] & 0x80 else 1}
        for name, table in (("before", partition), ("after", result.records)):
            row[f"{name}_pos"] = int(table.ref_start[i]) + 1
            row[f"{name}_cigar"] = _cigar_text(table, i)
            row[f"{name}_covers"] = covers[name]
            row[f"{name}_supports"] = key in alleles[name].get(i, ())
            row[f"{name}_other_indels"] = sorted(k for k in alleles[name].get(i, ()) if k != key)
        rows.append(row)
    return rows


def print_site(rows: list[dict], label: str) -> None:
    supporting = {name: sum(r[f"{name}_supports"] and r[f"{name}_covers"] for r in rows) for name in ("before", "after")}
    covering = {name: sum(r[f"{name}_covers"] for r in rows) for name in ("before", "after")}
    print(f"== {label}: supporting/covering reads before {supporting['before']}/{covering['before']}, "
          f"after {supporting['after']}/{covering['after']}")
    for r in rows:
        marks = {name: ("+" if r[f"{name}_supports"] else "-") + ("" if r[f"{name}_covers"] else " left")
                 for name in ("before", "after")}
        print(f"  {r['read'][-10:]:>10} mate{r['mate']} {'rev' if r['reverse'] else 'fwd'}  "
              f"{r['before_pos']:>9} {r['before_cigar']:<14} {marks['before']:<7} -> "
              f"{r['after_pos']:>9} {r['after_cigar']:<14} {marks['after']:<7} "
              f"other indels {r['after_other_indels'] or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bam")
    parser.add_argument("reference")
    parser.add_argument("sites", nargs="+", help="CONTIG:POS:REF:ALT (VCF position and alleles)")
    parser.add_argument("--min-haplotype-reads", type=int, default=RealignerConfig().min_haplotype_reads)
    args = parser.parse_args()
    realigner = RealignerConfig(min_haplotype_reads=args.min_haplotype_reads)
    with pysam.FastaFile(args.reference) as fasta:
        for site in args.sites:
            contig, pos, ref, alt = site.split(":")
            print_site(site_reads(args.bam, fasta, contig, int(pos), ref, alt, realigner), site)


if __name__ == "__main__":
    main()
