"""Tune metrics as DeepVariant names them (``tune/f1_weighted``, per-class F1, accuracy, loss).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..model import NUM_CLASSES
from .data import TuneData

#: DeepVariant's per-class metric suffixes, in label order
CLASS_KEYS = ("homref", "het", "homalt")



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
    for key, value in zip(CLASS_KEYS, f1):
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
