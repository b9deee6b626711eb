"""What one training step needs: the objective, the optimiser, the EMA of the weights, the device and dtype.
"""
from __future__ import annotations

import copy
import os

import torch
import torch.nn.functional as F
from torch import nn

from .config import TrainConfig



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
        self.copy_buffers(model)

    @torch.no_grad()
    def copy_buffers(self, model: nn.Module) -> None:
        """Take ``model``'s batch-norm statistics (after the ranks of a multi-process run averaged them)."""
        for mine, theirs in zip(self.model.buffers(), model.buffers()):
            mine.copy_(theirs)


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """``sum(w**2)`` over convolution and linear kernels (not biases or batch-norm scales)."""
    kernels = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return torch.stack([k.pow(2).sum() for k in kernels]).sum()


def training_objective(logits: torch.Tensor, targets: torch.Tensor, model: nn.Module, config: TrainConfig,
                       data_weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy with label smoothing, the minimised objective = that + weight_decay * L2 of kernels).

    Label smoothing as Keras' CategoricalCrossentropy: targets become ``(1 - s) * one_hot + s / 3``.
    ``data_weight`` scales the cross-entropy in the objective: a rank's share of a short global batch
    (:meth:`lowcov.train.distributed.Ranks.batch_part`).
    """
    loss = F.cross_entropy(logits, targets, label_smoothing=config.label_smoothing)
    data_term = loss if data_weight == 1.0 else loss * data_weight
    if not config.weight_decay:
        return loss, data_term
    return loss, data_term + config.weight_decay * l2_penalty(model)


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

    :func:`~lowcov.train.train` called inside such a group trains as one of its ranks
    (:mod:`lowcov.train.distributed`).
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


def core_free_for_reading(device: torch.device, processes: int = 1) -> bool:
    """Whether a background shard reader would have a core to itself (see :class:`TrainingStream`) when
    ``processes`` training processes share this machine."""
    return device.type != "cpu" or torch.get_num_threads() * processes < (os.cpu_count() or 1)
