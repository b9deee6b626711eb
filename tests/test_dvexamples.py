"""DeepVariant's example files: TFRecord framing, tf.Example records, sharded names, conversions."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from lowcov import InputError
from lowcov.dvexamples import (CHANNEL_ENUMS, CHANNEL_NAMES, DVExample, ExampleInfo, Variant, example_info_path,
                               expand_spec, export_example_set, find_example_info, import_examples,
                               read_example_info, read_examples, sharded_filename, write_example_info,
                               write_examples)
from lowcov.tfrecord import decode_example, encode_example, iter_records, write_records
from lowcov.shards import ExampleSet, read_shard, shard_name, write_info, write_shard


def random_examples(n: int, channels: int = 7, seed: int = 0, labelled: bool = True) -> list[DVExample]:
    rng = np.random.default_rng(seed)
    examples = []
    for i in range(n):
        ref, alts = ("A", ("C",)) if i % 3 else ("AT", ("A", "ATT"))
        variant = Variant(f"chr{1 + i % 2}", 1000 * i + 17, 1000 * i + 17 + len(ref), ref, alts)
        examples.append(DVExample(rng.integers(0, 255, (100, 221, channels), dtype=np.uint8), variant,
                                  (0,) if i % 3 else (0, 1), int(rng.integers(0, 3)) if labelled else None))
    return examples


# --------------------------------------------------------------------------------------------------
# framing


def test_records_round_trip_and_stream(tmp_path):
    records = [b"", b"x", bytes(range(256)) * 700]
    for name in ("plain.tfrecord", "zipped.tfrecord.gz"):
        write_records(tmp_path / name, records)
        assert list(iter_records(tmp_path / name)) == records
    assert gzip.decompress((tmp_path / "zipped.tfrecord.gz").read_bytes()) == (tmp_path / "plain.tfrecord").read_bytes()


def test_corrupt_data_crc_names_file_and_record(tmp_path):
    path = write_records(tmp_path / "x.tfrecord", [b"first", b"second", b"third"])
    data = bytearray(path.read_bytes())
    data[12 + 5 + 4 + 12 + 2] ^= 0x01  # a byte of the second record's data
    path.write_bytes(bytes(data))
    records = iter_records(path)
    assert next(records) == b"first"
    with pytest.raises(InputError, match=r"x\.tfrecord: record 1: the CRC of its data does not match"):
        next(records)


def test_corrupt_length_crc_and_truncation(tmp_path):
    path = write_records(tmp_path / "y.tfrecord", [b"first", b"second"])
    data = path.read_bytes()
    (tmp_path / "bad.tfrecord").write_bytes(data[:12 + 5 + 4] + bytes([data[21] ^ 0x80]) + data[22:])
    with pytest.raises(InputError, match=r"bad\.tfrecord: record 1: the CRC of its length does not match"):
        list(iter_records(tmp_path / "bad.tfrecord"))
    for cut, where in ((len(data) - 3, "record 1 is truncated"), (12 + 5 + 4 + 7, "record 1 is truncated")):
        (tmp_path / "cut.tfrecord").write_bytes(data[:cut])
        with pytest.raises(InputError, match=rf"cut\.tfrecord: {where}"):
            list(iter_records(tmp_path / "cut.tfrecord"))


def test_truncated_gzip_names_file_and_record(tmp_path):
    path = write_records(tmp_path / "z.tfrecord.gz", [bytes(np.random.default_rng(0).integers(0, 255, 5000, np.uint8))] * 5)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"z\.tfrecord\.gz: record \d is truncated"):
        list(iter_records(path))
    with pytest.raises(InputError, match=r"nothing\.gz: no such file"):
        list(iter_records(tmp_path / "nothing.gz"))


def test_failed_write_leaves_no_file(tmp_path):
    def records():
        yield b"one"
        raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError):
        write_records(tmp_path / "w.tfrecord.gz", records())
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------
# tf.Example and DeepVariant's fields


def test_example_decoder_reads_unpacked_and_negative_values():
    def ld(number, payload):  # length-delimited field
        return bytes([number << 3 | 2, len(payload)]) + payload

    minus_two = bytes([0xFE] + [0xFF] * 8 + [0x01])  # int64 -2 as a 10-byte varint
    int64_unpacked = ld(3, bytes([0x08, 0x05]) + bytes([0x08]) + minus_two)
    floats_unpacked = ld(2, bytes([0x0D]) + np.float32(1.5).tobytes() + bytes([0x0D]) + np.float32(-2).tobytes())
    entry = lambda key, feature: ld(1, ld(1, key) + ld(2, feature))  # noqa: E731
    data = ld(1, entry(b"i", int64_unpacked) + entry(b"f", floats_unpacked))
    assert decode_example(data) == {"i": ("int64", [5, -2]), "f": ("float", [1.5, -2.0])}
    packed = encode_example({"i": ("int64", [5, -2, 2**40]), "f": ("float", [0.25]), "b": ("bytes", [b"", b"ab"])})
    assert decode_example(packed) == {"i": ("int64", [5, -2, 2**40]), "f": ("float", [0.25]), "b": ("bytes", [b"", b"ab"])}


def test_deepvariant_example_fields_round_trip():
    variant = Variant("chr20", 1_000_000, 1_000_002, "AT", ("A", "ATT"), extra=b"\x42\x03abc")  # field 8? kept as is
    example = DVExample(np.full((100, 221, 6), 9, np.uint8), variant, (0, 1), label=1, sequencing_type=2)
    back = DVExample.decode(example.encode())
    assert back.variant == variant and back.alt_allele_indices == (0, 1) and back.label == 1
    assert back.locus == "chr20:1000001-1000002"  # make_examples: start + 1, end
    assert back.variant_type == 2 and back.sequencing_type == 2 and back.alt_alleles == ("A", "ATT")
    assert back.image.shape == (100, 221, 6) and (back.image == 9).all()
    snp = Variant("chr1", 0, 1, "G", ("T",))
    assert snp.variant_type == 1 and Variant.decode(snp.encode()) == snp
    unlabelled = DVExample.decode(DVExample(np.zeros((3, 5, 2), np.uint8), snp).encode())
    assert unlabelled.label is None and unlabelled.locus == "chr1:1-1"


def test_non_deepvariant_example_names_the_missing_key():
    data = encode_example({"image/encoded": ("bytes", [b"\0" * 6]), "image/shape": ("int64", [1, 2, 3])})
    with pytest.raises(InputError, match=r"f\.gz: record 4: not a DeepVariant example: it has no 'variant/encoded'"):
        DVExample.decode(data, where="f.gz: record 4")
    wrong = DVExample(np.zeros((2, 2, 2), np.uint8), Variant("c", 1, 2, "A", ("C",))).to_features()
    wrong["image/shape"] = ("int64", [2, 2, 3])
    with pytest.raises(InputError, match="image/encoded has 8 bytes, image/shape"):
        DVExample.decode(encode_example(wrong))


def test_examples_file_round_trip(tmp_path):
    examples = random_examples(5)
    assert write_examples(tmp_path / "ex.tfrecord.gz", examples) == 5
    back = list(read_examples(tmp_path / "ex.tfrecord.gz"))
    assert [e.label for e in back] == [e.label for e in examples]
    assert all(np.array_equal(a.image, b.image) and a.variant == b.variant for a, b in zip(back, examples))


# --------------------------------------------------------------------------------------------------
# names and example_info.json


def test_sharded_names_and_specs(tmp_path):
    assert sharded_filename("d/ex.tfrecord@16.gz", 3) == "d/ex.tfrecord-00003-of-00016.gz"
    assert sharded_filename("ex@2", 1) == "ex-00001-of-00002"
    spec = str(tmp_path / "ex.tfrecord@2.gz")
    write_records(sharded_filename(spec, 0), [b"a"])
    with pytest.raises(InputError, match=r"ex\.tfrecord-00001-of-00002\.gz does not exist"):
        expand_spec(spec)
    write_records(sharded_filename(spec, 1), [b"b"])
    files = expand_spec(spec)
    assert [f.name for f in files] == ["ex.tfrecord-00000-of-00002.gz", "ex.tfrecord-00001-of-00002.gz"]
    assert expand_spec(str(tmp_path / "ex.tfrecord-?????-of-00002.gz")) == files
    assert expand_spec(",".join(map(str, files))) == files
    assert example_info_path(spec) == tmp_path / "ex.tfrecord-00000-of-00002.gz.example_info.json"


def test_example_info_and_channel_numbers(tmp_path):
    assert [CHANNEL_ENUMS[n] for n in ("read_base", "base_differs_from_ref", "insert_size")] == [1, 6, 19]
    assert CHANNEL_NAMES[5] == "read_supports_variant"
    info = ExampleInfo.from_names(100, 221, ["read_base", "base_quality", "mapping_quality", "strand",
                                             "read_supports_variant", "base_differs_from_ref", "insert_size"])
    path = write_example_info(tmp_path / "ex-00000-of-00001.gz.example_info.json", info)
    assert json.loads(path.read_text()) == {"version": "1.8.0", "shape": [100, 221, 7], "channels": [1, 2, 3, 4, 5, 6, 19]}
    assert read_example_info(path) == info and info.channel_names[-1] == "insert_size"
    assert find_example_info(tmp_path / "ex@1.gz") == path
    (tmp_path / "bad.json").write_text('{"shape": [100, 221, 6], "channels": [1, 2]}')
    with pytest.raises(InputError, match="does not match its 2 channels"):
        read_example_info(tmp_path / "bad.json")
    with pytest.raises(InputError, match="no DeepVariant channel number"):
        ExampleInfo.from_names(100, 221, ["read_base", "colour"])


# --------------------------------------------------------------------------------------------------
# lowcov example sets


def lowcov_set(directory, n_shards: int = 2, per_shard: int = 3, seed: int = 0) -> ExampleSet:
    rng = np.random.default_rng(seed)
    channels = ["read_base", "base_quality", "mapping_quality", "strand", "read_supports_variant",
                "base_differs_from_ref"]
    names = []
    for s in range(n_shards):
        labels = rng.integers(-1, 3, per_shard).astype(np.int8)
        meta = {"contig": np.array(["chr1", "chr2", "chr1"][:per_shard]), "position": np.arange(per_shard) * 50 + s + 1,  # VCF POS
                "ref": np.array(["A", "AT", "G"][:per_shard]), "alt": np.array(["C", "A", "T,GA"][:per_shard]),
                "alt_count": np.full(per_shard, 3), "depth": np.full(per_shard, 9)}
        names.append(shard_name(s, n_shards))
        write_shard(directory / names[-1], rng.integers(0, 255, (per_shard, 100, 221, 6), dtype=np.uint8), labels, meta)
    write_info(directory, {"height": 100, "width": 221, "channels": channels, "n_examples": n_shards * per_shard,
                           "shards": names})
    return ExampleSet.open(directory)


def test_lowcov_set_to_deepvariant_files_and_back(tmp_path):
    (tmp_path / "set").mkdir()
    original = lowcov_set(tmp_path / "set")
    spec = export_example_set(original, tmp_path / "dv" / "train.tfrecord.gz")
    assert spec == str(tmp_path / "dv" / "train.tfrecord@2.gz")
    assert read_example_info(example_info_path(spec)).channels == (1, 2, 3, 4, 5, 6)
    first = next(read_examples(sharded_filename(spec, 0)))
    # POS 1 is the 0-based start 0 of a nucleus Variant; the locus is 1-based again
    assert first.variant == Variant("chr1", 0, 1, "A", ("C",)) and first.locus == "chr1:1-1"
    third = list(read_examples(sharded_filename(spec, 0)))[2]
    assert third.variant.alternate_bases == ("T", "GA") and third.alt_allele_indices == (0, 1)

    back = import_examples(spec, tmp_path / "back", examples_per_shard=4)
    assert len(back) == 6 and [len(read_shard(p)) for p in back.shards] == [4, 2]
    assert back.info["channels"] == original.info["channels"]
    a, b = original.load(), back.load()
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    for key in ("contig", "position", "ref", "alt"):
        assert list(a.meta[key]) == list(b.meta[key])
    assert set(b.meta["depth"]) == {-1}


# --------------------------------------------------------------------------------------------------
# against TensorFlow's own reader and writer


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow", reason="interoperability with TensorFlow needs: pip install 'lowcov[deepvariant]'")


def test_tensorflow_reads_lowcov_files(tf, tmp_path):
    examples = random_examples(4, seed=1) + random_examples(2, seed=2, labelled=False)
    write_examples(tmp_path / "ours.tfrecord.gz", examples)
    read = [tf.train.Example.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(str(tmp_path / "ours.tfrecord.gz"), compression_type="GZIP")]
    assert len(read) == len(examples)
    for theirs, ours in zip(read, examples):
        feature = theirs.features.feature
        assert feature["image/encoded"].bytes_list.value[0] == ours.image.tobytes()
        assert list(feature["image/shape"].int64_list.value) == [100, 221, 7]
        assert ("label" in feature) == (ours.label is not None)  # before feature["label"], which adds the key
        if ours.label is not None:
            assert list(feature["label"].int64_list.value) == [ours.label]
        assert feature["locus"].bytes_list.value[0].decode() == ours.variant.locus
        assert feature["variant/encoded"].bytes_list.value[0] == ours.variant.encode()
        assert feature["variant_type"].int64_list.value[0] == ours.variant.variant_type


def test_lowcov_reads_tensorflow_files(tf, tmp_path):
    examples = random_examples(5, seed=3)
    path = str(tmp_path / "theirs.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options=tf.io.TFRecordOptions(compression_type="GZIP")) as writer:
        for ex in examples:
            feature = {
                "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[ex.image.tobytes()])),
                "image/shape": tf.train.Feature(int64_list=tf.train.Int64List(value=list(ex.image.shape))),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[ex.label])),
                "variant/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[ex.variant.encode()])),
                "alt_allele_indices/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[bytes([0x0A, len(ex.alt_allele_indices)] + list(ex.alt_allele_indices))])),
                "locus": tf.train.Feature(bytes_list=tf.train.BytesList(value=[ex.variant.locus.encode()])),
                "variant_type": tf.train.Feature(int64_list=tf.train.Int64List(value=[ex.variant.variant_type])),
                "sequencing_type": tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
                "weight": tf.train.Feature(float_list=tf.train.FloatList(value=[0.5, -3.0])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    back = list(read_examples(path))
    assert [e.label for e in back] == [e.label for e in examples]
    for ours, original in zip(back, examples):
        assert ours.image.tobytes() == original.image.tobytes()
        assert ours.variant == original.variant and ours.alt_allele_indices == original.alt_allele_indices
        assert ours.other == {"weight": ("float", [0.5, -3.0])}
