"""Which engine a chapter runs, and which of its cells run on it.

Chapters 3-7 take a parameter ``engine`` (None: the profile's, ``layout.spec.engine``). Most of a chapter
is one engine's: the demo's native chapters train and inspect lowcov's own network, the deepvariant
chapters run DeepVariant's images. A code cell that belongs to one engine starts with a marker line,

    # engine: native
    # engine: deepvariant

and :func:`run_cells_of` makes the kernel skip (run as ``pass``) every marked cell of the other engine,
so the marked cells of the chosen engine run exactly as written. Markdown cells carry the same choice as
a tag (``engine-native`` / ``engine-deepvariant``); :func:`hide_other_engine_cells` marks, in an
executed notebook, the cells of the engine it did not run as ``remove-cell`` so the rendered page shows
one engine's chapter.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..engines import ENGINES

if TYPE_CHECKING:
    from ..layout import Layout

_MARKER = re.compile(r"^#\s*engine:\s*(?P<engine>[A-Za-z_]+)\s*$")
TAG_PREFIX = "engine-"


def chapter_engine(engine: str | None, layout: "Layout") -> str:
    """The engine a chapter runs: ``engine`` when given, else the profile's."""
    name = engine or layout.spec.engine
    if name not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)} (or None for the profile's), got {name!r}")
    return name


def cell_engine(lines: list[str]) -> str | None:
    """The engine a cell's marker line names, or None for a cell both engines run."""
    for line in lines:
        if line.strip():
            match = _MARKER.match(line.strip())
            return match["engine"] if match else None
    return None


def skip_other_engine(engine: str):
    """An IPython input transformer: a cell marked for another engine becomes ``pass``."""
    def transform(lines: list[str]) -> list[str]:
        marked = cell_engine(lines)
        return ["pass\n"] if marked is not None and marked != engine else lines
    return transform


def run_cells_of(engine: str) -> None:
    """From now on, the running kernel skips the cells marked for another engine than ``engine``."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    transformers = shell.input_transformers_cleanup
    transformers[:] = [t for t in transformers if not getattr(t, "lowcov_engine_cells", False)]
    transform = skip_other_engine(engine)
    transform.lowcov_engine_cells = True
    transformers.append(transform)


def _executed_engine(notebook: dict) -> str:
    parameters = notebook.get("metadata", {}).get("papermill", {}).get("parameters", {})
    if parameters.get("engine"):
        return parameters["engine"]
    from ..layout import Layout

    return Layout(parameters.get("profile", "demo")).spec.engine


def hide_other_engine_cells(executed: str | os.PathLike) -> int:
    """Tag ``remove-cell`` every cell of an executed notebook that belongs to the engine it did not run
    (a code cell's marker line, a markdown cell's ``engine-<name>`` tag); returns how many."""
    path = Path(executed)
    notebook = json.loads(path.read_text())
    engine = _executed_engine(notebook)
    hidden = 0
    for cell in notebook.get("cells", []):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        source = cell.get("source", "")
        lines = source.splitlines() if isinstance(source, str) else list(source)
        owner = cell_engine(lines) if cell.get("cell_type") == "code" else None
        owner = owner or next((t[len(TAG_PREFIX):] for t in tags if t.startswith(TAG_PREFIX)), None)
        if owner is not None and owner != engine and "remove-cell" not in tags:
            tags.append("remove-cell")
            hidden += 1
    if hidden:
        tmp = path.with_name(f".partial-{path.name}")
        tmp.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    return hidden
