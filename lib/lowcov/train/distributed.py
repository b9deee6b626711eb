"""Training on several processes: PyTorch DistributedDataParallel (DDP), started through ``torchrun``.

``train(..., nproc=N)`` and ``lowcov train --nproc N`` run :func:`train_on_processes`: it starts
``python -m torch.distributed.run`` (torchrun) with N processes on this machine, each running
:mod:`lowcov.train.rank_process`, which joins the process group (gloo on the CPU, NCCL on GPUs, one GPU
per process) and calls :func:`lowcov.train.train` as one rank of it. ``nproc=1`` never comes here.

What the ranks share and split (:class:`Ranks` holds the few collective steps the loop needs):

- data: every rank walks the same shuffled order (:class:`~lowcov.train.data.TrainingStream`, seeded) and
  trains on its own contiguous slice of each global batch of ``batch_size`` examples (``batch_size /
  N`` each; a size that does not divide is refused). Every rank decompresses each shard and keeps only
  its slice, so the union of the ranks' slices at step k is the single-process run's batch k and resuming
  needs nothing but the step. The epoch's last, short batch is split as evenly as it goes and each rank's
  loss is weighted by its share, so the averaged gradient is that of the whole batch;
- gradients: DDP averages them over the ranks at every step; the L2 term is added on every rank, so the
  average keeps it once. The optimiser state is then the same on every rank;
- batch norm: plain per-rank batch norm, not SyncBatchNorm. Each rank normalises with the statistics of
  its own slice, as DeepVariant's Keras ``BatchNormalization`` does under ``MirroredStrategy`` (each
  replica normalises its own share of the batch); its moving statistics are per-replica variables read
  as their mean across replicas (``synchronization=ON_READ, aggregation=MEAN``), and lowcov does the same:
  each rank keeps its running statistics and they are averaged over the ranks before every tune, log row
  and checkpoint. As those are exponential averages, averaging them gives the moving mean a single
  process would have had over the whole batches. SyncBatchNorm would add a collective per layer per step
  for a difference that vanishes once a rank's slice holds a few hundred examples (the case study's 256
  over 2 GPUs is 128 each);
- dropout: each rank reseeds it at every step from ``(seed, rank, step)``, so a resumed run draws the same
  masks as an uninterrupted one without saving every rank's generator;
- only rank 0 keeps the EMA weights, tunes, decides the checkpoint rule (warm-start bar, best trained
  checkpoint, early stopping, unchanged) and writes checkpoints, ``train_log.csv`` and the record; it
  tells the others when the run stops. Other ranks log warnings and errors only.

A run records how many processes trained it (``processes`` in ``last.pt`` and the record, written only
when more than one): per-rank batch norm makes the result depend on it, so a run is resumed or reused
only with the same ``nproc``.

Failures: torchrun stops every process when one fails (no restarts); :func:`train_on_processes` then
raises :class:`DistributedTrainingError` with torchrun's exit code, the failing rank and the tail of its
log. Each process's output is kept under ``<experiment_dir>/torchrun/`` (rank 0's is also relayed to this
process's output). Files are only ever written by rank 0 under temporary names and renamed, so a killed run
leaves its last complete checkpoint; started again it resumes from ``last.pt``. A process whose torchrun
dies is killed with it (Linux parent-death signal), so no orphan keeps writing.
"""
from __future__ import annotations

import collections
import inspect
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import torch
from torch import nn

