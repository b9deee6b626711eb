"""Insertions and deletions drawn as DeepVariant draws them (pileup_channel_lib.cc), on hand-made reads."""
import numpy as np
import pysam

from lowcov import bamraw
from lowcov.pileup import PileupConfig, draw
from lowcov.reads import CODE_OF_BYTE, ReadFilter, lay_out

from conftest import random_sequence, write_fasta, write_reads_bam


def _bam(tmp_path, seq):
    header = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6", "SO": "coordinate"},
                                              "SQ": [{"SN": "chr1", "LN": len(seq)}]})
    specs = [  # name, start, cigar, bases: an insertion after 109, a 3 bp deletion after 109, 5 clipped bases
        ("ins", 100, "10M2I10M", seq[100:110] + "TT" + seq[110:120]),
        ("del", 100, "10M3D10M", seq[100:110] + seq[113:123]),
        ("clip", 105, "5S15M", "ACGTA" + seq[105:120]),
    ]
    reads = []
    for name, start, cigar, bases in specs:
        quals = [30] * len(bases)
        if name == "ins":
            quals[10] = 12  # the first inserted base
        reads.append((name, start, cigar, bases, quals))
    return write_reads_bam(tmp_path / "indels.bam", header, reads)


def _images(tmp_path, rng, indel_drawing):
    seq = random_sequence(rng, 400)
    path = _bam(tmp_path, seq)
    records = bamraw.read_region(path, "chr1", 0, 400)
    reads = lay_out(records.subset(ReadFilter().accepts(records)), 0, 400)
    window_codes = CODE_OF_BYTE[np.frombuffer(seq.encode(), np.uint8)]
    config = PileupConfig(height=6, width=31, ref_rows=3, indel_drawing=indel_drawing)
    centre = 109  # the anchor of both indels; image columns are reference 94..124
    image = draw(config, centre, window_codes[94:125], reads, np.arange(3), np.zeros(3, bool), window_codes)
    return image[3:], seq  # the read rows: ins, del, clip


def test_indel_anchors_are_drawn_as_deepvariant_draws_them(tmp_path, rng):
    rows, _ = _images(tmp_path, rng, "deepvariant")
    anchor = 15  # column of reference 109
    ins, deletion, clip = rows
    # the anchor is the indel-anchoring character: no base colour, differs from the reference
    assert ins[anchor, 0] == 0 and ins[anchor, 5] == 254 and deletion[anchor, 0] == 0 and deletion[anchor, 5] == 254
    # the insertion's anchor shows the quality of its first inserted base, the deletion's its own
    assert ins[anchor, 1] == int(254 * 12 / 40) and deletion[anchor, 1] == int(254 * 30 / 40)
    # the deleted bases (reference 110-112) are blank in every channel; the read continues after them
    assert (deletion[anchor + 1:anchor + 4] == 0).all() and (deletion[anchor + 4, :6] > 0).all()
    # bases next to the anchor are ordinary matches
    assert ins[anchor - 1, 5] == 50 and ins[anchor + 1, 5] == 50
    # soft-clipped bases get no column (the read is drawn from reference 105 on)
    assert (clip[:11] == 0).all() and (clip[11, :6] > 0).all()


def test_the_earlier_drawing_stays_available(tmp_path, rng):
    rows, _ = _images(tmp_path, rng, "lowcov")
    ins, deletion, _ = rows
    assert ins[15, 0] == 0 and ins[15, 5] == 50  # anchor blanked in read_base only
    assert (deletion[16:19, 0] == 0).all() and (deletion[16:19, 5] == 254).all() and (deletion[16:19, 2] > 0).all()


def test_homopolymer_weighted_draws_each_base_s_run_length_in_the_whole_read(tmp_path, rng):
    """DeepVariant's optional homopolymer_weighted channel: a base's run in the read's sequence (a soft-clipped
    or inserted base lengthens a run it touches), 254 * min(run, 30) / 30 truncated; the reference rows count
    runs in the reference bases."""
    seq = random_sequence(rng, 400)
    seq = seq[:108] + "C" + "AAAA" + "G" + seq[114:]  # reference 109-112 are a run of four A
    header = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6", "SO": "coordinate"},
                                              "SQ": [{"SN": "chr1", "LN": len(seq)}]})
    reads = [("plain", 100, "20M", seq[100:120]),
             # two more A inserted into the run: the read's run is six long
             ("ins", 100, "10M2I10M", seq[100:110] + "AA" + seq[110:120])]
    path = write_reads_bam(tmp_path / "runs.bam", header, reads)
    records = bamraw.read_region(path, "chr1", 0, 400)
    laid = lay_out(records.subset(ReadFilter().accepts(records)), 0, 400)
    window_codes = CODE_OF_BYTE[np.frombuffer(seq.encode(), np.uint8)]
    channels = ("read_base", "homopolymer_weighted")
    config = PileupConfig(height=5, width=31, ref_rows=3, channels=channels)
    image = draw(config, 109, window_codes[94:125], laid, np.arange(2), np.zeros(2, bool), window_codes)
    run_columns = slice(15, 19)  # reference 109-112
    pixel = {n: int(254 * n / 30) for n in (1, 4, 6)}
    assert (image[:3, run_columns, 1] == pixel[4]).all()  # reference rows
    assert (image[3, run_columns, 1] == pixel[4]).all() and image[3, 14, 1] == pixel[1] == image[3, 19, 1]
    assert (image[4, run_columns, 1] == pixel[6]).all()
    assert image[3, 14, 0] > 0 and image.shape[2] == 2  # the channels drawn are the ones asked for
