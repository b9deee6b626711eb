"""Checkpoint files: ``last.pt`` (the full training state, saved and resumed from), the evaluated
``ckpt-<step>.pt`` / ``best.pt``, clearing ``experiment_dir``, and the selected checkpoint in DeepVariant's
format (:func:`write_deepvariant_checkpoint`).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Mapping

import torch

from .. import InputError
from ..fileio import atomic_output
from ..model import read_checkpoint_payload, save_checkpoint
from .record import CHECKPOINT_RULE, TrainResult
from .trainlog import _Progress

# the trainer's logger, as before these methods left loop.py
logger = logging.getLogger("lowcov.train.loop")


#: where :func:`write_deepvariant_checkpoint` puts the selected checkpoint, under ``experiment_dir``
DEEPVARIANT_CHECKPOINT = Path("deepvariant") / "best.ckpt"


def write_deepvariant_checkpoint(result: TrainResult) -> Path:
    """The run's selected checkpoint (``best.pt``, an ``inception_v3`` model) as DeepVariant's
    ``experiment_dir/deepvariant/best.ckpt`` (+ ``example_info.json``), rewritten only when ``best.pt``
    has other weights than the ones it was written from (``exported_from.json`` records their digest)."""
    from ..batchnorm import weights_digest
    from ..model import export_deepvariant_checkpoint

    prefix = result.experiment_dir / DEEPVARIANT_CHECKPOINT
    source = prefix.parent / "exported_from.json"
    digest = weights_digest(result.best_checkpoint)
    if (source.exists() and Path(str(prefix) + ".index").exists()
            and json.loads(source.read_text()).get("weights_digest") == digest):
        return prefix
    export_deepvariant_checkpoint(result.best_checkpoint, prefix)
    with atomic_output(source) as tmp:
        tmp.write_text(json.dumps({"checkpoint": str(result.best_checkpoint.relative_to(result.experiment_dir)),
                                   "step": result.best_step, "weights_digest": digest}, indent=1) + "\n")
    logger.info("%s: selected checkpoint (step %d) written in DeepVariant's format as %s", result.experiment_dir,
                result.best_step, prefix)
    return prefix


class _Checkpoints:
    """The :class:`lowcov.train.loop._Trainer` methods that save, resume from and clear checkpoints; the
    attributes they use are the trainer's, set in its ``__init__`` and ``run``."""

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
        if self.ranks.leader:
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
            "checkpoint_rule": CHECKPOINT_RULE,
        }
        if self.ranks.world > 1:
            extra["processes"] = self.ranks.world
        save_checkpoint(self.last_path, self.model, train_config=self.config.to_dict(), step=self.state.step,
                        epoch=self._epoch_float(), extra=extra)

    def _save_evaluated(self, path: Path, metrics: Mapping[str, float]) -> None:
        """The evaluated weights (EMA when use_ema) with their tune metrics: ckpt-<step>.pt and best.pt."""
        save_checkpoint(path, self.evaluated_model, train_config=self.config.to_dict(), step=self.state.step,
                        epoch=self._epoch_float(), extra={"metrics": dict(metrics), "use_ema": self.config.use_ema})
