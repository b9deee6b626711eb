"""call_variants + postprocess_variants: genotype probabilities for every example, then a VCF.

For each candidate the model gives P(hom-ref), P(het), P(hom-alt) of its alt allele. The VCF record
takes the most likely genotype; ``GQ`` = -10 log10(1 - P(GT)), ``QUAL`` = -10 log10 P(0/0), ``PL`` the
phred-scaled genotype probabilities normalised to 0 at the best genotype (all capped at 99 for GQ
and at ``max_qual`` for QUAL). Hom-ref calls are kept with FILTER ``RefCall``, non-ref calls below
``min_qual`` get ``LowQual``, the rest ``PASS``, as DeepVariant's postprocess_variants does.

Multi-allelic sites (several examples with the same POS) are combined: the two alt alleles with the
highest non-ref probability form one record whose genotype probabilities are products of the
per-allele ones: P(0/0) ~ a0*b0, P(0/1) ~ a1*b0, P(1/1) ~ a2*b0, P(0/2) ~ a0*b1, P(1/2) ~ a1*b1,
P(2/2) ~ a0*b2 (normalised). This is simpler than DeepVariant, which draws images for allele pairs.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from itertools import groupby
from pathlib import Path

import numpy as np
import pysam
from tqdm import tqdm

from .checks import fasta_contigs, require_fasta
from .fileio import atomic_output
from .shards import ExampleSet

log = logging.getLogger(__name__)

BIALLELIC_GENOTYPES = ((0, 0), (0, 1), (1, 1))
TRIALLELIC_GENOTYPES = ((0, 0), (0, 1), (1, 1), (0, 2), (1, 2), (2, 2))
#: VCF PL order for three alleles: 0/0, 0/1, 1/1, 0/2, 1/2, 2/2 (the order above)


@dataclass(frozen=True)
class CallConfig:
    #: on 2 CPU cores 128 called ~850 examples/s end to end and 512 ~570: bigger batches only add memory
    #: traffic there (the calls are the same)
    batch_size: int = 128
    device: str | None = None  # None: the GPU when PyTorch sees one, else the CPU
    min_qual: float = 1.0
    max_qual: float = 99.0
    max_gq: int = 99
    sample: str | None = None  # default: the SM of the examples' BAM read group


def _phred_of(p: float, cap: float) -> float:
    return float(min(-10 * np.log10(max(p, 1e-30)), cap))


def predict_examples(examples: ExampleSet, checkpoint: str | os.PathLike, config: CallConfig = CallConfig()):
    """(probabilities [N, 3], metadata dict of arrays) for every example, in example order."""
    import torch

    from .model import load_for_inference, predict

    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    height, width, _ = examples.shape
    model = load_for_inference(checkpoint, height, width, examples.info["channels"], device).model
    probs, meta, labels = [], [], []
    with tqdm(total=len(examples), desc="call_variants", unit=" examples", disable=None) as progress:
        for shard in examples.iter_shards():
            probs.append(predict(model, shard.images, config.batch_size, device))
            meta.append(shard.meta)
            labels.append(shard.labels)
            progress.update(len(shard))
    if not probs:
        return np.zeros((0, 3), np.float32), {}, np.zeros(0, np.int8)
    merged = {k: np.concatenate([m[k] for m in meta]) for k in meta[0]}
    return np.concatenate(probs), merged, np.concatenate(labels)


def _header(reference: Path, sample: str, model: str, config: CallConfig) -> pysam.VariantHeader:
    header = pysam.VariantHeader()
    header.add_line("##source=lowcov.call")
    header.add_line(f"##lowcov_model={model}")
    params = ",".join(f"{k}={v}" for k, v in asdict(config).items())
    header.add_line(f"##lowcov_call_parameters=\"{params}\"")
    header.add_line(f"##reference={reference}")
    for name, length in fasta_contigs(reference).items():
        header.contigs.add(name, length=length)
    header.filters.add("RefCall", None, None, "Genotyping model thinks this site is reference.")
    header.filters.add("LowQual", None, None, f"QUAL below {config.min_qual}.")
    header.formats.add("GT", 1, "String", "Genotype")
    header.formats.add("GQ", 1, "Integer", "Conditional genotype quality")
    header.formats.add("DP", 1, "Integer", "Read depth at the candidate")
    header.formats.add("AD", "R", "Integer", "Read depth for each allele")
    header.formats.add("VAF", "A", "Float", "Variant allele fractions")
    header.formats.add("PL", "G", "Integer", "Phred-scaled genotype likelihoods rounded to the closest integer")
    header.add_sample(sample)
    return header


def _site_records(rows: list[int], probs: np.ndarray, meta: dict) -> dict:
    """One VCF record's fields from the examples of one position."""
    ranked = sorted(rows, key=lambda i: -(1 - probs[i, 0]))[:2]
    refs = [str(meta["ref"][i]) for i in ranked]
    ref = max(refs, key=len)
    # alleles with a shorter REF are extended by the rest of the longest REF
    alts = [str(meta["alt"][i]) + ref[len(r):] for i, r in zip(ranked, refs)]
    depth = int(max(meta["depth"][i] for i in ranked))
    alt_counts = [int(meta["alt_count"][i]) for i in ranked]
    if len(ranked) == 1:
        gp = probs[ranked[0]].astype(np.float64)
        genotypes = BIALLELIC_GENOTYPES
    else:
        a, b = probs[ranked[0]].astype(np.float64), probs[ranked[1]].astype(np.float64)
        gp = np.array([a[0] * b[0], a[1] * b[0], a[2] * b[0], a[0] * b[1], a[1] * b[1], a[0] * b[2]])
        genotypes = TRIALLELIC_GENOTYPES
    gp = gp / gp.sum()
    best = int(np.argmax(gp))
    return {"ref": ref, "alts": alts, "gp": gp, "best": best, "gt": genotypes[best], "depth": depth,
            "alt_counts": alt_counts}


