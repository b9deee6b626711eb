"""Local realignment (lowcov.realigner) on hand-made alignments of a planted insertion, through make_examples."""
from dataclasses import replace

import numpy as np
import pysam
import pytest

from lowcov import bamraw
from lowcov.candidates import IndelNormaliser
from lowcov.make_examples import ExamplesConfig, make_examples
from lowcov.pileup import NOT_SUPPORTS, PileupConfig
from lowcov.realigner import RealignerConfig, realign, windows_of
from lowcov.reads import ReadFilter

from conftest import random_sequence, write_fasta, write_reads_bam

INSERTED = "GATTACAGATCC"  # 12 bp after reference base ANCHOR (0-based)
ANCHOR = 1499


@pytest.fixture
def planted_insertion(tmp_path, rng):
    """A 3 kb reference, and 100 bp reads of a sample heterozygous for a 12 bp insertion: reads spanning it
    with an explicit ``I``, reads whose ends reach into it soft-clipped (as a mapper leaves them), and
    reference reads."""
    seq = random_sequence(rng, 3000)
    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": seq})
    alt_hap = seq[:ANCHOR + 1] + INSERTED + seq[ANCHOR + 1:]
    header = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6", "SO": "coordinate"},
                                              "SQ": [{"SN": "chr1", "LN": len(seq)}]})
    reads = []
    for k, start in enumerate((1420, 1430, 1440, 1450)):  # spanning: M, I, M
        before = ANCHOR + 1 - start
        reads.append((f"span{k}", start, f"{before}M12I{100 - before - 12}M", alt_hap[start:start + 100]))
    for k, start in enumerate((1410, 1415, 1418)):  # ending 1-9 bases past the insertion: clipped
        aligned = ANCHOR + 1 - start
        reads.append((f"clip{k}", start, f"{aligned}M{100 - aligned}S", alt_hap[start:start + 100]))
    for k, start in enumerate((1405, 1425, 1445, 1465, 1485)):
        reads.append((f"ref{k}", start, "100M", seq[start:start + 100]))
    reads.sort(key=lambda r: r[1])
    path = write_reads_bam(tmp_path / "reads.bam", header, reads, quality=40)  # "I"
    return {"fasta": fasta, "bam": path, "seq": seq}


def _cigars(table: bamraw.RecordTable) -> list[str]:
    out = []
    for at in table.offsets:
        c = bamraw.cigar_offset(table.buf, at)
        ops = [bamraw.u32(table.buf, c + 4 * k) for k in range(bamraw.u16(table.buf, at + bamraw.N_CIGAR))]
        out.append("".join(f"{v >> 4}{'MIDNSHP=X'[v & 15]}" for v in ops))
    return out


def test_clipped_reads_take_the_insertion_of_their_haplotype(planted_insertion):
    records = bamraw.read_region(planted_insertion["bam"], "chr1", 1000, 2000)
    records = records.subset(ReadFilter().accepts(records))
    with pysam.FastaFile(str(planted_insertion["fasta"])) as fasta:
        result = realign(records, fasta.fetch, "chr1", IndelNormaliser(fasta.fetch, "chr1"))
    before, after = _cigars(records), _cigars(result.records)
    names = [n.tobytes().rstrip(b"\0").decode() for n in records.names()[0]]
    key = (ANCHOR + 1, planted_insertion["seq"][ANCHOR], planted_insertion["seq"][ANCHOR] + INSERTED)
    for name, old, new, i in zip(names, before, after, range(len(names))):
        if name.startswith("clip"):
            aligned = int(old.split("M")[0])
            # the clipped bases are the insertion (partly) and the reference after it
            past = 100 - aligned - len(INSERTED)
            assert new == f"{aligned}M12I{past}M" if past > 0 else new.startswith(f"{aligned}M")
            assert result.carried[i] == {key}
        else:
            assert new == old  # spanning and reference reads were already aligned so
    assert result.realigned == 3 and result.windows == 1
    # the rewritten records keep their names, sequences and positions as a BAM reader sees them
    assert (result.records.ref_start == records.ref_start).all()
    assert result.records.names()[0].tobytes() == records.names()[0].tobytes()


def test_realignment_raises_the_insertion_support_of_the_example(tmp_path, planted_insertion):
    supports = {}
    for enabled in (False, True):
        config = ExamplesConfig(mode="calling", threads=1, realigner=RealignerConfig(enabled=enabled))
        data = make_examples(planted_insertion["bam"], planted_insertion["fasta"], tmp_path / f"ex{enabled}",
                             ["chr1"], config).load()
        indel = [i for i, (r, a) in enumerate(zip(data.meta["ref"], data.meta["alt"])) if len(a) > len(r)]
        assert len(indel) == 1 and data.meta["alt"][indel[0]].endswith(INSERTED)
        image = data.images[indel[0]]
        supports[enabled] = (int(data.meta["alt_count"][indel[0]]), int((image[5:, 110, 4] == 254).sum()))
    assert supports[False] == (4, 4)  # only the reads with the I in their CIGAR
    assert supports[True] == (7, 7)  # and the three clipped ones


