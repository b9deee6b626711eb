"""Train (or fine-tune) a genotype classifier: the native engine's ``train --config dv_config.py:wgs``.

The configuration mirrors DeepVariant 1.8's ``dv_config.py:get_wgs_config`` key for key, with the same
defaults (:class:`TrainConfig`), and accepts the case study's override strings verbatim
(:func:`apply_overrides`). The two override sets the case study reports are :data:`CASE_STUDY_V1` and
:data:`CASE_STUDY_V2`; the V2 *command line* it shows is :data:`CASE_STUDY_V2_COMMAND` (it differs from
the V2 bullet list, see :data:`CASE_STUDY_V2_COMMAND`).

What :func:`train` does, and where it follows DeepVariant's ``train.py``:

- optimiser ``sgd`` (Nesterov momentum, as DeepVariant), ``adam`` or ``adamw``; ``optimizer_weight_decay``
  is decoupled weight decay (Keras optimisers' ``weight_decay``), ``weight_decay`` is an L2 penalty
  ``weight_decay * sum(w**2)`` over convolution and dense kernels added to the loss (DeepVariant's Keras
  kernel regularisers);
- learning rate: staircase exponential decay by ``learning_rate_decay_rate`` every
  ``int(steps_per_epoch * learning_rate_num_epochs_per_decay)`` steps, after a linear warm-up over
  ``warmup_steps`` from ``learning_rate / 10`` (DeepVariant's ``LinearWarmup`` start value); see
  :func:`learning_rate_at`. Steps per epoch are ``ceil(n_train / batch_size)`` (every example is seen
  each epoch; DeepVariant uses ``n_train // batch_size``);
- label smoothing, dropout before the classifier, exponential moving average of the weights (EMA,
  ``ema_momentum``); tuning, checkpoints and the best checkpoint use the EMA weights when ``use_ema``;
- tune evaluations every ``tune_every_steps`` steps, at the end of each epoch, and before training when
  fine-tuning from ``init_checkpoint`` (as DeepVariant does: the starting model's score is the bar a
  fine-tuned checkpoint must beat, so ``best.pt`` can be the starting model itself);
- best checkpoint by ``best_checkpoint_metric`` (default ``tune/f1_weighted``: per-class F1 over
  hom-ref/het/hom-alt weighted by class support); early stopping at the ``early_stopping_patience``-th
  consecutive tune evaluation without improvement (0 disables it), as DeepVariant's ``train.py`` does
  (after a warm-start evaluation its counter starts one lower, so it waits one evaluation more there).

Outputs in ``experiment_dir``: ``train_log.csv`` (one row per log/tune event, written as it goes),
``checkpoints/ckpt-<step>.pt`` (evaluated weights, the last ``keep_checkpoints`` kept),
``checkpoints/best.pt``, ``checkpoints/last.pt`` (full training state for resuming) and
``best_checkpoint.json`` (selected step, its metrics, and whether the run is complete).

Resuming: a run killed part-way and started again with the same config continues from ``last.pt``
(weights, optimiser, EMA, step, position in the data order and RNG state) and ends with the same result
as an uninterrupted run. ``last.pt`` is written at every tune evaluation, when ``max_steps`` stops a run
and on Ctrl-C. A run whose ``best_checkpoint.json`` says it completed with the same config is not
redone; its recorded result is returned (``force=True`` starts over).

Data: training shards are streamed from disk (shard order and order within each shard shuffled per epoch
from ``seed``; the next shard is read in a background thread when a core is free for it, see
:class:`TrainingStream`); the tune set (the first
``num_validation_examples`` labelled examples, 0 = all) is held in memory when it fits in
``tune_in_memory_max_bytes``, else streamed at each evaluation.

Multi-GPU: not built. The hook is :func:`distributed_context`: to add DistributedDataParallel, wrap the
model in ``torch.nn.parallel.DistributedDataParallel`` when it reports ``world_size > 1``, give each rank
every ``world_size``-th batch of :meth:`TrainingStream.epoch_batches` (scale ``batch_size`` to the global
batch), and write files from rank 0 only; :func:`train` refuses to run under an initialised process
group with more than one rank until then.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import csv
import dataclasses
import difflib
import json
import logging
import math
import os
import re
import shutil
import time
import typing
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import InputError
from .fileio import atomic_output
from .model import (ARCHITECTURES, NUM_CLASSES, PileupClassifier, batch_norm_layers, build_model,
                    initialise_from_checkpoint, read_checkpoint_payload, save_checkpoint)
from .shards import ExampleSet, read_npz

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# configuration


@dataclass
class TrainConfig:
    """Training hyper-parameters: DeepVariant 1.8 ``dv_config.py:get_wgs_config``, then lowcov's own keys.

    The first block is ``get_wgs_config`` in its order with its values; ``tune_every_steps`` and
    ``log_every_steps`` come from DeepVariant's base ``get_config`` (12_800 and 1_280 steps; tuning also
    happens at every epoch end, so on small demo sets the epoch end is what triggers it).
    """

    # --- dv_config.py:get_wgs_config (DeepVariant 1.8) ---
    #: informational here: :func:`train` takes the example sets as arguments
    train_dataset_pbtxt: str = "/path/to/your/train.dataset_config.pbtxt"
    #: informational here, as ``train_dataset_pbtxt``
    tune_dataset_pbtxt: str = "/path/to/your/tune.dataset_config.pbtxt"
    #: checkpoint (``.pt`` written by lowcov) to fine-tune from; '' = random initialisation
    init_checkpoint: str = ""
    #: labelled tune examples to evaluate on; 0 = the full tune set
    num_validation_examples: int = 150_000
    best_checkpoint_metric: str = "tune/f1_weighted"
    batch_size: int = 16384
    num_epochs: int = 10
    optimizer: str = "sgd"
    momentum: float = 0.9
    use_ema: bool = True
    ema_momentum: float = 0.99
    optimizer_weight_decay: float = 0.0
    weight_decay: float = 0.0001
    early_stopping_patience: int = 100
    learning_rate: float = 0.01
    learning_rate_num_epochs_per_decay: float = 2.25
    learning_rate_decay_rate: float = 0.9999
    warmup_steps: int = 0
    label_smoothing: float = 0.01
    backbone_dropout_rate: float = 0.2
    # --- dv_config.py:get_config (base) keys the WGS config inherits ---
    #: tune every this many steps (and at each epoch end); 0 = only at epoch ends
    tune_every_steps: int = 12_800
    #: write a training-loss row to the log every this many steps; 0 = only at tune evaluations
    log_every_steps: int = 1_280
    # --- lowcov ---
    #: ``compact`` (CPU-sized default) or ``inception`` (GPU); DeepVariant's is inception_v3
    model_type: str = "compact"
    #: how far batch-norm running statistics move per step: Keras' momentum 0.99 (DeepVariant) is 0.01
    #: in PyTorch's convention. Short runs from scratch (tests) need a faster value such as 0.1
    batch_norm_momentum: float = 0.01
    #: run batch-norm layers in inference mode while training: normalise with the running statistics of
    #: ``init_checkpoint`` and leave them unchanged (scales and offsets still learn). Fine-tuning on data
    #: unlike the DNA the statistics came from (RNA pileups) otherwise moves them towards that data, which
    #: changes DNA calls even when the weights hardly move. Not a DeepVariant key (Keras freezes a
    #: batch-norm layer this way when it is made non-trainable)
    freeze_batch_norm: bool = False
    #: seeds weight initialisation, data order and dropout
    seed: int = 2024
    #: stop after this many optimiser steps in total (0 = no limit); a later run with a larger limit resumes
    max_steps: int = 0
    #: torch CPU threads (0 = leave torch's default, one per core). On a machine whose cores are busy with
    #: other work, fewer threads can be much faster: torch's threads wait on each other at every layer
    #: (measured here: tiny models 20-40x slower with 2 threads than with 1 on two contended cores)
    num_threads: int = 0
    #: arithmetic of the training steps: ``float32``; ``bfloat16`` (autocast: convolutions and matrix
    #: products in bfloat16; weights, optimiser, loss and tune evaluations stay float32), about twice the
    #: training throughput on CPUs that compute bfloat16 natively (AVX512-BF16, AMX) and slower on others;
    #: ``auto``: bfloat16 where the device computes it natively, else float32 (the record says which ran)
    precision: str = "float32"
    #: how many ``ckpt-<step>.pt`` files to keep (best.pt and last.pt are kept regardless)
    keep_checkpoints: int = 3
    #: hold the tune set in memory up to this size, else stream it from disk at each evaluation
    tune_in_memory_max_bytes: int = 2 * 1024 ** 3

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown training config keys {unknown}")
        return cls(**dict(values))


#: keys that limit or tune a run's execution without changing its result; a run may resume under new values
EXECUTION_KEYS = frozenset({"max_steps", "num_threads", "keep_checkpoints", "tune_in_memory_max_bytes"})

#: The case study's first iteration ("In the first iteration:" bullet list), verbatim, comments included.
#: (Its "(was 250)" for early_stopping_patience is the author's note; DeepVariant's WGS default is 100.)
CASE_STUDY_V1: list[str] = [
    "config.learning_rate = 0.001 (was 0.01)",
    "config.batch_size = 256 (was 16384) - to avoid any oom errors",
    "config.num_validation_examples = 0 (use full set)",
    "config.early_stopping_patience = 50 (was 250) - prevent overfitting",
    "config.warmup_steps = 1000 (was 0) - ",
]

#: The case study's second iteration ("In the second iteration:" bullet list), verbatim. The book uses
#: this list, not :data:`CASE_STUDY_V2_COMMAND`, as the V2 override set.
CASE_STUDY_V2: list[str] = [
    "config.num_epochs = 20 (was 10) added more epochs",
    "config.learning_rate = 0.001",
    "config.batch_size = 256",
    "config.num_validation_examples = 0 (use full set)",
    "config.early_stopping_patience = 50 ",
    "config.warmup_steps = 500",
    "config.learning_rate_decay_rate=0.995 (was .9999) smooth out learning",
    "config.weight_decay=0.00005 (was .0001) - less overfitting",
]

#: The arguments of the case study's "Example command" for V2 (after ``train``), one per line, verbatim.
#: It disagrees with the V2 bullet list in three ways: ``weight_decay=0.0005`` (bullets: 0.00005),
#: ``num_validation_examples=20000`` (bullets: 0 = full set), and ``early_stopping_patience`` given twice,
#: 50 then 250 -- as with absl flags the last one wins, so the command runs with 250 (bullets: 50). It also
#: sets ``optimizer='sgd'`` (the default) and ``tune_every_steps=5000``. Only the ``--config.`` entries are
#: config overrides; :func:`command_config_overrides` picks them out. The dataset and init checkpoint
#: values are the author's ``gs://`` paths and do not exist for lowcov.
CASE_STUDY_V2_COMMAND: list[str] = [
    "--config=/home/rubinthomas/dv_config.py:wgs",
    '--config.train_dataset_pbtxt="gs://deep-var-test/training_set.dataset_config.pbtxt"',
    '--config.tune_dataset_pbtxt="gs://deep-var-test/validation_set.dataset_config.pbtxt"',
    '--config.init_checkpoint="gs://deepvariant/models/DeepVariant/1.8.0/checkpoints/wgs/deepvariant.wgs.ckpt"',
    "--config.num_epochs=20",
    "--config.learning_rate=0.001",
    "--config.learning_rate_decay_rate = 0.995",
    "--config.batch_size=256",
    "--config.warmup_steps=500",
    "--config.early_stopping_patience = 50",
    "--config.weight_decay=0.0005",
    "--config.optimizer='sgd'",
    "--config.early_stopping_patience=250",
    "--config.num_validation_examples=20000",
    "--config.tune_every_steps=5000",
    '--experiment_dir="/home/rubinthomas/deepvariant_model/checkpoints_finetune_v4"',
    "--strategy=mirrored",
]

_OVERRIDE = re.compile(r"^\s*(?:--)?config\.(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<rest>.*?)\s*$", re.S)
_TRUE, _FALSE = {"true", "t", "yes", "y", "1"}, {"false", "f", "no", "n", "0"}


def command_config_overrides(arguments: Sequence[str]) -> list[str]:
    """The ``--config.<key>=<value>`` entries of a DeepVariant ``train`` command line, in order."""
    return [a for a in arguments if re.match(r"^\s*--config\.", a)]


def _split_value(rest: str, override: str) -> str:
    """The value at the start of ``rest``; what follows may only be a comment such as "(was 0.01) - why"."""
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1)
        if end < 0:
            raise InputError(f"unterminated quote in config override {override!r}")
        value, remainder = rest[1:end], rest[end + 1:]
    else:
        parts = rest.split(None, 1)
        if not parts:
            raise InputError(f"config override {override!r} has no value")
        value, remainder = parts[0], (parts[1] if len(parts) > 1 else "")
    remainder = remainder.strip()
    # The case study's bullets annotate values: "(was 16384) - to avoid any oom errors".
    if remainder and remainder[0] not in "(-#":
        raise InputError(f"cannot parse config override {override!r}: unexpected {remainder!r} after the value")
    return value


def _coerce(value: str, kind: type, key: str, override: str) -> Any:
    try:
        if kind is bool:
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("expected true or false")
        if kind is int:
            try:
                return int(value)
            except ValueError:
                number = float(value)  # e.g. "1e4"
                if not number.is_integer():
                    raise ValueError("expected a whole number") from None
                return int(number)
        if kind is float:
            return float(value)
        return str(value)
    except ValueError as exc:
        raise InputError(f"config override {override!r}: {key} takes a {kind.__name__}, got {value!r} ({exc})") from exc


def _field_types() -> dict[str, type]:
    return typing.get_type_hints(TrainConfig)


def apply_overrides(config: TrainConfig, overrides: Sequence[str] | str) -> TrainConfig:
    """A copy of ``config`` with DeepVariant-style overrides applied, in order.

    Accepted forms (all as written in the case study): ``config.learning_rate=0.001``,
    ``--config.batch_size=256``, ``config.learning_rate_decay_rate = 0.995`` (spaces around ``=``),
    ``config.optimizer='sgd'`` (quotes), and bullet-list annotations after the value such as
    ``config.batch_size = 256 (was 16384) - to avoid any oom errors`` (ignored). Values are coerced to
    the key's type. A key given twice takes its last value, as absl flags do (the case study's V2
    command sets ``early_stopping_patience`` to 50 and then 250: it runs with 250). An unknown key is an
    :class:`lowcov.InputError` naming it and the closest known key.
    """
    if isinstance(overrides, str):
        overrides = [overrides]
    types = _field_types()
    changes: dict[str, Any] = {}
    for override in overrides:
        match = _OVERRIDE.match(override)
        if not match:
            raise InputError(f"not a config override: {override!r} (expected config.<key>=<value>)")
        key = match["key"]
        if key not in types:
            close = difflib.get_close_matches(key, list(types), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"unknown config key {key!r} in override {override!r}{hint}")
        value = _coerce(_split_value(match["rest"], override), types[key], key, override)
        if key in changes and changes[key] != value:
            logger.info("config.%s given again: %r replaces %r (last one wins)", key, value, changes[key])
        changes[key] = value
    return dataclasses.replace(config, **changes)


def validate_config(config: TrainConfig) -> None:
    problems = []
    if config.batch_size < 1:
        problems.append(f"batch_size must be >= 1 (got {config.batch_size})")
    if config.num_epochs < 1:
        problems.append(f"num_epochs must be >= 1 (got {config.num_epochs})")
    if config.optimizer not in OPTIMIZERS:
        problems.append(f"optimizer must be one of {OPTIMIZERS} (got {config.optimizer!r})")
    if config.precision not in PRECISIONS:
        problems.append(f"precision must be one of {PRECISIONS} (got {config.precision!r})")
    if config.model_type not in ARCHITECTURES:
        problems.append(f"model_type must be one of {sorted(ARCHITECTURES)} (got {config.model_type!r})")
    if not 0.0 <= config.ema_momentum < 1.0:
        problems.append(f"ema_momentum must be in [0, 1) (got {config.ema_momentum})")
    if not 0.0 <= config.label_smoothing < 1.0:
        problems.append(f"label_smoothing must be in [0, 1) (got {config.label_smoothing})")
    if not 0.0 <= config.backbone_dropout_rate < 1.0:
        problems.append(f"backbone_dropout_rate must be in [0, 1) (got {config.backbone_dropout_rate})")
    if config.learning_rate < 0 or config.learning_rate_num_epochs_per_decay <= 0:
        problems.append("learning_rate must be >= 0 and learning_rate_num_epochs_per_decay > 0")
    if min(config.warmup_steps, config.tune_every_steps, config.log_every_steps, config.max_steps,
           config.num_validation_examples, config.early_stopping_patience, config.num_threads) < 0:
        problems.append("step counts, limits and patience must be >= 0")
    if config.best_checkpoint_metric not in TUNE_METRICS:
        problems.append(f"best_checkpoint_metric must be one of {TUNE_METRICS} (got {config.best_checkpoint_metric!r})")
    if problems:
        raise InputError("invalid training config: " + "; ".join(problems))


OPTIMIZERS = ("sgd", "adam", "adamw")
PRECISIONS = ("float32", "bfloat16", "auto")
TUNE_METRICS = ("tune/f1_weighted", "tune/f1_macro", "tune/categorical_accuracy", "tune/loss",
                "tune/f1_homref", "tune/f1_het", "tune/f1_homalt")
_CLASS_KEYS = ("homref", "het", "homalt")  # DeepVariant's metric suffixes, in label order


def metric_is_better(metric: str, candidate: float, best: float | None) -> bool:
    if best is None:
        return True
    return candidate < best if metric.endswith("loss") else candidate > best


# --------------------------------------------------------------------------------------------------
# learning-rate schedule


def decay_steps_for(config: TrainConfig, steps_per_epoch: int) -> int:
    return max(1, int(steps_per_epoch * config.learning_rate_num_epochs_per_decay))


def learning_rate_at(step: int, config: TrainConfig, steps_per_epoch: int) -> float:
    """Learning rate for the optimiser update that follows ``step`` completed updates (0-based).

    After warm-up: ``learning_rate * decay_rate ** (step // decay_steps)`` (staircase), with
    ``decay_steps = int(steps_per_epoch * learning_rate_num_epochs_per_decay)``. During the first
    ``warmup_steps`` steps: linear from ``learning_rate / 10`` at step 0 towards the decayed rate at
    ``warmup_steps``.
    """
    decay_steps = decay_steps_for(config, steps_per_epoch)

    def decayed(s: int) -> float:
        return config.learning_rate * config.learning_rate_decay_rate ** (s // decay_steps)

    if config.warmup_steps > 0 and step < config.warmup_steps:
        start = config.learning_rate / 10.0
        return start + (decayed(config.warmup_steps) - start) * step / config.warmup_steps
    return decayed(step)


# --------------------------------------------------------------------------------------------------
# data


def _labelled_count(path: Path) -> int:
    try:
        with np.load(path, allow_pickle=False) as data:
            return int((data["labels"] >= 0).sum())  # reads only the labels member of the archive
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"cannot read example shard {path}: {exc}") from exc


def _read_labelled(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = read_npz(path)  # ISA-L inflates the pileups about twice as fast as np.load's zlib
        images, labels = data["images"], data["labels"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read example shard {path}: {exc}") from exc
    keep = np.flatnonzero(labels >= 0)
    if len(keep) != len(labels):
        images, labels = images[keep], labels[keep]
    return images, labels


class TrainingStream:
    """Shuffled batches of labelled training examples, streamed shard by shard.

    The order in epoch ``e`` depends only on ``(seed, e)``: shard order is a permutation drawn from
    ``(seed, e)`` and the order inside shard ``i`` from ``(seed, e, i)``. Batches are consecutive slices of
    that stream (they may span shards; the last one of an epoch is short), so resuming at batch ``b``
    just skips ``b * batch_size`` examples, without reading the shards it skips entirely.

    ``read_ahead``: read (decompress) the next shard in a background thread. Worth it when the
    training computation leaves a core free (GPU training, or fewer torch threads than cores); when
    torch's threads use every core, a reader thread competing with them slows training down far more
    than reading in turn does, because torch's threads wait on each other at every operation.
    """

    def __init__(self, example_set: ExampleSet, seed: int, read_ahead: bool = False) -> None:
        self.example_set = example_set
        self.seed = int(seed)
        self.read_ahead = bool(read_ahead)
        self.paths = example_set.shards
        self.counts = [_labelled_count(p) for p in self.paths]
        self.n_examples = int(sum(self.counts))

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(self.n_examples / batch_size)

    def epoch_batches(self, epoch: int, batch_size: int, skip_batches: int = 0
                      ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.paths))
        skip = skip_batches * batch_size
        wanted: list[tuple[int, int]] = []  # (shard index, examples to skip inside it)
        for index in order:
            count = self.counts[index]
            if count == 0:
                continue
            if skip >= count:
                skip -= count
                continue
            wanted.append((int(index), skip))
            skip = 0
        if not wanted:
            return
        pending_images: list[np.ndarray] = []
        pending_labels: list[np.ndarray] = []
        pending = 0
        # With read-ahead, the next shard is decompressed (ISA-L releases the GIL) while this one trains.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as reader:
            def read(position: int) -> concurrent.futures.Future:
                if self.read_ahead:
                    return reader.submit(_read_labelled, self.paths[wanted[position][0]])
                done: concurrent.futures.Future = concurrent.futures.Future()
                done.set_result(None)  # read on demand, in this thread
                return done

            future = read(0)
            for position, (index, skip_inside) in enumerate(wanted):
                loaded = future.result()
                images, labels = loaded if loaded is not None else _read_labelled(self.paths[index])
                if position + 1 < len(wanted):
                    future = read(position + 1)
                if len(labels) != self.counts[index]:
                    raise InputError(f"example shard {self.paths[index]} changed while training "
                                     f"({len(labels)} labelled examples, expected {self.counts[index]})")
                permutation = np.random.default_rng([self.seed, epoch, index]).permutation(len(labels))
                permutation = permutation[skip_inside:]
                pending_images.append(images[permutation])
                pending_labels.append(labels[permutation])
                pending += len(permutation)
                del images, labels
                while pending >= batch_size:
                    batch_images, batch_labels, pending_images, pending_labels = _take(
                        pending_images, pending_labels, batch_size)
                    pending -= batch_size
                    yield batch_images, batch_labels
        if pending:
            yield np.concatenate(pending_images), np.concatenate(pending_labels)


def _take(images: list[np.ndarray], labels: list[np.ndarray], n: int
          ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """The first ``n`` examples of a list of chunks, and the chunks that remain."""
    taken_images, taken_labels, have = [], [], 0
    while have < n:
        need = n - have
        head_images, head_labels = images[0], labels[0]
        if len(head_labels) <= need:
            taken_images.append(head_images)
            taken_labels.append(head_labels)
            have += len(head_labels)
            images, labels = images[1:], labels[1:]
        else:
            taken_images.append(head_images[:need])
            taken_labels.append(head_labels[:need])
            images = [head_images[need:]] + images[1:]
            labels = [head_labels[need:]] + labels[1:]
            have = n
    if len(taken_images) == 1:
        return taken_images[0], taken_labels[0], images, labels
    return np.concatenate(taken_images), np.concatenate(taken_labels), images, labels


class TuneData:
    """The first ``limit`` labelled examples of the tune set (0 = all), in file order."""

    def __init__(self, example_set: ExampleSet, limit: int, in_memory_max_bytes: int) -> None:
        self.example_set = example_set
        self.limit = int(limit)
        counts = [_labelled_count(p) for p in example_set.shards]
        available = int(sum(counts))
        self.n_examples = min(available, self.limit) if self.limit else available
        height, width, channels = example_set.shape
        self.cached: tuple[np.ndarray, np.ndarray] | None = None
        if self.n_examples * height * width * channels <= in_memory_max_bytes:
            parts = list(self._stream())
            if parts:
                self.cached = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    def _stream(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        remaining = self.n_examples
        for path in self.example_set.shards:
            if remaining <= 0:
                return
            images, labels = _read_labelled(path)
            if len(labels):
                yield images[:remaining], labels[:remaining]
                remaining -= min(remaining, len(labels))

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        chunks = [self.cached] if self.cached is not None else self._stream()
        for images, labels in chunks:
            for start in range(0, len(labels), batch_size):
                yield images[start:start + batch_size], labels[start:start + batch_size]


# --------------------------------------------------------------------------------------------------
# metrics


def classification_metrics(confusion: np.ndarray, loss_sum: float, prefix: str = "tune") -> dict[str, float]:
    """Accuracy, per-class F1, support-weighted and macro F1 from a 3x3 confusion matrix [truth, predicted]."""
    confusion = np.asarray(confusion, dtype=np.float64)
    total = confusion.sum()
    true_positive = np.diag(confusion)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_positive / predicted, 0.0)
        recall = np.where(support > 0, true_positive / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    metrics = {
        f"{prefix}/loss": float(loss_sum / total) if total else float("nan"),
        f"{prefix}/categorical_accuracy": float(true_positive.sum() / total) if total else 0.0,
        f"{prefix}/f1_weighted": float((f1 * support).sum() / total) if total else 0.0,
        f"{prefix}/f1_macro": float(f1.mean()),
    }
    for key, value in zip(_CLASS_KEYS, f1):
        metrics[f"{prefix}/f1_{key}"] = float(value)
    metrics[f"{prefix}/examples"] = float(total)
    return metrics


@torch.no_grad()
def evaluate(model: nn.Module, tune: TuneData, label_smoothing: float, device: torch.device,
             batch_size: int = 512) -> dict[str, float]:
    """Tune metrics of ``model`` (eval mode): loss (with label smoothing), accuracy, F1s."""
    was_training = model.training
    model.eval()
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    loss_sum = 0.0
    try:
        for images, labels in tune.batches(batch_size):
            logits = model(torch.from_numpy(images).to(device))
            targets = torch.from_numpy(labels.astype(np.int64)).to(device)
            loss_sum += float(F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing,
                                              reduction="sum"))
            predicted = logits.argmax(dim=1).cpu().numpy()
            np.add.at(confusion, (labels.astype(np.int64), predicted), 1)
    finally:
        model.train(was_training)
    return classification_metrics(confusion, loss_sum)


# --------------------------------------------------------------------------------------------------
# training machinery


class WeightEMA:
    """Exponential moving average of a model's parameters: ``ema = m * ema + (1 - m) * weights`` per step.

    Batch-norm running statistics are already averages; they are copied from the model, not averaged.
    """

    def __init__(self, model: nn.Module, momentum: float) -> None:
        self.momentum = float(momentum)
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        averaged = list(self.model.parameters())
        current = [p.detach() for p in model.parameters()]
        torch._foreach_mul_(averaged, self.momentum)
        torch._foreach_add_(averaged, current, alpha=1.0 - self.momentum)
        for mine, theirs in zip(self.model.buffers(), model.buffers()):
            mine.copy_(theirs)


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """``sum(w**2)`` over convolution and linear kernels (not biases or batch-norm scales)."""
    kernels = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return torch.stack([k.pow(2).sum() for k in kernels]).sum()


def training_objective(logits: torch.Tensor, targets: torch.Tensor, model: nn.Module, config: TrainConfig
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy with label smoothing, the minimised objective = that + weight_decay * L2 of kernels).

    Label smoothing as Keras' CategoricalCrossentropy: targets become ``(1 - s) * one_hot + s / 3``.
    """
    loss = F.cross_entropy(logits, targets, label_smoothing=config.label_smoothing)
    if not config.weight_decay:
        return loss, loss
    return loss, loss + config.weight_decay * l2_penalty(model)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        # Decoupled weight decay (Keras' optimizer weight_decay) is applied by hand in the step, because
        # torch's SGD weight_decay is an L2 term folded into the gradient.
        return torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=config.momentum,
                               nesterov=config.momentum > 0)
    # Keras' Adam with weight_decay decouples it, which is torch's AdamW (Adam when the decay is 0).
    return torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.optimizer_weight_decay)


