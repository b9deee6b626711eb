"""make_examples throughput on the demo DNA (examples per second per worker) and its peak memory.

    python benchmarks/benchmark_examples.py [--region chr2:1-300000] [--workers 1] [--no-realign] [--no-allele-pairs]

Budget (issue: native caller): >= 200 examples/s per core on the demo DNA.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time

from lowcov import executor
from lowcov.make_examples import ExamplesConfig, make_examples
from lowcov.layout import Layout
from lowcov.realigner import RealignerConfig


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
    args = parser.parse_args()
    layout = Layout("demo")
    config = ExamplesConfig(mode=args.mode, threads=args.workers, region_size=100_000,
                            realigner=RealignerConfig(enabled=not args.no_realign),
                            allele_pairs=not args.no_allele_pairs)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        examples = make_examples(layout.dna_bam, layout.dna_reference, f"{tmp}/ex", [args.region], config,
                                 truth_vcf=layout.truth_vcf, confident_bed=layout.confident_bed)
        seconds = time.perf_counter() - start
        info = examples.info
    n = info["n_examples"]
    print(f"region {args.region}, mode {args.mode}, {args.workers} worker(s): {n} examples "
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
