"""DeepVariant's network in PyTorch against Keras' own InceptionV3, through TensorFlow checkpoints."""
from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lowcov import InputError
from lowcov.dvmodel import (DeepVariantInceptionV3, checkpoint_arrays, checkpoint_variables, keras_layer_order,
                            load_checkpoint, save_checkpoint, with_channels)
from lowcov.pileup import WGS_CHANNELS

TOLERANCE = 1e-4


def images(n: int, channels: int = 7, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, size=(n, 100, 221, channels), dtype=np.uint8)


# --------------------------------------------------------------------------------------------------
# without TensorFlow


def test_variable_names_follow_keras_layer_order():
    rows = checkpoint_variables(7)
    assert len(rows) == 94 + 94 * 3 + 2  # kernels, batch-norm triples, the classifier's kernel and bias
    assert rows[0] == ("layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", "convs.0.weight", (3, 3, 7, 32))
    assert rows[1][0] == "layer_with_weights-1/beta/.ATTRIBUTES/VARIABLE_VALUE"
    assert rows[-2] == ("layer_with_weights-188/kernel/.ATTRIBUTES/VARIABLE_VALUE", "classifier.weight", (2048, 3))
    # Keras lists the first Inception block's 1x1 convolution of the double-3x3 branch (created 8th)
    # before the block's other branches: layers sort by distance from the output
    blocks = [layer.block for layer in keras_layer_order() if layer.kind == "conv"]
    assert blocks[:8] == [0, 1, 2, 3, 4, 8, 6, 9]
    assert sorted(blocks) == list(range(94))


def test_forward_gives_probabilities_for_uint8_and_float_pixels():
    torch.manual_seed(0)
    model = DeepVariantInceptionV3(channels=6).eval()
    batch = images(2, channels=6)
    with torch.no_grad():
        p = model(torch.from_numpy(batch))
        q = model(torch.from_numpy(batch).float())
    assert p.shape == (2, 3)
    assert torch.allclose(p.sum(1), torch.ones(2))
    assert torch.equal(p, q)
    # Keras' InceptionV3 without top has 21,768,352 trainable weights at 3 channels (no batch-norm
    # scales); 6 channels add 3*3*3*32 to the first kernel, the classifier 2048*3+3
    assert sum(p.numel() for p in model.parameters()) == 21_768_352 + 864 + 6147
    with pytest.raises(ValueError, match=r"\[N, H, W, 6\]"):
        model(torch.from_numpy(images(1, channels=7)))


def test_with_channels_copies_the_shared_first_layer_channels():
    torch.manual_seed(1)
    source = DeepVariantInceptionV3(channels=6)
    wider = with_channels(source, 7)
    narrower = with_channels(source, 5)
    assert wider.channels == 7 and narrower.channels == 5
    assert torch.equal(wider.convs[0].weight[:, :6], source.convs[0].weight)
    assert not torch.equal(wider.convs[0].weight[:, 6], torch.zeros_like(wider.convs[0].weight[:, 6]))
    assert torch.equal(narrower.convs[0].weight, source.convs[0].weight[:, :5])
    assert torch.equal(wider.convs[50].weight, source.convs[50].weight)
    assert torch.equal(wider.bns[3].running_var, source.bns[3].running_var)
    assert torch.equal(wider.classifier.bias, source.classifier.bias)


def test_missing_checkpoint_names_the_index_file(tmp_path):
    with pytest.raises(InputError, match=r"wgs\.ckpt\.index does not exist"):
        load_checkpoint(tmp_path / "wgs.ckpt")
    with pytest.raises(InputError, match="without a TensorFlow 'checkpoint' file"):
        load_checkpoint(tmp_path)


def test_missing_tensorflow_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "wgs.ckpt.index").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # makes `import tensorflow` fail
    with pytest.raises(ImportError, match=r"pip install 'lowcov\[deepvariant\]'"):
        load_checkpoint(tmp_path / "wgs.ckpt")
    with pytest.raises(ImportError, match=r"lowcov\[deepvariant\]"):
        save_checkpoint(DeepVariantInceptionV3(3), tmp_path / "out.ckpt")


# --------------------------------------------------------------------------------------------------
# against TensorFlow / Keras 2 (DeepVariant 1.8 builds its network with tf.keras = Keras 2)


pytestmark = pytest.mark.filterwarnings("ignore:This model usually expects 1 or 3 input channels:UserWarning")


