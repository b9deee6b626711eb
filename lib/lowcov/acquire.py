"""Acquire the ``seed`` profile: download the case study's files, then prepare them for the pipeline.

**Downloading.** ``data/manifests/seed.json`` (committed) lists every file the case study fetches, with
the case study's own URL (https, ftp or ``gs://``) and the https URLs we fetch from (``gs://bucket/path``
is read through Google's public mirror ``https://storage.googleapis.com/bucket/path``). Sizes and
sha256 sums are ``null`` until someone records them: the first download writes the size it received and
the sha256 it computed into ``data/seed/downloads.lock.json``, and later runs verify against the
manifest (when filled in) or the lock. :func:`download` uses only the standard library: it resumes a
cut transfer from its ``.part`` file with an HTTP Range request (guarded by ``If-Range`` so a file
changed on the server is fetched afresh), restarts cleanly from zero when a server ignores Range,
retries transient failures with exponential backoff, verifies size and checksum, and renames the file
into place only when it is complete and verified.

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

import argparse
import datetime as _dt
import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping

from tqdm import tqdm

from . import InputError, __version__
from .fileio import atomic_output, sha256sum
from .layout import REPO_ROOT, Layout

log = logging.getLogger(__name__)

#: the committed list of the case study's files
SEED_MANIFEST = REPO_ROOT / "data" / "manifests" / "seed.json"
LOCK_NAME = "downloads.lock.json"
GCS_MIRROR = "https://storage.googleapis.com/"

#: HTTP statuses worth retrying: the server or a proxy may answer properly a little later
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")


class DownloadError(InputError):
    """A file could not be downloaded or failed verification. ``url`` and ``status`` say which/why."""

    def __init__(self, message: str, url: str | None = None, status: int | None = None):
        super().__init__(message)
        self.url, self.status = url, status


class ChecksumMismatch(DownloadError):
    """The downloaded bytes do not have the expected sha256 (or size)."""


class _Transient(Exception):
    """A failure that a retry (resuming from the .part file) may cure."""


@dataclass(frozen=True)
class DownloadConfig:
    #: seconds a connect or a single read may block before it counts as a (transient) failure
    timeout: float = 60.0
    #: further attempts after a transient failure; each resumes where the last one stopped
    retries: int = 5
    #: seconds before the first retry; doubled for each next one, capped at ``max_backoff``
    backoff: float = 2.0
    max_backoff: float = 120.0
    chunk_size: int = 1 << 20
    user_agent: str = f"lowcov/{__version__} (python urllib)"


# -- URLs ------------------------------------------------------------------------------------------


def https_url(url: str) -> str:
    """The URL to fetch: ``gs://bucket/path`` -> ``https://storage.googleapis.com/bucket/path``."""
    if url.startswith("gs://"):
        return GCS_MIRROR + url[len("gs://"):]
    if url.startswith(("https://", "http://")):
        return url
    raise InputError(f"cannot download {url}: only http(s) and gs:// URLs are supported "
                     "(give an https mirror for ftp:// URLs in the manifest)")


# -- one download ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    path: Path
    url: str
    size: int
    sha256: str | None
    #: True when the final file was already there and verified, so nothing was requested
    skipped: bool


