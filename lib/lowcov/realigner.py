"""Local realignment of reads around indels, in the manner of DeepVariant's realigner.

DeepVariant (deepvariant/realigner/) realigns short reads by default before it counts alleles and draws
pileups: a window selector marks windows with indel or soft-clip evidence (each expanded by
``ws_region_expansion_in_bp`` = 20 bp, windows closer than ``ws_min_windows_distance`` = 80 bp merged, none
longer than ``ws_max_window_size`` = 1000 bp); in each window candidate haplotypes are assembled (a de
Bruijn graph whose edges need ``dbg_min_edge_weight`` = 2 reads); every read overlapping the window is
aligned to the haplotypes, soft-clipped bases included, and takes the alignment to its best haplotype
projected back onto the reference. A read whose insertion sits near its end, which the mapper clipped,
then carries the insertion like the reads that span it.

lowcov does the same with two simplifications, chosen for speed on a CPU:

* the haplotypes are the reference and the reference with each indel allele the reads carry (normalised
  with :mod:`lowcov.normalize`), one allele per haplotype, for alleles seen in at least
  ``min_allele_reads`` reads counting the reads soft-clipped within a few bases of the allele (the
  clipped reads give the graph its edges in DeepVariant too); no graph is assembled, so an allele that
  no read spells out in its CIGAR is not found;
* a read is aligned to a haplotype without gaps (DeepVariant's fast pass aligner also first places reads
  on haplotypes without gaps, allowing ``max_num_mismatches``), at the two offsets its own alignment
  implies (anchored at its first or at its last base, soft-clipped bases included), and scored as the
  best local alignment of that placement with DeepVariant's ``aln_match`` +4 and ``aln_mismatch`` -6:
  bases outside the best-scoring stretch are soft-clipped, as a Smith-Waterman alignment clips them. A
  read whose CIGAR holds an indel outside the window keeps its alignment.

An alternate haplotype that fewer than ``min_haplotype_reads`` (2) reads fit strictly better than the reference
is dropped and the window's reads are placed again: DeepVariant's graph drops edges spelled by fewer than
``dbg_min_edge_weight`` = 2 reads (deepvariant/realigner/debruijn_graph.cc, ``DeBruijnGraph::Prune``), so an
allele that only one read's sequencing error spells, next to a real indel, is no haplotype there, and that read
is aligned to the real allele's haplotype. Without it (``min_haplotype_reads=0``, lowcov's rule before issue 16's
read-level analysis), such an allele is a haplotype as soon as a soft-clipped read lies nearby, and the read keeps
its own allele, which does not support the real one (chr10:5846). Measured (original model retrained each time, one
training seed, 50 % INDEL F1 paired against ``min_haplotype_reads=0``): demo chr10 +0.0066 [-0.0057, +0.0202], demo
chr1 +0.0087 [+0.0001, +0.0169]; it became the default.

Haplotype 0 is the reference. By default it wins ties, so a read moves to an alternate haplotype only
when that scores strictly better; with ``ties_to_alternate`` a read that fits an alternate haplotype as well
as the reference takes the alternate, as DeepVariant's ``FastPassAligner::GetBestReadAlignment``
(deepvariant/realigner/fast_pass_aligner.cc) prefers a non-reference haplotype on equal scores. Such a read
ends inside a repeat the allele lengthens or shortens; on the alternate haplotype, whose allele sits at its
left-normalised place, it carries the allele. Pruning (``min_haplotype_reads``) counts only the reads an
allele fits strictly better than the reference: a read that fits both spells no edge of its own.

A read whose best alignment differs from the mapper's (another haplotype, clipped bases that now align, a
mismatching end now clipped) is written as a new BAM record (position and CIGAR changed, everything else
kept), so the rest of make_examples reads it as it reads the mapper's. Realigned reads that reach into an
alternate haplotype's allele are reported as carrying it, also when they end inside an insertion (their CIGAR
then ends in ``I``).

Cost (``benchmarks/benchmark_examples.py --region chr2 [--no-realign]``, one worker on an idle 2-core machine,
training mode, measured again after pruning and the homopolymer channel): 9.0 s of worker time for 2,366
examples with realignment, 7.6 s for 2,340 without, about 0.6 ms per example; 262 against 306 examples/s per
busy core inside the worker. End to end, once the shuffle moved deflated pieces (lowcov.shards.PackedImages),
198 against 251 examples/s (12.0 s against 9.3 s; the code digest, the compiled kernels' load and the shuffle
are the rest of the time).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numba
import numpy as np

from . import bamraw
from .candidates import IndelNormaliser
from .reads import CODE_OF_BYTE, CODE_OF_NIBBLE


@dataclass(frozen=True)
class RealignerConfig:
    """DeepVariant's window-selector and aligner settings where lowcov has the same concept."""

    enabled: bool = True
    #: reads carrying an allele (soft-clipped reads nearby included) for it to become a haplotype
    min_allele_reads: int = 2
    #: DeepVariant's ws_region_expansion_in_bp, ws_min_windows_distance, ws_max_window_size
    region_expansion: int = 20
    min_windows_distance: int = 80
    max_window_size: int = 1000
    #: a soft clip starting this close to an allele's anchor counts as evidence for it
    soft_clip_distance: int = 5
    #: an alternate haplotype that fewer reads than this fit strictly better than the reference is dropped and
    #: its reads placed again on the others (0: never dropped); lowcov's stand-in for DeepVariant pruning graph
    #: edges that fewer than ``dbg_min_edge_weight`` = 2 reads spell, which keeps a read's own sequencing error
    #: from becoming its haplotype
    min_haplotype_reads: int = 2
    #: a read that fits an alternate haplotype as well as the reference takes the alternate, as DeepVariant's
    #: FastPassAligner::GetBestReadAlignment gives equal scores to a non-reference haplotype (False: to the
    #: reference, lowcov's rule before issue 16's tie analysis)
    ties_to_alternate: bool = False
    #: DeepVariant's aln_match and aln_mismatch scores
    match: int = 4
    mismatch: int = 6
    max_indel_length: int = 100


