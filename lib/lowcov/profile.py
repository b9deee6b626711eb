"""A study profile: one YAML file that says which data the book studies and how.

``demo`` and ``seed`` are two such files shipped in ``lowcov/profiles/``; a user's own study is a third,
passed by path (``--profile path/to/study.yaml``, or ``profile = "path/to/study.yaml"`` in a notebook).
A profile names

* where its data come from (``source``): ``simulated`` (the demo's simulator, with its seed and contigs),
  ``case-study`` (the case study's downloads, listed in ``data/manifests/seed.json``) or ``files`` (the user's
  own BAMs, references, truth and confident regions, each by local path or URL, with optional size and sha256);
* the DNA and RNA reference builds, and the test, tune and training contigs in each build's naming;
* the downsampling of the test contig (fraction and seed, as ``samtools view -s SEED.FRACTION``);
* the engine (``native`` or ``deepvariant``) and the notebook parameters it overrides.

Outputs go to ``data/<name>/`` (``LOWCOV_DATA`` moves ``data/``), so profiles live side by side and each
re-run resumes its own. :func:`load_profile` validates the whole file before any work starts: unknown or
missing keys, wrong types, local files that do not exist, contig names absent from a reference, and an RNA
BAM aligned to another build than its declared reference are each reported with the key and the file.
"""
from __future__ import annotations

import difflib
import os
import re
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from . import InputError

#: the profiles shipped with lowcov
PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
SOURCES = ("simulated", "case-study", "files")
ENGINES = ("native", "deepvariant")
#: inputs of a ``files`` profile; ``rna_reference`` defaults to the DNA reference
REQUIRED_FILE_INPUTS = ("dna_reference", "dna_bam", "truth_vcf", "confident_bed", "rna_bam")
OPTIONAL_FILE_INPUTS = ("rna_reference",)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ProfileError(InputError):
    """A profile that cannot be used; the message names the file and the key."""

    def __init__(self, source: Path | str, key: str, problem: str):
        self.source, self.key, self.problem = source, key, problem
        where = f"{source}: {key}" if key else str(source)
        super().__init__(f"profile {where}: {problem}")


@dataclass(frozen=True)
class InputFile:
    """One input: a local ``path`` (relative paths are relative to the YAML file) or a ``url`` to fetch."""

    path: str | None = None
    url: str | None = None
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Contigs:
    """Contig names in one build's naming. ``training`` empty: the autosomes except test and tune."""

    test: str
    tune: str
    training: tuple[str, ...] = ()


@dataclass(frozen=True)
class Builds:
    dna: str
    rna: str


@dataclass(frozen=True)
class Downsample:
    """The low-coverage test set: ``samtools view -s SEED.FRACTION`` of the test contig."""

    fraction: float = 0.5
    seed: int = 0


@dataclass(frozen=True)
class Simulation:
    """The simulator's settings (``source: simulated``); see :class:`lowcov.simulate.DemoConfig`."""

    seed: int = 20240601
    #: ``demo`` (the book's mini-genome, ~6.8 Mb) or ``tiny`` (a few hundred kb, for tests)
    size: str = "demo"
    #: contig name -> length, in FASTA order; empty: the size's default contigs
    contigs: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    builds: Builds
    contigs: Contigs
    description: str = ""
    engine: str = "native"
    sample: str = "sample"
    #: contig names on the RNA build (the case study: Ensembl's ``1``, ``10``); empty: as ``contigs``
    rna_contigs: Contigs | None = None
    downsample: Downsample = field(default_factory=Downsample)
    simulation: Simulation | None = None
    #: ``source: files``: role -> file (:data:`REQUIRED_FILE_INPUTS`, :data:`OPTIONAL_FILE_INPUTS`)
    inputs: dict[str, InputFile] = field(default_factory=dict)
    #: ``source: case-study``: the download manifest, relative to the repository (or absolute)
    manifest: str | None = None
    #: notebook parameters this profile overrides (``python -m lowcov.book`` passes them to papermill)
    parameters: dict[str, Any] = field(default_factory=dict)
    #: the YAML file it was read from (not a key of the file)
    path: Path | None = None

    @property
    def rna(self) -> Contigs:
        return self.rna_contigs or self.contigs

    def input_path(self, role: str) -> Path | None:
        """The local path of input ``role`` (resolved against the YAML's folder), or None (absent / a URL)."""
        spec = self.inputs.get(role)
        if spec is None or spec.path is None:
            return None
        path = Path(os.path.expanduser(spec.path))
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path

    def simulation_config(self):
        """The :class:`lowcov.simulate.DemoConfig` of a simulated profile."""
        from dataclasses import replace

        from .simulate import DemoConfig

        sim = self.simulation or Simulation()
        config = DemoConfig.tiny(seed=sim.seed) if sim.size == "tiny" else DemoConfig(seed=sim.seed)
        if sim.contigs:
            config = replace(config, contig_lengths=dict(sim.contigs))
        return config


