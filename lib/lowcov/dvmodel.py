"""DeepVariant 1.8's network (Keras InceptionV3 + dropout + 3-way softmax) in PyTorch, reading and writing
DeepVariant's TensorFlow checkpoints; it differs from DeepVariant only in training-time details (the
batch-norm running variance is updated with the unbiased batch variance, no L2 weight decay is built in).

The network, as ``deepvariant/keras_modeling.py`` builds it::

    tf.keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(100, 221, C), pooling="avg")
    -> Dropout(0.2) -> Dense(3, softmax, name="classification")

on pixels scaled to ``(x - 128) / 128`` (``dv_utils.preprocess_images``). Keras' InceptionV3 uses
convolutions without bias, each followed by batch norm without a scale (epsilon 0.001, momentum 0.99)
and a ReLU; its strided convolutions and max-pools use ``valid`` padding and its ``same`` paddings are
all stride 1 (symmetric); its 3x3 average pools (``same``) average over the pixels inside the image only.

Checkpoints are ``tf.train.Checkpoint(model)`` files (``prefix.index`` + ``prefix.data-*``), the format
``deepvariant/train.py`` saves and ``--config.init_checkpoint`` / ``call_variants --checkpoint`` read.
Their variables are named ``layer_with_weights-N/<kernel|bias|beta|moving_mean|moving_variance>/
.ATTRIBUTES/VARIABLE_VALUE``, where ``N`` counts the layers that have weights in the order of the Keras
model's ``layers`` list. That order is not the order the layers are written in Keras' source: a
functional model sorts its layers by their distance from the output (farthest first) and, at equal
distance, by when a depth-first walk from the output first reaches them. :func:`keras_layer_order`
reproduces that rule over :data:`GRAPH`, the network written out layer by layer as Keras has it, so the
checkpoint names follow from the same description the forward pass runs.

Reading and writing TensorFlow checkpoints needs TensorFlow (``pip install 'lowcov[deepvariant]'``);
the network itself does not.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import InputError

NUM_CLASSES = 3
HEIGHT, WIDTH = 100, 221
FEATURES = 2048
DROPOUT = 0.2
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.01  # PyTorch's convention; Keras' 0.99
#: Keras InceptionV3 refuses inputs smaller than this without pretrained weights
MIN_SIZE = 75

_ATTR = "/.ATTRIBUTES/VARIABLE_VALUE"
_INSTALL_HINT = "pip install 'lowcov[deepvariant]'"


# --------------------------------------------------------------------------------------------------
# the network as Keras lays it out


@dataclass(frozen=True)
class Layer:
    """One Keras layer: ``kind`` is input, conv, bn, relu, maxpool, avgpool, concat, gap, dropout or dense."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    filters: int = 0
    kernel: tuple[int, int] = (1, 1)
    stride: int = 1
    padding: str = "same"
    #: for conv and bn: index of the conv block (its position in Keras' source order); -1 otherwise
    block: int = -1


@dataclass
class _Builder:
    layers: list[Layer] = field(default_factory=list)
    blocks: int = 0
    _counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, inputs: Sequence[str], **params) -> str:
        number = self._counts.get(kind, 0)
        self._counts[kind] = number + 1
        name = kind if number == 0 else f"{kind}_{number}"
        self.layers.append(Layer(name, kind, tuple(inputs), **params))
        return name

    def conv_bn(self, x: str, filters: int, rows: int, cols: int, stride: int = 1, padding: str = "same") -> str:
        block = self.blocks
        self.blocks += 1
        conv = self.add("conv", [x], filters=filters, kernel=(rows, cols), stride=stride, padding=padding, block=block)
        bn = self.add("bn", [conv], filters=filters, block=block)
        return self.add("relu", [bn])

    def avgpool(self, x: str) -> str:
        return self.add("avgpool", [x], kernel=(3, 3), stride=1, padding="same")

    def maxpool(self, x: str) -> str:
        return self.add("maxpool", [x], kernel=(3, 3), stride=2, padding="valid")


