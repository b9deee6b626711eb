"""Genotype classifiers over pileup images: the network behind the native engine's ``call_variants``.

Two architectures, both three-class softmax over the candidate allele's genotype
(0 hom-ref, 1 het, 2 hom-alt):

``compact`` (default)
    A small residual CNN sized to train at >= 300 examples/s on a 2-core CPU with DeepVariant's
    default geometry (100 rows x 221 columns x 7 channels); see ``benchmarks/benchmark_train.py``.
    Strided early convolutions shrink the image quickly (the genotype signal is per read -- does it
    support the allele -- and around the centre column, so a coarse map still carries it), batch norm, residual blocks,
    global average pooling and dropout (``backbone_dropout_rate``) before the classifier. Beside the
    backbone, :class:`CandidateReads` looks at each read on its own around the candidate and pools over
    reads, which the strided stem (four reads per patch) cannot do.

``inception``
    A reduced InceptionV3-like stack (stem, Inception-A blocks, a grid reduction, Inception-B blocks
    with factorised 1x7/7x1 convolutions) for GPUs. DeepVariant itself uses a full InceptionV3; this
    keeps its shape at a fraction of the width. It is not meant to be fast on a CPU.

``inception_v3`` (DeepVariant's ``config.model_type``)
    DeepVariant 1.8's own network, :class:`lowcov.dvmodel.DeepVariantInceptionV3`, inside the same
    shell (:class:`DeepVariantNet`): the native trainer fine-tunes it and the native caller calls with
    it. Besides lowcov's ``.pt`` files it reads DeepVariant's TensorFlow checkpoints (a prefix with
    ``prefix.index`` + ``prefix.data-*``; :func:`read_checkpoint_payload`) and writes them back
    (:func:`export_deepvariant_checkpoint`). Its channel list must match the examples' unless the copy
    of the overlapping first-layer channels is asked for (:func:`initialise_from_checkpoint`).

Both take images as DeepVariant stores them, ``[N, H, W, C]`` with pixel values 0..254 (uint8 or float),
and see ``(x - 128) / 128``, channels-first, inside ``forward``. A model carries its architecture
name, geometry and channel names, and checkpoints record them, so a checkpoint can be checked against
the examples it is applied to:

- other geometry -> :class:`lowcov.InputError` naming both geometries (always);
- other channels -> for inference, :class:`lowcov.InputError`; for initialising a fine-tuning run,
  the weights of the layers that read the image are copied channel by channel for the channels both
  lists share, by name, as DeepVariant does when the channel count differs (:func:`initialise_from_checkpoint`;
  for ``inception_v3`` only when asked).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from . import InputError
from .dvmodel import MIN_SIZE as INCEPTION_V3_MIN_SIZE, DeepVariantInceptionV3, is_checkpoint_prefix
from .fileio import atomic_output
from .pileup import BASE_CHANNELS, DEFAULT_CHANNELS as PILEUP_CHANNELS

logger = logging.getLogger(__name__)

#: the channels a model reads by default: the pileup's (DeepVariant's WGS channels, in its order)
DEFAULT_CHANNELS: tuple[str, ...] = PILEUP_CHANNELS
#: DeepVariant's default pileup geometry (rows incl. 5 reference rows, columns).
DEFAULT_HEIGHT, DEFAULT_WIDTH = 100, 221
#: rows at the top of a pileup that draw the reference, not a read (DeepVariant's and lowcov.pileup's)
REFERENCE_ROWS = 5
#: genotype classes, in label order
CLASS_NAMES: tuple[str, ...] = ("hom_ref", "het", "hom_alt")
NUM_CLASSES = len(CLASS_NAMES)
#: checkpoint layout version; bump when the stored keys change meaning
CHECKPOINT_FORMAT = 1


# --------------------------------------------------------------------------------------------------
# building blocks


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | None = None) -> nn.Sequential:
    """Convolution without bias (batch norm supplies the shift), batch norm, ReLU."""
    if padding is None:
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        padding = (ks[0] // 2, ks[1] // 2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or strided 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        # Zero-initialised last norm: each block starts as the identity, which keeps early training stable
        # with the large learning rates DeepVariant's defaults use.
        nn.init.zeros_(self.bn2.weight)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CandidateReads(nn.Module):
    """Per-read features around the candidate, summed and averaged over the reads.

    Each read row's ``2 * half_window + 1`` columns centred on the candidate go through the same small
    network (a ``1 x window`` convolution, then a 1x1 one), so a read is seen on its own: whether it
    carries the allele, its base and mapping qualities and strand there, and whether it spans the
    candidate's neighbourhood or ends inside it (a read ending inside a repeat cannot show an indel
    there). A genotype is a statement about how many reads carry the allele, which sums and means over
    reads express directly; the backbone's stem mixes four reads per patch before it sees them.
    Returns ``2 * features`` values: the sum over reads scaled by the read rows, and the mean over the
    reads present (rows below the last read are empty: 0 in every channel).
    """

    def __init__(self, channels: int, width: int, reference_rows: int, half_window: int = 16,
                 features: int = 32) -> None:
        super().__init__()
        self.reference_rows = int(reference_rows)
        self.half_window = min(int(half_window), width // 2)
        window = 2 * self.half_window + 1
        self.per_read = nn.Sequential(
            nn.Conv2d(channels, features, (1, window), bias=False), nn.BatchNorm2d(features), nn.ReLU(inplace=True),
            conv_bn_relu(features, features, 1))
        self.out_features = 2 * features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: normalised images [N, C, H, W] (an empty pixel is -1 in every channel)."""
        centre = x.shape[3] // 2
        reads = x[:, :, self.reference_rows:, centre - self.half_window:centre + self.half_window + 1]
        present = (reads[:, :, :, self.half_window] > -1).any(dim=1)  # [N, rows]; every drawn read covers the centre
        per_read = self.per_read(reads).squeeze(3).float() * present[:, None, :]
        total = per_read.sum(dim=2)
        count = present.sum(dim=1, keepdim=True).clamp(min=1)
        return torch.cat([total / reads.shape[2], total / count], dim=1)


