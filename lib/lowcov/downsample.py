"""Subsets of a BAM's reads: a seeded fraction of its read pairs (``samtools view -s SEED.FRACTION``), or
one contig (``samtools view -b BAM CONTIG``, :func:`extract_contig`).

The case study simulates low coverage with ``samtools view -s 0.5`` on the chr1 test BAM. This module
makes the same choice of reads as samtools, so that our 50 % BAM is the case study's 50 % BAM:

* the decision is a function of the read *name* and the seed only, so both mates of a pair (and any
  secondary/supplementary records of the same template) are kept or dropped together;
* the function is samtools' own: the X31 string hash of the name, XOR the seed, through Thomas Wang's
  32-bit integer mix; a template is kept when the low 24 bits of that value, divided by 2**24, fall below
  the fraction;
* as samtools does, a non-zero seed is first scrambled by seeding the C library's ``srand`` and taking
  one ``rand()``. We compute glibc's ``rand()`` here in Python, so the result is the same on every
  machine and equals samtools' on Linux (on macOS samtools itself picks different reads for seeds != 0).
  Seed 0 (the case study's ``-s 0.5``) is used as is on every platform.

Two engines give identical reads: ``python`` (the default; a progress bar, counts of templates kept)
and ``samtools`` (pysam's bundled ``samtools view --subsample``; faster, no progress bar).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pysam
from tqdm import tqdm

from . import InputError
from .checks import describe_naming, require_bam, require_bgzf_complete, require_file
from .fileio import atomic_output, remove_with_sidecars, temporary_name

log = logging.getLogger(__name__)

_UINT32 = 0xFFFFFFFF
_GLIBC_RAND_MODULUS = 2147483647  # 2**31 - 1, the Park-Miller modulus glibc seeds its state with
_BATCH = 20_000  # records hashed together; large enough for numpy to pay off, small for memory

ENGINES = ("python", "samtools")


@dataclass(frozen=True)
class DownsampleConfig:
    """``fraction`` of templates (read pairs) to keep, decided by name with ``seed``.

    ``seed=0, fraction=0.5`` is the case study's ``samtools view -s 0.5``.
    """

    fraction: float = 0.5
    seed: int = 0
    threads: int = 1
    engine: str = "python"

    def __post_init__(self):
        if not 0.0 < self.fraction <= 1.0:
            raise InputError(f"downsampling fraction must be in (0, 1], got {self.fraction}")
        if not 0 <= self.seed < 2**31:
            raise InputError(f"downsampling seed must be in [0, 2**31), got {self.seed}")
        if self.engine not in ENGINES:
            raise InputError(f"unknown downsampling engine {self.engine!r}; choose one of {', '.join(ENGINES)}")

    @property
    def samtools_argument(self) -> str:
        """The ``samtools view -s`` argument that makes the same choice, e.g. ``0.5`` or ``42.25``."""
        return samtools_subsample_argument(self.seed, self.fraction)


@dataclass(frozen=True)
class DownsampleResult:
    path: Path
    fraction: float
    seed: int
    records_in: int | None = None
    records_out: int | None = None
    #: primary first-in-pair or unpaired records: one per template (read pair)
    templates_in: int | None = None
    templates_out: int | None = None

    @property
    def template_fraction_kept(self) -> float | None:
        if not self.templates_in:
            return None
        return self.templates_out / self.templates_in


def samtools_subsample_argument(seed: int, fraction: float) -> str:
    """``SEED.FRACTION`` as ``samtools view -s`` parses it (integer part = seed, decimals = fraction)."""
    if fraction >= 1.0:
        raise InputError("samtools -s cannot express a fraction of 1 (keep everything instead)")
    decimals = f"{fraction:.12f}".rstrip("0")  # '0.5', '0.25'
    return f"{seed}{decimals[decimals.index('.'):]}"


def glibc_first_rand(seed: int) -> int:
    """The first value of glibc's ``rand()`` after ``srand(seed)`` (its additive feedback generator).

    samtools turns a user seed into its hash seed this way; computing it here keeps our choice of reads
    independent of the platform's C library.
    """
    state = [seed if seed != 0 else 1]  # glibc treats seed 0 as 1
    for i in range(1, 31):
        state.append((16807 * state[i - 1]) % _GLIBC_RAND_MODULUS)
    state.extend(state[i - 31] for i in range(31, 34))
    for i in range(34, 345):
        state.append((state[i - 31] + state[i - 3]) & _UINT32)
    # outputs 0..309 are discarded by srand; the 311th sum, shifted right by one, is rand()'s first value
    return state[344] >> 1


def effective_seed(seed: int) -> int:
    """The 32-bit value samtools XORs into the name hash for a user ``seed``."""
    return 0 if seed == 0 else glibc_first_rand(seed)


def _x31_hash(names: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """khash's X31 string hash (h = h*31 + c over the bytes) of many names at once, in uint32."""
    with np.errstate(over="ignore"):
        hashes = names[:, 0].astype(np.uint32)
        for column in range(1, names.shape[1]):
            inside = column < lengths
            updated = hashes * np.uint32(31) + names[:, column].astype(np.uint32)
            hashes = np.where(inside, updated, hashes)
    return hashes


