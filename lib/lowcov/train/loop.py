"""The training loop: :func:`train` runs, tunes, checkpoints, selects, stops early and resumes.

The trainer's run loop lives here (:class:`_Trainer`: steps, tunes, the checkpoint rule, early stopping,
``max_steps``); its record and reuse logic is in :mod:`.record`, its checkpoint files in :mod:`.checkpoints`
and its log and progress in :mod:`.trainlog`, re-exported here under their former names.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from .. import InputError
from ..batchnorm import batch_norm_layers
from ..model import PileupClassifier, build_model, initialise_from_checkpoint
from ..shards import ExampleSet
from .checkpoints import DEEPVARIANT_CHECKPOINT, _Checkpoints, write_deepvariant_checkpoint
from .config import TrainConfig, learning_rate_at, metric_is_better, validate_config
from ..manifest import code_digest
from .data import TrainingStream, TuneData, dataset_signature, open_example_set
from .distributed import Ranks
from .metrics import evaluate
from .record import CHECKPOINT_RULE, RECORD_NAME, TrainResult, _result_from_record, _reusable_record, _RunRecord
from .steps import (WeightEMA, core_free_for_reading, make_optimizer, select_device, training_dtype,
                    training_objective)
from .trainlog import LOG_COLUMNS, LOG_NAME, _Progress, _TrainLog

__all__ = ["CHECKPOINT_RULE", "DEEPVARIANT_CHECKPOINT", "LOG_COLUMNS", "LOG_NAME", "RECORD_NAME", "TrainResult",
           "build_initial_model", "train", "write_deepvariant_checkpoint"]

logger = logging.getLogger(__name__)


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




class _Trainer(_RunRecord, _Checkpoints, _TrainLog):
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
                                     read_ahead=core_free_for_reading(device, ranks.local_world),
                                     in_memory_max_bytes=config.train_in_memory_max_bytes)
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
