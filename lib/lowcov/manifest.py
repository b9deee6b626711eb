"""Stage manifests: what a stage read, with which parameters and code, and what it wrote.

A stage whose manifest matches its current inputs, parameters and code, and whose outputs all exist with
the recorded sizes, is skipped on re-run. ``force=True`` redoes it. "Code" is :func:`code_digest` of the
module that defines the stage's work: a digest of its source and of every lowcov module it imports,
directly or not, so that changing, say, a labelling rule re-makes what that rule made, while an edit to
an unrelated module (a chapter's prose) does not.
"""
from __future__ import annotations

import ast
import datetime as _dt
import functools
import hashlib
import json
import logging
import os
import platform
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import __version__
from .fileio import atomic_output, sha256sum

log = logging.getLogger(__name__)

#: files up to this size are identified by content; larger ones by size and modification time
CHECKSUM_LIMIT = 256 * 1024 * 1024


def fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    stat = path.stat()
    record: dict[str, Any] = {"path": str(path), "size": stat.st_size}
    if stat.st_size <= CHECKSUM_LIMIT:
        record["sha256"] = sha256sum(path)
    else:
        record["mtime_ns"] = stat.st_mtime_ns
    return record


def _plain(value: Any) -> Any:
    if is_dataclass(value):
        return _plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (dataclasses as dicts, tuples as lists, other objects as
    strings), so parameters can be compared with what a manifest recorded."""
    return json.loads(json.dumps(_plain(value), default=str))




PACKAGE = __name__.rsplit(".", 1)[0]
PACKAGE_DIR = Path(__file__).resolve().parent


def _module_file(name: str, package_dir: Path, package: str) -> Path | None:
    """The source of module ``name`` (``package.sub.mod``) under ``package_dir``, or None if not ours."""
    if name != package and not name.startswith(package + "."):
        return None
    parts = name.split(".")[1:]
    base = package_dir.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(source: Path, name: str, package_dir: Path, package: str) -> set[str]:
    """The modules of ``package`` that module ``name`` imports anywhere in its body (functions included)."""
    is_package = source.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # "from . import x" imports module x
    return {m for m in found if _module_file(m, package_dir, package) is not None}


@functools.lru_cache(maxsize=None)
def code_digest(module: str, package_dir: Path = PACKAGE_DIR, package: str = PACKAGE) -> str | None:
    """sha256 over the source of ``module`` and of every module of ``package`` it imports, transitively
    (None for a module outside the package, e.g. a notebook's ``__main__``). Cached per process."""
    if _module_file(module, package_dir, package) is None:
        return None
    seen, pending = set(), [module]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        source = _module_file(name, package_dir, package)
        pending += sorted(_imported_modules(source, name, package_dir, package) - seen)
        parent = name.rsplit(".", 1)[0]  # importing a.b runs a/__init__.py first
        if parent != name and parent not in seen and _module_file(parent, package_dir, package):
            pending.append(parent)
    digest = hashlib.sha256()
    for name in sorted(seen):
        source = _module_file(name, package_dir, package)
        digest.update(f"{name}\0".encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def manifest_path(stage_dir: str | os.PathLike, stage: str) -> Path:
    return Path(stage_dir) / f"{stage}.manifest.json"


def is_current(stage_dir, stage: str, inputs: Sequence, params: Any, outputs: Sequence,
               code: str | None = None) -> bool:
    path = manifest_path(stage_dir, stage)
    if not path.exists():
        return False
    try:
        recorded = json.loads(path.read_text())
    except json.JSONDecodeError:
        return False
    if recorded.get("params") != jsonable(params):
        return False
    if code is not None and recorded.get("code") != code:
        log.info("%s: the code that made it changed", stage)
        return False
    if [r["path"] for r in recorded.get("outputs", [])] != [str(o) for o in outputs]:
        return False
    for rec in recorded["outputs"]:
        if not Path(rec["path"]).exists() or Path(rec["path"]).stat().st_size != rec["size"]:
            return False
    try:
        current_inputs = [fingerprint(p) for p in inputs]
    except FileNotFoundError:
        return False
    return recorded.get("inputs") == current_inputs


def write_manifest(stage_dir, stage: str, inputs: Sequence, params: Any, outputs: Sequence,
                   extra: Mapping | None = None, seconds: float | None = None, code: str | None = None) -> Path:
    import numpy, pysam  # noqa: E401 - versions recorded for reproducibility

    record = {
        "stage": stage,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": seconds,
        "params": jsonable(params),
        "code": code,
        "inputs": [fingerprint(p) for p in inputs],
        "outputs": [fingerprint(p) for p in outputs],
        "versions": {"lowcov": __version__, "python": platform.python_version(),
                     "pysam": pysam.__version__, "numpy": numpy.__version__},
        "extra": jsonable(extra or {}),
    }
    target = manifest_path(stage_dir, stage)
    with atomic_output(target) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    return target


def read_manifest(stage_dir, stage: str) -> dict:
    return json.loads(manifest_path(stage_dir, stage).read_text())


def run_stage(stage_dir, stage: str, inputs: Sequence, params: Any, outputs: Sequence,
              work: Callable[[], Mapping | None], force: bool = False, code: str | None = None) -> dict:
    """Run ``work`` unless the stage is current; record a manifest; return it.

    ``work`` writes every path in ``outputs`` (atomically) and may return extra facts to record. ``code``:
    the digest of the code that makes the outputs; default :func:`code_digest` of the module that defines
    ``work`` (a lambda's module is the caller's).
    """
    import time

    if code is None:
        code = code_digest(getattr(work, "__module__", None) or "")
    if not force and is_current(stage_dir, stage, inputs, params, outputs, code):
        log.info("%s: up to date, skipped (force=True to redo)", stage)
        return read_manifest(stage_dir, stage)
    log.info("%s: running", stage)
    start = time.perf_counter()
    extra = work() or {}
    missing = [str(o) for o in outputs if not Path(o).exists()]
    if missing:
        raise RuntimeError(f"stage {stage} finished without writing {missing}")
    write_manifest(stage_dir, stage, inputs, params, outputs, extra, time.perf_counter() - start, code)
    return read_manifest(stage_dir, stage)
