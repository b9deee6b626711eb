"""The test set: the test contig's reads split out of all DNA reads, then downsampled.

The case study's "splitting out chromosome 1" and ``samtools view -s 0.5``, as two stages with manifests
(skipped when current): ``extract_test_contig`` writes ``layout.dna_test_bam(1.0)`` and ``downsample``
writes ``layout.dna_test_bam(fraction)``. Simulated and user-supplied profiles share them; the ``seed``
profile's preparation (:mod:`lowcov.seed`) does the same from the case study's chr1 download.
"""
from __future__ import annotations

from pathlib import Path

from .downsample import downsample_bam, extract_contig
from .layout import Layout
from .manifest import run_stage


def prepare_test_set(layout: Layout, dna_bam: Path, threads: int = 2, force: bool = False) -> dict[str, Path]:
    """The test contig of ``dna_bam`` at full coverage and at the profile's downsampling fraction."""
    stage_dir = layout.stage("manifests")
    test_bam = layout.dna_test_bam(1.0)
    run_stage(stage_dir, "extract_test_contig", inputs=[dna_bam], params={"contig": layout.test_contig},
              outputs=[test_bam], force=force,
              work=lambda: extract_contig(dna_bam, test_bam, layout.test_contig, threads=threads) and None)
    fraction, seed = layout.downsample_fraction, layout.spec.downsample.seed
    low_bam = layout.dna_test_bam(fraction)
    run_stage(stage_dir, "downsample", inputs=[test_bam], params={"fraction": fraction, "seed": seed},
              outputs=[low_bam], force=force,
              work=lambda: downsample_bam(test_bam, low_bam, fraction, seed=seed) and None)
    return {"dna_test_bam": test_bam, "dna_test_bam_low": low_bam}
