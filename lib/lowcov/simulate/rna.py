"""PacBio Kinnex-like full-length RNA reads from simulated gene models.

Genes are laid along each contig (3-15 exons, short introns, spliced length 1.5-4.5 kb by default:
:class:`~.config.DemoConfig` says why they are so dense; both strands, some with an exon-skipping
second isoform). Expression is log-normal, so most genes get a
handful of reads and a few get hundreds: that is what puts most covered RNA bases at depth 1-7, as
in the case study. Each read is a whole transcript (sometimes 5'-truncated) of one haplotype, with
allele-specific expression for some genes, A>G editing at a few sites, and HiFi-like errors
(mostly homopolymer indels, high qualities), in transcript orientation.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from .config import DemoConfig
from .haplotypes import Haplotype
from .sequence import A, ASCII, C, G, T, periodic_tracts, reverse_complement
from .variants import Variant

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transcript:
    name: str
    gene: str
    contig: str
    strand: str
    #: exons as half-open reference intervals, ascending
    exons: tuple[tuple[int, int], ...]

    @property
    def start(self) -> int:
        return self.exons[0][0]

    @property
    def end(self) -> int:
        return self.exons[-1][1]

    @property
    def length(self) -> int:
        return sum(e - s for s, e in self.exons)


@dataclass(frozen=True)
class EditingSite:
    contig: str
    #: 0-based reference position (an A on the + strand, a T for a minus-strand transcript)
    pos: int
    strand: str
    transcript: str
    gene: str
    fraction: float

    @property
    def ref(self) -> str:
        return "A" if self.strand == "+" else "T"

    @property
    def alt(self) -> str:
        return "G" if self.strand == "+" else "C"


@dataclass
class RnaReads:
    #: (name, sequence, quality) in file order
    records: list[tuple[str, str, str]]
    #: reads per transcript name
    reads_per_transcript: dict[str, int]
    #: simulated depth per reference base (bases of reads placed where they were drawn from)
    depth: dict[str, np.ndarray] = field(default_factory=dict)
    #: per editing site: (reads covering it, reads edited)
    editing_counts: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)


# -- gene models -------------------------------------------------------------------------------------

def simulate_transcripts(contig_lengths: dict[str, int], config: DemoConfig, rng: np.random.Generator) -> list[Transcript]:
    """Non-overlapping genes along every contig, each with one or two isoforms."""
    transcripts: list[Transcript] = []
    gene_number = 0
    for contig, length in contig_lengths.items():
        cursor = config.contig_end_margin + int(rng.exponential(config.intergenic_mean))
        while True:
            spliced = int(rng.integers(config.transcript_length[0], config.transcript_length[1] + 1))
            n_exons = int(np.clip(round(spliced / rng.uniform(*config.exon_length)), *config.exon_count))
            weights = rng.gamma(4.0, 1.0, n_exons)
            weights[[0, -1]] *= 1.5  # first and last exons carry the UTRs
            exon_lengths = np.maximum(np.rint(spliced * weights / weights.sum()), 60).astype(np.int64)
            introns = np.clip(rng.lognormal(np.log(config.intron_median), 0.9, n_exons - 1),
                              *config.intron_length).astype(np.int64)
            span = int(exon_lengths.sum() + introns.sum())
            if cursor + span > length - config.contig_end_margin:
                break
            exon_starts = cursor + np.concatenate(([0], np.cumsum(exon_lengths[:-1] + introns)))
            exons = tuple((int(s), int(s + n)) for s, n in zip(exon_starts, exon_lengths))
            strand = "+" if rng.random() < 0.5 else "-"
            gene_number += 1
            gene = f"DEMO{gene_number:05d}"
            transcripts.append(Transcript(f"{gene}.1", gene, contig, strand, exons))
            if n_exons >= 4 and rng.random() < config.alternative_isoform_fraction:
                skipped = int(rng.integers(1, n_exons - 1))
                transcripts.append(Transcript(f"{gene}.2", gene, contig, strand, exons[:skipped] + exons[skipped + 1:]))
            cursor += span + int(rng.exponential(config.intergenic_mean)) + 200
    log.info("RNA: %d genes, %d transcripts", gene_number, len(transcripts))
    return transcripts


def assign_expression(transcripts: list[Transcript], config: DemoConfig, rng: np.random.Generator) -> np.ndarray:
    """Reads per transcript: a multinomial draw over log-normal expression levels."""
    level = rng.lognormal(0.0, config.expression_sd, len(transcripts))
    return rng.multinomial(config.rna_read_count, level / level.sum())


def assign_allele_shares(transcripts: list[Transcript], config: DemoConfig, rng: np.random.Generator) -> dict[str, float]:
    """Share of each gene's reads that come from haplotype 0 (0.5 unless allele-specific)."""
    shares: dict[str, float] = {}
    for gene in dict.fromkeys(t.gene for t in transcripts):
        share = 0.5
        if rng.random() < config.ase_gene_fraction:
            major = rng.uniform(*config.ase_major_share)
            share = major if rng.random() < 0.5 else 1 - major
        shares[gene] = float(share)
    return shares


