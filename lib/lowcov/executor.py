"""Where a stage's independent shards run: one executor on Dask ``distributed``.

Every stage that splits its work into shards (make_examples regions and its shuffle passes,
call_variants over example shards, depth per contig piece) hands them to :func:`run_shards`, which runs
them on one of:

* nothing (``threads <= 1`` and no scheduler): in this process, one after the other;
* a ``LocalCluster`` of ``threads`` single-threaded worker processes on 127.0.0.1 (the default), started
  the first time a stage needs it and kept for the later stages of the process, so a notebook that makes
  examples dozens of times starts its workers once. The workers are spawned processes, which import the
  calling script again: a script must call lowcov under ``if __name__ == "__main__":``, and its top-level
  imports are paid once per worker;
* a running cluster, by address (``tcp://HOST:8786``);
* a batch-queue cluster (SLURM, PBS, SGE or LSF) through ``dask-jobqueue``, described by a small YAML file
  (:func:`jobqueue_cluster` shows its keys).

The scheduler is chosen by, in order: the ``scheduler=`` argument of a stage (``--scheduler`` on the
command line), :func:`configure` (the notebooks' ``scheduler`` parameter), the ``LOWCOV_SCHEDULER``
environment variable, and otherwise the local default. Workers read their inputs by path (a shared file
system, as on an HPC cluster) and write their outputs atomically themselves; :func:`run_shards` returns
the shards' results in the order they were submitted, whichever worker finished first, so a stage's
output does not depend on the number of workers.

A shard that raises is retried (Dask's ``retries``), and one whose worker dies is rescheduled on another
(the scheduler's ``allowed-failures``); both are bounded, and a shard that fails every time stops the
stage with :class:`ShardFailed`, which names the shard and carries the worker's traceback.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

from tqdm import tqdm

from . import InputError

log = logging.getLogger(__name__)

ENV_VAR = "LOWCOV_SCHEDULER"
#: a scheduler address that does not answer within this many seconds is an error, not a wait
CONNECT_TIMEOUT_SECONDS = 10
#: a scheduler that answers but has no worker after this many seconds is an error too
WORKER_WAIT_SECONDS = 60
#: attempts after the first for a shard that raises, and worker deaths tolerated per shard on the local cluster
RETRIES = 2
#: batch systems dask-jobqueue drives, by the name the YAML file's ``system`` key uses
JOBQUEUE_CLASSES = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}
JOBQUEUE_EXTRA = "cluster"
#: numerical libraries' thread counts, set to 1 in local workers (each worker is one single-threaded process)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

T = TypeVar("T")
R = TypeVar("R")


class ExecutorError(RuntimeError):
    """The shards of a stage could not be run (no cluster, or a shard that fails every time)."""


class SchedulerUnreachable(ExecutorError):
    """A scheduler address that does not answer, or a cluster without workers."""


class ShardFailed(ExecutorError):
    """A shard failed on every attempt; the message names it and carries the worker's traceback."""

    def __init__(self, description: str, label: str, error: BaseException, worker_traceback: str):
        self.label = label
        self.worker_traceback = worker_traceback
        super().__init__(f"{description}: shard {label} failed on every attempt "
                         f"({type(error).__name__}: {error})\nworker traceback:\n{worker_traceback.rstrip()}")


_configured: Any = None
#: LOWCOV_SCHEDULER as it was before configure() first set it (a one-element list once saved)
_environment_before: list = []
_lock = threading.Lock()
#: clients kept for the life of the process, by scheduler (address, YAML path or "local")
_clients: dict[str, Any] = {}
_local_size: int | None = None


def configure(scheduler: Any = None) -> None:
    """Make ``scheduler`` the process's default (None: back to ``LOWCOV_SCHEDULER`` or the local cluster).

    Also exported as ``LOWCOV_SCHEDULER`` when it is a string, so processes started from this one (the
    book's notebook kernels) use it too.
    """
    global _configured
    _configured = scheduler
    if not _environment_before:
        _environment_before.append(os.environ.get(ENV_VAR))
    if isinstance(scheduler, (str, os.PathLike)):
        os.environ[ENV_VAR] = str(scheduler)
    elif _environment_before[0] is None:
        os.environ.pop(ENV_VAR, None)
    else:
        os.environ[ENV_VAR] = _environment_before[0]


def chosen_scheduler(scheduler: Any = None) -> Any:
    """The scheduler a stage uses: the argument, else :func:`configure`'s, else ``LOWCOV_SCHEDULER``, else None
    (the local default)."""
    for candidate in (scheduler, _configured, os.environ.get(ENV_VAR)):
        if candidate is not None and candidate != "":
            return candidate
    return None