def test_windows_are_expanded_merged_and_capped():
    config = RealignerConfig(region_expansion=20, min_windows_distance=80, max_window_size=200)
    assert windows_of(np.array([100, 150, 400]), config) == [(80, 171), (380, 421)]
    assert windows_of(np.array([100, 170, 240, 310]), config) == []  # merged beyond the maximum size


def _error_allele_bam(tmp_path, rng):
    """A 2 bp insertion after ANCHOR spelled by four reads and one soft-clipped read, and one read whose mapper
    placed the same two inserted bases one base earlier (as if a sequencing error made that cheaper): its own
    allele, which only it carries."""
    seq = random_sequence(rng, 3000)
    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": seq})
    true_hap = seq[:ANCHOR + 1] + "CA" + seq[ANCHOR + 1:]
    own_hap = seq[:ANCHOR] + "CA" + seq[ANCHOR:]
    header = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6", "SO": "coordinate"},
                                              "SQ": [{"SN": "chr1", "LN": len(seq)}]})
    reads = [(f"span{k}", start, f"{ANCHOR + 1 - start}M2I{100 - (ANCHOR + 1 - start) - 2}M",
              true_hap[start:start + 100]) for k, start in enumerate((1420, 1430, 1440, 1450))]
    reads.append(("clip", 1405, f"{ANCHOR + 1 - 1405}M{100 - (ANCHOR + 1 - 1405)}S", true_hap[1405:1505]))
    own_start = 1435
    reads.append(("error", own_start, f"{ANCHOR - own_start}M2I{100 - (ANCHOR - own_start) - 2}M",
                  own_hap[own_start:own_start + 100]))
    mismatches = sum(a != b for a, b in zip(own_hap[own_start:own_start + 100], true_hap[own_start:own_start + 100]))
    reads.sort(key=lambda r: r[1])
    return fasta, write_reads_bam(tmp_path / "reads.bam", header, reads, quality=40), seq, mismatches


@pytest.mark.parametrize("min_haplotype_reads", [0, 2])
def test_an_allele_only_one_read_spells_is_no_haplotype_when_pruned(tmp_path, rng, min_haplotype_reads):
    fasta_path, bam, seq, mismatches = _error_allele_bam(tmp_path, rng)
    assert 0 < mismatches <= 3  # the error read lies close to the true haplotype
    records, names = _filtered_reads(bam)
    error = names.index("error")
    with pysam.FastaFile(str(fasta_path)) as fasta:
        normaliser = IndelNormaliser(fasta.fetch, "chr1")
        result = realign(records, fasta.fetch, "chr1", normaliser,
                         RealignerConfig(min_haplotype_reads=min_haplotype_reads))
    true_key = normaliser.insertion(ANCHOR, "CA")
    assert normaliser.insertion(ANCHOR - 1, "CA") != true_key  # the error read spells another allele
    before, after = _cigars(records)[error], _cigars(result.records)[error]
    if min_haplotype_reads:
        # DeepVariant's pruned graph has no path for the error: the read is aligned to the true insertion
        assert result.carried[error] == {true_key}
        assert after == f"{ANCHOR + 1 - 1435}M2I{100 - (ANCHOR + 1 - 1435) - 2}M"
        assert result.records.ref_start[error] == 1435
    else:
        # its own allele (with the clipped read nearby counted as evidence) is a haplotype, and it fits that best
        assert after == before and error not in result.carried
    clip = names.index("clip")
    assert result.carried[clip] == {true_key}  # the clipped read takes the true insertion either way


def _filtered_reads(bam):
    """The reads of chr1:1000-2000 that make_examples' read filter keeps, and their names."""
    records = bamraw.read_region(bam, "chr1", 1000, 2000)
    records = records.subset(ReadFilter().accepts(records))
    return records, [n.tobytes().rstrip(b"\0").decode() for n in records.names()[0]]