@pytest.fixture(scope="module")
def keras():
    tf = pytest.importorskip("tensorflow", reason="round trips with Keras need: pip install 'lowcov[deepvariant]'")
    tf_keras = pytest.importorskip("tf_keras", reason="DeepVariant's Keras 2 model needs tf-keras (pip install tf-keras)")
    return tf, tf_keras


def build_deepvariant_keras(tf_keras, channels: int = 7):
    """DeepVariant's keras_modeling.inceptionv3 without the imagenet start and the L2 regularisers
    (which change no weights or layer order), built with Keras' own InceptionV3."""
    backbone = tf_keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(100, 221, channels),
                                                 pooling="avg")
    hidden = tf_keras.layers.Dropout(0.2)(backbone.output)
    head = tf_keras.layers.Dense(3, activation="softmax", name="classification")(hidden)
    return tf_keras.Model(inputs=backbone.input, outputs=[head], name="inceptionv3")


def keras_probabilities(model, batch: np.ndarray) -> np.ndarray:
    x = (batch.astype(np.float32) - 128.0) / 128.0  # dv_utils.preprocess_images
    return model(x, training=False).numpy()


def torch_probabilities(module, batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(batch)).numpy()


@pytest.fixture(scope="module")
def keras_checkpoint(keras, tmp_path_factory):
    """A random DeepVariant network saved as DeepVariant's train saves it, with batch-norm statistics
    that are neither Keras' defaults nor exact: calibrated on a batch, then jittered."""
    tf, tf_keras = keras
    tf_keras.utils.set_random_seed(13)
    model = build_deepvariant_keras(tf_keras)
    rng = np.random.default_rng(2)
    bns = [layer for layer in model.layers if isinstance(layer, tf_keras.layers.BatchNormalization)]
    for layer in bns:
        beta, mean, variance = layer.get_weights()
        layer.set_weights([rng.normal(0, 0.2, beta.shape).astype(np.float32), mean, variance])
        layer.momentum = 0.0  # the training pass below sets the moving statistics to the batch's
    model((images(8, seed=1).astype(np.float32) - 128) / 128, training=True)
    for layer in bns:
        layer.momentum = 0.99
        beta, mean, variance = layer.get_weights()
        # jitter kept small: each layer's error shifts the next layer's input away from its statistics
        layer.set_weights([beta, mean + rng.normal(0, 0.02, mean.shape).astype(np.float32) * np.sqrt(variance),
                           variance * rng.uniform(0.95, 1.05, variance.shape).astype(np.float32)])
    dense = model.get_layer("classification")
    dense.set_weights([dense.get_weights()[0], rng.normal(0, 0.3, 3).astype(np.float32)])
    prefix = tmp_path_factory.mktemp("keras") / "ckpt"
    saved = tf.train.Checkpoint(model).save(str(prefix))  # DeepVariant's train.save_checkpoint
    return model, saved


def test_keras_checkpoint_loads_with_keras_probabilities(keras_checkpoint):
    model, saved = keras_checkpoint
    module = load_checkpoint(saved)
    assert not module.training and module.channels == 7
    batch = images(4, seed=3)
    expected = keras_probabilities(model, batch)
    # neither uniform nor saturated, so the comparison sees every layer
    assert 0.05 < np.abs(expected - 1 / 3).max() and expected.max() < 0.99
    got = torch_probabilities(module, batch)
    delta = np.abs(got - expected).max()
    print(f"max |p_torch - p_keras| after load_checkpoint: {delta:.2e}")
    assert delta <= TOLERANCE
    # the difference is float32 rounding: both are as close to the same network run in float64
    exact = torch_probabilities(copy.deepcopy(module).double(), batch)
    assert np.abs(got - exact).max() <= TOLERANCE and np.abs(expected - exact).max() <= TOLERANCE


