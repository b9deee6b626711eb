"""What DeepVariant's ``train`` leaves in its experiment directory: checkpoints and TensorBoard curves.

**Checkpoints.** At every tune, ``train`` saves the EMA weights as
``<experiment_dir>/checkpoints/ema/checkpoint-<step>-<metric:.5f>-1.{index,data-00000-of-00001}``, the
metric being ``best_checkpoint_metric`` (``tune/f1_weighted``) of that tune, whether or not it improved
(deepvariant/train.py). A DeepVariant user deploys the one with the best metric;
:func:`select_checkpoint` does the same (highest metric, lowest for a loss; ties to the earlier step).
A prefix is a checkpoint only with its ``.index`` file (:func:`require_checkpoint`).

**Curves.** ``train`` writes scalars through clu's metric writer into ``events.out.tfevents.*`` files:
TFRecord files (uncompressed) of ``tensorflow.Event`` protos (``tensorflow/core/util/event.proto``:
``wall_time`` = 1 double, ``step`` = 2 int64, ``summary`` = 5). A ``Summary`` holds ``Value``s (``tag`` =
1, ``simple_value`` = 2 float, ``tensor`` = 8 ``TensorProto``); TensorFlow 2 writes scalars as tensors
(``dtype`` = 1, ``tensor_content`` = 4, ``float_val`` = 5, ``double_val`` = 6, ``int_val`` = 7,
``int64_val`` = 10). :func:`read_event_scalars` decodes them with :mod:`lowcov.tfrecord`'s wire helpers,
without TensorFlow.
"""
from __future__ import annotations

import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from .. import InputError
from ..tfrecord import fields, iter_records, repeated_ints

if TYPE_CHECKING:
    import pandas as pd

CHECKPOINT_NAME = re.compile(r"^checkpoint-(?P<step>\d+)-(?P<metric>-?(?:\d+(?:\.\d*)?|nan|inf))(?:-(?P<counter>\d+))?$")
DATA_SUFFIX = ".data-00000-of-00001"


@dataclass(frozen=True)
class Checkpoint:
    prefix: Path
    step: int
    metric: float


def require_checkpoint(prefix: str | os.PathLike) -> Path:
    """``prefix`` if TensorFlow can load it: ``<prefix>.index`` and a ``<prefix>.data-*`` file exist."""
    prefix = Path(prefix)
    index = Path(f"{prefix}.index")
    if not index.exists():
        raise InputError(f"{prefix}: not a checkpoint: {index.name} is missing (a TensorFlow checkpoint prefix "
                         f"needs <prefix>.index and <prefix>{DATA_SUFFIX}; give the prefix, not a file)")
    if not list(prefix.parent.glob(f"{prefix.name}.data-*")):
        raise InputError(f"{prefix}: not a checkpoint: no {prefix.name}.data-* file beside its index")
    return prefix


def list_checkpoints(experiment_dir: str | os.PathLike) -> list[Checkpoint]:
    """The EMA checkpoints of a run, by step; names that do not parse are an error naming them."""
    ema = Path(experiment_dir) / "checkpoints" / "ema"
    found = []
    for index in sorted(ema.glob("checkpoint-*.index")):
        name = index.name.removesuffix(".index")
        match = CHECKPOINT_NAME.match(name)
        if not match:
            raise InputError(f"{index}: not a checkpoint-<step>-<metric> name")
        found.append(Checkpoint(ema / name, int(match["step"]), float(match["metric"])))
    return sorted(found, key=lambda c: c.step)


def select_checkpoint(experiment_dir: str | os.PathLike, metric: str = "tune/f1_weighted") -> Checkpoint:
    """The deployed checkpoint: the best ``metric`` among the saved EMA checkpoints (lower is better
    for a loss), the earlier step on a tie; it must load (index and data) and have ``example_info.json``
    beside it, where ``make_examples`` looks for the model's channels."""
    saved = [c for c in list_checkpoints(experiment_dir) if not math.isnan(c.metric)]
    if not saved:
        raise InputError(f"{experiment_dir}: no checkpoints/ema/checkpoint-<step>-<metric>.index (did train "
                         "run to its first tune?)")
    sign = 1.0 if metric.endswith("loss") else -1.0
    best = min(saved, key=lambda c: (sign * c.metric, c.step))
    require_checkpoint(best.prefix)
    if not (best.prefix.parent / "example_info.json").exists():
        raise InputError(f"{best.prefix.parent}: no example_info.json beside the checkpoint; make_examples "
                         "needs it to choose the model's channels (copy the training examples' one)")
    return best


# --------------------------------------------------------------------------------------------------
# TensorBoard event files

