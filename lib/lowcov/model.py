"""Genotype classifiers over pileup images: the network behind the native engine's ``call_variants``.

Two architectures, both three-class softmax over the candidate allele's genotype
(0 hom-ref, 1 het, 2 hom-alt):

``compact`` (default)
    A small residual CNN sized to train at >= 300 examples/s on a 2-core CPU in float32 with DeepVariant's
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

from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from . import InputError
from .dvmodel import MIN_SIZE as INCEPTION_V3_MIN_SIZE, DeepVariantInceptionV3
from .pileup import BASE_CHANNELS, DEFAULT_CHANNELS as PILEUP_CHANNELS, WGS_CHANNELS

#: the channels a model reads by default: the pileup's (DeepVariant's WGS channels, in its order)
DEFAULT_CHANNELS: tuple[str, ...] = PILEUP_CHANNELS
#: DeepVariant's default pileup geometry (rows incl. 5 reference rows, columns).
DEFAULT_HEIGHT, DEFAULT_WIDTH = 100, 221
#: rows at the top of a pileup that draw the reference, not a read (DeepVariant's and lowcov.pileup's)
REFERENCE_ROWS = 5
#: genotype classes, in label order
CLASS_NAMES: tuple[str, ...] = ("hom_ref", "het", "hom_alt")
NUM_CLASSES = len(CLASS_NAMES)


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


#: the compact network's residual-block width (64 before it was halved for time: CompactNet says why)
COMPACT_BLOCK_WIDTH = 32


class CompactNet(PileupClassifier):
    """The default CPU-sized network (see module docstring).

    Layout for 100x221 input: a 4x4 stride-4 "patch" stem (-> 25x55, each output sees a 4-read x
    4-column tile), a stride-2 3x3 convolution (-> 13x28), two residual blocks, global average pooling;
    beside them :class:`CandidateReads` over the 33 columns around the candidate; dropout and a linear
    layer. About 61 k parameters and ~23 M multiply-adds per example forward (8 channels).

    Why this shape: on a 2-core CPU the cost is dominated by convolutions and the memory traffic of
    batch norm/ReLU on large early feature maps, so the image is shrunk 16x in area in the very first
    layer; the receptive field of the last block still spans ~75 columns around the candidate, which
    covers the reads' local context that DeepVariant's pileups encode. The benchmark
    (``benchmarks/benchmark_train.py``, 2 threads, 100x221x6, idle machine) measured 380-440 training
    examples/s (batch 256) and ~1100 inference examples/s (batch 512) before :class:`CandidateReads` was
    added; a 3x3 stride-2 stem with residual blocks at 25x56 was 3-5x slower. With it (2 threads, idle):
    ~380 training examples/s in float32 and ~570 in bfloat16 on a CPU with AVX512-BF16 (batch 64), and
    ~850 examples/s calling (batch 128, reading the shards included); the branch itself costs a few
    per cent. Those figures are of residual blocks 64 channels wide (0.18 M parameters, ~67 M
    multiply-adds).

    The blocks are 32 wide since a CPU without bfloat16 (AMD EPYC at 2.4 GHz, AVX2 only) ran the demo book
    in 96 minutes, over its budget: there the 3x3 convolutions of the blocks already ran near the cores'
    float32 peak (~128 GFLOP/s forward), so only fewer multiply-adds could help. On that CPU (2 threads,
    batch 256, 100x221x8) 32-wide blocks train at 401 examples/s against 162 (infer 871 against 673), and
    chapter 3's training took 422 s against 869. On the tune contig chr10 (chapter 3's recipe and seed,
    ``benchmarks/chr10_low_coverage.py``) the narrower network's F1 minus the wider one's, paired over
    100-kb blocks: at 50 % SNP +0.0031 [+0.0004, +0.0071], INDEL -0.0015 [-0.0171, +0.0130]; at full
    coverage SNP -0.0008 [-0.0019, 0.0000], INDEL -0.0062 [-0.0148, +0.0032]. One training seed each:
    the seed alone moves these figures by as much (the methods page).
    """

    architecture = "compact"

    def __init__(self, height: int, width: int, channels: Sequence[str], dropout: float,
                 stem_width: int = 32, block_width: int = COMPACT_BLOCK_WIDTH, num_blocks: int = 2) -> None:
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
        for known in (DEFAULT_CHANNELS, WGS_CHANNELS, BASE_CHANNELS):
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


# --------------------------------------------------------------------------------------------------
# checkpoints: defined in lowcov.checkpoints (which imports this module), importable from here too

_CHECKPOINT_NAMES = frozenset({
    "CHECKPOINT_FORMAT", "Checkpoint", "InitReport", "check_compatible_for_inference", "check_geometry",
    "deepvariant_payload", "export_deepvariant_checkpoint", "initialise_from_checkpoint", "load_checkpoint",
    "load_for_inference", "model_description", "read_checkpoint_payload", "save_checkpoint",
})


def __getattr__(name: str) -> Any:
    if name in _CHECKPOINT_NAMES:
        from . import checkpoints

        return getattr(checkpoints, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _CHECKPOINT_NAMES)
