"""BGISEQ-500-like paired-end 2x100 reads drawn from the two haplotypes.

Fragments (insert ~ N(300, 50)) start uniformly on a haplotype and survive with a probability
that falls off at extreme GC, which makes coverage uneven the way PCR does. Each base gets a
Phred quality drawn around a cycle-dependent error curve (per-read and per-base noise, a few reads
with a collapsing tail); the base is then wrong with exactly the probability its quality states,
so qualities are calibrated by construction. A few reads get a 1-bp indel error, preferentially in
homopolymers, and reads spanning a homopolymer or STR gain or lose one unit with a probability that
grows with the tract length (PCR stutter). Everything is vectorised over chunks of read pairs.
"""
from __future__ import annotations

import gzip
import logging
import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

import dataclasses

from .config import DemoConfig
from .haplotypes import Haplotype
from .reference import TandemTracts, find_tandem_tracts
from .sequence import ASCII, gc_mask

log = logging.getLogger(__name__)

MIN_QUALITY, MAX_QUALITY = 2, 41
#: error probability stated by each Phred value
ERROR_OF_QUALITY = (10.0 ** (-np.arange(MAX_QUALITY + 1) / 10.0)).astype(np.float32)
#: extra bases drawn beyond the read so deletion and stutter errors can pull in the next bases
PAD = 12
#: stutter is simulated for homopolymers and STRs with units up to this length
MAX_STUTTER_PERIOD = 4


@dataclass
class ReadPairs:
    """A chunk of read pairs and where each came from (haplotype coordinates)."""

    contig: str
    read1: np.ndarray  # (n, read_length) base codes, in sequencing orientation
    read2: np.ndarray
    qual1: np.ndarray  # (n, read_length) Phred values
    qual2: np.ndarray
    haplotype: np.ndarray  # (n,) 0 or 1
    fragment_start: np.ndarray  # (n,) haplotype coordinate of the fragment's leftmost base
    fragment_length: np.ndarray
    read1_forward: np.ndarray  # (n,) read 1 reads the haplotype's forward strand
    substitution_errors1: np.ndarray  # (n, read_length) True where a substitution error was made
    substitution_errors2: np.ndarray
    indel_error1: np.ndarray  # (n,) read has an indel error
    indel_error2: np.ndarray

    def __len__(self) -> int:
        return int(self.haplotype.size)


def gc_survival(gc: np.ndarray, config: DemoConfig) -> np.ndarray:
    """Probability that a fragment of this GC fraction is sequenced (flat top, steep flanks)."""
    return np.exp(-(((gc - config.gc_bias_optimum) / config.gc_bias_width) ** 4))


