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


def write_shard(path: str | os.PathLike, images: "np.ndarray | PackedImages", labels: np.ndarray,
                meta: Mapping[str, Sequence]) -> Path:
    """A shard of ``images`` ([N, H, W, C] uint8, or :class:`PackedImages`, whose pieces become the images
    member as they are), one label each and per-example metadata arrays."""
    if not isinstance(images, PackedImages):
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if images.ndim != 4:
            raise ValueError(f"images must be [N, H, W, C]; got shape {images.shape}")
    labels = np.asarray(labels, dtype=np.int8)
    if len(images) != len(labels):
        raise ValueError(f"images must have one label each; got {len(images)} images and {len(labels)} labels")
    members = {"images": images.member() if isinstance(images, PackedImages) else images, "labels": labels}
    for name, values in meta.items():
        values = np.asarray(values)
        if len(values) != len(labels):
            raise ValueError(f"metadata {name} has {len(values)} entries for {len(labels)} examples")
        members[f"meta_{name}"] = values
    path = Path(path)
    with atomic_output(path) as tmp:
        write_npz(tmp, members)
    return path


_LOCAL, _CENTRAL, _END = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
_DOS_DATE = 33  # 1980-01-01: a fixed timestamp keeps shards byte-identical across runs
_FINAL_EMPTY_BLOCK = b"\x03\x00"  # a last, empty fixed-Huffman deflate block: ends a stream of flushed pieces
_ZIP32_LIMIT = 0xFFFFFFFF


@dataclass(frozen=True)
class DeflatedMember:
    """An ``.npy`` member already deflated (raw deflate): its chunks in order, inflated size and CRC-32."""

    chunks: Sequence[bytes | memoryview]
    raw_size: int
    crc: int

    @property
    def packed_size(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)

    def inflate(self) -> np.ndarray:
        return np.lib.format.read_array(io.BytesIO(isal_zlib.decompress(b"".join(self.chunks), -15)),
                                        allow_pickle=False)


def _npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """The ``.npy`` header ``np.save`` writes for a C-ordered array of ``shape`` and ``dtype``."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                               "fortran_order": False, "shape": tuple(shape)})
    return out.getvalue()


def _flushed_piece(compressor, data) -> bytes:
    """``data`` deflated and flushed to a byte boundary without ending the stream, so pieces concatenate."""
    return compressor.compress(data) + compressor.flush(isal_zlib.Z_SYNC_FLUSH)


def deflate_array(array: np.ndarray) -> DeflatedMember:
    """``array`` as a deflated ``.npy`` member, streamed from its buffer without copying it."""
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject:
        raise ValueError(f"an array of Python objects ({array.dtype}) cannot be stored in a shard")
    header = _npy_header(array.shape, array.dtype)
    body = memoryview(array.reshape(-1).view(np.uint8))
    compressor = isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15)
    chunks = [compressor.compress(header), compressor.compress(body), compressor.flush()]
    return DeflatedMember(chunks, len(header) + body.nbytes, isal_zlib.crc32(body, isal_zlib.crc32(header)))


@dataclass(frozen=True)
class PackedImages:
    """Pileup images deflated one by one: each a raw-deflate piece flushed to a byte boundary, so the pieces of
    any selection, in any order, concatenate into one valid deflate stream. A shuffle moves and reorders
    examples as pieces (about a thirtieth of their size) instead of inflating and deflating them again, and a
    shard's images member is the pieces themselves (:meth:`member`).

    ``data``: the pieces back to back (uint8); ``offsets``: where each starts, and the end ([N + 1]);
    ``crcs``: each image's CRC-32 (uint32), combined into the member's; ``shape``: one image's (H, W, C)."""

    shape: tuple[int, int, int]
    data: np.ndarray
    offsets: np.ndarray
    crcs: np.ndarray

    def __len__(self) -> int:
        return len(self.crcs)

    @staticmethod
    def deflate(image: np.ndarray) -> tuple[bytes, int]:
        """One image's piece and CRC-32."""
        body = memoryview(np.ascontiguousarray(image, dtype=np.uint8).reshape(-1))
        return _flushed_piece(isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15), body), isal_zlib.crc32(body)

    @classmethod
    def from_pieces(cls, shape: Sequence[int], pieces: Sequence[bytes], crcs: Sequence[int]) -> "PackedImages":
        offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in pieces], out=offsets[1:])
        return cls(tuple(int(n) for n in shape), np.frombuffer(b"".join(pieces), dtype=np.uint8),
                   offsets, np.asarray(crcs, dtype=np.uint32))

    @classmethod
    def pack(cls, images: np.ndarray) -> "PackedImages":
        pieces, crcs = zip(*(cls.deflate(image) for image in images)) if len(images) else ((), ())
        return cls.from_pieces(images.shape[1:], pieces, crcs)

    def take(self, indices: Sequence[int]) -> "PackedImages":
        """The images at ``indices``, in that order (the cost grows with the images taken, not with all)."""
        indices = np.asarray(indices, dtype=np.int64)
        view = memoryview(self.data)
        pieces = [view[a:b] for a, b in zip(self.offsets[indices].tolist(), self.offsets[indices + 1].tolist())]
        return PackedImages.from_pieces(self.shape, pieces, self.crcs[indices])

    @staticmethod
    def concatenate(packs: Sequence["PackedImages"]) -> "PackedImages":
        if len({p.shape for p in packs}) > 1:
            raise ValueError(f"images of different shapes cannot share a shard: {sorted({p.shape for p in packs})}")
        starts = np.cumsum([0] + [len(p.data) for p in packs])
        offsets = np.concatenate([p.offsets[:-1] + start for p, start in zip(packs, starts)] + [starts[-1:]])
        return PackedImages(packs[0].shape, np.concatenate([p.data for p in packs]), offsets.astype(np.int64),
                            np.concatenate([p.crcs for p in packs]))

    def member(self) -> DeflatedMember:
        """The ``.npy`` member of the [N, H, W, C] images: a deflated header, the pieces, a final empty block."""
        image_size = int(np.prod(self.shape))
        header = _npy_header((len(self), *self.shape), np.uint8)
        crc = isal_zlib.crc32(header)
        for piece_crc in self.crcs.tolist():
            crc = isal_zlib.crc32_combine(crc, piece_crc, image_size)
        chunks = [_flushed_piece(isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15), header),
                  memoryview(self.data), _FINAL_EMPTY_BLOCK]
        return DeflatedMember(chunks, len(header) + len(self) * image_size, crc)


