"""Chapter 8's parity check: lowcov's make_examples against DeepVariant's, on a sample of the same sites.

Once the ``deepvariant`` engine has made the validation examples (chapter 5), :func:`deepvariant_tune_parity`
copies the first ``n`` examples of the shuffled validation set (a seeded random sample of it) into a small
file, has lowcov's make_examples draw the same BAM over the same sites -- the partitions of
``partition_size`` bases that hold them, aligned as make_examples partitions a contig from its start, so
that reads are gathered over the same windows -- with the same truth, confident regions, channels, image
size and indel drawing as DeepVariant's (:func:`parity_config`), and compares the two pixel by pixel
(:func:`lowcov.parity.compare_examples`). The native examples of the sample are not bit-for-bit those of a
whole-contig run when a partition holds more reads than ``max_reads_per_partition``: which reads are kept
is drawn per region.

Writes ``examples/parity/`` (the sample in DeepVariant's format and the native examples beside it).
"""
from __future__ import annotations

import itertools
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..dvexamples import (ExampleInfo, Variant, example_info_path, find_example_info, read_dataset_config,
                          read_example_info, read_examples, write_example_info, write_examples)
from ..fileio import atomic_output
from ..layout import Layout
from ..make_examples import ExamplesConfig, make_examples

if TYPE_CHECKING:
    from ..parity import ParityReport

log = logging.getLogger(__name__)

#: how many of DeepVariant's validation examples chapter 8 compares
SAMPLE_SIZE = 200


def parity_config(info: ExampleInfo, config: ExamplesConfig = ExamplesConfig()) -> ExamplesConfig:
    """``config`` drawing DeepVariant's examples as ``info`` describes them: its channels and image size,
    and indels drawn as DeepVariant draws them (lowcov's default drawing differs, :mod:`lowcov.pileup`)."""
    height, width, _ = info.shape
    pileup = replace(config.pileup, height=height, width=width, channels=tuple(info.channel_names),
                     indel_drawing="deepvariant")
    return replace(config, mode="training", pileup=pileup)


def sample_examples(spec: str | os.PathLike, out: str | os.PathLike, n: int = SAMPLE_SIZE,
                    force: bool = False) -> list[Variant]:
    """Copy the first ``n`` examples of DeepVariant's ``spec`` into the file ``out`` (with
    ``example_info.json`` beside it, as make_examples names it) and return their candidates; copied again
    only when ``spec``'s files or ``n`` changed."""
    from ..dvexamples import expand_spec
    from ..manifest import run_stage

    out = Path(out)
    info = find_example_info(spec)
    if info is None:
        raise FileNotFoundError(f"{spec}: no example_info.json beside the examples; make_examples writes it")

    def copy() -> None:
        write_example_info(example_info_path(out), read_example_info(info))
        with atomic_output(out) as tmp:
            write_examples(tmp, itertools.islice(read_examples(spec), n))

    out.parent.mkdir(parents=True, exist_ok=True)
    run_stage(out.parent, "deepvariant_sample", [*expand_spec(spec), info], {"n": n, "spec": str(spec)},
              [out, example_info_path(out)], copy, force=force)
    return [example.variant for example in read_examples(out)]


def partition_regions(variants: list[Variant], partition_size: int) -> list[str]:
    """The make_examples regions (``contig:first-last``, 1-based) of the partitions holding ``variants``'
    start positions, adjacent partitions merged."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for variant in variants:
        first = variant.start // partition_size * partition_size
        spans.setdefault(variant.reference_name, []).append((first, first + partition_size))
    regions = []
    for contig, windows in spans.items():
        merged: list[list[int]] = []
        for start, end in sorted(set(windows)):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        regions += [f"{contig}:{start + 1}-{end}" for start, end in merged]
    return regions


def example_parity(deepvariant_spec: str | os.PathLike, reads: str | os.PathLike, reference: str | os.PathLike,
                   truth_vcf: str | os.PathLike, confident_bed: str | os.PathLike, out_dir: str | os.PathLike,
                   n: int = SAMPLE_SIZE, config: ExamplesConfig = ExamplesConfig(),
                   force: bool = False) -> "ParityReport":
    """The first ``n`` of DeepVariant's examples ``deepvariant_spec`` (made from ``reads`` with ``truth_vcf``
    and ``confident_bed``) against lowcov's examples for the same sites (module docstring), in ``out_dir``."""
    from ..parity import compare_examples

    out_dir = Path(out_dir)
    sample = out_dir / "deepvariant_sample.tfrecord.gz"
    variants = sample_examples(deepvariant_spec, sample, n, force)
    native_config = parity_config(read_example_info(example_info_path(sample)), config)
    regions = partition_regions(variants, native_config.partition_size)
    log.info("parity: %d DeepVariant examples in %d regions of %s", len(variants), len(regions), reads)
    native = make_examples(reads, reference, out_dir / "native", regions, native_config, truth_vcf=truth_vcf,
                           confident_bed=confident_bed, force=force)
    return compare_examples(sample, native.directory)


def deepvariant_tune_parity(layout: Layout, preset: str = "ccs", n: int = SAMPLE_SIZE, threads: int = 2,
                            force: bool = False) -> "ParityReport | None":
    """:func:`example_parity` on the validation set the ``deepvariant`` engine made in chapter 5, with the
    RNA reads, pseudo-truth and confident regions it was made from; None when there is none (the demo,
    or chapter 5 not run on the engine)."""
    from .deepvariant import VALIDATION_SET, dataset_config, training_inputs
    from .pseudo_truth import RnaTruth

    pbtxt = dataset_config(layout, VALIDATION_SET)
    if not pbtxt.exists():
        return None
    inputs = training_inputs(layout, RnaTruth.existing(layout, preset), preset)
    return example_parity(read_dataset_config(pbtxt).tfrecord_path, inputs["reads"], inputs["reference"],
                          inputs["truth_vcf"], inputs["confident_regions"], layout.stage("examples") / "parity", n,
                          ExamplesConfig(threads=threads), force)
