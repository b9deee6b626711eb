"""Pileup images in DeepVariant's geometry and channel encoding.

An image is ``height`` rows x ``width`` columns x one channel per feature, centred on the candidate's
anchor base. The first ``ref_rows`` rows draw the reference; below them up to ``height - ref_rows``
reads that cover the anchor, in order of alignment start. Pixel values (max 254), per DeepVariant:

=====================  ==========================================================
read_base              A 250, G 180, T 100, C 30; N, deleted base, insertion anchor 0
base_quality           254 * min(q, 40) / 40
mapping_quality        254 * min(mq, 60) / 60
strand                 forward 70, reverse 240
read_supports_variant  254 if the read carries the candidate's alt allele, else 152 (see uninformative_support and
                       other_alt_support)
base_differs_from_ref  254 if the read's base differs from the reference, else 50
insert_size            254 * min(|TLEN|, 1000) / 1000, truncated (0 for a read without a mate)
homopolymer_weighted   254 * min(run, 30) / 30, truncated: run = length of the run of equal bases the base
                       belongs to in the read's whole sequence (an optional channel in DeepVariant, in lowcov's
                       default; reference rows: runs within the image's reference bases; deleted bases 0)
=====================  ==========================================================

Insertions and deletions: by default (``indel_drawing="lowcov"``) the base before an insertion is drawn
with read_base 0 and otherwise as the read's base (matching the reference), and deleted bases are drawn
with read_base 0, the lower quality of the flanking bases and base_differs_from_ref 254.
``indel_drawing="deepvariant"`` draws them as DeepVariant does (deepvariant/pileup_channel_lib.cc,
``CalculateBaseLevelData``): the read's base before an insertion or a deletion (the anchor) becomes the
indel-anchoring character ``*`` (read_base 0, base_differs_from_ref 254, base_quality of the first
inserted base for an insertion, of the anchor base itself for a deletion) and the deleted bases get no
pixel (0 in every channel). It needs a model trained on such images and is not the default until the
tune contig shows that it helps (issue 16). Soft-clipped bases are never drawn, in DeepVariant either (a
soft clip gets no column); the realigner (:mod:`lowcov.realigner`) is what turns clipped bases into
aligned ones.

The reference rows draw the reference base, quality 254, mapping quality 254, forward strand, "does not
support", "matches" and insert size 254. The first six channels are DeepVariant's ``BASE_CHANNELS``;
DeepVariant's WGS models since 1.4 add ``insert_size`` (``--channel_list BASE_CHANNELS,insert_size``,
deepvariant/channels/insert_size_channel.cc): :data:`WGS_CHANNELS`. lowcov's default adds DeepVariant's optional
``homopolymer_weighted`` (deepvariant/homopolymer_weighted_channel.cc), which DeepVariant's published WGS model
does not read: examples made for that model's network ask for :data:`WGS_CHANNELS`. Uncovered pixels (outside a
read, or in a splice gap) are 0 in every channel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .reads import LaidOutReads

#: DeepVariant's BASE_CHANNELS
BASE_CHANNELS = ("read_base", "base_quality", "mapping_quality", "strand", "read_supports_variant",
                 "base_differs_from_ref")
#: DeepVariant's WGS model's channels (``--channel_list BASE_CHANNELS,insert_size``), in its order
WGS_CHANNELS = BASE_CHANNELS + ("insert_size",)
#: lowcov's default: the WGS channels and DeepVariant's optional ``homopolymer_weighted`` (issue 16: with it the
#: original model tells a long run's stutter from a real indel; chr1 50 % INDEL F1 +0.019 [+0.008, +0.032])
DEFAULT_CHANNELS = WGS_CHANNELS + ("homopolymer_weighted",)
#: every channel lowcov draws: a PileupConfig's ``channels`` are a selection of these, in any order
DRAWABLE_CHANNELS = DEFAULT_CHANNELS
#: position of homopolymer_weighted among the channels _draw computes
_HOMOPOLYMER_CHANNEL = DRAWABLE_CHANNELS.index("homopolymer_weighted")
#: DeepVariant's homopolymer_weighted cap (kMaxHomopolymerWeighted): runs this long or longer are drawn 254
MAX_HOMOPOLYMER_WEIGHTED = 30
#: DeepVariant's fragment-length cap for the insert_size channel (kMaxFragmentLength)
MAX_FRAGMENT_LENGTH = 1000

#: base code (0 none, 1-4 ACGT, 5 N, 6 deleted) -> read_base pixel
BASE_PIXEL = np.array([0, 250, 30, 180, 100, 0, 0], dtype=np.uint8)
QUALITY_PIXEL = (254 * np.minimum(np.arange(256), 40) / 40).astype(np.uint8)
STRAND_PIXEL = {False: 70, True: 240}
SUPPORTS, NOT_SUPPORTS = 254, 152
#: DeepVariant's read_supports_variant pixel, with ``--add_supporting_other_alt_color``, of a read that carries
#: another alt allele of the candidate's site (other_allele_supporting_read_alpha 0.3 instead of 0.6)
OTHER_ALT_SUPPORTS = int(254 * 0.3)
DIFFERS, MATCHES = 254, 50
INDEL_DRAWINGS = ("deepvariant", "lowcov")


@dataclass(frozen=True)
class PileupConfig:
    height: int = 100
    width: int = 221
    ref_rows: int = 5
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    #: "lowcov" or "deepvariant" (the anchor drawn as ``*``, deleted bases blank): see the module docstring
    indel_drawing: str = "lowcov"
    #: read_supports_variant pixel of a read that fits the candidate's indel allele exactly as well as the
    #: reference (it ends before the two can be told apart, e.g. inside a repeat the allele lengthens), as the
    #: realigner finds it. DeepVariant draws such a read as not supporting (152, the default); another value
    #: (lowcov's option, not DeepVariant's) lets the network tell it from a read that shows the reference.
    uninformative_support: int = NOT_SUPPORTS
    #: read_supports_variant pixel of a read that carries another alt allele found at the candidate's site (the
    #: second alt of a 1/2 site). DeepVariant draws it as not supporting (152) unless make_examples runs with
    #: ``--add_supporting_other_alt_color`` (:data:`OTHER_ALT_SUPPORTS`, 76; deepvariant/pileup_channel_lib.h,
    #: ``ReadSupportsAlt`` returns 2 for such a read). With 152, a 1/2 site's image for one alt shows no
    #: reference read and a third base in the other reads, labelled het, which is also what a hom-alt site with
    #: one sequencing error looks like at low coverage.
    other_alt_support: int = NOT_SUPPORTS

    def __post_init__(self):
        if self.indel_drawing not in INDEL_DRAWINGS:
            raise ValueError(f"indel_drawing must be one of {INDEL_DRAWINGS}, got {self.indel_drawing!r}")
        unknown = set(self.channels) - set(DRAWABLE_CHANNELS)
        if unknown:
            raise ValueError(f"unknown pileup channel(s) {sorted(unknown)}; available: {DRAWABLE_CHANNELS}")
        for name in ("uninformative_support", "other_alt_support"):
            if not 0 < getattr(self, name) <= 254:
                raise ValueError(f"{name} must be a pixel value in 1-254, got {getattr(self, name)}")
        if self.width % 2 == 0:
            raise ValueError(f"pileup width must be odd so the candidate sits in the centre column, got {self.width}")

    @property
    def half_width(self) -> int:
        return self.width // 2

    @property
    def max_reads(self) -> int:
        return self.height - self.ref_rows


#: pixel values of the reference rows, per channel in DRAWABLE_CHANNELS order (read_base and homopolymer_weighted:
#: from the reference bases)
_REFERENCE_ROW_VALUES = np.array([0, 254, 254, STRAND_PIXEL[False], NOT_SUPPORTS, MATCHES, 254, 0], dtype=np.uint8)
#: run length -> homopolymer_weighted pixel, as DeepVariant scales it (254 * min(run, 30) / 30, truncated)
HOMOPOLYMER_PIXEL = (254.0 * (np.minimum(np.arange(256), MAX_HOMOPOLYMER_WEIGHTED).astype(np.float32)
                              / np.float32(MAX_HOMOPOLYMER_WEIGHTED))).astype(np.uint8)


def parse_channel_list(text: str) -> tuple[str, ...]:
    """DeepVariant's ``--channel_list``: comma-separated channel names, ``BASE_CHANNELS`` standing for the six
    base channels (``BASE_CHANNELS,insert_size`` is its WGS model's list)."""
    names: list[str] = []
    for token in (t.strip() for t in text.split(",")):
        names.extend(BASE_CHANNELS if token == "BASE_CHANNELS" else [token] if token else [])
    unknown = [n for n in names if n not in DRAWABLE_CHANNELS]
    if unknown or not names or len(set(names)) != len(names):
        problem = f"unknown channel(s) {unknown}" if unknown else "empty or repeated channels"
        raise ValueError(f"--channel_list {text!r}: {problem}; lowcov draws BASE_CHANNELS and "
                         f"{list(DRAWABLE_CHANNELS[len(BASE_CHANNELS):])}")
    return tuple(names)


def reference_runs(ref_cols: np.ndarray) -> np.ndarray:
    """For each of an image's reference columns, the length of the run of equal bases it belongs to within the
    image (DeepVariant computes the reference row's homopolymer_weighted over the image's reference bases); 0
    past the contig ends."""
    starts = np.flatnonzero(np.diff(ref_cols, prepend=np.int16(-1)))  # where each run begins
    lengths = np.diff(np.append(starts, len(ref_cols)))
    return np.where(ref_cols != 0, np.repeat(lengths, lengths), 0)


def insert_size_pixels(fragment_length: np.ndarray) -> np.ndarray:
    """The insert_size pixel of reads with these |TLEN| values (DeepVariant's normalizeFragmentLength)."""
    capped = np.minimum(np.abs(np.asarray(fragment_length, np.int64)), MAX_FRAGMENT_LENGTH)
    return (254.0 * (capped.astype(np.float32) / np.float32(MAX_FRAGMENT_LENGTH))).astype(np.uint8)


def channel_slots(config: PileupConfig) -> np.ndarray:
    """For each of DRAWABLE_CHANNELS, its position in ``config.channels`` (-1 when not drawn)."""
    return np.array([config.channels.index(name) if name in config.channels else -1 for name in DRAWABLE_CHANNELS],
                    dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _draw(image, ref_rows, slots, first, ref_cols, ref_run_pixels, rows, support_pixels, lo, hi, offset, codes, quals,
          runs, mapq, reverse, insert_pixel, ins_first, ins_count, ins_anchor, ins_quality, del_first, del_count, del_anchor,
          deepvariant_indels, window_codes, window_start, base_pixel, quality_pixel, homopolymer_pixel,
          reference_values):
    width = image.shape[1]
    n_channels = len(slots)
    values = np.zeros(n_channels, np.uint8)
    for col in range(width):
        code = ref_cols[col]
        if code == 0:
            continue
        for row in range(ref_rows):
            for channel in range(n_channels):
                if slots[channel] >= 0:
                    if channel == 0:
                        value = base_pixel[code]
                    elif channel == _HOMOPOLYMER_CHANNEL:
                        value = ref_run_pixels[col]
                    else:
                        value = reference_values[channel]
                    image[row, col, slots[channel]] = value
    for k in range(len(rows)):
        i = rows[k]
        row = ref_rows + k
        start, stop = max(lo[i], first), min(hi[i], first + width)
        mapq_value = np.uint8(254 * min(mapq[i], 60) // 60)
        strand_value = np.uint8(240 if reverse[i] else 70)
        support_value = support_pixels[k]
        for pos in range(start, stop):
            col = pos - first
            code = codes[offset[i] + pos - lo[i]]
            if deepvariant_indels and code == 6:
                continue  # DeepVariant gives deleted bases no pixel
            covered = code != 0
            base = base_pixel[code]
            quality = quals[offset[i] + pos - lo[i]]
            differs = covered and (code != window_codes[pos - window_start] or code == 6)
            for e in range(ins_first[i], ins_first[i] + ins_count[i]):
                if ins_anchor[e] == pos:  # an insertion follows this base
                    base = 0
                    if deepvariant_indels:
                        quality = ins_quality[e]
                        differs = True
            if deepvariant_indels:
                for e in range(del_first[i], del_first[i] + del_count[i]):
                    if del_anchor[e] == pos:  # a deletion follows this base
                        base = 0
                        differs = True
            values[0] = base
            values[1] = quality_pixel[quality]
            values[2] = mapq_value if covered else 0
            values[3] = strand_value if covered else 0
            values[4] = support_value if covered else 0
            values[5] = (254 if differs else 50) if covered else 0
            values[6] = insert_pixel[i] if covered else 0
            values[_HOMOPOLYMER_CHANNEL] = homopolymer_pixel[runs[offset[i] + pos - lo[i]]] if covered else 0
            for channel in range(n_channels):
                if slots[channel] >= 0:
                    image[row, col, slots[channel]] = values[channel]


def draw(config: PileupConfig, centre: int, ref_cols: np.ndarray, reads: LaidOutReads, rows: np.ndarray,
         supports: np.ndarray, window_codes: np.ndarray, uninformative: np.ndarray | None = None,
         other_alt: np.ndarray | None = None) -> np.ndarray:
    """The image centred on reference position ``centre``. ``ref_cols`` are the reference's base codes
    for the image's columns (``centre - half_width`` ...; 0 past the contig ends); ``rows`` the indices
    of the reads to draw, in row order, ``supports`` whether each carries the candidate's allele,
    ``uninformative`` (optional) whether it fits the allele and the reference equally well (drawn with
    ``config.uninformative_support`` unless it supports) and ``other_alt`` (optional) whether it carries
    another alt allele of the site (drawn with ``config.other_alt_support`` unless it supports);
    ``window_codes`` the reference's codes from ``reads.window_start``."""
    support_pixels = np.full(len(rows), NOT_SUPPORTS, np.uint8)
    if uninformative is not None:
        support_pixels[np.asarray(uninformative, np.bool_)] = config.uninformative_support
    if other_alt is not None:
        support_pixels[np.asarray(other_alt, np.bool_)] = config.other_alt_support
    support_pixels[np.asarray(supports, np.bool_)] = SUPPORTS
    image = np.zeros((config.height, config.width, len(config.channels)), dtype=np.uint8)
    ins_first, ins_count = _events_per_read(reads.ins_read, len(reads))
    del_first, del_count = _events_per_read(reads.del_read, len(reads))
    _draw(image, config.ref_rows, channel_slots(config), centre - config.half_width, ref_cols,
          HOMOPOLYMER_PIXEL[reference_runs(ref_cols)], np.asarray(rows, np.int64), support_pixels, reads.lo, reads.hi,
          reads.offset, reads.codes, reads.quals, reads.runs, reads.mapq, reads.reverse,
          insert_size_pixels(reads.fragment_length), ins_first, ins_count,
          reads.ins_anchor, reads.ins_quality, del_first, del_count, reads.del_anchor,
          config.indel_drawing == "deepvariant", window_codes,
          reads.window_start, BASE_PIXEL, QUALITY_PIXEL, HOMOPOLYMER_PIXEL, _REFERENCE_ROW_VALUES)
    return image


def _events_per_read(event_read: np.ndarray, n_reads: int) -> tuple[np.ndarray, np.ndarray]:
    """First event and number of events of each read (events are listed in read order)."""
    count = np.bincount(event_read, minlength=n_reads).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64) if len(count) else count
    return first, count
