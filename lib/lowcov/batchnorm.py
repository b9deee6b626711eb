"""Batch-norm statistics of checkpoints: which tensors they are, how far fine-tuning moved them, and a
checkpoint with another's statistics put back (the controls of chapters 6 and 7).

Every function reads lowcov checkpoints (``.pt``, :mod:`lowcov.model`) and DeepVariant's TensorFlow
checkpoints (a prefix with ``prefix.index`` + ``prefix.data-*``, read as the ``inception_v3`` architecture
through :func:`lowcov.model.read_checkpoint_payload`; TensorFlow from the ``deepvariant`` extra), in any
pairing of the same network; :func:`with_batch_norm_statistics` writes either format.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import InputError
from .fileio import atomic_output
from .model import DEEPVARIANT_ARCHITECTURE, build_model, export_deepvariant_checkpoint, read_checkpoint_payload

#: state-dict entries that batch norm accumulates from the data it sees (not learnt by gradients)
BATCH_NORM_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def batch_norm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def is_batch_norm_statistic(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in BATCH_NORM_STATISTICS


def _paired_states(checkpoint: str | os.PathLike, reference: str | os.PathLike
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both payloads, after checking that they hold the same architecture with the same tensor shapes."""
    mine, theirs = read_checkpoint_payload(checkpoint), read_checkpoint_payload(reference)
    if mine["architecture"] != theirs["architecture"]:
        raise InputError(f"checkpoint {checkpoint} is a {mine['architecture']!r} model and {reference} a "
                         f"{theirs['architecture']!r} model: their tensors cannot be compared")
    ours, other = mine["state_dict"], theirs["state_dict"]
    differing = sorted(k for k in set(ours) | set(other)
                       if k not in ours or k not in other or ours[k].shape != other[k].shape)
    if differing:
        raise InputError(f"checkpoints {checkpoint} and {reference} differ in their tensors "
                         f"({', '.join(differing[:5])}{' ...' if len(differing) > 5 else ''}): not the same network")
    return mine, theirs


def checkpoint_drift(checkpoint: str | os.PathLike, reference: str | os.PathLike) -> dict[str, float]:
    """How far ``checkpoint`` has moved from ``reference`` (e.g. a fine-tuned model from its start), for
    the learnt weights and for the batch-norm running statistics separately.

    ``*_relative``: ``||checkpoint - reference|| / ||reference||`` over all tensors of the group;
    ``*_max_abs``: the largest single change. ``num_batches_tracked`` counters are left out.
    """
    mine, theirs = _paired_states(checkpoint, reference)
    groups: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {"weights": [], "batch_norm_statistics": []}
    for name, tensor in mine["state_dict"].items():
        if name.endswith("num_batches_tracked"):
            continue
        group = "batch_norm_statistics" if is_batch_norm_statistic(name) else "weights"
        groups[group].append((tensor.double(), theirs["state_dict"][name].double()))
    drift = {}
    for group, pairs in groups.items():
        change = math.sqrt(sum(float((a - b).pow(2).sum()) for a, b in pairs))
        size = math.sqrt(sum(float(b.pow(2).sum()) for _, b in pairs))
        drift[f"{group}_relative"] = change / size if size else 0.0
        drift[f"{group}_max_abs"] = max((float((a - b).abs().max()) for a, b in pairs if a.numel()), default=0.0)
    return drift


def weights_digest(checkpoint: str | os.PathLike) -> str:
    """SHA-256 of a checkpoint's architecture, geometry, channels and tensors (names, shapes, dtypes, bytes;
    not batch norm's step counter): equal for two files that compute the same function, whatever else
    they record (step, config, metrics)."""
    import hashlib

    payload = read_checkpoint_payload(checkpoint)
    digest = hashlib.sha256(repr((payload["architecture"], payload["height"], payload["width"],
                                  tuple(payload["channels"]))).encode())
    for name in sorted(payload["state_dict"]):
        if name.endswith("num_batches_tracked"):
            continue  # a counter that inference never reads
        tensor = payload["state_dict"][name].detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def with_batch_norm_statistics(checkpoint: str | os.PathLike, donor: str | os.PathLike,
                               out_path: str | os.PathLike, deepvariant_format: bool | None = None) -> Path:
    """Write ``checkpoint`` with the batch-norm running statistics of ``donor`` and every learnt weight
    its own, to ``out_path`` (atomically). Both must be the same network.

    Separates the two things training changes: the weights (gradients) and the statistics batch norm
    accumulates from the examples it is shown.

    ``deepvariant_format``: write a DeepVariant checkpoint with prefix ``out_path`` (and
    ``example_info.json`` beside it, :func:`lowcov.model.export_deepvariant_checkpoint`) instead of a
    lowcov ``.pt``; None decides by the name: a ``.pt`` file, else DeepVariant's format (``inception_v3`` only).
    """
    mine, theirs = _paired_states(checkpoint, donor)
    state = {name: (theirs["state_dict"][name] if is_batch_norm_statistic(name) else tensor).clone()
             for name, tensor in mine["state_dict"].items()}
    out_path = Path(out_path)
    if deepvariant_format if deepvariant_format is not None else out_path.suffix != ".pt":
        if mine["architecture"] != DEEPVARIANT_ARCHITECTURE:
            raise InputError(f"{out_path}: a DeepVariant checkpoint holds DeepVariant's network, but {checkpoint} "
                             f"is a {mine['architecture']!r} model; name a .pt output for lowcov's format")
        model = build_model(mine["architecture"], mine["height"], mine["width"], mine["channels"],
                            mine.get("dropout", 0.0))
        model.load_state_dict(state)
        return export_deepvariant_checkpoint(model, out_path)
    payload = {**mine, "state_dict": state,
               "extra": {**dict(mine.get("extra") or {}), "batch_norm_statistics_from": str(donor)}}
    with atomic_output(out_path) as tmp:
        torch.save(payload, tmp)
    return out_path