def client_for(scheduler: Any = None, threads: int = 1, connect_timeout: float = CONNECT_TIMEOUT_SECONDS):
    """A ``distributed.Client`` for ``scheduler`` (see :func:`chosen_scheduler`), or None when the shards
    should run in this process (no scheduler and ``threads <= 1``). Clients are kept and reused."""
    scheduler = chosen_scheduler(scheduler)
    if scheduler is None and threads <= 1:
        return None
    distributed = _import_distributed()
    if isinstance(scheduler, distributed.Client):
        return scheduler
    with _lock:
        if scheduler is None:
            return _local_client(threads)
        text = str(scheduler)
        if text in _clients and _clients[text].status not in ("running", "connecting"):
            _clients.pop(text).close()  # the cluster went away since: connect again
        if text not in _clients:
            if text.endswith((".yaml", ".yml")):
                _clients[text] = _jobqueue_client(Path(text))
            else:
                _clients[text] = _remote_client(text, connect_timeout)
        return _clients[text]


def run_shards(function: Callable[[T], R], tasks: Sequence[T], *, description: str, scheduler: Any = None,
               threads: int = 1, labels: Sequence[str] | None = None, weights: Sequence[float] | None = None,
               unit: str = " shards", retries: int = RETRIES) -> list[R]:
    """``[function(task) for task in tasks]``, with the tasks run as Dask tasks (see the module's docstring).

    ``function`` must be importable by the workers (a module-level function of an installed package) and
    its tasks picklable; it reads inputs by path and writes its outputs itself, atomically. ``labels`` name
    the tasks in errors (default: their index); ``weights`` advance the progress bar (default: 1 each,
    counted in ``unit``). Raises :class:`ShardFailed` for a task that fails on every attempt; the tasks
    not yet started are cancelled.
    """
    tasks = list(tasks)
    labels = [str(label) for label in labels] if labels is not None else [f"#{i}" for i in range(len(tasks))]
    weights = list(weights) if weights is not None else [1] * len(tasks)
    if not len(labels) == len(weights) == len(tasks):
        raise ValueError(f"{len(tasks)} tasks need as many labels and weights (got {len(labels)}, {len(weights)})")
    if not tasks:
        return []
    if len(tasks) == 1 and chosen_scheduler(scheduler) is None:
        threads = 1  # one shard gains nothing from local workers, and the first would start them
    client = client_for(scheduler, threads)
    with tqdm(total=sum(weights), desc=description, unit=unit, unit_scale=True, disable=None) as progress:
        if client is None:
            return _run_here(function, tasks, description, labels, weights, progress)
        return _run_on_cluster(client, function, tasks, description, labels, weights, retries, progress)


def in_worker() -> bool:
    """Whether this code runs as a task on a Dask worker (where each task should use one core)."""
    if "distributed" not in sys.modules:
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def shutdown() -> None:
    """Close the clients and the local cluster this process started (also done at exit)."""
    global _local_size
    # idle workers that take a few seconds to stop are killed with a warning that says nothing useful here
    logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
    with _lock:
        for client in _clients.values():
            cluster = getattr(client, "lowcov_cluster", None)
            try:
                client.close()
                if cluster is not None:
                    cluster.close()
            except Exception as exc:  # at interpreter exit the event loop may already be gone
                log.debug("closing %s: %s", client, exc)
        _clients.clear()
        _local_size = None


atexit.register(shutdown)


def _run_here(function, tasks, description, labels, weights, progress) -> list:
    results = []
    for task, label, weight in zip(tasks, labels, weights):
        try:
            results.append(function(task))
        except Exception as exc:
            raise _shard_error(description, label, exc, traceback.format_exc()) from exc
        progress.update(weight)
    return results


def _shard_error(description: str, label: str, error: BaseException, worker_traceback: str) -> Exception:
    """A bad input stays an :class:`InputError` (the command line reports those without a traceback), named
    with its shard; anything else becomes :class:`ShardFailed`."""
    if isinstance(error, InputError):
        return InputError(f"{description}: shard {label}: {error}")
    return ShardFailed(description, label, error, worker_traceback)


