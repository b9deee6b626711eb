"""lowcov.train: config overrides, LR schedule, data stream, learning, EMA, resume, fine-tuning init.

The example sets are tiny synthetic pileups (20 rows x 31 columns x 7 channels) written with
lowcov.shards, where the genotype is encoded the way it is in real pileups: the fraction of read rows
whose read_supports_variant channel is 254 (hom-ref ~0, het ~0.5, hom-alt ~1).
"""
from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lowcov import InputError
import lowcov.train
import lowcov.train.loop
import lowcov.train.steps
from lowcov.model import DEFAULT_CHANNELS, load_checkpoint, predict, read_checkpoint_payload
from lowcov.shards import ExampleSet, shard_name, write_info, write_shard
from lowcov.train import (planned_steps, CASE_STUDY_V1, CASE_STUDY_V2, CASE_STUDY_V2_COMMAND, LOG_COLUMNS, TrainConfig,
                          TrainingStream, WeightEMA, apply_overrides, build_initial_model, classification_metrics,
                          command_config_overrides, l2_penalty, learning_rate_at, train, training_objective)

HEIGHT, WIDTH = 20, 31
REFERENCE_ROWS = 5
SUPPORT_FRACTION = {0: 0.03, 1: 0.5, 2: 0.97}


def write_example_set(directory: Path, n: int, seed: int, *, height: int = HEIGHT, width: int = WIDTH,
                      channels=DEFAULT_CHANNELS, n_shards: int = 3, n_unlabelled: int = 0) -> ExampleSet:
    """Synthetic pileups whose label is the fraction of reads supporting the alt allele."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=[0.4, 0.35, 0.25]).astype(np.int8)
    reads = height - REFERENCE_ROWS
    depth = rng.integers(reads * 3 // 4, reads + 1, size=n)
    images = np.zeros((n, height, width, len(channels)), np.uint8)
    present = np.arange(reads)[None, :] < depth[:, None]  # [n, reads]
    fraction = np.clip(np.array([SUPPORT_FRACTION[int(g)] for g in labels]) + rng.normal(0, 0.05, n), 0, 1)
    supports = (rng.random((n, reads)) < fraction[:, None]) & present
    names = list(channels)
    for index, name in enumerate(names):
        if name == "read_supports_variant":
            plane = np.where(supports, 254, 152)
        elif name == "base_differs_from_ref":
            plane = np.where(supports, 254, 50)
        elif name == "read_base":
            plane = rng.choice(np.array([250, 180, 100, 30]), size=(n, reads))
        elif name == "strand":
            plane = rng.choice(np.array([70, 240]), size=(n, reads))
        else:
            plane = rng.integers(100, 255, size=(n, reads))
        rows = np.where(present, plane, 0).astype(np.uint8)
        images[:, REFERENCE_ROWS:, :, index] = rows[:, :, None]
        images[:, :REFERENCE_ROWS, :, index] = {"read_supports_variant": 152, "base_differs_from_ref": 50,
                                                "strand": 70}.get(name, 254)
    labels[:n_unlabelled] = -1
    directory.mkdir(parents=True, exist_ok=True)
    shards = []
    for index, part in enumerate(np.array_split(np.arange(n), n_shards)):
        name = shard_name(index, n_shards)
        meta = {"contig": np.array(["chr1"] * len(part)), "position": part.astype(np.int64)}
        write_shard(directory / name, images[part], labels[part], meta)
        shards.append(name)
    counts = {str(g): int((labels == g).sum()) for g in (-1, 0, 1, 2)}
    write_info(directory, {"height": height, "width": width, "channels": names, "n_examples": n,
                           "shards": shards, "class_counts": counts})
    return ExampleSet.open(directory)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")
    return {"train": write_example_set(root / "train", 600, seed=1, n_unlabelled=12),
            "tune": write_example_set(root / "tune", 240, seed=2, n_shards=2)}


def fast_config(**changes) -> TrainConfig:
    """Case-study-style overrides on DeepVariant's defaults, scaled to the synthetic task.

    One thread: these layers are tiny, and on a shared 2-core machine two OpenMP threads that wait on
    each other at every operation ran 20-40x slower than one.
    """
    config = apply_overrides(TrainConfig(), ["config.batch_size=32", "config.learning_rate=0.05",
                                             "config.num_epochs=3", "config.ema_momentum=0.9",
                                             "config.num_validation_examples=0", "config.tune_every_steps=10",
                                             "config.log_every_steps=5", "config.num_threads=1",
                                             "config.batch_norm_momentum=0.1"])
    return replace(config, **changes)


@pytest.fixture(scope="module")
def trained(sets, tmp_path_factory):
    """One short run, shared by the tests that need a trained model."""
    experiment = tmp_path_factory.mktemp("trained")
    return train(sets["train"], sets["tune"], fast_config(), experiment, device="cpu", progress=False)


# ----- config and overrides -------------------------------------------------------------------------


def test_defaults_mirror_deepvariant_wgs_config():
    dv_wgs = {"init_checkpoint": "", "num_validation_examples": 150_000, "best_checkpoint_metric": "tune/f1_weighted",
              "batch_size": 16384, "num_epochs": 10, "optimizer": "sgd", "momentum": 0.9, "use_ema": True,
              "ema_momentum": 0.99, "optimizer_weight_decay": 0.0, "weight_decay": 0.0001,
              "early_stopping_patience": 100, "learning_rate": 0.01, "learning_rate_num_epochs_per_decay": 2.25,
              "learning_rate_decay_rate": 0.9999, "warmup_steps": 0, "label_smoothing": 0.01,
              "backbone_dropout_rate": 0.2}
    config = TrainConfig().to_dict()
    assert {k: config[k] for k in dv_wgs} == dv_wgs
    assert config["model_type"] == "compact"


def test_case_study_v1_bullets_apply_verbatim():
    config = apply_overrides(TrainConfig(), CASE_STUDY_V1)
    assert (config.learning_rate, config.batch_size, config.num_validation_examples,
            config.early_stopping_patience, config.warmup_steps) == (0.001, 256, 0, 50, 1000)
    assert config.num_epochs == 10 and config.weight_decay == 0.0001  # untouched keys keep the defaults
    assert CASE_STUDY_V1[1] == "config.batch_size = 256 (was 16384) - to avoid any oom errors"


def test_case_study_v2_bullets_and_command_differ_as_documented():
    bullets = apply_overrides(TrainConfig(), CASE_STUDY_V2)
    assert (bullets.num_epochs, bullets.learning_rate, bullets.batch_size, bullets.num_validation_examples,
            bullets.early_stopping_patience, bullets.warmup_steps, bullets.learning_rate_decay_rate,
            bullets.weight_decay) == (20, 0.001, 256, 0, 50, 500, 0.995, 0.00005)
    command = apply_overrides(TrainConfig(), command_config_overrides(CASE_STUDY_V2_COMMAND))
    assert command.early_stopping_patience == 250  # given as 50 then 250: the last one wins
    assert (command.weight_decay, command.num_validation_examples, command.tune_every_steps) == (0.0005, 20000, 5000)
    assert command.learning_rate_decay_rate == 0.995 and command.optimizer == "sgd"
    assert command.init_checkpoint == "gs://deepvariant/models/DeepVariant/1.8.0/checkpoints/wgs/deepvariant.wgs.ckpt"
    assert "--strategy=mirrored" in CASE_STUDY_V2_COMMAND
    assert not any(a.startswith("--experiment_dir") for a in command_config_overrides(CASE_STUDY_V2_COMMAND))


@pytest.mark.parametrize("override, key, value", [
    ("config.learning_rate=0.001", "learning_rate", 0.001),
    ("--config.batch_size=256", "batch_size", 256),
    ("config.learning_rate_decay_rate = 0.995", "learning_rate_decay_rate", 0.995),
    ("config.optimizer='adam'", "optimizer", "adam"),
    ('--config.init_checkpoint="/x/y.pt"', "init_checkpoint", "/x/y.pt"),
    ("config.use_ema=False", "use_ema", False),
    ("config.num_validation_examples=150_000", "num_validation_examples", 150000),
    ("config.tune_every_steps=1e3", "tune_every_steps", 1000),
    ("config.weight_decay=.0001", "weight_decay", 0.0001),
])
def test_override_forms_and_type_coercion(override, key, value):
    config = apply_overrides(TrainConfig(), [override])
    assert getattr(config, key) == value and type(getattr(config, key)) is type(value)


def test_override_errors_name_the_problem():
    with pytest.raises(InputError, match=r"unknown config key 'learning_rat'.*did you mean 'learning_rate'"):
        apply_overrides(TrainConfig(), ["config.learning_rat=0.1"])
    with pytest.raises(InputError, match="batch_size takes a int, got 'big'"):
        apply_overrides(TrainConfig(), ["config.batch_size=big"])
    with pytest.raises(InputError, match="takes a int"):
        apply_overrides(TrainConfig(), ["config.batch_size=2.5"])
    with pytest.raises(InputError, match="not a config override"):
        apply_overrides(TrainConfig(), ["--experiment_dir=/tmp/x"])
    with pytest.raises(InputError, match="unexpected"):
        apply_overrides(TrainConfig(), ["config.batch_size=256 512"])
    assert apply_overrides(TrainConfig(), []) == TrainConfig()


# ----- learning-rate schedule, metrics, EMA, data ------------------------------------------------------


def test_learning_rate_staircase_decay_and_warmup():
    config = replace(TrainConfig(), learning_rate=0.1, learning_rate_decay_rate=0.5,
                     learning_rate_num_epochs_per_decay=2.0, warmup_steps=0)
    steps_per_epoch = 10  # decay every int(10 * 2.0) = 20 steps
    assert [learning_rate_at(s, config, steps_per_epoch) for s in (0, 19, 20, 39, 40, 45)] == \
        pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    warm = replace(config, warmup_steps=5)
    # linear from learning_rate / 10 at step 0 to the scheduled rate at warmup_steps
    assert [learning_rate_at(s, warm, steps_per_epoch) for s in range(7)] == \
        pytest.approx([0.01, 0.028, 0.046, 0.064, 0.082, 0.1, 0.1])
    # DeepVariant's defaults: 2.25 epochs per decay, x0.9999
    dv = TrainConfig()
    assert learning_rate_at(0, dv, 100) == 0.01
    assert learning_rate_at(224, dv, 100) == 0.01
    assert learning_rate_at(225, dv, 100) == pytest.approx(0.01 * 0.9999)


def test_f1_weighted_is_per_class_f1_weighted_by_support():
    confusion = np.array([[8, 2, 0], [1, 3, 1], [0, 0, 5]])  # rows truth, columns predicted
    metrics = classification_metrics(confusion, loss_sum=10.0)
    f1 = [2 * 8 / (10 + 9), 2 * 3 / (5 + 5), 2 * 5 / (5 + 6)]
    assert metrics["tune/f1_homref"] == pytest.approx(f1[0])
    assert metrics["tune/f1_weighted"] == pytest.approx((f1[0] * 10 + f1[1] * 5 + f1[2] * 5) / 20)
    assert metrics["tune/categorical_accuracy"] == pytest.approx(16 / 20)
    assert metrics["tune/loss"] == pytest.approx(0.5)


def test_objective_is_smoothed_cross_entropy_plus_l2_on_kernels():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Flatten(),
                                torch.nn.Linear(12, 3))
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    targets = torch.tensor([0, 1])
    config = replace(TrainConfig(), label_smoothing=0.1, weight_decay=0.01)
    loss, objective = training_objective(logits, targets, model, config)
    smoothed = torch.nn.functional.one_hot(targets, 3) * 0.9 + 0.1 / 3
    expected = -(smoothed * torch.log_softmax(logits, 1)).sum(1).mean()
    torch.testing.assert_close(loss, expected)
    kernels = model[0].weight.pow(2).sum() + model[3].weight.pow(2).sum()  # not biases, not batch norm
    torch.testing.assert_close(l2_penalty(model), kernels)
    torch.testing.assert_close(objective, expected + 0.01 * kernels)


def test_weight_ema_follows_its_formula():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    ema = WeightEMA(model, momentum=0.9)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    torch.testing.assert_close(ema.model.weight, 0.9 * start + 0.1 * model.weight.detach())


def test_training_stream_covers_each_labelled_example_once_per_epoch_in_seeded_order(sets):
    stream = TrainingStream(sets["train"], seed=7)
    assert stream.n_examples == 588 and stream.steps_per_epoch(50) == 12

    def epoch_order(epoch, skip=0):
        return [b for b in stream.epoch_batches(epoch, 50, skip)]

    first = epoch_order(0)
    assert [len(labels) for _, labels in first] == [50] * 11 + [38]
    images = np.concatenate([i for i, _ in first])
    assert (np.concatenate([l for _, l in first]) >= 0).all()
    # every labelled example exactly once: identify examples by their image bytes
    keys = {img.tobytes() for img in images}
    assert len(keys) == 588
    second = np.concatenate([i for i, _ in epoch_order(1)])
    assert not np.array_equal(images, second)  # reshuffled per epoch
    np.testing.assert_array_equal(images, np.concatenate([i for i, _ in TrainingStream(sets["train"], 7)
                                                          .epoch_batches(0, 50)]))  # seeded
    resumed = np.concatenate([i for i, _ in epoch_order(0, skip=5)])
    np.testing.assert_array_equal(resumed, images[250:])  # resuming skips exactly the batches done


def test_training_stream_kept_in_memory_gives_the_same_batches_without_rereading(sets, tmp_path):
    import shutil

    from lowcov.shards import ExampleSet

    copy = tmp_path / "train"
    shutil.copytree(sets["train"].directory, copy)
    streamed = TrainingStream(ExampleSet.open(copy), seed=7)
    kept = TrainingStream(ExampleSet.open(copy), seed=7, in_memory_max_bytes=1024 ** 3)
    too_small = TrainingStream(ExampleSet.open(copy), seed=7, in_memory_max_bytes=1000)
    assert kept.in_memory and not streamed.in_memory and not too_small.in_memory
    expected = [[b for b in streamed.epoch_batches(epoch, 50)] for epoch in (0, 1)]
    first = list(kept.epoch_batches(0, 50))
    for shard in copy.glob("shard-*.npz"):  # later epochs of a kept set never touch the files
        shard.write_bytes(b"not an npz any more")
    second = list(kept.epoch_batches(1, 50))
    for got, want in zip((first, second), expected):
        assert len(got) == len(want)
        for (images, labels), (want_images, want_labels) in zip(got, want):
            np.testing.assert_array_equal(images, want_images)
            np.testing.assert_array_equal(labels, want_labels)
    with pytest.raises(InputError, match="cannot read example shard"):  # a streamed set reads them again
        list(too_small.epoch_batches(1, 50))


# ----- training ------------------------------------------------------------------------------------


def test_model_learns_the_synthetic_genotypes(trained, sets):
    assert trained.complete and trained.stopped_by == "num_epochs" and not trained.reused
    assert trained.steps == 3 * 19
    assert trained.best_metrics["tune/f1_weighted"] > 0.9
    best = load_checkpoint(trained.best_checkpoint)
    tune = sets["tune"].load()
    keep = tune.labels >= 0
    predicted = predict(best.model, tune.images[keep]).argmax(axis=1)
    assert (predicted == tune.labels[keep]).mean() > 0.9


def test_outputs_log_checkpoints_and_record(trained):
    experiment = trained.experiment_dir
    with open(experiment / "train_log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == LOG_COLUMNS
    tune_rows = [r for r in rows if r["event"] == "tune"]
    # every 10 steps and at each epoch end (19, 38, 57)
    assert [int(r["step"]) for r in tune_rows] == [10, 19, 20, 30, 38, 40, 50, 57]
    assert all(float(r["examples_per_second"]) > 0 for r in tune_rows)
    # staircase decay inside the run: int(19 steps/epoch * 2.25) = 42 steps per decay
    assert float(tune_rows[3]["learning_rate"]) == pytest.approx(0.05)
    assert float(tune_rows[-1]["learning_rate"]) == pytest.approx(0.05 * 0.9999, rel=1e-5)
    assert {int(r["step"]) for r in rows if r["event"] == "train"} == {5, 15, 25, 35, 45, 55}
    kept = sorted(int(p.stem.split("-")[1]) for p in (experiment / "checkpoints").glob("ckpt-*.pt"))
    assert kept == [40, 50, 57]  # keep_checkpoints = 3
    record = json.loads((experiment / "best_checkpoint.json").read_text())
    assert record["complete"] and record["best_step"] == trained.best_step
    best_row = next(r for r in tune_rows if int(r["step"]) == trained.best_step)
    assert float(best_row["tune_f1_weighted"]) == pytest.approx(max(float(r["tune_f1_weighted"]) for r in tune_rows),
                                                                abs=1e-5)
    assert record["best_metrics"]["tune/f1_weighted"] == pytest.approx(float(best_row["tune_f1_weighted"]), abs=1e-5)


def test_ema_weights_differ_from_raw_weights_and_are_what_is_evaluated(trained):
    last = read_checkpoint_payload(trained.last_checkpoint)
    raw, ema = last["state_dict"], last["extra"]["ema_state_dict"]
    key = "classifier.weight"
    assert not torch.allclose(raw[key], ema[key])
    final = read_checkpoint_payload(trained.experiment_dir / "checkpoints" / f"ckpt-{trained.steps}.pt")
    torch.testing.assert_close(final["state_dict"][key], ema[key])


def test_completed_run_is_reused_unless_forced(trained, sets):
    again = train(sets["train"], sets["tune"], fast_config(), trained.experiment_dir, device="cpu", progress=False)
    assert again.reused and again.best_step == trained.best_step and again.best_metrics == trained.best_metrics


def test_a_run_recorded_before_a_config_key_existed_is_reused_at_its_default(trained, sets, tmp_path):
    import shutil

    copy = tmp_path / "older"
    shutil.copytree(trained.experiment_dir, copy)
    record_path = copy / "best_checkpoint.json"
    record = json.loads(record_path.read_text())
    del record["config"]["freeze_batch_norm"]  # as written before the key was added
    record_path.write_text(json.dumps(record))
    again = train(sets["train"], sets["tune"], fast_config(), copy, device="cpu", progress=False)
    assert again.reused
    with pytest.raises(InputError, match="freeze_batch_norm"):  # a non-default value is another method
        train(sets["train"], sets["tune"], fast_config(freeze_batch_norm=True), copy, device="cpu", progress=False)


def interrupt_before_step(monkeypatch, step: int) -> None:
    """Make the next training run raise KeyboardInterrupt (Ctrl-C) when it is about to take ``step``."""
    original = lowcov.train.loop._Trainer._train_step

    def train_step(self, images, labels):
        if self.state.step == step - 1:
            raise KeyboardInterrupt
        return original(self, images, labels)

    monkeypatch.setattr(lowcov.train.loop._Trainer, "_train_step", train_step)


@pytest.mark.parametrize("interruption", ["max_steps", "ctrl_c"])
def test_resume_after_interruption_equals_uninterrupted_run(sets, tmp_path, monkeypatch, interruption):
    config = fast_config(num_epochs=2)
    whole = train(sets["train"], sets["tune"], config, tmp_path / "whole", device="cpu", progress=False)
    # stop after step 13: between scheduled evaluations (10, 19)
    if interruption == "max_steps":
        first = train(sets["train"], sets["tune"], replace(config, max_steps=13), tmp_path / "split",
                      device="cpu", progress=False)
        assert first.stopped_by == "max_steps" and first.steps == 13
        # the weights it stopped with are its last checkpoint (what chapter 7 scores as "end of run")
        assert read_checkpoint_payload(tmp_path / "split" / "checkpoints" / "ckpt-13.pt")["step"] == 13
    else:
        with monkeypatch.context() as patch:
            interrupt_before_step(patch, 14)
            with pytest.raises(KeyboardInterrupt):
                train(sets["train"], sets["tune"], config, tmp_path / "split", device="cpu", progress=False)
        assert not json.loads((tmp_path / "split" / "best_checkpoint.json").read_text())["complete"]
    resumed = train(sets["train"], sets["tune"], config, tmp_path / "split", device="cpu", progress=False)
    assert resumed.resumed_from_step == 13 and resumed.steps == whole.steps == 38
    assert (resumed.best_step, resumed.stopped_by) == (whole.best_step, whole.stopped_by)
    for key, value in whole.best_metrics.items():
        assert resumed.best_metrics[key] == pytest.approx(value, abs=1e-6)
    a, b = read_checkpoint_payload(whole.last_checkpoint), read_checkpoint_payload(resumed.last_checkpoint)
    for key in a["state_dict"]:
        torch.testing.assert_close(b["state_dict"][key], a["state_dict"][key], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(b["extra"]["ema_state_dict"][key], a["extra"]["ema_state_dict"][key],
                                   rtol=1e-5, atol=1e-6)

    def log(directory):
        with open(directory / "train_log.csv", newline="") as handle:
            return [(r["step"], r["event"], r["tune_f1_weighted"], r["train_loss"]) for r in csv.DictReader(handle)]
    assert log(tmp_path / "split") == log(tmp_path / "whole")


def test_early_stopping_counts_evaluations_without_improvement(sets, tmp_path, monkeypatch):
    scores = iter([0.5, 0.6, 0.6, 0.55, 0.7, 0.9])  # improves at evaluations 1, 2, then not at 3 and 4

    def fake_evaluate(*args, **kwargs):
        return classification_metrics(np.eye(3, dtype=int), 0.0) | {"tune/f1_weighted": next(scores)}

    monkeypatch.setattr(lowcov.train.loop, "evaluate", fake_evaluate)
    result = train(sets["train"], sets["tune"], fast_config(early_stopping_patience=2, tune_every_steps=4),
                   tmp_path / "early", device="cpu", progress=False)
    assert result.stopped_by == "early_stopping" and result.steps == 16  # evaluations at steps 4, 8, 12, 16
    assert result.best_step == 8 and result.best_metrics["tune/f1_weighted"] == 0.6


def test_the_warm_start_sets_the_bar_but_is_never_selected(trained, sets, tmp_path, monkeypatch):
    # the warm start scores best of all; DeepVariant still deploys a trained checkpoint
    scores = iter([0.9, 0.5, 0.6, 0.55, 0.95])

    def fake_evaluate(*args, **kwargs):
        return classification_metrics(np.eye(3, dtype=int), 0.0) | {"tune/f1_weighted": next(scores)}

    monkeypatch.setattr(lowcov.train.loop, "evaluate", fake_evaluate)
    config = fast_config(init_checkpoint=str(trained.best_checkpoint), early_stopping_patience=2, tune_every_steps=4)
    result = train(sets["train"], sets["tune"], config, tmp_path / "warm", device="cpu", progress=False)
    # no tune beat the bar (0.9): the counter went 0 -> 1 -> 2 at steps 4 and 8, and the tune at 12 stopped it
    assert result.stopped_by == "early_stopping" and result.steps == 12
    assert result.best_step == 8 and result.best_metrics["tune/f1_weighted"] == 0.6
    record = json.loads((tmp_path / "warm" / "best_checkpoint.json").read_text())
    assert record["warm_start_metrics"]["tune/f1_weighted"] == 0.9 and record["checkpoint_rule"] == 2
    assert not (tmp_path / "warm" / "checkpoints" / "ckpt-0.pt").exists()
    assert read_checkpoint_payload(result.best_checkpoint)["step"] == 8


def test_a_run_recorded_under_the_old_checkpoint_rule_is_trained_again(trained, sets, tmp_path):
    config = fast_config(num_epochs=1, max_steps=0)
    first = train(sets["train"], sets["tune"], config, tmp_path / "run", device="cpu", progress=False)
    assert train(sets["train"], sets["tune"], config, tmp_path / "run", device="cpu", progress=False).reused
    path = tmp_path / "run" / "best_checkpoint.json"
    record = json.loads(path.read_text())
    del record["checkpoint_rule"]  # as written before DeepVariant's rule
    path.write_text(json.dumps(record))
    again = train(sets["train"], sets["tune"], config, tmp_path / "run", device="cpu", progress=False,
                  restart_on_change=True)
    assert not again.reused and again.steps == first.steps


def test_a_run_made_by_other_training_code_is_trained_again(sets, tmp_path, monkeypatch):
    config = fast_config(num_epochs=1, max_steps=0)
    first = train(sets["train"], sets["tune"], config, tmp_path / "run", device="cpu", progress=False)
    assert train(sets["train"], sets["tune"], config, tmp_path / "run", device="cpu", progress=False).reused
    import lowcov.train.loop as loop

    monkeypatch.setattr(loop, "code_digest", lambda module: "the trainer after an edit")
    again = train(sets["train"], sets["tune"], config, tmp_path / "run", device="cpu", progress=False,
                  restart_on_change=True)
    assert not again.reused and again.steps == first.steps


def test_changed_config_in_used_experiment_dir_is_refused_unless_forced(sets, tmp_path):
    config = fast_config(num_epochs=1, max_steps=3)
    train(sets["train"], sets["tune"], config, tmp_path / "run", device="cpu", progress=False)
    changed = replace(config, learning_rate=0.01, max_steps=0)
    with pytest.raises(InputError, match=r"different config.*learning_rate"):
        train(sets["train"], sets["tune"], changed, tmp_path / "run", device="cpu", progress=False)
    result = train(sets["train"], sets["tune"], replace(changed, max_steps=2), tmp_path / "run", device="cpu",
                   progress=False, force=True)
    assert result.resumed_from_step is None and result.steps == 2


def test_fine_tuning_starts_from_the_init_checkpoint(trained, sets, tmp_path):
    init_checkpoint = str(trained.best_checkpoint)
    config = fast_config(init_checkpoint=init_checkpoint, num_epochs=1, learning_rate=0.001)
    model, report = build_initial_model(config, HEIGHT, WIDTH, DEFAULT_CHANNELS)
    stored = read_checkpoint_payload(init_checkpoint)["state_dict"]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, stored[key])
    assert report["copied_channels"] == list(DEFAULT_CHANNELS)
    result = train(sets["train"], sets["tune"], config, tmp_path / "finetune", device="cpu", progress=False)
    with open(result.log_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    # DeepVariant evaluates the warm-start model first: it scores what the loaded model scored
    assert rows[0]["event"] == "init" and rows[0]["step"] == "0"
    assert float(rows[0]["tune_f1_weighted"]) == pytest.approx(trained.best_metrics["tune/f1_weighted"], abs=1e-5)
    # DeepVariant's rule: the warm start is never the selected checkpoint
    assert result.best_step > 0
    # the selected metrics are those logged at the selected step
    selected = [r for r in rows if r["step"] == str(result.best_step) and r["tune_f1_weighted"]]
    assert float(selected[-1]["tune_f1_weighted"]) == pytest.approx(result.best_metrics["tune/f1_weighted"], abs=1e-6)
    assert result.init["checkpoint"] == init_checkpoint


def test_fine_tuning_on_other_channels_copies_the_shared_ones(trained, tmp_path):
    five = [c for c in DEFAULT_CHANNELS if c != "strand"]
    train_set = write_example_set(tmp_path / "train5", 120, seed=3, channels=five, n_shards=1)
    tune_set = write_example_set(tmp_path / "tune5", 60, seed=4, channels=five, n_shards=1)
    config = fast_config(init_checkpoint=str(trained.best_checkpoint), num_epochs=1, learning_rate=0.001)
    result = train(train_set, tune_set, config, tmp_path / "ft5", device="cpu", progress=False)
    assert result.init["copied_channels"] == five and result.init["dropped_channels"] == ["strand"]
    assert load_checkpoint(result.best_checkpoint).channels == tuple(five)
    # the shared channels carry what the six-channel model learned
    assert result.best_metrics["tune/f1_weighted"] > 0.8


def test_geometry_mismatches_are_input_errors(trained, sets, tmp_path):
    wide = write_example_set(tmp_path / "wide", 60, seed=5, width=WIDTH + 6, n_shards=1)
    config = fast_config(init_checkpoint=str(trained.best_checkpoint), num_epochs=1)
    with pytest.raises(InputError, match=r"20x31x8 .*but the training examples are 20x37x8"):
        train(wide, wide, config, tmp_path / "geom", device="cpu", progress=False)
    with pytest.raises(InputError, match="tune set .* has geometry"):
        train(sets["train"], wide, fast_config(), tmp_path / "mixed", device="cpu", progress=False)


def test_training_is_deterministic_for_a_seed(sets, tmp_path):
    config = fast_config(num_epochs=1, max_steps=6, use_ema=False)
    a = train(sets["train"], sets["tune"], config, tmp_path / "a", device="cpu", progress=False)
    b = train(sets["train"], sets["tune"], config, tmp_path / "b", device="cpu", progress=False)
    wa, wb = (read_checkpoint_payload(r.last_checkpoint)["state_dict"] for r in (a, b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    c = train(sets["train"], sets["tune"], replace(config, seed=99), tmp_path / "c", device="cpu", progress=False)
    wc = read_checkpoint_payload(c.last_checkpoint)["state_dict"]
    assert not torch.equal(wa["classifier.weight"], wc["classifier.weight"])


def test_batch_norm_momentum_follows_the_config():
    from lowcov.train import build_initial_model

    for momentum in (0.01, 0.1):
        model, _ = build_initial_model(TrainConfig(batch_norm_momentum=momentum), 20, 31, DEFAULT_CHANNELS)
        norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert norms and all(m.momentum == momentum for m in norms)


def test_precision_resolves_per_device_and_bfloat16_training_learns_deterministically(sets, tmp_path, monkeypatch):
    from lowcov.train import training_dtype

    cpu = torch.device("cpu")
    assert training_dtype(TrainConfig(), cpu) == torch.float32
    assert training_dtype(TrainConfig(precision="bfloat16"), cpu) == torch.bfloat16
    for native in (True, False):
        monkeypatch.setattr(lowcov.train.steps, "native_bfloat16", lambda device, native=native: native)
        assert training_dtype(TrainConfig(precision="auto"), cpu) == (torch.bfloat16 if native else torch.float32)
    with pytest.raises(InputError, match="precision must be one of"):
        train(sets["train"], sets["tune"], fast_config(precision="half"), tmp_path / "bad", device="cpu",
              progress=False)
    config = fast_config(precision="bfloat16")
    a = train(sets["train"], sets["tune"], config, tmp_path / "a", device="cpu", progress=False)
    b = train(sets["train"], sets["tune"], config, tmp_path / "b", device="cpu", progress=False)
    assert json.loads((a.experiment_dir / "best_checkpoint.json").read_text())["precision"] == "bfloat16"
    assert a.best_metrics["tune/categorical_accuracy"] > 0.9
    wa, wb = (read_checkpoint_payload(r.best_checkpoint)["state_dict"] for r in (a, b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


# ----- batch-norm statistics: frozen while fine-tuning, measured and swapped between checkpoints --------


def _fine_tune_briefly(trained, sets, directory: Path, **changes):
    config = fast_config(init_checkpoint=str(trained.best_checkpoint), num_epochs=1, max_steps=8,
                         learning_rate=0.01, **changes)
    return train(sets["train"], sets["tune"], config, directory, device="cpu", progress=False)


def test_frozen_batch_norm_keeps_the_init_statistics_while_weights_learn(trained, sets, tmp_path):
    from lowcov.batchnorm import checkpoint_drift, is_batch_norm_statistic

    init = read_checkpoint_payload(trained.best_checkpoint)["state_dict"]
    frozen = _fine_tune_briefly(trained, sets, tmp_path / "frozen", freeze_batch_norm=True)
    moving = _fine_tune_briefly(trained, sets, tmp_path / "moving")
    for result, statistics_kept in ((frozen, True), (moving, False)):
        state = read_checkpoint_payload(result.last_checkpoint)["state_dict"]
        statistics = [k for k in state if is_batch_norm_statistic(k) and not k.endswith("num_batches_tracked")]
        assert statistics and all(torch.equal(state[k], init[k]) for k in statistics) == statistics_kept
        assert not torch.equal(state["classifier.weight"], init["classifier.weight"])
        drift = checkpoint_drift(result.last_checkpoint, trained.best_checkpoint)
        assert drift["weights_relative"] > 0
        assert (drift["batch_norm_statistics_relative"] == 0.0) == statistics_kept
        assert (drift["batch_norm_statistics_max_abs"] == 0.0) == statistics_kept


def test_statistics_swap_keeps_the_weights_and_takes_the_donors_statistics(trained, sets, tmp_path):
    from lowcov.batchnorm import checkpoint_drift, is_batch_norm_statistic, with_batch_norm_statistics

    moved = _fine_tune_briefly(trained, sets, tmp_path / "moving").last_checkpoint
    swapped = with_batch_norm_statistics(moved, trained.best_checkpoint, tmp_path / "swapped.pt")
    state, donor, source = (read_checkpoint_payload(p)["state_dict"]
                            for p in (swapped, trained.best_checkpoint, moved))
    for name, tensor in state.items():
        torch.testing.assert_close(tensor, (donor if is_batch_norm_statistic(name) else source)[name], rtol=0, atol=0)
    drift = checkpoint_drift(swapped, trained.best_checkpoint)
    assert drift["batch_norm_statistics_relative"] == 0.0 and drift["weights_relative"] > 0
    # the swapped checkpoint is a working model: its predictions differ from the un-swapped one's
    images = write_example_set(tmp_path / "probe", 40, seed=11, n_shards=1).load().images
    swapped_probs, moved_probs = (predict(load_checkpoint(p).model, images) for p in (swapped, moved))
    assert np.allclose(swapped_probs.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(swapped_probs, moved_probs)
    assert read_checkpoint_payload(swapped)["extra"]["batch_norm_statistics_from"] == str(trained.best_checkpoint)


def test_statistics_of_another_network_are_refused_naming_both_files(trained, tmp_path):
    from lowcov.batchnorm import with_batch_norm_statistics
    from lowcov.model import build_model, save_checkpoint

    other = save_checkpoint(tmp_path / "other.pt", build_model("compact", HEIGHT, WIDTH + 6, DEFAULT_CHANNELS))
    with pytest.raises(InputError, match=r"other\.pt.*differ in their tensors|differ in their tensors.*other\.pt"):
        with_batch_norm_statistics(trained.best_checkpoint, other, tmp_path / "never.pt")
    assert not (tmp_path / "never.pt").exists()


def test_deepvariant_keys_parse_and_are_checked(sets, tmp_path):
    """DeepVariant's network is chosen as DeepVariant's config names it; the DeepVariant-format copy of the
    selected checkpoint exists only for that network, and asking for it does not make a run another run."""
    from lowcov.train import EXECUTION_KEYS, validate_config

    config = apply_overrides(TrainConfig(), ["config.model_type='inception_v3'",
                                             "config.copy_overlapping_channels=true",
                                             "config.write_deepvariant_checkpoint=true"])
    assert (config.model_type, config.copy_overlapping_channels, config.write_deepvariant_checkpoint) == (
        "inception_v3", True, True)
    validate_config(config)
    assert "write_deepvariant_checkpoint" in EXECUTION_KEYS and "copy_overlapping_channels" not in EXECUTION_KEYS
    with pytest.raises(InputError, match="write_deepvariant_checkpoint needs model_type='inception_v3'"):
        train(sets["train"], sets["tune"], fast_config(write_deepvariant_checkpoint=True), tmp_path / "bad",
              device="cpu", progress=False)
    with pytest.raises(InputError, match="at least 75x75"):  # the test sets' 20 x 31 pileups
        train(sets["train"], sets["tune"], fast_config(model_type="inception_v3"), tmp_path / "small",
              device="cpu", progress=False)


def test_planned_steps_round_epochs_up_and_respect_max_steps():
    config = TrainConfig(batch_size=256, num_epochs=10)
    assert planned_steps(config, 2418) == (10, 100)  # 2418 / 256 = 9.4 -> 10 steps per epoch
    assert planned_steps(replace(config, max_steps=35), 2418) == (10, 35)
    assert planned_steps(replace(config, max_steps=500), 2418) == (10, 100)