from .. import InputError
from ..batchnorm import batch_norm_layers
from .steps import distributed_context

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: where torchrun keeps each process's output (and the job description) inside ``experiment_dir``
LAUNCH_DIR = "torchrun"
#: lines of the failing rank's log quoted in a :class:`DistributedTrainingError`
LOG_TAIL_LINES = 30
#: how long a rank waits at a collective (rank 0's tune evaluations run while the others wait)
COLLECTIVE_TIMEOUT_SECONDS = 3 * 3600


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes, and the collective steps of the loop.

    With one process (``world == 1``) every method returns its input or does nothing: the single-process
    run takes exactly the code path it took before DDP existed.
    """

    rank: int = 0
    world: int = 1
    #: processes on this machine (for sharing its cores)
    local_world: int = 1

    @classmethod
    def current(cls) -> "Ranks":
        rank, world = distributed_context()
        return cls(rank, world, int(os.environ.get("LOCAL_WORLD_SIZE", world)))

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def check_batch_size(self, batch_size: int) -> None:
        check_batch_size(batch_size, self.world)

    def batch_part(self, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """This rank's slice of a global batch and the weight of its mean loss (1.0 for a full batch).

        The weight makes the ranks' averaged gradient that of the whole batch when slices differ in size
        (the epoch's last batch). With fewer examples than ranks, every rank trains on the whole batch:
        the average of equal gradients is that gradient.
        """
        n = len(labels)
        if n < self.world or self.world == 1:
            return images, labels, 1.0
        start, stop = n * self.rank // self.world, n * (self.rank + 1) // self.world
        return images[start:stop], labels[start:stop], (stop - start) * self.world / n

    def dropout_seed(self, seed: int, step: int) -> int:
        return int(np.random.SeedSequence([seed, 1, self.rank, step]).generate_state(1)[0])

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module the training steps call: DDP around ``model`` (buffers not broadcast, see module docstring)."""
        if self.world == 1:
            return model
        device_ids = [device.index] if device.type == "cuda" else None
        ddp = nn.parallel.DistributedDataParallel
        # torch 2.13 deprecates broadcast_buffers for forward_sync_buffers; either keeps each rank's own buffers
        own_buffers = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(ddp).parameters
                       else {"broadcast_buffers": False})
        return ddp(model, device_ids=device_ids, **own_buffers)

    def mean(self, value: float, device: torch.device) -> float:
        """The mean of ``value`` over the ranks."""
        if self.world == 1:
            return value
        total = torch.tensor([value], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(total)
        return float(total.item()) / self.world

    @torch.no_grad()
    def average_batch_norm_statistics(self, model: nn.Module) -> None:
        """Replace every rank's batch-norm running means and variances by their mean over the ranks."""
        if self.world == 1:
            return
        statistics = [buffer for layer in batch_norm_layers(model) for buffer in (layer.running_mean,
                                                                                    layer.running_var)
                      if buffer is not None]
        if not statistics:
            return
        flat = torch.cat([s.reshape(-1).to(torch.float64) for s in statistics])
        torch.distributed.all_reduce(flat)
        flat /= self.world
        offset = 0
        for buffer in statistics:
            buffer.copy_(flat[offset:offset + buffer.numel()].view_as(buffer))
            offset += buffer.numel()

    def leader_decides(self, decide: Callable[[], T]) -> T:
        """``decide()`` run on rank 0 and its (picklable) answer given to every rank; also a barrier."""
        if self.world == 1:
            return decide()
        answer = [decide() if self.leader else None]
        torch.distributed.broadcast_object_list(answer, src=0)
        return answer[0]


def check_batch_size(batch_size: int, processes: int) -> None:
    if processes > 1 and batch_size % processes:
        raise InputError(f"batch_size {batch_size} does not divide over {processes} processes: the global batch "
                         f"is split evenly (batch_size / nproc per process); use a multiple of {processes}")


class DistributedTrainingError(RuntimeError):
    """A multi-process training run that stopped: torchrun's exit code, the failing rank and its log tail."""

    def __init__(self, message: str, exit_code: int | None, rank: int | None, log_path: Path | None,
                 log_tail: str) -> None:
        super().__init__(message)
        self.exit_code, self.rank, self.log_path, self.log_tail = exit_code, rank, log_path, log_tail


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at ``host`` now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def resolve_process_device(device: str | torch.device | None, nproc: int) -> str:
    """``cpu`` or ``cuda`` for a run on ``nproc`` processes (each CUDA process takes the GPU of its local rank)."""
    wanted = torch.device(device) if device is not None else None
    if wanted is None:
        return "cuda" if torch.cuda.is_available() and torch.cuda.device_count() >= nproc else "cpu"
    if wanted.type == "cuda":
        if wanted.index is not None:
            raise InputError(f"device {device}: with nproc={nproc} each process takes the GPU of its rank; "
                             "give device='cuda' (choose GPUs with CUDA_VISIBLE_DEVICES)")
        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if available < nproc:
            raise InputError(f"nproc={nproc} processes need {nproc} GPUs; {available} visible")
        return "cuda"
    if wanted.type != "cpu":
        raise InputError(f"device {device}: multi-process training runs on 'cpu' or 'cuda'")
    return "cpu"


def _launch_command(job_path: Path, log_dir: Path, nproc: int, port: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc-per-node={nproc}",
            "--master-addr=127.0.0.1", f"--master-port={port}", "--max-restarts=0", f"--log-dir={log_dir}",
            "--tee=3", "--local-ranks-filter=0", "-m", "lowcov.train.rank_process", str(job_path)]


def _launch_environment(nproc: int, device: str) -> dict[str, str]:
    env = dict(os.environ)
    # torchrun would set 1 thread per process (with a warning); share the cores out instead
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    if device == "cpu":
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # one machine: gloo's connections stay on the loopback
    return env


def _rank_log(log_dir: Path, rank: int) -> Path | None:
    """The stderr file torchrun kept for ``rank`` (``<log_dir>/<run id>/attempt_<n>/<rank>/stderr.log``)."""
    found = sorted(log_dir.glob(f"*/attempt_*/{rank}/stderr.log"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


_FAILURE_FIELDS = ("time", "host", "rank", "exitcode", "error_file", "traceback")


def _reported_failures(torchrun_output: str) -> list[dict[str, str]]:
    """Every failure in torchrun's closing report, the "Root Cause (first observed failure)" first, then the
    others it lists under "Failures:"; each with its fields (rank, exitcode, traceback ...)."""
    start = torchrun_output.rfind("Failures:")
    if start < 0:
        start = max(torchrun_output.rfind("Root Cause"), 0)
    failures: list[tuple[bool, dict[str, str]]] = []  # (is the root cause, fields)
    in_root_cause, current, key = False, None, None
    for line in torchrun_output[start:].splitlines():
        stripped = line.strip()
        name, colon, value = line.partition(":")
        if stripped.startswith("Root Cause"):
            in_root_cause, current = True, None
        elif stripped.startswith("[") and stripped.endswith("]:"):
            current, key = {}, None
            failures.append((in_root_cause, current))
        elif stripped.startswith(("===", "---")):
            current = None
        elif current is not None and colon and name.strip() in _FAILURE_FIELDS:
            key = name.strip()
            current[key] = value.strip()
        elif current is not None and key == "traceback" and stripped:
            current[key] += "\n" + line.rstrip()
    return [fields for root, fields in sorted(failures, key=lambda failure: not failure[0]) if fields]


def _first_failure(torchrun_output: str) -> dict[str, str]:
    """The failure that caused the others. torchrun names as root cause the failure it observed first, with
    times to the second and ties going to the lower rank, so when a rank is killed its peer failing a moment
    later on the broken connection ("Connection closed by peer") is often named instead. A rank ended by a
    signal other than the SIGTERM torchrun sends to stop the survivors did not fail because of a peer: it
    comes first."""
    failures = _reported_failures(torchrun_output)
    killed = [failure for failure in failures
              if "(SIG" in failure.get("exitcode", "") and "(SIGTERM)" not in failure["exitcode"]]
    return (killed or failures or [{}])[0]


def _failing_rank(failure: dict[str, str], log_dir: Path, nproc: int) -> int | None:
    """The rank of ``failure`` (torchrun's report), else the first rank whose log holds a traceback."""
    try:
        return int(failure["rank"].split()[0])
    except (KeyError, ValueError, IndexError):
        pass
    for rank in range(nproc):
        log = _rank_log(log_dir, rank)
        if log is not None and "Traceback" in log.read_text(errors="replace"):
            return rank
    return None


def _tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _terminate(process: subprocess.Popen, grace_seconds: float = 30.0) -> None:
    """Stop torchrun the way it expects (SIGTERM: it stops its processes), then by force."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _failure(nproc: int, exit_code: int, torchrun_output: str, log_dir: Path) -> DistributedTrainingError:
    """The error for a run torchrun ended with ``exit_code``: the first failing rank, how it ended, its log."""
    cause = _first_failure(torchrun_output)
    rank = _failing_rank(cause, log_dir, nproc)
    log_path = _rank_log(log_dir, rank) if rank is not None else None
    log_tail = _tail(log_path)
    how = f"exit code {cause['exitcode']}" if "exitcode" in cause else "see torchrun's report above"
    if cause.get("traceback") and "(SIG" in cause.get("exitcode", ""):
        how += f", {cause['traceback']}"  # a signal: the log has no traceback to show
    elif log_tail.strip():
        how += f": {log_tail.strip().splitlines()[-1].split(']: ', 1)[-1]}"  # the exception, without the rank tag
    shown = log_tail or "(empty)"
    return DistributedTrainingError(
        f"training on {nproc} processes failed: torchrun exited with code {exit_code}; "
        f"{f'rank {rank}' if rank is not None else 'a process'} failed first ({how}). Nothing partial is left "
        f"under a final name; a re-run resumes from the last checkpoint. Its log {log_path or log_dir} ends:\n"
        f"{shown}", exit_code, rank, log_path, log_tail)


def train_on_processes(train_set: Any, tune_set: Any, config: Any, experiment_dir: str | os.PathLike, nproc: int, *,
                       device: str | torch.device | None = None, progress: bool = True, force: bool = False,
                       restart_on_change: bool = False, port: int | None = None,
                       timeout: float | None = None) -> Any:
    """Run :func:`lowcov.train.train` on ``nproc`` processes through torchrun; returns its TrainResult.

    ``train_set``/``tune_set``: :class:`~lowcov.shards.ExampleSet` or directories (every process opens
    them by path). ``port``: torchrun's rendezvous port on 127.0.0.1 (default: a free one). ``timeout``:
    seconds before the run is stopped and reported as failed (default: none). Raises
    :class:`DistributedTrainingError` when a process fails, :class:`lowcov.InputError` for settings that
    cannot run (a batch size that does not divide, too few GPUs).
    """
    from .data import open_example_set
    from .record import RECORD_NAME, _result_from_record

    if nproc < 2:
        raise InputError(f"train_on_processes needs nproc >= 2 (got {nproc}); nproc=1 is lowcov.train.train")
    check_batch_size(config.batch_size, nproc)
    process_device = resolve_process_device(device, nproc)
    experiment_dir = Path(experiment_dir).resolve()
    launch_dir = experiment_dir / LAUNCH_DIR
    launch_dir.mkdir(parents=True, exist_ok=True)
    (launch_dir / "result.json").unlink(missing_ok=True)
    job = {"train_set": str(open_example_set(train_set).directory.resolve()),
           "tune_set": str(open_example_set(tune_set).directory.resolve()),
           "config": config.to_dict(), "experiment_dir": str(experiment_dir), "device": process_device,
           "progress": progress, "force": force, "restart_on_change": restart_on_change,
           "result": str(launch_dir / "result.json"), "collective_timeout": COLLECTIVE_TIMEOUT_SECONDS}
    job_path = launch_dir / "job.json"
    job_path.write_text(json.dumps(job, indent=1) + "\n")
    log_dir = launch_dir / "logs"
    command = _launch_command(job_path, log_dir, nproc, port or free_port())
    logger.info("training on %d %s processes through torchrun (logs: %s)", nproc, process_device, log_dir)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", env=_launch_environment(nproc, process_device))
    tail: collections.deque[str] = collections.deque(maxlen=400)

    def relay() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line)
            sys.stdout.write(line)
            sys.stdout.flush()

    relaying = threading.Thread(target=relay, daemon=True)
    relaying.start()
    try:
        exit_code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        _terminate(process)
        relaying.join(10)
        raise DistributedTrainingError(f"training on {nproc} processes did not finish within {timeout:.0f} s; "
                                       f"stopped (a re-run resumes from its last checkpoint); logs in {log_dir}",
                                       None, None, log_dir, "".join(tail)) from None
    except BaseException:  # Ctrl-C in a terminal or a notebook: stop the processes, keep last.pt
        _terminate(process)
        raise
    relaying.join(10)
    if exit_code != 0:
        raise _failure(nproc, exit_code, "".join(tail), log_dir)
    record = json.loads((experiment_dir / RECORD_NAME).read_text())
    outcome = json.loads((launch_dir / "result.json").read_text())
    return _result_from_record(experiment_dir, record, reused=bool(outcome["reused"]),
                               resumed_from=outcome["resumed_from_step"])
