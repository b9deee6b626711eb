"""The training examples' shuffle: make_examples' parts spread uniformly at random over output shards, then
permuted within each (DeepVariant does this in a separate Apache Beam pipeline,
``tools/shuffle_tfrecords_beam.py``; lowcov runs it at the end of make_examples in training mode)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from .executor import run_shards
from .shards import PackedShard, shard_name, write_shard


def _split_part(task) -> None:
    part, index, n_shards, seed, bucket_dir = task
    shard = PackedShard.read(part)
    target = np.random.default_rng([seed, index]).integers(0, n_shards, len(shard))
    for s in np.unique(target):
        shard.take(np.flatnonzero(target == s)).write(bucket_dir / f"{s:05d}-{index:05d}.npz")


def _gather_shard(task) -> int:
    s, n_shards, seed, bucket_dir, path = task
    buckets = [PackedShard.read(p) for p in sorted(bucket_dir.glob(f"{s:05d}-*.npz"))]
    if not buckets:
        return 0
    shard = PackedShard.concatenate(buckets)
    shard = shard.take(np.random.default_rng([seed, n_shards, s]).permutation(len(shard)))
    write_shard(path, shard.images, shard.labels, shard.meta)
    return len(shard)


def shuffle_parts(parts: list[tuple[Path, int]], out_dir: Path, examples_per_shard: int, seed: int,
                   shards_on: dict) -> list[str]:
    """Spread examples uniformly at random over output shards, then permute within each shard.

    Two passes keep memory to a part plus an output shard per worker: first every part (path, number
    of examples) is split into per-shard buckets on disk, then each output shard gathers and permutes
    its buckets. Both passes move the images as the deflated pieces the workers wrote (PackedShard), so no
    pileup is inflated or deflated again; the shuffled shards hold the same arrays as if they had been. Each
    part and each shard draws from its own seeded generator, so the result does not depend on the number of
    workers or on the order they finish in. ``shards_on``: :func:`run_shards`'s scheduler and threads.
    """
    total = sum(n for _, n in parts)
    n_shards = max(1, -(-total // examples_per_shard))
    bucket_dir = out_dir / ".buckets"
    bucket_dir.mkdir(exist_ok=True)
    splits = [(path, index, n_shards, seed, bucket_dir) for index, (path, _) in enumerate(parts)]
    run_shards(_split_part, splits, description="shuffle (split)", labels=[p.name for p, _ in parts], **shards_on)
    names = [shard_name(s, n_shards) for s in range(n_shards)]
    gathers = [(s, n_shards, seed, bucket_dir, out_dir / names[s]) for s in range(n_shards)]
    written = run_shards(_gather_shard, gathers, description="shuffle (gather)", labels=names, **shards_on)
    shutil.rmtree(bucket_dir)
    kept = [name for name, n in zip(names, written) if n]
    if len(kept) < n_shards:  # a tiny set can leave a shard empty: number the others without a gap
        renamed = [shard_name(i, len(kept)) for i in range(len(kept))]
        for old, new in zip(kept, renamed):
            os.replace(out_dir / old, out_dir / new)
        kept = renamed
    return kept
