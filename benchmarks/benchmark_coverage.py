"""Depth computation: lowcov.coverage vs samtools depth (pysam's bundled samtools) on the demo BAMs.

    python benchmarks/benchmark_coverage.py [--profile demo]

Prints wall time per BAM for samtools depth (single-threaded C, output to a file), lowcov with one
worker and with two, and checks that both give the same number of covered bases. lowcov's compiled
record loop is loaded (or, on a fresh clone, compiled and cached) once before timing; that one-off cost
is printed on its own.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import pysam

from lowcov.coverage import DepthConfig, contig_depth, depth_summary
from lowcov.layout import Layout


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def samtools_depth(bam: Path) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "depth.txt"
        seconds, _ = timed(lambda: pysam.samtools.depth(str(bam), "-o", str(out)))
        with open(out) as handle:
            # samtools also lists bases inside reads where only deletions are (depth 0)
            covered = sum(1 for line in handle if not line.endswith("\t0\n"))
    return seconds, covered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="demo")
    args = parser.parse_args()
    layout = Layout(args.profile)
    bams = {"DNA chr1 (30x)": layout.dna_test_bam(1.0), "DNA chr1 (50 %)": layout.dna_test_bam(0.5),
            "DNA all contigs": layout.dna_bam, "RNA (ccs)": layout.rna_bam("ccs"),
            "RNA (isoseq)": layout.rna_bam("isoseq")}
    warm_seconds, _ = timed(lambda: contig_depth(layout.dna_test_bam(0.5), layout.test_contig, end=1000))
    print(f"one-off load/compile of the numba record loop: {warm_seconds:.2f} s")
    print(f"{'BAM':18} {'size MB':>8} {'samtools s':>11} {'lowcov x1 s':>12} {'lowcov x2 s':>12} {'speed-up x2':>12}  same")
    for name, bam in bams.items():
        if not bam.exists():
            print(f"{name:18} missing: run `make data` first")
            continue
        st_seconds, st_covered = samtools_depth(bam)
        one_seconds, one = timed(lambda: depth_summary(bam, config=DepthConfig(threads=1)))
        two_seconds, two = timed(lambda: depth_summary(bam, config=DepthConfig(threads=2)))
        same = one.covered_bases() == st_covered == two.covered_bases()
        print(f"{name:18} {bam.stat().st_size / 1e6:8.1f} {st_seconds:11.2f} {one_seconds:12.2f} "
              f"{two_seconds:12.2f} {st_seconds / two_seconds:11.2f}x  {same}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
