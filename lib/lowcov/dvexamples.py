"""DeepVariant's example files -- gzip TFRecord files of ``tf.train.Example`` records, their sharded names
and ``example_info.json`` -- read and written without TensorFlow, and converted to and from lowcov's
example sets; unlike DeepVariant, the writer keeps only the fields of the candidate ``Variant`` it is
given (lowcov's examples carry no calls or INFO) and never writes ``denovo_label``.

DeepVariant gzips its TFRecord files (:mod:`lowcov.tfrecord`); each record is a serialized
``tf.train.Example`` whose features, as ``make_examples_native.cc`` writes them, are:

==============================  ==========  ==============================================================
``image/encoded``               bytes       the pileup, uint8, height x width x channels, row-major
``image/shape``                 int64[3]    [height, width, channels]
``label``                       int64       genotype class 0/1/2 (training mode only)
``variant/encoded``             bytes       a serialized ``nucleus.genomics.v1.Variant``
``alt_allele_indices/encoded``  bytes       a serialized ``CallVariantsOutput.AltAlleleIndices``
``locus``                       bytes       ``"<reference_name>:<start + 1>-<end>"`` (1-based, inclusive)
``variant_type``                int64       0 unknown, 1 SNP, 2 indel (``EncodedVariantType``)
``sequencing_type``             int64       ``PileupImageOptions.SequencingType`` (1 WGS, 2 WES)
==============================  ==========  ==============================================================

``Variant`` and ``AltAlleleIndices`` are encoded in protobuf's wire format by hand, with
:mod:`lowcov.tfrecord`'s helpers.
"""
from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from . import InputError
from .fileio import atomic_output
from .tfrecord import (Feature, RecordWriter, decode_example, encode_example, fields, iter_records, length_delimited,
                       packed_varints, repeated_ints, signed, tag, varint)
from .shards import META_FIELDS, ExampleSet, read_shard, shard_name, write_info, write_shard

#: DeepVariantChannelEnum (deepvariant/protos/deepvariant.proto) -> channel name (pileup_channel_lib.h)
CHANNEL_NAMES: dict[int, str] = {
    1: "read_base", 2: "base_quality", 3: "mapping_quality", 4: "strand", 5: "read_supports_variant",
    6: "base_differs_from_ref", 7: "haplotype", 8: "allele_frequency",
    9: "diff_channels_alternate_allele_1", 10: "diff_channels_alternate_allele_2",
    11: "read_mapping_percent", 12: "avg_base_quality", 13: "identity", 14: "gap_compressed_identity",
    15: "gc_content", 16: "is_homopolymer", 17: "homopolymer_weighted", 18: "blank", 19: "insert_size",
    20: "base_channels_alternate_allele_1", 21: "base_channels_alternate_allele_2",
}
CHANNEL_ENUMS: dict[str, int] = {name: number for number, name in CHANNEL_NAMES.items()}
#: EncodedVariantType (make_examples_native.h)
VARIANT_UNKNOWN, VARIANT_SNP, VARIANT_INDEL = 0, 1, 2
#: PileupImageOptions.SequencingType (deepvariant.proto)
SEQUENCING_TYPES = {"UNSPECIFIED_SEQ_TYPE": 0, "WGS": 1, "WES": 2, "TRIO": 3}
#: the DeepVariant release whose example format (and example_info.json) is written
DEEPVARIANT_VERSION = "1.8.0"
INFO_SUFFIX = ".example_info.json"


# --------------------------------------------------------------------------------------------------
# nucleus Variant and DeepVariant examples