class _PartFile:
    """The ``.part`` file of one download, its sidecar (which URL, which remote version) and its digest."""

    def __init__(self, dest: Path):
        self.path = dest.with_name(dest.name + ".part")
        self.meta_path = dest.with_name(dest.name + ".part.json")
        self.digest = hashlib.sha256()
        self.digested = 0

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def meta(self) -> dict:
        try:
            return json.loads(self.meta_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def save_meta(self, meta: dict) -> None:
        self.meta_path.write_text(json.dumps(meta))

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.meta_path.unlink(missing_ok=True)
        self.digest, self.digested = hashlib.sha256(), 0

    def catch_up_digest(self) -> None:
        """Hash what is on disk but not yet in the digest (a .part left by an earlier run)."""
        size = self.size
        if self.digested == size:
            return
        self.digest, self.digested = hashlib.sha256(), 0
        with open(self.path, "rb") as handle:
            while block := handle.read(1 << 22):
                self.digest.update(block)
                self.digested += len(block)


def _verify_existing(dest: Path, expected_size: int | None, expected_sha256: str | None,
                     want_digest: bool) -> str | None | bool:
    """The sha256 of a complete ``dest`` if it matches the expectations (None if not computed), else False."""
    size = dest.stat().st_size
    if expected_size is not None and size != expected_size:
        log.warning("%s has %d bytes, expected %d: downloading it again", dest, size, expected_size)
        return False
    if expected_sha256 is None and not want_digest:
        return None
    digest = sha256sum(dest)
    if expected_sha256 is not None and digest != expected_sha256:
        log.warning("%s has sha256 %s, expected %s: downloading it again", dest, digest, expected_sha256)
        return False
    return digest


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a Content-Range header; None where absent or '*'."""
    match = _CONTENT_RANGE.match((value or "").strip())
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(3)) if match.group(3) != "*" else None
    return start, total


def _validator(response) -> str | None:
    """A strong ETag, else Last-Modified: what If-Range needs to detect a changed remote file."""
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def _transfer_once(url: str, dest: Path, part: _PartFile, expected_size: int | None, progress: bool,
                   config: DownloadConfig) -> None:
    """One HTTP request: continue (or start) filling ``part``. Returns when it holds the whole file."""
    meta = part.meta()
    if part.size and meta.get("url") != url:
        log.info("%s was started from another URL; starting again", part.path)
        part.discard()
        meta = {}
    offset = part.size
    headers = {"User-Agent": config.user_agent, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if meta.get("validator"):
            headers["If-Range"] = meta["validator"]
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=config.timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            _, total = _parse_content_range(exc.headers.get("Content-Range"))
            if total == offset:  # the previous run stopped right after the last byte
                return
            part.discard()
            raise _Transient(f"range {offset}- not satisfiable (remote size {total}); starting again") from exc
        if exc.code in TRANSIENT_STATUSES:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from exc
        part.discard()
        raise DownloadError(f"cannot download {dest.name}: {url} answered HTTP {exc.code} {exc.reason}",
                            url=url, status=exc.code) from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise _Transient(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from exc

    with response:
        if response.status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.discard()
                raise _Transient(f"server sent bytes from {start}, asked from {offset}; starting again")
            mode = "ab"
        elif response.status == 200:
            if offset:
                log.info("%s ignored the Range request (or the file changed); starting %s from zero",
                         url, dest.name)
            part.discard()
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
        else:
            raise DownloadError(f"cannot download {dest.name}: {url} answered HTTP {response.status}",
                                url=url, status=response.status)
        if expected_size is not None and total is not None and total != expected_size:
            part.discard()
            raise ChecksumMismatch(f"{url} has {total} bytes but the manifest expects {expected_size} for "
                                   f"{dest.name}: the remote file changed or the manifest is wrong",
                                   url=url)
        part.save_meta({"url": url, "validator": _validator(response), "total": total})
        if mode == "ab":
            part.catch_up_digest()
        with open(part.path, mode) as out, \
                tqdm(desc=dest.name, total=total, initial=offset, unit="B", unit_scale=True,
                     unit_divisor=1024, disable=not progress) as bar:
            while True:
                try:
                    chunk = response.read(config.chunk_size)
                except (http.client.HTTPException, OSError) as exc:
                    raise _Transient(f"transfer interrupted after {offset} bytes: {exc}") from exc
                if not chunk:
                    break
                out.write(chunk)
                part.digest.update(chunk)
                part.digested += len(chunk)
                offset += len(chunk)
                bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
    if total is not None and offset < total:
        # http.client returns b"" when the peer closes early instead of raising: catch the short read here
        raise _Transient(f"connection closed after {offset} of {total} bytes")
    if total is not None and offset > total:
        part.discard()
        raise _Transient(f"received {offset} bytes, more than the announced {total}; starting again")


def fetch(url: str, dest: str | os.PathLike, expected_size: int | None = None,
          expected_sha256: str | None = None, progress: bool = True, config: DownloadConfig | None = None,
          want_digest: bool = True) -> FetchResult:
    """:func:`download`, returning the size and sha256 as well (``want_digest`` hashes skipped files)."""
    config = config or DownloadConfig()
    url, dest = https_url(url), Path(dest)
    expected_sha256 = expected_sha256.lower() if expected_sha256 else None
    if dest.exists():
        verdict = _verify_existing(dest, expected_size, expected_sha256, want_digest)
        if verdict is not False:
            log.info("%s is already complete%s; skipped", dest, " and verified" if expected_sha256 else "")
            return FetchResult(dest, url, dest.stat().st_size, verdict, skipped=True)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _PartFile(dest)
    attempt = 0
    while True:
        try:
            _transfer_once(url, dest, part, expected_size, progress, config)
            break
        except _Transient as exc:
            attempt += 1
            if attempt > config.retries:
                raise DownloadError(
                    f"cannot download {dest.name} from {url} after {attempt} attempt(s): {exc}. "
                    f"{part.size} bytes are kept in {part.path}; run again to resume", url=url) from exc
            wait = min(config.max_backoff, config.backoff * 2 ** (attempt - 1))
            log.warning("%s: %s; retry %d/%d in %.1f s", dest.name, exc, attempt, config.retries, wait)
            time.sleep(wait)
    part.catch_up_digest()
    size, digest = part.size, part.digest.hexdigest()
    if expected_size is not None and size != expected_size:
        part.discard()
        raise ChecksumMismatch(f"{dest.name} from {url} has {size} bytes, expected {expected_size}; "
                               "nothing was kept", url=url)
    if expected_sha256 is not None and digest != expected_sha256:
        part.discard()
        raise ChecksumMismatch(f"{dest.name} from {url} has sha256 {digest}, expected {expected_sha256}; "
                               "nothing was kept", url=url)
    os.replace(part.path, dest)
    part.meta_path.unlink(missing_ok=True)
    log.info("downloaded %s (%d bytes, sha256 %s)", dest, size, digest)
    return FetchResult(dest, url, size, digest, skipped=False)


def download(url: str, dest: str | os.PathLike, expected_size: int | None = None,
             expected_sha256: str | None = None, progress: bool = True,
             config: DownloadConfig | None = None) -> Path:
    """Download ``url`` (http(s) or ``gs://``) to ``dest``, resumably; return ``dest``.

    A ``dest`` that exists and matches ``expected_size``/``expected_sha256`` (when given) is kept
    without any request. Otherwise bytes go to ``dest.part`` (kept across runs and resumed with an HTTP
    Range request) and ``dest`` appears only when complete and verified. Raises :class:`DownloadError`
    for HTTP errors such as 404 and after ``config.retries`` transient failures, and
    :class:`ChecksumMismatch` when size or sha256 differ; in those cases no ``dest`` is left behind.
    """
    return fetch(url, dest, expected_size, expected_sha256, progress, config, want_digest=False).path


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
    from . import align, contigs, downsample
    from .checks import require_bam, require_fasta
    from .manifest import run_stage

    layout = layout or Layout("seed")
    config = config or PrepareConfig()
    if not isinstance(manifest, SeedManifest):
        manifest = load_manifest(manifest)
    needed = dict.fromkeys(key for step in config.steps for key in _STEP_DOWNLOADS[step])
    files = _require_downloads(layout, manifest, needed)
    done: dict[str, dict] = {}

    def faidx_of(path: Path) -> Path:
        return Path(str(path) + ".fai")

    def bai_of(path: Path) -> Path:
        return Path(str(path) + ".bai")

    rna_reference, dna_reference = layout.rna_reference, layout.dna_reference
    if "rna" in config.steps:
        # GRCh38, then the RNA reads aligned to it with each preset
        def decompress_rna_reference():
            # Ensembl ships plain gzip, which faidx cannot index: write it out plain, then index it
            contigs.rename_fasta(files["rna_reference_gz"], rna_reference, None, progress=config.progress)
            return {"contigs": len(contigs.file_contigs(rna_reference))}

        done["rna_reference"] = run_stage(
            layout.stage("reference"), "rna_reference", [files["rna_reference_gz"]], {"from": "ensembl-109"},
            [rna_reference, faidx_of(rna_reference)], decompress_rna_reference, force=config.force)

        for preset in config.align_presets:
            out_bam = layout.rna_bam(preset)
            done[f"align_{preset}"] = run_stage(
                layout.stage("rna"), f"align_{preset}", [files["rna_reads"], rna_reference], {"preset": preset},
                [out_bam, bai_of(out_bam)],
                lambda preset=preset, out_bam=out_bam: {"bam": str(align.align_reads(
                    reads=[files["rna_reads"]], reference=rna_reference, out_bam=out_bam, preset=preset,
                    threads=config.threads))},
                force=config.force)

    if "dna" in config.steps or "truth" in config.steps:
        def link_dna_reference():
            contigs.copy_file(files["dna_reference"], dna_reference)
            faidx_of(dna_reference).unlink(missing_ok=True)  # a stale index from an earlier copy
            require_fasta(dna_reference)
            return {"contigs": len(contigs.file_contigs(dna_reference))}

        done["dna_reference"] = run_stage(
            layout.stage("reference"), "dna_reference", [files["dna_reference"]], {"from": "ucsc_hg19"},
            [dna_reference, faidx_of(dna_reference)], link_dna_reference, force=config.force)

    if "dna" in config.steps:
        # the chr1 test set at full coverage, then downsampled
        full = layout.dna_test_bam(1.0)

        def extract_test_contig():
            source = require_bam(files["dna_test_bam"])
            rename = contigs.pick_rename(source, dna_reference, needed=[config.test_contig])
            source_contig = rename.inverse()(config.test_contig)
            if rename.is_identity:
                contigs.extract_contig(source, full, source_contig, threads=config.threads)
            else:
                staged = full.with_name(full.name + ".original-names.bam")
                try:
                    contigs.extract_contig(source, staged, source_contig, threads=config.threads)
                    contigs.rename_bam(staged, full, rename)
                finally:
                    for leftover in (staged, bai_of(staged)):
                        leftover.unlink(missing_ok=True)
            return {"source_contig": source_contig, "rename": rename.description}

        done["dna_test_full"] = run_stage(
            layout.stage("dna"), "dna_test_full", [files["dna_test_bam"], dna_reference],
            {"contig": config.test_contig}, [full, bai_of(full)], extract_test_contig, force=config.force)

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
            [reduced, bai_of(reduced)], downsample_test_set, force=config.force)

    if "truth" in config.steps:
        # GIAB GRCh37 truth in hg19's names
        def rename_truth():
            vcf_rename = contigs.match_reference_naming(files["truth_vcf"], dna_reference, layout.truth_vcf,
                                                        progress=config.progress)
            bed_rename = contigs.match_reference_naming(files["confident_bed"], dna_reference,
                                                        layout.confident_bed, progress=config.progress)
            return {"truth_vcf_rename": vcf_rename.description, "confident_bed_rename": bed_rename.description}

        truth_tbi = Path(str(layout.truth_vcf) + ".tbi")
        done["truth"] = run_stage(
            layout.stage("truth"), "truth", [files["truth_vcf"], files["confident_bed"], dna_reference],
            {"naming": "dna_reference"}, [layout.truth_vcf, truth_tbi, layout.confident_bed], rename_truth,
            force=config.force)
    return done


# -- command line ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lowcov.acquire",
                                     description="Download (and prepare) the case study's data: the seed profile.")
    parser.add_argument("--only", nargs="+", metavar="KEY", help="download only these manifest keys")
    parser.add_argument("--manifest", type=Path, default=None, help=f"default: {SEED_MANIFEST}")
    parser.add_argument("--prepare", action="store_true", help="then prepare references, BAMs and truth")
    parser.add_argument("--steps", nargs="+", choices=PREPARE_STEPS, default=list(PREPARE_STEPS),
                        help="what --prepare does (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=DownloadConfig.timeout)
    parser.add_argument("--retries", type=int, default=DownloadConfig.retries)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    layout = Layout("seed")
    try:
        paths = acquire_seed(layout, only=args.only, manifest=args.manifest,
                             config=DownloadConfig(timeout=args.timeout, retries=args.retries))
        for key, path in paths.items():
            print(f"{key}\t{path}")
        if args.prepare:
            prepare_seed(layout, PrepareConfig(threads=args.threads, steps=tuple(args.steps)),
                         manifest=args.manifest)
    except InputError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