def _run_on_cluster(client, function, tasks, description, labels, weights, retries, progress) -> list:
    from distributed import as_completed

    workers = len(client.scheduler_info().get("workers", {}))
    log.info("%s: %d shards on %d Dask workers (dashboard %s)", description, len(tasks), workers,
             client.dashboard_link)
    prefix = re.sub(r"[^A-Za-z0-9_.]+", "-", description).strip("-") or "shard"
    run = uuid.uuid4().hex[:8]
    # named keys make the dashboard readable; pure=False: a re-run must run, not reuse a result kept by the scheduler
    futures = [client.submit(function, task, key=f"{prefix}-{run}-{i:05d}", pure=False, retries=retries)
               for i, task in enumerate(tasks)]
    position = {future.key: i for i, future in enumerate(futures)}
    results: list = [None] * len(tasks)
    try:
        for future in as_completed(futures, loop=client.loop):
            i = position[future.key]
            if future.status != "finished":
                error = future.exception()
                trace = "".join(traceback.format_tb(future.traceback())) if future.traceback() else ""
                raise _shard_error(description, labels[i], error, trace or f"(none: {type(error).__name__})")
            results[i] = future.result()
            future.release()
            progress.update(weights[i])
    finally:
        client.cancel([f for f in futures if not f.done()])
    return results


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:  # a dependency of lowcov; only a broken environment lacks it
        raise ExecutorError("dask.distributed is not installed: pip install 'dask[distributed]'") from exc
    return distributed


