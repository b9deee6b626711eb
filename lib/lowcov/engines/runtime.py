"""Container runtimes: docker, podman and apptainer/singularity, as the ``deepvariant`` engine drives them.

A :class:`ContainerCommand` is what to run (image, argument list, mounts, GPU or not, log file); a
:class:`ContainerRuntime` turns it into the runtime's own argument list (:meth:`ContainerRuntime.argv`)
and runs it (:meth:`ContainerRuntime.run`). The same ``argv`` feeds the plan (:mod:`.plan`) and the
run, so what a plan shows is what runs.

* Choice: ``LOWCOV_CONTAINER`` (``docker``, ``podman``, ``apptainer`` or ``singularity``), else the first
  of docker, podman, apptainer, singularity found on ``PATH``.
* Mounts: every input and output directory is mounted at the same path inside and out (``-v p:p`` /
  ``--bind p:p``), so paths in a command mean the same thing on both sides; each must exist.
* GPU: ``--gpus all`` (docker), ``--device nvidia.com/gpu=all`` (podman, CDI), ``--nv`` (apptainer).
  Whether the host has one is asked of ``nvidia-smi -L``.
* Images: docker and podman run ``google/deepvariant:1.8.0`` by name and must have pulled it;
  apptainer runs a SIF file in ``sif_dir`` named after the image (``deepvariant_1.8.0-gpu.sif``),
  made with ``apptainer pull``. A missing image is an error that gives the pull command.
* Commands are argument lists, never shell strings; each run writes its output to its own log file;
  a failure raises :class:`ContainerRunError` with the task, the tail of the log and the command.
"""
from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

from .. import InputError

log = logging.getLogger(__name__)

#: in the order they are looked for on PATH
RUNTIMES = ("docker", "podman", "apptainer", "singularity")
RUNTIME_ENV = "LOWCOV_CONTAINER"
#: how each runtime asks for every NVIDIA GPU
GPU_FLAGS: dict[str, tuple[str, ...]] = {
    "docker": ("--gpus", "all"),
    "podman": ("--device", "nvidia.com/gpu=all"),
    "apptainer": ("--nv",),
    "singularity": ("--nv",),
}
GPU_SUFFIX = "-gpu"
LOG_TAIL_LINES = 30


class ContainerError(InputError):
    """A container cannot be run as asked (no runtime, no image, no GPU)."""


class ContainerRunError(RuntimeError):
    """A container ran and failed."""


@dataclass(frozen=True)
class ContainerCommand:
    """One container run. ``command``: the argument list inside the container (binary first);
    ``mounts``: the host directories the command reads or writes (an input's directory, so that its
    index beside it is seen too);
    ``label``: names the task in logs and errors (``make_examples train task 3 of 16``)."""

    image: str
    command: tuple[str, ...]
    mounts: tuple[Path, ...] = ()
    gpu: bool = False
    workdir: Path | None = None
    log_path: Path | None = None
    label: str = ""

    def with_image(self, image: str) -> "ContainerCommand":
        return replace(self, image=image)


def cpu_image(image: str) -> str:
    """``google/deepvariant:1.8.0-gpu`` -> ``google/deepvariant:1.8.0``."""
    return image[: -len(GPU_SUFFIX)] if image.endswith(GPU_SUFFIX) else image


def mount_directories(paths: Sequence[str | os.PathLike], check: bool = True) -> list[Path]:
    """The directories to mount: each absolute and normalised, nested ones dropped (the outer mount covers
    them). With ``check``, each must exist, and an existing file stands for its directory."""
    directories: list[Path] = []
    for raw in paths:
        path = Path(os.path.normpath(Path(raw).absolute()))
        if check and not path.exists():
            raise ContainerError(f"cannot mount {path}: no such file or directory (inputs must exist and "
                                 "output directories are created before a container starts)")
        directories.append(path.parent if path.is_file() else path)
    kept: list[Path] = []
    for directory in sorted(set(directories), key=lambda p: len(p.parts)):
        if not any(directory == outer or outer in directory.parents for outer in kept):
            kept.append(directory)
    return sorted(kept)