@dataclass(frozen=True)
class Variant:
    """The fields of ``nucleus.genomics.v1.Variant`` that examples use; every other field (calls, INFO,
    quality, ...) is kept verbatim in ``extra`` and written back unchanged."""

    reference_name: str
    start: int
    end: int
    reference_bases: str
    alternate_bases: tuple[str, ...]
    extra: bytes = b""

    # field numbers in third_party/nucleus/protos/variants.proto
    _REFERENCE_NAME, _START, _END, _REFERENCE_BASES, _ALTERNATE_BASES = 14, 16, 13, 6, 7

    def encode(self) -> bytes:
        # proto3 leaves fields at their default value out, and orders fields by number
        parts = []
        if self.reference_bases:
            parts.append(length_delimited(self._REFERENCE_BASES, self.reference_bases.encode()))
        parts.extend(length_delimited(self._ALTERNATE_BASES, alt.encode()) for alt in self.alternate_bases)
        if self.end:
            parts.append(tag(self._END, 0) + varint(self.end))
        if self.reference_name:
            parts.append(length_delimited(self._REFERENCE_NAME, self.reference_name.encode()))
        if self.start:
            parts.append(tag(self._START, 0) + varint(self.start))
        return b"".join(parts) + self.extra

    @classmethod
    def decode(cls, data: bytes | memoryview) -> "Variant":
        buffer = memoryview(data)
        name, start, end, ref, alts, extra = "", 0, 0, "", [], []
        for number, wire, value, begin, stop in fields(buffer):
            if number == cls._REFERENCE_NAME and wire == 2:
                name = bytes(value).decode()
            elif number == cls._START and wire == 0:
                start = signed(value)
            elif number == cls._END and wire == 0:
                end = signed(value)
            elif number == cls._REFERENCE_BASES and wire == 2:
                ref = bytes(value).decode()
            elif number == cls._ALTERNATE_BASES and wire == 2:
                alts.append(bytes(value).decode())
            else:
                extra.append(bytes(buffer[begin:stop]))
        return cls(name, start, end, ref, tuple(alts), b"".join(extra))

    @property
    def locus(self) -> str:
        """As make_examples writes it: 1-based start, inclusive end."""
        return f"{self.reference_name}:{self.start + 1}-{self.end}"

    @property
    def variant_type(self) -> int:
        """``EncodedVariantType`` as make_examples computes it, from all alternate alleles."""
        if len(self.reference_bases) == 1 and self.alternate_bases and all(len(a) == 1 for a in self.alternate_bases):
            return VARIANT_SNP
        if len(self.reference_bases) > 1 or any(len(a) > 1 for a in self.alternate_bases):
            return VARIANT_INDEL
        return VARIANT_UNKNOWN


def encode_alt_allele_indices(indices: Sequence[int]) -> bytes:
    """A serialized ``CallVariantsOutput.AltAlleleIndices`` (``repeated int32 indices = 1``, packed)."""
    return length_delimited(1, packed_varints(indices)) if len(indices) else b""


def decode_alt_allele_indices(data: bytes | memoryview) -> tuple[int, ...]:
    indices: list[int] = []
    for number, wire, value, _, _ in fields(memoryview(data)):
        if number == 1:
            indices.extend(repeated_ints(value, wire))
    return tuple(indices)


REQUIRED_KEYS = ("image/encoded", "image/shape", "variant/encoded", "alt_allele_indices/encoded")