def distributed_context() -> tuple[int, int]:
    """(rank, world size) of an initialised torch.distributed process group, else (0, 1).

    This is the documented hook for multi-GPU training (module docstring); :func:`train` is single-process.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def select_device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 convolutions in hardware (emulated bfloat16 is slower than float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a private oneDNN query: absent from some builds
        return False


def training_dtype(config: TrainConfig, device: torch.device) -> torch.dtype:
    """The dtype the training steps compute in (:attr:`TrainConfig.precision` resolved for ``device``)."""
    if config.precision == "bfloat16" or (config.precision == "auto" and native_bfloat16(device)):
        return torch.bfloat16
    return torch.float32


def _core_free_for_reading(device: torch.device) -> bool:
    """Whether a background shard reader would have a core to itself (see :class:`TrainingStream`)."""
    return device.type != "cpu" or torch.get_num_threads() < (os.cpu_count() or 1)


def dataset_signature(example_set: ExampleSet) -> dict[str, Any]:
    """What identifies an example set for resuming: geometry, channels, counts and shard names."""
    info = example_set.info
    return {"height": info["height"], "width": info["width"], "channels": list(info["channels"]),
            "n_examples": int(info["n_examples"]), "shards": list(info["shards"])}


def _open_set(value: ExampleSet | str | os.PathLike) -> ExampleSet:
    return value if isinstance(value, ExampleSet) else ExampleSet.open(value)


LOG_NAME, RECORD_NAME = "train_log.csv", "best_checkpoint.json"
LOG_COLUMNS = ("step", "epoch", "event", "learning_rate", "train_loss", "tune_loss", "tune_accuracy",
               "tune_f1_weighted", "tune_f1_homref", "tune_f1_het", "tune_f1_homalt", "examples_per_second",
               "wall_seconds")


@dataclass
class TrainResult:
    """What a training run produced (also what a completed run's ``best_checkpoint.json`` records)."""

    experiment_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    log_path: Path
    best_step: int
    best_metrics: dict[str, float]
    steps: int
    epochs: float
    stopped_by: str  # "num_epochs", "early_stopping" or "max_steps"
    complete: bool
    config: TrainConfig
    resumed_from_step: int | None = None
    reused: bool = False  # True when a completed run's record was returned without training
    examples_per_second: float = 0.0
    wall_seconds: float = 0.0
    init: dict[str, Any] = field(default_factory=dict)
    precision: str = ""  # the dtype the training steps computed in ("" in records written before it was kept)


@dataclass
class _Progress:
    """The mutable state of a run, saved in ``last.pt``."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_value: float | None = None
    best_step: int | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    evals_without_improvement: int = 0
    finished: str = ""  # why the run ended ("" = still running)
    train_loss_sum: float = 0.0
    train_loss_steps: int = 0
    interval_examples: int = 0
    interval_seconds: float = 0.0
    total_examples: int = 0
    total_train_seconds: float = 0.0
    wall_seconds: float = 0.0
    saved_checkpoints: list[int] = field(default_factory=list)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _rate(examples: int, seconds: float) -> float:
    return float(examples / seconds) if seconds > 0 else 0.0


def _result_from_record(experiment_dir: Path, record: Mapping[str, Any], *, reused: bool,
                        resumed_from: int | None) -> TrainResult:
    return TrainResult(
        experiment_dir=experiment_dir, best_checkpoint=experiment_dir / record["best_checkpoint"],
        last_checkpoint=experiment_dir / record["last_checkpoint"], log_path=experiment_dir / LOG_NAME,
        best_step=int(record["best_step"]), best_metrics=dict(record["best_metrics"]), steps=int(record["steps"]),
        epochs=float(record["epochs"]), stopped_by=str(record["stopped_by"]), complete=bool(record["complete"]),
        config=TrainConfig.from_dict(record["config"]), resumed_from_step=resumed_from, reused=reused,
        examples_per_second=float(record["examples_per_second"]), wall_seconds=float(record["wall_seconds"]),
        init=dict(record.get("init") or {}), precision=str(record.get("precision", "")))


def _comparable(config: Mapping[str, Any]) -> dict[str, Any]:
    """The keys that decide a run's result; a key a recorded config predates counts at its default (a
    run recorded before the key existed ran with that behaviour)."""
    defaults = TrainConfig().to_dict()
    return {k: config.get(k, defaults[k]) for k in defaults if k not in EXECUTION_KEYS} | \
        {k: v for k, v in config.items() if k not in defaults}


@contextlib.contextmanager
def _torch_settings(config: TrainConfig) -> Iterator[None]:
    """Deterministic algorithms and the thread count for the run; the caller's settings are restored."""
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous_deterministic, warn_only=previous_warn_only)
        torch.set_num_threads(previous_threads)