def test_saved_checkpoint_loads_into_keras_with_torch_probabilities(keras, keras_checkpoint, tmp_path):
    tf, tf_keras = keras
    module = load_checkpoint(keras_checkpoint[1])
    torch.manual_seed(4)
    with torch.no_grad():  # weights the Keras model never had, so this direction is tested on its own
        for tensor in module.parameters():  # relative changes: large ones would saturate the softmax
            tensor.mul_(1 + 0.02 * torch.randn_like(tensor))
        for bn in module.bns:
            bn.running_mean.add_(0.01 * torch.randn_like(bn.running_mean) * bn.running_var.sqrt())
            bn.running_var.mul_(torch.empty_like(bn.running_var).uniform_(0.98, 1.02))
    info = {"version": "1.8.0", "shape": [100, 221, 7], "channels": [1, 2, 3, 4, 5, 6, 19]}
    prefix = save_checkpoint(module, tmp_path / "ema" / "checkpoint-10-0.5-1", example_info=info)
    assert (tmp_path / "ema" / "checkpoint-10-0.5-1.index").exists()
    assert not [p for p in (tmp_path / "ema").iterdir() if p.name.startswith(".partial")]
    assert (tmp_path / "ema" / "example_info.json").read_text().strip().startswith('{"version": "1.8.0"')

    batch = images(4, seed=5)
    expected = torch_probabilities(module, batch)
    assert 0.05 < np.abs(expected - 1 / 3).max() and expected.max() < 0.99
    # as DeepVariant restores init_checkpoint / call_variants checkpoints: Keras' load_weights
    restored = build_deepvariant_keras(tf_keras)
    restored.load_weights(str(prefix))
    delta = np.abs(keras_probabilities(restored, batch) - expected).max()
    print(f"max |p_keras - p_torch| after save_checkpoint: {delta:.2e}")
    assert delta <= TOLERANCE
    # every Keras variable is restored from the file
    again = build_deepvariant_keras(tf_keras)
    tf.train.Checkpoint(again).read(str(prefix)).assert_existing_objects_matched()
    assert np.abs(keras_probabilities(again, batch) - expected).max() <= TOLERANCE

    names = {name for name, _ in tf.train.list_variables(str(prefix))}
    assert names - {"_CHECKPOINTABLE_OBJECT_GRAPH"} == {row[0] for row in checkpoint_variables(7)}


def test_other_channel_counts_and_networks(keras, tmp_path):
    tf, tf_keras = keras
    torch.manual_seed(6)
    six = save_checkpoint(DeepVariantInceptionV3(6), tmp_path / "six.ckpt")
    assert load_checkpoint(str(six) + ".index").channels == 6  # a path to the .index also works

    # another network: a small Keras CNN saved the same way
    other = tf_keras.Sequential([tf_keras.Input((100, 221, 7)), tf_keras.layers.Conv2D(32, 3, strides=2),
                                 tf_keras.layers.GlobalAveragePooling2D(), tf_keras.layers.Dense(3)])
    prefix = tf.train.Checkpoint(other).write(str(tmp_path / "other"))
    with pytest.raises(InputError, match=r"other\.index: variable layer_with_weights-1/beta/\S+ is missing"):
        load_checkpoint(prefix)

    # right names, one wrong shape; and one variable too many
    module = DeepVariantInceptionV3(7)
    layers = {}
    for name, array in checkpoint_arrays(module):
        layer, attribute = name.split("/")[:2]
        if name.startswith("layer_with_weights-5/beta"):
            array = array[:10]
        setattr(layers.setdefault(layer, tf.Module()), attribute, tf.Variable(array))
    bad = tf.train.Checkpoint(**layers).write(str(tmp_path / "bad"))
    with pytest.raises(InputError, match=r"bad\.index: variable layer_with_weights-5/beta/\S+ has shape \[10\]"):
        load_checkpoint(bad)
    layers["layer_with_weights-5"].beta = tf.Variable(np.zeros(64, np.float32))
    layers["layer_with_weights-189"] = tf.Module()
    layers["layer_with_weights-189"].kernel = tf.Variable(np.zeros((3, 3), np.float32))
    extra = tf.train.Checkpoint(**layers).write(str(tmp_path / "extra"))
    with pytest.raises(InputError, match=r"extra\.index: unexpected variable layer_with_weights-189/kernel"):
        load_checkpoint(extra)


# --------------------------------------------------------------------------------------------------
# the native trainer and batch-norm surgery on DeepVariant checkpoints (lowcov.model, lowcov.batchnorm)


DEEPVARIANT_INFO = {"version": "1.8.0", "shape": [100, 221, 7], "channels": [1, 2, 3, 4, 5, 6, 19]}


@pytest.fixture
def model_dir_checkpoint(keras_checkpoint, tmp_path):
    """The Keras checkpoint laid out as DeepVariant publishes its models: ``deepvariant.wgs.ckpt.index`` +
    ``.data-00000-of-00001`` with ``example_info.json`` in the same directory."""
    saved = Path(keras_checkpoint[1])
    directory = tmp_path / "wgs"
    directory.mkdir()
    for part in saved.parent.glob(saved.name + ".*"):
        shutil.copyfile(part, directory / ("deepvariant.wgs.ckpt" + part.name[len(saved.name):]))
    (directory / "example_info.json").write_text(json.dumps(DEEPVARIANT_INFO))
    return directory / "deepvariant.wgs.ckpt"


