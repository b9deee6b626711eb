"""Reading and validating the truth and query VCFs.

Every record is either used, skipped for a stated reason (no-call, hom-ref, filtered truth, ...;
counted per reason), or an *import failure* (hap.py's IMPORT_FAIL: characters a comparison cannot
use, a REF that disagrees with the reference): failures are reported, listed in the result and the
output VCF, and never counted as TP/FP/FN. Problems that make the whole file untrustworthy (a
contig missing from the reference, a GT naming an allele that does not exist, a record htslib
cannot parse) raise :class:`lowcov.InputError` naming the file.

Files need not be sorted or indexed: each is read once from start to end and sorted in memory.
"""
from __future__ import annotations

import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pysam

from .. import InputError
from ..checks import check_contigs_match, require_vcf
from ..normalize import is_sequence_allele

log = logging.getLogger(__name__)

_BASES = re.compile(r"^[ACGTNacgtn]+$")
_GT_SPLIT = re.compile(r"[/|]")


class ContigResolver:
    """Maps contig names as written in a VCF or BED to the reference's names.

    Exact names win; otherwise a ``chr`` prefix is added or removed (and ``M``/``MT``/``chrM`` are
    treated as one), which is how hap.py reconciles ``1`` and ``chr1`` automatically.
    """

    def __init__(self, reference_lengths: Mapping[str, int], reference_path: str | os.PathLike = "the reference"):
        self.reference_lengths = dict(reference_lengths)
        self.reference_path = str(reference_path)
        self._cache: dict[str, str | None] = {}

    def __call__(self, name: str) -> str | None:
        if name not in self._cache:
            self._cache[name] = self._resolve(name)
        return self._cache[name]

    def _resolve(self, name: str) -> str | None:
        ref = self.reference_lengths
        if name in ref:
            return name
        candidates = [name[3:]] if name.startswith("chr") else ["chr" + name]
        if name in ("M", "MT", "chrM", "chrMT"):
            candidates += ["chrM", "MT", "M", "chrMT"]
        for candidate in candidates:
            if candidate in ref:
                return candidate
        return None


@dataclass(frozen=True)
class ImportFailure:
    """A record that could not be compared (hap.py: IMPORT_FAIL, BD=N)."""

    path: str
    role: str
    chrom: str
    pos: int
    ref: str
    alts: str
    reason: str


@dataclass
class RawRecords:
    """The usable records of one contig, column by column (cheap to hold for 10^6 records)."""

    pos: list[int] = field(default_factory=list)
    ref: list[str] = field(default_factory=list)
    alts: list[tuple[str, ...]] = field(default_factory=list)
    gt: list[tuple[int, int]] = field(default_factory=list)  # -1 = missing allele
    phased: list[bool] = field(default_factory=list)
    phase_set: list[object] = field(default_factory=list)
    filters: list[tuple[str, ...]] = field(default_factory=list)  # failing FILTER/FT values; () = PASS
    qual: list[float | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pos)


@dataclass
class ParsedVcf:
    path: Path
    role: str  # "truth" or "query"
    sample: str
    records: dict[str, RawRecords]  # by reference contig name
    skipped: Counter
    failures: list[ImportFailure]
    n_records: int
    renamed: dict[str, str]  # VCF contig name -> reference name, where they differ
    was_sorted: bool

    @property
    def n_used(self) -> int:
        return sum(len(r) for r in self.records.values())


@dataclass(frozen=True)
class ReadOptions:
    sample: str | int | None = None  # sample name or index; default the first sample
    drop_failing_filters: bool = False  # hap.py: truth is always PASS-filtered; query only with --pass-only


def _open(path: Path) -> pysam.VariantFile:
    try:
        return pysam.VariantFile(str(path))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot open VCF {path}: {exc}") from exc


