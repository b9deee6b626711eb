"""Small files made by the benchmark and peer-caller tests: random references, VCFs, BAMs."""
from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Iterable, Sequence

import pysam
import pytest

REPO = Path(__file__).resolve().parents[1]
HAPPY_FIXTURES = REPO.parent / "shared" / "fixtures" / "happy"

COUNT_COLUMNS = ["TRUTH.TOTAL", "TRUTH.TP", "TRUTH.FN", "QUERY.TOTAL", "QUERY.FP", "QUERY.UNK", "FP.gt"]


def happy_fixture(name: str, tmp_path: Path) -> Path:
    """A private copy of one of hap.py's test folders (so indexes built by the run stay in tmp)."""
    source = HAPPY_FIXTURES / name
    if not source.is_dir():
        pytest.skip(f"hap.py fixtures not available ({source} is absent: they live in the shared "
                    "workspace, not in clones of the repository)")
    target = tmp_path / name
    shutil.copytree(source, target)
    return target


def random_sequence(length: int, rng: random.Random) -> str:
    return "".join(rng.choice("ACGT") for _ in range(length))


def write_fasta(path: Path, contigs: dict[str, str], width: int = 60) -> Path:
    with open(path, "w") as handle:
        for name, seq in contigs.items():
            handle.write(f">{name}\n")
            for i in range(0, len(seq), width):
                handle.write(seq[i:i + width] + "\n")
    pysam.faidx(str(path))
    return path


def write_bed(path: Path, intervals: Iterable[tuple[str, int, int]]) -> Path:
    with open(path, "w") as handle:
        for chrom, start, end in intervals:
            handle.write(f"{chrom}\t{start}\t{end}\n")
    return path


def write_vcf(path: Path, contigs: dict[str, int], records: Sequence[tuple], sample: str = "SAMPLE",
              bgzip: bool = True, sort: bool = True, formats: Sequence[str] = ("GT",),
              filters: Sequence[str] = ()) -> Path:
    """Write records ``(chrom, pos, ref, alt, gt[, filter[, extra FORMAT values...]])``.

    ``bgzip`` writes .vcf.gz with a tabix index (then ``path`` should end in .vcf.gz).
    """
    header = ["##fileformat=VCFv4.2"]
    header += [f"##contig=<ID={c},length={n}>" for c, n in contigs.items()]
    header += [f'##FILTER=<ID={f},Description="{f}">' for f in filters]
    descriptions = {"GT": ("1", "String"), "FT": ("1", "String"), "PS": ("1", "Integer")}
    header += [f'##FORMAT=<ID={f},Number={descriptions[f][0]},Type={descriptions[f][1]},Description="{f}">'
               for f in formats]
    header.append(f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}")
    order = list(contigs)
    rows = list(records)
    if sort:
        rows.sort(key=lambda r: (order.index(r[0]) if r[0] in order else len(order), r[1]))
    lines = []
    for row in rows:
        chrom, pos, ref, alt, gt = row[:5]
        filt = row[5] if len(row) > 5 else "PASS"
        extra = [str(v) for v in row[6:]]
        lines.append("\t".join([chrom, str(pos), ".", ref, alt, "50", filt, ".", ":".join(formats),
                                ":".join([gt] + extra)]))
    text = "\n".join(header + lines) + "\n"
    if bgzip:
        plain = Path(str(path)[:-3]) if str(path).endswith(".gz") else path
        plain.write_text(text)
        if sort:
            pysam.tabix_index(str(plain), preset="vcf", force=True)
        else:
            pysam.tabix_compress(str(plain), str(plain) + ".gz", force=True)
            plain.unlink()
        return Path(str(plain) + ".gz")
    path.write_text(text)
    return path


def counts(result, variant_type: str, filter_name: str = "ALL") -> tuple[int, ...]:
    """(TRUTH.TOTAL, TRUTH.TP, TRUTH.FN, QUERY.TOTAL, QUERY.FP, QUERY.UNK, FP.gt, FP.al)."""
    summary = result.summary
    row = summary[(summary["Type"] == variant_type) & (summary["Filter"] == filter_name)]
    assert len(row) == 1, f"no {variant_type}/{filter_name} row in\n{summary}"
    return tuple(int(row.iloc[0][c]) for c in COUNT_COLUMNS + ["FP.al"])


