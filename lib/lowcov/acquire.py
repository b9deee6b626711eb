"""Chapter 1's stage: a profile's input files, made, downloaded or linked, then prepared.

By the profile's ``source`` (:mod:`lowcov.profile`):

* ``simulated`` (``demo``): :mod:`lowcov.demo` simulates the data and preprocesses it;
* ``case-study`` (``seed``): :mod:`lowcov.seed` downloads the case study's files (:mod:`lowcov.download`)
  and prepares them the same way;
* ``files`` (a user's YAML): :mod:`lowcov.own_data` fetches URLs and links the user's files in place.

Reads nothing but the profile (and the internet for URLs); writes every file
:class:`~lowcov.layout.Layout` names for chapters 2-7 under ``data/<profile>/``. A re-run skips what is done.

    python -m lowcov.acquire --profile demo [--force]
    python -m lowcov.acquire --profile path/to/study.yaml
    python -m lowcov.acquire --profile seed [--download-only] [--only KEY ...] [--steps rna dna truth]
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from . import InputError
from .demo import DemoDataConfig, prepare_demo
from .download import DownloadConfig
from .layout import REPO_ROOT, Layout
from .own_data import prepare_own_data
from .profile import Profile, shipped_profiles
from .seed import PREPARE_STEPS, SEED_MANIFEST, PrepareConfig, acquire_seed, prepare_seed

log = logging.getLogger(__name__)


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


def seed_outputs(layout: Layout) -> dict[str, Path]:
    """The prepared files of the ``seed`` profile, by role."""
    return {"reference_dna": layout.dna_reference, "reference_rna": layout.rna_reference,
            "truth_vcf": layout.truth_vcf, "confident_bed": layout.confident_bed,
            "dna_test_bam": layout.dna_test_bam(1.0),
            "dna_test_bam_low": layout.dna_test_bam(layout.downsample_fraction),
            **{f"rna_bam_{p}": layout.rna_bam(p) for p in ("ccs", "isoseq")}}


def prepare_profile(profile: "str | os.PathLike | Profile | Layout" = "demo", force: bool = False,
                    **options) -> dict[str, Path]:
    """Every input file of ``profile`` (a name, a YAML path, a :class:`Profile` or its :class:`Layout`),
    made, downloaded or linked, and prepared; returns role -> path.

    ``options`` are the fields of :class:`~lowcov.demo.DemoDataConfig` (simulated),
    :class:`~lowcov.seed.PrepareConfig` (case-study) or ``threads`` (files).
    """
    layout = profile if isinstance(profile, Layout) else Layout(profile)
    spec = layout.spec
    if spec.source == "simulated":
        return prepare_demo(layout, DemoDataConfig(**options), force=force)
    if spec.source == "files":
        return prepare_own_data(layout, force=force, **options)
    manifest = seed_manifest_of(layout)
    acquire_seed(layout, manifest=manifest)
    prepare_seed(layout, seed_prepare_config(layout, force=force, **options), manifest=manifest)
    return seed_outputs(layout)


def seed_manifest_of(layout: Layout) -> Path:
    """The download manifest a ``case-study`` profile names (relative paths: to the repository)."""
    path = Path(layout.spec.manifest)
    return path if path.is_absolute() else REPO_ROOT / path


def seed_prepare_config(layout: Layout, **options) -> PrepareConfig:
    """:class:`PrepareConfig` with the profile's test contig and downsampling."""
    spec = layout.spec
    return PrepareConfig(test_contig=spec.contigs.test, downsample_fraction=spec.downsample.fraction,
                         downsample_seed=spec.downsample.seed, **options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lowcov.acquire", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo", metavar="NAME|YAML",
                        help=f"a shipped profile ({', '.join(shipped_profiles())}) or a profile's YAML file")
    parser.add_argument("--force", action="store_true", help="redo every step even if its manifest is current")
    parser.add_argument("--threads", type=int, default=2)
    seed = parser.add_argument_group("case-study profiles (seed)")
    seed.add_argument("--download-only", action="store_true", help="download and verify, do not prepare")
    seed.add_argument("--only", nargs="+", metavar="KEY", help="download only these manifest keys")
    seed.add_argument("--manifest", type=Path, default=None, help=f"default: the profile's (seed: {SEED_MANIFEST})")
    seed.add_argument("--steps", nargs="+", choices=PREPARE_STEPS, default=list(PREPARE_STEPS),
                      help="what preparation does (default: all)")
    seed.add_argument("--timeout", type=float, default=DownloadConfig.timeout)
    seed.add_argument("--retries", type=int, default=DownloadConfig.retries)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        layout = Layout(args.profile)
        if layout.spec.source != "case-study":
            files = prepare_profile(layout, force=args.force, threads=args.threads)
        else:
            manifest = args.manifest or seed_manifest_of(layout)
            files = acquire_seed(layout, only=args.only, manifest=manifest,
                                 config=DownloadConfig(timeout=args.timeout, retries=args.retries))
            if not args.download_only:
                prepare_seed(layout, seed_prepare_config(layout, threads=args.threads, steps=tuple(args.steps),
                                                         force=args.force), manifest=manifest)
                files = seed_outputs(layout)
    except InputError as exc:
        log.error("%s", exc)
        return 1
    for role, path in files.items():
        print(f"{role}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
