"""Make a profile's input files: the case study's "Getting the training/test data" and preprocessing.

* ``demo``: simulate the mini-genome, its truth and reads (:mod:`lowcov.simulate`), align the DNA with
  minimap2's ``sr`` preset and the RNA twice (``ccs`` like ``pbmm2 --preset CCS``, and splice-aware
  ``isoseq``), extract the chr1 test set and downsample it by 50 %.
* ``seed``: download the case study's files and preprocess them the same way (:mod:`lowcov.acquire`).

Every step is a stage with a manifest: a re-run skips steps whose inputs and parameters are unchanged.

    python -m lowcov.data --profile demo [--force]
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .align import AlignConfig, align_reads
from .layout import PROFILES, Layout
from .manifest import run_stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoDataConfig:
    """Parameters of the demo's preprocessing (simulation parameters live in ``simulate.DemoConfig``)."""

    threads: int = 2
    downsample_fraction: float = 0.5
    #: 0, as the case study's `samtools view -s 0.5`
    downsample_seed: int = 0
    rna_presets: tuple[str, ...] = ("ccs", "isoseq")
    sample: str = "HG001-demo"
    simulation: object = field(default=None)  # a simulate.DemoConfig; None = its defaults


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
    from .contigs import extract_contig
    from .downsample import downsample_bam

    sim_config = config.simulation or simulate.DemoConfig()
    stage_dir = layout.stage("manifests")
    sim_outputs = demo_outputs(layout)
    run_stage(stage_dir, "simulate", inputs=[], params=sim_config, outputs=list(sim_outputs.values()),
              force=force, work=lambda: {"files": {k: str(v) for k, v in simulate.simulate_demo(layout, sim_config).items()}})

    reference = layout.dna_reference
    dna_reads = [sim_outputs["dna_reads_1"], sim_outputs["dna_reads_2"]]
    dna_align = AlignConfig(preset="sr", threads=config.threads, sample=config.sample, read_group="dna",
                            platform="BGISEQ")
    run_stage(stage_dir, "align_dna", inputs=[reference, *dna_reads], params=dna_align, outputs=[layout.dna_bam],
              force=force, work=lambda: align_reads(dna_reads, reference, layout.dna_bam, dna_align) and None)

    test_bam = layout.dna_test_bam(1.0)
    run_stage(stage_dir, "extract_test_contig", inputs=[layout.dna_bam], params={"contig": layout.test_contig},
              outputs=[test_bam], force=force,
              work=lambda: extract_contig(layout.dna_bam, test_bam, layout.test_contig, threads=config.threads) and None)

    low_bam = layout.dna_test_bam(config.downsample_fraction)
    run_stage(stage_dir, "downsample", inputs=[test_bam],
              params={"fraction": config.downsample_fraction, "seed": config.downsample_seed},
              outputs=[low_bam], force=force,
              work=lambda: downsample_bam(test_bam, low_bam, config.downsample_fraction,
                                          seed=config.downsample_seed) and None)

    outputs = dict(sim_outputs, dna_bam=layout.dna_bam, dna_test_bam=test_bam, dna_test_bam_low=low_bam)
    rna_reads = [sim_outputs["rna_reads"]]
    for preset in config.rna_presets:
        rna_align = AlignConfig(preset=preset, threads=config.threads, sample=config.sample,
                                read_group=f"rna_{preset}", platform="PACBIO")
        out = layout.rna_bam(preset)
        run_stage(stage_dir, f"align_rna_{preset}", inputs=[reference, *rna_reads], params=rna_align,
                  outputs=[out], force=force,
                  work=lambda out=out, rna_align=rna_align: align_reads(rna_reads, reference, out, rna_align) and None)
        outputs[f"rna_bam_{preset}"] = out
    return outputs


def describe_file(path: Path) -> dict:
    """Format, size and content counts of one input file, for the acquisition chapter's table."""
    import pysam

    name = path.name
    row = {"file": name, "size (MB)": round(path.stat().st_size / 1e6, 2), "format": "", "contents": ""}
    if name.endswith(".bam"):
        stats = [line.split("\t") for line in pysam.idxstats(str(path)).splitlines() if line]
        mapped = sum(int(f[2]) for f in stats)
        unmapped = sum(int(f[3]) for f in stats)
        row.update(format="BAM", contents=f"{mapped:,} mapped + {unmapped:,} unmapped records")
    elif name.endswith((".vcf.gz", ".vcf")):
        with pysam.VariantFile(str(path)) as vcf:
            n = sum(1 for _ in vcf)
        row.update(format="VCF (bgzip+tabix)" if name.endswith(".gz") else "VCF", contents=f"{n:,} records")
    elif name.endswith(".bed"):
        intervals = bases = 0
        with open(path) as handle:
            for line in handle:
                fields = line.split("\t")
                if len(fields) >= 3 and not line.startswith(("#", "track")):
                    intervals += 1
                    bases += int(fields[2]) - int(fields[1])
        row.update(format="BED", contents=f"{intervals:,} intervals, {bases:,} bp")
    elif name.endswith((".fa", ".fasta", ".fa.gz")):
        with pysam.FastaFile(str(path)) as fasta:
            row.update(format="FASTA (+fai)", contents=f"{fasta.nreferences} contigs, {sum(fasta.lengths):,} bp")
    elif name.endswith((".fq.gz", ".fastq.gz", ".fq", ".fastq")):
        row.update(format="FASTQ (gzip)" if name.endswith(".gz") else "FASTQ", contents="unaligned reads")
    return row


def inventory(files: dict[str, Path]):
    """One row per file: its role in the pipeline, format, size and contents."""
    import pandas as pd

    rows = [{"role": role, **describe_file(Path(path))} for role, path in files.items() if Path(path).exists()]
    return pd.DataFrame(rows).set_index("role")


def prepare_profile(profile: str = "demo", force: bool = False, **options) -> dict[str, Path]:
    layout = Layout(profile)
    if profile == "demo":
        return prepare_demo(layout, DemoDataConfig(**options), force=force)
    from .acquire import PrepareConfig, prepare_seed

    prepare_seed(layout, PrepareConfig(force=force, **options))
    return {"reference_dna": layout.dna_reference, "reference_rna": layout.rna_reference,
            "truth_vcf": layout.truth_vcf, "confident_bed": layout.confident_bed,
            "dna_test_bam": layout.dna_test_bam(1.0), "dna_test_bam_low": layout.dna_test_bam(0.5),
            **{f"rna_bam_{p}": layout.rna_bam(p) for p in ("ccs", "isoseq")}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lowcov.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo", choices=PROFILES)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for name, path in prepare_profile(args.profile, force=args.force).items():
        print(f"{name}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
