"""Reference access for the benchmark: one whole contig held in memory at a time.

The comparison visits contigs one after another, so holding the current contig as an upper-case
string makes every REF check, left-shift and haplotype window a cheap slice instead of a
``faidx`` call per record. A human chr1 costs about 250 MB while it is current.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pysam

from .. import InputError
from ..checks import fasta_contigs, require_fasta

log = logging.getLogger(__name__)


class ReferenceGenome:
    """A FASTA (with .fai, built if missing) that caches the most recently used contig.

    ``fetch(chrom, start, end)`` (0-based, half-open) has the same signature as
    :meth:`pysam.FastaFile.fetch`, so it can be passed wherever a ``RefFetch`` is expected.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(require_fasta(path))
        self.lengths: dict[str, int] = fasta_contigs(self.path)
        self._fasta = pysam.FastaFile(str(self.path))
        self._cached_name: str | None = None
        self._cached_seq: str = ""

    def __enter__(self) -> "ReferenceGenome":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._fasta.close()
        self._cached_name, self._cached_seq = None, ""

    @property
    def contigs(self) -> list[str]:
        return list(self.lengths)

    def sequence(self, chrom: str) -> str:
        """The whole contig, upper-cased (soft-masking carries no meaning for comparison)."""
        if chrom != self._cached_name:
            if chrom not in self.lengths:
                raise InputError(f"contig {chrom} is not in the reference {self.path}")
            self._cached_name = None
            self._cached_seq = ""  # release the previous contig before loading the next
            self._cached_seq = self._fasta.fetch(chrom).upper()
            self._cached_name = chrom
        return self._cached_seq

    def fetch(self, chrom: str, start: int, end: int) -> str:
        return self.sequence(chrom)[max(0, start):end]

    def non_n_length(self, chrom: str) -> int:
        seq = self.sequence(chrom)
        return len(seq) - seq.count("N")