def host_has_gpu() -> bool:
    """Whether ``nvidia-smi -L`` lists a GPU."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return False
    try:
        listed = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


@dataclass(frozen=True)
class ContainerRuntime:
    """A container runtime by ``name`` (one of :data:`RUNTIMES`); ``executable`` defaults to the name
    (enough for writing plans on a machine without it)."""

    name: str
    executable: str = ""
    #: where apptainer/singularity keep SIF files (one per image)
    sif_dir: Path | None = None
    #: run a GPU command on the CPU image (with a warning) when the host has no GPU
    allow_cpu_fallback: bool = False
    #: answers "does the host have a GPU?" (replaceable in tests)
    gpu_probe: object = field(default=host_has_gpu, compare=False, repr=False)

    def __post_init__(self):
        if self.name not in RUNTIMES:
            raise ContainerError(f"unknown container runtime {self.name!r}; choose one of {', '.join(RUNTIMES)} "
                                 f"(set {RUNTIME_ENV})")
        if not self.executable:
            object.__setattr__(self, "executable", self.name)

    @property
    def is_apptainer(self) -> bool:
        return self.name in ("apptainer", "singularity")

    # -- images ------------------------------------------------------------------------------------
    def sif_path(self, image: str) -> Path:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", image.rsplit("/", 1)[-1].replace(":", "_"))
        return Path(self.sif_dir or Path.cwd()) / f"{name}.sif"

    def pull_command(self, image: str) -> list[str]:
        if self.is_apptainer:
            return [self.executable, "pull", str(self.sif_path(image)), f"docker://{image}"]
        return [self.executable, "pull", image]

    def require_image(self, image: str) -> None:
        """Raise :class:`ContainerError` with the pull command when ``image`` is not available locally."""
        if self.is_apptainer:
            if not self.sif_path(image).exists():
                raise ContainerError(f"image {image} is not available to {self.name}: {self.sif_path(image)} "
                                     f"does not exist; pull it with: {shlex.join(self.pull_command(image))}")
            return
        probe = subprocess.run([self.executable, "image", "inspect", image], capture_output=True, text=True)
        if probe.returncode == 0:
            return
        message = (probe.stderr or probe.stdout).strip()
        if re.search(r"cannot connect|daemon|permission denied|connection refused", message, re.I):
            raise ContainerError(f"{self.name} cannot reach its daemon ({message.splitlines()[-1]}); start it, or "
                                 f"choose another runtime with {RUNTIME_ENV}=podman|apptainer|singularity")
        raise ContainerError(f"image {image} is not available locally to {self.name}; pull it with: "
                             f"{shlex.join(self.pull_command(image))}")

    # -- GPU ------------------------------------------------------------------------------------------
    def resolve_gpu(self, command: ContainerCommand) -> ContainerCommand:
        """``command`` as it can run here: unchanged when it needs no GPU or the host has one; else the
        CPU image without GPU flags when allowed (with a warning), else :class:`ContainerError`."""
        if not command.gpu or self.gpu_probe():
            return command
        if not self.allow_cpu_fallback:
            raise ContainerError(f"{command.label or command.command[0]} asks for a GPU ({command.image}) but "
                                 "nvidia-smi finds none on this host; run on a machine with an NVIDIA GPU, or "
                                 "allow the CPU image (allow_cpu_fallback=True; much slower)")
        log.warning("%s: no GPU on this host; running the CPU image %s instead of %s (slower)",
                    command.label or command.command[0], cpu_image(command.image), command.image)
        return replace(command, gpu=False, image=cpu_image(command.image))

    # -- the argument list ----------------------------------------------------------------------------
    def argv(self, command: ContainerCommand, check_mounts: bool = True) -> list[str]:
        """The full argument list that runs ``command`` under this runtime. ``check_mounts=False``
        (plans) mounts the given paths' directories without requiring them to exist yet."""
        mounts = mount_directories(command.mounts, check=check_mounts)
        gpu = GPU_FLAGS[self.name] if command.gpu else ()
        if self.is_apptainer:
            argv = [self.executable, "exec", "--cleanenv"]
            for directory in mounts:
                argv += ["--bind", f"{directory}:{directory}"]
            if command.workdir:
                argv += ["--pwd", str(command.workdir)]
            return argv + list(gpu) + [str(self.sif_path(command.image))] + list(command.command)
        argv = [self.executable, "run", "--rm"]
        if self.name == "docker" and hasattr(os, "getuid"):
            argv += ["--user", f"{os.getuid()}:{os.getgid()}"]  # outputs owned by the caller, not root
        for directory in mounts:
            argv += ["-v", f"{directory}:{directory}"]
        if command.workdir:
            argv += ["-w", str(command.workdir)]
        return argv + list(gpu) + [command.image] + list(command.command)

    # -- running --------------------------------------------------------------------------------------
    def run(self, command: ContainerCommand, env: Mapping[str, str] | None = None) -> Path | None:
        """Run ``command`` (GPU resolved, image checked, mounts checked), its output going to
        ``command.log_path``; returns the log path. Failure: :class:`ContainerRunError`."""
        command = self.resolve_gpu(command)
        self.require_image(command.image)
        argv = self.argv(command)
        label = command.label or command.command[0]
        log.info("%s: %s", label, shlex.join(argv))
        if command.log_path is None:
            completed = subprocess.run(argv, capture_output=True, text=True, env=env)
            output = (completed.stdout or "") + (completed.stderr or "")
        else:
            command.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(command.log_path, "w") as handle:
                handle.write(f"# {shlex.join(argv)}\n")
                handle.flush()
                completed = subprocess.run(argv, stdout=handle, stderr=subprocess.STDOUT, env=env)
            output = command.log_path.read_text(errors="replace")
        if completed.returncode != 0:
            tail = "\n".join(output.splitlines()[-LOG_TAIL_LINES:])
            where = f" (log: {command.log_path})" if command.log_path else ""
            raise ContainerRunError(f"{label} failed with exit code {completed.returncode}{where}.\n"
                                    f"Last lines of its output:\n{tail}\n"
                                    f"Re-run it with:\n{shlex.join(argv)}")
        return command.log_path


def detect_runtime(env: Mapping[str, str] | None = None, **options) -> ContainerRuntime:
    """The runtime named by ``LOWCOV_CONTAINER``, else the first of :data:`RUNTIMES` on ``PATH``."""
    env = os.environ if env is None else env
    path = env.get("PATH")
    chosen = env.get(RUNTIME_ENV, "").strip()
    if chosen:
        if chosen not in RUNTIMES:
            raise ContainerError(f"{RUNTIME_ENV}={chosen!r} is not a supported runtime; choose one of "
                                 f"{', '.join(RUNTIMES)}")
        executable = shutil.which(chosen, path=path)
        if executable is None:
            raise ContainerError(f"{RUNTIME_ENV}={chosen} but no {chosen} executable is on PATH")
        return ContainerRuntime(chosen, executable, **options)
    for name in RUNTIMES:
        executable = shutil.which(name, path=path)
        if executable:
            return ContainerRuntime(name, executable, **options)
    raise ContainerError("no container runtime found: the deepvariant engine needs docker, podman or "
                         "apptainer/singularity on PATH (looked for them in that order); install one, or name "
                         f"the one to use with {RUNTIME_ENV}=docker|podman|apptainer|singularity; "
                         "or use engine='native'")
