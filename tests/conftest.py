"""Shared fixtures: small real files (FASTA, BAM, VCF) written by the tests themselves."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


def write_fasta(path: Path, contigs: dict[str, str]) -> Path:
    with open(path, "w") as handle:
        for name, seq in contigs.items():
            handle.write(f">{name}\n")
            for i in range(0, len(seq), 60):
                handle.write(seq[i:i + 60] + "\n")
    pysam.faidx(str(path))
    return path


def random_sequence(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list("ACGT"), length))


def reverse_complement(seq: str) -> str:
    return seq.translate(str.maketrans("ACGT", "TGCA"))[::-1]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def small_genome(tmp_path, rng):
    """Two random contigs, chr1 (20 kb) and chr2 (10 kb), as an indexed FASTA."""
    contigs = {"chr1": random_sequence(rng, 20_000), "chr2": random_sequence(rng, 10_000)}
    return write_fasta(tmp_path / "genome.fa", contigs), contigs


def write_pairs(path1: Path, path2: Path, genome: dict[str, str], n_pairs: int, rng, insert: int = 300,
                read_length: int = 100) -> None:
    """Error-free FR read pairs sampled uniformly from the contigs."""
    import gzip

    names = list(genome)
    weights = np.array([len(genome[n]) for n in names], dtype=float)
    with gzip.open(path1, "wt") as r1, gzip.open(path2, "wt") as r2:
        for i in range(n_pairs):
            contig = names[rng.choice(len(names), p=weights / weights.sum())]
            seq = genome[contig]
            start = int(rng.integers(0, len(seq) - insert))
            fragment = seq[start:start + insert]
            if rng.random() < 0.5:
                fragment = reverse_complement(fragment)
            quals = "I" * read_length
            r1.write(f"@p{i}\n{fragment[:read_length]}\n+\n{quals}\n")
            r2.write(f"@p{i}\n{reverse_complement(fragment)[:read_length]}\n+\n{quals}\n")
