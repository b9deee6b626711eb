"""The training loop: :func:`train` runs, tunes, checkpoints, selects, stops early and resumes.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from .. import InputError
from ..fileio import atomic_output
from ..batchnorm import batch_norm_layers
from ..model import (PileupClassifier, build_model, initialise_from_checkpoint, read_checkpoint_payload, save_checkpoint)
from ..shards import ExampleSet
from .config import EXECUTION_KEYS, TrainConfig, learning_rate_at, metric_is_better, validate_config
from ..manifest import code_digest
from .data import TrainingStream, TuneData, dataset_signature, open_example_set
from .distributed import Ranks
from .metrics import evaluate
from .steps import (WeightEMA, core_free_for_reading, make_optimizer, select_device, training_dtype,
                    training_objective)

logger = logging.getLogger(__name__)


LOG_NAME, RECORD_NAME = "train_log.csv", "best_checkpoint.json"
#: which checkpoint rule a run followed: runs recorded under another rule are trained again. 1 (lowcov
#: before 2026-11): the warm start was a checkpoint and could be selected; 2: DeepVariant's rule, the
#: warm start only sets the bar (``_Trainer._evaluate_and_checkpoint``)
CHECKPOINT_RULE = 2
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
    #: the selected checkpoint in DeepVariant's format (prefix), when config.write_deepvariant_checkpoint
    deepvariant_checkpoint: Path | None = None


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
        init = initialise_from_checkpoint(model, config.init_checkpoint, config.copy_overlapping_channels)
        report = {"checkpoint": str(init.checkpoint), "copied_channels": init.copied_channels,
                  "new_channels": init.new_channels, "dropped_channels": init.dropped_channels}
    return model, report


def train(train_set: ExampleSet | str | os.PathLike, tune_set: ExampleSet | str | os.PathLike,
          config: TrainConfig, experiment_dir: str | os.PathLike, device: str | torch.device | None = None,
          progress: bool = True, force: bool = False, restart_on_change: bool = False, nproc: int = 1) -> TrainResult:
    """Train a genotype classifier on ``train_set``, selecting checkpoints on ``tune_set`` (module docstring).

    ``device``: None = CUDA when available, else the CPU. ``force``: discard whatever ``experiment_dir``
    holds (a completed run, or a run to resume) and train from the start. ``restart_on_change``: when
    ``experiment_dir`` holds a run with another config or other examples, discard it and start again
    (as a stage whose parameters changed) instead of refusing. ``nproc``: train on this many processes
    with DistributedDataParallel, started through torchrun (:mod:`lowcov.train.distributed`); 1 = this
    process. Called inside an initialised process group, it trains as one rank of it.
    ``config.write_deepvariant_checkpoint``: the selected checkpoint is also written in DeepVariant's
    format afterwards (:func:`write_deepvariant_checkpoint`), by the process the caller runs.
    """
    result = _train(train_set, tune_set, config, experiment_dir, device, progress, force, restart_on_change, nproc)
    if config.write_deepvariant_checkpoint and Ranks.current().world == 1:
        result.deepvariant_checkpoint = write_deepvariant_checkpoint(result)
    return result


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


def _train(train_set: ExampleSet | str | os.PathLike, tune_set: ExampleSet | str | os.PathLike,
           config: TrainConfig, experiment_dir: str | os.PathLike, device: str | torch.device | None,
           progress: bool, force: bool, restart_on_change: bool, nproc: int) -> TrainResult:
    validate_config(config)
    train_set, tune_set = open_example_set(train_set), open_example_set(tune_set)
    ranks = Ranks.current()
    if nproc < 1 or (ranks.world > 1 and nproc not in (1, ranks.world)):
        raise InputError(f"nproc={nproc}: expected 1 or more" + (
            f" (this process is one of a group of {ranks.world})" if ranks.world > 1 else ""))
    if ranks.world == 1 and nproc > 1:
        from .distributed import train_on_processes

        # a run completed on as many processes is reused without starting them
        as_launched = _Trainer(train_set, tune_set, config, Path(experiment_dir), torch.device("cpu"), progress,
                               Ranks(0, nproc, nproc))
        record = None if force else as_launched.completed_record()
        if record is not None:
            logger.info("%s: training already complete on %d processes with this config; reusing it",
                        as_launched.dir, nproc)
            return _result_from_record(as_launched.dir, record, reused=True, resumed_from=None)
        return train_on_processes(train_set, tune_set, config, experiment_dir, nproc, device=device,
                                  progress=progress, force=force, restart_on_change=restart_on_change)
    ranks.check_batch_size(config.batch_size)
    channels = list(train_set.info["channels"])
    if (tune_set.shape, list(tune_set.info["channels"])) != (train_set.shape, channels):
        raise InputError(f"tune set {tune_set.directory} has geometry {tune_set.shape} and channels "
                         f"{tune_set.info['channels']} but training set {train_set.directory} has "
                         f"{train_set.shape} and {channels}")
    trainer = _Trainer(train_set, tune_set, config, Path(experiment_dir), select_device(device), progress, ranks)
    record = ranks.leader_decides(lambda: _reusable_record(trainer, force, restart_on_change))
    if record is not None:
        return _result_from_record(trainer.dir, record, reused=True, resumed_from=None)
    with _torch_settings(config):
        return trainer.run()


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


class _Trainer:
    """One invocation of :func:`train`: model, optimiser, EMA, progress, and the files in ``experiment_dir``."""

    def __init__(self, train_set: ExampleSet, tune_set: ExampleSet, config: TrainConfig, experiment_dir: Path,
                 device: torch.device, show_progress: bool, ranks: Ranks = Ranks()) -> None:
        self.train_set, self.tune_set, self.config = train_set, tune_set, config
        self.ranks = ranks
        self.dir = experiment_dir
        self.checkpoint_dir = experiment_dir / "checkpoints"
        self.log_path = experiment_dir / LOG_NAME
        self.record_path = experiment_dir / RECORD_NAME
        self.best_path = self.checkpoint_dir / "best.pt"
        self.last_path = self.checkpoint_dir / "last.pt"
        self.device = device
        self.dtype = training_dtype(config, device)
        self.show_progress = show_progress
        # the code that trains is part of a run's identity, as the examples are: a changed trainer retrains
        self.data_signature = {"train": dataset_signature(train_set), "tune": dataset_signature(tune_set),
                               "code": code_digest(__name__)}
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
        ranks = self.ranks
        self.stream = TrainingStream(self.train_set, config.seed,
                                     read_ahead=core_free_for_reading(device, ranks.local_world))
        if self.stream.n_examples == 0:
            raise InputError(f"training set {self.train_set.directory} has no labelled examples")
        if ranks.leader:  # only rank 0 tunes
            self.tune = TuneData(self.tune_set, config.num_validation_examples, config.tune_in_memory_max_bytes)
            if self.tune.n_examples == 0:
                raise InputError(f"tune set {self.tune_set.directory} has no labelled examples")
        self.steps_per_epoch = self.stream.steps_per_epoch(config.batch_size)
        self.eval_batch_size = max(64, min(config.batch_size, 1024))

        self.model, self.init_report = build_initial_model(config, height, width, self.train_set.info["channels"])
        self.model.to(device)
        self.optimizer = make_optimizer(self.model, config)
        self.ema = WeightEMA(self.model, config.ema_momentum) if config.use_ema and ranks.leader else None
        # Tuning, checkpoints and the best checkpoint use the EMA weights, as DeepVariant does.
        self.evaluated_model = self.ema.model if self.ema is not None else self.model
        if ranks.leader_decides(self.last_path.exists):
            self._resume()
        else:
            if ranks.leader:
                self.clear()
                self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
                self._write_log_header()
            torch.manual_seed(config.seed + 1)  # the dropout stream, independent of how the model was built
        self.trained_model = ranks.wrap(self.model, device)
        self._segment_start = time.perf_counter() - self.state.wall_seconds

        state = self.state
        bar = None
        if self.show_progress and ranks.leader:
            from tqdm import tqdm
            # disable=None: a bar on a terminal, none in a notebook run by papermill (the log has the figures)
            bar = tqdm(total=self.steps_per_epoch * config.num_epochs, initial=state.step, unit="step",
                       desc="train", dynamic_ncols=True, disable=None)
        try:
            if ranks.leader and state.step == 0 and config.init_checkpoint and not state.warm_start_metrics:
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
                if ranks.leader:
                    self._save_last()
        except KeyboardInterrupt:
            if ranks.world > 1:  # the ranks cannot agree on a state now; last.pt is the last tune's
                logger.warning("interrupted at step %d; a re-run resumes from the last saved %s", state.step,
                               self.last_path)
            elif self._consistent:
                logger.warning("interrupted at step %d; saving %s to resume from", state.step, self.last_path)
                self._save_last()
            else:
                logger.warning("interrupted mid-step; a re-run resumes from the last saved %s", self.last_path)
            raise
        finally:
            if bar is not None:
                bar.close()

        if ranks.leader:
            self._write_record(complete=True)
            logger.info("%s: finished (%s) after %d steps; best step %s with %s=%.5f", self.dir, state.finished,
                        state.step, state.best_step, config.best_checkpoint_metric, state.best_value)
        record = ranks.leader_decides(lambda: json.loads(self.record_path.read_text()))
        return _result_from_record(self.dir, record, reused=False, resumed_from=self.resumed_from)

    def _train_step(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        """One optimiser update (plus EMA); returns the batch's cross-entropy and the learning rate used."""
        config, state, model, ranks = self.config, self.state, self.model, self.ranks
        self._consistent = False  # until _after_step has run
        started = time.perf_counter()
        batch_examples = len(labels)
        images, labels, data_weight = ranks.batch_part(images, labels)
        if ranks.world > 1:
            torch.manual_seed(ranks.dropout_seed(config.seed, state.step))
        learning_rate = learning_rate_at(state.step, config, self.steps_per_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        self.trained_model.train()
        if config.freeze_batch_norm:
            for layer in batch_norm_layers(model):
                layer.eval()
        inputs = torch.from_numpy(images).to(self.device, non_blocking=True)
        targets = torch.from_numpy(labels.astype(np.int64)).to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            logits = self.trained_model(inputs)
        loss, objective = training_objective(logits.float(), targets, model, config, data_weight)
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
        state.train_loss_sum += loss_value * data_weight  # the ranks' mean of these is the batch's loss
        state.train_loss_steps += 1
        state.interval_examples += batch_examples
        state.interval_seconds += elapsed
        state.total_examples += batch_examples
        state.total_train_seconds += elapsed
        state.step += 1
        state.batch_in_epoch += 1
        if state.batch_in_epoch >= self.steps_per_epoch:
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
        return loss_value, learning_rate

    def _after_step(self) -> None:
        """Tune, log, early-stop and max_steps decisions after a step."""
        config, state, ranks = self.config, self.state, self.ranks
        scheduled = state.batch_in_epoch == 0 or bool(
            config.tune_every_steps and state.step % config.tune_every_steps == 0)
        log_row = not scheduled and bool(config.log_every_steps and state.step % config.log_every_steps == 0)
        stopping = not state.finished and self._max_steps_reached()
        if ranks.world > 1 and (scheduled or log_row or stopping):
            self._gather_ranks()
        if scheduled:
            if ranks.leader:
                self._evaluate_and_checkpoint("tune")
            state.finished = ranks.leader_decides(lambda: state.finished)  # rank 0 decides early stopping
        elif log_row and ranks.leader:
            self._log_row("train")
        if stopping and not state.finished:
            state.finished = "max_steps"
            if ranks.leader:
                self._stop_at_max_steps(scheduled)
        if not ranks.leader and (scheduled or log_row):
            self._restart_interval()

    def _gather_ranks(self) -> None:
        """What rank 0 reads from all ranks before it logs, tunes or saves: the mean training loss over the
        ranks and the ranks' mean batch-norm statistics (also given to the EMA model)."""
        self.state.train_loss_sum = self.ranks.mean(self.state.train_loss_sum, self.device)
        self.ranks.average_batch_norm_statistics(self.model)
        if self.ema is not None:
            self.ema.copy_buffers(self.model)

    def _max_steps_reached(self) -> bool:
        config, state = self.config, self.state
        return bool(config.max_steps) and state.step >= config.max_steps and state.epoch < config.num_epochs

    def _evaluate_and_checkpoint(self, event: str) -> None:
        """A scheduled evaluation, with DeepVariant's checkpoint rules (deepvariant/train.py, 1.8).

        The warm start ("init") is scored and its metric becomes the bar, but it is not saved and cannot be
        selected. Every tune of trained weights writes ``ckpt-<step>.pt`` (DeepVariant's
        ``ema/checkpoint-<step>-<metric>``); the selected checkpoint (``best.pt``) is the trained one with
        the best metric, ties going to the earlier. Early stopping counts as DeepVariant's does: a tune that
        beats the bar raises it and resets the counter; then, at every tune, the run stops if the counter
        has reached ``early_stopping_patience``, else the counter goes up by one.
        """
        config, state = self.config, self.state
        metrics = evaluate(self.evaluated_model, self.tune, config.label_smoothing, self.device, self.eval_batch_size)
        value = metrics[config.best_checkpoint_metric]
        logger.info("step %d: %s=%.5f accuracy=%.4f loss=%.4f", state.step, config.best_checkpoint_metric,
                    value, metrics["tune/categorical_accuracy"], metrics["tune/loss"])
        self._log_row(event, metrics)
        if event == "init":
            state.bar_value, state.warm_start_metrics = value, dict(metrics)
            self._write_record(complete=False)
            self._save_last()
            return
        checkpoint = self.checkpoint_dir / f"ckpt-{state.step}.pt"
        self._save_evaluated(checkpoint, metrics)
        if state.step not in state.saved_checkpoints:
            state.saved_checkpoints.append(state.step)
        while len(state.saved_checkpoints) > max(1, config.keep_checkpoints):
            (self.checkpoint_dir / f"ckpt-{state.saved_checkpoints.pop(0)}.pt").unlink(missing_ok=True)
        if metric_is_better(config.best_checkpoint_metric, value, state.best_value):
            state.best_value, state.best_step, state.best_metrics = value, state.step, dict(metrics)
            shutil.copyfile(checkpoint, self.best_path)
        if metric_is_better(config.best_checkpoint_metric, value, state.bar_value):
            state.bar_value = value
            state.evals_without_improvement = 0
        if config.early_stopping_patience and state.evals_without_improvement >= config.early_stopping_patience:
            logger.info("early stopping at step %d: %d tunes without beating %s=%.5f", state.step,
                        state.evals_without_improvement, config.best_checkpoint_metric, state.bar_value)
            state.finished = "early_stopping"
        else:
            state.evals_without_improvement += 1
        self._write_record(complete=False)
        self._save_last()

    def _stop_at_max_steps(self, scheduled: bool) -> None:
        """Stop at ``max_steps`` so that raising the limit later resumes exactly as if never stopped.

        ``last.pt`` is saved first, with the best-checkpoint tracking of the scheduled evaluations only.
        The final weights are then evaluated, logged (event "stop") and saved as ``ckpt-<step>.pt``; they
        become ``best.pt`` only if no scheduled evaluation has happened yet (a resumed run's first evaluation
        then replaces it, as it would have in an uninterrupted run).
        """
        self._save_last()
        if scheduled:
            return
        state = self.state
        metrics = evaluate(self.evaluated_model, self.tune, self.config.label_smoothing, self.device,
                           self.eval_batch_size)
        self._log_row("stop", metrics)
        # the weights the run ends with, as every run's last checkpoint (chapter 7 scores end-of-run weights)
        self._save_evaluated(self.checkpoint_dir / f"ckpt-{state.step}.pt", metrics)
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

    def _epoch_float(self) -> float:
        return self.state.epoch + self.state.batch_in_epoch / max(1, self.steps_per_epoch)
