"""Run the book: execute ``notebooks/NN_*.ipynb`` in order with papermill, then render with Jupyter Book.

    python -m lowcov.book [--profile demo] [--from 03] [--only 02] [--force] [--no-build]

Executed copies go to ``book/executed/``. A notebook is re-executed when its source, its parameters or
the library's code changed since its last successful run, or when a notebook before it was re-run;
otherwise it is kept ("up to date"). The first failing notebook stops the run: its executed copy
(with papermill's error banner) stays for inspection, the failing cell is printed, and the next run
starts again from it. The HTML build refuses executed notebooks that hold an error output.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .fileio import atomic_output
from .layout import PROFILES, REPO_ROOT

log = logging.getLogger(__name__)

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
EXECUTED_DIR = REPO_ROOT / "book" / "executed"
STATE_FILE = EXECUTED_DIR / "run-state.json"
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.ipynb$")


@dataclass(frozen=True)
class Notebook:
    number: str
    source: Path

    @property
    def executed(self) -> Path:
        return EXECUTED_DIR / self.source.name


def discover(notebook_dir: Path = NOTEBOOK_DIR) -> list[Notebook]:
    found = [Notebook(m.group(1), p) for p in sorted(notebook_dir.glob("*.ipynb"))
             if (m := NOTEBOOK_PATTERN.match(p.name))]
    numbers = [n.number for n in found]
    if len(set(numbers)) != len(numbers):
        raise SystemExit(f"two notebooks share a number in {notebook_dir}: {numbers}")
    return found


def library_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "lib" / "lowcov").rglob("*.py")):
        digest.update(path.relative_to(REPO_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def notebook_fingerprint(notebook: Notebook, parameters: dict, library: str) -> str:
    digest = hashlib.sha256(notebook.source.read_bytes())
    digest.update(json.dumps(parameters, sort_keys=True).encode())
    digest.update(library.encode())
    return digest.hexdigest()


def error_outputs(executed: Path) -> list[tuple[int, str, str]]:
    """(cell index, ename, evalue) of every error output in an executed notebook."""
    notebook = json.loads(executed.read_text())
    errors = []
    for index, cell in enumerate(notebook.get("cells", [])):
        for output in cell.get("outputs", []) or []:
            if output.get("output_type") == "error":
                errors.append((index, output.get("ename", ""), output.get("evalue", "")))
    return errors


def collapse_injected_parameters(executed: Path) -> None:
    """Render papermill's injected-parameters cell collapsed in the book (it repeats the parameters)."""
    notebook = json.loads(executed.read_text())
    changed = False
    for cell in notebook.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "hide-cell" not in tags:
            tags.append("hide-cell")
            changed = True
    if changed:
        with atomic_output(executed) as tmp:
            tmp.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def load_state() -> dict:
    if STATE_FILE.exists():
        try:
            return json.loads(STATE_FILE.read_text())
        except json.JSONDecodeError:
            return {}
    return {}


def save_state(state: dict) -> None:
    with atomic_output(STATE_FILE) as tmp:
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")


