"""lowcov.model: architectures, checkpoints (geometry/channel checks, fine-tuning init), predict."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lowcov import InputError
from lowcov.pileup import BASE_CHANNELS, WGS_CHANNELS
from lowcov.model import (DEFAULT_CHANNELS, build_model, check_compatible_for_inference, count_parameters,
                          initialise_from_checkpoint, load_checkpoint, load_for_inference, predict,
                          save_checkpoint)

HEIGHT, WIDTH = 20, 31


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: a second OpenMP thread only adds synchronisation (badly so on a busy machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def random_images(n: int, height: int = HEIGHT, width: int = WIDTH, channels: int = len(DEFAULT_CHANNELS), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, size=(n, height, width, channels), dtype=np.uint8)


@pytest.mark.parametrize("name, height, width", [("compact", HEIGHT, WIDTH), ("compact", 100, 221),
                                                 ("inception", 100, 221)])
def test_models_map_pileups_to_three_logits_and_carry_their_geometry(name, height, width):
    torch.manual_seed(0)
    model = build_model(name, height, width, DEFAULT_CHANNELS, dropout=0.2)
    assert (model.architecture, model.height, model.width, model.channels) == (name, height, width, DEFAULT_CHANNELS)
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(random_images(2, height, width)))
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    # the first convolution reads the image channels (what fine-tuning remaps)
    assert model.input_conv().in_channels == len(DEFAULT_CHANNELS)


def test_parameter_count_counts_learnable_numbers_not_statistics():
    layers = torch.nn.Sequential(torch.nn.Conv2d(6, 4, 3, bias=False), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 3))
    # 6*4*3*3 kernel + BN scale and offset (4 + 4) + 4*3 weights + 3 biases; BN running statistics are buffers
    assert count_parameters(layers) == 216 + 8 + 15
    model = build_model("compact", HEIGHT, WIDTH, 6, 0.2)
    assert count_parameters(model) == sum(t.numel() for name, t in model.state_dict().items()
                                          if not name.endswith(("running_mean", "running_var", "num_batches_tracked")))


def test_model_sees_centred_scaled_pixels():
    """The network sees (x - 128) / 128: 128 everywhere is a zero input, so the output is the bias path."""
    torch.manual_seed(0)
    model = build_model("compact", HEIGHT, WIDTH, 6, 0.0).eval()
    seen = {}

    def record_input(module, inputs, output):
        seen["x"] = inputs[0]

    model.backbone[0].register_forward_hook(record_input)
    images = np.full((1, HEIGHT, WIDTH, 6), 128, np.uint8)
    images[0, 0, 0, 0] = 254
    model(torch.from_numpy(images))
    x = seen["x"]
    assert x.shape == (1, 6, HEIGHT, WIDTH)  # channels-first inside the model
    assert float(x[0, 0, 0, 0]) == pytest.approx((254 - 128) / 128)
    assert float(x.abs().sum()) == pytest.approx((254 - 128) / 128)


def test_unknown_architecture_and_bad_input_shape():
    with pytest.raises(InputError, match="unknown model architecture 'resnet'"):
        build_model("resnet", HEIGHT, WIDTH, 6, 0.2)
    model = build_model("compact", HEIGHT, WIDTH, 6, 0.2)
    with pytest.raises(ValueError, match=r"expected images \[N, 20, 31, 6\]"):
        model(torch.zeros(1, HEIGHT, WIDTH, 7))


def test_predict_returns_probabilities_in_batches_and_keeps_train_mode():
    torch.manual_seed(0)
    model = build_model("compact", HEIGHT, WIDTH, DEFAULT_CHANNELS, 0.5)
    model.train()
    images = random_images(37)
    probabilities = predict(model, images, batch_size=8, device="cpu")
    assert probabilities.shape == (37, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (probabilities >= 0).all()
    # eval mode inside (dropout off, batch-norm running stats): batching does not change the answer
    np.testing.assert_allclose(predict(model, images, batch_size=37), probabilities, atol=1e-5)
    assert model.training
    assert predict(model, images[:0]).shape == (0, 3)


def test_checkpoint_round_trip_restores_weights_and_metadata(tmp_path):
    torch.manual_seed(1)
    model = build_model("compact", HEIGHT, WIDTH, DEFAULT_CHANNELS, 0.3)
    path = save_checkpoint(tmp_path / "m.pt", model, train_config={"learning_rate": 0.001}, step=17, epoch=2.5,
                           extra={"metrics": {"tune/f1_weighted": 0.9}})
    loaded = load_checkpoint(path, "cpu")
    assert (loaded.architecture, loaded.geometry, loaded.channels) == ("compact", (HEIGHT, WIDTH, len(DEFAULT_CHANNELS)), DEFAULT_CHANNELS)
    assert (loaded.step, loaded.epoch, loaded.dropout) == (17, 2.5, 0.3)
    assert loaded.train_config == {"learning_rate": 0.001}
    assert loaded.extra["metrics"]["tune/f1_weighted"] == 0.9
    images = random_images(5)
    np.testing.assert_allclose(predict(loaded.model, images), predict(model, images), atol=1e-6)
    assert not list(tmp_path.glob(".partial-*"))  # written atomically


def test_geometry_mismatch_names_both_geometries(tmp_path):
    model = build_model("compact", 100, 221, DEFAULT_CHANNELS, 0.2)
    path = save_checkpoint(tmp_path / "m.pt", model)
    with pytest.raises(InputError, match=r"100x221x8 .*but the examples are 20x31x8"):
        load_for_inference(path, HEIGHT, WIDTH, DEFAULT_CHANNELS)
    target = build_model("compact", HEIGHT, WIDTH, DEFAULT_CHANNELS, 0.2)
    with pytest.raises(InputError, match=r"100x221x8 .*but the training examples are 20x31x8"):
        initialise_from_checkpoint(target, path)


def test_other_channels_are_refused_for_inference(tmp_path):
    model = build_model("compact", HEIGHT, WIDTH, BASE_CHANNELS, 0.2)
    path = save_checkpoint(tmp_path / "m.pt", model)
    with pytest.raises(InputError, match="expects channels"):
        load_for_inference(path, HEIGHT, WIDTH, DEFAULT_CHANNELS)  # a six-channel model, eight-channel examples
    reordered = list(reversed(BASE_CHANNELS))
    with pytest.raises(InputError, match="expects channels"):
        check_compatible_for_inference(model, HEIGHT, WIDTH, reordered)
    assert load_for_inference(path, HEIGHT, WIDTH, BASE_CHANNELS).model.channels == BASE_CHANNELS


def test_fine_tuning_init_copies_overlapping_first_layer_channels_by_name(tmp_path):
    torch.manual_seed(2)
    source = build_model("compact", HEIGHT, WIDTH, BASE_CHANNELS, 0.2)
    path = save_checkpoint(tmp_path / "six.pt", source)
    # target: drops base_quality, adds insert_size, and reorders
    target_channels = ["insert_size", "read_supports_variant", "read_base", "mapping_quality", "strand",
                       "base_differs_from_ref"]
    torch.manual_seed(3)
    target = build_model("compact", HEIGHT, WIDTH, target_channels, 0.2)
    names = target.input_conv_weight_names()
    assert len(names) == 2  # the backbone's stem and the per-read branch both read the channels
    untouched_new = {name: target.state_dict()[name][:, 0].clone() for name in names}
    report = initialise_from_checkpoint(target, path)
    assert report.new_channels == ["insert_size"] and report.dropped_channels == ["base_quality"]
    assert report.copied_channels == target_channels[1:]
    source_state, target_state = source.state_dict(), target.state_dict()
    for name in names:
        for index, channel in enumerate(target_channels):
            if channel in BASE_CHANNELS:
                torch.testing.assert_close(target_state[name][:, index],
                                           source_state[name][:, BASE_CHANNELS.index(channel)])
        torch.testing.assert_close(target_state[name][:, 0], untouched_new[name])  # new channel keeps its init
    # every other tensor is copied as is
    for key in source_state:
        if key not in names:
            torch.testing.assert_close(target_state[key], source_state[key])
    assert target.channels == tuple(target_channels)


def test_init_refuses_another_architecture(tmp_path):
    path = save_checkpoint(tmp_path / "inc.pt", build_model("inception", 100, 221, 6, 0.2))
    with pytest.raises(InputError, match="'inception' model but the training config asks for 'compact'"):
        initialise_from_checkpoint(build_model("compact", 100, 221, 6, 0.2), path)


def test_missing_or_damaged_checkpoint_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_checkpoint(tmp_path / "absent.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read checkpoint"):
        load_checkpoint(bad)


def test_candidate_reads_sees_each_read_alone_in_a_window_around_the_candidate():
    """The per-read branch: the same features whatever the order of the reads, blind to the reference rows,
    to columns outside its window and to empty rows below the last read."""
    torch.manual_seed(4)
    model = build_model("compact", HEIGHT, WIDTH, DEFAULT_CHANNELS, 0.0).eval()
    branch = model.reads
    assert branch is not None and branch.half_window == WIDTH // 2  # clamped to the image
    images = random_images(3)
    images[:, -4:] = 0  # four empty rows under the reads

    def features(pixels: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(pixels).float().sub(128).div(128).permute(0, 3, 1, 2)
        with torch.no_grad():
            return branch(x)

    reference = features(images)
    assert reference.shape == (3, branch.out_features)
    half = branch.out_features // 2  # sums over the read rows, then means over the reads present
    torch.testing.assert_close(reference[:, half:] * (HEIGHT - 5 - 4), reference[:, :half] * (HEIGHT - 5))
    shuffled = images.copy()
    order = np.random.default_rng(0).permutation(np.arange(5, HEIGHT - 4))
    shuffled[:, 5:HEIGHT - 4] = images[:, order]
    torch.testing.assert_close(features(shuffled), reference)
    other_reference = images.copy()
    other_reference[:, :5] = 17
    torch.testing.assert_close(features(other_reference), reference)
    narrow = build_model("compact", HEIGHT, 101, DEFAULT_CHANNELS, 0.0).eval()
    wide_images = random_images(2, width=101)
    x = torch.from_numpy(wide_images).float().sub(128).div(128).permute(0, 3, 1, 2)
    outside = wide_images.copy()
    outside[:, :, :50 - narrow.reads.half_window] = 99
    y = torch.from_numpy(outside).float().sub(128).div(128).permute(0, 3, 1, 2)
    with torch.no_grad():
        torch.testing.assert_close(narrow.reads(y), narrow.reads(x))


def test_inception_v3_is_deepvariants_network_in_lowcovs_shell(tmp_path):
    from lowcov.dvmodel import DeepVariantInceptionV3, is_checkpoint_prefix

    torch.manual_seed(5)
    model = build_model("inception_v3", 100, 221, WGS_CHANNELS, dropout=0.2).eval()
    assert isinstance(model.network, DeepVariantInceptionV3) and model.network.dropout.p == 0.2
    assert model.input_conv_weight_names() == ["network.convs.0.weight"]
    batch = torch.from_numpy(random_images(2, 100, 221, len(WGS_CHANNELS)))
    with torch.no_grad():
        logits = model(batch)
        assert torch.equal(logits, model.network.logits(batch))  # DeepVariant's scaling, inside the network
    with pytest.raises(ValueError, match=r"expected images \[N, 100, 221, 7\]"):
        model(torch.from_numpy(random_images(1, 100, 200, len(WGS_CHANNELS))))
    with pytest.raises(InputError, match="at least 75x75"):
        build_model("inception_v3", 60, 221, WGS_CHANNELS, 0.2)
    # lowcov's .pt format holds it like any other architecture
    path = save_checkpoint(tmp_path / "dv.pt", model)
    loaded = load_checkpoint(path)
    assert loaded.architecture == "inception_v3" and not is_checkpoint_prefix(path)
    np.testing.assert_array_equal(predict(loaded.model, batch.numpy()), predict(model, batch.numpy()))
    # a TensorFlow checkpoint is told apart by its .index file, before TensorFlow is needed
    (tmp_path / "wgs.ckpt.index").write_bytes(b"")
    assert is_checkpoint_prefix(tmp_path / "wgs.ckpt") and is_checkpoint_prefix(tmp_path / "wgs.ckpt.index")
    assert is_checkpoint_prefix(tmp_path / "x.data-00000-of-00001") and not is_checkpoint_prefix(tmp_path / "x.pt")


def test_inception_v3_init_across_channel_lists_only_when_asked(tmp_path):
    torch.manual_seed(6)
    source = build_model("inception_v3", 100, 221, BASE_CHANNELS, 0.2)
    path = save_checkpoint(tmp_path / "six.pt", source)
    target = build_model("inception_v3", 100, 221, WGS_CHANNELS, 0.2)
    with pytest.raises(InputError, match=r"six\.pt reads 6 channels .* have 7: .*copy_overlapping_channels=true"):
        initialise_from_checkpoint(target, path)
    report = initialise_from_checkpoint(target, path, copy_overlapping_channels=True)
    assert report.copied_channels == list(BASE_CHANNELS) and report.new_channels == ["insert_size"]
    torch.testing.assert_close(target.network.convs[0].weight[:, :6], source.network.convs[0].weight)
    torch.testing.assert_close(target.network.bns[40].running_var, source.network.bns[40].running_var)
    # the native architectures keep copying by name unasked
    six_compact = save_checkpoint(tmp_path / "c6.pt", build_model("compact", 100, 221, BASE_CHANNELS, 0.2))
    report = initialise_from_checkpoint(build_model("compact", 100, 221, DEFAULT_CHANNELS, 0.2), six_compact)
    assert report.new_channels == ["insert_size", "homopolymer_weighted"]