def _local_client(threads: int):
    """The process's LocalCluster with ``threads`` workers: started once, resized when a stage asks for
    another number of workers."""
    global _local_size
    import dask
    from distributed import Client, LocalCluster

    client = _clients.get("local")
    if client is not None and _local_size == threads:
        return client
    if client is not None:
        client.close()
        client.lowcov_cluster.close()
        del _clients["local"]
    # The scheduler runs in this process and reads allowed-failures when it starts: a shard whose worker dies
    # is retried RETRIES times, like one that raises. Dask's default pre-spawn environment trims freed memory
    # back to the system (MALLOC_TRIM_THRESHOLD_), which made make_examples' regions about 1.5x slower here,
    # and is also written into this process's environment, where OMP_NUM_THREADS=1 would reach torch and
    # every program started later: the thread counts go to the workers only, and the environment is restored.
    settings = {"distributed.scheduler.allowed-failures": RETRIES,
                "distributed.nanny.pre-spawn-environ": {},
                "distributed.nanny.environ": {name: 1 for name in THREAD_VARIABLES}}
    environment = dict(os.environ)
    try:
        with dask.config.set(settings):
            # single-threaded processes: the stages' loops hold the GIL; a random dashboard port avoids
            # a warning when another cluster on the machine holds 8787
            cluster = LocalCluster(n_workers=threads, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:0")
    except Exception as exc:
        raise ExecutorError(
            f"could not start {threads} local Dask worker processes ({type(exc).__name__}: {exc}). Workers are "
            "started with the 'spawn' method, which imports the calling script again: in a script, put the "
            "calls under `if __name__ == '__main__':`") from exc
    finally:
        os.environ.clear()
        os.environ.update(environment)
    client = Client(cluster, set_as_default=False)
    client.lowcov_cluster = cluster
    _clients["local"] = client
    _local_size = threads
    log.info("started a local Dask cluster: %d worker processes (dashboard %s)", threads, client.dashboard_link)
    return client


def _remote_client(address: str, connect_timeout: float):
    from distributed import Client

    if "://" not in address and not re.fullmatch(r"[\w.\-\[\]:]+:\d+", address):
        raise InputError(f"scheduler {address!r} is neither a Dask scheduler address (tcp://HOST:8786) nor a "
                         "dask-jobqueue YAML file (.yaml)")
    try:
        client = Client(address, timeout=connect_timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnreachable(
            f"no Dask scheduler answers at {address} within {connect_timeout:g} s ({type(exc).__name__}): start "
            f"one (dask scheduler; dask worker {address}) or fix --scheduler / scheduler= / {ENV_VAR}") from exc
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise SchedulerUnreachable(f"the Dask scheduler at {address} has no worker after {WORKER_WAIT_SECONDS} s: "
                                   f"start some (dask worker {address})") from exc
    log.info("connected to the Dask scheduler at %s: %d workers (dashboard %s)", address,
             len(client.scheduler_info().get("workers", {})), client.dashboard_link)
    return client


@dataclass(frozen=True)
class JobqueueSpec:
    """A batch-queue cluster as a YAML file describes it.

    ``system`` (slurm, pbs, sge, lsf) picks dask-jobqueue's cluster class, ``cluster`` holds its keyword
    arguments (cores, memory, queue, walltime, account, job_extra_directives ...), and ``jobs`` batch jobs
    are submitted, each running ``cluster.processes`` workers (default 1)::

        system: slurm
        jobs: 4
        cluster:
          queue: normal
          account: myproject
          cores: 8
          processes: 8
          memory: 32GB
          walltime: "04:00:00"
    """

    system: str
    jobs: int
    cluster: dict

    @classmethod
    def read(cls, path: str | os.PathLike) -> "JobqueueSpec":
        import yaml

        path = Path(path)
        if not path.is_file():
            raise InputError(f"dask-jobqueue cluster file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InputError(f"dask-jobqueue cluster file {path} is not YAML: {exc}") from None
        if not isinstance(data, dict):
            raise InputError(f"dask-jobqueue cluster file {path}: expected a mapping with system, jobs and cluster")
        unknown = sorted(set(data) - {"system", "jobs", "cluster"})
        if unknown:
            raise InputError(f"dask-jobqueue cluster file {path}: unknown key(s) {', '.join(unknown)} "
                             "(expected system, jobs, cluster)")
        system = str(data.get("system", "")).lower()
        if system not in JOBQUEUE_CLASSES:
            raise InputError(f"dask-jobqueue cluster file {path}: system must be one of "
                             f"{', '.join(JOBQUEUE_CLASSES)}, got {data.get('system')!r}")
        jobs = data.get("jobs", 1)
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            raise InputError(f"dask-jobqueue cluster file {path}: jobs must be a positive integer, got {jobs!r}")
        cluster = data.get("cluster") or {}
        if not isinstance(cluster, dict):
            raise InputError(f"dask-jobqueue cluster file {path}: cluster must be a mapping of "
                             f"{JOBQUEUE_CLASSES[system]}'s keyword arguments")
        return cls(system, jobs, dict(cluster))


def jobqueue_cluster(spec: JobqueueSpec):
    """dask-jobqueue's cluster for ``spec``, not yet scaled (no job submitted)."""
    try:
        import dask_jobqueue
    except ImportError:
        raise ExecutorError(f"a {spec.system.upper()} cluster needs dask-jobqueue, lowcov's optional "
                            f"'{JOBQUEUE_EXTRA}' extra: pip install 'lowcov[{JOBQUEUE_EXTRA}]'") from None
    cluster_class = getattr(dask_jobqueue, JOBQUEUE_CLASSES[spec.system])
    try:
        return cluster_class(**spec.cluster)
    except TypeError as exc:
        raise InputError(f"dask-jobqueue {cluster_class.__name__} refused the cluster settings: {exc}") from None


def _jobqueue_client(path: Path):
    from distributed import Client

    spec = JobqueueSpec.read(path)
    cluster = jobqueue_cluster(spec)
    cluster.scale(jobs=spec.jobs)
    client = Client(cluster, set_as_default=False)
    client.lowcov_cluster = cluster
    log.info("submitted %d %s jobs for Dask workers (%s); shards wait in the scheduler until they start "
             "(dashboard %s)", spec.jobs, spec.system.upper(), path, client.dashboard_link)
    return client


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at the moment (the system picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def separate_cluster(workers: int = 2, host: str = "127.0.0.1", log_dir: str | os.PathLike | None = None,
                     timeout: float = 60) -> Iterator[str]:
    """A ``dask scheduler`` and ``workers`` single-threaded ``dask worker`` processes started on ``host``, as a
    user would start a cluster; yields the scheduler's address and stops the processes on exit.

    For tests and benchmarks on one machine: the processes listen on ``host`` only (loopback by default)
    and their output goes to ``log_dir`` (default: discarded).
    """
    from distributed import Client

    address = f"tcp://{host}:{free_port(host)}"
    dask_command = [sys.executable, "-m", "dask"]
    commands = [dask_command + ["scheduler", "--host", host, "--port", address.rsplit(":", 1)[1], "--no-dashboard"]]
    commands += [dask_command + ["worker", address, "--host", host, "--nworkers", "1", "--nthreads", "1",
                                 "--no-dashboard", "--name", f"lowcov-worker-{i}"] for i in range(workers)]
    processes: list[subprocess.Popen] = []
    with contextlib.ExitStack() as stack:
        for i, command in enumerate(commands):
            output = (stack.enter_context(open(Path(log_dir) / f"dask-{'scheduler' if i == 0 else f'worker-{i}'}.log", "w"))
                      if log_dir is not None else subprocess.DEVNULL)
            processes.append(subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT))
        try:
            with Client(address, timeout=timeout, set_as_default=False) as client:
                client.wait_for_workers(workers, timeout=timeout)
            yield address
        finally:
            with _lock:
                stale = _clients.pop(address, None)
            if stale is not None:
                stale.close()
            for process in reversed(processes):
                process.terminate()
            for process in reversed(processes):
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
