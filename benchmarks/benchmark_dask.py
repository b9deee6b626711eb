"""make_examples and call_variants on the demo's test contig, side by side: in one process, on a 2-worker
LocalCluster, and on a separately started ``dask scheduler`` + 2 ``dask worker`` processes on 127.0.0.1;
then a projection of the seed profile's wall time on more cores.

    python benchmarks/benchmark_dask.py [--profile demo] [--workers 2] [--repeats 2]

Each setup runs each stage ``--repeats`` times: the first call pays the workers' start (a LocalCluster is
started lazily, and every worker imports lowcov, loads the compiled loops and, for call_variants, torch
and the checkpoint); later calls reuse them, as the book's later stages do. The "warm" column is the
fastest later call, and the speed-up is the serial warm time over the setup's warm time. Serial means one
core: make_examples with threads=1 and call_variants with one torch thread (a second call_variants row
shows the in-process default, torch's own threads, which is what call_variants does without --threads).
Outputs are checked to be the same bytes in every setup. The machine may be shared: timings are of one run,
and the CPU seconds of the warm call (this process and the workers) give examples per CPU-second, which
other programs on the machine change less than wall time; the projection uses them.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import resource
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from lowcov import executor
from lowcov.call_variants import CallConfig, call_variants
from lowcov.layout import Layout
from lowcov.make_examples import ExamplesConfig, make_examples
from lowcov.study.original_model import original_checkpoint

#: the case study's seed data (hg19 lengths, Mb): chr2-22 without chr10 for training, chr10 to tune, chr1 to test
SEED_TRAINING_MB = 2_496.2
SEED_TUNE_MB = 135.5
SEED_TEST_MB = 249.3
#: examples per kb of a 30x WGS: the case study's chr1 calls (285,311 SNP + 79,490 INDEL records on 249 Mb =
#: 1.46 per kb) plus the candidates called reference, assumed to add a third
SEED_EXAMPLES_PER_KB = 2.0
#: the calling sets of the test contig: full, 50 % and the sweep's 10, 20, 30 and 70 %
SEED_CALLING_SETS = 6
#: bases per make_examples region (ExamplesConfig.region_size) and examples per training shard
REGION_BASES = ExamplesConfig().region_size
EXAMPLES_PER_SHARD = ExamplesConfig().examples_per_shard
#: bytes per example on disk (measured below on the demo's calling set) are used for the I/O figures
CORES = (8, 64, 512)


@dataclass
class Timing:
    setup: str
    stage: str
    first: float
    warm: float
    cpu: float
    examples: int
    digest: str


def shards_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.glob("shard-*.npz")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def vcf_digest(path: Path) -> str:
    with gzip.open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:12]


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(threads: int, scheduler: str | None) -> float:
    """CPU seconds used so far by this process and by the workers of the setup's cluster."""
    client = executor.client_for(scheduler, threads)
    workers = sum(client.run(process_cpu_seconds).values()) if client is not None else 0.0
    return process_cpu_seconds() + workers


def run_setup(name: str, layout: Layout, out: Path, repeats: int, threads: int, scheduler: str | None,
              stages: tuple[str, ...] = ("make_examples", "call_variants")) -> list[Timing]:
    """Time the stages ``repeats`` times in one setup."""
    config = ExamplesConfig(mode="calling", threads=threads)
    examples_dir = out / f"examples.{name.split()[0]}"
    times: dict[str, list[float]] = {stage: [] for stage in stages}
    cpu: dict[str, float] = {}
    examples = None
    vcf = out / f"calls.{name.split()[0]}.vcf.gz"
    for attempt in range(repeats):
        warm = attempt > 0 or repeats == 1
        if "make_examples" in stages or examples is None:
            cpu_before = cpu_seconds(threads, scheduler) if warm else 0.0
            start = time.perf_counter()
            examples = make_examples(layout.dna_test_bam(1.0), layout.dna_reference, examples_dir, [layout.test_contig],
                                     config, truth_vcf=layout.truth_vcf, force=True, scheduler=scheduler)
            if "make_examples" in stages:
                times["make_examples"].append(time.perf_counter() - start)
                if warm:
                    cpu["make_examples"] = cpu_seconds(threads, scheduler) - cpu_before
        if "call_variants" in stages:
            cpu_before = cpu_seconds(threads, scheduler) if warm else 0.0
            start = time.perf_counter()
            call_variants(examples.directory, original_checkpoint(layout), layout.dna_reference, vcf, CallConfig(),
                          threads=threads, scheduler=scheduler)
            times["call_variants"].append(time.perf_counter() - start)
            if warm:
                cpu["call_variants"] = cpu_seconds(threads, scheduler) - cpu_before
    rows = []
    for stage, seconds in times.items():
        digest = shards_digest(examples.directory) if stage == "make_examples" else vcf_digest(vcf)
        rows.append(Timing(name, stage, seconds[0], min(seconds[1:] or seconds), cpu[stage], len(examples), digest))
    return rows