class PileupClassifier(nn.Module):
    """Common shell: pixel normalisation, a backbone, global + centre-column pooling, optional per-read
    features at the candidate (:class:`CandidateReads`), dropout, linear classifier.

    Subclasses set ``self.backbone`` (an ``nn.Sequential`` whose first module starts with the first
    convolution, found by :meth:`input_conv`), optionally ``self.reads``, and call :meth:`_finish`.
    """

    architecture: str = ""

    def __init__(self, height: int, width: int, channels: Sequence[str], dropout: float) -> None:
        super().__init__()
        self.height, self.width = int(height), int(width)
        self.channels: tuple[str, ...] = tuple(channels)
        self.dropout_rate = float(dropout)
        self.reads: CandidateReads | None = None

    def _finish(self, feature_channels: int) -> None:
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(self.dropout_rate)
        # global features plus the features of the candidate's column (see forward)
        read_features = self.reads.out_features if self.reads is not None else 0
        self.classifier = nn.Linear(2 * feature_channels + read_features, NUM_CLASSES)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @property
    def geometry(self) -> tuple[int, int, int]:
        return self.height, self.width, len(self.channels)

    def input_conv(self) -> nn.Conv2d:
        """The convolution that reads the image channels (its weight is [out, C, kh, kw])."""
        for module in self.backbone.modules():
            if isinstance(module, nn.Conv2d):
                return module
        raise RuntimeError("backbone has no convolution")  # pragma: no cover - construction guarantees one

    def input_conv_weight_names(self) -> list[str]:
        """State-dict names of every convolution that reads the image channels (the backbone's first and,
        with :class:`CandidateReads`, the per-read one): what fine-tuning on other channels remaps."""
        targets = [self.input_conv()]
        if self.reads is not None:
            targets.append(self.reads.per_read[0])
        names = {id(module): name for name, module in self.named_modules()}
        return [f"{names[id(module)]}.weight" for module in targets]

    def check_images(self, images: torch.Tensor) -> None:
        if images.dim() != 4 or images.shape[1:] != (self.height, self.width, len(self.channels)):
            raise ValueError(f"expected images [N, {self.height}, {self.width}, {len(self.channels)}], "
                             f"got {tuple(images.shape)}")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images``: [N, H, W, C] pixels 0..254 (any dtype). Returns logits [N, 3]."""
        self.check_images(images)
        # Normalise in NHWC, where the tensor is contiguous (elementwise ops on the permuted view are
        # ~2.5x slower), in place; x * (1/128) is exact since 1/128 is a power of two.
        x = images.to(torch.float32, copy=True)
        x.sub_(128.0).mul_(1.0 / 128.0)
        # NHWC -> NCHW as a view: the result is channels_last in memory, which is what oneDNN's CPU
        # convolutions are fastest with, so no copy is needed.
        x = x.permute(0, 3, 1, 2)
        features = self.backbone(x)
        # Global pooling alone blurs the candidate into the 221-column window; the feature-map column
        # over the image's centre, averaged over reads, keeps what is seen at the candidate itself.
        centre = features[:, :, :, features.shape[3] // 2].mean(dim=2)
        pooled = [torch.flatten(self.pool(features), 1), centre]
        if self.reads is not None:
            pooled.append(self.reads(x))
        return self.classifier(self.dropout(torch.cat(pooled, dim=1)))


class CompactNet(PileupClassifier):
    """The default CPU-sized network (see module docstring).

    Layout for 100x221 input: a 4x4 stride-4 "patch" stem (-> 25x55, each output sees a 4-read x
    4-column tile), a stride-2 3x3 convolution (-> 13x28), two residual blocks, global average pooling;
    beside them :class:`CandidateReads` over the 33 columns around the candidate; dropout and a linear
    layer. About 0.18 M parameters and ~66 M multiply-adds per example forward.

    Why this shape: on a 2-core CPU the cost is dominated by convolutions and the memory traffic of
    batch norm/ReLU on large early feature maps, so the image is shrunk 16x in area in the very first
    layer; the receptive field of the last block still spans ~75 columns around the candidate, which
    covers the reads' local context that DeepVariant's pileups encode. The benchmark
    (``benchmarks/benchmark_train.py``, 2 threads, 100x221x6, idle machine) measured 380-440 training
    examples/s (batch 256) and ~1100 inference examples/s (batch 512) before :class:`CandidateReads` was
    added; a 3x3 stride-2 stem with residual blocks at 25x56 was 3-5x slower. With it (2 threads, idle):
    ~380 training examples/s in float32 and ~570 in bfloat16 on a CPU with AVX512-BF16 (batch 64), and
    ~850 examples/s calling (batch 128, reading the shards included); the branch itself costs a few
    per cent.
    """

    architecture = "compact"

    def __init__(self, height: int, width: int, channels: Sequence[str], dropout: float,
                 stem_width: int = 32, block_width: int = 64, num_blocks: int = 2) -> None:
        super().__init__(height, width, channels, dropout)
        layers: list[nn.Module] = [
            conv_bn_relu(len(self.channels), stem_width, 4, stride=4, padding=0),
            conv_bn_relu(stem_width, block_width, 3, stride=2),
        ]
        layers += [ResidualBlock(block_width, block_width) for _ in range(num_blocks)]
        self.backbone = nn.Sequential(*layers)
        self.reads = CandidateReads(len(self.channels), self.width, min(REFERENCE_ROWS, self.height - 1))
        self._finish(block_width)


class InceptionA(nn.Module):
    """Four parallel branches (1x1; 1x1->5x5; 1x1->3x3->3x3; avg-pool->1x1), concatenated."""

    def __init__(self, in_channels: int, pool_features: int, scale: int = 1) -> None:
        super().__init__()
        s = scale
        self.branch1 = conv_bn_relu(in_channels, 16 * s, 1)
        self.branch5 = nn.Sequential(conv_bn_relu(in_channels, 12 * s, 1), conv_bn_relu(12 * s, 16 * s, 5))
        self.branch3 = nn.Sequential(conv_bn_relu(in_channels, 16 * s, 1), conv_bn_relu(16 * s, 24 * s, 3),
                                     conv_bn_relu(24 * s, 24 * s, 3))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1),
                                         conv_bn_relu(in_channels, pool_features, 1))
        self.out_channels = 16 * s + 16 * s + 24 * s + pool_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch5(x), self.branch3(x), self.branch_pool(x)], 1)


class ReductionA(nn.Module):
    """Grid reduction by 2 with three parallel paths (strided 3x3; 1x1->3x3->strided 3x3; max-pool)."""

    def __init__(self, in_channels: int, scale: int = 1) -> None:
        super().__init__()
        s = scale
        self.branch3 = conv_bn_relu(in_channels, 96 * s, 3, stride=2, padding=0)
        self.branch3dbl = nn.Sequential(conv_bn_relu(in_channels, 16 * s, 1), conv_bn_relu(16 * s, 24 * s, 3),
                                        conv_bn_relu(24 * s, 24 * s, 3, stride=2, padding=0))
        self.pool = nn.MaxPool2d(3, stride=2)
        self.out_channels = 96 * s + 24 * s + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch3(x), self.branch3dbl(x), self.pool(x)], 1)


class InceptionB(nn.Module):
    """Factorised 7x7 branches (1x7 then 7x1), as in InceptionV3's 17x17 blocks."""

    def __init__(self, in_channels: int, mid: int, scale: int = 1) -> None:
        super().__init__()
        out = 48 * scale
        self.branch1 = conv_bn_relu(in_channels, out, 1)
        self.branch7 = nn.Sequential(conv_bn_relu(in_channels, mid, 1), conv_bn_relu(mid, mid, (1, 7)),
                                     conv_bn_relu(mid, out, (7, 1)))
        self.branch7dbl = nn.Sequential(conv_bn_relu(in_channels, mid, 1), conv_bn_relu(mid, mid, (7, 1)),
                                        conv_bn_relu(mid, mid, (1, 7)), conv_bn_relu(mid, mid, (7, 1)),
                                        conv_bn_relu(mid, out, (1, 7)))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), conv_bn_relu(in_channels, out, 1))
        self.out_channels = 4 * out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch7(x), self.branch7dbl(x), self.branch_pool(x)], 1)


