"""Every size and rate of the `demo` simulation, with the reason for its default.

All numbers live here so that a notebook can show them, a manifest can record them and a test can
shrink them (:meth:`DemoConfig.tiny`). Rates are per base of reference unless said otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class RepeatFamily:
    """An interspersed repeat family: one consensus, inserted many times with some divergence."""

    name: str
    #: length of the consensus; copies of long families are 5'-truncated fragments of it
    consensus_length: int
    #: GC content of the consensus (Alu is GC-rich, L1 AT-rich)
    gc: float
    #: fraction of each contig covered by copies of this family
    genome_fraction: float
    #: per-copy divergence from the consensus is drawn between these (old copies are the majority)
    divergence: tuple[float, float]
    #: median fragment length for families whose copies are truncated (0 = full-length copies)
    median_fragment: int = 0
    #: append a poly-A tail of 8-30 bases to each copy (SINEs and LINEs end in one)
    poly_a_tail: bool = False


def _default_contigs() -> dict[str, int]:
    # chr1 is the test contig and must hold >= 2,000 SNPs and 400 indels in confident regions;
    # chr10 is the tune contig; chr2-chr4 train. Total ~6.8 Mb keeps simulate_demo near a minute.
    return {"chr1": 2_100_000, "chr2": 1_250_000, "chr3": 1_250_000, "chr4": 1_250_000, "chr10": 1_000_000}


def _default_families() -> tuple[RepeatFamily, ...]:
    # Human: Alu ~10 % of the genome, L1 ~17 %, MIR ~3 %. L1 is scaled down so that the demo keeps
    # enough unique sequence; the young (2-4 %) copies are the ones that make reads ambiguous.
    return (
        RepeatFamily("Alu-like", 290, 0.56, 0.09, (0.02, 0.15), poly_a_tail=True),
        RepeatFamily("L1-like", 6000, 0.40, 0.07, (0.03, 0.15), median_fragment=900, poly_a_tail=True),
        RepeatFamily("MIR-like", 260, 0.48, 0.025, (0.10, 0.15)),
    )


@dataclass(frozen=True)
class DemoConfig:
    """Parameters of the simulated `demo` data set. The same seed and config give identical files."""

    seed: int = 20240601
    #: contig name -> length, in FASTA order
    contig_lengths: dict[str, int] = field(default_factory=_default_contigs)

    # -- reference -----------------------------------------------------------------------------
    #: mean length of an isochore (a stretch of roughly constant GC); human isochores are >100 kb
    isochore_mean_length: int = 150_000
    #: isochore GC levels are drawn uniformly from this range
    isochore_gc: tuple[float, float] = (0.35, 0.55)
    #: sd of the local (few-kb scale) GC wobble added on top of the isochore level
    local_gc_sd: float = 0.04
    #: fraction of CpG dinucleotides left after deamination (human keeps about a quarter)
    cpg_retention: float = 0.25
    repeat_families: tuple[RepeatFamily, ...] = field(default_factory=_default_families)
    #: short tandem repeats (unit 2-6 bp) inserted per Mb, on top of those arising by chance
    str_per_mb: float = 260.0
    #: median STR tract length in bases (log-normal, at least 3 copies, at most 120 bp)
    str_median_length: float = 20.0
    #: homopolymers (>= 6 bp) inserted per Mb on top of chance ones and repeat poly-A tails
    homopolymer_per_mb: float = 300.0
    #: segmental duplications (pairs of copies); lengths and identities drawn from the ranges.
    #: Copies above ~99.5 % identity are where short reads get MAPQ 0 (~1-2 % of reads here).
    segdup_count: int = 12
    segdup_length: tuple[int, int] = (5_000, 30_000)
    segdup_identity: tuple[float, float] = (0.96, 0.999)
    #: fraction of segmental duplications whose second copy is on another contig
    segdup_cross_contig_fraction: float = 0.5
    #: tracts reported as hard regions / used as indel hot spots
    homopolymer_min_length: int = 7
    str_min_length: int = 10

    # -- truth variants --------------------------------------------------------------------------
    #: human: ~3.5 M SNPs / 3.1 Gb = 1.1e-3; a little denser so chr1 has enough to measure
    snp_rate: float = 1.45e-3
    #: human has ~0.15 indels per SNP; denser here so chr1 holds >= 400 confident indels
    indel_rate: float = 3.6e-4
    #: fraction of indels placed in STRs/homopolymers as expansions/contractions of the unit
    indel_in_repeat_fraction: float = 0.45
    #: success probability of the geometric indel length (mean 1/p) for indels outside repeats
    indel_length_p: float = 0.45
    #: fraction of non-repeat indels with a length drawn uniformly from 10..indel_max_length
    long_indel_fraction: float = 0.06
    indel_max_length: int = 50
    #: fraction of non-repeat insertions that duplicate the adjacent sequence (tandem duplication)
    insertion_duplication_fraction: float = 0.5
    #: the second ALTs of 1|2 sites are mostly transversions, so the observed Ti/Tv lands ~0.05 lower
    transition_transversion: float = 2.1
    #: probability that a variant is heterozygous: 0.6 gives het:hom 1.5
    het_fraction: float = 0.6
    #: fraction of SNP / repeat-indel sites that get two different ALT alleles (GT 1|2)
    multiallelic_fraction: float = 0.015
    sample_name: str = "HG001-demo"

    # -- confident regions -----------------------------------------------------------------------
    #: target fraction of each contig in the confident BED (GIAB v3.3.2 covers ~85-92 %)
    confident_fraction: float = 0.88
    #: repeat copies closer than this to their consensus are left out (reads map ambiguously)
    young_repeat_divergence: float = 0.04
    #: homopolymers / STR tracts at least this long are left out (+ padding)
    long_homopolymer_length: int = 16
    long_str_length: int = 50
    tract_padding: int = 5
    #: variants closer than this to another variant form a cluster; the cluster +- padding is left out
    cluster_distance: int = 10
    cluster_padding: int = 25
    #: excluded stretch at each contig end (coverage falls off there)
    contig_end_margin: int = 1_000
    #: mean length of the extra left-out stretches that bring coverage down to confident_fraction
    extra_exclusion_mean_length: int = 3_000

    # -- DNA reads (BGISEQ-500 PE100-like) --------------------------------------------------------
    dna_coverage: float = 30.0
    read_length: int = 100
    insert_mean: float = 300.0
    insert_sd: float = 50.0
    #: mean substitution error probability at the first and last cycle (rises quadratically)
    error_rate_start: float = 0.001
    error_rate_end: float = 0.015
    #: read 2 is a little worse than read 1 on every platform
    read2_error_factor: float = 1.25
    #: sd (natural log) of the per-read and per-base quality noise
    read_quality_sd: float = 0.35
    base_quality_sd: float = 0.45
    #: fraction of reads whose tail drops to Q5-Q12 from a random cycle in the second half
    low_quality_tail_fraction: float = 0.02
    #: indel errors per base, placed in homopolymers in proportion to (run length)^2
    dna_indel_error_rate: float = 5e-5
    #: PCR stutter: a read spanning a homopolymer (>= 5 bp) or STR (unit 2-4, >= 8 bp) gains or
    #: loses one unit with probability 10^(log10_at + slope * (length - reference_length)), capped.
    #: Defaults give ~0.1 % at a 6-bp homopolymer, ~2.5 % at 10 bp and ~25 % (the cap) at 14 bp, as
    #: in PCR-based short-read data; this is what makes indels in repeats hard to call (bcftools'
    #: INDEL F1 on demo chr1 at 30x then lands in the real-data band, see DESIGN.md section 5).
    stutter_homopolymer: tuple[float, float, int] = (-3.0, 0.35, 6)
    stutter_str: tuple[float, float, int] = (-2.5, 0.1, 10)
    stutter_max: float = 0.25
    #: share of stutter events that remove a unit (contractions dominate in PCR)
    stutter_contraction_share: float = 0.7
    #: GC bias: fragments are kept with probability exp(-((gc - optimum) / width)^4)
    gc_bias_optimum: float = 0.46
    gc_bias_width: float = 0.17
    dna_chunk_pairs: int = 100_000
    dna_read_prefix: str = "bgi-demo-"

    # -- RNA (PacBio Kinnex full-length) ---------------------------------------------------------
    #: Gene models are compressed far beyond human ones (genes ~40x denser, introns ~10x shorter, exons
    #: longer) so that exons cover ~75 % of every contig: the training contigs then give ~2,300 RNA training
    #: examples, enough for the case study's batch size of 256 to take ~10 steps per epoch. With human-like
    #: gene structure (the first version: 1 kb intergenic gaps, 0.7 kb introns, ~200 bp exons, 15 % exonic)
    #: the same contigs gave ~230, so V1 and V2 took 1 step per epoch.
    #: mean intergenic gap between consecutive genes
    intergenic_mean: int = 150
    #: spliced transcript length range and exon count range
    transcript_length: tuple[int, int] = (1_500, 4_500)
    exon_count: tuple[int, int] = (3, 15)
    #: a transcript's mean exon length is drawn from this range (its exon count follows, within exon_count)
    exon_length: tuple[int, int] = (500, 1_000)
    #: introns: log-normal with this median, clipped to intron_length
    intron_median: float = 120.0
    intron_length: tuple[int, int] = (70, 2_000)
    #: fraction of genes with a second isoform that skips one internal exon
    alternative_isoform_fraction: float = 0.15
    #: sd (natural log) of per-transcript expression: most genes low, a few very high. With 22,000 reads
    #: over ~1,900 transcripts this puts 58 % of the covered bases of the training contigs (ccs BAM) at depth
    #: 1-7, 24 % at 8-20 and 18 % above 20 (measured on the default seed), near the case study's RNA
    #: (67 / 19 / 13 %), and ~62 Mb of reads. Fitted together with the read count: a wider spread puts more
    #: bases at depth 1-2, which no example comes from; more reads move the shares towards high depth
    expression_sd: float = 1.5
    rna_read_count: int = 22_000
    #: fraction of reads missing a random part of their 5' end (degradation, incomplete RT)
    truncated_read_fraction: float = 0.12
    #: allele-specific expression: fraction of genes, and the range of the favoured allele's share
    ase_gene_fraction: float = 0.2
    ase_major_share: tuple[float, float] = (0.8, 1.0)
    #: RNA editing (A>G on the transcript) sites and their edited fraction of reads
    editing_site_count: int = 30
    editing_fraction: tuple[float, float] = (0.1, 0.6)
    #: editing sites are put in transcripts with at least this many reads, so they are visible
    editing_min_reads: int = 8
    #: HiFi errors: substitutions and non-homopolymer 1-bp indels per base, and per homopolymer
    #: run an indel with probability homopolymer_error_per_base * (run length - 2)
    hifi_substitution_rate: float = 1e-3
    hifi_indel_rate: float = 3e-4
    hifi_homopolymer_error_per_base: float = 0.01
    rna_read_prefix: str = "kinnex-demo/"

    @classmethod
    def tiny(cls, seed: int = 7, scale: float = 1.0, **overrides) -> "DemoConfig":
        """A few hundred kb in total, for tests: every feature present, seconds to simulate."""
        lengths = {"chr1": 150_000, "chr2": 60_000, "chr3": 60_000, "chr4": 60_000, "chr10": 60_000}
        tiny = cls(seed=seed, contig_lengths={k: int(v * scale) for k, v in lengths.items()},
                   isochore_mean_length=30_000, segdup_count=3, segdup_length=(2_000, 5_000),
                   rna_read_count=int(350 * scale), editing_site_count=5,
                   editing_min_reads=3, dna_chunk_pairs=20_000)
        return replace(tiny, **overrides)

    @property
    def total_length(self) -> int:
        return sum(self.contig_lengths.values())
