"""Run the book: execute ``notebooks/NN_*.ipynb`` in order with papermill, then render with Jupyter Book.

    python -m lowcov.book [--profile demo] [--from 03] [--only 02] [--force] [--no-build]
    python -m lowcov.book --profile path/to/study.yaml [--only 01 --only 02 --only 03]
    python -m lowcov.book --profiles demo my_study.yaml other.yaml      # a batch, then a comparison page

The ``demo`` profile's executed copies go to ``book/executed/`` and its HTML to ``_build/html`` (the book
``make book`` builds). Every other profile is kept apart: its executed notebooks, run state and rendered
copy go to ``_build/profiles/<name>/`` (HTML in ``_build/profiles/<name>/_build/html``), its data to
``data/<name>/``. A profile's ``parameters:`` are passed to every notebook; ``-p NAME=VALUE`` wins over
them. A batch (``--profiles``) runs each profile in turn, then writes ``_build/profiles/comparison.html``
(and ``.csv``): the key metrics of every profile side by side, with the case study's numbers as one more
column.

Executed copies go to the profile's executed folder. A notebook is re-executed when its source, its parameters or
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
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .fileio import atomic_output
from .layout import REPO_ROOT
from .profile import Profile, ProfileError, load_profile, shipped_profiles
from .study.engine_cells import hide_other_engine_cells

log = logging.getLogger(__name__)

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
EXECUTED_DIR = REPO_ROOT / "book" / "executed"
STATE_FILE = EXECUTED_DIR / "run-state.json"
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.ipynb$")
#: the profile whose book is the repository's own (``book/executed``, ``_build/html``)
MAIN_PROFILE = "demo"
#: where the other profiles' books go (``LOWCOV_PROFILE_BUILDS`` moves it, e.g. for tests)
PROFILE_BUILDS = Path(os.environ.get("LOWCOV_PROFILE_BUILDS", REPO_ROOT / "_build" / "profiles"))


@dataclass(frozen=True)
class Notebook:
    number: str
    source: Path
    executed_dir: Path | None = None

    @property
    def executed(self) -> Path:
        return (self.executed_dir or EXECUTED_DIR) / self.source.name

    def in_folder(self, executed_dir: Path) -> "Notebook":
        return Notebook(self.number, self.source, executed_dir)


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


def _state_file(executed_dir: Path | None) -> Path:
    return STATE_FILE if executed_dir in (None, EXECUTED_DIR) else executed_dir / STATE_FILE.name


def load_state(executed_dir: Path | None = None) -> dict:
    state_file = _state_file(executed_dir)
    if state_file.exists():
        try:
            return json.loads(state_file.read_text())
        except json.JSONDecodeError:
            return {}
    return {}


def save_state(state: dict, executed_dir: Path | None = None) -> None:
    with atomic_output(_state_file(executed_dir)) as tmp:
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")


def execute(notebooks: list[Notebook], parameters: dict, force: bool = False,
            selected: set[str] | None = None, kernel: str = "python3") -> bool:
    """Execute ``notebooks`` in order; returns False at the first failure."""
    import papermill

    executed_dir = notebooks[0].executed.parent if notebooks else EXECUTED_DIR
    executed_dir.mkdir(parents=True, exist_ok=True)
    state = load_state(executed_dir)
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
            save_state(state, executed_dir)
            print(f"[book] FAILED {notebook.source.name}, cell {exc.cell_index} "
                  f"(execution count {exc.exec_count}): {exc.ename}: {exc.evalue}\n"
                  f"[book] the executed copy with the error is {notebook.executed}; "
                  f"fix it and re-run (the run resumes here)", file=sys.stderr)
            return False
        seconds = time.perf_counter() - start
        collapse_injected_parameters(notebook.executed)
        hide_other_engine_cells(notebook.executed)  # the page shows the chapter of the engine that ran
        upstream_reran = True
        state[notebook.source.name] = {"fingerprint": fingerprint, "seconds": round(seconds, 1),
                                       "parameters": parameters,
                                       "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        save_state(state, executed_dir)
        print(f"[book] {notebook.source.name}: done in {seconds:.1f} s", flush=True)
    return True


def build_html(notebooks: list[Notebook], project: Path = REPO_ROOT) -> bool:
    """Render the book in ``project``; refuse if an executed notebook is missing or holds an error output."""
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
    command = [sys.executable, "-m", "jupyter_book", "build", str(project), "--all", "-W", "-n", "--keep-going"]
    jb = Path(sys.executable).with_name("jupyter-book")
    if jb.exists():
        command = [str(jb), "build", str(project), "--all", "-W", "-n", "--keep-going"]
    print("[book] " + " ".join(command), flush=True)
    return subprocess.run(command, cwd=project).returncode == 0


def notebook_parameters(notebooks: list[Notebook]) -> dict[str, set[str]]:
    """Parameter name -> the notebooks that declare it (in their ``parameters`` cell)."""
    declared: dict[str, set[str]] = {}
    for notebook in notebooks:
        cells = json.loads(notebook.source.read_text()).get("cells", [])
        for cell in cells:
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                for line in "".join(cell.get("source", "")).splitlines():
                    if match := re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=", line):
                        declared.setdefault(match.group(1), set()).add(notebook.number)
    return declared


def check_profile_parameters(profile: Profile, notebooks: list[Notebook]) -> None:
    """Refuse a profile parameter that no notebook declares (a typo would otherwise be ignored)."""
    declared = notebook_parameters(notebooks)
    for name in profile.parameters:
        if name == "profile":
            raise ProfileError(profile.path, "parameters.profile", "is set by the book runner, not by a profile")
        if name not in declared:
            import difflib

            close = difflib.get_close_matches(name, declared, n=1)
            raise ProfileError(profile.path, f"parameters.{name}", "no notebook has this parameter"
                               + (f" (did you mean {close[0]!r}?)" if close else ""))


def profile_argument(profile: Profile) -> str:
    """How notebooks are told the profile: a shipped profile by name, any other by its YAML path."""
    return profile.name if profile.name in shipped_profiles() and profile.path and \
        profile.path.parent == Path(__file__).resolve().parent / "profiles" else str(profile.path)


def is_main_book(profile: Profile) -> bool:
    return profile_argument(profile) == MAIN_PROFILE


def profile_project(profile: Profile) -> Path:
    """The folder of a profile's own rendered copy: ``_build/profiles/<name>``."""
    return PROFILE_BUILDS / profile.name