def sample_fragments(haplotype: Haplotype, n_pairs: int, config: DemoConfig,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of ``n_pairs`` fragments that survived GC-biased sampling."""
    hap_length = haplotype.sequence.size
    gc_cumulative = np.concatenate(([0], np.cumsum(gc_mask(haplotype.sequence), dtype=np.int64)))
    max_length = min(int(config.insert_mean + 5 * config.insert_sd), hap_length - 1)
    starts, lengths, have = [], [], 0
    while have < n_pairs:
        m = int((n_pairs - have) * 1.3) + 64
        length = np.clip(np.rint(rng.normal(config.insert_mean, config.insert_sd, m)), config.read_length,
                         max_length).astype(np.int64)
        start = rng.integers(0, hap_length - length + 1)
        gc = (gc_cumulative[start + length] - gc_cumulative[start]) / length
        survived = rng.random(m) < gc_survival(gc, config)
        starts.append(start[survived])
        lengths.append(length[survived])
        have += int(survived.sum())
    return np.concatenate(starts)[:n_pairs], np.concatenate(lengths)[:n_pairs]


def error_profile(config: DemoConfig) -> np.ndarray:
    """Mean substitution error probability per cycle: low at the start, rising quadratically."""
    cycle = np.arange(config.read_length) / max(config.read_length - 1, 1)
    return (config.error_rate_start + (config.error_rate_end - config.error_rate_start) * cycle ** 2).astype(np.float32)


def draw_qualities(n: int, factor: float, config: DemoConfig, rng: np.random.Generator) -> np.ndarray:
    """Phred qualities (n, read_length): the cycle's error rate scaled by per-read and per-base noise."""
    read_sd, base_sd = config.read_quality_sd, config.base_quality_sd
    # Dividing by the log-normal mean keeps the average error probability on the profile.
    scale = factor / np.exp((read_sd ** 2 + base_sd ** 2) / 2)
    log_p = (np.log(error_profile(config) * scale)[None, :]
             + rng.normal(0, read_sd, (n, 1)).astype(np.float32)
             + base_sd * rng.standard_normal((n, config.read_length), dtype=np.float32))
    quality = np.clip(np.rint(log_p * np.float32(-10 / np.log(10))), MIN_QUALITY, MAX_QUALITY).astype(np.uint8)
    tails = np.flatnonzero(rng.random(n) < config.low_quality_tail_fraction)
    if tails.size:
        begin = rng.integers(config.read_length // 2, config.read_length, tails.size)
        in_tail = np.arange(config.read_length)[None, :] >= begin[:, None]
        tail_quality = rng.integers(5, 13, (tails.size, config.read_length), dtype=np.uint8)
        quality[tails] = np.where(in_tail, tail_quality, quality[tails])
    return quality


def add_substitutions(reads: np.ndarray, quality: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Change each base with the probability its quality states; returns the error mask."""
    errors = rng.random(reads.shape, dtype=np.float32) < ERROR_OF_QUALITY[quality]
    reads[errors] = (reads[errors] + rng.integers(1, 4, int(errors.sum()), dtype=np.uint8)) % 4
    return errors


def add_indel_errors(reads: np.ndarray, read_length: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """A 1-bp indel in a few reads (in place on the padded reads); homopolymers weighted by length^2."""
    hit = np.flatnonzero(rng.random(reads.shape[0]) < -np.expm1(-rate * read_length))
    for row in hit.tolist():
        read = reads[row]
        run_id = np.cumsum(np.concatenate(([True], read[1:read_length] != read[:read_length - 1]))) - 1
        # Each base weighs its run's length, so a homopolymer of length r weighs r^2 in total.
        weights = np.bincount(run_id)[run_id].astype(np.float64)
        position = int(rng.choice(read_length, p=weights / weights.sum()))
        if rng.random() < 0.5:
            reads[row] = np.concatenate([read[:position], read[position + 1:], read[-1:]])
        else:
            reads[row] = np.concatenate([read[:position + 1], read[position:-1]])
    mask = np.zeros(reads.shape[0], dtype=bool)
    mask[hit] = True
    return mask


@dataclass
class StutterSites:
    """Tandem tracts of one haplotype and the probability that a read spanning each one stutters."""

    tracts: TandemTracts
    probability: np.ndarray


def stutter_sites(haplotype: Haplotype, config: DemoConfig) -> StutterSites:
    found = find_tandem_tracts(haplotype.sequence, dataclasses.replace(config, homopolymer_min_length=5,
                                                                       str_min_length=8))
    keep = found.periods <= MAX_STUTTER_PERIOD
    tracts = TandemTracts(found.starts[keep], found.ends[keep], found.periods[keep])
    lengths = tracts.lengths
    homopolymer = tracts.periods == 1
    log10_p = np.where(homopolymer,
                       config.stutter_homopolymer[0] + config.stutter_homopolymer[1] * (lengths - config.stutter_homopolymer[2]),
                       config.stutter_str[0] + config.stutter_str[1] * (lengths - config.stutter_str[2]))
    return StutterSites(tracts, np.minimum(10.0 ** log10_p, config.stutter_max))


def add_stutter(reads: np.ndarray, window_start: np.ndarray, forward: np.ndarray, read_length: int,
                sites: StutterSites, config: DemoConfig, rng: np.random.Generator) -> np.ndarray:
    """Add or remove one repeat unit in reads that span a tract (in place); returns the hit mask."""
    window_end = window_start + read_length
    starts, ends, periods = sites.tracts.starts, sites.tracts.ends, sites.tracts.periods
    first = np.searchsorted(starts, window_start, side="left")
    counts = np.searchsorted(starts, window_end, side="left") - first
    read_of_pair = np.repeat(np.arange(reads.shape[0]), counts)
    tract_of_pair = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(first, counts)
    spanned = ends[tract_of_pair] <= window_end[read_of_pair]
    read_of_pair, tract_of_pair = read_of_pair[spanned], tract_of_pair[spanned]
    slipped = rng.random(tract_of_pair.size) < sites.probability[tract_of_pair]
    contract = rng.random(tract_of_pair.size) < config.stutter_contraction_share
    hit = np.zeros(reads.shape[0], dtype=bool)
    # Rightmost tract first, so that an edit does not move the position of the next one.
    pairs = sorted(zip(read_of_pair[slipped].tolist(), tract_of_pair[slipped].tolist(), contract[slipped].tolist()),
                   key=lambda x: (x[0], -starts[x[1]] if forward[x[0]] else ends[x[1]]))
    for row, tract, shorter in pairs:
        period = int(periods[tract])
        if forward[row]:
            offset = int(starts[tract] - window_start[row])
        else:  # the read is the reverse complement of its window
            offset = int(window_end[row] - ends[tract])
        read = reads[row]
        if shorter:
            reads[row] = np.concatenate([read[:offset], read[offset + period:], read[-period:]])
        else:
            reads[row] = np.concatenate([read[:offset + period], read[offset:-period]])
        hit[row] = True
    return hit


def _read_chunk(haplotype: Haplotype, starts: np.ndarray, lengths: np.ndarray, config: DemoConfig,
                rng: np.random.Generator, sites: StutterSites | None = None) -> ReadPairs:
    sequence = haplotype.sequence
    n, width = starts.size, config.read_length + PAD
    offsets = np.arange(width, dtype=np.int64)
    forward = sequence[np.minimum(starts[:, None] + offsets, sequence.size - 1)]
    reverse_start = starts + lengths - width
    reverse = 3 - sequence[np.maximum(reverse_start[:, None] + offsets, 0)][:, ::-1]
    read1_forward = rng.random(n) < 0.5
    read1 = np.where(read1_forward[:, None], forward, reverse).astype(np.uint8)
    read2 = np.where(read1_forward[:, None], reverse, forward).astype(np.uint8)
    indel1 = np.zeros(n, dtype=bool)
    indel2 = np.zeros(n, dtype=bool)
    if sites is not None:  # stutter first: its offsets are computed on the unedited reads
        forward_window = starts
        reverse_window = starts + lengths - config.read_length
        window1 = np.where(read1_forward, forward_window, reverse_window)
        window2 = np.where(read1_forward, reverse_window, forward_window)
        indel1 |= add_stutter(read1, window1, read1_forward, config.read_length, sites, config, rng)
        indel2 |= add_stutter(read2, window2, ~read1_forward, config.read_length, sites, config, rng)
    indel1 |= add_indel_errors(read1, config.read_length, config.dna_indel_error_rate, rng)
    indel2 |= add_indel_errors(read2, config.read_length, config.dna_indel_error_rate, rng)
    read1 = np.ascontiguousarray(read1[:, :config.read_length])
    read2 = np.ascontiguousarray(read2[:, :config.read_length])
    qual1 = draw_qualities(n, 1.0, config, rng)
    qual2 = draw_qualities(n, config.read2_error_factor, config, rng)
    errors1 = add_substitutions(read1, qual1, rng)
    errors2 = add_substitutions(read2, qual2, rng)
    return ReadPairs(haplotype.contig, read1, read2, qual1, qual2, np.full(n, haplotype.index, dtype=np.uint8),
                     starts, lengths, read1_forward, errors1, errors2, indel1, indel2)


def pairs_for_coverage(reference_length: int, config: DemoConfig) -> int:
    return int(round(config.dna_coverage * reference_length / (2 * config.read_length)))


def iter_dna_reads(haplotypes: Sequence[Haplotype], config: DemoConfig, rng: np.random.Generator,
                   n_pairs: int | None = None) -> Iterator[ReadPairs]:
    """Chunks of read pairs of one contig; half of the fragments (binomially) from each haplotype."""
    if n_pairs is None:
        reference_length = int(haplotypes[0].anchor[-1]) + 1
        n_pairs = pairs_for_coverage(reference_length, config)
    from_first = int(rng.binomial(n_pairs, 0.5))
    for haplotype, count in zip(haplotypes, (from_first, n_pairs - from_first)):
        starts, lengths = sample_fragments(haplotype, count, config, rng)
        sites = stutter_sites(haplotype, config)
        for begin in range(0, count, config.dna_chunk_pairs):
            end = min(begin + config.dna_chunk_pairs, count)
            yield _read_chunk(haplotype, starts[begin:end], lengths[begin:end], config, rng, sites)


def sample_dna_reads(haplotypes: Sequence[Haplotype], config: DemoConfig, rng: np.random.Generator,
                     n_pairs: int | None = None) -> ReadPairs:
    """All read pairs of one contig in one object (for small contigs and tests)."""
    chunks = list(iter_dna_reads(haplotypes, config, rng, n_pairs))
    return ReadPairs(chunks[0].contig, *(np.concatenate([getattr(c, f) for c in chunks])
                                         for f in ("read1", "read2", "qual1", "qual2", "haplotype", "fragment_start",
                                                   "fragment_length", "read1_forward", "substitution_errors1",
                                                   "substitution_errors2", "indel_error1", "indel_error2")))


# -- FASTQ -------------------------------------------------------------------------------------------

def open_gzip_for_writing(path: str | os.PathLike, level: int = 1):
    """gzip with no name or time stamp in the header, so equal content gives equal bytes."""
    raw = open(path, "wb")
    return gzip.GzipFile(filename="", mode="wb", compresslevel=level, fileobj=raw, mtime=0), raw


def fastq_block(first_index: int, prefix: str, reads: np.ndarray, quality: np.ndarray) -> bytes:
    """Fixed-width FASTQ records built as one byte matrix: @<prefix><9-digit index>, seq, +, qual."""
    n, length = reads.shape
    name = np.frombuffer(("@" + prefix).encode(), dtype=np.uint8)
    digits = ((first_index + np.arange(n, dtype=np.int64))[:, None] // 10 ** np.arange(8, -1, -1)) % 10 + 48
    width = name.size + 9 + 1 + length + 3 + length + 1
    block = np.empty((n, width), dtype=np.uint8)
    column = name.size
    block[:, :column] = name
    block[:, column:column + 9] = digits
    column += 9
    block[:, column] = ord("\n")
    block[:, column + 1:column + 1 + length] = ASCII[reads]
    column += 1 + length
    block[:, column:column + 3] = np.frombuffer(b"\n+\n", dtype=np.uint8)
    column += 3
    block[:, column:column + length] = quality + 33
    block[:, -1] = ord("\n")
    return block.tobytes()


class PairedFastqWriter:
    """Writes read pairs to two gzipped FASTQs; mates share one name (no /1 /2)."""

    def __init__(self, path1, path2, prefix: str, level: int = 1):
        self.prefix = prefix
        self.count = 0
        self._handles = [open_gzip_for_writing(path1, level), open_gzip_for_writing(path2, level)]

    def write(self, pairs: ReadPairs) -> None:
        (gz1, _), (gz2, _) = self._handles
        gz1.write(fastq_block(self.count, self.prefix, pairs.read1, pairs.qual1))
        gz2.write(fastq_block(self.count, self.prefix, pairs.read2, pairs.qual2))
        self.count += len(pairs)

    def close(self) -> None:
        for gz, raw in self._handles:
            gz.close()
            raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
