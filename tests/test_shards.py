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
