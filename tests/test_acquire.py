"""The downloader against a local HTTP server on 127.0.0.1, the seed manifest, and prepare_seed offline."""
from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pysam
import pytest

import lowcov.align
from lowcov import InputError
from lowcov.download import ChecksumMismatch, DownloadConfig, DownloadError, download, fetch, https_url
from lowcov.seed import (PrepareConfig, acquire_seed, downloaded_path, load_manifest, lock_path, prepare_seed,
                         read_lock)
from lowcov.fileio import atomic_output
from lowcov.layout import Layout

#: every network wait in these tests is bounded by this many seconds
FAST = DownloadConfig(timeout=5.0, retries=2, backoff=0.01, max_backoff=0.05, chunk_size=4096)
NO_RETRY = DownloadConfig(timeout=5.0, retries=0, backoff=0.01, chunk_size=4096)


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    #: path -> bytes to send before dropping the connection, on the next request only
    cut_after: dict[str, int] = field(default_factory=dict)
    #: paths whose handler pretends not to know Range
    ignore_range: set[str] = field(default_factory=set)
    #: path -> statuses to answer (one per request) before serving normally
    fail_with: dict[str, list[int]] = field(default_factory=dict)
    requests: list[tuple[str, dict]] = field(default_factory=list)

    def etag(self, path: str) -> str:
        return '"' + hashlib.sha256(self.files[path]).hexdigest()[:16] + '"'