def choose_editing_sites(transcripts: list[Transcript], reads_per_transcript: np.ndarray,
                         sequences: dict[str, np.ndarray], variants: list[Variant], config: DemoConfig,
                         rng: np.random.Generator) -> list[EditingSite]:
    """A-to-I (read as G) editing sites in well-expressed transcripts, away from DNA variants."""
    near_variant = {c: np.zeros(s.size, dtype=bool) for c, s in sequences.items()}
    for v in variants:
        near_variant[v.contig][max(0, v.pos - 2):v.end + 2] = True
    eligible = np.flatnonzero(reads_per_transcript >= config.editing_min_reads)
    sites: dict[tuple[str, int], EditingSite] = {}
    for _ in range(config.editing_site_count * 20):
        if len(sites) >= config.editing_site_count or eligible.size == 0:
            break
        t = transcripts[int(rng.choice(eligible))]
        exonic = np.concatenate([np.arange(s, e) for s, e in t.exons])
        target = A if t.strand == "+" else T  # an A on the transcript strand
        candidates = exonic[(sequences[t.contig][exonic] == target) & ~near_variant[t.contig][exonic]]
        if candidates.size == 0:
            continue
        pos = int(rng.choice(candidates))
        if (t.contig, pos) not in sites:
            sites[(t.contig, pos)] = EditingSite(t.contig, pos, t.strand, t.name, t.gene,
                                                 round(float(rng.uniform(*config.editing_fraction)), 3))
    order = {c: i for i, c in enumerate(sequences)}
    return sorted(sites.values(), key=lambda s: (order[s.contig], s.pos))


# -- reads -------------------------------------------------------------------------------------------

def spliced_sequence(haplotype: Haplotype, transcript: Transcript) -> tuple[np.ndarray, np.ndarray]:
    """The transcript on this haplotype, on the reference strand, and each base's reference position."""
    bounds = haplotype.to_haplotype(np.array(transcript.exons).ravel()).reshape(-1, 2)
    sequence = np.concatenate([haplotype.sequence[a:b] for a, b in bounds])
    positions = np.concatenate([haplotype.reference_positions(a, b) for a, b in bounds])
    return sequence, positions


