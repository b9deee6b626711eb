"""Shuffling DeepVariant's training examples into shards, with the ``dataset_config.pbtxt`` train reads.

DeepVariant shuffles with an Apache Beam script (``tools/shuffle_tfrecords_beam.py``, run outside its
image); this module does the same job in two streaming passes with a seeded generator, so that memory
holds one output shard at a time: each record goes to a random bucket (gzipped on disk), then each bucket is permuted
and written as ``<prefix>-0000i-of-0000N.tfrecord.gz`` (the Beam script's names). Beside them:

* ``<prefix>.dataset_config.pbtxt``: ``# class<k>: <count>`` comment lines, then ``name``,
  ``tfrecord_path`` (the shards' glob) and ``num_examples``, as the Beam script writes it;
* ``example_info.json`` copied from the unshuffled examples: DeepVariant's ``train`` refuses to start
  without it in the directory of ``tfrecord_path``.

:func:`verify_dataset_config` counts the records behind a pbtxt and refuses one whose ``num_examples``
disagrees (train would size its epochs on the wrong number).
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import InputError
from ..dvexamples import DatasetConfig, expand_spec, find_example_info, read_dataset_config
from ..fileio import atomic_output
from ..tfrecord import RecordWriter, decode_example, iter_records

log = logging.getLogger(__name__)

#: records per output shard the shuffle aims at: memory holds one shard's records at a time, ~155 kB each
#: for DeepVariant's 100 x 221 x 7 images (about 0.6 GB)
RECORDS_PER_SHARD = 4_000
#: at most this many buckets are open at once (file handles); larger inputs get larger shards
MAX_SHARDS = 512


@dataclass(frozen=True)
class ShuffledDataset:
    pbtxt: Path
    config: DatasetConfig
    class_counts: dict[int, int]


def _label(record: bytes, where: str) -> int:
    features = decode_example(record)
    if "label" not in features or len(features["label"][1]) != 1:
        raise InputError(f"{where}: a training example without a 'label' feature (made in calling mode?)")
    return int(features["label"][1][0])


def count_records(pattern: str) -> int:
    files = sorted(glob.glob(pattern))
    if not files:
        raise InputError(f"{pattern}: no file matches")
    return sum(sum(1 for _ in iter_records(path)) for path in files)


def verify_dataset_config(pbtxt: str | os.PathLike) -> DatasetConfig:
    """The dataset config, after checking its shards exist, hold ``num_examples`` records and have an
    ``example_info.json`` where train looks for it."""
    config = read_dataset_config(pbtxt)
    held = count_records(config.tfrecord_path)
    if held != config.num_examples:
        raise InputError(f"{pbtxt}: num_examples is {config.num_examples} but {config.tfrecord_path} holds "
                         f"{held} examples; train would size its epochs on the wrong number (shuffle again)")
    directory = Path(config.tfrecord_path).parent
    if not (directory / "example_info.json").exists() and not Path(config.tfrecord_path + ".example_info.json").exists():
        raise InputError(f"{pbtxt}: no example_info.json in {directory}; DeepVariant's train refuses to start "
                         "without it (copy the one make_examples wrote beside shard 0)")
    return config


def shuffle_examples(examples_spec: str, out_dir: str | os.PathLike, dataset_name: str, seed: int = 1,
                     records_per_shard: int = RECORDS_PER_SHARD) -> ShuffledDataset:
    """Shuffle every record of ``examples_spec`` (``name@N.gz`` or a glob) into ``out_dir``; reuse a
    complete earlier result (its pbtxt verified)."""
    out_dir = Path(out_dir)
    prefix = out_dir / f"{dataset_name}.shuffled"
    pbtxt = out_dir / f"{dataset_name}.dataset_config.pbtxt"
    if pbtxt.exists():
        try:
            config = verify_dataset_config(pbtxt)
            log.info("%s: shuffled already (%d examples); reusing it", pbtxt, config.num_examples)
            return ShuffledDataset(pbtxt, config, class_counts(pbtxt))
        except InputError as exc:
            log.warning("%s is stale (%s); shuffling again", pbtxt, exc)
    inputs = expand_spec(examples_spec)
    info = find_example_info(examples_spec)
    if info is None:
        raise InputError(f"{examples_spec}: no example_info.json beside the examples (make_examples writes one "
                         "beside shard 0)")
    total = sum(sum(1 for _ in iter_records(path)) for path in inputs)
    if total == 0:
        raise InputError(f"{examples_spec}: no examples to shuffle")
    n_out = min(MAX_SHARDS, max(1, -(-total // records_per_shard)))
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in glob.glob(f"{prefix}-?????-of-?????.tfrecord.gz"):
        os.unlink(stale)
    counts: dict[int, int] = {}
    # gzipped: an uncompressed bucket would hold every image in full on disk
    buckets = [out_dir / f".bucket-{i:05d}.tfrecord.gz" for i in range(n_out)]
    writers = [RecordWriter(path) for path in buckets]
    try:
        for path in inputs:
            for number, record in enumerate(iter_records(path)):
                label = _label(record, f"{path}: record {number}")
                counts[label] = counts.get(label, 0) + 1
                writers[int(rng.integers(n_out))].write(record)
        for writer in writers:
            writer.close()
        for index, bucket in enumerate(buckets):
            records = list(iter_records(bucket))
            with RecordWriter(f"{prefix}-{index:05d}-of-{n_out:05d}.tfrecord.gz") as writer:
                for position in rng.permutation(len(records)):
                    writer.write(records[position])
            bucket.unlink()
    finally:
        for writer in writers:
            writer.abort()  # a no-op for a writer already closed and published
        for bucket in buckets:
            bucket.unlink(missing_ok=True)
    shutil.copyfile(info, out_dir / "example_info.json")
    config = DatasetConfig(dataset_name, f"{prefix}-?????-of-{n_out:05d}.tfrecord.gz", total)
    with atomic_output(pbtxt) as tmp:
        lines = [f"# class{label}: {counts[label]}" for label in sorted(counts)]
        lines += [f'name: "{config.name}"', f'tfrecord_path: "{config.tfrecord_path}"',
                  f"num_examples: {config.num_examples}"]
        tmp.write_text("\n".join(lines) + "\n")
    log.info("shuffled %d examples of %s into %d shards (%s)", total, examples_spec, n_out, pbtxt)
    return ShuffledDataset(pbtxt, config, counts)


def class_counts(pbtxt: str | os.PathLike) -> dict[int, int]:
    """Examples per label, from the ``# class<k>: <count>`` lines the shuffle writes into a pbtxt."""
    counts = {}
    for line in Path(pbtxt).read_text().splitlines():
        if line.startswith("# class") and ":" in line:
            label, value = line[len("# class"):].split(":", 1)
            counts[int(label)] = int(value)
    return counts
