"""The ``seed`` profile's data: the case study's files, their manifest and lock, and their preparation.

**Downloading.** ``data/manifests/seed.json`` (committed) lists every file the case study fetches, with
the case study's own URL (https, ftp or ``gs://``) and the https URLs we fetch from. Sizes and sha256
sums are ``null`` until someone records them: the first download (:mod:`lowcov.download`) writes the size
it received and the sha256 it computed into ``data/seed/downloads.lock.json``, and later runs verify
against the manifest (when filled in) or the lock.

**Preparing** (:func:`prepare_seed`), each step a :func:`lowcov.manifest.run_stage`, so a re-run skips
what is done:

=================== ================================================== ====================================
step                case study                                          output (:class:`~lowcov.layout.Layout`)
=================== ================================================== ====================================
rna_reference       ``samtools faidx Homo_sapiens...fa.gz``            ``rna_reference`` (plain FASTA + .fai)
dna_reference       ``ucsc_hg19.fa*``                                  ``dna_reference`` (+ .fai)
align_ccs/_isoseq   ``pbmm2 align ... --sort --preset CCS``            ``rna_bam("ccs")``, ``rna_bam("isoseq")``
dna_test_full       "splitting out chromosome 1"                       ``dna_test_bam(1.0)``
dna_test_dsNN       ``samtools view -s 0.5``                           ``dna_test_bam(0.5)``
truth               GIAB v3.3.2 truth VCF + high-confidence BED        ``truth_vcf``, ``confident_bed``
=================== ================================================== ====================================

**The case study's references do not agree**, and we keep its choices rather than silently fixing them:
the RNA reads are aligned to Ensembl GRCh38 (contigs ``1``, ``10``...), the DNA test BAM comes aligned to
UCSC hg19 (``chr1``...), and the GIAB v3.3.2 truth is GRCh37 (``1``...). Layout models this with two
references, ``rna_reference`` (GRCh38) and ``dna_reference`` (hg19). The GRCh37 truth is renamed to hg19's
``chr`` names (the sequences of chr1-22 and X are identical in GRCh37 and hg19; lengths are checked). The
RNA side (GRCh38) and the DNA test side (hg19) are different builds: coordinates cannot be compared across
them without a liftover, which the case study does not do either.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping

from . import InputError
from .download import ChecksumMismatch, DownloadConfig, DownloadError, fetch, https_url
from .fileio import atomic_output
from .layout import REPO_ROOT, Layout

log = logging.getLogger(__name__)

#: the committed list of the case study's files
SEED_MANIFEST = REPO_ROOT / "data" / "manifests" / "seed.json"
LOCK_NAME = "downloads.lock.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


# -- the seed manifest -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFile:
    """One file of the case study: where it comes from, where it goes, how to check it."""

    key: str
    filename: str
    #: https (or gs://) URLs tried in order; the next one is tried only when one answers 404
    urls: tuple[str, ...]
    case_study_url: str | None = None
    size: int | None = None
    sha256: str | None = None
    #: an optional file may be missing upstream (404) without failing the acquisition
    optional: bool = False
    #: "case-study" when the name is written in the case study, "inferred" when we deduced it
    name_source: str = "case-study"
    used_for: str = ""
    note: str = ""

    @property
    def download_urls(self) -> list[str]:
        return [https_url(u) for u in self.urls]


@dataclass(frozen=True)
class SeedManifest:
    path: Path
    files: tuple[RemoteFile, ...]
    notes: tuple[str, ...] = ()

    def by_key(self) -> dict[str, RemoteFile]:
        return {f.key: f for f in self.files}


_REMOTE_FIELDS = {f for f in RemoteFile.__dataclass_fields__}


def load_manifest(path: str | os.PathLike | None = None) -> SeedManifest:
    """Read and validate ``data/manifests/seed.json`` (or another manifest)."""
    path = Path(path) if path else SEED_MANIFEST
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InputError(f"download manifest not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"download manifest {path} is not valid JSON: {exc}") from exc
    files = []
    for n, entry in enumerate(raw.get("files", [])):
        where = f"{path}, files[{n}] ({entry.get('key', '?')})"
        unknown = set(entry) - _REMOTE_FIELDS
        if unknown:
            raise InputError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        for required in ("key", "filename"):
            if not entry.get(required):
                raise InputError(f"{where}: field {required!r} is required")
        urls = tuple(entry.get("urls") or ([entry["case_study_url"]] if entry.get("case_study_url") else []))
        if not urls:
            raise InputError(f"{where}: give 'urls' or 'case_study_url'")
        for url in urls:
            try:
                https_url(url)
            except InputError as exc:
                raise InputError(f"{where}: {exc}") from exc
        sha = entry.get("sha256")
        if sha is not None and not _SHA256.match(sha.lower()):
            raise InputError(f"{where}: sha256 must be 64 hex digits or null, got {sha!r}")
        size = entry.get("size")
        if size is not None and (not isinstance(size, int) or size < 0):
            raise InputError(f"{where}: size must be a byte count or null, got {size!r}")
        if entry.get("name_source", "case-study") not in ("case-study", "inferred"):
            raise InputError(f"{where}: name_source must be 'case-study' or 'inferred'")
        if "/" in entry["filename"] or entry["filename"].startswith("."):
            raise InputError(f"{where}: filename must be a plain file name, got {entry['filename']!r}")
        files.append(RemoteFile(**{**entry, "urls": urls, "sha256": sha.lower() if sha else None}))
    keys = [f.key for f in files]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise InputError(f"{path}: duplicate key(s) {', '.join(duplicates)}")
    return SeedManifest(path, tuple(files), tuple(raw.get("notes", [])))


# -- the lock: what was actually downloaded --------------------------------------------------------


def lock_path(layout: Layout) -> Path:
    return layout.root / LOCK_NAME


def read_lock(layout: Layout) -> dict[str, dict]:
    path = lock_path(layout)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text()).get("files", {})
    except json.JSONDecodeError:
        log.warning("%s is not valid JSON; files will be re-verified", path)
        return {}


def _write_lock(layout: Layout, files: Mapping[str, dict], manifest: SeedManifest) -> None:
    record = {"comment": "sizes and sha256 of the files downloaded for the seed profile; copy them into "
                         "the manifest to pin them",
              "manifest": str(manifest.path), "files": dict(sorted(files.items()))}
    with atomic_output(lock_path(layout)) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")


def downloads_dir(layout: Layout) -> Path:
    return layout.stage("downloads")


def downloaded_path(layout: Layout, key: str, manifest: SeedManifest | None = None) -> Path:
    """Where the file with manifest ``key`` is (or will be) downloaded."""
    manifest = manifest or load_manifest()
    try:
        return downloads_dir(layout) / manifest.by_key()[key].filename
    except KeyError as exc:
        raise InputError(f"no file with key {key!r} in {manifest.path}") from exc


def _lock_says_complete(dest: Path, entry: RemoteFile, locked: dict | None) -> bool:
    """The lock vouches for ``dest`` if it is unchanged since it was verified (size and mtime)."""
    if not locked or not dest.exists():
        return False
    stat = dest.stat()
    if locked.get("size") != stat.st_size or locked.get("mtime_ns") != stat.st_mtime_ns:
        return False
    if entry.size is not None and entry.size != locked.get("size"):
        return False
    return entry.sha256 is None or entry.sha256 == locked.get("sha256")


def acquire_seed(layout: Layout | None = None, only: Iterable[str] | None = None,
                 manifest: SeedManifest | str | os.PathLike | None = None,
                 config: DownloadConfig | None = None, progress: bool = True) -> dict[str, Path]:
    """Download the files of the seed manifest (or the keys in ``only``) into ``data/seed/downloads``.

    Returns ``{key: path}`` of the files present. A file already verified (recorded in the lock with
    the same size and modification time) is skipped without hashing or any request; sizes and sha256s
    the manifest leaves null are recorded in ``downloads.lock.json`` and enforced on later runs.
    Optional files missing upstream (HTTP 404 from every URL) are logged and left out.
    """
    layout = layout or Layout("seed")
    if not isinstance(manifest, SeedManifest):
        manifest = load_manifest(manifest)
    entries = manifest.files
    if only is not None:
        wanted = list(only)
        unknown = [k for k in wanted if k not in manifest.by_key()]
        if unknown:
            raise InputError(f"unknown key(s) {', '.join(unknown)} (not in {manifest.path}); "
                             f"known: {', '.join(manifest.by_key())}")
        entries = tuple(e for e in entries if e.key in wanted)
    lock = read_lock(layout)
    present: dict[str, Path] = {}
    for entry in entries:
        dest = downloads_dir(layout) / entry.filename
        locked = lock.get(entry.key)
        if _lock_says_complete(dest, entry, locked):
            log.info("%s: %s verified earlier and unchanged; skipped", entry.key, dest.name)
            present[entry.key] = dest
            continue
        # the manifest's values win; the lock's values guard files whose manifest values are unknown
        expected_size = entry.size if entry.size is not None else (locked or {}).get("size")
        expected_sha = entry.sha256 or (locked or {}).get("sha256")
        result = None
        for n, url in enumerate(entry.download_urls):
            try:
                result = fetch(url, dest, expected_size, expected_sha, progress, config)
                break
            except ChecksumMismatch as exc:
                if entry.sha256 is None and entry.size is None and locked:
                    raise ChecksumMismatch(
                        f"{exc} The expected values come from {lock_path(layout)}, recorded when "
                        f"{entry.filename} was first downloaded on {locked.get('verified')}: the remote file "
                        f"changed since. Remove the entry {entry.key!r} from the lock to accept the new "
                        "file, or pin size/sha256 in the manifest.", url=exc.url) from exc
                raise
            except DownloadError as exc:
                if exc.status != 404:
                    raise
                more = n + 1 < len(entry.download_urls)
                log.warning("%s: %s%s", entry.key, exc, "; trying the next URL" if more else "")
        if result is None:
            if entry.optional:
                log.warning("%s (optional) is not available at any of its URLs; continuing without it",
                            entry.key)
                continue
            raise DownloadError(f"{entry.filename} ({entry.key}) is not available at any of its URLs: "
                                f"{', '.join(entry.download_urls)} (see {manifest.path})", status=404)
        stat = dest.stat()
        lock[entry.key] = {"filename": entry.filename, "url": result.url, "size": result.size,
                           "sha256": result.sha256, "mtime_ns": stat.st_mtime_ns,
                           "verified": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        _write_lock(layout, lock, manifest)
        present[entry.key] = dest
    return present


# -- preparation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrepareConfig:
    """Knobs of :func:`prepare_seed`. Defaults are the case study's choices."""

    #: threads for alignment, extraction and BGZF compression (not part of a stage's identity)
    threads: int = 2
    #: pbmm2's CCS (the case study, unspliced) and ISOSEQ (splice-aware) presets
    align_presets: tuple[str, ...] = ("ccs", "isoseq")
    #: the test contig, in the DNA reference's naming
    test_contig: str = "chr1"
    #: ``samtools view -s 0.5``: seed 0, half of the read pairs
    downsample_fraction: float = 0.5
    downsample_seed: int = 0
    #: which parts to prepare: "rna" (GRCh38 + alignments), "dna" (hg19 + chr1 test BAMs), "truth" (GIAB)
    steps: tuple[str, ...] = ("rna", "dna", "truth")
    #: redo every step even if its manifest says it is current
    force: bool = False
    progress: bool = True

    def __post_init__(self):
        unknown = set(self.steps) - set(PREPARE_STEPS)
        if unknown:
            raise InputError(f"unknown prepare step(s) {', '.join(sorted(unknown))}; "
                             f"choose from {', '.join(PREPARE_STEPS)}")
        if not 0.0 < self.downsample_fraction < 1.0:
            raise InputError(f"downsample_fraction must be between 0 and 1 (exclusive), "
                             f"got {self.downsample_fraction}")