@dataclass
class DVExample:
    """One DeepVariant example. ``image``: uint8 ``[height, width, channels]``; ``label`` None when the
    record has none (calling mode); ``locus`` and ``variant_type`` default to what make_examples derives
    from ``variant``."""

    image: np.ndarray
    variant: Variant
    alt_allele_indices: tuple[int, ...] = (0,)
    label: int | None = None
    locus: str | None = None
    variant_type: int | None = None
    sequencing_type: int = SEQUENCING_TYPES["WGS"]
    #: features other than DeepVariant's (e.g. ``denovo_label``), kept as read
    other: dict[str, Feature] = field(default_factory=dict)

    @property
    def alt_alleles(self) -> tuple[str, ...]:
        return tuple(self.variant.alternate_bases[i] for i in self.alt_allele_indices)

    def to_features(self) -> dict[str, Feature]:
        image = np.ascontiguousarray(self.image, dtype=np.uint8)
        if image.ndim != 3:
            raise ValueError(f"a DeepVariant image is [height, width, channels], got shape {image.shape}")
        features: dict[str, Feature] = {
            "locus": ("bytes", [(self.locus if self.locus is not None else self.variant.locus).encode()]),
            "variant/encoded": ("bytes", [self.variant.encode()]),
            "variant_type": ("int64", [self.variant.variant_type if self.variant_type is None else self.variant_type]),
            "alt_allele_indices/encoded": ("bytes", [encode_alt_allele_indices(self.alt_allele_indices)]),
            "image/encoded": ("bytes", [image.tobytes()]),
            "image/shape": ("int64", list(image.shape)),
            "sequencing_type": ("int64", [self.sequencing_type]),
        }
        if self.label is not None:
            features["label"] = ("int64", [int(self.label)])
        features.update(self.other)
        return features

    def encode(self) -> bytes:
        return encode_example(self.to_features())

    @classmethod
    def decode(cls, data: bytes | memoryview, where: str = "record") -> "DVExample":
        """``where`` names the record in error messages (file and record number)."""
        try:
            features = decode_example(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{where}: not a tf.train.Example ({exc})") from exc
        for key in REQUIRED_KEYS:
            if key not in features:
                raise InputError(f"{where}: not a DeepVariant example: it has no {key!r} feature "
                                 f"(features: {sorted(features)})")

        def single(key: str, kind: str):
            if key not in features:
                return None
            got_kind, values = features[key]
            if got_kind != kind or len(values) != 1:
                raise InputError(f"{where}: feature {key!r} should hold one {kind} value, "
                                 f"holds {len(values)} {got_kind} value(s)")
            return values[0]

        kind, shape = features["image/shape"]
        if kind != "int64" or len(shape) != 3 or min(shape) < 1:
            raise InputError(f"{where}: image/shape should be three positive int64 values, got {kind} {shape}")
        pixels = single("image/encoded", "bytes")
        if len(pixels) != int(np.prod(shape)):
            raise InputError(f"{where}: image/encoded has {len(pixels)} bytes, image/shape {shape} needs "
                             f"{int(np.prod(shape))}")
        try:
            variant = Variant.decode(single("variant/encoded", "bytes"))
            indices = decode_alt_allele_indices(single("alt_allele_indices/encoded", "bytes"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{where}: cannot decode variant/encoded or alt_allele_indices/encoded ({exc})") from exc
        if any(not 0 <= i < len(variant.alternate_bases) for i in indices):
            raise InputError(f"{where}: alt allele indices {list(indices)} do not fit the variant's "
                             f"{len(variant.alternate_bases)} alternate allele(s)")
        label = single("label", "int64")
        locus = single("locus", "bytes")
        known = set(REQUIRED_KEYS) | {"label", "locus", "variant_type", "sequencing_type"}
        return cls(image=np.frombuffer(pixels, np.uint8).reshape(shape), variant=variant,
                   alt_allele_indices=indices, label=None if label is None else int(label),
                   locus=None if locus is None else locus.decode(),
                   variant_type=single("variant_type", "int64"),
                   sequencing_type=single("sequencing_type", "int64") or 0,
                   other={k: v for k, v in features.items() if k not in known})


# --------------------------------------------------------------------------------------------------
# sharded names and example_info.json

_SHARD_SPEC = re.compile(r"^(?P<base>.+)@(?P<count>\d+)(?P<suffix>[^/@]*)$")


def sharded_filename(spec: str | os.PathLike, index: int) -> str:
    """``name@16.gz`` -> ``name-00003-of-00016.gz`` for ``index`` 3 (DeepVariant's sharded names)."""
    match = _SHARD_SPEC.match(str(spec))
    if not match:
        raise InputError(f"{spec} is not a sharded file spec (name@N or name@N.suffix)")
    count = int(match["count"])
    if not 0 <= index < count:
        raise ValueError(f"shard {index} of {spec} does not exist (0..{count - 1})")
    return f"{match['base']}-{index:05d}-of-{count:05d}{match['suffix']}"


def expand_spec(spec: str | os.PathLike) -> list[Path]:
    """The files of a DeepVariant examples spec: ``name@N.gz`` (all N shards must exist), a glob such as
    ``name-?????-of-00016.gz``, a plain path, or several of these separated by commas."""
    files: list[Path] = []
    for part in str(spec).split(","):
        if _SHARD_SPEC.match(part):
            count = int(_SHARD_SPEC.match(part)["count"])
            names = [Path(sharded_filename(part, i)) for i in range(count)]
            missing = [n for n in names if not n.exists()]
            if missing:
                raise InputError(f"{part}: shard {missing[0]} does not exist ({len(missing)} of {count} missing)")
            files.extend(names)
        elif glob.has_magic(part):
            found = sorted(glob.glob(part))
            if not found:
                raise InputError(f"{part}: no file matches")
            files.extend(Path(f) for f in found)
        else:
            if not Path(part).exists():
                raise InputError(f"{part}: no such file")
            files.append(Path(part))
    return files


def example_info_path(spec: str | os.PathLike) -> Path:
    """Where make_examples writes ``example_info.json`` for ``spec``: beside shard 0 for ``name@N``
    specs, beside the file itself otherwise."""
    spec = str(spec)
    first = sharded_filename(spec, 0) if _SHARD_SPEC.match(spec) else spec
    return Path(first + INFO_SUFFIX)


def find_example_info(spec: str | os.PathLike) -> Path | None:
    """The ``example_info.json`` describing ``spec``'s examples, where make_examples or train look for it:
    beside shard 0 / the file (``<file>.example_info.json``), then ``example_info.json`` in its directory."""
    candidates = []
    if "," not in str(spec) and not glob.has_magic(str(spec)):
        candidates.append(example_info_path(spec))
    else:
        files = expand_spec(spec)
        candidates.append(Path(str(files[0]) + INFO_SUFFIX))
        candidates.append(Path(str(spec) + INFO_SUFFIX))
    candidates.append(candidates[0].parent / "example_info.json")
    return next((c for c in candidates if c.exists()), None)


@dataclass(frozen=True)
class ExampleInfo:
    """``example_info.json``: DeepVariant's version, the image shape and the channels (enum numbers)."""

    shape: tuple[int, int, int]
    channels: tuple[int, ...]
    version: str = DEEPVARIANT_VERSION

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(CHANNEL_NAMES.get(c, f"channel_{c}") for c in self.channels)

    @classmethod
    def from_names(cls, height: int, width: int, names: Sequence[str],
                   version: str = DEEPVARIANT_VERSION) -> "ExampleInfo":
        unknown = [n for n in names if n not in CHANNEL_ENUMS]
        if unknown:
            raise InputError(f"channel(s) {unknown} have no DeepVariant channel number; known: {sorted(CHANNEL_ENUMS)}")
        return cls((int(height), int(width), len(names)), tuple(CHANNEL_ENUMS[n] for n in names), version)

    def to_json(self) -> dict:
        return {"version": self.version, "shape": list(self.shape), "channels": list(self.channels)}


def read_example_info(path: str | os.PathLike) -> ExampleInfo:
    try:
        data = json.loads(Path(path).read_text())
        shape, channels = tuple(int(x) for x in data["shape"]), tuple(int(c) for c in data["channels"])
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: not a DeepVariant example_info.json (needs 'shape' and 'channels'): {exc}") from exc
    if len(shape) != 3 or shape[2] != len(channels):
        raise InputError(f"{path}: shape {list(shape)} does not match its {len(channels)} channels")
    return ExampleInfo(shape, channels, str(data.get("version", "")))


def write_example_info(path: str | os.PathLike, info: ExampleInfo) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(info.to_json()) + "\n")
    return Path(path)


# --------------------------------------------------------------------------------------------------
# whole files


def read_examples(spec: str | os.PathLike) -> Iterator[DVExample]:
    """The examples of every file of ``spec`` (see :func:`expand_spec`), streamed."""
    for path in expand_spec(spec):
        for number, record in enumerate(iter_records(path)):
            yield DVExample.decode(record, where=f"{path}: record {number}")


def write_examples(path: str | os.PathLike, examples: Iterable[DVExample]) -> int:
    """Write ``examples`` to one TFRecord file (gzip if the name ends in ``.gz``); returns their number."""
    with RecordWriter(path) as writer:
        for example in examples:
            writer.write(example.encode())
    return writer.count


# --------------------------------------------------------------------------------------------------
# lowcov example sets


def _variant_from_meta(contig: str, position: int, ref: str, alt: str) -> tuple[Variant, tuple[int, ...]]:
    """lowcov's metadata keeps the VCF POS (1-based); a nucleus Variant starts at the 0-based offset."""
    alts = tuple(str(alt).split(","))
    start = int(position) - 1
    return Variant(str(contig), start, start + len(ref), str(ref), alts), tuple(range(len(alts)))


def export_example_set(example_set: ExampleSet | str | os.PathLike, path: str | os.PathLike,
                       sequencing_type: int = SEQUENCING_TYPES["WGS"],
                       version: str = DEEPVARIANT_VERSION) -> str:
    """Write a lowcov example set as DeepVariant example files, one per lowcov shard, and return their
    spec: ``path`` ``dir/name.tfrecord.gz`` gives ``dir/name.tfrecord-0000i-of-0000N.gz`` and the spec
    ``dir/name.tfrecord@N.gz``, with ``example_info.json`` beside shard 0 as make_examples writes it.
    Unlabelled examples (label -1) get no ``label`` feature; ``alt`` holding several alleles separated
    by commas becomes a het-alt example over all of them."""
    example_set = example_set if isinstance(example_set, ExampleSet) else ExampleSet.open(example_set)
    info = example_set.info
    dv_info = ExampleInfo.from_names(info["height"], info["width"], info["channels"], version)
    path = str(path)
    base, suffix = (path[:-3], ".gz") if path.endswith(".gz") else (path, "")
    spec = f"{base}@{len(example_set.shards)}{suffix}"
    for index, shard_path in enumerate(example_set.shards):
        shard = read_shard(shard_path)
        missing = [k for k in ("contig", "position", "ref", "alt") if k not in shard.meta]
        if missing:
            raise InputError(f"{shard_path}: no {missing[0]!r} metadata, which a DeepVariant example needs")
        if shard.images.shape[1:] != dv_info.shape:
            raise InputError(f"{shard_path}: images {shard.images.shape[1:]} but the set's info says {dv_info.shape}")

        def examples(shard=shard):
            meta = shard.meta
            for i in range(len(shard)):
                variant, indices = _variant_from_meta(meta["contig"][i], meta["position"][i], meta["ref"][i],
                                                      meta["alt"][i])
                label = int(shard.labels[i])
                yield DVExample(shard.images[i], variant, indices, None if label < 0 else label,
                                sequencing_type=sequencing_type)

        write_examples(sharded_filename(spec, index), examples())
    write_example_info(example_info_path(spec), dv_info)
    return spec


def import_examples(spec: str | os.PathLike, out_dir: str | os.PathLike, examples_per_shard: int = 2048,
                    channels: Sequence[str] | None = None) -> ExampleSet:
    """Convert DeepVariant example files (``spec``, see :func:`expand_spec`) into a lowcov example set in
    ``out_dir``, streaming (memory: one output shard). Channel names come from ``example_info.json``
    (see :func:`find_example_info`) unless ``channels`` is given. Metadata DeepVariant's examples do not
    carry (alt_count, depth) are -1; het-alt examples get their alt alleles joined by commas."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info_path = find_example_info(spec)
    names = tuple(channels) if channels is not None else None
    if names is None:
        if info_path is None:
            raise InputError(f"{spec}: no example_info.json beside the examples ({example_info_path(spec)} or "
                             "example_info.json in their directory); pass the channel names")
        names = read_example_info(info_path).channel_names
    parts: list[tuple[Path, int]] = []
    counts = [0, 0, 0]
    shape = None
    buffer: list[DVExample] = []

    def flush() -> None:
        if not buffer:
            return
        meta = {name: [] for name in META_FIELDS}
        for example in buffer:
            variant = example.variant
            meta["contig"].append(variant.reference_name)
            meta["position"].append(variant.start + 1)  # back to the VCF POS lowcov keeps
            meta["ref"].append(variant.reference_bases)
            meta["alt"].append(",".join(example.alt_alleles))
            meta["alt_count"].append(-1)
            meta["depth"].append(-1)
        labels = np.array([-1 if e.label is None else e.label for e in buffer], dtype=np.int8)
        part = out_dir / f".part-{len(parts):05d}.npz"
        write_shard(part, np.stack([e.image for e in buffer]), labels,
                    {k: np.array(v, dtype=np.int64 if k in ("position", "alt_count", "depth") else str)
                     for k, v in meta.items()})
        parts.append((part, len(buffer)))
        buffer.clear()

    for example in read_examples(spec):
        if shape is None:
            shape = example.image.shape
            if shape[2] != len(names):
                raise InputError(f"{spec}: images have {shape[2]} channels but the channel names are {list(names)}")
        elif example.image.shape != shape:
            raise InputError(f"{spec}: image shapes differ ({shape} and {example.image.shape})")
        if example.label is not None:
            if not 0 <= example.label < 3:
                raise InputError(f"{spec}: label {example.label} is not a genotype class 0, 1 or 2")
            counts[example.label] += 1
        buffer.append(example)
        if len(buffer) >= examples_per_shard:
            flush()
    flush()
    shards = []
    for index, (part, _) in enumerate(parts):
        name = shard_name(index, len(parts))
        os.replace(part, out_dir / name)
        shards.append(name)
    n_examples = sum(n for _, n in parts)
    height, width = (shape[0], shape[1]) if shape is not None else (0, 0)
    write_info(out_dir, {
        "mode": "training" if sum(counts) == n_examples and n_examples else "calling",
        "source": {"deepvariant_examples": str(spec), "example_info": str(info_path) if info_path else None},
        "height": height, "width": width, "channels": list(names),
        "n_examples": n_examples,
        "class_counts": {"hom_ref": counts[0], "het": counts[1], "hom_alt": counts[2]},
        "shards": shards,
    })
    return ExampleSet.open(out_dir)


def is_deepvariant_path(path: str | os.PathLike) -> bool:
    """Whether a command-line path names DeepVariant example files or a dataset config rather than a
    lowcov example-set directory."""
    text = str(path)
    return ".tfrecord" in text or text.endswith(".pbtxt") or "@" in Path(text).name


@dataclass(frozen=True)
class DatasetConfig:
    """``dataset_config.pbtxt``, as DeepVariant's shuffle script writes it and its ``train`` reads it."""

    name: str
    tfrecord_path: str
    num_examples: int


def read_dataset_config(path: str | os.PathLike) -> DatasetConfig:
    """Parse the three fields of a DeepVariant ``DeepVariantDatasetConfig`` text proto (``#`` comments,
    such as the shuffle script's class counts, are skipped)."""
    values: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise InputError(f"{path}, line {number}: expected 'key: value', got {line!r}")
        values[key.strip()] = value.strip().strip('"')
    missing = [k for k in ("name", "tfrecord_path", "num_examples") if k not in values]
    if missing:
        raise InputError(f"{path}: no {missing[0]!r} field (a DeepVariant dataset config has name, tfrecord_path "
                         "and num_examples)")
    return DatasetConfig(values["name"], values["tfrecord_path"], int(values["num_examples"]))


def example_set_of(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> ExampleSet:
    """A lowcov example set for ``path``: the set itself, or DeepVariant's examples (a dataset config or a
    file spec) converted once into ``cache_dir`` (default: a ``.lowcov`` directory beside them). A dataset
    config whose ``num_examples`` disagrees with its files is refused."""
    path = Path(path)
    if not is_deepvariant_path(path):
        return ExampleSet.open(path)
    expected = None
    spec = str(path)
    if spec.endswith(".pbtxt"):
        config = read_dataset_config(path)
        spec, expected = config.tfrecord_path, config.num_examples
    files = expand_spec(spec)
    if not files:
        raise InputError(f"{path}: no example files match {spec}")
    target = Path(cache_dir) if cache_dir else files[0].parent / f".lowcov-{Path(spec).name.replace('@', '_')}"
    if (target / "example_info.json").exists():
        converted = ExampleSet.open(target)
    else:
        converted = import_examples(spec, target)
    if expected is not None and len(converted) != expected:
        raise InputError(f"{path}: num_examples is {expected} but {spec} holds {len(converted)} examples")
    return converted
