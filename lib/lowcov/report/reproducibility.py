"""Chapter 8's tables: what this rendering was computed with."""
from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd


# ---- chapter 8: what this rendering was computed with --------------------------------------------------

def short(value: Any, width: int = 80) -> str:
    """``value`` as text (JSON unless a string), cut to ``width`` characters with "..."."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def relative(path: str, root: Path) -> str:
    """``path`` relative to ``root`` where it is inside it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return path


def notebook_runs(state: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Each notebook's last recorded run (from the runner's state file): when, how long, what was passed."""
    return pd.DataFrame([{"notebook": name, "finished": record.get("finished"), "seconds": record.get("seconds"),
                          "parameters passed": short(record.get("parameters", {}))}
                         for name, record in sorted(state.items())], columns=["notebook", "finished", "seconds",
                                                                              "parameters passed"])


def notebook_runs_values(runs: pd.DataFrame) -> dict[str, float | int]:
    """Glue name -> the recorded runs' total minutes and count."""
    return {"total_run_minutes": float(runs.seconds.sum() / 60) if not runs.empty else 0.0,
            "notebooks_recorded": int(len(runs))}


def notebook_runs_table(runs: pd.DataFrame, state_file: Path) -> pd.DataFrame | str:
    return runs.set_index("notebook") if not runs.empty else f"{state_file} records no runs yet"


