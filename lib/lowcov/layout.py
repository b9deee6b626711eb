"""Where each profile keeps its files: ``data/<profile name>/<stage>/...``.

Notebooks and stages ask a :class:`Layout` for paths instead of spelling them, so every profile
(:mod:`lowcov.profile`: ``demo``, ``seed`` or a user's YAML file) runs the same code. The case study uses
two references: RNA reads are aligned to Ensembl GRCh38 (contigs ``1``...), the DNA test set comes with
UCSC hg19 (``chr1``...). The demo has one reference that plays both parts; a user's profile says which.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .profile import Profile, load_profile, shipped_profiles

#: the shipped profiles' names (any YAML path is a profile too)
PROFILES = shipped_profiles()

#: the repository root (lib/lowcov/layout.py -> three levels up)
REPO_ROOT = Path(__file__).resolve().parents[2]

#: file names of the references, by the profile's data source
_REFERENCE_NAMES = {"simulated": ("genome.fa", None),
                    "case-study": ("ucsc_hg19.fa", "Homo_sapiens.GRCh38.dna.primary_assembly.fa")}


def data_root() -> Path:
    return Path(os.environ.get("LOWCOV_DATA", REPO_ROOT / "data"))


def _fasta_suffix(path: Path | None) -> str:
    """``.fa`` or ``.fa.gz`` (a bgzipped FASTA keeps its suffix when linked)."""
    return ".fa.gz" if path is not None and path.suffix == ".gz" else ".fa"


@dataclass(frozen=True)
class Layout:
    """Paths of one profile. ``profile``: a shipped name, a YAML path, or a loaded :class:`Profile`."""

    profile: str | os.PathLike | Profile = "demo"
    root: Path | None = None
    spec: Profile = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        spec = load_profile(self.profile, check_files=False)
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "profile", spec.name)
        if self.root is None:
            object.__setattr__(self, "root", data_root() / spec.name)
        object.__setattr__(self, "root", Path(self.root))

    def stage(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- reference and truth ---------------------------------------------------------------
    @property
    def dna_reference(self) -> Path:
        if self.spec.source in _REFERENCE_NAMES:
            return self.stage("reference") / _REFERENCE_NAMES[self.spec.source][0]
        return self.stage("reference") / ("dna" + _fasta_suffix(self.spec.input_path("dna_reference")))

    @property
    def rna_reference(self) -> Path:
        if self.spec.source in _REFERENCE_NAMES:
            name = _REFERENCE_NAMES[self.spec.source][1]
            return self.dna_reference if name is None else self.stage("reference") / name
        if "rna_reference" not in self.spec.inputs:
            return self.dna_reference
        return self.stage("reference") / ("rna" + _fasta_suffix(self.spec.input_path("rna_reference")))

    @property
    def truth_vcf(self) -> Path:
        return self.stage("truth") / "truth.vcf.gz"

    @property
    def confident_bed(self) -> Path:
        return self.stage("truth") / "confident.bed"

    # -- reads -------------------------------------------------------------------------------
    @property
    def dna_bam(self) -> Path:
        """All DNA reads at full coverage (the demo's training contigs and chr1)."""
        return self.stage("dna") / "dna.bam"

    def dna_test_bam(self, fraction: float = 1.0) -> Path:
        """The test contig's reads, at full coverage or downsampled to ``fraction``."""
        if fraction >= 1.0:
            return self.stage("dna") / f"dna.{self.test_contig}.bam"
        return self.stage("dna") / f"dna.{self.test_contig}.ds{round(fraction * 100):02d}.bam"

    @property
    def downsample_fraction(self) -> float:
        """The low-coverage test set's fraction of the reads (the case study: 0.5)."""
        return self.spec.downsample.fraction

    def rna_bam(self, preset: str = "ccs") -> Path:
        return self.stage("rna") / f"rna.{preset.lower()}.bam"

    @property
    def rna_annotation(self) -> Path:
        """Gene models (BED12) of the simulated transcripts (simulated profiles only)."""
        return self.stage("rna") / "transcripts.bed"

    @property
    def test_contig(self) -> str:
        """The test contig in the DNA build's naming (the case study: chr1)."""
        return self.spec.contigs.test

    @property
    def tune_contig(self) -> str:
        """The tune contig in the DNA build's naming (the case study: chr10)."""
        return self.spec.contigs.tune

    @property
    def rna_test_contig(self) -> str:
        """The test contig in the RNA build's naming (the case study's GRCh38: 1)."""
        return self.spec.rna.test

    @property
    def rna_tune_contig(self) -> str:
        return self.spec.rna.tune

    # -- later stages ------------------------------------------------------------------------
    def examples_dir(self, name: str) -> Path:
        return self.stage("examples") / name

    def model_dir(self, name: str) -> Path:
        return self.stage("models") / name

    def calls_vcf(self, model: str, dataset: str) -> Path:
        return self.stage("calls") / f"{model}.{dataset}.vcf.gz"

    def benchmark_prefix(self, model: str, dataset: str) -> Path:
        return self.stage("benchmark") / f"{model}.{dataset}"

    def training_contigs(self, reference: Path | None = None) -> list[str]:
        """The training contigs in the naming of ``reference`` (default the DNA one): the profile's list, or
        else the reference's autosomes except the test and tune contigs, in either naming convention (the case
        study trains on chr2-chr22 without chr10)."""
        from .checks import fasta_contigs

        reference = Path(reference or self.dna_reference)
        on_rna_build = reference == self.rna_reference and reference != self.dna_reference
        contigs = self.spec.rna if on_rna_build else self.spec.contigs
        if contigs.training:
            return list(contigs.training)
        held_out = {contigs.test, contigs.tune}
        held_out |= {c.removeprefix("chr") for c in held_out} | {"chr" + c.removeprefix("chr") for c in held_out}
        autosomes = {str(n) for n in range(1, 23)}
        return [c for c in fasta_contigs(reference)
                if c not in held_out and c.removeprefix("chr") in autosomes]
