"""pyproject.toml and environment.yml list the same Python dependencies with the same pins."""
import re
import tomllib

import yaml

from conftest import REPO_ROOT

CONDA_NAMES = {"torch": "pytorch", "isal": "python-isal"}


def split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement.strip())
    return match.group(1).lower(), match.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pip_side = dict(split(r) for r in project["dependencies"])
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    conda_side = dict(split(d) for d in env["dependencies"] if isinstance(d, str))
    for name, spec in pip_side.items():
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in conda_side, f"{conda_name} is in pyproject.toml but not in environment.yml"
        assert conda_side[conda_name] == spec, f"{name}: pyproject says {spec!r}, environment.yml {conda_side[conda_name]!r}"
    assert env["channels"][:2] == ["conda-forge", "bioconda"] and "defaults" not in env["channels"]
    pip_entries = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_entries and "-e ." in pip_entries[0]["pip"]


def test_pins_that_must_not_drift():
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.13.0" in deps
    assert any(d.startswith("jupyter-book") and "<2" in d for d in deps)
