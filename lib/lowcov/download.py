"""Resumable HTTPS downloads with verification: the generic client the ``seed`` profile fetches with.

:func:`download` uses only the standard library: it resumes a
cut transfer from its ``.part`` file with an HTTP Range request (guarded by ``If-Range`` so a file
changed on the server is fetched afresh), restarts cleanly from zero when a server ignores Range,
retries transient failures with exponential backoff, verifies size and checksum, and renames the file
into place only when it is complete and verified.
Reads a URL (https, or ``gs://bucket/path`` through Google's public mirror
``https://storage.googleapis.com/bucket/path``); writes one verified file.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from . import InputError, __version__
from .fileio import sha256sum

log = logging.getLogger(__name__)

GCS_MIRROR = "https://storage.googleapis.com/"

#: HTTP statuses worth retrying: the server or a proxy may answer properly a little later
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
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
    """One HTTP request: continue (or start) filling ``part``. Returns when it holds the whole file.

    One function on purpose: the response's status, ``Content-Range`` and validator decide together
    whether the part file is continued, restarted or refused.
    """
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
