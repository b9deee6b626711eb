"""lowcov.executor: shards as Dask tasks give the same bytes wherever and in whatever order they run, and
failures stop a stage with the shard named."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

from lowcov import InputError, executor
from lowcov.make_examples import ExamplesConfig, make_examples

# the tasks below are defined here, not in lowcov: send them to the workers by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _sleep_then_name(task):
    index, seconds, directory = task
    time.sleep(seconds)
    path = Path(directory) / f"out-{index}.txt"
    path.write_text(f"{index} written by pid {os.getpid()}\n")
    return index, os.getpid()


def _count_then_raise(task):
    """Raises for a task named 'bad...', counting its attempts in that file."""
    counter = Path(task)
    if not counter.name.startswith("bad"):
        return counter.name
    attempts = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempts))
    raise ValueError(f"bad shard, attempt {attempts}")


def _die_on_first_attempt(task):
    marker, value = task
    if not Path(marker).exists():
        Path(marker).write_text("died once")
        os._exit(1)  # the worker process dies mid-shard
    return value * 2


def set_digest(directory: Path) -> str:
    """The example shards' bytes, in name order (example_info.json holds timings, so it is left out)."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("shard-*.npz")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def example_inputs(diploid_sample):
    # 7 regions x 2 read fractions = 14 parts, shuffled into shards of 2 examples
    config = ExamplesConfig(mode="training", threads=1, region_size=3000, examples_per_shard=2, seed=5,
                            read_fractions=(1.0, 0.6))
    args = (diploid_sample["bam"], diploid_sample["fasta"])
    kwargs = dict(truth_vcf=diploid_sample["truth"], confident_bed=diploid_sample["bed"])
    return config, args, kwargs


def test_results_come_back_in_submission_order_whatever_finishes_first(tmp_path):
    # the first tasks sleep longest, so on two workers they finish last
    tasks = [(i, 0.05 * (6 - i), str(tmp_path)) for i in range(6)]
    results = executor.run_shards(_sleep_then_name, tasks, description="order test", threads=2)
    assert [index for index, _ in results] == list(range(6))
    assert len({pid for _, pid in results}) == 2 and os.getpid() not in {pid for _, pid in results}
    assert sorted(p.name for p in tmp_path.glob("out-*.txt")) == [f"out-{i}.txt" for i in range(6)]
    here = executor.run_shards(_sleep_then_name, [(9, 0, str(tmp_path))], description="in process", threads=1)
    assert here == [(9, os.getpid())]


def test_examples_are_the_same_bytes_on_one_or_two_workers_and_in_any_order(tmp_path, example_inputs, monkeypatch):
    config, args, kwargs = example_inputs
    serial = make_examples(*args, tmp_path / "serial", ["chr1"], config, **kwargs)
    assert len(serial.shards) > 2 and serial.info["n_examples"] > 4
    two = make_examples(*args, tmp_path / "two", ["chr1"], ExamplesConfig(**{**config.__dict__, "threads": 2}),
                        **kwargs)
    assert set_digest(two.directory) == set_digest(serial.directory)

    # a cluster finishes shards in any order: run them in a shuffled one (results still handed back in
    # submission order, as run_shards does), so the bucket files of the shuffle are written out of order too
    real_run_shards = executor.run_shards

    def shuffled_run_shards(function, tasks, **options):
        tasks = list(tasks)
        order = np.random.default_rng(len(tasks)).permutation(len(tasks))
        results = [None] * len(tasks)
        for i in order:
            results[i] = real_run_shards(function, [tasks[i]], **{**options, "threads": 1,
                                                                   "labels": None, "weights": None})[0]
        return results

    monkeypatch.setattr("lowcov.make_examples.run_shards", shuffled_run_shards)
    shuffled = make_examples(*args, tmp_path / "shuffled", ["chr1"], config, **kwargs)
    assert set_digest(shuffled.directory) == set_digest(serial.directory)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".partial")) == []


def test_cli_on_a_separately_started_scheduler_writes_the_serial_bytes(tmp_path, diploid_sample):
    # 3 regions x 3 read fractions = 9 region shards, then the shuffle's split and gather shards
    command = [sys.executable, "-m", "lowcov.cli", "make-examples", "--mode", "training",
               "--ref", str(diploid_sample["fasta"]), "--reads", str(diploid_sample["bam"]),
               "--truth_variants", str(diploid_sample["truth"]), "--confident_regions", str(diploid_sample["bed"]),
               "--regions", "chr1:1-7000 chr1:7001-14000 chr1:14001-20000", "--read_fractions", "1.0", "0.6", "0.3",
               "--seed", "5"]
    with executor.separate_cluster(workers=2, log_dir=tmp_path) as address:
        assert address.startswith("tcp://127.0.0.1:")
        on_cluster = subprocess.run(command + ["--examples", str(tmp_path / "cluster"), "--scheduler", address],
                                    capture_output=True, text=True, timeout=240)
        assert on_cluster.returncode == 0, on_cluster.stderr[-3000:]
    assert "9 shards on 2 Dask workers" in on_cluster.stderr
    serial = subprocess.run(command + ["--examples", str(tmp_path / "serial"), "--threads", "1"],
                            capture_output=True, text=True, timeout=240)
    assert serial.returncode == 0, serial.stderr[-3000:]
    assert "Dask" not in serial.stderr
    assert list((tmp_path / "serial").glob("shard-*.npz"))
    assert set_digest(tmp_path / "cluster") == set_digest(tmp_path / "serial")


