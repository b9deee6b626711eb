"""Chapter 6's experiment: fine-tuning the original model on RNA with the case study's V1 and V2 overrides.

Reads the RNA example sets and the original checkpoint; writes ``models/<run>`` (checkpoints, training
log, run record).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from .. import InputError
from ..checks import require_inputs
from ..fileio import sha256sum
from ..layout import Layout
from ..shards import ExampleSets
from ..train import CASE_STUDY_V1, CASE_STUDY_V2, RECORD_NAME, TrainConfig, TrainResult, apply_overrides, train

log = logging.getLogger(__name__)

#: the seed of DeepVariant-style runs here (TrainConfig's default)
DEFAULT_SEED = TrainConfig().seed
#: V1 and V2 each run with these seeds (the order the examples are drawn in, dropout): one run is one draw
#: of that randomness, so the book reports the mean over seeds with an interval that covers them
REPLICATE_SEEDS = (DEFAULT_SEED, DEFAULT_SEED + 1, DEFAULT_SEED + 2)


def run_directory(slug: str, seed: int) -> str:
    """The model directory of one seed of a run (``v2``, ``v2_seed2025``)."""
    return slug if seed == DEFAULT_SEED else f"{slug}_seed{seed}"


def run_name(name: str, seed: int, seeds: Sequence[int]) -> str:
    """How one seed of a replicated run is named in tables (``V2 (seed 2025)``); a lone run keeps its name."""
    return name if len(seeds) == 1 else f"{name} (seed {seed})"


#: Keys that only say how a run executes, never what it computes: the only additions allowed on top
#: of the case study's override lists.
FINE_TUNE_EXECUTION_KEYS = frozenset({"num_threads", "log_every_steps", "seed", "keep_checkpoints",
                                      "tune_in_memory_max_bytes", "train_in_memory_max_bytes", "max_steps"})


#: The arithmetic of every fine-tuning run lowcov trains itself, its one addition to DeepVariant's
#: defaults (DeepVariant's config has no such key): bfloat16 training steps where the device computes
#: bfloat16 natively, as chapter 3's original model is trained; float32 elsewhere (each run's record says
#: which ran). Measured on the demo's 2-core CPU (AVX512-BF16), the compact model at batch 256: 1,175
#: against 675 examples/s, so three seeds of V1 and V2 and the controls fit the book's time budget.
#: Weights, optimiser state, loss and tune evaluations stay float32.
FINE_TUNE_PRECISION = "auto"


def fine_tune_config(overrides: Sequence[str], init_checkpoint: str | os.PathLike,
                     execution_overrides: Sequence[str] = (), threads: int = 2) -> TrainConfig:
    """DeepVariant's defaults with :data:`FINE_TUNE_PRECISION` + the case study's ``overrides`` verbatim +
    ``init_checkpoint``; the ``execution_overrides`` may only set :data:`FINE_TUNE_EXECUTION_KEYS`."""
    base = apply_overrides(TrainConfig(num_threads=threads, precision=FINE_TUNE_PRECISION), list(overrides))
    executed = apply_overrides(base, list(execution_overrides))
    changed = {k for k in TrainConfig.__dataclass_fields__ if getattr(base, k) != getattr(executed, k)}
    if changed - FINE_TUNE_EXECUTION_KEYS:
        raise InputError(f"execution overrides may only set {sorted(FINE_TUNE_EXECUTION_KEYS)}; "
                         f"{sorted(changed - FINE_TUNE_EXECUTION_KEYS)} would change the method")
    return replace(executed, init_checkpoint=str(init_checkpoint))


def fine_tune(layout: Layout, name: str, overrides: Sequence[str], sets: ExampleSets,
              init_checkpoint: str | os.PathLike, execution_overrides: Sequence[str] = (), threads: int = 2,
              force: bool = False, nproc: int = 1) -> TrainResult:
    """Fine-tune ``init_checkpoint`` on ``sets`` with the case study's ``overrides`` into
    ``<profile>/models/<name>``; an interrupted run resumes, a completed one is reused."""
    require_inputs({init_checkpoint: "03_original_model"})
    config = fine_tune_config(overrides, init_checkpoint, execution_overrides, threads)
    experiment_dir = layout.model_dir(name)
    experiment_dir.mkdir(parents=True, exist_ok=True)
    # train() recognises a finished or resumable run by its config, which names the init checkpoint but
    # not its content: a retrained original model must restart the fine-tuning, so its digest is kept.
    marker = experiment_dir / "init_checkpoint.sha256"
    digest = sha256sum(init_checkpoint)
    stale = marker.exists() and marker.read_text().strip() != digest
    if stale:
        log.info("%s: the init checkpoint %s changed since the last run; training again", name, init_checkpoint)
    marker.write_text(digest + "\n")
    return train(sets.train, sets.tune, config, experiment_dir, force=force or stale, restart_on_change=True,
                 nproc=nproc)


#: the case study's two runs, by name
CASE_STUDY_RUNS = {"V1": CASE_STUDY_V1, "V2": CASE_STUDY_V2}


def case_study_runs(layout: Layout, sets: ExampleSets, init_checkpoint: str | os.PathLike,
                    execution_overrides: Sequence[str] = (), threads: int = 2,
                    seeds: Sequence[int] = REPLICATE_SEEDS, force: bool = False,
                    nproc: int = 1) -> dict[str, list[TrainResult]]:
    """V1 and V2, each with every seed of ``seeds``, into ``models/v1``, ``models/v1_seed2025``, ...: name ->
    one result per seed, in ``seeds`` order."""
    return {name: [fine_tune(layout, run_directory(name.lower(), seed), overrides, sets, init_checkpoint,
                             [*execution_overrides, f"config.seed={seed}"], threads, force, nproc)
                   for seed in seeds]
            for name, overrides in CASE_STUDY_RUNS.items()}


def replicate_checkpoints(layout: Layout, seeds: Sequence[int] = REPLICATE_SEEDS) -> dict[str, dict[str, Path]]:
    """The selected checkpoints of V1's and V2's seeds: run name -> {table name: checkpoint}, the first
    seed's named ``V1``, the others ``V1 (seed 2025)``, ...."""
    return {name: {(name if seed == seeds[0] else f"{name} (seed {seed})"):
                   fine_tuned_checkpoints(layout, run_directory(name.lower(), seed))["selected"] for seed in seeds}
            for name in CASE_STUDY_RUNS}


def fine_tuned_checkpoints(layout: Layout, name: str) -> dict[str, Path]:
    """``selected`` (best.pt, the checkpoint the tune metric chose) and ``last`` (the weights evaluated at
    the end: what the fine-tuning itself produced) of the finished run ``<profile>/models/<name>``."""
    directory = layout.model_dir(name)
    record_path = directory / RECORD_NAME
    require_inputs({record_path: "06_finetune"})
    record = json.loads(record_path.read_text())
    if not record.get("complete"):
        raise FileNotFoundError(f"{directory} holds an unfinished run: run notebook 06_finetune to finish it")
    paths = {"selected": directory / record["best_checkpoint"],
             "last": directory / "checkpoints" / f"ckpt-{record['steps']}.pt"}
    require_inputs({path: "06_finetune" for path in paths.values()})
    return paths
