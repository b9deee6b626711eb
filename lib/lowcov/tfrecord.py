"""TFRecord files of ``tf.train.Example`` records, read and written without TensorFlow.

A TFRecord file is a sequence of records, each framed as::

    uint64 length (little-endian) | uint32 masked crc32c(length) | data | uint32 masked crc32c(data)

optionally gzipped as a whole (``TFRecordOptions(compression_type="GZIP")``, files ending in ``.gz``).
Records are read streaming, in constant memory, with both CRCs checked (crc32c from ``google-crc32c``);
a damaged file is an error naming the file and the record number. ``tf.train.Example`` messages
(``tensorflow/core/example/example.proto``, ``feature.proto``) are encoded and decoded here by hand in
protobuf's wire format, with the few helpers the other messages lowcov reads need
(:mod:`lowcov.dvexamples`).
"""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Mapping

import google_crc32c
import numpy as np
from isal import igzip, isal_zlib

from . import InputError
from .fileio import publish, remove_with_sidecars, temporary_name

_HEADER = struct.Struct("<QI")
_CRC = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes | memoryview) -> int:
    """TFRecord's checksum: crc32c rotated right by 15 bits plus a constant (so that CRCs of data that
    itself holds CRCs do not degenerate)."""
    crc = google_crc32c.value(data if isinstance(data, bytes) else bytes(data))
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------------------
# TFRecord framing


def _is_gzip(path: str | os.PathLike, compressed: bool | None) -> bool:
    return str(path).endswith(".gz") if compressed is None else compressed


def _read_exact(handle: BinaryIO, size: int) -> bytes:
    data = handle.read(size)
    while len(data) < size:
        more = handle.read(size - len(data))
        if not more:
            break
        data += more
    return data


def iter_records(path: str | os.PathLike, compressed: bool | None = None) -> Iterator[bytes]:
    """The records of one TFRecord file, streamed (memory: one record), CRCs checked. ``compressed``:
    gzip or not; by default, whether the name ends in ``.gz``."""
    number = 0
    try:
        with (igzip.open(path, "rb") if _is_gzip(path, compressed) else open(path, "rb")) as handle:
            while True:
                header = _read_exact(handle, _HEADER.size)
                if not header:
                    return
                if len(header) < _HEADER.size:
                    raise InputError(f"{path}: record {number} is truncated (file ends inside its header)")
                length, length_crc = _HEADER.unpack(header)
                if masked_crc32c(header[:8]) != length_crc:
                    raise InputError(f"{path}: record {number}: the CRC of its length does not match "
                                     "(corrupt file, or not a TFRecord file)")
                data = _read_exact(handle, length)
                footer = _read_exact(handle, _CRC.size)
                if len(data) < length or len(footer) < _CRC.size:
                    raise InputError(f"{path}: record {number} is truncated ({len(data)} of {length} bytes)")
                if masked_crc32c(data) != _CRC.unpack(footer)[0]:
                    raise InputError(f"{path}: record {number}: the CRC of its data does not match (corrupt file)")
                yield data
                number += 1
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except EOFError as exc:
        raise InputError(f"{path}: record {number} is truncated (the gzip stream ends early: {exc})") from exc
    except (OSError, zlib.error, isal_zlib.error) as exc:
        raise InputError(f"{path}: record {number}: cannot decompress ({exc})") from exc


class RecordWriter:
    """Writes a TFRecord file atomically: the records appear under ``path`` only when :meth:`close`
    (or the end of the ``with`` block) completes; an exception inside the block leaves no file."""

    def __init__(self, path: str | os.PathLike, compressed: bool | None = None, level: int = 1) -> None:
        self.path = Path(path)
        self.count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temporary_name(self.path)
        # ISA-L's levels are 0-3; level 1 is several times faster than zlib's default at a similar size
        self._handle = (igzip.open(self._tmp, "wb", compresslevel=level) if _is_gzip(path, compressed)
                        else open(self._tmp, "wb"))

    def write(self, record: bytes) -> None:
        length = struct.pack("<Q", len(record))
        self._handle.write(length + _CRC.pack(masked_crc32c(length)))
        self._handle.write(record)
        self._handle.write(_CRC.pack(masked_crc32c(record)))
        self.count += 1

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()
            publish(self._tmp, self.path)

    def abort(self) -> None:
        self._handle.close()
        remove_with_sidecars(self._tmp)

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, kind, exc, traceback) -> None:
        if exc is None:
            self.close()
        else:
            self.abort()


def write_records(path: str | os.PathLike, records: Iterable[bytes], compressed: bool | None = None) -> Path:
    with RecordWriter(path, compressed) as writer:
        for record in records:
            writer.write(record)
    return Path(path)


