"""The run record (``best_checkpoint.json``) and what decides whether a run is reused, resumed or refused:
:class:`TrainResult`, the record's reading and writing, the comparable config keys and the checkpoint rule.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..fileio import atomic_output
from ..model import read_checkpoint_payload
from .config import EXECUTION_KEYS, TrainConfig
from .trainlog import LOG_NAME, _rate

if TYPE_CHECKING:
    from .loop import _Trainer

# the trainer's logger, as before these methods left loop.py
logger = logging.getLogger("lowcov.train.loop")

RECORD_NAME = "best_checkpoint.json"
#: which checkpoint rule a run followed: runs recorded under another rule are trained again. 1 (lowcov
#: before 2026-11): the warm start was a checkpoint and could be selected; 2: DeepVariant's rule, the
#: warm start only sets the bar (``_Trainer._evaluate_and_checkpoint``)
CHECKPOINT_RULE = 2


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
    #: the selected checkpoint in DeepVariant's format (prefix), when config.write_deepvariant_checkpoint
    deepvariant_checkpoint: Path | None = None


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


def _reusable_record(trainer: "_Trainer", force: bool, restart_on_change: bool) -> dict[str, Any] | None:
    """The record of a completed run to return instead of training, after clearing what must not be kept."""
    if force:
        trainer.clear()
        return None
    if restart_on_change and trainer.last_path.exists() and trainer.differing_keys() is not None:
        logger.info("%s: config or examples changed (%s); training again from the start",
                    trainer.dir, trainer.differing_keys() or "the example sets")
        trainer.clear()
    record = trainer.completed_record()
    if record is not None:
        logger.info("%s: training already complete with this config (best step %s); reusing it "
                    "(force=True to retrain)", trainer.dir, record["best_step"])
    return record


class _RunRecord:
    """The :class:`lowcov.train.loop._Trainer` methods that read and write the run's identity and record;
    the attributes they use are the trainer's, set in its ``__init__`` and ``run``."""

    # ----- resuming -----
    def completed_record(self) -> dict[str, Any] | None:
        """The record of a completed run with this config and these examples, if ``experiment_dir`` has one."""
        if not self.record_path.exists():
            return None
        record = json.loads(self.record_path.read_text())
        recorded, wanted = record.get("config") or {}, self.config.to_dict()
        # max_steps decides where a run stopped: a larger limit continues it
        if (record.get("complete") and record.get("checkpoint_rule") == CHECKPOINT_RULE
                and _comparable(recorded) == _comparable(wanted)
                and recorded.get("max_steps", 0) == wanted["max_steps"]
                and record.get("processes", 1) == self.ranks.world
                and record.get("data") == self.data_signature and self.best_path.exists()):
            return record
        return None

    def differing_keys(self) -> list[str] | None:
        """None when ``last.pt`` belongs to this config and these examples; else the config keys that
        differ (an empty list when only the examples differ)."""
        payload = read_checkpoint_payload(self.last_path)
        saved, wanted = payload.get("train_config", {}), self.config.to_dict()
        extra = payload.get("extra", {})
        if extra.get("checkpoint_rule") != CHECKPOINT_RULE:
            return ["checkpoint_rule"]
        if extra.get("processes", 1) != self.ranks.world:  # per-rank batch norm: another nproc, another result
            return ["nproc"]
        if extra.get("data") == self.data_signature and _comparable(saved) == _comparable(wanted):
            return None
        saved, wanted = _comparable(saved), _comparable(wanted)
        return sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))

    def _write_record(self, complete: bool) -> None:
        state = self.state
        record = {
            "complete": complete,
            "stopped_by": state.finished or None,
            "best_checkpoint_metric": self.config.best_checkpoint_metric,
            "best_step": state.best_step,
            "best_value": state.best_value,
            "best_metrics": state.best_metrics,
            "warm_start_metrics": state.warm_start_metrics,
            "checkpoint_rule": CHECKPOINT_RULE,
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
        if self.ranks.world > 1:
            record["processes"] = self.ranks.world
        with atomic_output(self.record_path) as tmp:
            tmp.write_text(json.dumps(record, indent=1, default=str) + "\n")