def _ensure_index(path: Path) -> None:
    """Index a bgzipped VCF when possible; an unsorted one is read and sorted in memory instead."""
    try:
        require_vcf(path)
    except InputError:
        raise
    except (OSError, ValueError, pysam.utils.SamtoolsError) as exc:
        log.warning("VCF %s could not be indexed (%s); reading it sequentially and sorting in memory",
                    path, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


def _raw_genotype(rec: pysam.VariantRecord, sample_index: int) -> str:
    line = str(rec).rstrip("\n").split("\t")
    return line[9 + sample_index].split(":")[0] if len(line) > 9 + sample_index else "."


def read_vcf(path: str | os.PathLike, role: str, resolver: ContigResolver,
             options: ReadOptions = ReadOptions()) -> ParsedVcf:
    """Parse one VCF's first (or chosen) sample into per-contig columns; see the module doc.

    One function on purpose: it is the per-record loop over every VCF the benchmark reads, and each
    rule (genotype, filter, allele kinds) reads the same record fields once.
    """
    path = Path(path)
    _ensure_index(path)
    records: dict[str, RawRecords] = {}
    skipped: Counter = Counter()
    failures: list[ImportFailure] = []
    renamed: dict[str, str] = {}
    unknown_contigs: Counter = Counter()
    header_lengths: dict[str, int] = {}
    n_records = 0
    was_sorted = True
    last_key: tuple[int, int] = (-1, -1)
    contig_order: dict[str, int] = {}
    last_good = "the first record"
    with _open(path) as vcf:
        header = vcf.header
        samples = list(header.samples)
        if not samples:
            raise InputError(f"VCF {path} has no sample column: a {role} VCF needs genotypes")
        chosen = options.sample if options.sample is not None else 0
        if isinstance(chosen, str):
            if chosen not in samples:
                raise InputError(f"sample {chosen!r} is not in VCF {path} (it has {', '.join(samples[:5])})")
            sample_index = samples.index(chosen)
        else:
            if not 0 <= chosen < len(samples):
                raise InputError(f"VCF {path} has {len(samples)} sample(s); sample index {chosen} does not exist")
            sample_index = chosen
        for name, contig in header.contigs.items():
            if contig.length:
                header_lengths[name] = contig.length
        has_ft = "FT" in header.formats
        has_ps = "PS" in header.formats
        iterator = iter(vcf)
        while True:
            try:
                rec = next(iterator)
            except StopIteration:
                break
            except (OSError, ValueError) as exc:
                raise InputError(f"VCF {path} has a record htslib cannot parse after {last_good} "
                                 f"(malformed field, e.g. GT, or truncated file): {exc}") from exc
            n_records += 1
            chrom = rec.chrom
            last_good = f"{chrom}:{rec.pos}"
            ref_name = resolver(chrom)
            if ref_name is None:
                unknown_contigs[chrom] += 1
                continue
            if ref_name != chrom:
                renamed[chrom] = ref_name
            order = contig_order.setdefault(ref_name, len(contig_order))
            key = (order, rec.pos)
            if key < last_key:
                was_sorted = False
            last_key = key
            ref = rec.ref or ""
            alts = tuple(rec.alts or ())
            call = rec.samples[sample_index]
            genotype = call.get("GT") if "GT" in header.formats else None
            genotype = tuple(genotype) if genotype is not None else (None,)
            if None in genotype:
                # pysam turns both '.' and an out-of-range allele index into None: look at the text
                for token in _GT_SPLIT.split(_raw_genotype(rec, sample_index)):
                    if token in (".", ""):
                        continue
                    if not token.isdigit() or int(token) > len(alts):
                        raise InputError(f"VCF {path} record {chrom}:{rec.pos} has GT allele {token!r} but only "
                                         f"{len(alts)} ALT allele(s) ({ref}>{','.join(alts) or '.'})")
            filters = tuple(f for f in rec.filter.keys() if f not in ("PASS", "."))
            if has_ft:
                ft = call.get("FT")
                if isinstance(ft, (tuple, list)):
                    ft = ";".join(str(f) for f in ft if f is not None)
                if ft not in (None, "", "PASS", "."):
                    filters += tuple(f for f in re.split(r"[;,]", str(ft)) if f not in ("PASS", ".", ""))
            if filters and options.drop_failing_filters:
                skipped["filtered (FILTER/FT not PASS)"] += 1
                continue
            if len(genotype) > 2:
                skipped["more than two alleles in GT"] += 1
                continue
            phased = bool(call.phased)
            if len(genotype) == 1:
                # haploid calls are compared as homozygous diploid (hap.py does this for male chrX/Y)
                genotype, phased = (genotype[0], genotype[0]), False
            if not _BASES.match(ref) or any(not _BASES.match(a) for a in alts if is_sequence_allele(a)):
                failures.append(ImportFailure(str(path), role, ref_name, rec.pos, ref, ",".join(alts) or ".",
                                              "REF or ALT contains characters other than A, C, G, T, N"))
                continue
            # symbolic and '*' alleles cannot be compared: hap.py treats them as a missing allele
            gt = tuple(-1 if g is None or (g > 0 and not is_sequence_allele(alts[g - 1])) else g for g in genotype)
            if gt[0] < 0 and gt[1] < 0:
                skipped["no-call"] += 1
                continue
            if max(gt) <= 0:
                skipped["hom-ref"] += 1
                continue
            raw = records.get(ref_name)
            if raw is None:
                raw = records[ref_name] = RawRecords()
            raw.pos.append(rec.pos)
            raw.ref.append(ref)
            raw.alts.append(alts)
            raw.gt.append(gt)
            raw.phased.append(phased)
            raw.phase_set.append(call.get("PS") if has_ps else None)
            raw.filters.append(filters)
            raw.qual.append(rec.qual)
    if unknown_contigs:
        check_contigs_match(dict.fromkeys(unknown_contigs, 0), path, resolver.reference_lengths,
                            resolver.reference_path)
    used = {renamed.get(c, c): header_lengths[c] for c in header_lengths if resolver(c) in records}
    if used:
        try:
            check_contigs_match(used, path, resolver.reference_lengths, resolver.reference_path, needed=list(used))
        except InputError as exc:
            # hap.py does not compare header lengths (its own test files carry wrong ones); a real
            # build mismatch shows up as REF disagreements, which are counted and can be fatal
            log.warning("%s (header only: the records are checked against the reference)", exc)
    if renamed:
        log.info("%s: contig names mapped to the reference's: %s", path,
                 ", ".join(f"{a}->{b}" for a, b in list(renamed.items())[:5]))
    if not was_sorted:
        log.info("%s is not sorted by position; sorted in memory", path)
    if failures:
        log.warning("%s: %d record(s) could not be imported and are not counted (first: %s:%d %s)",
                    path, len(failures), failures[0].chrom, failures[0].pos, failures[0].reason)
    return ParsedVcf(path, role, samples[sample_index], records, skipped, failures, n_records, renamed, was_sorted)
