"""Training steps per second on 1 and on N CPU processes (DistributedDataParallel through torchrun, gloo).

Usage (from the repository root; keep runs short on a shared machine):

    .venv/bin/python benchmarks/benchmark_train_distributed.py                # compact model, 100x221x6, 1 vs 2
    .venv/bin/python benchmarks/benchmark_train_distributed.py --nproc 1 2 4 --examples 4096

Each run is ``lowcov.train.train(..., nproc=N)`` for one epoch on the same random example set of
``--examples`` pileups (written to a temporary directory), the global batch ``--batch-size`` (the case
study's 256), with the machine's cores shared out: ``cores // N`` torch threads per process (``--threads``
sets another count). Printed per N:
training steps/s and examples/s as rank 0 timed its steps (forward, backward, the gradient all-reduce
and the optimiser; tune evaluations and start-up excluded, as in the training log), the wall time of the
whole call (torchrun, process start-up and imports, tune evaluations included), and the speed-up over
N = 1. The Linux CPU pressure before and after says whether other work shared the cores
(``--wait-quiet`` waits for a quiet moment first).

On one machine N processes share its cores, so the gain can only come from torch computing better in N
single-thread processes than in one N-thread process; across GPUs or machines each process brings its
own device and the gradient all-reduce is the cost that grows.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_train import cpu_pressure, wait_until_quiet, write_random_examples  # noqa: E402


def run(nproc: int, root: Path, args: argparse.Namespace) -> dict[str, float]:
    from lowcov.train import TrainConfig, apply_overrides, train

    cores = os.cpu_count() or 1
    config = apply_overrides(TrainConfig(), [
        f"config.batch_size={args.batch_size}", "config.num_epochs=1", "config.learning_rate=0.001",
        f"config.num_validation_examples={args.tune_examples}", f"config.model_type={args.model}",
        f"config.num_threads={args.threads or max(1, cores // nproc)}", "config.tune_every_steps=0",
        "config.log_every_steps=0"])
    started = time.perf_counter()
    result = train(root / "train", root / "tune", config, root / f"experiment-{nproc}", device="cpu",
                   progress=False, nproc=nproc)
    wall = time.perf_counter() - started
    return {"steps": result.steps, "examples_per_second": result.examples_per_second,
            "steps_per_second": result.examples_per_second / args.batch_size, "wall": wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2], help="process counts to compare")
    parser.add_argument("--model", default="compact", choices=["compact", "inception"])
    parser.add_argument("--height", type=int, default=100)
    parser.add_argument("--width", type=int, default=221)
    parser.add_argument("--channels", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--examples", type=int, default=2048, help="training examples (one epoch is timed)")
    parser.add_argument("--tune-examples", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads per process (default: the cores shared out, cores // nproc)")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long for CPU pressure (avg10) to fall below 10%%")
    args = parser.parse_args(argv)
    if args.wait_quiet:
        wait_until_quiet(args.wait_quiet)
    print(f"CPU pressure before: {cpu_pressure()}%; {os.cpu_count()} cores; model {args.model}, "
          f"{args.height}x{args.width}x{args.channels}, global batch {args.batch_size}, {args.examples} examples")
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_random_examples(root / "train", args.examples, args.height, args.width, args.channels, rng)
        write_random_examples(root / "tune", args.tune_examples, args.height, args.width, args.channels, rng)
        figures = {n: run(n, root, args) for n in args.nproc}
    base = figures[args.nproc[0]]["steps_per_second"]
    print(f"{'nproc':>5} {'steps/s':>8} {'examples/s':>11} {'speed-up':>9} {'wall s':>7}  (steps/s: rank 0's "
          f"timed steps; wall: the whole call incl. start-up and tuning)")
    for n, figure in figures.items():
        print(f"{n:>5} {figure['steps_per_second']:8.2f} {figure['examples_per_second']:11.0f} "
              f"{figure['steps_per_second'] / base:8.2f}x {figure['wall']:7.1f}")
    print(f"CPU pressure after: {cpu_pressure()}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