def tensorflow_variables(prefix) -> dict[str, np.ndarray]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    return {name: reader.get_tensor(name) for name, _, _ in checkpoint_variables(7)}


def write_random_example_set(directory: Path, n: int, seed: int):
    """Labelled examples of random pixels: the images the Keras checkpoint's batch norm was calibrated on
    (on pileups it never saw, a random network's frozen statistics let activations overflow)."""
    from lowcov.shards import ExampleSet, shard_name, write_info, write_shard

    directory.mkdir(parents=True)
    labels = np.random.default_rng(seed).integers(0, 3, n).astype(np.int8)
    write_shard(directory / shard_name(0, 1), images(n, seed=seed), labels,
                {"contig": np.array(["chr1"] * n), "position": np.arange(1, n + 1)})
    write_info(directory, {"height": 100, "width": 221, "channels": list(WGS_CHANNELS), "n_examples": n,
                           "shards": [shard_name(0, 1)]})
    return ExampleSet.open(directory)


def test_native_trainer_fine_tunes_deepvariant_checkpoint_and_writes_it_back(keras, model_dir_checkpoint, tmp_path):
    from test_train import fast_config

    from lowcov.model import load_checkpoint as load_lowcov_checkpoint
    from lowcov.train import train

    tf, tf_keras = keras
    train_set = write_random_example_set(tmp_path / "train", 8, seed=11)
    tune_set = write_random_example_set(tmp_path / "tune", 4, seed=12)
    original = tensorflow_variables(model_dir_checkpoint)
    results = {}
    for frozen in (True, False):
        # a small rate: without batch statistics, gradients through a random InceptionV3 are large
        config = fast_config(model_type="inception_v3", init_checkpoint=str(model_dir_checkpoint), batch_size=4,
                             num_epochs=1, learning_rate=1e-6, freeze_batch_norm=frozen,
                             write_deepvariant_checkpoint=True)
        results[frozen] = train(train_set, tune_set, config, tmp_path / f"frozen_{frozen}", device="cpu",
                                progress=False)
    result = results[True]
    assert result.steps == 2 and result.init["checkpoint"] == str(model_dir_checkpoint)
    assert result.init["copied_channels"] == list(WGS_CHANNELS)
    prefix = result.deepvariant_checkpoint
    assert prefix == tmp_path / "frozen_True" / "deepvariant" / "best.ckpt"
    assert json.loads((prefix.parent / "example_info.json").read_text()) == DEEPVARIANT_INFO

    written = tensorflow_variables(prefix)
    statistics = [n for n in written if "/moving_" in n]
    learnt = [n for n in written if "/moving_" not in n]
    assert len(statistics) == 2 * 94
    # frozen batch norm: DeepVariant's statistics unchanged, to the bit; the weights trained
    assert all(np.array_equal(written[n], original[n]) for n in statistics)
    assert sum(not np.array_equal(written[n], original[n]) for n in learnt) > len(learnt) // 2
    # not frozen: the statistics moved towards the training pileups
    moved = tensorflow_variables(results[False].deepvariant_checkpoint)
    assert sum(not np.array_equal(moved[n], original[n]) for n in statistics) > len(statistics) // 2

    # DeepVariant's Keras model restores the written checkpoint and computes the fine-tuned torch model's
    # probabilities
    batch = images(4, seed=7)
    fine_tuned = load_lowcov_checkpoint(result.best_checkpoint).model
    with torch.no_grad():
        expected = torch.softmax(fine_tuned(torch.from_numpy(batch)), dim=1).numpy()
    restored = build_deepvariant_keras(tf_keras)
    tf.train.Checkpoint(restored).read(str(prefix)).assert_existing_objects_matched()
    delta = np.abs(keras_probabilities(restored, batch) - expected).max()
    print(f"max |p_keras - p_torch| after native fine-tuning: {delta:.2e}")
    assert delta <= TOLERANCE

    # a re-run reuses the completed run and leaves the DeepVariant checkpoint as written
    stamp = Path(str(prefix) + ".index").stat().st_mtime_ns
    again = train(train_set, tune_set, config, tmp_path / "frozen_False", device="cpu", progress=False)
    assert again.reused and again.deepvariant_checkpoint == results[False].deepvariant_checkpoint
    assert Path(str(prefix) + ".index").stat().st_mtime_ns == stamp


