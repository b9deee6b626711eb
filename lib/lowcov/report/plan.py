"""Chapter 8's account of what the ``seed`` profile would run on DeepVariant itself (the plan), and where
that departs from the case study's commands. Nothing here runs a container: the plan is written into a
temporary data root and its paths are shown relative to ``$LOWCOV_DATA``."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from ..engines.plan import plan_commands, plan_differences_table
from ..layout import Layout
from ..profile import load_profile

__all__ = ["plan_differences_table", "seed_plan"]


def seed_plan(profile: str = "seed") -> tuple[pd.DataFrame, str]:
    """(one row per step: commands and the first of them; the whole script) of ``profile``'s plan."""
    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(profile, root=Path(tmp) / load_profile(profile, check_files=False).name)
        sections = [(title, [line.replace(str(layout.root.parent), "$LOWCOV_DATA") for line in lines])
                    for title, lines in plan_commands(layout)]
    rows = []
    for title, lines in sections:
        commands = [line for line in lines if line and not line.startswith("#")]
        rows.append({"step": title, "commands": len(commands), "first command": commands[0] if commands else ""})
    script = "\n\n".join(f"# === {title}\n" + "\n".join(lines) for title, lines in sections)
    return pd.DataFrame(rows), script