def build_initial_model(config: TrainConfig, height: int, width: int, channels: Sequence[str]
                        ) -> tuple[PileupClassifier, dict[str, Any]]:
    """The model a run starts from: seeded random weights, then ``init_checkpoint`` if given.

    Returns the model and a report of what the init checkpoint contributed ({} without one).
    """
    torch.manual_seed(config.seed)
    model = build_model(config.model_type, height, width, channels, config.backbone_dropout_rate)
    for layer in batch_norm_layers(model):
        layer.momentum = config.batch_norm_momentum
    report: dict[str, Any] = {}
    if config.init_checkpoint:
        init = initialise_from_checkpoint(model, config.init_checkpoint)
        report = {"checkpoint": str(init.checkpoint), "copied_channels": init.copied_channels,
                  "new_channels": init.new_channels, "dropped_channels": init.dropped_channels}
    return model, report


def train(train_set: ExampleSet | str | os.PathLike, tune_set: ExampleSet | str | os.PathLike,
          config: TrainConfig, experiment_dir: str | os.PathLike, device: str | torch.device | None = None,
          progress: bool = True, force: bool = False, restart_on_change: bool = False) -> TrainResult:
    """Train a genotype classifier on ``train_set``, selecting checkpoints on ``tune_set`` (module docstring).

    ``device``: None = CUDA when available, else the CPU. ``force``: discard whatever ``experiment_dir``
    holds (a completed run, or a run to resume) and train from the start. ``restart_on_change``: when
    ``experiment_dir`` holds a run with another config or other examples, discard it and start again
    (as a stage whose parameters changed) instead of refusing.
    """
    validate_config(config)
    train_set, tune_set = _open_set(train_set), _open_set(tune_set)
    if distributed_context()[1] > 1:
        raise NotImplementedError("multi-process (DistributedDataParallel) training is not built yet; "
                                  "see lowcov.train.distributed_context for the hook")
    channels = list(train_set.info["channels"])
    if (tune_set.shape, list(tune_set.info["channels"])) != (train_set.shape, channels):
        raise InputError(f"tune set {tune_set.directory} has geometry {tune_set.shape} and channels "
                         f"{tune_set.info['channels']} but training set {train_set.directory} has "
                         f"{train_set.shape} and {channels}")
    trainer = _Trainer(train_set, tune_set, config, Path(experiment_dir), select_device(device), progress)
    if force:
        trainer.clear()
    else:
        if restart_on_change and trainer.last_path.exists() and trainer.differing_keys() is not None:
            logger.info("%s: config or examples changed (%s); training again from the start",
                        trainer.dir, trainer.differing_keys() or "the example sets")
            trainer.clear()
        record = trainer.completed_record()
        if record is not None:
            logger.info("%s: training already complete with this config (best step %s); reusing it "
                        "(force=True to retrain)", trainer.dir, record["best_step"])
            return _result_from_record(trainer.dir, record, reused=True, resumed_from=None)
    with _torch_settings(config):
        return trainer.run()


