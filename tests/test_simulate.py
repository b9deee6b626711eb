"""Tests of the demo simulator (lowcov.simulate) on tiny configs; one slow test on the default."""
from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pysam
import pytest

from lowcov.layout import Layout
from lowcov.simulate import (DemoConfig, build_haplotypes, component_streams, confident_regions,
                             depth_buckets, rng_for, sample_dna_reads, simulate_demo, simulate_reference, simulate_rna,
                             simulate_variants, truth_summary)
from lowcov.simulate.dna import ERROR_OF_QUALITY, PAD, add_stutter, gc_survival, stutter_sites
from lowcov.simulate.haplotypes import Haplotype
from lowcov.simulate.files import read_bed
from lowcov.simulate.reference import tract_mask
from lowcov.simulate.sequence import decode, encode, reverse_complement
from lowcov.simulate.variants import normalise

DETERMINISTIC_FILES = ("reference", "hard_regions", "truth_vcf", "confident_bed", "dna_reads_1", "dna_reads_2",
                       "rna_annotation", "rna_reads", "editing_sites")


def _truth(config: DemoConfig):
    streams = component_streams(config.seed)
    reference = simulate_reference(config, rng_for(streams["reference"]))
    variant_seed, confident_seed = streams["variants"].spawn(2)
    variants = simulate_variants(reference, config, rng_for(variant_seed))
    confident = confident_regions(reference, variants, config, rng_for(confident_seed))
    return reference, variants, confident


@pytest.fixture(scope="module")
def tiny_config() -> DemoConfig:
    return DemoConfig.tiny()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_config):
    layout = Layout("demo", root=tmp_path_factory.mktemp("tiny"))
    return layout, simulate_demo(layout, tiny_config)


@pytest.fixture(scope="module")
def tiny_truth(tiny_config):
    return _truth(tiny_config)


@pytest.fixture(scope="module")
def medium_truth():
    # ~1.5 Mb: enough SNPs (~2,000) and indels (~500) to measure ratios within a few percent
    config = DemoConfig.tiny(seed=11, scale=4.0)
    return config, *_truth(config)


# -- determinism ---------------------------------------------------------------------------------

def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path, tiny_run, tiny_config):
    _, first = tiny_run
    again = simulate_demo(Layout("demo", root=tmp_path / "again"), tiny_config)
    for key in DETERMINISTIC_FILES:
        assert first[key].read_bytes() == again[key].read_bytes(), key
    assert Path(str(first["truth_vcf"]) + ".tbi").read_bytes() == Path(str(again["truth_vcf"]) + ".tbi").read_bytes()
    assert Path(str(first["reference"]) + ".fai").read_bytes() == Path(str(again["reference"]) + ".fai").read_bytes()

    other = simulate_demo(Layout("demo", root=tmp_path / "other"), dataclasses.replace(tiny_config, seed=8))
    for key in ("reference", "truth_vcf", "confident_bed", "dna_reads_1", "rna_reads"):
        assert first[key].read_bytes() != other[key].read_bytes(), key


def test_rna_parameters_do_not_change_dna_or_truth(tmp_path, tiny_run, tiny_config):
    _, first = tiny_run
    changed = dataclasses.replace(tiny_config, rna_read_count=123, expression_sd=1.0, editing_site_count=2)
    second = simulate_demo(Layout("demo", root=tmp_path / "rna"), changed)
    for key in ("reference", "truth_vcf", "confident_bed", "dna_reads_1", "dna_reads_2"):
        assert first[key].read_bytes() == second[key].read_bytes(), key
    assert first["rna_reads"].read_bytes() != second["rna_reads"].read_bytes()


# -- reference ------------------------------------------------------------------------------------

def test_reference_fasta_layout_and_contigs(tiny_run, tiny_config):
    layout, paths = tiny_run
    assert paths["reference"] == layout.dna_reference
    lines = paths["reference"].read_text().splitlines()
    assert lines[0] == ">chr1"
    sequence_lines = [line for line in lines if not line.startswith(">")]
    assert max(len(line) for line in sequence_lines) == 60
    assert set("".join(sequence_lines)) == set("ACGT")  # uppercase, no N
    with pysam.FastaFile(str(paths["reference"])) as fasta:
        assert dict(zip(fasta.references, fasta.lengths)) == tiny_config.contig_lengths
        assert {"chr1", "chr10", "chr2", "chr3", "chr4"} <= set(fasta.references)