PREPARE_STEPS = ("rna", "dna", "truth")
#: the downloads each step reads
_STEP_DOWNLOADS = {"rna": ("rna_reads", "rna_reference_gz"),
                   "dna": ("dna_reference", "dna_test_bam"),
                   "truth": ("dna_reference", "truth_vcf", "confident_bed")}


def _require_downloads(layout: Layout, manifest: SeedManifest, keys: Iterable[str]) -> dict[str, Path]:
    paths = {key: downloaded_path(layout, key, manifest) for key in keys}
    missing = [f"{key} ({path})" for key, path in paths.items() if not path.exists()]
    if missing:
        raise InputError(f"not downloaded yet: {', '.join(missing)}; run lowcov.acquire.acquire_seed() first")
    return paths


def prepare_seed(layout: Layout | None = None, config: PrepareConfig | None = None,
                 manifest: SeedManifest | str | os.PathLike | None = None) -> dict[str, dict]:
    """Turn the downloads into the files :class:`~lowcov.layout.Layout` names; returns stage manifests.

    References: Ensembl's plain-gzip GRCh38 FASTA is decompressed to ``layout.rna_reference`` and
    indexed; hg19 is linked to ``layout.dna_reference`` and indexed. RNA: ``segmented.bam`` is aligned to
    GRCh38 with each preset in ``config.align_presets`` (``lowcov.align.align_reads``; the ``.pbi`` is not
    needed, the aligned BAM gets a ``.bai``). DNA: ``config.test_contig`` of the BGISEQ BAM (hg19) is
    extracted to ``layout.dna_test_bam(1.0)`` and downsampled to ``layout.dna_test_bam(fraction)``
    exactly as ``samtools view -s SEED.FRACTION`` would. Truth: the GIAB GRCh37 VCF and BED are renamed
    to hg19's ``chr`` names (when they are not already) into ``layout.truth_vcf`` / ``confident_bed``.
    ``config.steps`` limits the work (e.g. ``("dna", "truth")`` skips the hours-long RNA alignment);
    only the downloads those steps read must be present.
    """
    layout = layout or Layout("seed")
    config = config or PrepareConfig()
    if not isinstance(manifest, SeedManifest):
        manifest = load_manifest(manifest)
    needed = dict.fromkeys(key for step in config.steps for key in _STEP_DOWNLOADS[step])
    files = _require_downloads(layout, manifest, needed)
    done: dict[str, dict] = {}
    if "rna" in config.steps:
        done.update(_prepare_rna(layout, config, files))
    if "dna" in config.steps or "truth" in config.steps:
        done["dna_reference"] = _prepare_dna_reference(layout, config, files)
    if "dna" in config.steps:
        done.update(_prepare_dna_test_set(layout, config, files))
    if "truth" in config.steps:
        done["truth"] = _prepare_truth(layout, config, files)
    return done