def _wang_mix(keys: np.ndarray) -> np.ndarray:
    """Thomas Wang's 32-bit integer hash, the finaliser samtools applies to the name hash."""
    keys = keys.astype(np.uint32)
    with np.errstate(over="ignore"):
        keys = keys + ~(keys << np.uint32(15))
        keys = keys ^ (keys >> np.uint32(10))
        keys = keys + (keys << np.uint32(3))
        keys = keys ^ (keys >> np.uint32(6))
        keys = keys + ~(keys << np.uint32(11))
        keys = keys ^ (keys >> np.uint32(16))
    return keys


def keep_mask(names: Sequence[str | bytes], seed: int, fraction: float) -> np.ndarray:
    """For each read name, whether ``samtools view -s SEED.FRACTION`` keeps it (vectorised)."""
    if len(names) == 0:
        return np.zeros(0, dtype=bool)
    encoded = np.array([n.encode() if isinstance(n, str) else n for n in names], dtype=np.bytes_)
    width = encoded.dtype.itemsize
    return keep_mask_of_matrix(encoded.view(np.uint8).reshape(len(encoded), width), np.char.str_len(encoded),
                               seed, fraction)


def keep_mask_of_matrix(names: np.ndarray, lengths: np.ndarray, seed: int, fraction: float) -> np.ndarray:
    """:func:`keep_mask` for names given as rows of a zero-padded byte matrix and their lengths."""
    mixed = _wang_mix(_x31_hash(names, lengths) ^ np.uint32(effective_seed(seed)))
    return (mixed & np.uint32(0xFFFFFF)).astype(np.float64) / float(0x1000000) < fraction


def keep_template(name: str, seed: int, fraction: float) -> bool:
    """Whether the template (read pair) called ``name`` survives downsampling."""
    return bool(keep_mask([name], seed, fraction)[0])


def _batches(records: Iterable[pysam.AlignedSegment], size: int):
    batch: list[pysam.AlignedSegment] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _is_template_representative(record: pysam.AlignedSegment) -> bool:
    """One record per template: the primary read 1 of a pair, or the primary record of a single read."""
    if record.is_secondary or record.is_supplementary:
        return False
    return not record.is_paired or record.is_read1


def _is_coordinate_sorted(header: pysam.AlignmentHeader) -> bool:
    return header.to_dict().get("HD", {}).get("SO") == "coordinate"


def _downsample_python(src: Path, tmp: Path, config: DownsampleConfig, progress: bool) -> DownsampleResult:
    counts = {"records_in": 0, "records_out": 0, "templates_in": 0, "templates_out": 0}
    with pysam.AlignmentFile(str(src), "rb") as bam:
        header = bam.header.to_dict()
        sorted_input = _is_coordinate_sorted(bam.header)
        # a fixed @PG line (no paths, no time) keeps the output byte-identical for the same seed
        header.setdefault("PG", []).append({
            "ID": f"lowcov.downsample.{len(header.get('PG', []))}", "PN": "lowcov.downsample",
            "CL": f"fraction={config.fraction} seed={config.seed}"
                  + (f" (= samtools view -s {config.samtools_argument})" if config.fraction < 1 else "")})
        unsorted = tmp if sorted_input else temporary_name(tmp.with_name(tmp.name + ".unsorted.bam"))
        try:
            with pysam.AlignmentFile(str(unsorted), "wb", header=header, threads=max(1, config.threads)) as out, \
                    tqdm(desc=f"downsample {src.name} to {config.fraction:g}", unit=" reads",
                         disable=not progress) as bar:
                for batch in _batches(bam.fetch(until_eof=True), _BATCH):
                    keep = keep_mask([r.query_name for r in batch], config.seed, config.fraction)
                    for record, kept in zip(batch, keep):
                        representative = _is_template_representative(record)
                        counts["templates_in"] += representative
                        if kept:
                            out.write(record)
                            counts["records_out"] += 1
                            counts["templates_out"] += representative
                    counts["records_in"] += len(batch)
                    bar.update(len(batch))
            if not sorted_input:
                log.info("%s is not coordinate-sorted; sorting the downsampled reads", src)
                pysam.sort("-@", str(max(1, config.threads)), "-T", str(tmp) + ".sorttmp", "-o", str(tmp),
                           str(unsorted))
        finally:
            if unsorted != tmp:
                remove_with_sidecars(unsorted)
    return DownsampleResult(tmp, config.fraction, config.seed, **counts)