def test_a_shard_that_always_fails_stops_the_stage_naming_it(tmp_path):
    counter = tmp_path / "bad-attempts"
    with pytest.raises(executor.ShardFailed) as caught:
        executor.run_shards(_count_then_raise, [str(tmp_path / "fine"), str(counter)], description="failing stage",
                            labels=["chr7:1-1000", "chr7:1001-2000"], threads=2, retries=2)
    message = str(caught.value)
    assert "failing stage: shard chr7:1001-2000 failed" in message and "bad shard" in message
    assert "_count_then_raise" in caught.value.worker_traceback  # the worker's frames, not the client's
    assert counter.read_text() == "3"  # the first attempt and two retries
    with pytest.raises(executor.ShardFailed, match="shard chr7:1001-2000"):  # in this process, one attempt
        executor.run_shards(_count_then_raise, [str(counter)], description="here", labels=["chr7:1001-2000"], threads=2)
    assert counter.read_text() == "4"


def test_a_worker_that_dies_mid_shard_is_replaced_and_the_shard_retried(tmp_path):
    marker = tmp_path / "died"
    results = executor.run_shards(_die_on_first_attempt, [(str(marker), 21), (str(tmp_path / "other"), 5)],
                                  description="dying worker", threads=2)
    assert marker.read_text() == "died once"
    assert results[0] == 42


def test_a_failed_region_leaves_nothing_under_the_final_name(tmp_path, diploid_sample):
    bad_bed = tmp_path / "bad.bed"
    bad_bed.write_text("chr1\tnot-a-number\t100\n")
    out = tmp_path / "examples"
    with pytest.raises(InputError, match=r"shard chr1:\d+-\d+ \(reads x1\): BED file .*bad.bed line 1"):
        make_examples(diploid_sample["bam"], diploid_sample["fasta"], out, ["chr1"],
                      ExamplesConfig(threads=2, region_size=7000), truth_vcf=diploid_sample["truth"],
                      confident_bed=bad_bed)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".partial")] == []


def test_a_scheduler_that_does_not_answer_is_an_error_within_seconds():
    address = f"tcp://127.0.0.1:{executor.free_port()}"  # nothing listens there
    started = time.perf_counter()
    with pytest.raises(executor.SchedulerUnreachable, match=f"no Dask scheduler answers at {address}"):
        executor.client_for(address, connect_timeout=2)
    assert time.perf_counter() - started < 15
    with pytest.raises(InputError, match="neither a Dask scheduler address"):
        executor.client_for("not an address")


def test_the_scheduler_comes_from_the_argument_then_configure_then_the_environment(monkeypatch):
    monkeypatch.setenv(executor.ENV_VAR, "tcp://from-env:8786")
    monkeypatch.setattr(executor, "_configured", None)
    monkeypatch.setattr(executor, "_environment_before", [])
    assert executor.chosen_scheduler() == "tcp://from-env:8786"
    executor.configure("tcp://configured:8786")
    assert executor.chosen_scheduler() == "tcp://configured:8786"
    assert os.environ[executor.ENV_VAR] == "tcp://configured:8786"  # notebooks' kernels inherit it
    assert executor.chosen_scheduler("tcp://argument:8786") == "tcp://argument:8786"
    executor.configure(None)
    assert executor.chosen_scheduler() == "tcp://from-env:8786"  # the variable as it was before configure
    monkeypatch.delenv(executor.ENV_VAR)
    assert executor.chosen_scheduler() is None
    assert executor.client_for(None, threads=1) is None  # nothing to start: shards run in this process


def test_batch_queue_file_is_checked_and_builds_the_named_cluster(tmp_path, monkeypatch):
    path = tmp_path / "slurm.yaml"
    path.write_text("system: slurm\njobs: 3\ncluster:\n  cores: 8\n  memory: 32GB\n  queue: normal\n")
    spec = executor.JobqueueSpec.read(path)
    assert spec == executor.JobqueueSpec("slurm", 3, {"cores": 8, "memory": "32GB", "queue": "normal"})
    for text, problem in (("system: condor\n", "system must be one of slurm, pbs, sge, lsf"),
                          ("system: pbs\njobs: 0\n", "jobs must be a positive integer"),
                          ("system: sge\nqueue: all.q\n", "unknown key"),
                          ("- slurm\n", "expected a mapping")):
        path.write_text(text)
        with pytest.raises(InputError, match=problem):
            executor.JobqueueSpec.read(path)

    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # not installed
    with pytest.raises(executor.ExecutorError, match=r"pip install 'lowcov\[cluster\]'"):
        executor.jobqueue_cluster(spec)

    class FakeJobqueue:
        class SLURMCluster:
            def __init__(self, **options):
                self.options = options

    monkeypatch.setitem(sys.modules, "dask_jobqueue", FakeJobqueue)
    cluster = executor.jobqueue_cluster(spec)
    assert isinstance(cluster, FakeJobqueue.SLURMCluster) and cluster.options == spec.cluster
