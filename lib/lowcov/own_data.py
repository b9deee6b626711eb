"""A user's own data (``source: files`` profiles): fetch what is a URL, then put every input where
:class:`~lowcov.layout.Layout` expects it.

Inputs are used in place: each is hard-linked (or, across file systems, symbolically linked) under
``data/<profile>/`` with its index, so the user's files are never modified or copied. An index that is
missing beside an input is built beside the link. URLs are downloaded once into
``data/<profile>/downloads/`` (resumable, verified against the profile's size and sha256 when given).
Then the profile is checked against the actual files (contig names in the references, the RNA BAM on
the RNA build) and the test set is made (:mod:`lowcov.test_set`).

================= ====================================== ==============================================
input             what                                   becomes
================= ====================================== ==============================================
dna_reference     FASTA (plain or bgzipped)              ``layout.dna_reference`` (+ .fai)
rna_reference     FASTA of the RNA build (optional)      ``layout.rna_reference`` (default: the DNA one)
dna_bam           coordinate-sorted BAM, all contigs     ``layout.dna_bam`` (+ .bai)
truth_vcf         bgzipped VCF (truth of the sample)     ``layout.truth_vcf`` (+ .tbi)
confident_bed     BED of confident regions               ``layout.confident_bed``
rna_bam           RNA reads aligned to the RNA build      ``layout.rna_bam("ccs")`` (the notebooks' default
                                                         ``rna_preset``)
================= ====================================== ==============================================
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlparse

import pysam

from . import InputError
from .checks import require_bam, require_fasta, require_vcf
from .download import DownloadConfig, fetch
from .layout import Layout
from .profile import ProfileError, check_inputs
from .test_set import prepare_test_set

log = logging.getLogger(__name__)

#: index files that travel with each kind of input
_SIDECARS = {"dna_reference": (".fai", ".gzi"), "rna_reference": (".fai", ".gzi"), "dna_bam": (".bai", ".csi"),
             "rna_bam": (".bai", ".csi"), "truth_vcf": (".tbi", ".csi"), "confident_bed": ()}


def destinations(layout: Layout) -> dict[str, Path]:
    """Where each input of a ``files`` profile goes."""
    places = {"dna_reference": layout.dna_reference, "dna_bam": layout.dna_bam, "truth_vcf": layout.truth_vcf,
              "confident_bed": layout.confident_bed, "rna_bam": layout.rna_bam("ccs")}
    if "rna_reference" in layout.spec.inputs:
        places["rna_reference"] = layout.rna_reference
    return places


def fetch_inputs(layout: Layout, config: DownloadConfig | None = None) -> dict[str, Path]:
    """role -> local file: the profile's paths, and its URLs downloaded into ``data/<profile>/downloads``."""
    spec = layout.spec
    files = {}
    for role, entry in spec.inputs.items():
        if entry.path is not None:
            files[role] = spec.input_path(role)
            continue
        name = Path(urlparse(entry.url).path).name or role
        files[role] = fetch(entry.url, layout.stage("downloads") / name, entry.size, entry.sha256, config=config).path
        for suffix in _SIDECARS[role]:  # an index published beside the file saves building it
            if suffix in (".csi", ".gzi"):
                continue
            try:
                fetch(entry.url + suffix, files[role].with_name(files[role].name + suffix), config=config)
                break
            except InputError:
                log.info("%s has no %s beside it; it will be built", entry.url, suffix)
    return files


def _link(source: Path, destination: Path) -> None:
    """``destination`` -> ``source`` (hard link when possible, else symbolic), replacing it atomically."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists() and os.path.samefile(source, destination):
        return
    tmp = destination.with_name(f".{destination.name}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        os.symlink(source.resolve(), tmp)
    os.replace(tmp, destination)


def link_inputs(layout: Layout, files: dict[str, Path]) -> dict[str, Path]:
    """Link each input (and the indexes beside it) to its place in the layout; build missing indexes."""
    placed = {}
    for role, destination in destinations(layout).items():
        source = files[role]
        _link(source, destination)
        for suffix in _SIDECARS[role]:
            sidecar = source.with_name(source.name + suffix)
            if role.endswith("_bam") and not sidecar.exists() and suffix == ".bai":
                sidecar = source.with_suffix(".bai")  # samtools also writes name.bai for name.bam
            if sidecar.exists():
                _link(sidecar, destination.with_name(destination.name + suffix))
        if role.endswith("reference"):
            require_fasta(destination)
        elif role.endswith("_bam"):
            if destination.suffix != ".bam" or source.suffix != ".bam":
                raise ProfileError(layout.spec.path, f"inputs.{role}", f"{source} is not a .bam file (CRAM inputs "
                                   "are not supported yet: convert with samtools view -b)")
            require_bam(destination)
        elif role == "truth_vcf":
            require_vcf(destination)
        placed[role] = destination
    return placed


def prepare_own_data(layout: Layout, threads: int = 2, force: bool = False,
                     download: DownloadConfig | None = None) -> dict[str, Path]:
    """Every input of a ``files`` profile, fetched, linked, checked, plus the test set; returns role -> path."""
    if layout.spec.source != "files":
        raise InputError(f"profile {layout.spec.name} takes its data from {layout.spec.source!r}, not from files")
    files = fetch_inputs(layout, download)
    check_inputs(layout.spec, files)
    placed = link_inputs(layout, files)
    with pysam.AlignmentFile(str(placed["dna_bam"])) as bam:
        if layout.test_contig not in bam.references:
            raise ProfileError(layout.spec.path, "contigs.test",
                               f"{layout.test_contig!r} is not a contig of the DNA BAM {files['dna_bam']}")
    return {**placed, **prepare_test_set(layout, placed["dna_bam"], threads=threads, force=force)}
