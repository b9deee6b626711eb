"""Intervals from per-base masks (shared by the simulator, coverage buckets and RNA confident regions)."""
from __future__ import annotations

import numpy as np


def true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-open [start, end) of every run of True in a 1-D boolean array."""
    padded = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    steps = np.diff(padded.view(np.int8))
    return np.flatnonzero(steps == 1), np.flatnonzero(steps == -1)
