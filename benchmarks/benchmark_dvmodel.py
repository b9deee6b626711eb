"""Throughput of DeepVariant's network (InceptionV3: ``model_type='inception_v3'``, lowcov.dvmodel) beside
lowcov's compact model on this CPU.

    .venv/bin/python benchmarks/benchmark_dvmodel.py [--batch-size 32] [--threads 2] [--repeats 3]

Prints examples/s for inference (eval mode, no gradients) and for one training step (forward, cross
entropy, backward, SGD with Nesterov momentum) on random uint8 pileups of DeepVariant's geometry
(100 x 221 x 7, its WGS channels), median over timed steps after one warm-up step, what that means for
100,000 examples (one pass of calling, one epoch of fine-tuning), and the Linux CPU pressure
(/proc/pressure/cpu avg10) before and after: figures taken while other work runs on the machine are
not the machine's.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lowcov.model import DEFAULT_CHANNELS, build_model

#: the example count the projections are given for
PER = 100_000


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


def measure(name: str, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, repeats: int) -> None:
    """``model`` maps images to logits (lowcov.model's architectures)."""
    model.eval()

    def infer():
        with torch.no_grad():
            model(images)

    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)

    def train_step():
        optimiser.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        optimiser.step()

    n = len(images)
    infer_rate = n / median_seconds(infer, repeats)
    model.train()
    train_rate = n / median_seconds(train_step, repeats)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{name:<40} {parameters / 1e6:6.2f} M weights   inference {infer_rate:7.1f} examples/s"
          f"   training step {train_rate:7.1f} examples/s")
    print(f"{'':<40} 100,000 examples: calling {PER / infer_rate / 60:6.1f} min, one fine-tuning epoch "
          f"{PER / train_rate / 3600:6.2f} h")


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
    inception_v3 = build_model("inception_v3", channels=DEFAULT_CHANNELS)  # what the trainer trains
    measure("DeepVariant InceptionV3 (inception_v3)", inception_v3, images, labels, args.repeats)
    compact = build_model("compact", channels=DEFAULT_CHANNELS)
    measure("lowcov compact", compact, images, labels, args.repeats)
    print(f"CPU pressure after: {cpu_pressure()}")


if __name__ == "__main__":
    main()
