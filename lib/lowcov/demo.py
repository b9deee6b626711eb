"""The ``demo`` profile's data: simulate the mini-genome, its truth and reads, then preprocess them.

The demo's stand-in for the case study's "Getting the training/test data": :mod:`lowcov.simulate` writes
the reference, truth, confident regions and reads; the DNA is aligned with minimap2's ``sr`` preset and
the RNA twice (``ccs`` like ``pbmm2 --preset CCS``, and splice-aware ``isoseq``); the chr1 test set is
extracted and downsampled by 50 %. Every step is a stage with a manifest, skipped when current.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from .align import AlignConfig, align_reads
from .layout import Layout
from .manifest import run_stage
from .test_set import prepare_test_set

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoDataConfig:
    """Parameters of the demo's preprocessing (simulation parameters live in ``simulate.DemoConfig``; the
    test contig and its downsampling in the profile)."""

    threads: int = 2
    rna_presets: tuple[str, ...] = ("ccs", "isoseq")
    #: the read groups' sample name; None = the profile's ``sample``
    sample: str | None = None
    #: a simulate.DemoConfig; None = the profile's (``simulation:`` in its YAML)
    simulation: object = field(default=None)


def demo_outputs(layout: Layout) -> dict[str, Path]:
    """Where :func:`lowcov.simulate.simulate_demo` writes each file."""
    return {
        "reference": layout.dna_reference,
        "truth_vcf": layout.truth_vcf,
        "confident_bed": layout.confident_bed,
        "hard_regions_bed": layout.stage("truth") / "hard_regions.bed",
        "dna_reads_1": layout.stage("dna") / "reads_1.fq.gz",
        "dna_reads_2": layout.stage("dna") / "reads_2.fq.gz",
        "rna_reads": layout.stage("rna") / "rna.fq.gz",
        "rna_annotation": layout.rna_annotation,
        "editing_sites": layout.stage("rna") / "editing_sites.vcf.gz",
    }


def prepare_demo(layout: Layout, config: DemoDataConfig = DemoDataConfig(), force: bool = False) -> dict[str, Path]:
    from . import simulate

    sim_config = config.simulation or layout.spec.simulation_config()
    stage_dir = layout.stage("manifests")
    sim_outputs = demo_outputs(layout)
    run_stage(stage_dir, "simulate", inputs=[], params=sim_config, outputs=list(sim_outputs.values()),
              force=force, work=lambda: {"files": {k: str(v) for k, v in simulate.simulate_demo(layout, sim_config).items()}})

    reference = layout.dna_reference
    dna_reads = [sim_outputs["dna_reads_1"], sim_outputs["dna_reads_2"]]
    dna_align = AlignConfig(preset="sr", threads=config.threads, sample=config.sample or layout.spec.sample, read_group="dna",
                            platform="BGISEQ")
    run_stage(stage_dir, "align_dna", inputs=[reference, *dna_reads], params=dna_align, outputs=[layout.dna_bam],
              force=force, work=lambda: align_reads(dna_reads, reference, layout.dna_bam, dna_align) and None)

    outputs = dict(sim_outputs, dna_bam=layout.dna_bam,
                   **prepare_test_set(layout, layout.dna_bam, threads=config.threads, force=force))
    rna_reads = [sim_outputs["rna_reads"]]
    for preset in config.rna_presets:
        rna_align = AlignConfig(preset=preset, threads=config.threads, sample=config.sample or layout.spec.sample,
                                read_group=f"rna_{preset}", platform="PACBIO")
        out = layout.rna_bam(preset)
        run_stage(stage_dir, f"align_rna_{preset}", inputs=[reference, *rna_reads], params=rna_align,
                  outputs=[out], force=force,
                  work=lambda out=out, rna_align=rna_align: align_reads(rna_reads, reference, out, rna_align) and None)
        outputs[f"rna_bam_{preset}"] = out
    return outputs


# -- a fake seed: the simulator's data laid out as the case study's, for rehearsing the deepvariant engine --

#: hg19-like DNA names; the RNA build names them as Ensembl GRCh38 does (``chr1`` -> ``1``)
FAKE_SEED_CONTIGS = {"chr1": 100_000, **{f"chr{n}": 25_000 for n in range(2, 11)}}


def _rna_name(dna_name: str) -> str:
    return dna_name.removeprefix("chr")


def write_fake_seed(folder: str | Path, seed: int = 11, threads: int = 2, name: str = "fake-seed",
                    parameters: dict | None = None) -> Path:
    """A tiny simulated data set laid out like the ``seed`` profile, and its profile (a ``files`` profile,
    ``<folder>/<name>.yaml``, engine ``deepvariant``): DNA reads, truth and confident regions on a build with
    hg19's names (chr1 ... chr10), RNA reads aligned to a second build with Ensembl GRCh38's names (1 ... 10).

    The RNA build is a renamed copy of the simulated reference (same sequences, other names) and the RNA
    reads are aligned to it, so, as in the case study, the RNA BAM matches the DNA build in nothing but
    sequence. A re-run reuses what is done. ``parameters``: the notebook parameters the profile sets.
    """
    import yaml

    from .contigs import rename_fasta
    from .profile import Builds, Contigs, Profile, Simulation

    folder = Path(folder)
    simulated = Profile(name=f"{name}-simulation", source="simulated", builds=Builds("hg19-like", "hg19-like"),
                        contigs=Contigs("chr1", "chr10"), sample="HG001-fake",
                        simulation=Simulation(seed=seed, size="tiny", contigs=dict(FAKE_SEED_CONTIGS)))
    layout = Layout(simulated, root=folder / "simulated")
    files = prepare_demo(layout, DemoDataConfig(threads=threads, rna_presets=()))

    rna_reference = folder / "rna_build" / "grch38_like.fa"
    stage_dir = layout.stage("manifests")
    renames = {contig: _rna_name(contig) for contig in FAKE_SEED_CONTIGS}
    run_stage(stage_dir, "rna_build_reference", [layout.dna_reference], {"rename": renames},
              [rna_reference, Path(f"{rna_reference}.fai")],
              lambda: rename_fasta(layout.dna_reference, rna_reference, renames, progress=False) and None)
    rna_bam = folder / "rna_build" / "rna.ccs.bam"
    rna_align = AlignConfig(preset="ccs", threads=threads, sample=simulated.sample, read_group="rna_ccs",
                            platform="PACBIO")
    run_stage(stage_dir, "align_rna_rna_build", [rna_reference, files["rna_reads"]], rna_align, [rna_bam],
              lambda: align_reads([files["rna_reads"]], rna_reference, rna_bam, rna_align) and None)

    document = {
        "name": name,
        "description": ("A tiny simulated stand-in for the seed profile (rehearsal only): DNA on hg19-like names, "
                        "RNA aligned to a renamed copy with GRCh38-like names."),
        "source": "files", "engine": "deepvariant", "sample": simulated.sample,
        "builds": {"dna": "hg19-like", "rna": "GRCh38-like"},
        "contigs": {"test": "chr1", "tune": "chr10"},
        "rna_contigs": {"test": _rna_name("chr1"), "tune": _rna_name("chr10")},
        "downsample": {"fraction": 0.5, "seed": 0},
        "inputs": {role: {"path": str(path)} for role, path in (
            ("dna_reference", layout.dna_reference), ("rna_reference", rna_reference), ("dna_bam", layout.dna_bam),
            ("truth_vcf", layout.truth_vcf), ("confident_bed", layout.confident_bed), ("rna_bam", rna_bam))},
        "parameters": dict(parameters or {}),
    }
    profile_path = folder / f"{name}.yaml"
    profile_path.write_text(yaml.safe_dump(document, sort_keys=False))
    return profile_path
