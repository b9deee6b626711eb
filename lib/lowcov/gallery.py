"""Which examples to draw: a few pileups a reader should see, picked from an example set by their labels.

Reads an example set (and for RNA the real truth VCF); returns ``title -> (image, metadata)``, drawn by
:func:`lowcov.plots.pileup_channels`.
"""
from __future__ import annotations

import os

import numpy as np
import pysam

from .shards import ExampleSet


def example_gallery(examples: ExampleSet, limit: int = 4000) -> dict[str, tuple]:
    """A labelled het SNP, a hom-alt indel and a false candidate (truth class 0) from an example set:
    title -> (image, metadata dict)."""
    data = examples.load(limit=limit)
    is_indel = [len(r) != len(a) for r, a in zip(data.meta["ref"], data.meta["alt"])]
    single = ["," not in str(a) for a in data.meta["alt"]]  # allele-pair images are not shown
    wanted = {
        "het SNP": lambda i: single[i] and data.labels[i] == 1 and not is_indel[i],
        "hom-alt indel": lambda i: single[i] and data.labels[i] == 2 and is_indel[i],
        "false candidate": lambda i: single[i] and data.labels[i] == 0 and data.meta["alt_count"][i] >= 3,
    }
    gallery = {}
    for title, accept in wanted.items():
        index = next((i for i in range(len(data)) if accept(i)), None)
        if index is not None:
            meta = {k: (v[index].item() if hasattr(v[index], "item") else v[index]) for k, v in data.meta.items()}
            gallery[title] = (data.images[index], meta)
    return gallery


def rna_example_gallery(examples: ExampleSet, truth_vcf: str | os.PathLike, min_gap: int = 30,
                        limit: int = 5000) -> dict[str, tuple]:
    """Two RNA pileups: a read with an intron-sized gap at a candidate (a splice junction: uncovered
    pixels in a splice-aware alignment, a long deletion in an unspliced one) and a site the real truth
    calls het whose RNA reads show mostly one allele (allele-specific expression). title -> (image, meta)."""
    data = examples.load(limit=limit)
    het_snps = set()
    with pysam.VariantFile(str(truth_vcf)) as vcf:
        for record in vcf:
            genotype = record.samples[0].get("GT") or ()
            if len(set(genotype)) == 2 and all(len(a) == 1 for a in record.alleles):
                het_snps |= {(record.contig, record.pos, alt) for alt in record.alts}
    ref_rows = 5

    def longest_gap(image) -> int:
        base = image[ref_rows:, :, 0] > 0
        best = 0
        for row in base[base.any(axis=1)]:
            covered = np.flatnonzero(row)
            if len(covered) > 1:
                best = max(best, int(np.diff(covered).max()) - 1)
        return best

    def meta_of(i):
        return {k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in data.meta.items()}

    gallery = {}
    gaps = [longest_gap(data.images[i]) for i in range(len(data))]
    spliced = int(np.argmax(gaps)) if gaps else None
    if spliced is not None and gaps[spliced] >= min_gap:
        gallery[f"spliced reads (a {gaps[spliced]}-column gap in a read)"] = (data.images[spliced], meta_of(spliced))
    vaf = data.meta["alt_count"] / np.maximum(data.meta["depth"], 1)
    skewed = [i for i in range(len(data))
              if (str(data.meta["contig"][i]), int(data.meta["position"][i]), str(data.meta["alt"][i])) in het_snps
              and data.meta["depth"][i] >= 8 and abs(vaf[i] - 0.5) >= 0.3]
    if skewed:
        i = max(skewed, key=lambda j: (abs(vaf[j] - 0.5), int(data.meta["depth"][j])))
        label = {0: "hom-ref", 1: "het", 2: "hom-alt"}.get(int(data.labels[i]), "unlabelled")
        gallery[f"allele-specific expression (truth het, RNA VAF {vaf[i]:.2f}, pseudo-truth label {label})"] = (
            data.images[i], meta_of(i))
    return gallery