def run_state_file(profile: "str | Profile") -> Path:
    """The run state (fingerprints and timings of executed notebooks) of ``profile``'s book."""
    profile = load_profile(profile, check_files=False)
    return STATE_FILE if is_main_book(profile) else profile_project(profile) / "executed" / STATE_FILE.name


def write_profile_project(profile: Profile, notebooks: list[Notebook]) -> Path:
    """A Jupyter Book project for one profile's executed notebooks: its own config, contents and
    front page, and the methods and references pages (the conclusions too when every chapter ran)."""
    import shutil

    import yaml

    project = profile_project(profile)
    project.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(project / "_build" / "html", ignore_errors=True)  # pages of an earlier, longer run
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    config["title"] = f"{config.get('title', 'lowcov')} ({profile.name})"
    config["exclude_patterns"] = ["_build", "**.ipynb_checkpoints"]
    (project / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    if (REPO_ROOT / "_static").exists():
        shutil.copytree(REPO_ROOT / "_static", project / "_static", dirs_exist_ok=True)
    ran = [n for n in notebooks if n.executed.exists()]
    # the conclusions and the methods speak of (and link to) every chapter
    pages = (["conclusions", "methods"] if len(ran) == len(discover()) else []) + ["references"]
    for page in pages:
        shutil.copyfile(REPO_ROOT / "book" / f"{page}.md", project / f"{page}.md")
    chapters = [{"file": f"executed/{n.source.stem}"} for n in ran]
    chapters += [{"file": page} for page in pages if page == "conclusions"]
    toc = {"format": "jb-book", "root": "intro",
           "parts": [{"caption": "The case study", "numbered": True, "chapters": chapters},
                     {"caption": "About this book", "chapters": [{"file": p} for p in pages if p != "conclusions"]}]}
    (project / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    (project / "intro.md").write_text(profile_front_page(profile, ran))
    return project


def profile_front_page(profile: Profile, ran: list[Notebook]) -> str:
    contigs = profile.contigs
    lines = [f"# lowcov on the `{profile.name}` profile", "",
             profile.description or "A study profile.", "",
             "| | |", "|---|---|",
             f"| profile file | `{profile.path}` |",
             f"| data source | {profile.source} |",
             f"| engine | {profile.engine} |",
             f"| builds (DNA / RNA) | {profile.builds.dna} / {profile.builds.rna} |",
             f"| test / tune contig (DNA build) | `{contigs.test}` / `{contigs.tune}` |",
             f"| test / tune contig (RNA build) | `{profile.rna.test}` / `{profile.rna.tune}` |",
             f"| training contigs | {', '.join(contigs.training) or 'the autosomes except test and tune'} |",
             f"| low-coverage test set | {profile.downsample.fraction:g} of the reads (seed {profile.downsample.seed}) |",
             f"| chapters run | {', '.join(n.number for n in ran)} |"]
    if profile.parameters:
        lines += ["", "Notebook parameters this profile sets:", ""]
        lines += [f"- `{name} = {value!r}`" for name, value in profile.parameters.items()]
    return "\n".join(lines) + "\n"


def run_profile(profile: Profile, notebooks: list[Notebook], args, selected: set[str] | None) -> bool:
    """Execute (unless ``--build-only``) and render (unless ``--no-build``) one profile's book."""
    main_book = is_main_book(profile)
    if not main_book:
        notebooks = [n.in_folder(profile_project(profile) / "executed") for n in notebooks]
    parameters = {"profile": profile_argument(profile), "force": args.force, **profile.parameters,
                  **dict(args.parameter)}
    print(f"[book] profile {profile.name} ({profile.path}): "
          + ("the main book" if main_book else f"rendered copy in {profile_project(profile)}"), flush=True)
    if not args.build_only:
        # --from/--only re-run what they name even if it looks up to date
        force_notebooks = args.force or selected is not None
        if not execute(notebooks, parameters, force=force_notebooks, selected=selected, kernel=args.kernel):
            return False
    if args.no_build:
        return True
    if main_book:
        return build_html(notebooks)
    ran = [n for n in notebooks if n.executed.exists()]
    return build_html(ran, write_profile_project(profile, notebooks))


def write_comparison(profiles: list[Profile]) -> Path:
    """``_build/profiles/comparison.html`` and ``.csv``: the key metrics of ``profiles`` side by side."""
    from .report.comparison import comparison_table

    folders = {p.name: (EXECUTED_DIR if is_main_book(p) else profile_project(p) / "executed") for p in profiles}
    table = comparison_table(folders)
    PROFILE_BUILDS.mkdir(parents=True, exist_ok=True)
    with atomic_output(PROFILE_BUILDS / "comparison.csv") as tmp:
        table.to_csv(tmp)
    def front_page(profile: Profile) -> Path:
        project = REPO_ROOT if is_main_book(profile) else profile_project(profile)
        return project / "_build" / "html" / "index.html"

    links = "".join(f"<li><a href='{front_page(p)}'>{p.name}</a>: {p.description}</li>" for p in profiles)
    html = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>lowcov: profiles side by side</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;text-align:right}"
            "th:first-child,td:first-child{text-align:left}</style></head><body>"
            "<h1>Key metrics of each profile</h1><p>Values as each profile's book glued them (chapters 3 and 7); "
            "empty where a profile did not run that chapter. The case study's column is its published hap.py "
            f"numbers.</p><ul>{links}</ul>"
            + table.to_html(na_rep="", float_format=lambda v: f"{v:.4f}", border=0) + "</body></html>")
    with atomic_output(PROFILE_BUILDS / "comparison.html") as tmp:
        tmp.write_text(html)
    return PROFILE_BUILDS / "comparison.html"


