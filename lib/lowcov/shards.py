"""On-disk example shards: DeepVariant's sharded TFRecords, as compressed NumPy archives.

An example set is a directory::

    example_info.json            geometry, channels, counts per class and per shard, producer parameters
    shard-00000-of-00008.npz     images uint8 [N, height, width, channels], labels int8 [N] (-1 = unlabelled),
                                 and per-example metadata arrays: contig, position (1-based VCF POS), ref, alt,
                                 alt_count, depth, region (training/tune/test or "")

Shards are written atomically; ``example_info.json`` is written last, so a set without it is
incomplete and is rebuilt.
"""
from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
from isal import isal_zlib

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
    with atomic_output(path) as tmp:
        write_npz(tmp, arrays)
    return path


_LOCAL, _CENTRAL, _END = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
_DOS_DATE = 33  # 1980-01-01: a fixed timestamp keeps shards byte-identical across runs


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """An ``.npz`` (zip of ``.npy`` members, deflated) that ``np.load`` reads, compressed with ISA-L.

    Pileups are mostly zeros; ISA-L's fastest level deflates them smaller than zlib's level 1 in a
    sixth of the time, which makes compression no longer the cost of writing examples. Members too large
    for a plain zip (4 GiB) go through :mod:`zipfile` with zip64.
    """
    payloads = []
    for name, array in arrays.items():
        raw = io.BytesIO()
        np.lib.format.write_array(raw, np.asanyarray(array), allow_pickle=False)
        payloads.append((f"{name}.npy".encode(), raw.getbuffer()))
    if any(len(data) >= 0xFFFFFFFF for _, data in payloads) or sum(len(d) for _, d in payloads) >= 0xFFFFFFFF:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for name, data in payloads:
                with archive.open(name.decode(), "w", force_zip64=True) as member:
                    member.write(data)
        return
    central = []
    with open(path, "wb") as handle:
        for name, data in payloads:
            packed = isal_zlib.compress(data, 1, -15)
            fields = struct.pack("<HHHHHIII", 20, 0, 8, 0, _DOS_DATE, isal_zlib.crc32(data), len(packed), len(data))
            central.append(_CENTRAL + struct.pack("<H", 20) + fields
                           + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, handle.tell()) + name)
            handle.write(_LOCAL + fields + struct.pack("<HH", len(name), 0) + name)
            handle.write(packed)
        directory_start = handle.tell()
        handle.write(b"".join(central))
        handle.write(_END + struct.pack("<HHHHIIH", 0, 0, len(central), len(central),
                                        handle.tell() - directory_start, directory_start, 0))


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``; members deflated as :func:`write_npz` writes them are inflated with
    ISA-L (their CRC checked), anything else is left to ``np.load``."""
    data = Path(path).read_bytes()
    end = data.rfind(_END)
    arrays = {}
    try:
        count, size, start = struct.unpack_from("<HIi", data, end + 10)
        at = start
        for _ in range(count):
            if data[at:at + 4] != _CENTRAL:
                raise ValueError("bad central directory")
            method, = struct.unpack_from("<H", data, at + 10)
            crc, packed_size, raw_size, name_length, extra_length, comment_length = struct.unpack_from(
                "<IIIHHH", data, at + 16)
            local, = struct.unpack_from("<I", data, at + 42)
            name = data[at + 46:at + 46 + name_length].decode()
            at += 46 + name_length + extra_length + comment_length
            if method != 8 or 0xFFFFFFFF in (packed_size, raw_size, local) or data[local:local + 4] != _LOCAL:
                raise NotImplementedError
            skip = 30 + sum(struct.unpack_from("<HH", data, local + 26))
            raw = isal_zlib.decompress(data[local + skip:local + skip + packed_size], -15)
            if len(raw) != raw_size or isal_zlib.crc32(raw) != crc:
                raise ValueError(f"member {name} is corrupt (CRC or size mismatch)")
            arrays[name.removesuffix(".npy")] = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
    except NotImplementedError:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (struct.error, isal_zlib.error) as exc:
        raise ValueError(f"truncated or corrupt archive: {exc}") from None
    return arrays


@dataclass
class Shard:
    images: np.ndarray
    labels: np.ndarray
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)


def read_shard(path: str | os.PathLike) -> Shard:
    try:
        data = read_npz(path)
        meta = {k.removeprefix("meta_"): data[k] for k in data if k.startswith("meta_")}
        return Shard(data["images"], data["labels"], meta)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
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
                             "run make_examples (lowcov.make_examples) first")
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


@dataclass(frozen=True)
class ExampleSets:
    """The training and tune example sets of one experiment (e.g. ``dna.train`` and ``dna.tune``)."""

    train: ExampleSet
    tune: ExampleSet
