"""DNA as numpy arrays of base codes, and the vectorised operations the simulator needs.

Codes are A=0, C=1, G=2, T=3. With this order the complement is ``3 - code``, a transition is
``code ^ 2`` (A<->G, C<->T) and the two transversions are ``code ^ 1`` and ``code ^ 3``.
"""
from __future__ import annotations

import numpy as np

from ..intervals import true_runs  # noqa: F401  (re-exported for the simulator's modules)

ALPHABET = b"ACGT"
#: code -> ASCII letter
ASCII = np.frombuffer(ALPHABET, dtype=np.uint8)
_ENCODE = np.full(256, 255, dtype=np.uint8)
for _code, _letter in enumerate(ALPHABET):
    _ENCODE[_letter] = _code
    _ENCODE[ord(chr(_letter).lower())] = _code

A, C, G, T = 0, 1, 2, 3


def encode(text: str | bytes) -> np.ndarray:
    raw = np.frombuffer(text.encode() if isinstance(text, str) else bytes(text), dtype=np.uint8)
    codes = _ENCODE[raw]
    if codes.size and codes.max() == 255:
        raise ValueError(f"not an ACGT sequence: {text[:50]!r}")
    return codes


def decode(codes: np.ndarray) -> str:
    return ASCII[codes].tobytes().decode("ascii")


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    return (3 - codes[..., ::-1]).astype(np.uint8)


def periodic_tracts(codes: np.ndarray, period: int, min_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Tracts where ``codes[i] == codes[i + period]`` throughout, at least ``min_length`` long.

    A run of r matching positions starting at s is the tract [s, s + r + period).
    """
    if codes.size <= period:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts, ends = true_runs(codes[period:] == codes[:-period])
    ends = ends + period
    keep = (ends - starts) >= min_length
    return starts[keep], ends[keep]


def gc_mask(codes: np.ndarray) -> np.ndarray:
    return (codes == C) | (codes == G)


def mask_from_intervals(length: int, starts, ends) -> np.ndarray:
    """Boolean mask of [start, end) intervals (may overlap), built with a difference array."""
    delta = np.zeros(length + 1, dtype=np.int32)
    np.add.at(delta, np.clip(np.asarray(starts, dtype=np.int64), 0, length), 1)
    np.add.at(delta, np.clip(np.asarray(ends, dtype=np.int64), 0, length), -1)
    return np.cumsum(delta[:-1]) > 0
