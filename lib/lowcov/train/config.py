"""The training configuration: DeepVariant 1.8's ``dv_config.py:get_wgs_config`` keys and defaults, the
case study's override lists verbatim, the override parser, and the learning-rate schedule.
"""
from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import re
import typing
from dataclasses import dataclass
from typing import Any, Mapping, Sequence


from .. import InputError
from ..model import ARCHITECTURES, DEEPVARIANT_ARCHITECTURE

logger = logging.getLogger(__name__)


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
    #: checkpoint to fine-tune from: a ``.pt`` written by lowcov or, with ``model_type='inception_v3'``,
    #: a DeepVariant checkpoint prefix (``prefix.index`` + ``prefix.data-*``, needs ``lowcov[deepvariant]``);
    #: '' = random initialisation
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
    #: ``compact`` (CPU-sized default), ``inception`` (a reduced InceptionV3 for GPUs) or ``inception_v3``
    #: (DeepVariant's own network, :mod:`lowcov.dvmodel`; DeepVariant's ``config.model_type``)
    model_type: str = "compact"
    #: fine-tuning ``inception_v3`` from a checkpoint made for other channels: copy the first convolution's
    #: weights for the channels both have (DeepVariant does so unasked); false refuses such a start
    copy_overlapping_channels: bool = False
    #: also write the selected checkpoint in DeepVariant's format (``inception_v3`` only):
    #: ``experiment_dir/deepvariant/best.ckpt`` + ``example_info.json``, for DeepVariant's ``call_variants``
    write_deepvariant_checkpoint: bool = False
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
    #: keep the training set decompressed in memory up to this size (read once, not once per epoch)
    train_in_memory_max_bytes: int = 1024 ** 3

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
EXECUTION_KEYS = frozenset({"max_steps", "num_threads", "keep_checkpoints", "tune_in_memory_max_bytes",
                            "train_in_memory_max_bytes", "write_deepvariant_checkpoint"})

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
    elif config.write_deepvariant_checkpoint and config.model_type != DEEPVARIANT_ARCHITECTURE:
        problems.append(f"write_deepvariant_checkpoint needs model_type={DEEPVARIANT_ARCHITECTURE!r} "
                        f"(DeepVariant's network), got {config.model_type!r}")
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


def metric_is_better(metric: str, candidate: float, best: float | None) -> bool:
    if best is None:
        return True
    return candidate < best if metric.endswith("loss") else candidate > best


# --------------------------------------------------------------------------------------------------
# learning-rate schedule


def planned_steps(config: TrainConfig, n_train: int) -> tuple[int, int]:
    """(steps per epoch, steps) a run of ``config`` on ``n_train`` examples takes unless early stopping ends
    it: ``ceil(n_train / batch_size)`` per epoch (every example is seen each epoch) for ``num_epochs``,
    capped by ``max_steps`` when set."""
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    steps = steps_per_epoch * config.num_epochs
    return steps_per_epoch, min(steps, config.max_steps) if config.max_steps else steps


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