# --------------------------------------------------------------------------------------------------
# protobuf wire format


def varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF  # negative int32/int64 are sent as 64-bit two's complement
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_varint(buffer: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buffer):
            raise ValueError("varint runs past the end of the message")
        byte = buffer[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def fields(buffer: memoryview) -> Iterator[tuple[int, int, int | memoryview, int, int]]:
    """``(field number, wire type, value, start, end)`` for each field of a message; ``value`` is an int
    for varint and fixed-width fields, a view for length-delimited ones; ``start:end`` spans the field."""
    pos = 0
    while pos < len(buffer):
        start = pos
        key, pos = read_varint(buffer, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buffer, pos)
        elif wire == 1:
            if pos + 8 > len(buffer):
                raise ValueError("fixed64 field runs past the end of the message")
            value = int.from_bytes(buffer[pos:pos + 8], "little")
            pos += 8
        elif wire == 2:
            size, pos = read_varint(buffer, pos)
            if pos + size > len(buffer):
                raise ValueError(f"field {number} ({size} bytes) runs past the end of the message")
            value = buffer[pos:pos + size]
            pos += size
        elif wire == 5:
            if pos + 4 > len(buffer):
                raise ValueError("fixed32 field runs past the end of the message")
            value = int.from_bytes(buffer[pos:pos + 4], "little")
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire} for field {number}")
        yield number, wire, value, start, pos


def tag(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def length_delimited(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


def packed_varints(values: Iterable[int]) -> bytes:
    return b"".join(varint(int(v)) for v in values)


def repeated_ints(value: int | memoryview, wire: int) -> list[int]:
    """A repeated integer field's values from one occurrence: packed (length-delimited) or not."""
    if wire == 0:
        return [signed(value)]
    if wire != 2:
        raise ValueError(f"integer list with wire type {wire}")
    values, pos = [], 0
    while pos < len(value):
        number, pos = read_varint(value, pos)
        values.append(signed(number))
    return values


#: a tf.train.Feature: its kind ("bytes", "float" or "int64") and its values
Feature = tuple[str, list]


def encode_example(features: Mapping[str, Feature]) -> bytes:
    """A serialized ``tf.train.Example`` with ``features`` (in the given order)."""
    entries = []
    for key, (kind, values) in features.items():
        if kind == "bytes":
            body = b"".join(length_delimited(1, bytes(v)) for v in values)
            feature = length_delimited(1, body)
        elif kind == "float":
            feature = length_delimited(2, length_delimited(1, np.asarray(values, "<f4").tobytes()) if len(values) else b"")
        elif kind == "int64":
            feature = length_delimited(3, length_delimited(1, packed_varints(values)) if len(values) else b"")
        else:
            raise ValueError(f"feature {key!r}: unknown kind {kind!r} (bytes, float or int64)")
        entries.append(length_delimited(1, length_delimited(1, key.encode()) + length_delimited(2, feature)))
    return length_delimited(1, b"".join(entries))


def _decode_feature(buffer: memoryview) -> Feature:
    kind, values = "bytes", []  # an empty Feature reads as an empty bytes list
    for number, wire, value, _, _ in fields(buffer):
        if wire != 2 or number not in (1, 2, 3):
            continue
        kind, values = {1: "bytes", 2: "float", 3: "int64"}[number], []
        for inner, inner_wire, item, _, _ in fields(value):
            if inner != 1:
                continue
            if number == 1:
                values.append(bytes(item))
            elif number == 3:
                values.extend(repeated_ints(item, inner_wire))
            elif inner_wire == 2:
                values.extend(np.frombuffer(item, "<f4").tolist())
            else:
                values.append(float(np.array([item], "<u4").view("<f4")[0]))
    return kind, values


def decode_example(data: bytes | memoryview) -> dict[str, Feature]:
    """The features of a serialized ``tf.train.Example``: ``{key: (kind, values)}``."""
    features: dict[str, Feature] = {}
    for number, wire, value, _, _ in fields(memoryview(data)):
        if number != 1 or wire != 2:
            continue
        for entry_number, entry_wire, entry, _, _ in fields(value):
            if entry_number != 1 or entry_wire != 2:
                continue
            key, feature = "", ("bytes", [])
            for part, part_wire, item, _, _ in fields(entry):
                if part == 1 and part_wire == 2:
                    key = bytes(item).decode()
                elif part == 2 and part_wire == 2:
                    feature = _decode_feature(item)
            features[key] = feature  # as in protobuf maps, a repeated key keeps its last value
    return features
