"""Stage manifests: what a stage read, with which parameters, and what it wrote.

A stage whose manifest matches its current inputs and parameters, and whose outputs all exist with
the recorded sizes, is skipped on re-run. ``force=True`` redoes it.
"""
from __future__ import annotations

import datetime as _dt
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




def manifest_path(stage_dir: str | os.PathLike, stage: str) -> Path:
    return Path(stage_dir) / f"{stage}.manifest.json"


def is_current(stage_dir, stage: str, inputs: Sequence, params: Any, outputs: Sequence) -> bool:
    path = manifest_path(stage_dir, stage)
    if not path.exists():
        return False
    try:
        recorded = json.loads(path.read_text())
    except json.JSONDecodeError:
        return False
    if recorded.get("params") != jsonable(params):
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
                   extra: Mapping | None = None, seconds: float | None = None) -> Path:
    import numpy, pysam  # noqa: E401 - versions recorded for reproducibility

    record = {
        "stage": stage,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": seconds,
        "params": jsonable(params),
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
              work: Callable[[], Mapping | None], force: bool = False) -> dict:
    """Run ``work`` unless the stage is current; record a manifest; return it.

    ``work`` writes every path in ``outputs`` (atomically) and may return extra facts to record.
    """
    import time

    if not force and is_current(stage_dir, stage, inputs, params, outputs):
        log.info("%s: up to date, skipped (force=True to redo)", stage)
        return read_manifest(stage_dir, stage)
    log.info("%s: running", stage)
    start = time.perf_counter()
    extra = work() or {}
    missing = [str(o) for o in outputs if not Path(o).exists()]
    if missing:
        raise RuntimeError(f"stage {stage} finished without writing {missing}")
    write_manifest(stage_dir, stage, inputs, params, outputs, extra, time.perf_counter() - start)
    return read_manifest(stage_dir, stage)