class RangeHandler(BaseHTTPRequestHandler):
    """Serves ``ServerState.files`` with single-range support, If-Range, and scripted failures."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        state: ServerState = self.server.state
        state.requests.append((self.path, dict(self.headers)))
        if state.fail_with.get(self.path):
            self.send_error(state.fail_with[self.path].pop(0))
            return
        data = state.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        honour_range = wanted and self.path not in state.ignore_range and (
            if_range is None or if_range == state.etag(self.path))
        if honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("ETag", state.etag(self.path))
        self.end_headers()
        body = data[start:]
        cut = state.cut_after.pop(self.path, None)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True  # the client sees the stream end early
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.daemon_threads = True
    httpd.state = ServerState()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield base, httpd.state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- download() -------------------------------------------------------------------------------------


def test_cut_transfer_resumes_with_a_range_request(server, tmp_path):
    base, state = server
    data = payload(100_000)
    state.files["/big.bin"] = data
    state.cut_after["/big.bin"] = 50_000
    dest = download(f"{base}/big.bin", tmp_path / "big.bin", expected_sha256=sha(data), progress=False, config=FAST)
    assert dest.read_bytes() == data
    assert len(state.requests) == 2
    assert "Range" not in state.requests[0][1]
    assert state.requests[1][1]["Range"] == "bytes=50000-"
    assert state.requests[1][1]["If-Range"] == state.etag("/big.bin")
    assert not list(tmp_path.glob("*.part*"))


def test_cut_transfer_keeps_the_part_file_and_the_next_run_resumes(server, tmp_path):
    base, state = server
    data = payload(64_000, seed=1)
    state.files["/f.bin"] = data
    state.cut_after["/f.bin"] = 20_000
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match=r"f\.bin.*20000 bytes are kept.*run again to resume"):
        download(f"{base}/f.bin", dest, progress=False, config=NO_RETRY)
    assert not dest.exists()
    assert (tmp_path / "f.bin.part").stat().st_size == 20_000
    # a new run (a new process would do the same: the digest is rebuilt from the .part file)
    result = fetch(f"{base}/f.bin", dest, expected_size=len(data), progress=False, config=NO_RETRY)
    assert dest.read_bytes() == data and result.sha256 == sha(data) and not result.skipped
    assert state.requests[-1][1]["Range"] == "bytes=20000-"


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    base, state = server
    data = payload(30_000, seed=2)
    state.files["/r.bin"] = data
    state.cut_after["/r.bin"] = 10_000
    state.ignore_range.add("/r.bin")
    result = fetch(f"{base}/r.bin", tmp_path / "r.bin", progress=False, config=FAST)
    assert state.requests[1][1]["Range"] == "bytes=10000-"  # asked to resume, got the whole file
    assert (tmp_path / "r.bin").read_bytes() == data
    assert result.sha256 == sha(data)


def test_remote_file_changed_between_runs_starts_again(server, tmp_path):
    base, state = server
    state.files["/v.bin"] = payload(40_000, seed=3)
    state.cut_after["/v.bin"] = 15_000
    with pytest.raises(DownloadError):
        download(f"{base}/v.bin", tmp_path / "v.bin", progress=False, config=NO_RETRY)
    state.files["/v.bin"] = new = payload(40_000, seed=4)  # new ETag: If-Range makes the server send all
    result = fetch(f"{base}/v.bin", tmp_path / "v.bin", progress=False, config=NO_RETRY)
    assert (tmp_path / "v.bin").read_bytes() == new and result.sha256 == sha(new)


def test_404_is_a_clear_error_and_leaves_no_file(server, tmp_path):
    base, _ = server
    dest = tmp_path / "missing.bam"
    with pytest.raises(DownloadError) as info:
        download(f"{base}/nowhere/missing.bam", dest, progress=False, config=FAST)
    assert info.value.status == 404
    assert "missing.bam" in str(info.value) and "HTTP 404" in str(info.value)
    assert isinstance(info.value, InputError)
    assert not dest.exists() and not list(tmp_path.iterdir())


def test_checksum_mismatch_is_a_clear_error_and_leaves_no_file(server, tmp_path):
    base, state = server
    state.files["/c.bin"] = payload(10_000, seed=5)
    dest = tmp_path / "c.bin"
    with pytest.raises(ChecksumMismatch, match=r"c\.bin.*sha256 .* expected 0{64}"):
        download(f"{base}/c.bin", dest, expected_sha256="0" * 64, progress=False, config=FAST)
    assert not dest.exists() and not list(tmp_path.iterdir())


def test_size_mismatch_is_detected_before_the_transfer(server, tmp_path):
    base, state = server
    state.files["/s.bin"] = payload(10_000, seed=6)
    with pytest.raises(ChecksumMismatch, match="10000 bytes but the manifest expects 999"):
        download(f"{base}/s.bin", tmp_path / "s.bin", expected_size=999, progress=False, config=FAST)
    assert not list(tmp_path.iterdir())


def test_complete_file_is_skipped_without_a_request(server, tmp_path):
    base, state = server
    data = payload(5_000, seed=7)
    state.files["/done.bin"] = data
    dest = download(f"{base}/done.bin", tmp_path / "done.bin", progress=False, config=FAST)
    assert len(state.requests) == 1
    assert download(f"{base}/done.bin", dest, expected_sha256=sha(data), progress=False, config=FAST) == dest
    assert download(f"{base}/done.bin", dest, progress=False, config=FAST) == dest
    assert len(state.requests) == 1


def test_existing_file_that_fails_verification_is_fetched_again(server, tmp_path):
    base, state = server
    data = payload(5_000, seed=8)
    state.files["/bad.bin"] = data
    dest = tmp_path / "bad.bin"
    dest.write_bytes(b"stale")
    download(f"{base}/bad.bin", dest, expected_sha256=sha(data), progress=False, config=FAST)
    assert dest.read_bytes() == data and len(state.requests) == 1


def test_transient_errors_are_retried_then_reported(server, tmp_path):
    base, state = server
    data = payload(8_000, seed=9)
    state.files["/t.bin"] = data
    state.fail_with["/t.bin"] = [503, 502]
    assert download(f"{base}/t.bin", tmp_path / "t.bin", progress=False, config=FAST).read_bytes() == data
    state.fail_with["/u.bin"] = [503, 503, 503]
    state.files["/u.bin"] = data
    with pytest.raises(DownloadError, match=r"after 3 attempt\(s\): HTTP 503"):
        download(f"{base}/u.bin", tmp_path / "u.bin", progress=False, config=FAST)
    assert not (tmp_path / "u.bin").exists()


def test_unreachable_server_fails_within_the_retry_budget(tmp_path):
    # a port that was just free: nothing listens there, so the connection is refused at once
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match="after 1 attempt"):
        download(f"http://127.0.0.1:{port}/x", tmp_path / "x", progress=False, config=NO_RETRY)
    assert not list(tmp_path.iterdir())


def test_url_translation():
    assert https_url("gs://deepvariant/training-case-study/ucsc_hg19.fa") == \
        "https://storage.googleapis.com/deepvariant/training-case-study/ucsc_hg19.fa"
    assert https_url("https://ftp.ensembl.org/pub/x.fa.gz") == "https://ftp.ensembl.org/pub/x.fa.gz"
    with pytest.raises(InputError, match="https mirror"):
        https_url("ftp://ftp.ensembl.org/pub/x.fa.gz")


# -- the manifest and acquire_seed ------------------------------------------------------------------


def test_committed_seed_manifest():
    manifest = load_manifest()
    files = manifest.by_key()
    for key in ("rna_reads", "rna_reads_pbi", "rna_reference_gz", "dna_test_bam", "dna_reference",
                "truth_vcf", "truth_vcf_index", "confident_bed"):
        assert key in files
    assert all(url.startswith("https://") for f in manifest.files for url in f.download_urls)
    ensembl = files["rna_reference_gz"]
    assert ensembl.case_study_url.startswith("ftp://ftp.ensembl.org/pub/release-109/")
    assert ensembl.download_urls == [
        "https://ftp.ensembl.org/pub/release-109/fasta/homo_sapiens/dna/"
        "Homo_sapiens.GRCh38.dna.primary_assembly.fa.gz"]
    assert files["dna_test_bam"].download_urls[0] == (
        "https://storage.googleapis.com/deepvariant/training-case-study/BGISEQ_PE100_NA12878.sorted.chr1.bam")
    assert files["truth_vcf"].filename.endswith("_highconf_PGandRTGphasetransfer.vcf.gz")
    assert files["confident_bed"].filename.endswith("_highconf_nosomaticdel.bed")
    assert files["truth_vcf"].name_source == "inferred"
    assert files["rna_reads"].name_source == "case-study"
    assert all(f.size is None and f.sha256 is None for f in manifest.files)  # unknown offline


def test_manifest_validation_names_the_file(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"files": [{"key": "a", "filename": "a", "urls": ["https://x/a"], "sha256": "xyz"}]}))
    with pytest.raises(InputError, match=r"m\.json.*sha256 must be 64 hex digits"):
        load_manifest(bad)
    bad.write_text(json.dumps({"files": [{"key": "a", "filename": "a", "urls": ["ftp://x/a"]}]}))
    with pytest.raises(InputError, match=r"m\.json.*https mirror"):
        load_manifest(bad)


def _write_manifest(path: Path, base: str, entries: list[dict]) -> Path:
    files = []
    for entry in entries:
        files.append({"size": None, "sha256": None, "optional": False, **entry,
                      "urls": [u if u.startswith("http") else base + u for u in entry["urls"]]})
    path.write_text(json.dumps({"files": files}))
    return path


def test_acquire_seed_records_the_lock_and_skips_on_rerun(server, tmp_path):
    base, state = server
    a, b = payload(12_000, seed=10), payload(3_000, seed=11)
    state.files["/mirror2/a.bin"] = a
    state.files["/b.bin"] = b
    manifest = _write_manifest(tmp_path / "seed.json", base, [
        {"key": "a", "filename": "a.bin", "urls": ["/mirror1/a.bin", "/mirror2/a.bin"]},  # first URL 404s
        {"key": "b", "filename": "b.bin", "urls": ["/b.bin"], "size": len(b), "sha256": sha(b)},
        {"key": "gone", "filename": "gone.bin", "urls": ["/gone.bin"], "optional": True},
    ])
    layout = Layout("seed", root=tmp_path / "seed")
    paths = acquire_seed(layout, manifest=manifest, config=FAST, progress=False)
    assert set(paths) == {"a", "b"}
    assert paths["a"] == downloaded_path(layout, "a", load_manifest(manifest))
    assert paths["a"].read_bytes() == a
    lock = read_lock(layout)
    assert lock_path(layout) == tmp_path / "seed" / "downloads.lock.json"
    assert lock["a"]["sha256"] == sha(a) and lock["a"]["size"] == len(a)
    assert lock["a"]["url"].endswith("/mirror2/a.bin")
    assert "gone" not in lock
    before = len(state.requests)
    acquire_seed(layout, manifest=manifest, only=["a", "b"], config=FAST, progress=False)
    assert len(state.requests) == before  # verified files: no request at all


def test_acquire_seed_enforces_the_lock_when_the_manifest_has_no_checksum(server, tmp_path):
    base, state = server
    state.files["/a.bin"] = payload(4_000, seed=12)
    manifest = _write_manifest(tmp_path / "seed.json", base, [{"key": "a", "filename": "a.bin", "urls": ["/a.bin"]}])
    layout = Layout("seed", root=tmp_path / "seed")
    path = acquire_seed(layout, manifest=manifest, config=FAST, progress=False)["a"]
    path.write_bytes(b"corrupted on disk")  # size/mtime change: the lock no longer vouches for it
    state.files["/a.bin"] = payload(4_000, seed=13)  # and upstream changed too
    with pytest.raises(ChecksumMismatch, match=r"a\.bin.*expected.*downloads\.lock\.json.*Remove the entry 'a'"):
        acquire_seed(layout, manifest=manifest, config=FAST, progress=False)
    assert not path.exists()


def test_acquire_seed_missing_required_file_and_unknown_key(server, tmp_path):
    base, _ = server
    manifest = _write_manifest(tmp_path / "seed.json", base, [{"key": "x", "filename": "x.bin", "urls": ["/x.bin"]}])
    layout = Layout("seed", root=tmp_path / "seed")
    with pytest.raises(DownloadError, match=r"x\.bin \(x\) is not available"):
        acquire_seed(layout, manifest=manifest, config=FAST, progress=False)
    with pytest.raises(InputError, match="unknown key"):
        acquire_seed(layout, manifest=manifest, only=["nope"], config=FAST, progress=False)


# -- prepare_seed, offline, on tiny stand-ins for the downloads -------------------------------------


def _fasta_text(contigs: dict[str, int], rng: random.Random) -> tuple[str, dict[str, str]]:
    seqs = {name: "".join(rng.choice("ACGT") for _ in range(length)) for name, length in contigs.items()}
    text = "".join(f">{n} test\n" + "\n".join(s[i:i + 60] for i in range(0, len(s), 60)) + "\n"
                   for n, s in seqs.items())
    return text, seqs


def _write_sorted_bam(path: Path, contigs: dict[str, int], pairs: int, rng: random.Random, on: str) -> None:
    header = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6", "SO": "coordinate"},
                                              "SQ": [{"SN": n, "LN": l} for n, l in contigs.items()]})
    records = []
    names = list(contigs)
    for i in range(pairs):
        tid = names.index(on) if i % 4 else (names.index(on) + 1) % len(names)
        start = rng.randrange(0, contigs[names[tid]] - 400)
        for mate, pos, flag in ((1, start, 0x1 | 0x2 | 0x20 | 0x40), (2, start + 200, 0x1 | 0x2 | 0x10 | 0x80)):
            seg = pysam.AlignedSegment(header)
            seg.query_name, seg.flag, seg.reference_id, seg.reference_start = f"pair{i}", flag, tid, pos
            seg.mapping_quality, seg.cigartuples, seg.query_sequence = 60, [(0, 50)], "A" * 50
            seg.next_reference_id, seg.next_reference_start = tid, start + 200 if mate == 1 else start
            records.append(seg)
    records.sort(key=lambda r: (r.reference_id, r.reference_start))
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for rec in records:
            out.write(rec)


def _stage_fake_downloads(layout: Layout) -> dict[str, Path]:
    """The shapes of the real downloads: GRCh38 '1' names (plain gzip), hg19 'chr1', GRCh37 '1' truth."""
    rng = random.Random(5)
    manifest = load_manifest()
    path = {key: downloaded_path(layout, key, manifest) for key in manifest.by_key()}
    grch38, _ = _fasta_text({"1": 3000, "10": 2000}, rng)
    path["rna_reference_gz"].write_bytes(gzip.compress(grch38.encode(), mtime=0))
    hg19, _ = _fasta_text({"chr1": 4000, "chr2": 2500, "chrM": 300}, rng)
    path["dna_reference"].write_text(hg19)
    unaligned = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6", "SO": "unknown"}})
    with pysam.AlignmentFile(str(path["rna_reads"]), "wb", header=unaligned) as out:
        for i in range(5):
            seg = pysam.AlignedSegment(unaligned)
            seg.query_name, seg.flag, seg.query_sequence = f"m84/{i}/ccs", 4, "ACGT" * 50
            out.write(seg)
    _write_sorted_bam(path["dna_test_bam"], {"chr1": 4000, "chr2": 2500, "chrM": 300}, 400, rng, on="chr1")
    vcf_text = ("##fileformat=VCFv4.2\n##contig=<ID=1,length=4000>\n##contig=<ID=2,length=2500>\n"
                "##contig=<ID=GL000192.1,length=547496>\n"
                '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tHG001\n"
                "1\t100\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\n1\t900\t.\tC\tT\t50\tPASS\t.\tGT\t1/1\n"
                "2\t50\t.\tG\tA\t50\tPASS\t.\tGT\t0/1\n")
    with pysam.libcbgzf.BGZFile(str(path["truth_vcf"]), "wb") as out:
        out.write(vcf_text.encode())
    path["confident_bed"].write_text("1\t0\t3000\n2\t100\t2000\n")
    return path


def test_prepare_seed_offline_and_rerun_skips(tmp_path, monkeypatch):
    layout = Layout("seed", root=tmp_path / "seed")
    downloads = _stage_fake_downloads(layout)
    calls = []

    def fake_align_reads(reads, reference, out_bam, preset, threads):
        calls.append({"reads": list(reads), "reference": Path(reference), "out_bam": Path(out_bam),
                      "preset": preset, "threads": threads})
        with pysam.FastaFile(str(reference)) as fasta:
            header = {"HD": {"VN": "1.6", "SO": "coordinate"},
                      "SQ": [{"SN": n, "LN": l} for n, l in zip(fasta.references, fasta.lengths)]}
        with atomic_output(out_bam) as tmp:
            with pysam.AlignmentFile(str(tmp), "wb", header=header):
                pass
            pysam.index(str(tmp))
        return Path(out_bam)

    monkeypatch.setattr(lowcov.align, "align_reads", fake_align_reads)
    config = PrepareConfig(threads=1, progress=False)
    first = prepare_seed(layout, config)

    assert [c["preset"] for c in calls] == ["ccs", "isoseq"]
    assert calls[0] == {"reads": [downloads["rna_reads"]], "reference": layout.rna_reference,
                        "out_bam": layout.rna_bam("ccs"), "preset": "ccs", "threads": 1}
    # references: GRCh38 decompressed and indexed; hg19 in place and indexed
    assert layout.rna_reference.read_bytes() == gzip.decompress(downloads["rna_reference_gz"].read_bytes())
    assert Path(str(layout.rna_reference) + ".fai").exists()
    assert Path(str(layout.dna_reference) + ".fai").exists()
    # DNA: chr1 only, then half of its pairs with mates together
    with pysam.AlignmentFile(str(layout.dna_test_bam(1.0))) as bam:
        full = list(bam.fetch(until_eof=True))
    assert {r.reference_name for r in full} == {"chr1"}
    full_names = {r.query_name for r in full}
    with pysam.AlignmentFile(str(layout.dna_test_bam(0.5))) as bam:
        kept = [r.query_name for r in bam.fetch(until_eof=True)]
    assert set(kept) < full_names and all(kept.count(n) == 2 for n in set(kept))
    assert 0.35 < len(set(kept)) / len(full_names) < 0.65
    assert first["dna_test_downsampled"]["params"]["samtools_equivalent"] == "samtools view -s 0.5"
    # truth: GRCh37 '1' renamed to hg19 'chr1', indexed; BED too
    with pysam.VariantFile(str(layout.truth_vcf)) as vcf:
        assert [(r.chrom, r.pos) for r in vcf.fetch("chr1")] == [("chr1", 100), ("chr1", 900)]
    assert layout.confident_bed.read_text() == "chr1\t0\t3000\nchr2\t100\t2000\n"
    assert first["truth"]["extra"]["truth_vcf_rename"] == "add the 'chr' prefix"

    second = prepare_seed(layout, config)
    assert len(calls) == 2  # nothing re-aligned
    assert {k: v["finished"] for k, v in second.items()} == {k: v["finished"] for k, v in first.items()}
    assert second["dna_test_full"]["outputs"] == first["dna_test_full"]["outputs"]


def test_prepare_seed_before_download_says_what_is_missing(tmp_path):
    layout = Layout("seed", root=tmp_path / "seed")
    with pytest.raises(InputError, match=r"not downloaded yet: rna_reads .*acquire_seed"):
        prepare_seed(layout, PrepareConfig(progress=False))


def test_prepare_seed_dna_and_truth_only_need_their_downloads(tmp_path, monkeypatch):
    layout = Layout("seed", root=tmp_path / "seed")
    downloads = _stage_fake_downloads(layout)
    downloads["rna_reads"].unlink()
    downloads["rna_reference_gz"].unlink()
    monkeypatch.setattr(lowcov.align, "align_reads", lambda **kw: pytest.fail("RNA alignment was not asked for"))
    done = prepare_seed(layout, PrepareConfig(steps=("dna", "truth"), threads=1, progress=False))
    assert set(done) == {"dna_reference", "dna_test_full", "dna_test_downsampled", "truth"}
    assert layout.dna_test_bam(0.5).exists() and layout.truth_vcf.exists()
    assert not layout.rna_bam("ccs").exists()
    with pytest.raises(InputError, match="unknown prepare step"):
        PrepareConfig(steps=("dna", "coffee"))
    with pytest.raises(InputError, match="downsample_fraction"):
        PrepareConfig(downsample_fraction=1.0)
