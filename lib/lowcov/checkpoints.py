"""Checkpoints of the genotype classifiers (:mod:`lowcov.model`): writing and reading lowcov ``.pt``
files and DeepVariant's TensorFlow checkpoints, checking a checkpoint's geometry and channels against
the examples, initialising a fine-tuning run from one (copying the overlapping first-layer channels),
and exporting an ``inception_v3`` model as a DeepVariant checkpoint.

Every public name here is also importable from :mod:`lowcov.model`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from . import InputError
from .dvmodel import is_checkpoint_prefix
from .fileio import atomic_output
from .model import (DEEPVARIANT_ARCHITECTURE, DEFAULT_HEIGHT, DEFAULT_WIDTH, DeepVariantNet, PileupClassifier,
                    build_model, normalise_channels)

# the logger keeps lowcov.model's name, where these functions were defined before
logger = logging.getLogger("lowcov.model")

#: checkpoint layout version; bump when the stored keys change meaning
CHECKPOINT_FORMAT = 1


@dataclass
class Checkpoint:
    """A checkpoint as loaded: the model (weights in place) and what was stored alongside."""

    path: Path
    model: PileupClassifier
    architecture: str
    height: int
    width: int
    channels: tuple[str, ...]
    dropout: float
    train_config: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    epoch: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def geometry(self) -> tuple[int, int, int]:
        return self.height, self.width, len(self.channels)


def model_description(model: PileupClassifier) -> dict[str, Any]:
    return {"architecture": model.architecture, "height": model.height, "width": model.width,
            "channels": list(model.channels), "dropout": model.dropout_rate}


def save_checkpoint(path: str | os.PathLike, model: PileupClassifier, *, train_config: Mapping[str, Any] | None = None,
                    step: int = 0, epoch: float = 0.0, extra: Mapping[str, Any] | None = None) -> Path:
    """Write weights + architecture + geometry + channel names + training config + step/epoch, atomically.

    ``extra`` holds whatever else the caller needs back (training state for resuming, tune metrics).
    """
    payload = {
        "format": CHECKPOINT_FORMAT,
        **model_description(model),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train_config": dict(train_config or {}),
        "step": int(step),
        "epoch": float(epoch),
        "extra": dict(extra or {}),
    }
    path = Path(path)
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_checkpoint_payload(path: str | os.PathLike) -> dict[str, Any]:
    """What a checkpoint stores: a lowcov ``.pt`` file as saved, or a DeepVariant TensorFlow checkpoint
    (:func:`lowcov.dvmodel.is_checkpoint_prefix`) in the same layout (:func:`deepvariant_payload`)."""
    if is_checkpoint_prefix(path):
        return deepvariant_payload(path)
    path = Path(path)
    if not path.exists():
        raise InputError(f"checkpoint {path} does not exist")
    try:
        # weights_only loading refuses arbitrary pickled objects; everything we store is plain data.
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises a variety of types for damaged files
        raise InputError(f"cannot read checkpoint {path}: {exc}") from exc
    missing = {"architecture", "height", "width", "channels", "state_dict"} - set(payload)
    if missing:
        raise InputError(f"{path} is not a lowcov checkpoint (missing {sorted(missing)})")
    return payload


def _example_info_beside(prefix: str):
    """The ``example_info.json`` in a DeepVariant checkpoint's directory (where ``call_variants`` and
    ``make_examples --checkpoint`` read it), or None."""
    from .dvexamples import read_example_info

    path = Path(prefix).parent / "example_info.json"
    return (path, read_example_info(path)) if path.exists() else (None, None)


def deepvariant_payload(path: str | os.PathLike) -> dict[str, Any]:
    """A DeepVariant TensorFlow checkpoint as a lowcov checkpoint payload of the ``inception_v3``
    architecture. Geometry and channel names come from the ``example_info.json`` beside it; without one,
    DeepVariant's 100 x 221 and, by count, its default channels (``extra['example_info']`` is then None
    and no geometry is checked against it). Needs TensorFlow (``lowcov[deepvariant]``)."""
    from .dvmodel import DROPOUT, load_checkpoint as load_deepvariant_checkpoint, resolve_prefix

    prefix = resolve_prefix(path)
    network = load_deepvariant_checkpoint(prefix)
    info_path, info = _example_info_beside(prefix)
    if info is not None:
        if info.shape[2] != network.channels:
            raise InputError(f"{info_path} describes {info.shape[2]} channels but the checkpoint {prefix} "
                             f"reads {network.channels}")
        (height, width, _), channels = info.shape, info.channel_names
    else:
        (height, width), channels = (DEFAULT_HEIGHT, DEFAULT_WIDTH), normalise_channels(network.channels)
    return {
        "format": CHECKPOINT_FORMAT, "architecture": DEEPVARIANT_ARCHITECTURE, "height": int(height),
        "width": int(width), "channels": list(channels), "dropout": DROPOUT,
        "state_dict": {f"network.{name}": tensor for name, tensor in network.state_dict().items()},
        "train_config": {}, "step": 0, "epoch": 0.0,
        "extra": {"deepvariant_checkpoint": prefix, "example_info": str(info_path) if info_path else None},
    }


def export_deepvariant_checkpoint(source: "DeepVariantNet | str | os.PathLike", prefix: str | os.PathLike) -> Path:
    """Write an ``inception_v3`` model (or the lowcov checkpoint file holding one) as a DeepVariant
    TensorFlow checkpoint ``prefix.index`` + ``prefix.data-00000-of-00001``, with ``example_info.json``
    (DeepVariant 1.8, the model's geometry and channel numbers) in its directory, so that DeepVariant's
    ``call_variants --checkpoint prefix`` and ``train --config.init_checkpoint=prefix`` read it."""
    from .dvexamples import DEEPVARIANT_VERSION, ExampleInfo
    from .dvmodel import save_checkpoint as save_deepvariant_checkpoint

    model = source if isinstance(source, nn.Module) else load_checkpoint(source).model
    if not isinstance(model, DeepVariantNet):
        where = "the model" if isinstance(source, nn.Module) else f"checkpoint {source}"
        raise InputError(f"{where} is a {model.architecture!r} model; only DeepVariant's network "
                         f"({DEEPVARIANT_ARCHITECTURE!r}) can be written as a DeepVariant checkpoint")
    info = ExampleInfo.from_names(model.height, model.width, model.channels, DEEPVARIANT_VERSION)
    return save_deepvariant_checkpoint(model.network, prefix, example_info=info.to_json())


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the stored model with its weights, on ``device``, in eval mode (a DeepVariant checkpoint
    prefix too, see :func:`read_checkpoint_payload`)."""
    payload = read_checkpoint_payload(path)
    model = build_model(payload["architecture"], payload["height"], payload["width"], payload["channels"],
                        payload.get("dropout", 0.0))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise InputError(f"checkpoint {path} does not match its recorded architecture: {exc}") from exc
    model.to(device).eval()
    return Checkpoint(path=Path(path), model=model, architecture=payload["architecture"],
                      height=int(payload["height"]), width=int(payload["width"]),
                      channels=tuple(payload["channels"]), dropout=float(payload.get("dropout", 0.0)),
                      train_config=dict(payload.get("train_config", {})), step=int(payload.get("step", 0)),
                      epoch=float(payload.get("epoch", 0.0)), extra=dict(payload.get("extra", {})))


def _geometry_text(height: int, width: int, channels: Sequence[str]) -> str:
    return f"{height}x{width}x{len(channels)}"


def check_geometry(source: str, height: int, width: int, channels: Sequence[str],
                   expected_height: int, expected_width: int, expected_channels: Sequence[str], what: str) -> None:
    """InputError unless ``height x width`` matches; the message names both geometries."""
    if (int(height), int(width)) != (int(expected_height), int(expected_width)):
        raise InputError(
            f"{source} was built for pileups of {_geometry_text(height, width, channels)} "
            f"(height x width x channels) but {what} are "
            f"{_geometry_text(expected_height, expected_width, expected_channels)}; "
            "make the examples with the model's geometry or train a new model")


def check_compatible_for_inference(model: PileupClassifier, height: int, width: int, channels: Sequence[str],
                                   source: str = "the model", what: str = "the examples") -> None:
    """Inference needs the same geometry and the same channels in the same order."""
    channels = normalise_channels(channels)
    check_geometry(source, model.height, model.width, model.channels, height, width, channels, what)
    if tuple(model.channels) != channels:
        raise InputError(f"{source} expects channels {list(model.channels)} but {what} have {list(channels)}; "
                         "make examples with the model's channels")


def load_for_inference(path: str | os.PathLike, height: int, width: int, channels: Sequence[str],
                       device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint and check it against the examples it will be applied to."""
    checkpoint = load_checkpoint(path, device)
    check_compatible_for_inference(checkpoint.model, height, width, channels, source=f"checkpoint {path}")
    return checkpoint


@dataclass
class InitReport:
    """What :func:`initialise_from_checkpoint` copied."""

    checkpoint: Path
    copied_channels: list[str]
    new_channels: list[str]
    dropped_channels: list[str]


def _unnamed(channels: Sequence[str]) -> bool:
    """Whether channel names are placeholders (``channel_<i>``, :func:`normalise_channels` of a bare count)."""
    return all(name == f"channel_{i}" for i, name in enumerate(channels))


def initialise_from_checkpoint(model: PileupClassifier, path: str | os.PathLike,
                               copy_overlapping_channels: bool = False) -> InitReport:
    """Copy a checkpoint's weights into ``model`` to fine-tune from (DeepVariant's ``init_checkpoint``):
    a lowcov ``.pt`` file, or for ``inception_v3`` also a DeepVariant checkpoint prefix.

    Architecture and geometry must match (InputError otherwise; a DeepVariant checkpoint without
    ``example_info.json`` beside it has no geometry to check). When the channel lists differ, every
    layer but those reading the image (:meth:`PileupClassifier.input_conv_weight_names`) is copied as is;
    their weights are copied for the channels both models have, matched by name (by position when the
    checkpoint's channels have no names, as DeepVariant's ``load_weights_to_model_with_different_channels``
    copies the first ``min(C_checkpoint, C_model)``), and the model's own (random) initialisation is kept
    for channels the checkpoint lacks. Channels only the checkpoint has are dropped.

    DeepVariant's network (``inception_v3``) refuses other channels unless ``copy_overlapping_channels``
    (``config.copy_overlapping_channels``): DeepVariant does it silently, but a model meant for one
    channel list fine-tuned on another is usually a mistake in the examples, not a wish.
    """
    payload = read_checkpoint_payload(path)
    if payload["architecture"] != model.architecture:
        raise InputError(f"init checkpoint {path} is a {payload['architecture']!r} model but the training "
                         f"config asks for {model.architecture!r} (config.model_type)")
    stored_channels = tuple(payload["channels"])
    if not (payload.get("extra") or {}).get("deepvariant_checkpoint") or payload["extra"].get("example_info"):
        check_geometry(f"init checkpoint {path}", payload["height"], payload["width"], stored_channels,
                       model.height, model.width, model.channels, "the training examples")
    state = dict(payload["state_dict"])
    by_position = _unnamed(stored_channels) and not _unnamed(model.channels)
    if by_position:
        shared = min(len(stored_channels), len(model.channels))
        source_index = {name: i for i, name in enumerate(model.channels[:shared])}
    else:
        source_index = {name: stored_channels.index(name) for name in model.channels if name in stored_channels}
    copied = list(source_index)
    new = [c for c in model.channels if c not in source_index]
    dropped = [c for c in stored_channels if c not in model.channels] if not by_position else \
        list(stored_channels[len(copied):])
    if stored_channels != model.channels:
        if model.architecture == DEEPVARIANT_ARCHITECTURE and not copy_overlapping_channels:
            raise InputError(
                f"init checkpoint {path} reads {len(stored_channels)} channels {list(stored_channels)} but the "
                f"training examples have {len(model.channels)}: {list(model.channels)}; make the examples with "
                "the checkpoint's channels, or set config.copy_overlapping_channels=true to copy the first "
                "convolution's weights for the channels both have (the others start from random weights)")
        for first in model.input_conv_weight_names():
            if first not in state:
                continue  # load_state_dict below names what the checkpoint lacks
            stored_weight = state[first]
            weight = model.state_dict()[first].detach().clone().cpu()
            for index, name in enumerate(model.channels):
                if name in source_index:
                    weight[:, index] = stored_weight[:, source_index[name]]
            state[first] = weight
        logger.info("init checkpoint %s: channels differ; copied the image-reading layers' weights for %s%s, "
                    "new: %s, dropped: %s", path, copied, " (by position)" if by_position else "", new, dropped)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(f"init checkpoint {path} does not fit the model: {exc}") from exc
    return InitReport(checkpoint=Path(path), copied_channels=copied, new_channels=new, dropped_channels=dropped)