@numba.njit(cache=True, nogil=True)
def _read_facts(buf, offsets, ref_start):
    """Per record: unclipped start and end on the reference, leading and trailing soft-clip lengths,
    whether the CIGAR has a splice (N), and its indels as (record, kind 1=I/2=D, anchor, length, query
    offset) rows."""
    n = len(offsets)
    unclipped_start = np.empty(n, np.int64)
    unclipped_end = np.empty(n, np.int64)
    lead = np.zeros(n, np.int64)
    trail = np.zeros(n, np.int64)
    spliced = np.zeros(n, np.bool_)
    n_events = 0
    for i in range(n):
        c = bamraw.cigar_offset(buf, offsets[i])
        for k in range(bamraw.u16(buf, offsets[i] + bamraw.N_CIGAR)):
            op = bamraw.u32(buf, c + 4 * k) & 0xF
            if op == 1 or op == 2:
                n_events += 1
    events = np.empty((n_events, 5), np.int64)
    e = 0
    for i in range(n):
        at = offsets[i]
        c = bamraw.cigar_offset(buf, at)
        n_cigar = bamraw.u16(buf, at + bamraw.N_CIGAR)
        r = ref_start[i]
        q = 0
        for k in range(n_cigar):
            value = bamraw.u32(buf, c + 4 * k)
            op, length = value & 0xF, value >> 4
            if op == 4:
                if k == 0 or (k == 1 and (bamraw.u32(buf, c) & 0xF) == 5):
                    lead[i] = length
                else:
                    trail[i] = length
                q += length
            elif op == 0 or op == 7 or op == 8:
                r += length
                q += length
            elif op == 1:
                events[e, 0], events[e, 1], events[e, 2], events[e, 3], events[e, 4] = i, 1, r - 1, length, q
                e += 1
                q += length
            elif op == 2:
                events[e, 0], events[e, 1], events[e, 2], events[e, 3], events[e, 4] = i, 2, r - 1, length, q
                e += 1
                r += length
            elif op == 3:
                spliced[i] = True
                r += length
        unclipped_start[i] = ref_start[i] - lead[i]
        unclipped_end[i] = r + trail[i]
    return unclipped_start, unclipped_end, lead, trail, spliced, events