def write_vcf(probs: np.ndarray, meta: dict, reference: str | os.PathLike, out_vcf: str | os.PathLike,
              sample: str, model: str, config: CallConfig = CallConfig()) -> Path:
    """postprocess_variants: a sorted, bgzipped, tabix-indexed VCF 4.2 from per-example probabilities."""
    reference = require_fasta(reference)
    order = sorted(range(len(probs)), key=lambda i: (str(meta["contig"][i]), int(meta["position"][i])))
    contig_order = {name: n for n, name in enumerate(fasta_contigs(reference))}
    order.sort(key=lambda i: (contig_order.get(str(meta["contig"][i]), 1 << 30), int(meta["position"][i])))
    header = _header(reference, sample, model, config)
    out_vcf = Path(out_vcf)
    counts = {"PASS": 0, "RefCall": 0, "LowQual": 0}
    with atomic_output(out_vcf) as tmp:
        plain = Path(str(tmp).removesuffix(".gz"))
        with pysam.VariantFile(str(plain), "w", header=header) as vcf:
            for (contig, pos), group in groupby(order, key=lambda i: (str(meta["contig"][i]), int(meta["position"][i]))):
                site = _site_records(list(group), probs, meta)
                gp = site["gp"]
                qual = _phred_of(gp[0], config.max_qual)
                rec = vcf.new_record(contig=contig, start=pos - 1, alleles=(site["ref"], *site["alts"]), qual=round(qual, 4))
                gt = site["gt"]
                gq = int(round(_phred_of(1 - gp[site["best"]], config.max_gq)))
                pl = -10 * np.log10(np.maximum(gp, 1e-30))
                pl = np.round(pl - pl.min()).astype(int)
                if gt == (0, 0):
                    flt = "RefCall"
                elif qual < config.min_qual:
                    flt = "LowQual"
                else:
                    flt = "PASS"
                counts[flt] += 1
                rec.filter.add(flt)
                call = rec.samples[sample]
                call["GT"] = gt
                call["GQ"] = gq
                call["DP"] = site["depth"]
                call["AD"] = (max(site["depth"] - sum(site["alt_counts"]), 0), *site["alt_counts"])
                call["VAF"] = tuple(round(c / site["depth"], 4) if site["depth"] else 0.0 for c in site["alt_counts"])
                call["PL"] = tuple(int(x) for x in pl)
                vcf.write(rec)
        pysam.tabix_compress(str(plain), str(tmp), force=True)
        plain.unlink()
        pysam.tabix_index(str(tmp), preset="vcf", force=True)
    log.info("wrote %s: %s", out_vcf, counts)
    return out_vcf


def sample_of_examples(examples: ExampleSet) -> str:
    bam = examples.info.get("bam")
    if bam and Path(bam).exists():
        with pysam.AlignmentFile(bam) as handle:
            groups = handle.header.to_dict().get("RG", [])
            if groups and groups[0].get("SM"):
                return groups[0]["SM"]
    return "SAMPLE"


def _cached_predictions(examples: ExampleSet, checkpoint: str | os.PathLike, config: CallConfig,
                        cache_dir: Path) -> tuple[np.ndarray, dict, bool]:
    """:func:`predict_examples`, kept in ``cache_dir`` under the digest of the weights and of the examples, so
    that checkpoints holding the same weights (a fine-tuning run that selected its starting model) are
    predicted once. Returns (probabilities, metadata, whether they came from the cache)."""
    import torch

    from .fileio import sha256sum
    from .model import weights_digest

    # the device too: a GPU's arithmetic can differ from the CPU's in the last bits
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    key = (f"{weights_digest(checkpoint)[:24]}.{sha256sum(examples.directory / 'example_info.json')[:24]}"
           f".{device.replace(':', '')}.npz")
    path = cache_dir / key
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            return stored["probs"], {k.removeprefix("meta_"): stored[k] for k in stored.files if k != "probs"}, True
    probs, meta, _ = predict_examples(examples, checkpoint, config)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, probs=probs, **{f"meta_{k}": v for k, v in meta.items()})
    return probs, meta, False


def call_variants(examples_dir: str | os.PathLike, checkpoint: str | os.PathLike, reference: str | os.PathLike,
                  out_vcf: str | os.PathLike, config: CallConfig = CallConfig(),
                  cache_dir: str | os.PathLike | None = None) -> dict:
    """Predict every example with ``checkpoint`` and write ``out_vcf``; returns timing figures.

    ``cache_dir``: reuse the predictions of identical weights on the same examples (see
    :func:`_cached_predictions`); the VCF still names ``checkpoint``.
    """
    examples = ExampleSet.open(examples_dir)
    started = time.perf_counter()
    if cache_dir is None:
        probs, meta, _ = predict_examples(examples, checkpoint, config)
        reused = False
    else:
        probs, meta, reused = _cached_predictions(examples, checkpoint, config, Path(cache_dir))
    predicted = time.perf_counter()
    sample = config.sample or sample_of_examples(examples)
    write_vcf(probs, meta, reference, out_vcf, sample, str(checkpoint), config)
    done = time.perf_counter()
    return {"examples": len(probs), "predictions_reused": reused, "call_seconds": round(predicted - started, 2),
            "postprocess_seconds": round(done - predicted, 2),
            "examples_per_second": None if reused else round(len(probs) / max(predicted - started, 1e-9), 1)}