def projection(rows: list[Timing], bytes_per_example: float) -> str:
    """The seed profile's make_examples and call_variants wall time on more cores, from the serial rates."""
    serial = {r.stage: r for r in rows if r.setup.startswith("serial (1 core)")}
    # examples per CPU-second: one core's rate when the core is not shared
    rate = {stage: r.examples / r.cpu for stage, r in serial.items()}
    training = SEED_TRAINING_MB * 1000 * SEED_EXAMPLES_PER_KB
    tune = SEED_TUNE_MB * 1000 * SEED_EXAMPLES_PER_KB
    calling = SEED_TEST_MB * 1000 * SEED_EXAMPLES_PER_KB * SEED_CALLING_SETS
    total_make = training + tune + calling
    regions = (SEED_TRAINING_MB + SEED_TUNE_MB + SEED_TEST_MB * SEED_CALLING_SETS) * 1e6 / REGION_BASES
    parts = SEED_TRAINING_MB * 1e6 / REGION_BASES
    shards = training / EXAMPLES_PER_SHARD
    lines = [f"one core (examples per CPU-second, serial): make_examples {rate['make_examples']:.0f} examples/s, "
             f"call_variants {rate['call_variants']:.0f} examples/s",
             f"seed profile, assuming {SEED_EXAMPLES_PER_KB} examples per kb: make_examples {total_make / 1e6:.1f} M "
             f"examples ({training / 1e6:.1f} M training, {tune / 1e6:.2f} M tune, {calling / 1e6:.1f} M calling in "
             f"{SEED_CALLING_SETS} sets) in {regions:.0f} region shards; call_variants {calling / 1e6:.1f} M "
             f"examples per model; {total_make * bytes_per_example / 1e9:.0f} GB of examples",
             f"{'cores':>6} {'make_examples':>14} {'call_variants':>14}   (hours, perfect scaling)"]
    for cores in (1,) + CORES:
        make_hours = total_make / rate["make_examples"] / cores / 3600
        call_hours = calling / rate["call_variants"] / cores / 3600
        lines.append(f"{cores:>6} {make_hours:>14.2f} {call_hours:>14.2f}")
    lines.append(f"the training shuffle: {parts:.0f} parts x {shards:.0f} output shards = up to "
                 f"{parts * shards / 1e6:.1f} M bucket files, and the training examples "
                 f"({training * bytes_per_example / 1e9:.0f} GB) written three times")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    # here, not at the top: local workers are spawned processes that import this script again
    import torch

    layout = Layout(args.profile)
    default_torch_threads = torch.get_num_threads()
    rows: list[Timing] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        torch.set_num_threads(1)
        rows += run_setup("serial (1 core)", layout, out, args.repeats, threads=1, scheduler=None)
        torch.set_num_threads(default_torch_threads)
        rows += run_setup(f"serial, torch default ({default_torch_threads} threads)", layout, out, args.repeats,
                          threads=1, scheduler=None, stages=("call_variants",))
        executor.shutdown()
        rows += run_setup(f"LocalCluster, {args.workers} workers", layout, out, args.repeats, threads=args.workers,
                          scheduler=None)
        executor.shutdown()
        with executor.separate_cluster(workers=args.workers, log_dir=out) as address:
            rows += run_setup(f"dask scheduler + {args.workers} dask workers", layout, out, args.repeats,
                              threads=args.workers, scheduler=address)
        bytes_per_example = sum(p.stat().st_size for p in (out / "examples.serial").glob("shard-*.npz")) / rows[0].examples
    serial_warm = {r.stage: r.warm for r in rows if r.setup.startswith("serial (1 core)")}
    print(f"\n{layout.test_contig} of the {args.profile} profile, calling mode, {rows[0].examples} examples "
          f"(one run on a possibly shared machine)\n")
    print(f"{'stage':<14} {'setup':<36} {'first s':>8} {'warm s':>8} {'examples/s':>10} {'speed-up':>8} "
          f"{'CPU s':>7} {'ex/CPU-s':>8}  output")
    for r in rows:
        print(f"{r.stage:<14} {r.setup:<36} {r.first:>8.2f} {r.warm:>8.2f} {r.examples / r.warm:>10.0f} "
              f"{serial_warm[r.stage] / r.warm:>8.2f} {r.cpu:>7.1f} {r.examples / r.cpu:>8.0f}  {r.digest}")
    for stage in ("make_examples", "call_variants"):
        digests = {r.digest for r in rows if r.stage == stage}
        print(f"{stage}: {'the same bytes in every setup' if len(digests) == 1 else 'OUTPUTS DIFFER: ' + str(digests)}")
    print(f"\nbytes per example on disk: {bytes_per_example:.0f}")
    print(projection(rows, bytes_per_example))


if __name__ == "__main__":
    main()