def notebook_parameters(sources: Mapping[str, Path], passed: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Every parameter of every notebook's ``parameters`` cell: its default, the value passed in this run
    where it differs, and the comment on its line. ``sources`` maps a notebook's stem to its file, ``passed``
    a notebook's file name to the parameters papermill was given."""
    rows = []
    for stem, path in sources.items():
        cells = json.loads(path.read_text())["cells"]
        source = next(("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), "")
        given = passed.get(path.name, {})
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
                default = ast.get_source_segment(source, node.value)
                line = source.splitlines()[node.end_lineno - 1]
                comment = line.split("#", 1)[1].strip() if "#" in line else ""
                used = given.get(name, "")
                try:
                    same = name not in given or ast.literal_eval(default) == used
                except ValueError:
                    same = False
                rows.append({"notebook": stem, "parameter": name, "default": short(default, 70),
                             "this run": "" if same else short(repr(used), 40), "meaning": short(comment, 90)})
    return pd.DataFrame(rows).set_index(["notebook", "parameter"])


def package_versions(distribution: str = "lowcov", indirect: Sequence[str] = ("myst-nb", "sphinx", "nbformat",
                                                                                "pytest")) -> pd.DataFrame:
    """The packages ``distribution`` requires (not its extras), the range it allows and the version installed;
    then ``indirect`` ones that are installed, and the distribution itself."""
    import importlib.metadata as metadata
    import re

    def installed(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    packages = []
    for requirement in [r for r in metadata.requires(distribution) or [] if "extra ==" not in r]:
        name = re.split(r"[<>=!~;\s\[]", requirement, maxsplit=1)[0]
        packages.append({"package": name, "required": requirement[len(name):] or "any",
                         "installed": installed(name) or "not installed"})
    packages += [{"package": name, "required": "(indirect)", "installed": installed(name)} for name in indirect
                 if installed(name)]
    packages.append({"package": distribution, "required": "", "installed": metadata.version(distribution)})
    return pd.DataFrame(packages).set_index("package")


def software() -> dict[str, Any]:
    """Python, the platform, the native tools pysam and mappy bundle, and torch with its device and threads."""
    import importlib.metadata as metadata
    import os
    import platform
    import sys

    import pysam.version
    import torch

    return {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
            "CPU cores (os.cpu_count)": os.cpu_count(),
            "htslib (bundled in pysam)": pysam.version.__htslib_version__,
            "samtools (bundled in pysam)": pysam.version.__samtools_version__,
            "bcftools (bundled in pysam)": pysam.version.__bcftools_version__,
            "minimap2 (mappy)": metadata.version("mappy"), "torch": torch.__version__,
            "torch device": "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "torch threads": torch.get_num_threads()}


def manifest_records(root: Path) -> dict[Path, dict]:
    """Every stage manifest under ``root`` (``*.manifest.json``), by path, in path order."""
    return {path: json.loads(path.read_text()) for path in sorted(root.rglob("*.manifest.json"))}


def manifest_stages(records: Mapping[Path, Mapping[str, Any]], repo: Path) -> pd.DataFrame:
    """One row per stage manifest: where, when it finished, its seconds and how many files it read and wrote."""
    stages = pd.DataFrame([{"stage": r.get("stage", path.stem), "directory": relative(str(path.parent), repo),
                            "finished": r.get("finished"), "seconds": round(float(r.get("seconds") or 0), 1),
                            "inputs": len(r.get("inputs", [])), "outputs": len(r.get("outputs", []))}
                           for path, r in records.items()])
    return stages.set_index("stage").sort_values(["directory", "finished"])


def manifest_files(records: Mapping[Path, Mapping[str, Any]], repo: Path, role: str) -> pd.DataFrame | str:
    """The files (``role``: "inputs" or "outputs") every stage recorded, with size and sha256 (or mtime)."""
    files = pd.DataFrame([{"stage": r.get("stage", path.stem), "file": relative(f["path"], repo),
                           "bytes": f.get("size"), "sha256": f.get("sha256") or f"(mtime) {f.get('mtime_ns')}"}
                          for path, r in records.items() for f in r.get(role, [])])
    return files.set_index(["stage", "file"]).sort_index() if not files.empty else f"no stage recorded {role}"


def flatten(value: Any, prefix: str = ""):
    """(dotted key, value) of every leaf of nested dicts."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def manifest_parameters(records: Mapping[Path, Mapping[str, Any]]) -> pd.DataFrame | str:
    """Each stage's recorded parameters, nested keys joined with dots, long values cut."""
    params = pd.DataFrame([{"stage": r.get("stage", path.stem), "parameter": key, "value": short(value)}
                           for path, r in records.items() for key, value in flatten(r.get("params", {})) if key])
    return params.set_index(["stage", "parameter"]).sort_index() if not params.empty else \
        "no stage recorded parameters"


def training_runs(root: Path, repo: Path) -> pd.DataFrame | str:
    """Every training run under ``root`` (its ``best_checkpoint.json``): steps, selection, speed, start."""
    models = []
    for path in sorted(root.glob("models/*/best_checkpoint.json")):
        run = json.loads(path.read_text())
        models.append({"model": path.parent.name, "complete": run.get("complete"), "steps": run.get("steps"),
                       "stopped by": run.get("stopped_by"), "selected step": run.get("best_step"),
                       run.get("best_checkpoint_metric", "metric"): run.get("best_value"),
                       "examples/s": round(float(run.get("examples_per_second") or 0), 1),
                       "seconds": round(float(run.get("wall_seconds") or 0), 1),
                       "initialised from": relative(run["init"]["checkpoint"], repo) if run.get("init") else ""})
    return pd.DataFrame(models).set_index("model") if models else "no training runs yet"


def example_sets(root: Path, repo: Path) -> pd.DataFrame | str:
    """Every example set under ``root`` (its ``example_info.json``): mode, reads, counts, geometry, seconds."""
    sets = []
    for path in sorted(root.glob("examples/*/example_info.json")):
        info = json.loads(path.read_text())
        sets.append({"example set": path.parent.name, "mode": info.get("mode"),
                     "reads": relative(str(info.get("bam", "")), repo), "examples": info.get("n_examples"),
                     "candidates": info.get("n_candidates"),
                     "geometry": f"{info.get('height')} x {info.get('width')} x {len(info.get('channels', []))}",
                     "class counts": short(info.get("class_counts", {}), 60), "seconds": info.get("seconds")})
    return pd.DataFrame(sets).set_index("example set") if sets else "no example sets yet"
