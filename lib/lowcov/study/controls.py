"""Chapter 6's controls: fine-tuning runs beyond the case study's two, to separate what moves the DNA calls.

Each control is V2's override list plus a few lines (frozen batch-norm statistics, small batches over
several seeds); :func:`with_original_statistics` puts the original model's batch-norm statistics back into
a run's end-of-run weights. Reads what :mod:`.fine_tuning` reads; writes ``models/<control>``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..layout import Layout
from ..manifest import run_stage
from ..batchnorm import with_batch_norm_statistics
from ..shards import ExampleSets
from ..train import CASE_STUDY_V2, TrainConfig, TrainResult
from .fine_tuning import fine_tune, fine_tuned_checkpoints
from .original_model import original_checkpoint

#: the seed of DeepVariant-style runs here (TrainConfig's default): the case study's V1 and V2 use it
DEFAULT_SEED = TrainConfig().seed


@dataclass(frozen=True)
class FineTuneControl:
    """A fine-tuning run beyond the case study's two: V2's overrides plus a few lines, to separate what
    moves the DNA calls. Never presented as the case study's."""

    name: str
    #: model directory under ``<profile>/models/`` (of the run with :data:`DEFAULT_SEED`)
    slug: str
    #: override lines added after the case study's V2 list (the last value of a key wins)
    extra: tuple[str, ...]
    purpose: str
    #: one run per seed (data order, dropout): runs whose outcome may hinge on the seed are replicated
    seeds: tuple[int, ...] = (DEFAULT_SEED,)

    @property
    def overrides(self) -> list[str]:
        return list(CASE_STUDY_V2) + list(self.extra)

    @property
    def runs(self) -> tuple["ControlRun", ...]:
        return tuple(ControlRun(self, seed) for seed in self.seeds)


@dataclass(frozen=True)
class ControlRun:
    """One seed of a :class:`FineTuneControl`."""

    control: FineTuneControl
    seed: int

    @property
    def name(self) -> str:
        return self.control.name if len(self.control.seeds) == 1 else f"{self.control.name} (seed {self.seed})"

    @property
    def directory(self) -> str:
        return self.control.slug if self.seed == DEFAULT_SEED else f"{self.control.slug}_seed{self.seed}"


_FREEZE = "config.freeze_batch_norm=true"
_SMALL_BATCHES = ("config.batch_size=32", "config.warmup_steps=0")
_REPLICATES = (DEFAULT_SEED, DEFAULT_SEED + 1, DEFAULT_SEED + 2)

#: The controls of chapter 6. On the demo's few hundred RNA examples V2 runs one step per epoch, inside
#: its warm-up, so its weights hardly move; the controls freeze the batch-norm statistics (what V2 does
#: without them moving), and give the weights enough steps at the configured learning rate to learn from
#: the RNA labels (batches of 32: eight times the steps; no warm-up), with and without frozen statistics.
#: V2 takes whole-set batches, so its seed changes nothing but dropout; the small-batch runs depend on the
#: data order, and single runs of them pointed in different directions, hence three seeds each.
FINE_TUNE_CONTROLS = (
    FineTuneControl("V2, frozen BN", "v2_frozen_bn", (_FREEZE,),
                    "V2 with the original model's BN statistics kept: what weight updates alone do"),
    FineTuneControl("V2, small batches", "v2_small_batches", _SMALL_BATCHES,
                    "8x V2's steps at the full learning rate: the weights learn from the RNA labels",
                    _REPLICATES),
    FineTuneControl("V2, small batches, frozen BN", "v2_small_batches_frozen_bn", _SMALL_BATCHES + (_FREEZE,),
                    "both: what learning from the RNA labels does with the DNA statistics kept", _REPLICATES),
)


def fine_tune_controls(slugs: Sequence[str]) -> tuple[FineTuneControl, ...]:
    """The controls named by ``slugs`` (model directory names), in :data:`FINE_TUNE_CONTROLS` order."""
    known = {control.slug: control for control in FINE_TUNE_CONTROLS}
    unknown = sorted(set(slugs) - set(known))
    if unknown:
        raise ValueError(f"unknown fine-tuning controls {unknown}; choose from {sorted(known)}")
    return tuple(control for control in FINE_TUNE_CONTROLS if control.slug in set(slugs))


def fine_tune_control(layout: Layout, run: ControlRun, sets: ExampleSets, init_checkpoint: str | os.PathLike,
                      execution_overrides: Sequence[str] = (), threads: int = 2, force: bool = False) -> TrainResult:
    """Run (or reuse) one seed of a control into ``<profile>/models/<run.directory>``."""
    return fine_tune(layout, run.directory, run.control.overrides, sets, init_checkpoint,
                     [*execution_overrides, f"config.seed={run.seed}"], threads, force)


def with_original_statistics(layout: Layout, name: str, force: bool = False) -> Path:
    """The end-of-run weights of fine-tuning run ``name`` with the original model's batch-norm
    statistics put back (``<profile>/models/<name>/checkpoints/last_original_bn.pt``)."""
    last = fine_tuned_checkpoints(layout, name)["last"]
    original = original_checkpoint(layout)
    out = last.parent / "last_original_bn.pt"
    run_stage(layout.model_dir(name), "last_original_bn", [last, original], {}, [out],
              lambda: with_batch_norm_statistics(last, original, out) and None, force=force)
    return out