def _inception_v3() -> tuple[list[Layer], int]:
    """Keras' InceptionV3 (``include_top=False, pooling='avg'``) and DeepVariant's head, layer by layer,
    in the order Keras' source creates them."""
    b = _Builder()
    x = b.add("input", [])
    x = b.conv_bn(x, 32, 3, 3, stride=2, padding="valid")
    x = b.conv_bn(x, 32, 3, 3, padding="valid")
    x = b.conv_bn(x, 64, 3, 3)
    x = b.maxpool(x)
    x = b.conv_bn(x, 80, 1, 1, padding="valid")
    x = b.conv_bn(x, 192, 3, 3, padding="valid")
    x = b.maxpool(x)

    for pool_filters in (32, 64, 64):  # mixed0..2
        branch1 = b.conv_bn(x, 64, 1, 1)
        branch5 = b.conv_bn(b.conv_bn(x, 48, 1, 1), 64, 5, 5)
        branch3 = b.conv_bn(b.conv_bn(b.conv_bn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
        pool = b.conv_bn(b.avgpool(x), pool_filters, 1, 1)
        x = b.add("concat", [branch1, branch5, branch3, pool])

    # mixed3: grid reduction
    branch3 = b.conv_bn(x, 384, 3, 3, stride=2, padding="valid")
    branch3dbl = b.conv_bn(b.conv_bn(b.conv_bn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, stride=2, padding="valid")
    x = b.add("concat", [branch3, branch3dbl, b.maxpool(x)])

    for width in (128, 160, 160, 192):  # mixed4..7: factorised 7x7
        branch1 = b.conv_bn(x, 192, 1, 1)
        branch7 = b.conv_bn(b.conv_bn(b.conv_bn(x, width, 1, 1), width, 1, 7), 192, 7, 1)
        dbl = b.conv_bn(x, width, 1, 1)
        dbl = b.conv_bn(dbl, width, 7, 1)
        dbl = b.conv_bn(dbl, width, 1, 7)
        dbl = b.conv_bn(dbl, width, 7, 1)
        dbl = b.conv_bn(dbl, 192, 1, 7)
        pool = b.conv_bn(b.avgpool(x), 192, 1, 1)
        x = b.add("concat", [branch1, branch7, dbl, pool])

    # mixed8: grid reduction
    branch3 = b.conv_bn(b.conv_bn(x, 192, 1, 1), 320, 3, 3, stride=2, padding="valid")
    branch7 = b.conv_bn(b.conv_bn(b.conv_bn(x, 192, 1, 1), 192, 1, 7), 192, 7, 1)
    branch7 = b.conv_bn(branch7, 192, 3, 3, stride=2, padding="valid")
    x = b.add("concat", [branch3, branch7, b.maxpool(x)])

    for _ in range(2):  # mixed9, mixed10: expanded filter banks
        branch1 = b.conv_bn(x, 320, 1, 1)
        branch3 = b.conv_bn(x, 384, 1, 1)
        branch3 = b.add("concat", [b.conv_bn(branch3, 384, 1, 3), b.conv_bn(branch3, 384, 3, 1)])
        dbl = b.conv_bn(b.conv_bn(x, 448, 1, 1), 384, 3, 3)
        dbl = b.add("concat", [b.conv_bn(dbl, 384, 1, 3), b.conv_bn(dbl, 384, 3, 1)])
        pool = b.conv_bn(b.avgpool(x), 192, 1, 1)
        x = b.add("concat", [branch1, branch3, dbl, pool])

    x = b.add("gap", [x])
    x = b.add("dropout", [x])
    b.add("dense", [x], filters=NUM_CLASSES)
    return b.layers, b.blocks


GRAPH, NUM_BLOCKS = _inception_v3()


def keras_layer_order(layers: Sequence[Layer] = GRAPH) -> list[Layer]:
    """``layers`` in the order of a Keras functional model's ``model.layers`` (output = last layer).

    Keras measures each layer's depth as its longest distance from the output, lists the deepest first,
    and breaks ties by the order in which a depth-first walk from the output (visiting a layer's inputs
    in order) first meets them.
    """
    by_name = {layer.name: layer for layer in layers}
    discovered: dict[str, int] = {}
    finished: list[str] = []
    done: set[str] = set()
    # an explicit stack: the walk is ~300 layers deep, close to Python's recursion limit
    stack: list[tuple[str, int]] = [(layers[-1].name, 0)]
    while stack:
        name, next_input = stack.pop()
        if next_input == 0:
            if name in done:
                continue
            discovered.setdefault(name, len(discovered))
        inputs = by_name[name].inputs
        if next_input < len(inputs):
            stack.append((name, next_input + 1))
            if inputs[next_input] not in done:
                stack.append((inputs[next_input], 0))
            continue
        done.add(name)
        finished.append(name)
    depth: dict[str, int] = {}
    for name in reversed(finished):
        own = depth.setdefault(name, 0)
        for parent in by_name[name].inputs:
            depth[parent] = max(depth.get(parent, 0), own + 1)
    return [by_name[name] for name in sorted(finished, key=lambda n: (-depth[n], discovered[n]))]


def checkpoint_variables(channels: int) -> list[tuple[str, str, tuple[int, ...]]]:
    """``(checkpoint name, parameter path in the PyTorch module, TF shape)`` for every variable of
    DeepVariant's network with ``channels`` input channels, in ``layer_with_weights-N`` order."""
    in_channels: dict[str, int] = {"input": channels}
    for layer in GRAPH:  # source order is topological
        if layer.kind == "input":
            continue
        ins = [in_channels[name] for name in layer.inputs]
        in_channels[layer.name] = sum(ins) if layer.kind == "concat" else (layer.filters or ins[0])
    rows = []
    weighted = [layer for layer in keras_layer_order() if layer.kind in ("conv", "bn", "dense")]
    for n, layer in enumerate(weighted):
        prefix = f"layer_with_weights-{n}/"
        source = in_channels[layer.inputs[0]]
        if layer.kind == "conv":
            rows.append((prefix + "kernel" + _ATTR, f"convs.{layer.block}.weight",
                         (*layer.kernel, source, layer.filters)))
        elif layer.kind == "bn":
            for tf_name, torch_name in (("beta", "bias"), ("moving_mean", "running_mean"),
                                        ("moving_variance", "running_var")):
                rows.append((prefix + tf_name + _ATTR, f"bns.{layer.block}.{torch_name}", (layer.filters,)))
        else:
            rows.append((prefix + "kernel" + _ATTR, "classifier.weight", (source, layer.filters)))
            rows.append((prefix + "bias" + _ATTR, "classifier.bias", (layer.filters,)))
    return rows


# --------------------------------------------------------------------------------------------------
# PyTorch module


class BatchNormNoScale(nn.BatchNorm2d):
    """Keras ``BatchNormalization(scale=False)``: a learnt shift (``bias`` = Keras' beta), no learnt scale.

    The scale is a constant buffer of ones rather than a frozen parameter, so it is neither saved nor
    handed to optimisers, and the fused batch-norm kernel still runs.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, eps=BN_EPSILON, momentum=BN_MOMENTUM, affine=True)
        del self.weight
        self.register_buffer("weight", torch.ones(num_features), persistent=False)


class DeepVariantInceptionV3(nn.Module):
    """DeepVariant's network. ``forward`` takes DeepVariant images ``[N, H, W, C]`` (pixels 0..255, uint8
    or float, H and W at least 75; DeepVariant's are 100 x 221) and returns genotype probabilities
    ``[N, 3]`` (hom-ref, het, hom-alt); :meth:`logits` returns the scores before the softmax, for training.

    A fresh module is initialised as Keras initialises the network (Glorot-uniform kernels, zero
    shifts and biases, running mean 0 and variance 1); seed torch beforehand for reproducible weights.
    """

    architecture = "deepvariant_inception_v3"

    def __init__(self, channels: int = 7, dropout: float = DROPOUT) -> None:
        super().__init__()
        if channels < 1:
            raise InputError(f"DeepVariant's network needs at least one input channel, got {channels}")
        self.channels = int(channels)
        out_channels: dict[str, int] = {"input": self.channels}
        convs: list[nn.Module] = [nn.Identity()] * NUM_BLOCKS
        bns: list[nn.Module] = [nn.Identity()] * NUM_BLOCKS
        for layer in GRAPH:
            if layer.kind == "input":
                continue
            ins = [out_channels[name] for name in layer.inputs]
            out_channels[layer.name] = sum(ins) if layer.kind == "concat" else (layer.filters or ins[0])
            if layer.kind == "conv":
                rows, cols = layer.kernel
                # Keras' 'same' at stride 1 with odd kernels pads symmetrically; 'valid' pads nothing
                padding = (rows // 2, cols // 2) if layer.padding == "same" else (0, 0)
                convs[layer.block] = nn.Conv2d(ins[0], layer.filters, layer.kernel, stride=layer.stride,
                                               padding=padding, bias=False)
            elif layer.kind == "bn":
                bns[layer.block] = BatchNormNoScale(layer.filters)
        self.convs = nn.ModuleList(convs)
        self.bns = nn.ModuleList(bns)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(FEATURES, NUM_CLASSES)
        self.maxpool = nn.MaxPool2d(3, stride=2)
        # TensorFlow's 'same' average pool divides by the number of pixels inside the image
        self.avgpool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        # how many later layers read each layer's output, to drop intermediate maps as soon as possible
        self._readers: dict[str, int] = {}
        for layer in GRAPH:
            for name in layer.inputs:
                self._readers[name] = self._readers.get(name, 0) + 1
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in self.convs:
            nn.init.xavier_uniform_(conv.weight)  # = Keras' glorot_uniform (fans include the kernel area)
        for bn in self.bns:
            bn.reset_running_stats()
            nn.init.zeros_(bn.bias)
        nn.init.xavier_uniform_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)

    @property
    def geometry(self) -> tuple[int, int, int]:
        return HEIGHT, WIDTH, self.channels

    def batch_norms(self) -> list[nn.BatchNorm2d]:
        return list(self.bns)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[3] != self.channels:
            raise ValueError(f"expected DeepVariant images [N, H, W, {self.channels}], got {tuple(images.shape)}")
        if images.shape[1] < MIN_SIZE or images.shape[2] < MIN_SIZE:
            raise ValueError(f"InceptionV3 needs images of at least {MIN_SIZE}x{MIN_SIZE}, got "
                             f"{images.shape[1]}x{images.shape[2]}")
        x = images.to(self.classifier.weight.dtype, copy=True)  # float32 unless the module was converted
        x.sub_(128.0).mul_(1.0 / 128.0)  # dv_utils.preprocess_images; 1/128 is exact
        # NHWC -> NCHW as a view: channels_last memory, which oneDNN's CPU convolutions prefer
        outputs: dict[str, torch.Tensor] = {"input": x.permute(0, 3, 1, 2)}
        readers = dict(self._readers)
        for layer in GRAPH[1:]:
            ins = [outputs[name] for name in layer.inputs]
            for name in layer.inputs:
                readers[name] -= 1
                if readers[name] == 0:
                    del outputs[name]
            kind = layer.kind
            if kind == "conv":
                out = self.convs[layer.block](ins[0])
            elif kind == "bn":
                out = self.bns[layer.block](ins[0])
            elif kind == "relu":
                out = F.relu(ins[0], inplace=True)
            elif kind == "maxpool":
                out = self.maxpool(ins[0])
            elif kind == "avgpool":
                out = self.avgpool(ins[0])
            elif kind == "concat":
                out = torch.cat(ins, dim=1)
            elif kind == "gap":
                out = ins[0].mean(dim=(2, 3))
            elif kind == "dropout":
                out = self.dropout(ins[0])
            else:
                out = self.classifier(ins[0])
            outputs[layer.name] = out
        return outputs[GRAPH[-1].name]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(images), dim=1)


def with_channels(source: DeepVariantInceptionV3, channels: int) -> DeepVariantInceptionV3:
    """A copy of ``source`` for ``channels`` input channels, as DeepVariant initialises a model from a
    checkpoint with another channel count: every weight is copied except the first convolution's,
    whose input channels both models have (the first ``min`` of them, by position) are copied and the
    rest are freshly initialised (seed torch for reproducibility)."""
    target = DeepVariantInceptionV3(channels, dropout=source.dropout.p)
    state = {k: v for k, v in source.state_dict().items() if k != "convs.0.weight"}
    target.load_state_dict(state, strict=False)
    shared = min(channels, source.channels)
    with torch.no_grad():
        target.convs[0].weight[:, :shared] = source.convs[0].weight[:, :shared]
    return target.train(source.training)


# --------------------------------------------------------------------------------------------------
# TensorFlow checkpoints


def _tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up banner is not our output
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ImportError("reading or writing DeepVariant's TensorFlow checkpoints needs TensorFlow: "
                          f"{_INSTALL_HINT}") from exc
    return tf


_CHECKPOINT_FILE = re.compile(r"\.(index|data-\d{5}-of-\d{5})$")


def is_checkpoint_prefix(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a TensorFlow checkpoint -- its prefix (``prefix.index`` exists), its
    ``.index`` or ``.data-*`` file, or a directory whose ``checkpoint`` state file names one -- rather
    than a file of another kind (a lowcov ``.pt``). Needs no TensorFlow."""
    text = str(path)
    if _CHECKPOINT_FILE.search(text) or os.path.exists(text + ".index"):
        return True
    return os.path.isdir(text) and os.path.exists(os.path.join(text, "checkpoint"))


def resolve_prefix(prefix: str | os.PathLike) -> str:
    """The checkpoint prefix ``prefix`` names (see :func:`is_checkpoint_prefix`); InputError when it has no
    ``.index`` file."""
    path = str(prefix)
    path = _CHECKPOINT_FILE.sub("", path)
    if os.path.isdir(path):
        # TensorFlow's 'checkpoint' state file names the latest checkpoint of a directory
        state = Path(path) / "checkpoint"
        found = re.search(r'^model_checkpoint_path:\s*"([^"]+)"', state.read_text(), re.M) if state.exists() else None
        if found is None:
            raise InputError(f"{path} is a directory without a TensorFlow 'checkpoint' file naming its latest "
                             "checkpoint; pass the checkpoint prefix (the path before .index)")
        path = os.path.join(path, found.group(1))
    if not os.path.exists(path + ".index"):
        raise InputError(f"no TensorFlow checkpoint at {path}: {path}.index does not exist "
                         "(pass the prefix, e.g. .../deepvariant.wgs.ckpt)")
    return path


def _checkpoint_root(names: set[str], index: str) -> str:
    """The prefix the model's variables sit under: '' for ``tf.train.Checkpoint(model)`` (DeepVariant's
    deployable checkpoints), 'model/' for training state saved as ``Checkpoint(model=model, ...)``."""
    first = "layer_with_weights-0/kernel" + _ATTR
    for root in ("", "model/"):
        if root + first in names:
            return root
    if any(name.startswith("layer_with_weights-0/layer_with_weights-0/") for name in names):
        raise InputError(f"{index}: an older DeepVariant Keras checkpoint with the backbone nested inside "
                         "the model (layer_with_weights-0/layer_with_weights-0/...); DeepVariant 1.6+ "
                         "rejects it too")
    example = sorted(n for n in names if n != "_CHECKPOINTABLE_OBJECT_GRAPH")[:3]
    raise InputError(f"{index}: not a DeepVariant Keras checkpoint: no variable {first} "
                     f"(first variables: {example})")


def load_checkpoint(prefix: str | os.PathLike) -> DeepVariantInceptionV3:
    """DeepVariant's network with the weights of the TensorFlow checkpoint ``prefix`` (``prefix.index``
    + ``prefix.data-*``; a directory means its latest checkpoint), in eval mode. The channel count is
    taken from the checkpoint's first convolution."""
    path = resolve_prefix(prefix)
    tf = _tensorflow()
    index = path + ".index"
    try:
        reader = tf.train.load_checkpoint(path)
        shapes = {name: tuple(shape) for name, shape in reader.get_variable_to_shape_map().items()}
    except (tf.errors.OpError, ValueError) as exc:
        raise InputError(f"cannot read TensorFlow checkpoint {index}: {exc}") from exc
    root = _checkpoint_root(set(shapes), index)
    first_kernel = shapes[root + "layer_with_weights-0/kernel" + _ATTR]
    if len(first_kernel) != 4:
        raise InputError(f"{index}: variable {root}layer_with_weights-0/kernel{_ATTR} has shape {first_kernel}, "
                         "not a convolution kernel [rows, cols, channels, filters]")
    module = DeepVariantInceptionV3(first_kernel[2])
    expected = checkpoint_variables(module.channels)
    for name, _, shape in expected:
        if root + name not in shapes:
            raise InputError(f"{index}: variable {root}{name} is missing; this checkpoint is not DeepVariant's "
                             "InceptionV3 (expected variables named as keras_modeling.inceptionv3 saves them)")
        if shapes[root + name] != shape:
            raise InputError(f"{index}: variable {root}{name} has shape {list(shapes[root + name])}, "
                             f"DeepVariant's InceptionV3 with {module.channels} channels has {list(shape)} there")
    known = {root + name for name, _, _ in expected}
    extra = sorted((n for n in shapes if n.startswith(root + "layer_with_weights-") and n not in known
                    and ".OPTIMIZER_SLOT" not in n),
                   key=lambda n: (int(n[len(root):].split("/")[0].split("-")[1]), n))
    if extra:
        raise InputError(f"{index}: unexpected variable {extra[0]} ({len(extra)} in all); this checkpoint holds "
                         "a network other than DeepVariant's InceptionV3")
    params = dict(module.named_parameters())
    params.update(module.named_buffers())
    with torch.no_grad():
        for name, torch_name, _ in expected:
            value = torch.from_numpy(np.ascontiguousarray(reader.get_tensor(root + name), dtype=np.float32))
            if value.dim() == 4:
                value = value.permute(3, 2, 0, 1)  # HWIO -> OIHW
            elif value.dim() == 2:
                value = value.t()  # Dense kernel [in, out] -> Linear weight [out, in]
            params[torch_name].copy_(value)
    return module.eval()


def checkpoint_arrays(module: DeepVariantInceptionV3) -> Iterator[tuple[str, np.ndarray]]:
    """``(checkpoint name, float32 array in TensorFlow's layout)`` for every variable of ``module``."""
    params = dict(module.named_parameters())
    params.update(module.named_buffers())
    for name, torch_name, shape in checkpoint_variables(module.channels):
        value = params[torch_name].detach().to("cpu", torch.float32)
        if value.dim() == 4:
            value = value.permute(2, 3, 1, 0)  # OIHW -> HWIO
        elif value.dim() == 2:
            value = value.t()
        array = np.ascontiguousarray(value.numpy())
        assert array.shape == shape, (name, array.shape, shape)
        yield name, array


def save_checkpoint(module: DeepVariantInceptionV3, prefix: str | os.PathLike,
                    example_info: dict | None = None) -> Path:
    """Write ``module``'s weights as a TensorFlow checkpoint ``prefix.index`` + ``prefix.data-00000-of-00001``
    with DeepVariant's variable names, which ``tf.train.Checkpoint(model).read`` and Keras'
    ``model.load_weights`` (DeepVariant's ``init_checkpoint`` and ``call_variants``) restore into
    ``keras_modeling.inceptionv3``. With ``example_info`` (e.g. ``{"version": "1.8.0", "shape": [100, 221, 7],
    "channels": [1, 2, 3, 4, 5, 6, 19]}``) also writes ``example_info.json`` beside it, which DeepVariant
    reads from a checkpoint's directory. The files appear complete or not at all."""
    if not isinstance(module, DeepVariantInceptionV3):
        raise TypeError(f"save_checkpoint writes DeepVariantInceptionV3 modules, got {type(module).__name__}")
    tf = _tensorflow()
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    layers: dict[str, tf.Module] = {}
    for name, array in checkpoint_arrays(module):
        layer, attribute = name[: -len(_ATTR)].split("/")
        setattr(layers.setdefault(layer, tf.Module()), attribute, tf.Variable(array, name=attribute))
    staging = Path(tempfile.mkdtemp(prefix=f".partial-{prefix.name}-", dir=prefix.parent))
    try:
        written = tf.train.Checkpoint(**layers).write(str(staging / prefix.name))
        data_files = sorted(Path(staging).glob(prefix.name + ".data-*"))
        for data in data_files:
            os.replace(data, prefix.parent / data.name)
        # the index names the data shards, so it goes last: a reader never sees an index without its data
        os.replace(written + ".index", str(prefix) + ".index")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if example_info is not None:
        info_path = prefix.parent / "example_info.json"
        tmp = info_path.with_name(f".partial-{os.getpid()}-{info_path.name}")
        tmp.write_text(json.dumps(example_info) + "\n")
        os.replace(tmp, info_path)
    return prefix
