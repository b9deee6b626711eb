"""On-disk example shards: DeepVariant's sharded TFRecords, as compressed NumPy archives.

An example set is a directory::

    example_info.json            geometry, channels, counts per class and per shard, producer parameters
    shard-00000-of-00008.npz     images uint8 [N, height, width, channels], labels int8 [N] (-1 = unlabelled),
                                 and per-example metadata arrays: contig, position (0-based), ref, alt,
                                 alt_count, depth, region (training/tune/test or "")

Shards are written atomically; ``example_info.json`` is written last, so a set without it is
incomplete and is rebuilt.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from . import InputError
from .fileio import atomic_output

INFO_NAME = "example_info.json"
META_FIELDS = ("contig", "position", "ref", "alt", "alt_count", "depth")


def shard_name(index: int, total: int) -> str:
    return f"shard-{index:05d}-of-{total:05d}.npz"


def write_shard(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray,
                meta: Mapping[str, Sequence]) -> Path:
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.int8)
    if images.ndim != 4 or len(images) != len(labels):
        raise ValueError(f"images must be [N, H, W, C] with one label each; got {images.shape} and {labels.shape}")
    arrays = {"images": images, "labels": labels}
    for name, values in meta.items():
        values = np.asarray(values)
        if len(values) != len(labels):
            raise ValueError(f"metadata {name} has {len(values)} entries for {len(labels)} examples")
        arrays[f"meta_{name}"] = values
    path = Path(path)
    # an .npz written by hand with fast deflate: pileups are mostly zeros, so level 1 compresses them
    # nearly as well as numpy's default level at a third of the time
    with atomic_output(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    return path


@dataclass
class Shard:
    images: np.ndarray
    labels: np.ndarray
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)


def read_shard(path: str | os.PathLike) -> Shard:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = {k.removeprefix("meta_"): data[k] for k in data.files if k.startswith("meta_")}
            return Shard(data["images"], data["labels"], meta)
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"cannot read example shard {path}: {exc}") from exc


def write_info(directory: str | os.PathLike, info: Mapping) -> Path:
    with atomic_output(Path(directory) / INFO_NAME) as tmp:
        tmp.write_text(json.dumps(info, indent=1, default=str) + "\n")
    return Path(directory) / INFO_NAME


@dataclass(frozen=True)
class ExampleSet:
    """A complete example directory."""

    directory: Path

    @classmethod
    def open(cls, directory: str | os.PathLike) -> "ExampleSet":
        directory = Path(directory)
        if not (directory / INFO_NAME).exists():
            raise InputError(f"{directory} is not a complete example set (no {INFO_NAME}); "
                             "run make_examples (lowcov.examples) first")
        return cls(directory)

    @property
    def info(self) -> dict:
        return json.loads((self.directory / INFO_NAME).read_text())

    @property
    def shards(self) -> list[Path]:
        return [self.directory / s for s in self.info["shards"]]

    @property
    def shape(self) -> tuple[int, int, int]:
        info = self.info
        return info["height"], info["width"], len(info["channels"])

    def __len__(self) -> int:
        return int(self.info["n_examples"])

    def iter_shards(self, order: Sequence[int] | None = None) -> Iterator[Shard]:
        shards = self.shards
        for index in (range(len(shards)) if order is None else order):
            yield read_shard(shards[index])

    def load(self, limit: int | None = None) -> Shard:
        """All examples in memory (or the first ``limit``): for tune sets and small demo sets."""
        parts, total = [], 0
        for shard in self.iter_shards():
            parts.append(shard)
            total += len(shard)
            if limit is not None and total >= limit:
                break
        if not parts:
            h, w, c = self.shape
            return Shard(np.zeros((0, h, w, c), np.uint8), np.zeros(0, np.int8), {})
        meta = {k: np.concatenate([p.meta[k] for p in parts]) for k in parts[0].meta}
        shard = Shard(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]), meta)
        if limit is not None:
            shard = Shard(shard.images[:limit], shard.labels[:limit], {k: v[:limit] for k, v in shard.meta.items()})
        return shard