# -- reading ----------------------------------------------------------------------------------------


def shipped_profiles() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in PROFILE_DIR.glob("*.yaml")))


def profile_file(profile: str | os.PathLike) -> Path:
    """The YAML file of a shipped profile's name or of a path."""
    text = str(profile)
    if text in shipped_profiles():
        return PROFILE_DIR / f"{text}.yaml"
    path = Path(os.path.expanduser(text))
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ProfileError(path, "", "no such file")
        return path.resolve()
    raise ProfileError(text, "", f"not a shipped profile ({', '.join(shipped_profiles())}) nor a .yaml file")


def load_profile(profile: "str | os.PathLike | Profile", check_files: bool = True) -> Profile:
    """Read and validate a profile (a shipped name, a YAML path, or an already loaded :class:`Profile`).

    ``check_files``: also check that local inputs exist and agree with their references (contig names,
    RNA build); a profile whose inputs are URLs is checked again after they are downloaded
    (:func:`check_inputs`).
    """
    if isinstance(profile, Profile):
        return profile
    import yaml

    path = profile_file(profile)
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(path, "", f"is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ProfileError(path, "", "must be a mapping of keys (name, source, builds, contigs, ...)")
    document.setdefault("name", path.stem)
    loaded = _build(Profile, document, path, "")
    loaded = _with_path(loaded, path)
    _check_semantics(loaded)
    if check_files:
        check_inputs(loaded)
    return loaded


def _with_path(profile: Profile, path: Path) -> Profile:
    from dataclasses import replace

    return replace(profile, path=path)


def _type_name(kind) -> str:
    return getattr(kind, "__name__", str(kind).replace("typing.", ""))


def _convert(kind, value, path: Path, key: str):
    """``value`` as type ``kind`` (dataclasses recursively), or a ProfileError naming ``key``."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, path, key)
            except ProfileError as exc:
                errors.append(exc.problem)
        raise ProfileError(path, key, errors[0] if len(errors) == 1 else "; ".join(errors))
    if isinstance(kind, type) and hasattr(kind, "__dataclass_fields__"):
        if not isinstance(value, dict):
            raise ProfileError(path, key, f"must be a mapping, got {value!r}")
        return _build(kind, value, path, key)
    if origin is dict:
        key_type, value_type = typing.get_args(kind)
        if not isinstance(value, dict):
            raise ProfileError(path, key, f"must be a mapping, got {value!r}")
        return {str(k): _convert(value_type, v, path, f"{key}.{k}") for k, v in value.items()}
    if origin is tuple:
        item_type = typing.get_args(kind)[0]
        if not isinstance(value, list):
            raise ProfileError(path, key, f"must be a list, got {value!r}")
        return tuple(_convert(item_type, v, path, f"{key}[{i}]") for i, v in enumerate(value))
    if kind is Any:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # contig names such as 1 or 10 read as numbers by YAML
    if kind in (int, float, str, bool) and not (isinstance(value, kind) and not (kind is int and isinstance(value, bool))):
        raise ProfileError(path, key, f"must be {_type_name(kind)}, got {value!r}")
    return value


def _build(cls, mapping: Mapping, path: Path, prefix: str):
    known = {f.name: f for f in fields(cls) if not (cls is Profile and f.name == "path")}
    values = {}
    for name, value in mapping.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
            raise ProfileError(path, key, f"unknown key{hint}")
        values[name] = _convert(typing.get_type_hints(cls)[name], value, path, key)
    for name, spec in known.items():
        if name not in values and spec.default is MISSING and spec.default_factory is MISSING:
            raise ProfileError(path, f"{prefix}.{name}" if prefix else name, "missing (required)")
    return cls(**values)


def _check_semantics(profile: Profile) -> None:
    path = profile.path
    if not _SAFE_NAME.match(profile.name):
        raise ProfileError(path, "name", f"{profile.name!r} is not a folder name (letters, digits, _ . -)")
    if profile.source not in SOURCES:
        raise ProfileError(path, "source", f"must be one of {', '.join(SOURCES)}, got {profile.source!r}")
    if profile.engine not in ENGINES:
        raise ProfileError(path, "engine", f"must be one of {', '.join(ENGINES)}, got {profile.engine!r}")
    if not 0.0 < profile.downsample.fraction < 1.0:
        raise ProfileError(path, "downsample.fraction", f"must be between 0 and 1, got {profile.downsample.fraction}")
    for label, contigs in (("contigs", profile.contigs), ("rna_contigs", profile.rna)):
        if contigs.test == contigs.tune:
            raise ProfileError(path, f"{label}.tune", f"is the test contig {contigs.test!r}; they must differ")
        leaked = {contigs.test, contigs.tune} & set(contigs.training)
        if leaked:
            raise ProfileError(path, f"{label}.training", f"holds the test or tune contig {sorted(leaked)}")
    needs = {"simulated": "simulation", "case-study": "manifest", "files": "inputs"}
    for source, key in needs.items():
        present = bool(getattr(profile, key))
        if source == profile.source and not present and key != "simulation":
            raise ProfileError(path, key, f"is required when source is {source}")
        if source != profile.source and present:
            raise ProfileError(path, key, f"belongs to source {source}, but source is {profile.source}")
    if profile.simulation is not None:
        if profile.simulation.size not in ("demo", "tiny"):
            raise ProfileError(path, "simulation.size", f"must be demo or tiny, got {profile.simulation.size!r}")
        names = set(profile.simulation.contigs)
        for key, name in (("contigs.test", profile.contigs.test), ("contigs.tune", profile.contigs.tune)):
            if names and name not in names:
                raise ProfileError(path, key, f"{name!r} is not a simulated contig ({', '.join(names)})")
    if profile.source == "files":
        for role in REQUIRED_FILE_INPUTS:
            if role not in profile.inputs:
                raise ProfileError(path, f"inputs.{role}", "missing (required when source is files)")
        for role, spec in profile.inputs.items():
            key = f"inputs.{role}"
            if role not in REQUIRED_FILE_INPUTS + OPTIONAL_FILE_INPUTS:
                close = difflib.get_close_matches(role, REQUIRED_FILE_INPUTS + OPTIONAL_FILE_INPUTS, n=1)
                raise ProfileError(path, key, "unknown input" + (f" (did you mean {close[0]!r}?)" if close else ""))
            if (spec.path is None) == (spec.url is None):
                raise ProfileError(path, key, "needs exactly one of path or url")
            if spec.sha256 is not None and not _SHA256.match(spec.sha256):
                raise ProfileError(path, f"{key}.sha256", "must be 64 lowercase hex digits")
            if spec.url is not None and not re.match(r"^(https?|ftp|gs)://", spec.url):
                raise ProfileError(path, f"{key}.url", f"must be an http(s), ftp or gs:// URL, got {spec.url!r}")


def check_inputs(profile: Profile, resolved: Mapping[str, Path] | None = None) -> None:
    """Check a ``files`` profile's inputs: local files exist, the contigs are in the references, and the
    RNA BAM is on the RNA reference's build. ``resolved``: role -> local file (after downloading URLs);
    inputs neither local nor resolved are skipped."""
    if profile.source != "files":
        return
    from .checks import bam_contigs, fasta_contigs

    local = {role: profile.input_path(role) for role in profile.inputs}
    local.update(resolved or {})
    for role, file in local.items():
        if file is not None and not file.exists():
            raise ProfileError(profile.path, f"inputs.{role}.path", f"{file} does not exist")
    references = {"dna": local.get("dna_reference"), "rna": local.get("rna_reference") or local.get("dna_reference")}
    lengths = {}
    for build, reference in references.items():
        if reference is None:
            continue
        try:
            lengths[build] = fasta_contigs(reference)
        except (OSError, ValueError) as exc:
            raise ProfileError(profile.path, f"inputs.{build}_reference", f"{reference} is not a readable FASTA: {exc}")
    for build, label, contigs in (("dna", "contigs", profile.contigs), ("rna", "rna_contigs", profile.rna)):
        if build not in lengths:
            continue
        for role, name in (("test", contigs.test), ("tune", contigs.tune),
                           *((f"training[{i}]", c) for i, c in enumerate(contigs.training))):
            if name not in lengths[build]:
                raise ProfileError(profile.path, f"{label}.{role}",
                                   f"{name!r} is not a contig of the {build.upper()} reference {references[build]} "
                                   f"(it has {', '.join(list(lengths[build])[:6])}...)")
    for role, build in (("dna_bam", "dna"), ("rna_bam", "rna")):
        bam = local.get(role)
        if bam is None or build not in lengths:
            continue
        try:
            header = bam_contigs(bam)
        except (OSError, ValueError) as exc:
            raise ProfileError(profile.path, f"inputs.{role}", f"{bam} is not a readable BAM/CRAM: {exc}")
        mismatched = {c: n for c, n in header.items() if c in lengths[build] and lengths[build][c] != n}
        shared = set(header) & set(lengths[build])
        if mismatched or not shared:
            declared = profile.builds.rna if build == "rna" else profile.builds.dna
            detail = (f"{len(mismatched)} contig(s) differ in length, e.g. {next(iter(mismatched))}"
                      if mismatched else "no contig name in common")
            raise ProfileError(profile.path, f"inputs.{role}",
                               f"{bam} is not aligned to the {build.upper()} reference {references[build]} "
                               f"(declared build {declared}): {detail}")
