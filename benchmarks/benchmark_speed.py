"""Speed and memory of ``lowcov.benchmark.compare`` on a chr1-sized pair.

Generates (once, into benchmarks/out/, git-ignored) a random 250 Mb reference and a truth VCF of
about 300,000 variants (SNPs, indels, adjacent SNP pairs, complex alleles), then a query with a few
percent of errors and representation changes: missed variants, genotype and allele errors, extra
false positives, LowQual-filtered calls, deletions written at the right end of a homopolymer,
SNP pairs written as MNPs, complex alleles written decomposed. The comparison runs in a child
process (with a confident BED and a stratification BED, writing all outputs) and this script
prints its wall time and peak RSS. Budget on a 2-core machine: <= 60 s, <= 2 GB.

    python benchmarks/benchmark_speed.py [--length 250000000] [--variants 300000] [--seed 1]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pysam

OUT = Path(__file__).resolve().parent / "out"
BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
TRANSITION = {"A": "G", "G": "A", "C": "T", "T": "C"}


def random_reference(length: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random bases as a uint8 array (ASCII), generated in one vectorised step."""
    return BASES[rng.integers(0, 4, size=length, dtype=np.uint8)]


def save_fasta(path: Path, seq: np.ndarray, width: int = 60) -> None:
    full = len(seq) // width * width
    with open(path, "wb") as handle:
        handle.write(b">chr1\n")
        lines = np.hstack([seq[:full].reshape(-1, width), np.full((full // width, 1), ord("\n"), dtype=np.uint8)])
        handle.write(lines.tobytes())
        if full < len(seq):
            handle.write(seq[full:].tobytes() + b"\n")
    pysam.faidx(str(path))


def make_pair(length: int, n_variants: int, seed: int) -> dict[str, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    tag = f"{length}_{n_variants}_{seed}"
    paths = {name: OUT / f"{name}.{tag}{suffix}" for name, suffix in (
        ("reference", ".fa"), ("truth", ".vcf"), ("query", ".vcf"), ("confident", ".bed"), ("strata", ".bed"))}
    if all(Path(str(p) + (".gz" if p.suffix == ".vcf" else "")).exists() for p in paths.values()):
        return {k: Path(str(p) + ".gz") if p.suffix == ".vcf" else p for k, p in paths.items()}
    rng = np.random.default_rng(seed)
    py_rng = np.random.default_rng(seed + 1)
    seq = random_reference(length, rng)
    # sites ~ evenly spread, at least 40 bp apart so planted events do not collide
    sites = np.sort(rng.choice(np.arange(100, length - 100, 40), size=n_variants, replace=False))
    kinds = rng.choice(["snp", "ins", "del", "hompol", "pair", "complex"], size=n_variants,
                       p=[0.80, 0.06, 0.06, 0.03, 0.025, 0.025])
    genotypes = rng.choice(["0/1", "1/1"], size=n_variants, p=[0.6, 0.4])
    # homopolymers planted in the reference for the shifted-deletion events
    for p in sites[kinds == "hompol"]:
        seq[p: p + 6] = ord("A")
        seq[p - 1] = ord("C")
        seq[p + 6] = ord("G")
    save_fasta(paths["reference"], seq)
    text = seq.tobytes().decode()
    truth, query = [], []
    u = py_rng.random(size=(n_variants, 4))
    for i, (p, kind, gt) in enumerate(zip(sites.tolist(), kinds.tolist(), genotypes.tolist())):
        ref_base = text[p]
        r_miss, r_gt, r_allele, r_filter = u[i]
        if kind == "snp":
            alt = TRANSITION[ref_base] if r_allele < 0.67 else "ACGT"[("ACGT".index(ref_base) + 1) % 4]
            t = [(p + 1, ref_base, alt, gt)]
            if r_allele > 0.995:  # allele error
                q = [(p + 1, ref_base, "ACGT"[("ACGT".index(alt) + 1) % 4] if "ACGT"[("ACGT".index(alt) + 1) % 4] != ref_base
                      else "ACGT"[("ACGT".index(alt) + 2) % 4], gt)]
            else:
                q = list(t)
        elif kind == "ins":
            ins = "".join(py_rng.choice(list("ACGT"), size=int(py_rng.integers(1, 8))))
            t = q = [(p + 1, ref_base, ref_base + ins, gt)]
        elif kind == "del":
            n = int(py_rng.integers(1, 8))
            t = q = [(p + 1, text[p:p + n + 1], ref_base, gt)]
        elif kind == "hompol":  # C AAAAAA G: delete one A; query writes it at the run's right end
            t = [(p, "CA", "C", gt)]
            q = [(p + 5, "AA", "A", gt)]
        elif kind == "pair":  # two adjacent SNPs in phase; query writes one MNP
            a, b = TRANSITION[text[p]], TRANSITION[text[p + 1]]
            t = [(p + 1, text[p], a, "0|1"), (p + 2, text[p + 1], b, "0|1")]
            q = [(p + 1, text[p:p + 2], a + b, "0/1")]
        else:  # complex 4 bp -> 2 bp; query writes an SNP and a 2 bp deletion on one haplotype
            snp = [c for c in "ACGT" if c != text[p] and c != text[p + 3]][0]
            t = [(p + 1, text[p:p + 4], snp + text[p + 3], "0|1")]
            q = [(p + 1, text[p], snp, "0|1"), (p + 1, text[p:p + 3], text[p], "0|1")]
        truth += t
        if r_miss < 0.02:
            continue  # missed by the query
        if r_gt < 0.01:
            q = [(a, b, c, "1/1" if g in ("0/1", "0|1") else "0/1") for a, b, c, g in q]
        flt = "LowQual" if r_filter < 0.05 else "PASS"
        query += [x + (flt,) for x in q]
    # extra false positives (SNPs) between the planted sites
    for p in rng.choice(np.arange(120, length - 100, 40), size=n_variants // 100, replace=False).tolist():
        p += 20
        query.append((p + 1, text[p], TRANSITION[text[p]], "0/1", "LowQual" if p % 3 == 0 else "PASS"))
    header = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=%d>\n##FILTER=<ID=LowQual,Description=\"low\">\n"
              "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tSAMPLE\n" % length)
    for name, records in (("truth", [r + ("PASS",) for r in truth]), ("query", query)):
        records.sort(key=lambda r: r[0])
        with open(paths[name], "w") as handle:
            handle.write(header)
            handle.writelines(f"chr1\t{r[0]}\t.\t{r[1]}\t{r[2]}\t50\t{r[4]}\t.\tGT\t{r[3]}\n" for r in records)
        pysam.tabix_index(str(paths[name]), preset="vcf", force=True)
    # confident regions: 100 kb blocks separated by 10 kb gaps; strata: every other 1 Mb
    with open(paths["confident"], "w") as handle:
        for start in range(0, length, 110_000):
            handle.write(f"chr1\t{start}\t{min(start + 100_000, length)}\n")
    with open(paths["strata"], "w") as handle:
        for start in range(0, length, 2_000_000):
            handle.write(f"chr1\t{start}\t{min(start + 1_000_000, length)}\n")
    return {k: Path(str(p) + ".gz") if p.suffix == ".vcf" else p for k, p in paths.items()}


CHILD = """
import json, sys, time, logging
logging.basicConfig(level=logging.WARNING)
from lowcov.benchmark import compare, print_case_study_table
args = json.loads(sys.argv[1])
began = time.perf_counter()
result = compare(args["truth"], args["query"], args["reference"], confident_bed=args["confident"],
                 stratify={"every_other_mb": args["strata"]}, output_prefix=args["prefix"])
seconds = time.perf_counter() - began
print_case_study_table(result)
print(json.dumps({"compare_seconds": seconds, "stats": result.stats}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=250_000_000)
    parser.add_argument("--variants", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    began = time.perf_counter()
    paths = make_pair(args.length, args.variants, args.seed)
    print(f"inputs ready in {time.perf_counter() - began:.1f} s: {paths['truth'].name}, {paths['query'].name}")
    child_args = {k: str(v) for k, v in paths.items()}
    child_args["prefix"] = str(OUT / "speed")
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", CHILD, json.dumps(child_args)], check=True)
    wall = time.perf_counter() - began
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"wall time {wall:.1f} s (including interpreter start-up), peak RSS {peak_kb / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
