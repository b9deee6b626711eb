"""postprocess_variants: per-example genotype probabilities to a VCF.

For each candidate the model gives P(hom-ref), P(het), P(hom-alt) of its alt allele. The VCF record
takes the most likely genotype; ``GQ`` = -10 log10(1 - P(GT)), ``QUAL`` = -10 log10 P(0/0), ``PL`` the
phred-scaled genotype probabilities normalised to 0 at the best genotype (all capped at 99 for GQ
and at ``max_qual`` for QUAL). Hom-ref calls are kept with FILTER ``RefCall``, non-ref calls below
``min_qual`` get ``LowQual``, the rest ``PASS``, as DeepVariant's postprocess_variants does.

Multi-allelic sites (several examples with the same POS) are combined as DeepVariant's
``merge_predictions`` does without its multi-allelic model: alt alleles whose own image gives QUAL below
``MULTI_ALLELIC_QUAL_FILTER`` (DeepVariant's ``--multi_allelic_qual_filter`` default, 1) are pruned (the
best one always stays); of the rest the two with the highest non-ref probability form one record (lowcov
writes at most two alts). With a ∈ the first allele's image (hom-ref, het, hom-alt), b the second's and
c their pair image's (reads carrying either allele marked), each genotype takes the smallest probability
any image gives it: P(0/0) = min(a0, b0, c0), P(0/1) = min(a1, c1), P(1/1) = min(a2, c2),
P(0/2) = min(b1, c1), P(1/2) = c2, P(2/2) = min(b2, c2), normalised. Example sets without pair images
(made with ``allele_pairs=False``) use products instead: P(0/0) ~ a0*b0, P(0/1) ~ a1*b0, P(1/1) ~ a2*b0,
P(0/2) ~ a0*b1, P(1/2) ~ a1*b1, P(2/2) ~ a0*b2.
Reads probabilities and example metadata (from :mod:`lowcov.call_variants`) and the reference; writes a
bgzipped, tabix-indexed VCF 4.2.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pysam

from .checks import fasta_contigs, require_fasta
from .fileio import atomic_output

if TYPE_CHECKING:
    from .call_variants import CallConfig

log = logging.getLogger(__name__)

BIALLELIC_GENOTYPES = ((0, 0), (0, 1), (1, 1))
TRIALLELIC_GENOTYPES = ((0, 0), (0, 1), (1, 1), (0, 2), (1, 2), (2, 2))
#: VCF PL order for three alleles: 0/0, 0/1, 1/1, 0/2, 1/2, 2/2 (the order above)


def _phred_of(p: float, cap: float) -> float:
    return float(min(-10 * np.log10(max(p, 1e-30)), cap))


def _header(reference: Path, sample: str, model: str, config: "CallConfig") -> pysam.VariantHeader:
    header = pysam.VariantHeader()
    header.add_line("##source=lowcov.postprocess_variants")
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


#: DeepVariant's --multi_allelic_qual_filter default
MULTI_ALLELIC_QUAL_FILTER = 1.0


def _site_records(rows: list[int], probs: np.ndarray, meta: dict) -> dict:
    """One VCF record's fields from the examples of one position (single alleles and allele pairs)."""
    singles = [i for i in rows if "," not in str(meta["alt"][i])]
    pairs = [i for i in rows if "," in str(meta["alt"][i])]
    ranked = sorted(singles, key=lambda i: -(1 - probs[i, 0]))
    kept = [i for i in ranked if _phred_of(probs[i, 0], np.inf) >= MULTI_ALLELIC_QUAL_FILTER] or ranked[:1]
    ranked = kept[:2]
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
        pair = _pair_of(pairs, set(alts), ref, meta)
        if pair is None:
            gp = np.array([a[0] * b[0], a[1] * b[0], a[2] * b[0], a[0] * b[1], a[1] * b[1], a[0] * b[2]])
        else:
            c = probs[pair].astype(np.float64)
            gp = np.array([min(a[0], b[0], c[0]), min(a[1], c[1]), min(a[2], c[2]), min(b[1], c[1]), c[2],
                           min(b[2], c[2])])
        genotypes = TRIALLELIC_GENOTYPES
    gp = gp / gp.sum() if gp.sum() > 0 else np.full(len(gp), 1 / len(gp))
    best = int(np.argmax(gp))
    return {"ref": ref, "alts": alts, "gp": gp, "best": best, "gt": genotypes[best], "depth": depth,
            "alt_counts": alt_counts}


def _pair_of(pairs: list[int], alts: set[str], ref: str, meta: dict) -> int | None:
    """The pair example whose two alleles are ``alts`` (written against ``ref``), if there is one."""
    for i in pairs:
        pair_ref = str(meta["ref"][i])
        longer = max(pair_ref, ref, key=len)
        if {alt + longer[len(pair_ref):] for alt in str(meta["alt"][i]).split(",")} == \
                {alt + longer[len(ref):] for alt in alts}:
            return i
    return None


def write_vcf(probs: np.ndarray, meta: dict, reference: str | os.PathLike, out_vcf: str | os.PathLike,
              sample: str, model: str, config: "CallConfig | None" = None) -> Path:
    """A sorted, bgzipped, tabix-indexed VCF 4.2 from per-example probabilities (``config``: the
    thresholds of :class:`lowcov.call_variants.CallConfig`, its defaults when None)."""
    if config is None:
        from .call_variants import CallConfig

        config = CallConfig()
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


