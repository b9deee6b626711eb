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