def write_plan_of(profiles: list[Profile], path: Path) -> int:
    """``--plan``: the deepvariant engine's script for one case-study profile."""
    from .engines.plan import write_plan
    from .layout import Layout

    if len(profiles) != 1 or profiles[0].source != "case-study":
        print("[book] --plan writes the DeepVariant container script of one case-study profile (e.g. --profile seed)",
              file=sys.stderr)
        return 2
    written = write_plan(Layout(profiles[0]), path)
    print(f"[book] plan of profile {profiles[0].name}: {written} (nothing was run)")
    return 0


def parse_parameter(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"parameters are NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def other_checkout(directory: Path) -> Path | None:
    """The lowcov checkout ``directory`` is in, when it is not the one this code was imported from (a second
    clone or worktree run with the first one's installed package); None otherwise."""
    for folder in (directory.resolve(), *directory.resolve().parents):
        if (folder / "lib" / "lowcov" / "book.py").is_file() and (folder / "notebooks").is_dir():
            return None if folder == REPO_ROOT.resolve() else folder
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lowcov.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--profile", default="demo", metavar="NAME|YAML",
                        help=f"a shipped profile ({', '.join(shipped_profiles())}) or a profile's YAML file")
    choice.add_argument("--profiles", nargs="+", metavar="NAME|YAML",
                        help="run the book for each profile in turn, then write the comparison page")
    parser.add_argument("--from", dest="start", metavar="NN", help="start at notebook NN (re-runs it and those after)")
    parser.add_argument("--only", metavar="NN", action="append", help="run only notebook NN (repeatable)")
    parser.add_argument("--force", action="store_true", help="re-execute notebooks and recompute every stage")
    parser.add_argument("--no-build", action="store_true", help="execute notebooks but do not render HTML")
    parser.add_argument("--build-only", action="store_true", help="render HTML from executed notebooks")
    parser.add_argument("-p", "--parameter", type=parse_parameter, action="append", default=[],
                        metavar="NAME=VALUE", help="extra papermill parameter for every notebook")
    parser.add_argument("--kernel", default="python3")
    parser.add_argument("--plan", type=Path, metavar="FILE",
                        help="write the shell script of what the profile runs with DeepVariant's containers "
                             "(downloads, container commands with mounts and GPU flags), run nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    other = other_checkout(Path.cwd())
    if other is not None:
        print(f"[book] this directory is the lowcov checkout {other}, but Python imports lowcov from {REPO_ROOT}, "
              f"whose notebooks and executed book would be used and overwritten. Run from {REPO_ROOT}, or "
              f"import this checkout's code: PYTHONPATH={other / 'lib'} python -m lowcov.book ...", file=sys.stderr)
        return 2

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
    try:  # every profile is validated before any work starts
        profiles = [load_profile(p) for p in (args.profiles or [args.profile])]
        for profile in profiles:
            check_profile_parameters(profile, notebooks)
    except ProfileError as exc:
        print(f"[book] {exc}", file=sys.stderr)
        return 2
    if args.plan:
        return write_plan_of(profiles, args.plan)
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        print(f"[book] two profiles share a name ({', '.join(names)}): their data and books would mix",
              file=sys.stderr)
        return 2
    ok = True
    for profile in profiles:
        ok = run_profile(profile, notebooks, args, selected) and ok
        if not ok and not args.profiles:
            return 1
    if args.profiles:
        print(f"[book] comparison of {len(profiles)} profiles: {write_comparison(profiles)}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
