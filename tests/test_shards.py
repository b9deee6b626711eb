"""Example shards: ISA-L-deflated .npz that numpy reads, and clear errors for damaged ones."""
import numpy as np
import pytest

from lowcov import InputError
from lowcov.shards import read_shard, write_shard


@pytest.fixture
def shard(tmp_path):
    rng = np.random.default_rng(0)
    images = (rng.random((7, 10, 11, 6)) < 0.2).astype(np.uint8) * 254
    meta = {"contig": np.array(["chr1"] * 7), "position": np.arange(7) * 10}
    return write_shard(tmp_path / "s.npz", images, np.array([0, 1, 2, 0, 1, 2, -1]), meta), images


def test_numpy_reads_what_we_write_and_bytes_are_reproducible(tmp_path, shard):
    path, images = shard
    with np.load(path) as data:
        assert np.array_equal(data["images"], images) and data["meta_contig"][0] == "chr1"
    again = write_shard(tmp_path / "again.npz", images, np.array([0, 1, 2, 0, 1, 2, -1]),
                        {"contig": np.array(["chr1"] * 7), "position": np.arange(7) * 10})
    assert again.read_bytes() == path.read_bytes()
    back = read_shard(path)
    assert np.array_equal(back.images, images) and back.labels.tolist() == [0, 1, 2, 0, 1, 2, -1]


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_shard_is_an_error_naming_it(shard, damage):
    path, _ = shard
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[200] ^= 0xFF  # inside the first member's deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="s.npz"):
        read_shard(path)


def test_packed_images_reordered_make_the_shard_the_arrays_would(tmp_path):
    from lowcov.shards import PackedImages, PackedShard

    rng = np.random.default_rng(1)
    images = (rng.random((9, 12, 13, 5)) < 0.3).astype(np.uint8) * rng.integers(1, 255, (9, 12, 13, 5), np.uint8)
    labels = np.arange(9) % 3
    meta = {"position": np.arange(9) * 7, "ref": np.array(list("ACGTACGTA"))}
    order = rng.permutation(9)[:6]
    part = PackedShard(PackedImages.pack(images), labels, meta)
    part.write(tmp_path / "part.npz")
    moved = PackedShard.concatenate([PackedShard.read(tmp_path / "part.npz").take(order[:2]), part.take(order[2:])])
    path = write_shard(tmp_path / "s.npz", moved.images, moved.labels, moved.meta)
    with np.load(path) as data:  # zipfile checks the combined CRC-32 as it inflates
        assert np.array_equal(data["images"], images[order])
        assert data["labels"].tolist() == labels[order].tolist() and data["meta_ref"].tolist() == meta["ref"][order].tolist()
    assert np.array_equal(read_shard(path).images, images[order])
    assert np.array_equal(moved.images.member().inflate(), images[order])


def test_packed_images_with_a_wrong_crc_make_a_shard_that_fails_its_check(tmp_path):
    from lowcov.shards import PackedImages

    images = np.full((3, 4, 5, 2), 7, np.uint8)
    packed = PackedImages.pack(images)
    damaged = PackedImages(packed.shape, packed.data, packed.offsets, packed.crcs ^ np.uint32(1))
    path = write_shard(tmp_path / "bad.npz", damaged, np.zeros(3), {})
    with pytest.raises(InputError, match="bad.npz"):
        read_shard(path)


def test_metadata_of_python_objects_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Python objects"):
        write_shard(tmp_path / "o.npz", np.zeros((1, 2, 2, 1), np.uint8), [0], {"ref": np.array([None], dtype=object)})
    assert not (tmp_path / "o.npz").exists()
