"""Throughput of DeepVariant's network (InceptionV3, lowcov.dvmodel) beside lowcov's compact model on this CPU.

    .venv/bin/python benchmarks/benchmark_dvmodel.py [--batch-size 32] [--threads 2] [--repeats 3]

Prints examples/s for inference (eval mode, no gradients) and for one training step (forward, cross
entropy, backward, SGD with Nesterov momentum) on random uint8 pileups of DeepVariant's geometry
(100 x 221 x 6), median over timed steps after one warm-up step, and the Linux CPU pressure
(/proc/pressure/cpu avg10) before and after: figures taken under pressure are not the machine's.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lowcov.dvmodel import DeepVariantInceptionV3
from lowcov.model import DEFAULT_CHANNELS, build_model


def cpu_pressure() -> str:
    try:
        return Path("/proc/pressure/cpu").read_text().split()[1]
    except (OSError, IndexError):
        return "avg10=?"


def median_seconds(step, repeats: int) -> float:
    step()  # warm-up: oneDNN picks its kernels on the first call
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, model: torch.nn.Module, scores, images: torch.Tensor, labels: torch.Tensor,
            repeats: int) -> None:
    model.eval()

    def infer():
        with torch.no_grad():
            scores(images)

    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)

    def train_step():
        optimiser.zero_grad(set_to_none=True)
        F.cross_entropy(scores(images), labels).backward()
        optimiser.step()

    n = len(images)
    infer_rate = n / median_seconds(infer, repeats)
    model.train()
    train_rate = n / median_seconds(train_step, repeats)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{name:<34} {parameters / 1e6:6.2f} M weights   inference {infer_rate:7.1f} examples/s"
          f"   training step {train_rate:7.1f} examples/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    channels = len(DEFAULT_CHANNELS)
    images = torch.from_numpy(rng.integers(0, 255, (args.batch_size, 100, 221, channels), dtype=np.uint8))
    labels = torch.from_numpy(rng.integers(0, 3, args.batch_size))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"images 100x221x{channels}; CPU pressure before: {cpu_pressure()}")
    dv = DeepVariantInceptionV3(channels)
    measure("DeepVariant InceptionV3 (dvmodel)", dv, dv.logits, images, labels, args.repeats)
    compact = build_model("compact", channels=DEFAULT_CHANNELS)
    measure("lowcov compact (model.build_model)", compact, compact, images, labels, args.repeats)
    print(f"CPU pressure after: {cpu_pressure()}")


if __name__ == "__main__":
    main()