@numba.njit(cache=True, nogil=True)
def _read_codes(buf, at, code_of_nibble, missing_quality):
    seq_length = bamraw.i32(buf, at + bamraw.L_SEQ)
    c = bamraw.cigar_offset(buf, at)
    seq = c + 4 * bamraw.u16(buf, at + bamraw.N_CIGAR)
    qual = seq + (seq_length + 1) // 2
    codes = np.empty(seq_length, np.uint8)
    quals = np.empty(seq_length, np.int64)
    has_quality = seq_length > 0 and buf[qual] != 0xFF
    for j in range(seq_length):
        byte = np.int64(buf[seq + j // 2])
        codes[j] = code_of_nibble[byte >> 4 if j % 2 == 0 else byte & 0xF]
        quals[j] = buf[qual + j] if has_quality else missing_quality
    return codes, quals


@numba.njit(cache=True, nogil=True)
def _placement_score(codes, hap, offset, match, mismatch):
    """The best local alignment of the read placed without gaps at ``offset`` on ``hap``: (score, first,
    end) of the highest-scoring stretch of read bases (matches +``match``, mismatches -``mismatch``, N 0);
    the bases outside it would be soft-clipped, as a local (Smith-Waterman) alignment clips them.
    Score -1 when the read does not fit inside the haplotype."""
    n = len(codes)
    if offset < 0 or offset + n > len(hap):
        return -1, 0, 0
    best, best_first, best_end = 0, 0, 0
    running, first = 0, 0
    for j in range(n):
        base, target = codes[j], hap[offset + j]
        if base > 4 or target > 4:
            step = 0
        elif base == target:
            step = match
        else:
            step = -mismatch
        if running <= 0:
            running, first = 0, j
        running += step
        if running > best:
            best, best_first, best_end = running, first, j + 1
    return best, best_first, best_end


@numba.njit(cache=True, nogil=True)
def _best_placements(buf, offsets, reads, unclipped_start, unclipped_end, hap_codes, hap_first, hap_anchor,
                     hap_delta, hap_start, code_of_nibble, missing_quality, match, mismatch, ties_to_alternate):
    """For each read (indices into ``offsets``): the haplotype with the best local ungapped alignment (-1:
    none fits), the read's offset on it, the aligned stretch [first, end) of the read, and each haplotype's
    best score for the read (0 where it does not fit). Haplotype 0 is the reference and is tried first; an
    alternate haplotype scoring as well as the best so far wins when ``ties_to_alternate`` (DeepVariant's rule;
    the last such haplotype, as its loop keeps it), otherwise only when strictly better.
    ``hap_anchor``/``hap_delta``: each allele's anchor (reference position) and length change; positions
    after the anchor move by ``delta`` on the haplotype."""
    n_haps = len(hap_anchor)
    best_hap = np.full(len(reads), -1, np.int64)
    best_offset = np.zeros(len(reads), np.int64)
    best_first = np.zeros(len(reads), np.int64)
    best_end = np.zeros(len(reads), np.int64)
    hap_scores = np.zeros((len(reads), n_haps), np.int64)
    for k in range(len(reads)):
        i = reads[k]
        codes, _ = _read_codes(buf, offsets[i], code_of_nibble, missing_quality)
        n = len(codes)
        chosen, chosen_score = -1, 0
        for h in range(n_haps):
            hap = hap_codes[hap_first[h]:hap_first[h + 1]]
            for side in range(2):
                if side == 0:
                    position = unclipped_start[i]
                    mapped = position - hap_start + (hap_delta[h] if position > hap_anchor[h] else 0)
                else:
                    position = unclipped_end[i] - 1
                    mapped = position - hap_start + (hap_delta[h] if position > hap_anchor[h] else 0) - (n - 1)
                score, first, end = _placement_score(codes, hap, mapped, match, mismatch)
                if score > hap_scores[k, h]:
                    hap_scores[k, h] = score
                tie_won = ties_to_alternate and h > 0 and h != chosen and score == chosen_score
                if score > 0 and (chosen < 0 or score > chosen_score or tie_won):
                    chosen, chosen_score = h, score
                    best_hap[k], best_offset[k], best_first[k], best_end[k] = h, mapped, first, end
    return best_hap, best_offset, best_first, best_end, hap_scores


@dataclass(frozen=True)
class Allele:
    """An indel allele as a haplotype edit: after reference base ``anchor``, insert ``inserted`` or
    delete ``deleted`` bases; ``key`` is its normalised (pos, ref, alt)."""

    anchor: int
    inserted: str
    deleted: int
    key: tuple[int, str, str]

    @property
    def delta(self) -> int:
        return len(self.inserted) - self.deleted


def windows_of(anchors: np.ndarray, config: RealignerConfig) -> list[tuple[int, int]]:
    """Windows around sorted allele anchors: each expanded, close ones merged, long ones dropped."""
    windows: list[list[int]] = []
    for anchor in anchors:
        start, end = int(anchor) - config.region_expansion, int(anchor) + 1 + config.region_expansion
        if windows and start - windows[-1][1] < config.min_windows_distance:
            windows[-1][1] = max(windows[-1][1], end)
        else:
            windows.append([start, end])
    return [(s, e) for s, e in windows if e - s <= config.max_window_size]


def _cigar_on_haplotype(allele: Allele | None, hap_start: int, offset: int, n: int) -> tuple[int, list[tuple[int, int]]]:
    """(reference position, CIGAR) of a read placed without gaps at ``offset`` on the haplotype."""
    if allele is None:
        return hap_start + offset, [(bamraw.CIGAR_M, n)]
    first, last = offset, offset + n  # haplotype indices [first, last)
    edge = allele.anchor - hap_start + 1  # haplotype index of the first base after the anchor
    ops: list[tuple[int, int]] = []
    if allele.inserted:
        ins_end = edge + len(allele.inserted)
        before = max(0, min(last, edge) - first)
        inside = max(0, min(last, ins_end) - max(first, edge))
        after = max(0, last - max(first, ins_end))
        if before:
            position = hap_start + first
        elif inside:
            position = allele.anchor + 1
        else:
            position = hap_start + first - len(allele.inserted)
        for op, length in ((bamraw.CIGAR_M, before), (bamraw.CIGAR_I, inside), (bamraw.CIGAR_M, after)):
            if length:
                ops.append((op, length))
        if ops[0][0] == bamraw.CIGAR_I:
            ops[0] = (bamraw.CIGAR_S, ops[0][1])  # a read cannot start with an insertion
        return position, ops
    before = max(0, min(last, edge) - first)
    after = n - before
    position = hap_start + first if before else hap_start + first + allele.deleted
    if before and after:
        ops = [(bamraw.CIGAR_M, before), (bamraw.CIGAR_D, allele.deleted), (bamraw.CIGAR_M, after)]
    else:
        ops = [(bamraw.CIGAR_M, n)]
    return position, ops


def _clipped(lead: int, cigar: list[tuple[int, int]], trail: int) -> list[tuple[int, int]]:
    """``cigar`` with ``lead``/``trail`` soft-clipped bases added at its ends (merged with clips there)."""
    ops = ([(bamraw.CIGAR_S, lead)] if lead else []) + cigar + ([(bamraw.CIGAR_S, trail)] if trail else [])
    merged: list[tuple[int, int]] = []
    for op, length in ops:
        if merged and merged[-1][0] == op == bamraw.CIGAR_S:
            merged[-1] = (op, merged[-1][1] + length)
        else:
            merged.append((op, length))
    return merged


def _rewrite(buf: np.ndarray, at: int, position: int, cigar: list[tuple[int, int]]) -> bytes:
    """A record's bytes with a new position and CIGAR (and its bin left as it was: nothing here reads it)."""
    size = int(bamraw.record_size(buf, at))
    record = buf[at:at + size].tobytes()
    name_end = bamraw.READ_NAME + record[bamraw.L_READ_NAME]
    n_cigar = record[bamraw.N_CIGAR] | record[bamraw.N_CIGAR + 1] << 8
    cigar_bytes = struct.pack(f"<{len(cigar)}I", *[length << 4 | op for op, length in cigar])
    head = bytearray(record[:name_end])
    struct.pack_into("<i", head, bamraw.POS, position)
    struct.pack_into("<H", head, bamraw.N_CIGAR, len(cigar))
    body = bytes(head[4:]) + cigar_bytes + record[name_end + 4 * n_cigar:]
    return struct.pack("<i", len(body)) + body


def _place_on_haplotypes(records: bamraw.RecordTable, reads: np.ndarray, unclipped_start: np.ndarray,
                         unclipped_end: np.ndarray, reference: str, hap_start: int, alleles: list[Allele],
                         missing_quality: int, config: RealignerConfig):
    """:func:`_best_placements` of ``reads`` on the reference (``reference`` from ``hap_start``) and on it with
    each of ``alleles`` (haplotype ``k + 1`` carries ``alleles[k]``)."""
    haplotypes = [reference]
    for allele in alleles:
        edge = allele.anchor - hap_start + 1
        haplotypes.append(reference[:edge] + allele.inserted + reference[edge + allele.deleted:])
    hap_codes = np.concatenate([CODE_OF_BYTE[np.frombuffer(h.encode(), np.uint8)] for h in haplotypes])
    hap_first = np.concatenate([[0], np.cumsum([len(h) for h in haplotypes])]).astype(np.int64)
    anchors = np.array([1 << 60] + [a.anchor for a in alleles], np.int64)
    deltas = np.array([0] + [a.delta for a in alleles], np.int64)
    return _best_placements(records.buf, records.offsets, reads, unclipped_start, unclipped_end, hap_codes,
                            hap_first, anchors, deltas, hap_start, CODE_OF_NIBBLE, missing_quality, config.match,
                            config.mismatch, config.ties_to_alternate)


@dataclass
class Realignment:
    """What :func:`realign` did: the records (realigned ones rewritten) and, for each realigned record that
    reaches into an alternate haplotype's allele or was moved to the reference, the alleles it carries."""

    records: bamraw.RecordTable
    carried: dict[int, set[tuple[int, str, str]]]
    windows: int
    realigned: int
    #: per record covering an allele's anchor, the alleles whose haplotype it fits exactly as well as the
    #: reference (its bases cannot tell the two apart)
    uninformative: dict[int, set[tuple[int, str, str]]] = field(default_factory=dict)


def _alleles_in_reads(records: bamraw.RecordTable, events: np.ndarray, normaliser: IndelNormaliser,
                      config: RealignerConfig) -> dict[tuple, list]:
    """Normalised indel alleles of the reads -> [Allele, indices of the reads carrying it]."""
    found: dict[tuple, list] = {}
    for i, kind, anchor, length, q in events:
        if length > config.max_indel_length or anchor < 0:
            continue
        if kind == 1:
            inserted = _query_bases(records.buf, int(records.offsets[i]), int(q), int(length))
            if "N" in inserted:
                continue
            key = normaliser.insertion(int(anchor), inserted)
        else:
            key = normaliser.deletion(int(anchor), int(length))
        if key not in found:
            pos, ref, alt = key
            allele = Allele(pos - 1, alt[1:] if len(alt) > len(ref) else "", max(0, len(ref) - len(alt)), key)
            found[key] = [allele, set()]
        found[key][1].add(int(i))
    return found


def _query_bases(buf: np.ndarray, at: int, start: int, length: int) -> str:
    codes, _ = _read_codes(buf, at, CODE_OF_NIBBLE, 30)
    return "".join("NACGTN"[min(c, 5)] for c in codes[start:start + length])


def realign(records: bamraw.RecordTable, fetch, contig: str, normaliser: IndelNormaliser,
            config: RealignerConfig = RealignerConfig(), span: tuple[int, int] | None = None,
            missing_quality: int = 30) -> Realignment:
    """Realign ``records`` (one partition's reads) in the windows around the indel alleles they carry.
    ``fetch(contig, start, end)`` gives reference bases; a new alignment that would leave ``span`` (the
    reference interval the caller lays reads out on) is not taken."""
    if not len(records):
        return Realignment(records, {}, 0, 0)
    unclipped_start, unclipped_end, lead, trail, spliced, events = _read_facts(records.buf, records.offsets,
                                                                               records.ref_start)
    if not len(events):
        return Realignment(records, {}, 0, 0)
    found = _alleles_in_reads(records, events, normaliser, config)
    clip_points = np.sort(np.concatenate([records.ref_start[lead > 0], records.ref_end[trail > 0] - 1]))
    alleles = []
    for allele, carriers in found.values():
        near = np.searchsorted(clip_points, allele.anchor + config.soft_clip_distance + 1) - \
            np.searchsorted(clip_points, allele.anchor - config.soft_clip_distance)
        if len(carriers) + int(near) >= config.min_allele_reads:
            alleles.append(allele)
    if not alleles:
        return Realignment(records, {}, 0, 0)
    alleles.sort(key=lambda a: (a.anchor, a.key))
    windows = windows_of(np.array([a.anchor for a in alleles]), config)
    read_length = int(records.seq_length.max())
    changed: dict[int, bytes] = {}
    new_start: dict[int, int] = {}
    new_end: dict[int, int] = {}
    carried: dict[int, set] = {}
    uninformative: dict[int, set] = {}
    own_events: dict[int, set] = {}
    for i, kind, anchor, length, _ in events.tolist():
        own_events.setdefault(i, set()).add((kind, anchor, length))
    for w_start, w_end in windows:
        in_window = [a for a in alleles if w_start <= a.anchor < w_end]
        if not in_window:
            continue
        # reads overlapping the window whose indels, if any, all lie inside it
        overlapping = np.flatnonzero((unclipped_start < w_end) & (unclipped_end > w_start) & ~spliced)
        outside = events[(events[:, 2] < w_start) | (events[:, 2] >= w_end), 0]
        reads = np.setdiff1d(overlapping, np.concatenate([outside, np.fromiter(changed, np.int64, len(changed))]))
        if not len(reads):
            continue
        margin = read_length + max(config.max_indel_length, max(abs(a.delta) for a in in_window)) + 10
        hap_start = max(0, w_start - margin)
        reference = fetch(contig, hap_start, w_end + margin).upper()
        while True:
            best_hap, best_offset, best_first, best_end, hap_scores = _place_on_haplotypes(
                records, reads, unclipped_start, unclipped_end, reference, hap_start, in_window, missing_quality,
                config)
            # a haplotype's support: the reads it fits strictly better than the reference (a read that fits both
            # equally spells no edge of the allele in DeepVariant's graph, whichever haplotype the tie gives it to)
            above_reference = hap_scores[np.arange(len(reads)), np.maximum(best_hap, 0)] > hap_scores[:, 0]
            spelled = best_hap[(best_hap > 0) & above_reference]
            wins = np.bincount(spelled, minlength=len(in_window) + 1)[1:]
            weak = wins < config.min_haplotype_reads
            if not weak.any():
                break
            in_window = [a for a, drop in zip(in_window, weak) if not drop]
            if not in_window:
                break
        if not in_window:
            continue  # the reference alone is left: DeepVariant leaves such a window's reads as the mapper placed them
        for h, allele in enumerate(in_window, start=1):
            covering = (unclipped_start[reads] <= allele.anchor) & (unclipped_end[reads] > allele.anchor)
            tied = covering & (hap_scores[:, 0] > 0) & (hap_scores[:, h] == hap_scores[:, 0])
            for i in reads[tied].tolist():
                uninformative.setdefault(int(i), set()).add(allele.key)
        for k, i in enumerate(reads.tolist()):
            h = int(best_hap[k])
            if h < 0:
                continue  # no haplotype fits: the mapper's alignment stays
            n = int(records.seq_length[i])
            first, end = int(best_first[k]), int(best_end[k])
            offset = int(best_offset[k])
            if (h == 0 and i not in own_events and first == lead[i] and n - end == trail[i]
                    and offset + first == records.ref_start[i] - hap_start):
                continue  # already aligned so
            allele = in_window[h - 1] if h > 0 else None
            position, cigar = _cigar_on_haplotype(allele, hap_start, offset + first, end - first)
            cigar = _clipped(first, cigar, n - end)
            if all(op != bamraw.CIGAR_M for op, _ in cigar):
                continue  # the read lies inside an insertion: no reference base to place it on
            new_events = set()
            at = position
            for op, length in cigar:
                if op in (bamraw.CIGAR_I, bamraw.CIGAR_D):
                    new_events.add((1 if op == bamraw.CIGAR_I else 2, at - 1, length))
                if op in (bamraw.CIGAR_M, bamraw.CIGAR_D):
                    at += length
            if (new_events == own_events.get(i, set()) and position == records.ref_start[i]
                    and cigar[0][1] * (cigar[0][0] == bamraw.CIGAR_S) == lead[i]
                    and cigar[-1][1] * (cigar[-1][0] == bamraw.CIGAR_S) == trail[i]):
                continue  # the mapper's alignment already is this one
            if span is not None and not (position < span[1] and at > span[0]):
                continue
            changed[int(i)] = _rewrite(records.buf, int(records.offsets[i]), position, cigar)
            new_start[int(i)] = position
            new_end[int(i)] = at
            carried[int(i)] = {allele.key} if allele is not None and new_events else set()
    if not changed:
        return Realignment(records, {}, len(windows), 0, uninformative)
    # the partition's records side by side in a new buffer, rewritten ones in place of the mapper's
    sizes = np.array([int(bamraw.record_size(records.buf, int(at))) for at in records.offsets], np.int64)
    lengths = sizes.copy()
    for i, record in changed.items():
        lengths[i] = len(record)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    kept = np.array([i not in changed for i in range(len(records))])
    starts, counts = records.offsets[kept], sizes[kept]
    gather = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
    targets = np.repeat(offsets[kept] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
    buffer = np.empty(int(lengths.sum()), np.uint8)
    buffer[targets] = records.buf[gather]
    for i, record in changed.items():
        buffer[offsets[i]:offsets[i] + len(record)] = np.frombuffer(record, np.uint8)
    ref_start = records.ref_start.copy()
    ref_end = records.ref_end.copy()
    for i in changed:
        ref_start[i], ref_end[i] = new_start[i], new_end[i]
    table = bamraw.RecordTable(buffer, offsets, ref_start, ref_end, records.flag, records.mapq, records.seq_length)
    return Realignment(table, carried, len(windows), len(changed), uninformative)