def test_reference_has_gc_drift_repeats_and_segdups(medium_truth):
    config, reference, _, _ = medium_truth
    codes = reference.sequences["chr1"]
    gc = np.isin(codes, (1, 2)).astype(float)
    window_gc = gc[: gc.size // 10_000 * 10_000].reshape(-1, 10_000).mean(axis=1)
    assert 0.36 < gc.mean() < 0.48  # CpG depletion pulls GC below the isochore levels
    assert window_gc.max() - window_gc.min() > 0.08  # regional drift, unlike a uniform random genome
    cpg_observed = ((codes[:-1] == 1) & (codes[1:] == 2)).mean()
    cpg_expected = (codes == 1).mean() * (codes == 2).mean()
    assert cpg_observed / cpg_expected < 0.6
    families = {r.family for r in reference.repeat_copies}
    assert {"Alu-like", "L1-like", "MIR-like"} <= families
    assert len(reference.segdups) == 2 * config.segdup_count
    # the two copies of a segdup are similar (>= 96 % identity keeps >= 44 % of 20-mers intact),
    # either orientation; unrelated sequence shares none
    for source, target in zip(reference.segdups[::2], reference.segdups[1::2]):
        a = decode(reference.sequences[source.contig][source.start:source.end])
        b = decode(reference.sequences[target.contig][target.start:target.end])
        a_kmers = {a[i:i + 20] for i in range(len(a) - 20)}
        a_kmers |= {decode(reverse_complement(encode(k))) for k in a_kmers}
        b_kmers = {b[i:i + 20] for i in range(len(b) - 20)}
        assert len(a_kmers & b_kmers) / len(b_kmers) > 0.3
    # homopolymer and STR tracts are detected and counted per contig
    tracts = reference.tracts["chr1"]
    assert (tracts.periods == 1).sum() > 100 and (tracts.periods > 1).sum() > 50


def test_hard_regions_bed_names(tiny_run):
    _, paths = tiny_run
    names = {line.split("\t")[3].strip() for line in paths["hard_regions"].read_text().splitlines()}
    assert names == {"segdup", "Alu-like", "L1-like", "MIR-like", "STR", "homopolymer"}


# -- truth ---------------------------------------------------------------------------------------

def test_truth_ratios(medium_truth):
    _, _, variants, _ = medium_truth
    snps = [v for v in variants if v.is_snp]
    indels = [v for v in variants if v.is_indel]
    assert len(snps) > 1_500 and len(indels) > 300
    transitions = {("A", "G"), ("G", "A"), ("C", "T"), ("T", "C")}
    ti = sum((v.ref, a) in transitions for v in snps for a in v.alts)
    tv = sum((v.ref, a) not in transitions for v in snps for a in v.alts)
    assert 1.9 <= ti / tv <= 2.2
    het = sum(v.is_het for v in snps)
    assert 1.3 <= het / (len(snps) - het) <= 1.8
    multi = [v for v in variants if len(v.alts) == 2]
    assert 0.003 < len(multi) / len(variants) < 0.04
    assert all(v.genotype in ((1, 2), (2, 1)) for v in multi)
    assert {v.genotype for v in variants} == {(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)}
    # sizes: geometric, mostly 1-10 bp, some longer, none over the maximum
    sizes = np.array([max(abs(len(a) - len(v.ref)) for a in v.alts) for v in indels])
    assert (sizes <= 10).mean() > 0.85 and (sizes > 10).any() and sizes.max() <= 50 * 3


def test_indels_enriched_in_repeats(medium_truth):
    _, reference, variants, _ = medium_truth
    in_tract, tract_bases, genome = 0, 0, 0
    masks = {c: tract_mask(reference, c) for c in reference.sequences}
    indels = [v for v in variants if v.is_indel]
    for v in indels:
        # the changed bases start right after the anchor base
        in_tract += bool(masks[v.contig][v.pos + 1:max(v.end, v.pos + 2)].any())
    for mask in masks.values():
        tract_bases += int(mask.sum())
        genome += mask.size
    indel_fraction, genome_fraction = in_tract / len(indels), tract_bases / genome
    assert genome_fraction < 0.05
    assert indel_fraction > 0.4
    assert indel_fraction > 8 * genome_fraction


def test_variants_are_left_normalised_and_non_overlapping(medium_truth):
    _, reference, variants, _ = medium_truth
    previous = None
    for v in variants:
        if previous is not None and previous.contig == v.contig:
            assert v.pos >= previous.end
        previous = v
        if v.is_indel:
            sequence = reference.sequences[v.contig]
            for alt in v.alts:
                assert alt[0] == v.ref[0]  # anchor base
                if len(alt) != len(v.ref):
                    # renormalising the allele gives itself back
                    assert normalise(decode(sequence[v.pos - 50:v.end + 50]), 50, v.ref, alt) == (50, v.ref, alt) or \
                        len(v.alts) == 2


def test_normalise_left_shifts_homopolymer_deletion():
    sequence = "GCATTTTTGCA"
    # delete the last T of the run (0-based 7) -> anchored at the A before the run
    assert normalise(sequence, 7, "T", "") == (2, "AT", "A")
    assert normalise(sequence, 6, "", "TT") == (2, "A", "ATT")
    assert normalise(sequence, 1, "C", "G") == (1, "C", "G")


def test_confident_regions(tiny_run, tiny_truth, medium_truth):
    reference, _, confident = tiny_truth
    segdups = reference.segdups
    assert segdups
    for region in confident:
        for seg in segdups:
            assert not (region.contig == seg.contig and region.start < seg.end and region.end > seg.start)
    for copy in reference.repeat_copies:
        if copy.divergence < 0.04:
            assert not any(r.contig == copy.contig and r.start < copy.end and r.end > copy.start for r in confident)
    config, medium_reference, _, medium_confident = medium_truth
    for contig, length in medium_reference.lengths.items():
        covered = sum(r.end - r.start for r in medium_confident if r.contig == contig)
        assert 0.8 <= covered / length <= 0.89, contig
    # the written BED is sorted and merged
    _, paths = tiny_run
    bed = read_bed(paths["confident_bed"])
    for intervals in bed.values():
        assert all(a[1] < b[0] for a, b in zip(intervals, intervals[1:]))


def test_truth_vcf_is_valid_and_matches_fasta(tiny_run, tiny_config):
    _, paths = tiny_run
    with pysam.VariantFile(str(paths["truth_vcf"])) as vcf, pysam.FastaFile(str(paths["reference"])) as fasta:
        assert list(vcf.header.samples) == [tiny_config.sample_name]
        assert {c: vcf.header.contigs[c].length for c in vcf.header.contigs} == tiny_config.contig_lengths
        count, last = 0, (-1, -1)
        order = list(tiny_config.contig_lengths)
        for record in vcf:
            count += 1
            assert fasta.fetch(record.contig, record.start, record.stop) == record.ref
            key = (order.index(record.contig), record.start)
            assert key >= last
            last = key
            sample = record.samples[tiny_config.sample_name]
            assert sample.phased and 0 < max(sample["GT"])
        assert count > 300
        assert len(list(vcf.fetch("chr1", 50_000, 60_000))) > 0  # the tabix index works


def test_truth_summary_counts(tiny_run, tiny_truth):
    _, paths = tiny_run
    _, variants, _ = tiny_truth
    summary = truth_summary(paths["truth_vcf"], paths["confident_bed"])
    total = summary["total"]
    assert total["snps"] == sum(v.is_snp for v in variants)
    assert total["indels"] == sum(v.is_indel for v in variants)
    assert 0 < total["snps_confident"] < total["snps"]
    assert sum(c["indels_confident"] for c in summary["contigs"].values()) == total["indels_confident"]
    assert set(summary["contigs"]) == {"chr1", "chr2", "chr3", "chr4", "chr10"}
    assert 1.5 < total["titv"] < 2.7 and 1.0 < total["het_hom"] < 2.2  # tiny: a few hundred records


def test_default_config_chr1_truth_budget():
    config = DemoConfig()
    reference, variants, confident = _truth(config)
    spans = [(r.start, r.end) for r in confident if r.contig == "chr1"]
    starts = np.array([s for s, _ in spans])

    def inside(v):
        i = int(np.searchsorted(starts, v.pos, side="right")) - 1
        return i >= 0 and v.end <= spans[i][1]

    chr1 = [v for v in variants if v.contig == "chr1" and inside(v)]
    assert sum(v.is_snp for v in chr1) >= 2_200
    assert sum(v.is_indel for v in chr1) >= 450


# -- haplotypes and DNA reads ------------------------------------------------------------------------

def _haplotype_from_vcf(vcf_path, fasta_path, contig: str, haplotype: int) -> str:
    """An independent reconstruction: splice each record's allele into the FASTA string."""
    with pysam.FastaFile(str(fasta_path)) as fasta:
        sequence = fasta.fetch(contig)
    pieces, cursor = [], 0
    with pysam.VariantFile(str(vcf_path)) as vcf:
        for record in vcf.fetch(contig):
            allele = record.samples[0]["GT"][haplotype]
            if allele:
                pieces += [sequence[cursor:record.start], record.alleles[allele]]
                cursor = record.stop
    return "".join(pieces) + sequence[cursor:]


def test_haplotypes_match_vcf_and_error_free_reads_match_haplotype(tiny_run, tiny_config):
    _, paths = tiny_run
    reference, variants, _ = _truth(tiny_config)
    haplotypes = build_haplotypes(reference.sequences, variants)
    for contig in ("chr1", "chr10"):
        for index in (0, 1):
            expected = _haplotype_from_vcf(paths["truth_vcf"], paths["reference"], contig, index)
            assert decode(haplotypes[contig][index].sequence) == expected
    # the reference map: non-inserted haplotype bases equal the reference base they map to
    hap = haplotypes["chr1"][1]
    ref = reference.sequences["chr1"]
    plain = ~hap.inserted
    assert hap.inserted.any()
    assert (hap.sequence[plain] == ref[hap.anchor[plain]]).mean() > 0.995  # only SNP bases differ

    pairs = sample_dna_reads(haplotypes["chr1"], tiny_config, np.random.default_rng(3), n_pairs=4_000)
    length = tiny_config.read_length
    clean, checked = 0, 0
    for i in range(len(pairs)):
        sequence = haplotypes["chr1"][pairs.haplotype[i]].sequence
        start, frag = int(pairs.fragment_start[i]), int(pairs.fragment_length[i])
        forward = sequence[start:start + length]
        reverse = reverse_complement(sequence[start + frag - length:start + frag])
        read1_truth, read2_truth = (forward, reverse) if pairs.read1_forward[i] else (reverse, forward)
        for read, truth, errors, indel in ((pairs.read1[i], read1_truth, pairs.substitution_errors1[i],
                                            pairs.indel_error1[i]),
                                           (pairs.read2[i], read2_truth, pairs.substitution_errors2[i],
                                            pairs.indel_error2[i])):
            if indel:
                continue
            checked += 1
            assert np.array_equal(read != truth, errors)
            clean += not errors.any()
    assert checked > 7_600 and clean > 2_000


def test_dna_errors_rise_along_read_and_qualities_are_calibrated(tiny_truth, tiny_config):
    reference, variants, _ = tiny_truth
    haplotypes = build_haplotypes(reference.sequences, variants)
    pairs = sample_dna_reads(haplotypes["chr1"], tiny_config, np.random.default_rng(5), n_pairs=30_000)
    errors = np.concatenate([pairs.substitution_errors1, pairs.substitution_errors2])
    quality = np.concatenate([pairs.qual1, pairs.qual2])
    per_cycle = errors.mean(axis=0)
    assert per_cycle[:10].mean() < 0.003
    assert 0.008 < per_cycle[-10:].mean() < 0.03
    assert per_cycle[-10:].mean() > 5 * per_cycle[:10].mean()
    assert quality[:, :10].mean() > quality[:, -10:].mean() + 5
    # calibrated: observed error rate per quality band is what the quality says
    for low, high in ((2, 12), (13, 22), (23, 30)):
        band = (quality >= low) & (quality <= high)
        expected = ERROR_OF_QUALITY[quality[band]].mean()
        assert band.sum() > 10_000
        assert abs(errors[band].mean() - expected) < 0.1 * expected
    assert errors[quality >= 30].mean() < 0.001
    # both strands, insert size and a few indel errors
    assert 0.45 < pairs.read1_forward.mean() < 0.55
    assert abs(pairs.fragment_length.mean() - 300) < 5 and 45 < pairs.fragment_length.std() < 55
    indel_reads = np.concatenate([pairs.indel_error1, pairs.indel_error2]).mean()
    assert 0.001 < indel_reads < 0.02


@pytest.mark.parametrize("run_length", [6, 10, 14])
def test_stutter_grows_with_homopolymer_length(tiny_config, run_length):
    log10_at, slope, at_length = tiny_config.stutter_homopolymer
    expected = min(10 ** (log10_at + slope * (run_length - at_length)), tiny_config.stutter_max)
    assert 0.0005 < expected <= 0.25
    rng = np.random.default_rng(run_length)
    while True:  # a background whose only stutter-prone tract is the poly-A we put in
        background = np.cumsum(rng.integers(1, 4, 400)).astype(np.uint8) % 4  # no two equal neighbours
        background[200:200 + run_length] = 0
        background[200 + run_length] = 3
        background[199] = 1
        haplotype = Haplotype("chrT", 0, background, np.arange(400, dtype=np.int32), np.zeros(400, dtype=bool))
        sites = stutter_sites(haplotype, tiny_config)
        if sites.tracts.starts.tolist() == [200]:
            break
    n, width = 200_000, tiny_config.read_length + PAD
    window_start = np.full(n, 180)
    forward = np.arange(n) % 2 == 0
    truth_forward = background[180:180 + width]
    truth_reverse = reverse_complement(background[180 + tiny_config.read_length - width:180 + tiny_config.read_length])
    reads = np.where(forward[:, None], truth_forward, truth_reverse).astype(np.uint8)
    hit = add_stutter(reads, window_start, forward, tiny_config.read_length, sites, tiny_config, rng)
    rate = hit.mean()
    assert expected / 1.5 < rate < expected * 1.5 + 0.0005
    # a stuttered read is the haplotype with one A added or removed in that run
    for row in np.flatnonzero(hit)[:50].tolist():
        length = tiny_config.read_length
        read = decode(reads[row][:length - 1])
        truth = decode(truth_forward if forward[row] else truth_reverse)
        base = "A" if forward[row] else "T"
        run = base * run_length
        assert read in (truth.replace(run, run[:-1], 1)[:length - 1], truth.replace(run, run + base, 1)[:length - 1])


def test_gc_bias_undersamples_extreme_gc(tiny_config):
    assert gc_survival(np.array([0.46]), tiny_config)[0] == pytest.approx(1.0)
    assert gc_survival(np.array([0.25, 0.70]), tiny_config).max() < 0.3


def test_fastq_pairs_share_names(tiny_run, tiny_config):
    _, paths = tiny_run
    with pysam.FastxFile(str(paths["dna_reads_1"])) as r1, pysam.FastxFile(str(paths["dna_reads_2"])) as r2:
        n = 0
        for a, b in zip(r1, r2):
            assert a.name == b.name and not a.name.endswith(("/1", "/2"))
            assert len(a.sequence) == len(a.quality) == len(b.sequence) == tiny_config.read_length
            n += 1
    expected = sum(round(30 * length / 200) for length in tiny_config.contig_lengths.values())
    assert n == expected
    with gzip.open(paths["dna_reads_1"], "rb") as handle:
        assert handle.read(1) == b"@"


# -- RNA -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_rna(tiny_config, tiny_truth):
    reference, variants, _ = tiny_truth
    haplotypes = build_haplotypes(reference.sequences, variants)
    transcripts, sites, reads = simulate_rna(reference, variants, haplotypes, tiny_config,
                                             component_streams(tiny_config.seed)["rna"])
    return reference, variants, transcripts, sites, reads


def test_gene_models(tiny_rna, tiny_run, tiny_config):
    reference, _, transcripts, _, _ = tiny_rna
    assert {t.contig for t in transcripts} == set(tiny_config.contig_lengths)
    assert {t.strand for t in transcripts} == {"+", "-"}
    primary = [t for t in transcripts if t.name.endswith(".1")]
    low, high = tiny_config.transcript_length
    for t in primary:
        assert tiny_config.exon_count[0] <= len(t.exons) <= tiny_config.exon_count[1]
        assert 0.95 * low <= t.length <= 1.05 * high  # exon lengths are rounded
        introns = [b[0] - a[1] for a, b in zip(t.exons, t.exons[1:])]
        assert tiny_config.intron_length[0] <= min(introns) and max(introns) <= tiny_config.intron_length[1]
    # the default gene models cover most of each contig with exons (enough RNA examples to fine-tune on)
    exonic = sum(e - s for t in primary for s, e in t.exons)
    assert exonic > 0.6 * sum(tiny_config.contig_lengths.values())
    _, paths = tiny_run
    rows = [line.split("\t") for line in paths["rna_annotation"].read_text().splitlines()]
    assert len(rows) == len(transcripts) and all(len(r) == 12 for r in rows)
    for row in rows:
        start, end, blocks = int(row[1]), int(row[2]), int(row[9])
        sizes = [int(x) for x in row[10].rstrip(",").split(",")]
        offsets = [int(x) for x in row[11].rstrip(",").split(",")]
        assert len(sizes) == len(offsets) == blocks and offsets[0] == 0 and start + offsets[-1] + sizes[-1] == end


def test_rna_depth_mostly_low_with_some_deep_genes(tiny_rna):
    _, _, _, _, reads = tiny_rna
    buckets = depth_buckets(reads.depth)
    total = sum(buckets.values())
    assert buckets["low_1_7"] > buckets["medium_8_20"] and buckets["low_1_7"] > buckets["high_over_20"]
    assert buckets["low_1_7"] / total > 0.5
    assert buckets["high_over_20"] > 1_000
    assert max(int(d.max()) for d in reads.depth.values()) > 20
    # the bookkeeping adds up: depth counts every read base not inserted by an error or variant
    read_bases = sum(len(r[1]) for r in reads.records)
    depth_bases = sum(int(d.sum()) for d in reads.depth.values())
    assert abs(read_bases - depth_bases) < 0.01 * read_bases


def test_rna_reads_are_hifi_like(tiny_rna, tiny_run, tiny_config):
    _, _, _, _, reads = tiny_rna
    lengths = np.array([len(r[1]) for r in reads.records])
    # whole transcripts, some 5'-truncated by up to 60 %
    low, high = tiny_config.transcript_length
    assert lengths.min() >= 0.35 * low and np.median(lengths) > low and lengths.max() < 1.1 * high
    quality = np.frombuffer("".join(r[2] for r in reads.records).encode(), dtype=np.uint8) - 33
    assert np.median(quality) >= 30 and quality.max() <= 40
    _, paths = tiny_run
    with pysam.FastxFile(str(paths["rna_reads"])) as fastq:
        assert sum(1 for _ in fastq) == len(reads.records)


def test_rna_reads_follow_transcript_orientation(tiny_rna, tiny_config):
    reference, variants, transcripts, _, reads = tiny_rna
    # With few errors, each read shares long exact k-mers with its transcript in read orientation only.
    kmers_plus, kmers_minus = set(), set()
    for t in transcripts:
        spliced = np.concatenate([reference.sequences[t.contig][s:e] for s, e in t.exons])
        oriented = decode(spliced if t.strand == "+" else reverse_complement(spliced))
        target = kmers_plus if t.strand == "+" else kmers_minus
        target.update(oriented[i:i + 25] for i in range(0, len(oriented) - 25, 25))
    hits = 0
    for _, sequence, _ in reads.records[:200]:
        kmers = {sequence[i:i + 25] for i in range(len(sequence) - 25)}
        hits += bool(kmers & (kmers_plus | kmers_minus))
    assert hits >= 190


def test_editing_sites_are_a_to_g_on_transcript_and_not_dna_variants(tiny_rna, tiny_run):
    reference, variants, transcripts, sites, reads = tiny_rna
    assert len(sites) >= 3
    variant_positions = {(v.contig, p) for v in variants for p in range(v.pos, v.end)}
    strands = {t.name: t.strand for t in transcripts}
    for site in sites:
        base = decode(reference.sequences[site.contig][site.pos:site.pos + 1])
        assert (site.ref, site.alt) == (("A", "G") if site.strand == "+" else ("T", "C"))
        assert base == site.ref and strands[site.transcript] == site.strand
        assert (site.contig, site.pos) not in variant_positions
        covered, edited = reads.editing_counts[(site.contig, site.pos)]
        if covered >= 20:
            assert 0.02 < edited / covered < 0.8
    assert sum(e for _, e in reads.editing_counts.values()) > 0
    _, paths = tiny_run
    with pysam.VariantFile(str(paths["editing_sites"])) as vcf, pysam.VariantFile(str(paths["truth_vcf"])) as truth:
        truth_sites = {(r.contig, r.pos) for r in truth}
        records = list(vcf)
        assert records and all((r.ref, r.alts[0]) in {("A", "G"), ("T", "C")} for r in records)
        assert not {(r.contig, r.pos) for r in records} & truth_sites


# -- default configuration (slow: writes ~250 MB) ------------------------------------------------------

@pytest.mark.slow
def test_default_demo_is_in_the_real_data_ranges(tmp_path):
    paths = simulate_demo(Layout("demo", root=tmp_path))
    summary = truth_summary(paths["truth_vcf"], paths["confident_bed"])
    chr1 = summary["contigs"]["chr1"]
    assert chr1["snps_confident"] >= 2_000 and chr1["indels_confident"] >= 400
    assert 1.9 <= summary["total"]["titv"] <= 2.2
    assert 1.3 <= summary["total"]["het_hom_snp"] <= 1.8
    for block in summary["contigs"].values():
        assert 0.85 <= block["confident_fraction"] <= 0.92
    size = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert size < 1e9