def _downsample_samtools(src: Path, tmp: Path, config: DownsampleConfig) -> DownsampleResult:
    with pysam.AlignmentFile(str(src), "rb") as bam:
        sorted_input = _is_coordinate_sorted(bam.header)
    args = ["-b", "--no-PG", "-@", str(max(0, config.threads - 1))]
    if config.fraction < 1.0:
        args += ["--subsample", repr(config.fraction), "--subsample-seed", str(config.seed)]
    if sorted_input:
        pysam.view(*args, "-o", str(tmp), str(src), catch_stdout=False)
    else:
        unsorted = temporary_name(tmp.with_name(tmp.name + ".unsorted.bam"))
        try:
            pysam.view(*args, "-o", str(unsorted), str(src), catch_stdout=False)
            pysam.sort("-@", str(max(1, config.threads)), "-T", str(tmp) + ".sorttmp", "-o", str(tmp),
                       str(unsorted))
        finally:
            remove_with_sidecars(unsorted)
    return DownsampleResult(tmp, config.fraction, config.seed)


def downsample_bam(src: str | os.PathLike, dst: str | os.PathLike, fraction: float | None = None,
                   seed: int | None = None, config: DownsampleConfig | None = None,
                   progress: bool = True) -> DownsampleResult:
    """Write the templates of ``src`` that ``samtools view -s SEED.FRACTION`` keeps to ``dst``.

    ``dst`` is coordinate-sorted (sorted afterwards if ``src`` was not), indexed, and appears atomically.
    ``fraction``/``seed`` override the fields of ``config``. Returns counts of records and templates.
    """
    config = config or DownsampleConfig()
    if fraction is not None or seed is not None:
        config = DownsampleConfig(fraction=config.fraction if fraction is None else fraction,
                                  seed=config.seed if seed is None else seed,
                                  threads=config.threads, engine=config.engine)
    # no index needed: the whole file is streamed (and it may be unsorted)
    src, dst = require_file(src, "BAM"), Path(dst)
    if src.suffix == ".bam":
        require_bgzf_complete(src, "BAM")
    if src.resolve() == dst.resolve():
        raise InputError(f"downsampling would overwrite its input {src}; choose another output path")
    log.info("downsampling %s to %s of its templates (seed %d, engine %s) -> %s",
             src, config.fraction, config.seed, config.engine, dst)
    with atomic_output(dst) as tmp:
        if config.engine == "samtools":
            result = _downsample_samtools(src, tmp, config)
        else:
            result = _downsample_python(src, tmp, config, progress)
        pysam.index(str(tmp))
    result = DownsampleResult(dst, result.fraction, result.seed, result.records_in, result.records_out,
                              result.templates_in, result.templates_out)
    if result.templates_in:
        log.info("kept %d of %d templates (%.4f) and %d of %d records", result.templates_out,
                 result.templates_in, result.template_fraction_kept, result.records_out, result.records_in)
    return result


def extract_contig(src: str | os.PathLike, dst: str | os.PathLike, contig: str, threads: int = 1) -> Path:
    """The reads of ``src`` on ``contig`` into a sorted, indexed ``dst`` (``samtools view -b src contig``).

    The header keeps every @SQ line, as samtools does, so ``dst`` still matches the full reference.
    """
    src, dst = require_bam(src), Path(dst)
    with pysam.AlignmentFile(str(src)) as bam:
        if contig not in bam.references:
            raise InputError(f"contig {contig} is not in {src}, which uses {describe_naming(bam.references)} "
                             f"(e.g. {', '.join(list(bam.references)[:3])})")
        sorted_input = bam.header.to_dict().get("HD", {}).get("SO") == "coordinate"
    if not sorted_input:
        raise InputError(f"{src} is not coordinate-sorted (@HD SO:coordinate), so one contig cannot be "
                         "extracted through its index")
    log.info("extracting %s from %s -> %s", contig, src, dst)
    with atomic_output(dst) as tmp:
        pysam.view("-b", "--no-PG", "-@", str(max(0, threads - 1)), "-o", str(tmp), str(src), contig,
                   catch_stdout=False)
        pysam.index(str(tmp))
    return dst
