"""Training and inference throughput of the genotype classifier on this CPU.

Usage (from the repository root; keep runs short on a shared machine):

    .venv/bin/python benchmarks/benchmark_train.py                  # compact model, 100x221x6, 2 threads
    .venv/bin/python benchmarks/benchmark_train.py --end-to-end     # also lowcov.train.train() on disk shards

Prints examples/s for
  * train: forward + backward + SGD (Nesterov) step + EMA update, with label smoothing and the L2 term,
    on uint8 pileups, batch --train-batch-size (the case study's 256 by default);
  * inference: lowcov.model.predict, batch --infer-batch-size;
  * end-to-end (optional): lowcov.train.train() on a synthetic example set written to a temporary
    directory (shard reading, shuffling, EMA; tune evaluation time excluded, as in its log).
Each figure is the median over timed steps after warm-up steps (the mean is printed too), because other
processes on a shared machine make single steps slow at random. The Linux CPU pressure (share of time
runnable tasks waited for a CPU, /proc/pressure/cpu avg10) is printed before and after: figures taken
under pressure are not the machine's. With two torch threads on two busy cores throughput can drop 3-40x
(the threads wait on each other at every operation); ``--wait-quiet`` waits for a quiet moment first. Targets for the compact model at
DeepVariant's geometry: training >= 300 examples/s, inference >= 500 examples/s.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lowcov.model import DEFAULT_CHANNELS, build_model, count_parameters, predict
from lowcov.train import TrainConfig, WeightEMA, l2_penalty, make_optimizer

TRAIN_TARGET, INFER_TARGET = 300.0, 500.0


def cpu_pressure() -> float | None:
    """/proc/pressure/cpu "some avg10" in percent (None where the kernel does not report it)."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    fields = dict(item.split("=") for item in first.split()[1:])
    return float(fields["avg10"])


def wait_until_quiet(max_seconds: float, threshold: float = 10.0) -> None:
    deadline = time.monotonic() + max_seconds
    while (pressure := cpu_pressure()) is not None and pressure > threshold and time.monotonic() < deadline:
        time.sleep(5)


def timed(step, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def summarise(label: str, batch_size: int, times: list[float], target: float | None) -> float:
    median = batch_size / statistics.median(times)
    mean = batch_size * len(times) / sum(times)
    verdict = "" if target is None else ("  (target >= %.0f: %s)" % (target, "met" if median >= target else "NOT met"))
    print(f"{label:<11} {median:8.0f} examples/s median  {mean:8.0f} mean  batch {batch_size:>4}  "
          f"{len(times)} timed steps{verdict}")
    return median


def benchmark_model(args: argparse.Namespace) -> tuple[float, float]:
    torch.manual_seed(0)
    channels = DEFAULT_CHANNELS if args.channels == len(DEFAULT_CHANNELS) else args.channels
    config = replace(TrainConfig(), model_type=args.model, batch_size=args.train_batch_size, learning_rate=0.001)
    model = build_model(args.model, args.height, args.width, channels, config.backbone_dropout_rate)
    print(f"model {args.model}: {count_parameters(model):,} parameters; geometry {args.height}x{args.width}x"
          f"{args.channels}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 255, (args.train_batch_size, args.height, args.width, args.channels),
                                           dtype=np.uint8))
    labels = torch.from_numpy(rng.integers(0, 3, args.train_batch_size))
    optimizer = make_optimizer(model, config)
    ema = WeightEMA(model, config.ema_momentum)

    def train_step() -> None:
        model.train()
        loss = F.cross_entropy(model(images), labels, label_smoothing=config.label_smoothing)
        loss = loss + config.weight_decay * l2_penalty(model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ema.update(model)

    train_rate = summarise("train", args.train_batch_size, timed(train_step, 2, args.steps), TRAIN_TARGET
                           if args.model == "compact" else None)
    infer_images = rng.integers(0, 255, (args.infer_batch_size, args.height, args.width, args.channels), dtype=np.uint8)
    infer_rate = summarise("inference", args.infer_batch_size,
                           timed(lambda: predict(ema.model, infer_images, batch_size=args.infer_batch_size), 1,
                                 args.steps), INFER_TARGET if args.model == "compact" else None)
    return train_rate, infer_rate


def write_random_examples(directory: Path, n: int, height: int, width: int, channels: int,
                          rng: np.random.Generator, n_shards: int = 4) -> Path:
    """An example set of random pileups and labels (for timing: nothing in it can be learned)."""
    from lowcov.shards import shard_name, write_info, write_shard

    shards = []
    for index, part in enumerate(np.array_split(np.arange(n), n_shards)):
        images = rng.integers(0, 255, (len(part), height, width, channels), dtype=np.uint8)
        write_shard(directory / shard_name(index, n_shards), images, rng.integers(0, 3, len(part)), {"position": part})
        shards.append(shard_name(index, n_shards))
    write_info(directory, {"height": height, "width": width, "channels": list(DEFAULT_CHANNELS[:channels]),
                           "n_examples": n, "shards": shards})
    return directory


def benchmark_end_to_end(args: argparse.Namespace) -> float:
    from lowcov.train import apply_overrides, train

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, n in (("train", args.end_to_end_examples), ("tune", args.infer_batch_size)):
            write_random_examples(root / name, n, args.height, args.width, args.channels, rng)
        config = apply_overrides(TrainConfig(), ["config.batch_size=%d" % args.train_batch_size, "config.num_epochs=1",
                                                 "config.learning_rate=0.001", "config.num_validation_examples=0",
                                                 "config.model_type=%s" % args.model])
        result = train(root / "train", root / "tune", config, root / "experiment", device="cpu", progress=False)
    print(f"{'end-to-end':<11} {result.examples_per_second:8.0f} examples/s over {result.steps} steps of "
          f"{args.train_batch_size} (lowcov.train.train, shards on disk; {result.wall_seconds:.0f} s wall "
          "incl. tune evaluation)")
    return result.examples_per_second


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="compact", choices=["compact", "inception"])
    parser.add_argument("--height", type=int, default=100)
    parser.add_argument("--width", type=int, default=221)
    parser.add_argument("--channels", type=int, default=6)
    parser.add_argument("--train-batch-size", type=int, default=256)
    parser.add_argument("--infer-batch-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per measurement")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (the target machine has 2 cores)")
    parser.add_argument("--end-to-end", action="store_true", help="also time lowcov.train.train on disk shards")
    parser.add_argument("--end-to-end-examples", type=int, default=2048)
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long for CPU pressure (avg10) to fall below 10%%")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.wait_quiet:
        wait_until_quiet(args.wait_quiet)
    print(f"CPU pressure before: {cpu_pressure()}%")
    benchmark_model(args)
    if args.end_to_end:
        benchmark_end_to_end(args)
    print(f"CPU pressure after: {cpu_pressure()}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