class InceptionNet(PileupClassifier):
    """A reduced InceptionV3-like network for GPUs (about 1/4 of InceptionV3's widths, fewer blocks)."""

    architecture = "inception"

    def __init__(self, height: int, width: int, channels: Sequence[str], dropout: float, scale: int = 1) -> None:
        super().__init__(height, width, channels, dropout)
        stem = nn.Sequential(
            conv_bn_relu(len(self.channels), 32, 3, stride=2, padding=0),
            conv_bn_relu(32, 32, 3, padding=0),
            conv_bn_relu(32, 64, 3),
            nn.MaxPool2d(3, stride=2),
            conv_bn_relu(64, 80, 1),
            conv_bn_relu(80, 96, 3, padding=0),
        )
        a1 = InceptionA(96, 32, scale)
        a2 = InceptionA(a1.out_channels, 64, scale)
        reduction = ReductionA(a2.out_channels, scale)
        b1 = InceptionB(reduction.out_channels, 64, scale)
        b2 = InceptionB(b1.out_channels, 80, scale)
        self.backbone = nn.Sequential(stem, a1, a2, reduction, b1, b2)
        self._finish(b2.out_channels)


class DeepVariantNet(PileupClassifier):
    """DeepVariant's InceptionV3 (:class:`lowcov.dvmodel.DeepVariantInceptionV3`, held as ``network``) with
    the geometry and channel names lowcov's checkpoints record. ``forward`` returns logits, as the other
    architectures; the pixel scaling ``(x - 128) / 128`` is the network's own, DeepVariant's."""

    architecture = "inception_v3"

    def __init__(self, height: int, width: int, channels: Sequence[str], dropout: float) -> None:
        super().__init__(height, width, channels, dropout)
        self.network = DeepVariantInceptionV3(len(self.channels), dropout=self.dropout_rate)

    def input_conv(self) -> nn.Conv2d:
        return self.network.convs[0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_images(images)
        return self.network.logits(images)


ARCHITECTURES: dict[str, Callable[..., PileupClassifier]] = {
    CompactNet.architecture: CompactNet,
    InceptionNet.architecture: InceptionNet,
    DeepVariantNet.architecture: DeepVariantNet,
}
#: the architecture DeepVariant's TensorFlow checkpoints hold
DEEPVARIANT_ARCHITECTURE = DeepVariantNet.architecture


def normalise_channels(channels: Sequence[str] | int) -> tuple[str, ...]:
    """Channel names; an integer count becomes DeepVariant's defaults if it matches, else ``channel_<i>``."""
    if isinstance(channels, (int, np.integer)):
        for known in (DEFAULT_CHANNELS, BASE_CHANNELS):
            if int(channels) == len(known):
                return known
        return tuple(f"channel_{i}" for i in range(int(channels)))
    names = tuple(str(c) for c in channels)
    if len(set(names)) != len(names):
        raise InputError(f"channel names must be unique, got {list(names)}")
    return names


def build_model(name: str = "compact", height: int = DEFAULT_HEIGHT, width: int = DEFAULT_WIDTH,
                channels: Sequence[str] | int = DEFAULT_CHANNELS, dropout: float = 0.2) -> PileupClassifier:
    """A fresh, randomly initialised classifier (seed torch beforehand for reproducible weights)."""
    if name not in ARCHITECTURES:
        raise InputError(f"unknown model architecture {name!r}; choose one of {sorted(ARCHITECTURES)}")
    channel_names = normalise_channels(channels)
    if height < 8 or width < 8 or not channel_names:
        raise InputError(f"pileup geometry {height}x{width}x{len(channel_names)} is too small for a model")
    if name == "inception" and (height < 40 or width < 40):
        raise InputError(f"the inception model needs images of at least 40x40, got {height}x{width}")
    if name == DEEPVARIANT_ARCHITECTURE and min(height, width) < INCEPTION_V3_MIN_SIZE:
        raise InputError(f"DeepVariant's InceptionV3 needs images of at least {INCEPTION_V3_MIN_SIZE}x"
                         f"{INCEPTION_V3_MIN_SIZE} (Keras refuses smaller ones), got {height}x{width}")
    return ARCHITECTURES[name](height, width, channel_names, dropout)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------------
# checkpoints


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


# --------------------------------------------------------------------------------------------------
# inference


@torch.no_grad()
def predict(model: nn.Module, images_uint8: np.ndarray | torch.Tensor, batch_size: int = 512,
            device: str | torch.device | None = None) -> np.ndarray:
    """Genotype probabilities [N, 3] (float32, rows sum to 1) for images [N, H, W, C]; eval mode, batched.

    ``device``: where to compute (default: where the model's weights are); the model is moved there.
    The model's train/eval mode is restored afterwards.
    """
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    model.to(device)
    n = len(images_uint8)
    out = np.zeros((n, NUM_CLASSES), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, n, max(1, int(batch_size))):
            batch = images_uint8[start:start + batch_size]
            tensor = batch if isinstance(batch, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(batch))
            logits = model(tensor.to(device, non_blocking=True))
            out[start:start + len(batch)] = torch.softmax(logits.float(), dim=1).cpu().numpy()
    finally:
        model.train(was_training)
    return out
