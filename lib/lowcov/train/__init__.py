"""Train (or fine-tune) a genotype classifier: the native engine's ``train --config dv_config.py:wgs``.

Reads a training and a tune example set (:mod:`lowcov.make_examples`); writes checkpoints, a training log
and the run record into ``experiment_dir``. Modules: :mod:`.config` (keys, defaults, overrides, schedule),
:mod:`.data` (streaming batches, the tune set), :mod:`.metrics`, :mod:`.steps` (objective, optimiser,
EMA, device), :mod:`.loop` (:func:`train`, the trainer's run loop), :mod:`.record` (the run record,
:class:`TrainResult`, reuse and resume decisions), :mod:`.checkpoints` (checkpoint files, resuming from
``last.pt``, DeepVariant's format) and :mod:`.trainlog` (``train_log.csv`` and the run's progress);
:mod:`.distributed` and :mod:`.rank_process` train on several processes; ``lowcov train`` is the command
line (:mod:`.cli`).

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
  fine-tuning from ``init_checkpoint``. As in DeepVariant's ``train.py``, the warm start's score is only
  the bar: it is logged (event ``init``) and recorded (``warm_start_metrics``), never saved as a checkpoint
  and never selected; every tune of trained weights writes a checkpoint;
- the selected checkpoint (``best.pt``) is the trained one with the best ``best_checkpoint_metric``
  (default ``tune/f1_weighted``: per-class F1 over hom-ref/het/hom-alt weighted by class support), ties
  going to the earlier, as a DeepVariant user picks among ``checkpoint-<step>-<metric>`` files; early
  stopping counts as DeepVariant's does (a tune that beats the bar resets the counter to zero; at every
  tune the run stops once the counter has reached ``early_stopping_patience``, else the counter goes up
  by one; 0 disables it);

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
:class:`TrainingStream`; a set that fits in ``train_in_memory_max_bytes`` is inflated once and kept); the tune set (the first
``num_validation_examples`` labelled examples, 0 = all) is held in memory when it fits in
``tune_in_memory_max_bytes``, else streamed at each evaluation.

DeepVariant's own network: ``model_type='inception_v3'`` trains :class:`lowcov.model.DeepVariantNet` (DeepVariant
1.8's InceptionV3, :mod:`lowcov.dvmodel`) with every key above, ``freeze_batch_norm`` included;
``init_checkpoint`` may then be a DeepVariant checkpoint prefix (``prefix.index`` + ``prefix.data-*``, read
with TensorFlow from the ``deepvariant`` extra), whose channels must be the examples' unless
``copy_overlapping_channels``; checkpoints are written as ``.pt`` and, with ``write_deepvariant_checkpoint``,
the selected one also as DeepVariant's ``experiment_dir/deepvariant/best.ckpt`` for its ``call_variants``.

Several processes or GPUs: ``train(..., nproc=N)`` (``lowcov train --nproc N``) trains with PyTorch's
DistributedDataParallel on N processes started through ``torchrun`` (gloo on the CPU, NCCL with one GPU
per process). ``batch_size`` stays the global batch (``batch_size / N`` per process; it must divide);
each process trains on its slice of every shuffled batch; only rank 0 keeps the EMA, tunes, applies the
checkpoint rule and writes files; a killed run resumes from ``last.pt``. Batch norm is per process, as
DeepVariant's Keras layers under ``MirroredStrategy``, with the running statistics averaged over the
processes; :mod:`.distributed` gives the details and the failure report. ``nproc=1`` is the
single-process path described above, unchanged.
"""
from .config import (CASE_STUDY_V1, CASE_STUDY_V2, CASE_STUDY_V2_COMMAND, EXECUTION_KEYS, OPTIMIZERS, PRECISIONS,
                     TUNE_METRICS, TrainConfig, apply_overrides, command_config_overrides, decay_steps_for,
                     learning_rate_at, metric_is_better, planned_steps, validate_config)
from .data import TrainingStream, TuneData, dataset_signature, open_example_set
from .distributed import DistributedTrainingError, Ranks, train_on_processes
from .checkpoints import DEEPVARIANT_CHECKPOINT, write_deepvariant_checkpoint
from .loop import build_initial_model, train
from .record import RECORD_NAME, TrainResult
from .trainlog import LOG_COLUMNS, LOG_NAME
from .metrics import classification_metrics, evaluate
from .steps import (WeightEMA, distributed_context, l2_penalty, make_optimizer, native_bfloat16, select_device,
                    training_dtype, training_objective)

__all__ = [
    "CASE_STUDY_V1", "CASE_STUDY_V2", "CASE_STUDY_V2_COMMAND", "DEEPVARIANT_CHECKPOINT", "DistributedTrainingError",
    "EXECUTION_KEYS",
    "LOG_COLUMNS", "LOG_NAME", "OPTIMIZERS", "PRECISIONS", "RECORD_NAME", "Ranks", "TUNE_METRICS", "TrainConfig",
    "TrainResult", "TrainingStream", "TuneData", "WeightEMA", "apply_overrides", "build_initial_model",
    "classification_metrics", "command_config_overrides", "dataset_signature", "decay_steps_for", "planned_steps",
    "distributed_context", "evaluate", "l2_penalty", "learning_rate_at", "make_optimizer", "metric_is_better",
    "native_bfloat16", "open_example_set", "select_device", "train", "train_on_processes", "training_dtype",
    "training_objective", "validate_config", "write_deepvariant_checkpoint",
]