def _homopolymer_insertion_bam(tmp_path, rng, spanning_starts):
    """An AA insertion into a run of six A after ANCHOR, spelled with an explicit ``I`` by reads starting at
    ``spanning_starts``, two reference-matching reads ending inside the run (they fit the reference and the
    alternate haplotype equally well) and one reference read spanning the run."""
    seq = random_sequence(rng, 3000)
    seq = seq[:ANCHOR] + "GAAAAAAC" + seq[ANCHOR + 8:]
    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": seq})
    alt_hap = seq[:ANCHOR + 1] + "AA" + seq[ANCHOR + 1:]
    header = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6", "SO": "coordinate"},
                                              "SQ": [{"SN": "chr1", "LN": len(seq)}]})
    reads = [(f"span{k}", start, f"{ANCHOR + 1 - start}M2I{100 - (ANCHOR + 1 - start) - 2}M",
              alt_hap[start:start + 100]) for k, start in enumerate(spanning_starts)]
    reads += [(f"tie{k}", ANCHOR + into - 99, "100M", seq[ANCHOR + into - 99:ANCHOR + into + 1])
              for k, into in enumerate((3, 4))]
    reads.append(("ref", ANCHOR - 40, "100M", seq[ANCHOR - 40:ANCHOR + 60]))  # spans the run: shows the reference
    reads.sort(key=lambda r: r[1])
    return fasta, write_reads_bam(tmp_path / "reads.bam", header, reads, quality=40)


@pytest.mark.parametrize("ties_to_alternate", [False, True])
def test_a_read_fitting_both_haplotypes_takes_the_alternate_as_deepvariant_breaks_ties(tmp_path, rng,
                                                                                        ties_to_alternate):
    fasta_path, bam = _homopolymer_insertion_bam(tmp_path, rng, (1420, 1440, 1460))
    records, names = _filtered_reads(bam)
    with pysam.FastaFile(str(fasta_path)) as fasta:
        normaliser = IndelNormaliser(fasta.fetch, "chr1")
        result = realign(records, fasta.fetch, "chr1", normaliser,
                         RealignerConfig(ties_to_alternate=ties_to_alternate))
    key = normaliser.insertion(ANCHOR, "AA")
    after = dict(zip(names, _cigars(result.records)))
    tie0, tie1 = names.index("tie0"), names.index("tie1")
    if ties_to_alternate:
        # on the alternate haplotype the run's first two bases are the inserted ones, then the reference's run
        assert (after["tie0"], after["tie1"]) == ("97M2I1M", "96M2I2M")
        assert result.carried[tie0] == result.carried[tie1] == {key}
        assert result.records.ref_start[tie0] == ANCHOR + 3 - 99
    else:
        assert after["tie0"] == after["tie1"] == "100M"
        assert tie0 not in result.carried and tie1 not in result.carried
    assert all(after[f"span{k}"].endswith("M2I" + after[f"span{k}"].split("I")[1]) for k in range(3))


def test_reads_tied_to_an_allele_do_not_keep_it_from_being_pruned(tmp_path, rng):
    """Pruning counts the reads that fit an allele strictly better than the reference (the reads that spell it,
    as the graph's edge weights count them), not the reads a tie gives it."""
    fasta_path, bam = _homopolymer_insertion_bam(tmp_path, rng, (1440,))
    records, names = _filtered_reads(bam)
    with pysam.FastaFile(str(fasta_path)) as fasta:
        normaliser = IndelNormaliser(fasta.fetch, "chr1")
        config = RealignerConfig(ties_to_alternate=True, min_allele_reads=1, min_haplotype_reads=0)
        kept = realign(records, fasta.fetch, "chr1", normaliser, config)
        pruned = realign(records, fasta.fetch, "chr1", normaliser, replace(config, min_haplotype_reads=2))
    tie0 = names.index("tie0")
    assert kept.carried[tie0] == {normaliser.insertion(ANCHOR, "AA")}  # one spelling read: a haplotype
    assert tie0 not in pruned.carried and _cigars(pruned.records)[tie0] == "100M"  # pruned: the ties go too


def test_reads_that_cannot_tell_the_allele_from_the_reference_are_reported_and_drawn_apart(tmp_path, rng):
    fasta_path, bam = _homopolymer_insertion_bam(tmp_path, rng, (1420, 1440, 1460))
    records, names = _filtered_reads(bam)
    with pysam.FastaFile(str(fasta_path)) as fasta:
        normaliser = IndelNormaliser(fasta.fetch, "chr1")
        result = realign(records, fasta.fetch, "chr1", normaliser)
    key = normaliser.insertion(ANCHOR, "AA")
    assert {names[i] for i, alleles in result.uninformative.items() if key in alleles} == {"tie0", "tie1"}
    pixels = {}
    for value in (NOT_SUPPORTS, 203):
        config = ExamplesConfig(mode="calling", threads=1, pileup=PileupConfig(uninformative_support=value))
        data = make_examples(bam, fasta_path, tmp_path / f"ex{value}", ["chr1"], config).load()
        (at,) = [i for i, alt in enumerate(data.meta["alt"]) if alt.endswith("AA") and len(alt) == 3]
        column = data.images[at][5:, 110, 4]
        pixels[value] = sorted(column[column > 0].tolist())
    assert pixels[NOT_SUPPORTS] == [NOT_SUPPORTS] * 3 + [254] * 3  # DeepVariant's drawing: two ties look like "ref"
    assert pixels[203] == [NOT_SUPPORTS] + [203] * 2 + [254] * 3
