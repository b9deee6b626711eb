"""Where each profile keeps its files: ``data/<profile>/<stage>/...``.

Notebooks and stages ask a :class:`Layout` for paths instead of spelling them, so the `demo` and
`seed` profiles run the same code. The case study uses two references: RNA reads are aligned to
Ensembl GRCh38 (contigs ``1``...), the DNA test set comes with UCSC hg19 (``chr1``...). The demo has
one reference that plays both parts.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROFILES = ("demo", "seed")

#: the repository root (lib/lowcov/layout.py -> three levels up)
REPO_ROOT = Path(__file__).resolve().parents[2]


def data_root() -> Path:
    return Path(os.environ.get("LOWCOV_DATA", REPO_ROOT / "data"))


@dataclass(frozen=True)
class Layout:
    profile: str = "demo"
    root: Path | None = None

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; choose one of {', '.join(PROFILES)}")
        if self.root is None:
            object.__setattr__(self, "root", data_root() / self.profile)
        object.__setattr__(self, "root", Path(self.root))

    def stage(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- reference and truth ---------------------------------------------------------------
    @property
    def dna_reference(self) -> Path:
        return self.stage("reference") / ("genome.fa" if self.profile == "demo" else "ucsc_hg19.fa")

    @property
    def rna_reference(self) -> Path:
        if self.profile == "demo":
            return self.dna_reference
        return self.stage("reference") / "Homo_sapiens.GRCh38.dna.primary_assembly.fa"

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
        """The chr1 test set, at full coverage or downsampled to ``fraction``."""
        if fraction >= 1.0:
            return self.stage("dna") / "dna.chr1.bam"
        return self.stage("dna") / f"dna.chr1.ds{round(fraction * 100):02d}.bam"

    def rna_bam(self, preset: str = "ccs") -> Path:
        return self.stage("rna") / f"rna.{preset.lower()}.bam"

    @property
    def rna_annotation(self) -> Path:
        """Gene models (BED12) of the simulated transcripts (demo only)."""
        return self.stage("rna") / "transcripts.bed"

    @property
    def test_contig(self) -> str:
        return "chr1"

    @property
    def tune_contig(self) -> str:
        return "chr10" if self.profile == "demo" else "10"

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
        """The autosomes of ``reference`` (default the DNA one) except the test and tune contigs,
        in either naming convention: the case study trains on chr2-chr22 without chr10."""
        from .checks import fasta_contigs

        held_out = {self.test_contig, self.tune_contig}
        held_out |= {c.removeprefix("chr") for c in held_out} | {"chr" + c.removeprefix("chr") for c in held_out}
        autosomes = {str(n) for n in range(1, 23)}
        return [c for c in fasta_contigs(reference or self.dna_reference)
                if c not in held_out and c.removeprefix("chr") in autosomes]