def random_variants(seq: str, chrom: str, rng: random.Random, n: int, spacing: int = 60,
                    indel_fraction: float = 0.3) -> list[tuple]:
    """Non-overlapping, well-separated SNPs and short indels with random genotypes."""
    records = []
    positions = sorted(rng.sample(range(10, len(seq) - 30, spacing), n)) if n else []
    for p in positions:  # p is 0-based
        gt = rng.choice(["0/1", "0/1", "1/1", "0|1", "1|0"])
        kind = rng.random()
        if kind > indel_fraction:
            alt = rng.choice([b for b in "ACGT" if b != seq[p]])
            records.append((chrom, p + 1, seq[p], alt, gt))
        elif kind > indel_fraction / 2:
            length = rng.randint(1, 6)
            records.append((chrom, p + 1, seq[p:p + 1 + length], seq[p], gt))
        else:
            ins = random_sequence(rng.randint(1, 6), rng)
            records.append((chrom, p + 1, seq[p], seq[p] + ins, gt))
    return records


# ---------------------------------------------------------------------------------------------
# reads for the peer caller

def _apply(seq: str, variants: Sequence[tuple[int, str, str]]) -> tuple[str, list[int]]:
    """A haplotype carrying ``variants`` (0-based start, REF, ALT; sorted, non-overlapping) and,
    per haplotype base, the reference position it aligns to (-1 for inserted bases)."""
    hap, ref_of = [], []
    cursor = 0
    for start, ref, alt in variants:
        hap.append(seq[cursor:start])
        ref_of.extend(range(cursor, start))
        # shared first base, then substitution/insertion/deletion
        common = min(len(ref), len(alt))
        hap.append(alt[:common])
        ref_of.extend(range(start, start + common))
        if len(alt) > len(ref):
            hap.append(alt[common:])
            ref_of.extend([-1] * (len(alt) - common))
        cursor = start + len(ref)
    hap.append(seq[cursor:])
    ref_of.extend(range(cursor, len(seq)))
    return "".join(hap), ref_of


def _cigar(ref_of: list[int]) -> tuple[int, list[tuple[int, int]]]:
    """(reference start, CIGAR tuples) of a read whose bases map to ``ref_of``."""
    ops: list[tuple[int, int]] = []

    def add(op: int, n: int = 1) -> None:
        if ops and ops[-1][0] == op:
            ops[-1] = (op, ops[-1][1] + n)
        else:
            ops.append((op, n))

    first = next(r for r in ref_of if r >= 0)
    previous = None
    for r in ref_of:
        if r < 0:
            add(1 if previous is not None else 4)  # insertion, or soft clip before the first aligned base
            continue
        if previous is not None and r > previous + 1:
            add(2, r - previous - 1)
        add(0)
        previous = r
    if ops[-1][0] == 1:
        ops[-1] = (4, ops[-1][1])
    return first, ops


def simulate_bam(path: Path, chrom: str, seq: str, haplotypes: Sequence[Sequence[tuple[int, str, str]]],
                 depth: int = 30, read_length: int = 100, seed: int = 7) -> Path:
    """Single-end reads drawn evenly from the haplotypes, sorted and indexed."""
    rng = random.Random(seed)
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": chrom, "LN": len(seq)}],
              "RG": [{"ID": "rg1", "SM": "SAMPLE"}]}
    reads = []
    for h, variants in enumerate(haplotypes):
        hap, ref_of = _apply(seq, sorted(variants))
        n_reads = depth * len(hap) // read_length // len(haplotypes)
        for i in range(n_reads):
            start = rng.randint(0, len(hap) - read_length)
            mapped = ref_of[start:start + read_length]
            if all(r < 0 for r in mapped):
                continue
            ref_start, cigar = _cigar(mapped)
            read = pysam.AlignedSegment()
            read.query_name = f"h{h}_{i}"
            read.query_sequence = hap[start:start + read_length]
            read.flag = 16 if rng.random() < 0.5 else 0
            read.reference_id = 0
            read.reference_start = ref_start
            read.mapping_quality = 60
            read.cigartuples = cigar
            read.query_qualities = pysam.qualitystring_to_array("I" * read_length)
            read.set_tag("RG", "rg1")
            reads.append(read)
    reads.sort(key=lambda r: r.reference_start)
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for read in reads:
            out.write(read)
    pysam.index(str(path))
    return path