def execute(notebooks: list[Notebook], parameters: dict, force: bool = False,
            selected: set[str] | None = None, kernel: str = "python3") -> bool:
    """Execute ``notebooks`` in order; returns False at the first failure."""
    import papermill

    EXECUTED_DIR.mkdir(parents=True, exist_ok=True)
    state = load_state()
    library = library_fingerprint()
    upstream_reran = False
    for notebook in notebooks:
        if selected is not None and notebook.number not in selected:
            continue
        fingerprint = notebook_fingerprint(notebook, parameters, library)
        previous = state.get(notebook.source.name, {})
        current = (not force and not upstream_reran and previous.get("fingerprint") == fingerprint
                   and notebook.executed.exists() and not error_outputs(notebook.executed))
        if current:
            print(f"[book] {notebook.source.name}: up to date ({previous.get('seconds', 0):.0f} s last run)")
            continue
        print(f"[book] {notebook.source.name}: executing", flush=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(notebook.source), str(notebook.executed), parameters=parameters,
                kernel_name=kernel, cwd=str(REPO_ROOT), progress_bar=False, log_output=False,
                report_mode=False)
        except papermill.PapermillExecutionError as exc:
            state.pop(notebook.source.name, None)
            save_state(state)
            print(f"[book] FAILED {notebook.source.name}, cell {exc.cell_index} "
                  f"(execution count {exc.exec_count}): {exc.ename}: {exc.evalue}\n"
                  f"[book] the executed copy with the error is {notebook.executed}; "
                  f"fix it and re-run (the run resumes here)", file=sys.stderr)
            return False
        seconds = time.perf_counter() - start
        collapse_injected_parameters(notebook.executed)
        upstream_reran = True
        state[notebook.source.name] = {"fingerprint": fingerprint, "seconds": round(seconds, 1),
                                       "parameters": parameters,
                                       "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        save_state(state)
        print(f"[book] {notebook.source.name}: done in {seconds:.1f} s", flush=True)
    return True


def build_html(notebooks: list[Notebook]) -> bool:
    """Render the book; refuse if an executed notebook is missing or holds an error output."""
    problems = []
    for notebook in notebooks:
        if not notebook.executed.exists():
            problems.append(f"{notebook.executed} is missing (run the notebooks first)")
        elif errors := error_outputs(notebook.executed):
            index, ename, evalue = errors[0]
            problems.append(f"{notebook.executed} holds an error in cell {index}: {ename}: {evalue}")
    if problems:
        print("[book] refusing to render:\n  " + "\n  ".join(problems), file=sys.stderr)
        return False
    # --all: pages that glue values from notebooks are not tracked as depending on them
    command = [sys.executable, "-m", "jupyter_book", "build", str(REPO_ROOT), "--all", "-W", "-n", "--keep-going"]
    jb = Path(sys.executable).with_name("jupyter-book")
    if jb.exists():
        command = [str(jb), "build", str(REPO_ROOT), "--all", "-W", "-n", "--keep-going"]
    print("[book] " + " ".join(command), flush=True)
    return subprocess.run(command, cwd=REPO_ROOT).returncode == 0


def parse_parameter(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"parameters are NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lowcov.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo", choices=PROFILES)
    parser.add_argument("--from", dest="start", metavar="NN", help="start at notebook NN (re-runs it and those after)")
    parser.add_argument("--only", metavar="NN", action="append", help="run only notebook NN (repeatable)")
    parser.add_argument("--force", action="store_true", help="re-execute notebooks and recompute every stage")
    parser.add_argument("--no-build", action="store_true", help="execute notebooks but do not render HTML")
    parser.add_argument("--build-only", action="store_true", help="render HTML from executed notebooks")
    parser.add_argument("-p", "--parameter", type=parse_parameter, action="append", default=[],
                        metavar="NAME=VALUE", help="extra papermill parameter for every notebook")
    parser.add_argument("--kernel", default="python3")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    notebooks = discover()
    if not notebooks:
        print(f"[book] no notebooks in {NOTEBOOK_DIR}", file=sys.stderr)
        return 1
    numbers = [n.number for n in notebooks]
    selected = None
    if args.only:
        selected = {n.zfill(2) for n in args.only}
    elif args.start:
        start = args.start.zfill(2)
        if start not in numbers:
            parser.error(f"no notebook numbered {start}; have {', '.join(numbers)}")
        selected = {n for n in numbers if n >= start}
    for number in selected or ():
        if number not in numbers:
            parser.error(f"no notebook numbered {number}; have {', '.join(numbers)}")
    parameters = {"profile": args.profile, "force": args.force, **dict(args.parameter)}
    if not args.build_only:
        # --from/--only re-run what they name even if it looks up to date
        force_notebooks = args.force or selected is not None
        if not execute(notebooks, parameters, force=force_notebooks, selected=selected, kernel=args.kernel):
            return 1
    if args.no_build:
        return 0
    return 0 if build_html(notebooks) else 1


if __name__ == "__main__":
    sys.exit(main())
