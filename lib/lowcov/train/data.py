"""Training data: shuffled batches streamed from an example set's shards, and the tune set.
"""
from __future__ import annotations

import concurrent.futures
import math
import os
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .. import InputError
from ..shards import ExampleSet, read_npz



def _labelled_count(path: Path) -> int:
    try:
        with np.load(path, allow_pickle=False) as data:
            return int((data["labels"] >= 0).sum())  # reads only the labels member of the archive
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read example shard {path}: {exc}") from exc


def _read_labelled(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = read_npz(path)  # ISA-L inflates the pileups about twice as fast as np.load's zlib
        images, labels = data["images"], data["labels"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read example shard {path}: {exc}") from exc
    keep = np.flatnonzero(labels >= 0)
    if len(keep) != len(labels):
        images, labels = images[keep], labels[keep]
    return images, labels


def fits_in_memory(example_set: ExampleSet, n_examples: int, max_bytes: int) -> bool:
    """Whether ``n_examples`` decompressed pileups of ``example_set`` take at most ``max_bytes``."""
    height, width, channels = example_set.shape
    return n_examples * height * width * channels <= max_bytes


class TrainingStream:
    """Shuffled batches of labelled training examples, streamed shard by shard.

    The order in epoch ``e`` depends only on ``(seed, e)``: shard order is a permutation drawn from
    ``(seed, e)`` and the order inside shard ``i`` from ``(seed, e, i)``. Batches are consecutive slices of
    that stream (they may span shards; the last one of an epoch is short), so resuming at batch ``b``
    just skips ``b * batch_size`` examples, without reading the shards it skips entirely.

    ``read_ahead``: read (decompress) the next shard in a background thread. Worth it when the
    training computation leaves a core free (GPU training, or fewer torch threads than cores); when
    torch's threads use every core, a reader thread competing with them slows training down far more
    than reading in turn does, because torch's threads wait on each other at every operation.

    ``in_memory_max_bytes``: a set whose labelled pileups fit keeps each shard decompressed after its
    first reading, so later epochs skip the inflating (a small set such as the demo's RNA examples is
    read once per epoch of ~10 steps). The batches are the same either way.
    """

    def __init__(self, example_set: ExampleSet, seed: int, read_ahead: bool = False,
                 in_memory_max_bytes: int = 0) -> None:
        self.example_set = example_set
        self.seed = int(seed)
        self.read_ahead = bool(read_ahead)
        self.paths = example_set.shards
        self.counts = [_labelled_count(p) for p in self.paths]
        self.n_examples = int(sum(self.counts))
        self.in_memory = fits_in_memory(example_set, self.n_examples, in_memory_max_bytes)
        self._kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _shard(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Shard ``index``'s labelled examples: read from disk, or from memory when the set is kept there."""
        if index in self._kept:
            return self._kept[index]
        loaded = _read_labelled(self.paths[index])
        if self.in_memory:
            self._kept[index] = loaded
        return loaded

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(self.n_examples / batch_size)

    def epoch_batches(self, epoch: int, batch_size: int, skip_batches: int = 0
                      ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.paths))
        skip = skip_batches * batch_size
        wanted: list[tuple[int, int]] = []  # (shard index, examples to skip inside it)
        for index in order:
            count = self.counts[index]
            if count == 0:
                continue
            if skip >= count:
                skip -= count
                continue
            wanted.append((int(index), skip))
            skip = 0
        if not wanted:
            return
        pending_images: list[np.ndarray] = []
        pending_labels: list[np.ndarray] = []
        pending = 0
        # With read-ahead, the next shard is decompressed (ISA-L releases the GIL) while this one trains.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as reader:
            def read(position: int) -> concurrent.futures.Future:
                if self.read_ahead and wanted[position][0] not in self._kept:
                    return reader.submit(self._shard, wanted[position][0])
                done: concurrent.futures.Future = concurrent.futures.Future()
                done.set_result(None)  # read on demand, in this thread
                return done

            future = read(0)
            for position, (index, skip_inside) in enumerate(wanted):
                loaded = future.result()
                images, labels = loaded if loaded is not None else self._shard(index)
                if position + 1 < len(wanted):
                    future = read(position + 1)
                if len(labels) != self.counts[index]:
                    raise InputError(f"example shard {self.paths[index]} changed while training "
                                     f"({len(labels)} labelled examples, expected {self.counts[index]})")
                permutation = np.random.default_rng([self.seed, epoch, index]).permutation(len(labels))
                permutation = permutation[skip_inside:]
                pending_images.append(images[permutation])
                pending_labels.append(labels[permutation])
                pending += len(permutation)
                del images, labels
                while pending >= batch_size:
                    batch_images, batch_labels, pending_images, pending_labels = _take(
                        pending_images, pending_labels, batch_size)
                    pending -= batch_size
                    yield batch_images, batch_labels
        if pending:
            yield np.concatenate(pending_images), np.concatenate(pending_labels)


def _take(images: list[np.ndarray], labels: list[np.ndarray], n: int
          ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """The first ``n`` examples of a list of chunks, and the chunks that remain."""
    taken_images, taken_labels, have = [], [], 0
    while have < n:
        need = n - have
        head_images, head_labels = images[0], labels[0]
        if len(head_labels) <= need:
            taken_images.append(head_images)
            taken_labels.append(head_labels)
            have += len(head_labels)
            images, labels = images[1:], labels[1:]
        else:
            taken_images.append(head_images[:need])
            taken_labels.append(head_labels[:need])
            images = [head_images[need:]] + images[1:]
            labels = [head_labels[need:]] + labels[1:]
            have = n
    if len(taken_images) == 1:
        return taken_images[0], taken_labels[0], images, labels
    return np.concatenate(taken_images), np.concatenate(taken_labels), images, labels


class TuneData:
    """The first ``limit`` labelled examples of the tune set (0 = all), in file order."""

    def __init__(self, example_set: ExampleSet, limit: int, in_memory_max_bytes: int) -> None:
        self.example_set = example_set
        self.limit = int(limit)
        counts = [_labelled_count(p) for p in example_set.shards]
        available = int(sum(counts))
        self.n_examples = min(available, self.limit) if self.limit else available
        self.cached: tuple[np.ndarray, np.ndarray] | None = None
        if fits_in_memory(example_set, self.n_examples, in_memory_max_bytes):
            parts = list(self._stream())
            if parts:
                self.cached = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    def _stream(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        remaining = self.n_examples
        for path in self.example_set.shards:
            if remaining <= 0:
                return
            images, labels = _read_labelled(path)
            if len(labels):
                yield images[:remaining], labels[:remaining]
                remaining -= min(remaining, len(labels))

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        chunks = [self.cached] if self.cached is not None else self._stream()
        for images, labels in chunks:
            for start in range(0, len(labels), batch_size):
                yield images[start:start + batch_size], labels[start:start + batch_size]


def dataset_signature(example_set: ExampleSet) -> dict[str, Any]:
    """What identifies an example set for resuming: geometry, channels, counts, shard names and the digest
    of its labels (a set relabelled by another rule has the same examples and shards but other labels).
    Sets written before labels were digested, or by DeepVariant, have no digest and are matched without it."""
    info = example_set.info
    signature = {"height": info["height"], "width": info["width"], "channels": list(info["channels"]),
                 "n_examples": int(info["n_examples"]), "shards": list(info["shards"])}
    if info.get("labels_sha256"):
        signature["labels_sha256"] = info["labels_sha256"]
    return signature


def open_example_set(value: ExampleSet | str | os.PathLike) -> ExampleSet:
    return value if isinstance(value, ExampleSet) else ExampleSet.open(value)