class _Trainer:
    """One invocation of :func:`train`: model, optimiser, EMA, progress, and the files in ``experiment_dir``."""

    def __init__(self, train_set: ExampleSet, tune_set: ExampleSet, config: TrainConfig, experiment_dir: Path,
                 device: torch.device, show_progress: bool) -> None:
        self.train_set, self.tune_set, self.config = train_set, tune_set, config
        self.dir = experiment_dir
        self.checkpoint_dir = experiment_dir / "checkpoints"
        self.log_path = experiment_dir / LOG_NAME
        self.record_path = experiment_dir / RECORD_NAME
        self.best_path = self.checkpoint_dir / "best.pt"
        self.last_path = self.checkpoint_dir / "last.pt"
        self.device = device
        self.dtype = training_dtype(config, device)
        self.show_progress = show_progress
        self.data_signature = {"train": dataset_signature(train_set), "tune": dataset_signature(tune_set)}
        self.init_report: dict[str, Any] = {}
        self.state = _Progress()
        self.steps_per_epoch = 1  # set by run() once the training set has been scanned
        self.resumed_from: int | None = None
        self._segment_start = time.perf_counter()
        # Only a state between steps (not mid-update or mid-evaluation) may be saved on Ctrl-C.
        self._consistent = True

    # ----- the run -----
    def run(self) -> TrainResult:
        config, device = self.config, self.device
        height, width, _ = self.train_set.shape
        self.stream = TrainingStream(self.train_set, config.seed, read_ahead=_core_free_for_reading(device))
        if self.stream.n_examples == 0:
            raise InputError(f"training set {self.train_set.directory} has no labelled examples")
        self.tune = TuneData(self.tune_set, config.num_validation_examples, config.tune_in_memory_max_bytes)
        if self.tune.n_examples == 0:
            raise InputError(f"tune set {self.tune_set.directory} has no labelled examples")
        self.steps_per_epoch = self.stream.steps_per_epoch(config.batch_size)
        self.eval_batch_size = max(64, min(config.batch_size, 1024))

        self.model, self.init_report = build_initial_model(config, height, width, self.train_set.info["channels"])
        self.model.to(device)
        self.optimizer = make_optimizer(self.model, config)
        self.ema = WeightEMA(self.model, config.ema_momentum) if config.use_ema else None
        # Tuning, checkpoints and the best checkpoint use the EMA weights, as DeepVariant does.
        self.evaluated_model = self.ema.model if self.ema is not None else self.model
        if self.last_path.exists():
            self._resume()
        else:
            self.clear()
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            self._write_log_header()
            torch.manual_seed(config.seed + 1)  # the dropout stream, independent of how the model was built
        self._segment_start = time.perf_counter() - self.state.wall_seconds

        state = self.state
        bar = None
        if self.show_progress:
            from tqdm import tqdm
            # disable=None: a bar on a terminal, none in a notebook run by papermill (the log has the figures)
            bar = tqdm(total=self.steps_per_epoch * config.num_epochs, initial=state.step, unit="step",
                       desc="train", dynamic_ncols=True, disable=None)
        try:
            if state.step == 0 and config.init_checkpoint and state.best_step is None:
                # DeepVariant evaluates a warm-start model before training: its score is the bar to beat.
                self._consistent = False
                self._evaluate_and_checkpoint("init")
                self._consistent = True
            if self._max_steps_reached():
                state.finished = "max_steps"  # resumed under a limit it had already reached
            while not state.finished and state.epoch < config.num_epochs:
                epoch = state.epoch
                for images, labels in self.stream.epoch_batches(epoch, config.batch_size, state.batch_in_epoch):
                    loss, learning_rate = self._train_step(images, labels)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{learning_rate:.3g}", refresh=False)
                    self._after_step()
                    self._consistent = True
                    if state.finished:
                        break
            if not state.finished:
                state.finished = "num_epochs"
                self._save_last()
        except KeyboardInterrupt:
            if self._consistent:
                logger.warning("interrupted at step %d; saving %s to resume from", state.step, self.last_path)
                self._save_last()
            else:
                logger.warning("interrupted mid-step; a re-run resumes from the last saved %s", self.last_path)
            raise
        finally:
            if bar is not None:
                bar.close()

        self._write_record(complete=True)
        logger.info("%s: finished (%s) after %d steps; best step %s with %s=%.5f", self.dir, state.finished,
                    state.step, state.best_step, config.best_checkpoint_metric, state.best_value)
        record = json.loads(self.record_path.read_text())
        return _result_from_record(self.dir, record, reused=False, resumed_from=self.resumed_from)

    def _train_step(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        """One optimiser update (plus EMA); returns the batch's cross-entropy and the learning rate used."""
        config, state, model = self.config, self.state, self.model
        self._consistent = False  # until _after_step has run
        started = time.perf_counter()
        learning_rate = learning_rate_at(state.step, config, self.steps_per_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        model.train()
        if config.freeze_batch_norm:
            for layer in batch_norm_layers(model):
                layer.eval()
        inputs = torch.from_numpy(images).to(self.device, non_blocking=True)
        targets = torch.from_numpy(labels.astype(np.int64)).to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            logits = model(inputs)
        loss, objective = training_objective(logits.float(), targets, model, config)
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        if config.optimizer == "sgd" and config.optimizer_weight_decay:
            with torch.no_grad():  # decoupled weight decay, as Keras' SGD(weight_decay=...)
                torch._foreach_mul_(list(model.parameters()), 1.0 - learning_rate * config.optimizer_weight_decay)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(model)
        loss_value = float(loss.detach())
        elapsed = time.perf_counter() - started
        state.train_loss_sum += loss_value
        state.train_loss_steps += 1
        state.interval_examples += len(labels)
        state.interval_seconds += elapsed
        state.total_examples += len(labels)
        state.total_train_seconds += elapsed
        state.step += 1
        state.batch_in_epoch += 1
        if state.batch_in_epoch >= self.steps_per_epoch:
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
        return loss_value, learning_rate

    def _after_step(self) -> None:
        """Tune, log, early-stop and max_steps decisions after a step."""
        config, state = self.config, self.state
        scheduled = state.batch_in_epoch == 0 or bool(
            config.tune_every_steps and state.step % config.tune_every_steps == 0)
        if scheduled:
            self._evaluate_and_checkpoint("tune")
            if config.early_stopping_patience and state.evals_without_improvement >= config.early_stopping_patience:
                logger.info("early stopping at step %d: %d evaluations without improvement",
                            state.step, state.evals_without_improvement)
                state.finished = "early_stopping"
        elif config.log_every_steps and state.step % config.log_every_steps == 0:
            self._log_row("train")
        if not state.finished and self._max_steps_reached():
            state.finished = "max_steps"
            self._stop_at_max_steps(scheduled)

    def _max_steps_reached(self) -> bool:
        config, state = self.config, self.state
        return bool(config.max_steps) and state.step >= config.max_steps and state.epoch < config.num_epochs

    def _evaluate_and_checkpoint(self, event: str) -> None:
        """A scheduled evaluation: log row, ckpt-<step>.pt, best tracking, early-stopping count, last.pt."""
        config, state = self.config, self.state
        metrics = evaluate(self.evaluated_model, self.tune, config.label_smoothing, self.device, self.eval_batch_size)
        value = metrics[config.best_checkpoint_metric]
        logger.info("step %d: %s=%.5f accuracy=%.4f loss=%.4f", state.step, config.best_checkpoint_metric,
                    value, metrics["tune/categorical_accuracy"], metrics["tune/loss"])
        self._log_row(event, metrics)
        checkpoint = self.checkpoint_dir / f"ckpt-{state.step}.pt"
        self._save_evaluated(checkpoint, metrics)
        if state.step not in state.saved_checkpoints:
            state.saved_checkpoints.append(state.step)
        while len(state.saved_checkpoints) > max(1, config.keep_checkpoints):
            (self.checkpoint_dir / f"ckpt-{state.saved_checkpoints.pop(0)}.pt").unlink(missing_ok=True)
        if metric_is_better(config.best_checkpoint_metric, value, state.best_value):
            state.best_value, state.best_step, state.best_metrics = value, state.step, dict(metrics)
            state.evals_without_improvement = 0
            shutil.copyfile(checkpoint, self.best_path)
        else:
            state.evals_without_improvement += 1
        self._write_record(complete=False)
        self._save_last()

    def _stop_at_max_steps(self, scheduled: bool) -> None:
        """Stop at ``max_steps`` so that raising the limit later resumes exactly as if never stopped.

        ``last.pt`` is saved first, with the best-checkpoint tracking of the scheduled evaluations only.
        The final weights are then evaluated and logged (event "stop"); they become ``best.pt`` only if no
        scheduled evaluation has happened yet (a resumed run's first evaluation then replaces it, as it
        would have in an uninterrupted run).
        """
        self._save_last()
        if scheduled:
            return
        state = self.state
        metrics = evaluate(self.evaluated_model, self.tune, self.config.label_smoothing, self.device,
                           self.eval_batch_size)
        self._log_row("stop", metrics)
        if state.best_step is None:
            self._save_evaluated(self.best_path, metrics)
            state.best_step, state.best_metrics = state.step, dict(metrics)
            state.best_value = metrics[self.config.best_checkpoint_metric]

    # ----- resuming -----
    def completed_record(self) -> dict[str, Any] | None:
        """The record of a completed run with this config and these examples, if ``experiment_dir`` has one."""
        if not self.record_path.exists():
            return None
        record = json.loads(self.record_path.read_text())
        recorded, wanted = record.get("config") or {}, self.config.to_dict()
        # max_steps decides where a run stopped: a larger limit continues it
        if (record.get("complete") and _comparable(recorded) == _comparable(wanted)
                and recorded.get("max_steps", 0) == wanted["max_steps"]
                and record.get("data") == self.data_signature and self.best_path.exists()):
            return record
        return None

    def differing_keys(self) -> list[str] | None:
        """None when ``last.pt`` belongs to this config and these examples; else the config keys that
        differ (an empty list when only the examples differ)."""
        payload = read_checkpoint_payload(self.last_path)
        saved, wanted = payload.get("train_config", {}), self.config.to_dict()
        if payload.get("extra", {}).get("data") == self.data_signature and _comparable(saved) == _comparable(wanted):
            return None
        saved, wanted = _comparable(saved), _comparable(wanted)
        return sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))

    def _resume(self) -> None:
        payload = read_checkpoint_payload(self.last_path)
        extra = payload.get("extra", {})
        differing = self.differing_keys()
        if differing is not None:
            raise InputError(
                f"{self.dir} holds a training run with a different config or different examples "
                f"(differing keys: {differing or 'the example sets'}); use another experiment_dir or force=True")
        self.model.load_state_dict(payload["state_dict"])
        self.optimizer.load_state_dict(extra["optimizer"])
        if self.ema is not None:
            self.ema.model.load_state_dict(extra["ema_state_dict"])
        self.state = _Progress(**extra["progress"])
        torch.set_rng_state(extra["torch_rng_state"])
        if self.device.type == "cuda" and extra.get("cuda_rng_state") is not None:
            torch.cuda.set_rng_state(extra["cuda_rng_state"])
        self.init_report = extra.get("init_report", {})
        self.resumed_from = self.state.step
        if self.state.finished == "max_steps":
            self.state.finished = ""  # the limit that stopped it may have been raised
        self._truncate_log(self.state.step)
        logger.info("%s: resuming from step %d (epoch %.2f)", self.dir, self.state.step, self._epoch_float())

    # ----- files -----
    def clear(self) -> None:
        for path in (self.log_path, self.record_path):
            path.unlink(missing_ok=True)
        if self.checkpoint_dir.exists():
            shutil.rmtree(self.checkpoint_dir)

    def _save_last(self) -> None:
        """The full training state, to resume from."""
        self.state.wall_seconds = time.perf_counter() - self._segment_start
        extra = {
            "optimizer": self.optimizer.state_dict(),
            "ema_state_dict": self.ema.model.state_dict() if self.ema is not None else None,
            "progress": dataclasses.asdict(self.state),
            "torch_rng_state": torch.get_rng_state(),
            "cuda_rng_state": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
            "data": self.data_signature,
            "init_report": self.init_report,
        }
        save_checkpoint(self.last_path, self.model, train_config=self.config.to_dict(), step=self.state.step,
                        epoch=self._epoch_float(), extra=extra)

    def _save_evaluated(self, path: Path, metrics: Mapping[str, float]) -> None:
        """The evaluated weights (EMA when use_ema) with their tune metrics: ckpt-<step>.pt and best.pt."""
        save_checkpoint(path, self.evaluated_model, train_config=self.config.to_dict(), step=self.state.step,
                        epoch=self._epoch_float(), extra={"metrics": dict(metrics), "use_ema": self.config.use_ema})

    def _write_log_header(self) -> None:
        with atomic_output(self.log_path) as tmp:
            with open(tmp, "w", newline="") as handle:
                csv.writer(handle).writerow(LOG_COLUMNS)

    def _truncate_log(self, step: int) -> None:
        """Keep the rows up to ``step`` (a resumed run rewrites what came after); drop 'stop' rows."""
        rows: list[dict[str, str]] = []
        if self.log_path.exists():
            with open(self.log_path, newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= step and r["event"] != "stop"]
        with atomic_output(self.log_path) as tmp:
            with open(tmp, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
                writer.writeheader()
                writer.writerows(rows)

    def _log_row(self, event: str, metrics: Mapping[str, float] | None = None) -> None:
        """Append a row to train_log.csv; the training-loss and throughput averages restart after it."""
        state = self.state
        row: dict[str, Any] = {
            "step": state.step, "epoch": round(self._epoch_float(), 4), "event": event,
            "learning_rate": learning_rate_at(max(0, state.step - 1), self.config, self.steps_per_epoch),
            "train_loss": state.train_loss_sum / state.train_loss_steps if state.train_loss_steps else None,
            "examples_per_second": _rate(state.interval_examples, state.interval_seconds) or None,
            "wall_seconds": round(time.perf_counter() - self._segment_start, 2),
        }
        if metrics:
            row.update({"tune_loss": metrics["tune/loss"], "tune_accuracy": metrics["tune/categorical_accuracy"],
                        "tune_f1_weighted": metrics["tune/f1_weighted"], "tune_f1_homref": metrics["tune/f1_homref"],
                        "tune_f1_het": metrics["tune/f1_het"], "tune_f1_homalt": metrics["tune/f1_homalt"]})
        with open(self.log_path, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=LOG_COLUMNS).writerow({k: _fmt(row.get(k)) for k in LOG_COLUMNS})
        state.train_loss_sum, state.train_loss_steps = 0.0, 0
        state.interval_examples, state.interval_seconds = 0, 0.0

    def _write_record(self, complete: bool) -> None:
        state = self.state
        record = {
            "complete": complete,
            "stopped_by": state.finished or None,
            "best_checkpoint_metric": self.config.best_checkpoint_metric,
            "best_step": state.best_step,
            "best_value": state.best_value,
            "best_metrics": state.best_metrics,
            "best_checkpoint": str(self.best_path.relative_to(self.dir)),
            "last_checkpoint": str(self.last_path.relative_to(self.dir)),
            "steps": state.step,
            "epochs": self._epoch_float(),
            "examples_per_second": _rate(state.total_examples, state.total_train_seconds),
            "wall_seconds": state.wall_seconds,
            "precision": str(self.dtype).removeprefix("torch."),
            "init": self.init_report,
            "config": self.config.to_dict(),
            "data": self.data_signature,
        }
        with atomic_output(self.record_path) as tmp:
            tmp.write_text(json.dumps(record, indent=1, default=str) + "\n")

    def _epoch_float(self) -> float:
        return self.state.epoch + self.state.batch_in_epoch / max(1, self.steps_per_epoch)
