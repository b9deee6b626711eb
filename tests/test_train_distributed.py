"""lowcov.train on two CPU processes: DistributedDataParallel through torchrun (gloo, 127.0.0.1).

The example sets are test_train's synthetic pileups; the training set has an odd number of labelled
examples, so each epoch's last batch splits unevenly over the two processes. Every run is bounded by a
timeout, and the processes a test starts are gone when it ends.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lowcov import InputError
from lowcov.model import read_checkpoint_payload
from lowcov.train import DistributedTrainingError, Ranks, train
from lowcov.train.distributed import free_port, train_on_processes
from test_train import fast_config, write_example_set

#: seconds any one multi-process run may take here before the test fails (a normal one takes 10-20 s)
RUN_TIMEOUT = 240
#: how far the two-process run's best tune F1 may be from the single-process run's with per-process
#: batch norm and dropout (batch statistics over 16 examples instead of 32, other dropout masks). Measured
#: with seeds 2024, 7 and 11: -0.008, +0.004, -0.004; one of the 240 tune examples moves it by about 0.004
F1_TOLERANCE = 0.03


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")
    # 589 labelled: the last batch of an epoch (589 % 32 = 13) splits 6 + 7
    return {"train": write_example_set(root / "train", 601, seed=1, n_unlabelled=12),
            "tune": write_example_set(root / "tune", 240, seed=2, n_shards=2)}


def long_config(sets) -> object:
    """Six epochs (114 steps, a tune every 10): long enough to kill a run between its first checkpoint
    and its end. The dataset keys are set as the command line sets them, so a run started by the command
    line resumes under the Python API."""
    return fast_config(num_epochs=6, train_dataset_pbtxt=str(sets["train"].directory),
                       tune_dataset_pbtxt=str(sets["tune"].directory))


def train_two(sets, config, directory: Path):
    """``train(..., nproc=2)`` with a time limit."""
    return train_on_processes(sets["train"], sets["tune"], config, directory, 2, device="cpu", progress=False,
                              timeout=RUN_TIMEOUT)


@pytest.fixture(scope="module")
def two_process_run(sets, tmp_path_factory):
    """The uninterrupted two-process run of :func:`long_config`."""
    return train_two(sets, long_config(sets), tmp_path_factory.mktemp("two"))


def rank_processes(experiment: Path) -> dict[int, int]:
    """{rank: pid} of the training processes torchrun runs for ``experiment`` (found through /proc)."""
    found = {}
    job = str(experiment / "torchrun" / "job.json").encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            environment = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"lowcov.train.rank_process" in command and job in command:
            rank = [v for v in environment if v.startswith(b"RANK=")]
            if rank:
                found[int(rank[0][5:])] = int(entry)
    return found


def wait_for_first_checkpoint(experiment: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    checkpoints = experiment / "checkpoints"
    # a tune writes its checkpoint, then last.pt (what a resumed run starts from): wait for both
    while not (list(checkpoints.glob("ckpt-*.pt")) and (checkpoints / "last.pt").exists()):
        assert process.poll() is None, f"the run ended before its first checkpoint: {process.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint within the time limit"
        time.sleep(0.02)


def command_line_run(config, experiment: Path) -> subprocess.Popen:
    """``lowcov train --nproc 2`` with ``config``'s keys, in its own process group (to kill it whole)."""
    defaults = type(config)().to_dict()
    overrides = [f"--config.{k}={v}" for k, v in config.to_dict().items() if v != defaults[k]]
    command = [sys.executable, "-m", "lowcov.train.cli", *overrides, f"--experiment_dir={experiment}",
               "--device=cpu", "--nproc=2"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def assert_nothing_partial_under_final_names(experiment: Path) -> None:
    for checkpoint in (experiment / "checkpoints").glob("*.pt"):
        if checkpoint.name.startswith("."):  # a temporary name the kill interrupted (.partial-*): never read
            continue
        read_checkpoint_payload(checkpoint)  # raises on a truncated file
    json.loads((experiment / "best_checkpoint.json").read_text())
    with open(experiment / "train_log.csv", newline="") as handle:
        assert list(csv.DictReader(handle))


def log_rows(experiment: Path) -> list[tuple[str, str, str]]:
    with open(experiment / "train_log.csv", newline="") as handle:
        return [(r["step"], r["event"], r["tune_f1_weighted"]) for r in csv.DictReader(handle)]


# ----- without processes --------------------------------------------------------------------------


def test_each_rank_takes_its_slice_of_every_global_batch_and_short_ones_are_weighted():
    images, labels = np.arange(13 * 2).reshape(13, 2), np.arange(13)
    parts = [Ranks(rank, 2).batch_part(images, labels) for rank in (0, 1)]
    assert np.array_equal(np.concatenate([p[1] for p in parts]), labels)  # together: the whole batch, in order
    assert [len(p[1]) for p in parts] == [6, 7]
    # the ranks' mean of weight * (mean loss of the slice) is the mean loss of the whole batch
    assert [p[2] for p in parts] == pytest.approx([12 / 13, 14 / 13])
    full = [Ranks(rank, 2).batch_part(images[:8], labels[:8]) for rank in (0, 1)]
    assert [(list(p[1]), p[2]) for p in full] == [([0, 1, 2, 3], 1.0), ([4, 5, 6, 7], 1.0)]
    single = Ranks(0, 3).batch_part(images[:2], labels[:2])  # fewer examples than ranks: each takes all
    assert list(single[1]) == [0, 1] and single[2] == 1.0
    assert Ranks(0, 2).dropout_seed(1, 5) != Ranks(1, 2).dropout_seed(1, 5) != Ranks(1, 2).dropout_seed(1, 6)


def test_a_batch_size_that_does_not_divide_is_refused_before_starting(sets, tmp_path):
    with pytest.raises(InputError, match="batch_size 32 does not divide over 3 processes"):
        train(sets["train"], sets["tune"], fast_config(), tmp_path, device="cpu", nproc=3)
    assert not (tmp_path / "torchrun").exists()


# ----- two processes ------------------------------------------------------------------------------


def test_two_processes_train_as_one_when_batch_norm_is_frozen_and_there_is_no_dropout(sets, tmp_path):
    """Without per-process statistics or random masks, 2 x 16 examples average to the gradient of 32."""
    config = fast_config(num_epochs=2, freeze_batch_norm=True, backbone_dropout_rate=0.0)
    one = train(sets["train"], sets["tune"], config, tmp_path / "one", device="cpu", progress=False)
    two = train_two(sets, config, tmp_path / "two")
    assert one.steps == 38  # 2 epochs of ceil(589 / 32) batches
    assert (two.steps, two.best_step, two.stopped_by) == (one.steps, one.best_step, one.stopped_by)
    for key, value in one.best_metrics.items():
        assert two.best_metrics[key] == pytest.approx(value, abs=1e-4), key
    a, b = read_checkpoint_payload(one.last_checkpoint), read_checkpoint_payload(two.last_checkpoint)
    for key in a["state_dict"]:
        torch.testing.assert_close(b["state_dict"][key], a["state_dict"][key], rtol=1e-4, atol=1e-5)
    assert [row[:2] for row in log_rows(tmp_path / "two")] == [row[:2] for row in log_rows(tmp_path / "one")]
    # only rank 0 wrote: one log, the record says how many processes trained
    assert json.loads((tmp_path / "two" / "best_checkpoint.json").read_text())["processes"] == 2
    assert "processes" not in json.loads((tmp_path / "one" / "best_checkpoint.json").read_text())


def test_two_processes_reach_the_single_process_tune_metric(sets, two_process_run, tmp_path):
    config = long_config(sets)
    one = train(sets["train"], sets["tune"], config, tmp_path / "one", device="cpu", progress=False)
    two = two_process_run
    assert two.steps == one.steps == 114 and two.complete
    metric = config.best_checkpoint_metric
    assert abs(two.best_metrics[metric] - one.best_metrics[metric]) <= F1_TOLERANCE
    assert two.best_metrics[metric] > 0.9  # it learned the genotypes
    # the selected checkpoint holds rank 0's EMA weights with the ranks' mean batch-norm statistics
    best = read_checkpoint_payload(two.best_checkpoint)
    assert best["extra"]["use_ema"] and best["step"] == two.best_step
    # a completed run is reused with the same nproc (without starting processes), not by a single process
    again = train(sets["train"], sets["tune"], config, two.experiment_dir, device="cpu", progress=False, nproc=2)
    assert again.reused and again.best_step == two.best_step
    with pytest.raises(InputError, match="nproc"):
        train(sets["train"], sets["tune"], config, two.experiment_dir, device="cpu", progress=False)


def test_a_killed_run_resumes_from_its_last_checkpoint_and_ends_as_an_uninterrupted_one(sets, two_process_run,
                                                                                           tmp_path):
    experiment = tmp_path / "killed"
    process = command_line_run(long_config(sets), experiment)
    try:
        wait_for_first_checkpoint(experiment, process)
        ranks = rank_processes(experiment)
        assert sorted(ranks) == [0, 1]
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the command and torchrun; the ranks die with torchrun
        process.communicate()
    deadline = time.monotonic() + 30
    while rank_processes(experiment) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not rank_processes(experiment), "training processes outlived their torchrun"
    record = json.loads((experiment / "best_checkpoint.json").read_text())
    assert not record["complete"]
    assert_nothing_partial_under_final_names(experiment)
    saved_step = read_checkpoint_payload(experiment / "checkpoints" / "last.pt")["step"]

    resumed = train_two(sets, long_config(sets), experiment)
    whole = two_process_run
    assert resumed.resumed_from_step == saved_step >= 10 and resumed.complete
    assert (resumed.steps, resumed.best_step, resumed.stopped_by) == (whole.steps, whole.best_step, whole.stopped_by)
    for key, value in whole.best_metrics.items():
        assert resumed.best_metrics[key] == pytest.approx(value, abs=1e-6), key
    a, b = read_checkpoint_payload(whole.last_checkpoint), read_checkpoint_payload(resumed.last_checkpoint)
    for key in a["state_dict"]:
        torch.testing.assert_close(b["state_dict"][key], a["state_dict"][key], rtol=1e-5, atol=1e-6)
    assert log_rows(experiment) == log_rows(whole.experiment_dir)


def test_a_rank_that_dies_stops_the_run_with_its_exit_and_log(sets, tmp_path):
    experiment = tmp_path / "dies"
    process = command_line_run(long_config(sets), experiment)
    try:
        wait_for_first_checkpoint(experiment, process)
        os.kill(rank_processes(experiment)[1], signal.SIGKILL)
        _, stderr = process.communicate(timeout=RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 2
    assert "torchrun exited with code 1; rank 1 failed first (exit code -9" in stderr
    assert "SIGKILL" in stderr and str(experiment / "torchrun" / "logs") in stderr
    assert not rank_processes(experiment)
    assert_nothing_partial_under_final_names(experiment)
    assert not json.loads((experiment / "best_checkpoint.json").read_text())["complete"]


def test_a_failing_rank_reports_its_exception(sets, tmp_path):
    """A training shard that cannot be read: the error quotes the exception from the failing rank's log."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(sets["train"].directory, broken)
    shard = sorted(broken.glob("*.npz"))[0]
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(DistributedTrainingError) as failure:
        train(broken, sets["tune"], fast_config(), tmp_path / "run", device="cpu", progress=False, nproc=2)
    error = failure.value
    assert error.exit_code == 1 and error.rank in (0, 1)
    assert f"rank {error.rank} failed first (exit code 1" in str(error)
    assert "lowcov.InputError: cannot read example shard" in str(error) and shard.name in error.log_tail
    assert error.log_path is not None and error.log_path.exists()


def test_free_port_is_on_the_loopback_and_unused():
    import socket

    port = free_port()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


RACE_JOB = """
import os, signal, time
if os.environ["RANK"] == "1":
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)
else:
    time.sleep(0.52)  # what gloo does to the survivor a moment later
    raise RuntimeError("Connection closed by peer")
"""


def test_a_killed_rank_is_named_even_when_torchrun_observes_its_peer_fail_first(tmp_path):
    """torchrun's own report names the lower rank when both fail within its clock's second; the error names the
    rank that was killed, whose death made the other fail."""
    from lowcov.train.distributed import _failure

    job = tmp_path / "race.py"
    job.write_text(RACE_JOB)
    logs = tmp_path / "logs"
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc-per-node=2",
                          "--master-addr=127.0.0.1", f"--master-port={free_port()}", "--max-restarts=0",
                          f"--log-dir={logs}", "--tee=3", str(job)],
                         capture_output=True, text=True, timeout=RUN_TIMEOUT, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert run.returncode == 1 and "(SIGKILL)" in run.stderr
    error = _failure(2, run.returncode, run.stderr, logs)
    assert error.rank == 1
    assert "rank 1 failed first (exit code -9" in str(error) and "SIGKILL" in str(error)


def test_torchrun_stopping_the_survivors_with_sigterm_does_not_make_them_the_cause():
    from lowcov.train.distributed import _first_failure

    report = "\n".join([
        "rank_process FAILED", "-" * 60, "Failures:", "[1]:", "  rank      : 1 (local_rank: 1)",
        "  exitcode  : -15 (pid: 11)  (SIGTERM)", "  traceback : Signal 15 (SIGTERM) received by PID 11", "-" * 60,
        "Root Cause (first observed failure):", "[0]:", "  rank      : 0 (local_rank: 0)",
        "  exitcode  : 1 (pid: 10) ", "  traceback : To enable traceback see: https://pytorch.org/docs", "=" * 60])
    assert _first_failure(report)["rank"].startswith("0 ")
    killed = report.replace("-15 (pid: 11)  (SIGTERM)", "-9 (pid: 11)  (SIGKILL)")
    assert _first_failure(killed)["rank"].startswith("1 ")
    assert _first_failure("no report at all") == {}