def write_npz(path: str | os.PathLike, members: Mapping[str, "np.ndarray | DeflatedMember"]) -> None:
    """An ``.npz`` (zip of ``.npy`` members, deflated) that ``np.load`` reads, compressed with ISA-L.

    Pileups are mostly zeros; ISA-L's fastest level deflates them smaller than zlib's level 1 in a
    sixth of the time, which makes compression no longer the cost of writing examples. A member may come
    already deflated (:class:`DeflatedMember`). Archives too large for a plain zip (4 GiB) go through
    :mod:`zipfile` with zip64.
    """
    raw_size = sum(m.raw_size if isinstance(m, DeflatedMember) else np.asanyarray(m).nbytes for m in members.values())
    if raw_size >= _ZIP32_LIMIT:  # deflated sizes could pass a zip's 32-bit fields too: let zipfile write zip64
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for name, member in members.items():
                array = member.inflate() if isinstance(member, DeflatedMember) else np.asanyarray(member)
                with archive.open(f"{name}.npy", "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, array, allow_pickle=False)
        return
    central = []
    with open(path, "wb") as handle:
        for name, value in members.items():
            member = value if isinstance(value, DeflatedMember) else deflate_array(np.asanyarray(value))
            encoded = f"{name}.npy".encode()
            fields = struct.pack("<HHHHHIII", 20, 0, 8, 0, _DOS_DATE, member.crc, member.packed_size,
                                 member.raw_size)
            central.append(_CENTRAL + struct.pack("<H", 20) + fields
                           + struct.pack("<HHHHHII", len(encoded), 0, 0, 0, 0, 0, handle.tell()) + encoded)
            handle.write(_LOCAL + fields + struct.pack("<HH", len(encoded), 0) + encoded)
            for chunk in member.chunks:
                handle.write(chunk)
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


@dataclass
class PackedShard:
    """A shard whose images stay deflated one by one (:class:`PackedImages`): what make_examples' workers
    write and its shuffle splits and gathers, before the shuffled shards are written (:func:`write_shard`)."""

    images: PackedImages
    labels: np.ndarray
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: Sequence[int]) -> "PackedShard":
        indices = np.asarray(indices, dtype=np.int64)
        return PackedShard(self.images.take(indices), self.labels[indices],
                           {k: v[indices] for k, v in self.meta.items()})

    @staticmethod
    def concatenate(shards: Sequence["PackedShard"]) -> "PackedShard":
        return PackedShard(PackedImages.concatenate([s.images for s in shards]),
                           np.concatenate([s.labels for s in shards]),
                           {k: np.concatenate([s.meta[k] for s in shards]) for k in shards[0].meta})

    def write(self, path: str | os.PathLike) -> Path:
        """As an archive of the pieces and their index (not a shard ``read_shard`` reads)."""
        images = self.images
        members = {"pieces": images.data, "piece_offsets": images.offsets, "piece_crcs": images.crcs,
                   "image_shape": np.asarray(images.shape, dtype=np.int64), "labels": self.labels}
        members.update({f"meta_{k}": np.asarray(v) for k, v in self.meta.items()})
        path = Path(path)
        with atomic_output(path) as tmp:
            write_npz(tmp, members)
        return path

    @classmethod
    def read(cls, path: str | os.PathLike) -> "PackedShard":
        try:
            data = read_npz(path)
            images = PackedImages(tuple(data["image_shape"].tolist()), data["pieces"], data["piece_offsets"],
                                  data["piece_crcs"])
            return cls(images, data["labels"], {k.removeprefix("meta_"): data[k] for k in data if k.startswith("meta_")})
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise InputError(f"cannot read packed example part {path}: {exc}") from exc


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