def test_batch_norm_statistics_swap_on_deepvariant_checkpoints(keras, model_dir_checkpoint, tmp_path):
    from lowcov.batchnorm import checkpoint_drift, weights_digest, with_batch_norm_statistics
    from lowcov.model import read_checkpoint_payload

    original = model_dir_checkpoint
    # a "fine-tuned" model: every weight and statistic moved
    module = load_checkpoint(original)
    torch.manual_seed(8)
    with torch.no_grad():
        for tensor in list(module.parameters()) + [bn.running_mean for bn in module.bns]:
            tensor.add_(0.01 * torch.randn_like(tensor))
        for bn in module.bns:
            bn.running_var.mul_(1.1)
    tuned = save_checkpoint(module, tmp_path / "v1" / "checkpoint-100", example_info=DEEPVARIANT_INFO)

    swapped = with_batch_norm_statistics(tuned, original, tmp_path / "v1_original_bn" / "ckpt")
    assert json.loads((swapped.parent / "example_info.json").read_text()) == DEEPVARIANT_INFO
    out, donor, source = (tensorflow_variables(p) for p in (swapped, original, tuned))
    for name, value in out.items():
        expected = donor[name] if "/moving_" in name else source[name]
        assert np.array_equal(value, expected), name
    assert sum(not np.array_equal(out[n], donor[n]) for n in out if "/moving_" not in n) > 0

    drift = checkpoint_drift(swapped, original)
    assert drift["batch_norm_statistics_max_abs"] == 0.0 and drift["weights_relative"] > 0
    assert weights_digest(swapped) != weights_digest(tuned)
    # the two formats mix: a lowcov .pt of the same network with a DeepVariant donor
    as_pt = with_batch_norm_statistics(tuned, original, tmp_path / "swapped.pt")
    assert read_checkpoint_payload(as_pt)["architecture"] == "inception_v3"
    assert weights_digest(as_pt) == weights_digest(swapped)


def test_deepvariant_checkpoint_init_refuses_other_channels_and_networks(keras, model_dir_checkpoint, tmp_path):
    from lowcov.model import BASE_CHANNELS, build_model, initialise_from_checkpoint

    tf, tf_keras = keras
    six = build_model("inception_v3", 100, 221, BASE_CHANNELS, 0.2)
    with pytest.raises(InputError, match=r"deepvariant\.wgs\.ckpt reads 7 channels .*training examples have 6"
                                          r".*copy_overlapping_channels"):
        initialise_from_checkpoint(six, model_dir_checkpoint)
    untouched = six.network.convs[0].weight.detach().clone()
    report = initialise_from_checkpoint(six, model_dir_checkpoint, copy_overlapping_channels=True)
    assert report.copied_channels == list(BASE_CHANNELS) and report.dropped_channels == ["insert_size"]
    kernel = tensorflow_variables(model_dir_checkpoint)["layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"]
    assert torch.equal(six.network.convs[0].weight, torch.from_numpy(kernel[:, :, :6]).permute(3, 2, 0, 1))
    assert not torch.equal(six.network.convs[0].weight, untouched)

    # the examples' geometry against the example_info.json beside the checkpoint
    with pytest.raises(InputError, match=r"100x221x7 .*but the training examples are 100x200x7"):
        initialise_from_checkpoint(build_model("inception_v3", 100, 200, WGS_CHANNELS, 0.2), model_dir_checkpoint)
    with pytest.raises(InputError, match=r"'inception_v3' model but the training config asks for 'compact'"):
        initialise_from_checkpoint(build_model("compact", 100, 221, WGS_CHANNELS, 0.2), model_dir_checkpoint)
    # another network's checkpoint: the first variable that does not fit is named
    other = tf_keras.Sequential([tf_keras.Input((100, 221, 7)), tf_keras.layers.Conv2D(32, 3, strides=2),
                                 tf_keras.layers.GlobalAveragePooling2D(), tf_keras.layers.Dense(3)])
    prefix = tf.train.Checkpoint(other).write(str(tmp_path / "other" / "ckpt"))
    with pytest.raises(InputError, match=r"ckpt\.index: variable layer_with_weights-1/beta/\S+ is missing"):
        initialise_from_checkpoint(build_model("inception_v3", 100, 221, WGS_CHANNELS, 0.2), prefix)
