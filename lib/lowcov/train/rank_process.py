"""What each process torchrun starts for ``train(..., nproc=N)`` runs (see :mod:`lowcov.train.distributed`).

    python -m torch.distributed.run ... -m lowcov.train.rank_process JOB.json

Joins the process group torchrun describes in the environment (gloo on the CPU; NCCL on the GPU of the
local rank), runs :func:`lowcov.train.train` as one rank, and on rank 0 writes what the launcher cannot
read from the record (whether the run resumed or was reused) to the job's ``result`` file.
"""
from __future__ import annotations

import ctypes
import datetime
import json
import logging
import os
import signal
import sys
from pathlib import Path

import torch
from torch.distributed.elastic.multiprocessing.errors import record

from ..fileio import atomic_output
from .config import TrainConfig
from .loop import train

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to kill this process when torchrun dies: torchrun starts each process in its own session,
    so a torchrun killed outright would otherwise leave them training (and rank 0 writing) on their own."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # torchrun died before the request took effect
        os._exit(1)


@record
def main(argv: list[str] | None = None) -> int:
    die_with_parent()
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1:
        raise SystemExit("usage: python -m torch.distributed.run ... -m lowcov.train.rank_process JOB.json")
    job = json.loads(Path(arguments[0]).read_text())
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s rank {rank} %(name)s: %(message)s")
    if job["device"] == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    torch.distributed.init_process_group(backend, timeout=datetime.timedelta(seconds=job["collective_timeout"]))
    try:
        result = train(job["train_set"], job["tune_set"], TrainConfig.from_dict(job["config"]), job["experiment_dir"],
                       device=device, progress=job["progress"] and rank == 0, force=job["force"],
                       restart_on_change=job["restart_on_change"])
        if rank == 0:
            with atomic_output(Path(job["result"])) as tmp:
                tmp.write_text(json.dumps({"resumed_from_step": result.resumed_from_step,
                                           "reused": result.reused}) + "\n")
    finally:
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
