"""make_examples throughput on the demo DNA (examples per second per worker) and its peak memory.

    python benchmarks/benchmark_examples.py [--region chr2:1-300000] [--workers 1] [--no-realign] [--no-allele-pairs]
    python benchmarks/benchmark_examples.py --book-training-set --workers 2 [--keep DIR]

``--book-training-set``: the original model's training examples as chapter 3 makes them (every training
contig, each at the read fractions DEMO_READ_FRACTIONS), the stage's real workload in the book.

Budget (issue 16): >= 200 examples/s per core end to end on the demo DNA, with realignment on.

Measured on an idle 2-core machine (AMD EPYC, 2.4 GHz), training mode, realignment on. Before and after the
shuffle moved each image as its own deflated piece instead of inflating and deflating every part and bucket
again (lowcov.shards.PackedImages; the shuffled shards hold the same arrays, checked shard by shard):

    workload                                  before                       after
    --book-training-set, 2 workers            128.8 s, 177 /s per worker   78.8-87.5 s, 261-290 /s per worker
      (45,720 examples)                       worker peak RSS 1.53 GB      0.61-0.63 GB (three runs)
    --region chr2, 1 worker (2,366 examples)  17.9 s, 132 /s               12.0 s, 197-198 /s
    --region chr2, 1 worker, --no-realign     14.2 s, 164 /s (stop 19)     9.3 s, 251 /s

Inside the workers the book's training set ran at 282 and then 316-349 examples/s per busy core (a region keeps
deflated pieces instead of its raw pileups and a stacked copy of them). On one contig with one worker the
fixed costs (the code digest ~0.6 s, the compiled kernels' load ~1 s, the shuffle) keep the rate just under 200.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from dataclasses import replace

from lowcov import executor
from lowcov.make_examples import ExamplesConfig, make_examples
from lowcov.layout import Layout
from lowcov.realigner import RealignerConfig
from lowcov.study.original_model import DEMO_READ_FRACTIONS


def _own_peak_rss_mb() -> float:
    """This process's peak resident memory (MB; Linux reports ru_maxrss in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_peak_rss_mb(workers: int) -> list[float]:
    """Each make_examples worker's peak resident memory (MB), asked of the workers themselves: the Dask
    worker processes stay alive after the stage (the process keeps its cluster), so the operating system's
    account of finished children would not hold them. Empty when the regions ran in this process."""
    client = executor.client_for(None, threads=workers)
    if client is None:
        return []
    return sorted(client.run(_own_peak_rss_mb).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--region", default="chr2:1-400000")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--mode", default="training", choices=["training", "calling"])
    parser.add_argument("--no-realign", action="store_true", help="without local realignment (issue 16)")
    parser.add_argument("--no-allele-pairs", action="store_true", help="without allele-pair images (issue 16)")
    parser.add_argument("--book-training-set", action="store_true",
                        help="the original model's training set: every training contig at DEMO_READ_FRACTIONS")
    parser.add_argument("--keep", help="write the set here (replaced) instead of a temporary directory, "
                                       "to compare its shards with another run's")
    args = parser.parse_args()
    layout = Layout("demo")
    config = ExamplesConfig(mode=args.mode, threads=args.workers,
                            realigner=RealignerConfig(enabled=not args.no_realign),
                            allele_pairs=not args.no_allele_pairs)
    if args.book_training_set:
        regions = layout.training_contigs(layout.dna_reference)
        config = replace(config, read_fractions=DEMO_READ_FRACTIONS)
    else:
        regions = [args.region]
        config = replace(config, region_size=100_000)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        examples = make_examples(layout.dna_bam, layout.dna_reference, args.keep or f"{tmp}/ex", regions, config,
                                 truth_vcf=layout.truth_vcf, confident_bed=layout.confident_bed, force=True)
        seconds = time.perf_counter() - start
        info = examples.info
    n = info["n_examples"]
    print(f"regions {', '.join(regions)}, reads x{', '.join(f'{f:g}' for f in config.read_fractions)}, "
          f"mode {args.mode}, {args.workers} worker(s): {n} examples "
          f"({info['n_candidates']} candidates) in {seconds:.1f} s = {n / seconds:.0f} examples/s "
          f"= {n / seconds / args.workers:.0f} examples/s per worker")
    busy = sum(r["seconds"] for r in info["regions"])
    print(f"inside the workers (reading, candidates, images, writing parts): {busy:.1f} s of worker time "
          f"= {n / busy:.0f} examples/s per busy core; the rest is process start-up and the seeded shuffle")
    print(f"class counts: {info['class_counts']}; labels the haplotype labeller changed from the allele "
          f"lookup: {info['label_changes'] or 'none'}")
    workers = worker_peak_rss_mb(args.workers)
    where = (f"workers {', '.join(f'{mb:.0f}' for mb in workers)} MB" if workers
             else "the regions ran in the main process")
    print(f"peak RSS: main {_own_peak_rss_mb():.0f} MB, {where}")


if __name__ == "__main__":
    main()
