"""Atomic outputs: write to a temporary name beside the target, rename when complete.

A run that is interrupted leaves either the old complete file or nothing, never half a file,
so a re-run can trust whatever final names exist.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path
from typing import Iterator, Sequence

#: index files that travel with their data file (checked in this order)
SIDECAR_SUFFIXES = (".bai", ".csi", ".tbi", ".fai", ".gzi", ".crai")


def temporary_name(final: Path) -> Path:
    """A hidden sibling of ``final`` that keeps its full name, so format detection by suffix works."""
    final = Path(final)
    return final.with_name(f".partial-{os.getpid()}-{final.name}")


def publish(tmp: Path, final: Path) -> Path:
    """Rename ``tmp`` (and any index files built beside it) to ``final``; indexes go last-but-one
    so that a reader never sees a data file without its index being newer."""
    tmp, final = Path(tmp), Path(final)
    for suffix in SIDECAR_SUFFIXES:
        side = Path(str(tmp) + suffix)
        if side.exists():
            os.replace(side, Path(str(final) + suffix))
    os.replace(tmp, final)
    # A data file renamed after its index is newer than the index; htslib warns about that.
    for suffix in SIDECAR_SUFFIXES:
        side = Path(str(final) + suffix)
        if side.exists():
            os.utime(side)
    return final


@contextlib.contextmanager
def atomic_output(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it becomes ``final``, on error it is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(final)
    try:
        yield tmp
    except BaseException:
        remove_with_sidecars(tmp)
        raise
    publish(tmp, final)


def remove_with_sidecars(path: Path) -> None:
    for candidate in [Path(path)] + [Path(str(path) + s) for s in SIDECAR_SUFFIXES]:
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()


def sha256sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def all_exist(paths: Sequence[str | os.PathLike]) -> bool:
    return all(Path(p).exists() for p in paths)


def copy_file(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Hard-link ``src`` to ``dst`` when both are on one file system (no extra disk), else copy; atomic."""
    src, dst = Path(src), Path(dst)
    with atomic_output(dst) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    return dst