def _faidx_of(path: Path) -> Path:
    return Path(str(path) + ".fai")


def _bai_of(path: Path) -> Path:
    return Path(str(path) + ".bai")


def _prepare_rna(layout: Layout, config: PrepareConfig, files: Mapping[str, Path]) -> dict[str, dict]:
    """GRCh38, then the RNA reads aligned to it with each preset."""
    from . import align, contigs
    from .manifest import run_stage

    done = {}
    rna_reference = layout.rna_reference

    def decompress_rna_reference():
        # Ensembl ships plain gzip, which faidx cannot index: write it out plain, then index it
        contigs.rename_fasta(files["rna_reference_gz"], rna_reference, None, progress=config.progress)
        return {"contigs": len(contigs.file_contigs(rna_reference))}

    done["rna_reference"] = run_stage(
        layout.stage("reference"), "rna_reference", [files["rna_reference_gz"]], {"from": "ensembl-109"},
        [rna_reference, _faidx_of(rna_reference)], decompress_rna_reference, force=config.force)
    for preset in config.align_presets:
        out_bam = layout.rna_bam(preset)
        done[f"align_{preset}"] = run_stage(
            layout.stage("rna"), f"align_{preset}", [files["rna_reads"], rna_reference], {"preset": preset},
            [out_bam, _bai_of(out_bam)],
            lambda preset=preset, out_bam=out_bam: {"bam": str(align.align_reads(
                reads=[files["rna_reads"]], reference=rna_reference, out_bam=out_bam, preset=preset,
                threads=config.threads))},
            force=config.force)
    return done