def add_hifi_errors(read: np.ndarray, config: DemoConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """HiFi-like errors and qualities: mostly homopolymer-length errors, a few substitutions."""
    n = read.size
    read = read.copy()
    quality = np.clip(np.rint(rng.normal(37, 3, n)), 20, 40).astype(np.uint8)
    copies = np.ones(n, dtype=np.int64)
    run_starts, run_ends = periodic_tracts(read, 1, 3)
    if run_starts.size:
        # Homopolymers are where HiFi reads are least sure; their bases get lower qualities.
        for s, e in zip(run_starts.tolist(), run_ends.tolist()):
            quality[s:e] = np.minimum(quality[s:e], 22 + 2 * max(0, 8 - (e - s)))
        slipped = rng.random(run_starts.size) < config.hifi_homopolymer_error_per_base * (run_ends - run_starts - 2)
        copies[run_starts[slipped]] = rng.choice(np.array([0, 2]), int(slipped.sum()), p=[0.6, 0.4])
    substituted = np.flatnonzero(rng.random(n) < config.hifi_substitution_rate)
    read[substituted] = (read[substituted] + rng.integers(1, 4, substituted.size, dtype=np.uint8)) % 4
    quality[substituted] = rng.integers(8, 18, substituted.size)
    random_indels = rng.integers(0, n, rng.binomial(n, config.hifi_indel_rate))
    copies[random_indels] = rng.choice(np.array([0, 2]), random_indels.size)
    read, quality = np.repeat(read, copies), np.repeat(quality, copies)
    changed = np.flatnonzero(np.repeat(copies != 1, copies))
    quality[changed] = np.minimum(quality[changed], rng.integers(10, 20, changed.size))
    return read, quality


def sample_rna_reads(transcripts: list[Transcript], reads_per_transcript: np.ndarray,
                     haplotypes: dict[str, tuple[Haplotype, Haplotype]], allele_share: dict[str, float],
                     editing_sites: list[EditingSite], config: DemoConfig, rng: np.random.Generator) -> RnaReads:
    """Full-length reads of every expressed transcript, shuffled, with depth bookkeeping."""
    depth = {c: np.zeros(int(h[0].anchor[-1]) + 1, dtype=np.int32) for c, h in haplotypes.items()}
    # Editing happens on the pre-mRNA, so a site is edited in every isoform that contains it.
    sites_of: dict[str, list[EditingSite]] = {}
    for site in editing_sites:
        sites_of.setdefault(site.contig, []).append(site)
    editing_counts = {(s.contig, s.pos): [0, 0] for s in editing_sites}
    records: list[tuple[str, str, str]] = []
    edited_base = {"+": G, "-": C}
    for transcript, count in tqdm(list(zip(transcripts, reads_per_transcript.tolist())), desc="RNA transcripts",
                                  unit="tx", leave=False, mininterval=2):
        if count == 0:
            continue
        from_first = int(rng.binomial(count, allele_share[transcript.gene]))
        for haplotype, n_reads in zip(haplotypes[transcript.contig], (from_first, count - from_first)):
            if n_reads == 0:
                continue
            sequence, positions = spliced_sequence(haplotype, transcript)
            length = sequence.size
            sites = []
            for site in sites_of.get(transcript.contig, []):
                if site.strand != transcript.strand or not transcript.start <= site.pos < transcript.end:
                    continue
                where = np.flatnonzero(positions == site.pos)
                # a DNA variant on this haplotype could have removed the A; then nothing to edit
                if where.size and sequence[where[0]] == (A if site.strand == "+" else T):
                    sites.append((int(where[0]), site))
            coverage_change = np.zeros(length + 1, dtype=np.int32)
            for _ in range(n_reads):
                cut = int(length * rng.uniform(0.05, 0.6)) if rng.random() < config.truncated_read_fraction else 0
                begin, end = (cut, length) if transcript.strand == "+" else (0, length - cut)  # 5' end is lost
                read = sequence[begin:end].copy()
                for index, site in sites:
                    if begin <= index < end:
                        counts = editing_counts[(site.contig, site.pos)]
                        counts[0] += 1
                        if rng.random() < site.fraction:
                            read[index - begin] = edited_base[site.strand]
                            counts[1] += 1
                coverage_change[begin] += 1
                coverage_change[end] -= 1
                if transcript.strand == "-":
                    read = reverse_complement(read)
                read, quality = add_hifi_errors(read, config, rng)
                records.append((ASCII[read].tobytes().decode(), (quality + 33).tobytes().decode()))
            covered = np.cumsum(coverage_change[:-1])
            in_reference = positions >= 0
            depth[transcript.contig][positions[in_reference]] += covered[in_reference]
    order = rng.permutation(len(records))  # a sequencer does not emit reads gene by gene
    named = [(f"{config.rna_read_prefix}{i:07d}/ccs", *records[j]) for i, j in enumerate(order.tolist())]
    log.info("RNA: %d reads, %.1f Mb", len(named), sum(len(r[1]) for r in named) / 1e6)
    return RnaReads(named, {t.name: int(c) for t, c in zip(transcripts, reads_per_transcript.tolist())}, depth,
                    {k: (v[0], v[1]) for k, v in editing_counts.items()})


def depth_buckets(depth: dict[str, np.ndarray]) -> dict[str, int]:
    """The case study's buckets of covered bases: 1-7, 8-20, >20."""
    values = np.concatenate(list(depth.values())) if depth else np.zeros(0, dtype=np.int32)
    return {"low_1_7": int(((values >= 1) & (values <= 7)).sum()),
            "medium_8_20": int(((values >= 8) & (values <= 20)).sum()),
            "high_over_20": int((values > 20).sum())}
