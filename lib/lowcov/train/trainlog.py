"""The training log and a run's progress: ``train_log.csv`` (its columns, header, rows and truncation on
resume) and :class:`_Progress`, the mutable state of a run that ``last.pt`` saves.
"""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..fileio import atomic_output
from .config import learning_rate_at

LOG_NAME = "train_log.csv"
LOG_COLUMNS = ("step", "epoch", "event", "learning_rate", "train_loss", "tune_loss", "tune_accuracy",
               "tune_f1_weighted", "tune_f1_homref", "tune_f1_het", "tune_f1_homalt", "examples_per_second",
               "wall_seconds")


@dataclass
class _Progress:
    """The mutable state of a run, saved in ``last.pt``."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    #: the selected checkpoint: the trained one with the best tune metric (ties: the earlier)
    best_value: float | None = None
    best_step: int | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    #: DeepVariant's ``best_checkpoint_value``: the bar a tune must beat to reset early stopping; the
    #: warm start's score sets it first
    bar_value: float | None = None
    #: the warm-start model's tune metrics (logged and drawn as the bar; never selectable)
    warm_start_metrics: dict[str, float] = field(default_factory=dict)
    #: DeepVariant's early-stopping counter (``state.early_stopping``)
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


class _TrainLog:
    """The :class:`lowcov.train.loop._Trainer` methods that write ``train_log.csv`` and keep the progress;
    the attributes they use are the trainer's, set in its ``__init__`` and ``run``."""

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
        self._restart_interval()

    def _restart_interval(self) -> None:
        state = self.state
        state.train_loss_sum, state.train_loss_steps = 0.0, 0
        state.interval_examples, state.interval_seconds = 0, 0.0

    def _epoch_float(self) -> float:
        return self.state.epoch + self.state.batch_in_epoch / max(1, self.steps_per_epoch)