def _prepare_dna_reference(layout: Layout, config: PrepareConfig, files: Mapping[str, Path]) -> dict:
    """hg19, linked (or copied) into place and indexed."""
    from . import contigs
    from .checks import require_fasta
    from .fileio import copy_file
    from .manifest import run_stage

    dna_reference = layout.dna_reference

    def link_dna_reference():
        copy_file(files["dna_reference"], dna_reference)
        _faidx_of(dna_reference).unlink(missing_ok=True)  # a stale index from an earlier copy
        require_fasta(dna_reference)
        return {"contigs": len(contigs.file_contigs(dna_reference))}

    return run_stage(layout.stage("reference"), "dna_reference", [files["dna_reference"]], {"from": "ucsc_hg19"},
                     [dna_reference, _faidx_of(dna_reference)], link_dna_reference, force=config.force)


def _prepare_dna_test_set(layout: Layout, config: PrepareConfig, files: Mapping[str, Path]) -> dict[str, dict]:
    """The test contig at full coverage (in the DNA reference's names), then downsampled."""
    from . import contigs, downsample
    from .checks import require_bam
    from .downsample import extract_contig
    from .manifest import run_stage

    done = {}
    full, dna_reference = layout.dna_test_bam(1.0), layout.dna_reference

    def extract_test_contig():
        source = require_bam(files["dna_test_bam"])
        rename = contigs.pick_rename(source, dna_reference, needed=[config.test_contig])
        source_contig = rename.inverse()(config.test_contig)
        if rename.is_identity:
            extract_contig(source, full, source_contig, threads=config.threads)
        else:
            staged = full.with_name(full.name + ".original-names.bam")
            try:
                extract_contig(source, staged, source_contig, threads=config.threads)
                contigs.rename_bam(staged, full, rename)
            finally:
                for leftover in (staged, _bai_of(staged)):
                    leftover.unlink(missing_ok=True)
        return {"source_contig": source_contig, "rename": rename.description}

    done["dna_test_full"] = run_stage(
        layout.stage("dna"), "dna_test_full", [files["dna_test_bam"], dna_reference],
        {"contig": config.test_contig}, [full, _bai_of(full)], extract_test_contig, force=config.force)

    reduced = layout.dna_test_bam(config.downsample_fraction)
    ds_config = downsample.DownsampleConfig(fraction=config.downsample_fraction, seed=config.downsample_seed,
                                            threads=config.threads)

    def downsample_test_set():
        result = downsample.downsample_bam(full, reduced, config=ds_config, progress=config.progress)
        return {k: v for k, v in asdict(result).items() if k != "path"}

    done["dna_test_downsampled"] = run_stage(
        layout.stage("dna"), f"dna_test_ds{round(config.downsample_fraction * 100):02d}", [full],
        {"fraction": ds_config.fraction, "seed": ds_config.seed,
         "samtools_equivalent": (f"samtools view -s {ds_config.samtools_argument}"
                                 if ds_config.fraction < 1 else None)},
        [reduced, _bai_of(reduced)], downsample_test_set, force=config.force)
    return done


def _prepare_truth(layout: Layout, config: PrepareConfig, files: Mapping[str, Path]) -> dict:
    """GIAB's GRCh37 truth in hg19's names."""
    from . import contigs
    from .manifest import run_stage

    def rename_truth():
        vcf_rename = contigs.match_reference_naming(files["truth_vcf"], layout.dna_reference, layout.truth_vcf,
                                                    progress=config.progress)
        bed_rename = contigs.match_reference_naming(files["confident_bed"], layout.dna_reference,
                                                    layout.confident_bed, progress=config.progress)
        return {"truth_vcf_rename": vcf_rename.description, "confident_bed_rename": bed_rename.description}

    truth_tbi = Path(str(layout.truth_vcf) + ".tbi")
    return run_stage(layout.stage("truth"), "truth", [files["truth_vcf"], files["confident_bed"], layout.dna_reference],
                     {"naming": "dna_reference"}, [layout.truth_vcf, truth_tbi, layout.confident_bed], rename_truth,
                     force=config.force)