_TF_FLOAT, _TF_DOUBLE, _TF_INT32, _TF_INT64 = 1, 2, 3, 9
_CONTENT_DTYPES = {_TF_FLOAT: "<f4", _TF_DOUBLE: "<f8", _TF_INT32: "<i4", _TF_INT64: "<i8"}


def _tensor_scalar(message: memoryview) -> float | None:
    dtype, values = None, []
    for number, wire, value, _, _ in fields(message):
        if number == 1 and wire == 0:
            dtype = value
        elif number == 4 and wire == 2 and dtype in _CONTENT_DTYPES:
            values.extend(np.frombuffer(bytes(value), _CONTENT_DTYPES[dtype]).tolist())
        elif number == 5:
            values.extend(np.frombuffer(bytes(value), "<f4").tolist() if wire == 2
                          else [struct.unpack("<f", struct.pack("<I", value))[0]])
        elif number == 6:
            values.extend(np.frombuffer(bytes(value), "<f8").tolist() if wire == 2
                          else [struct.unpack("<d", struct.pack("<Q", value))[0]])
        elif number in (7, 10):
            values.extend(repeated_ints(value, wire))
    return float(values[0]) if len(values) == 1 else None


def _summary_values(summary: memoryview) -> Iterator[tuple[str, float]]:
    for number, wire, value, _, _ in fields(summary):
        if number != 1 or wire != 2:
            continue
        tag, scalar = "", None
        for inner, inner_wire, item, _, _ in fields(value):
            if inner == 1 and inner_wire == 2:
                tag = bytes(item).decode()
            elif inner == 2 and inner_wire == 5:
                scalar = struct.unpack("<f", struct.pack("<I", item))[0]
            elif inner == 8 and inner_wire == 2:
                scalar = _tensor_scalar(item)
        if tag and scalar is not None:
            yield tag, float(scalar)


def read_event_scalars(experiment_dir: str | os.PathLike) -> "pd.DataFrame":
    """Every scalar of the run's ``events.out.tfevents.*`` files (searched recursively): columns
    ``step``, ``tag`` (``train/loss``, ``tune/f1_weighted``, ``train/learning_rate``, ``epoch``, ...),
    ``value``, ``wall_time`` and ``file``, sorted by step and tag."""
    import pandas as pd

    files = sorted(Path(experiment_dir).rglob("events.out.tfevents.*"))
    if not files:
        raise InputError(f"{experiment_dir}: no events.out.tfevents.* files (train writes them into its "
                         "--experiment_dir)")
    rows = []
    for path in files:
        for number, record in enumerate(iter_records(path, compressed=False)):
            step, wall_time, summary = 0, float("nan"), None
            try:
                for field_number, wire, value, _, _ in fields(memoryview(record)):
                    if field_number == 1 and wire == 1:
                        wall_time = struct.unpack("<d", struct.pack("<Q", value))[0]
                    elif field_number == 2 and wire == 0:
                        step = value
                    elif field_number == 5 and wire == 2:
                        summary = value
                values = list(_summary_values(summary)) if summary is not None else []
            except (ValueError, UnicodeDecodeError) as exc:
                raise InputError(f"{path}: record {number} is not a tensorflow.Event ({exc})") from exc
            rows.extend({"step": int(step), "tag": tag, "value": scalar, "wall_time": wall_time, "file": path.name}
                        for tag, scalar in values)
    table = pd.DataFrame(rows, columns=["step", "tag", "value", "wall_time", "file"])
    return table.sort_values(["step", "tag"], kind="stable").reset_index(drop=True)


def training_curves(experiment_dir: str | os.PathLike) -> "pd.DataFrame":
    """One row per step, one column per tag (the last value written when a step repeats one)."""
    scalars = read_event_scalars(experiment_dir)
    return scalars.pivot_table(index="step", columns="tag", values="value", aggfunc="last").reset_index()


def write_train_log(experiment_dir: str | os.PathLike, out_csv: str | os.PathLike,
                    metric: str = "tune/f1_weighted") -> Path:
    """The run's curves in lowcov's training-log columns (``step``, ``event``, ``train_loss``, ``tune_loss``,
    ``tune_f1_weighted``), so the chapters draw DeepVariant's runs as they draw lowcov's: a row per step
    that logged a training loss (``train``) or a tune ``metric`` (``tune``)."""
    import pandas as pd

    from ..fileio import atomic_output

    curves = training_curves(experiment_dir)
    column = {"train/loss": "train_loss", "tune/loss": "tune_loss", metric: "tune_f1_weighted"}
    log = pd.DataFrame({"step": curves["step"]})
    for tag, name in column.items():
        log[name] = curves[tag] if tag in curves else float("nan")
    log.insert(1, "event", ["tune" if pd.notna(v) else "train" for v in log["tune_f1_weighted"]])
    with atomic_output(out_csv) as tmp:
        log.to_csv(tmp, index=False)
    return Path(out_csv)
