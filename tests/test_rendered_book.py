"""The rendered book, as a real browser sees it.

Each page of ``_build/html`` (made by ``make book``) is loaded in headless Chromium and the DOM it
builds is checked: every page listed in ``_toc.yml`` exists, the chapters that reproduce the case
study's tables show them next to ours and show their figures, glued numbers were filled in, no
page shows an error output, a traceback, papermill's error banner or a Sphinx error message, and at a
1280 px wide window no page scrolls sideways (wide tables scroll inside their own box).

Skips (with the reason) when the book has not been built or when Chromium is not installed.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = Path(os.environ.get("LOWCOV_HTML_DIR", REPO_ROOT / "_build" / "html"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--mute-audio"]


def find_chromium() -> str | None:
    for candidate in (os.environ.get("LOWCOV_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


def toc_pages() -> list[str]:
    """Every document of ``_toc.yml``, root first, as paths without suffix."""
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


class Page(HTMLParser):
    """What the tests need from a DOM: its visible text, class attributes, images and tables."""

    SKIP = {"script", "style", "noscript"}

    def __init__(self, dom: str):
        super().__init__(convert_charrefs=True)
        self.dom = dom
        self.text_parts: list[str] = []
        self.classes: list[str] = []
        self.images: list[str] = []
        self.tables = 0
        self.pasted: list[str] = []
        self._skip = 0
        self._pasted_depth = 0
        self.feed(dom)
        self.text = " ".join(" ".join(self.text_parts).split())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in self.SKIP:
            self._skip += 1
        if attrs.get("class"):
            self.classes.append(attrs["class"])
        if tag == "img":
            self.images.append(attrs.get("src") or "")
        if tag == "table":
            self.tables += 1
        if tag == "span" and "pasted-text" in (attrs.get("class") or "").split():
            self._pasted_depth = 1
            self.pasted.append("")
        elif self._pasted_depth:
            self._pasted_depth += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        if self._pasted_depth:
            self._pasted_depth -= 1

    def handle_data(self, data):
        if self._skip:
            return
        self.text_parts.append(data)
        if self._pasted_depth:
            self.pasted[-1] += data


def dump_dom(chromium: str, html: Path, *flags: str) -> str:
    with tempfile.TemporaryDirectory(prefix="lowcov-chromium-") as profile:
        result = subprocess.run([chromium, *CHROMIUM_FLAGS, *flags, f"--user-data-dir={profile}", "--dump-dom",
                                 html.as_uri()], capture_output=True, text=True, timeout=90)
    if result.returncode != 0 or "<html" not in result.stdout:
        raise AssertionError(f"chromium could not render {html} (exit {result.returncode}): {result.stderr[-1000:]}")
    return result.stdout


@pytest.fixture(scope="module")
def chromium() -> str:
    if not (HTML_DIR / "index.html").exists():
        pytest.skip(f"{HTML_DIR} has no rendered book: run `make book` first")
    found = find_chromium()
    if found is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); set LOWCOV_CHROMIUM to another binary")
    return found


@pytest.fixture(scope="module")
def pages(chromium) -> dict[str, tuple[Path, Page]]:
    names = toc_pages()
    missing = [n for n in names if not (HTML_DIR / f"{n}.html").exists()]
    assert not missing, f"pages listed in _toc.yml but not rendered in {HTML_DIR}: {missing}"
    files = {name: HTML_DIR / f"{name}.html" for name in names}
    with ThreadPoolExecutor(max_workers=3) as pool:
        doms = dict(zip(files, pool.map(lambda f: dump_dom(chromium, f), files.values())))
    return {name: (files[name], Page(dom)) for name, dom in doms.items()}


def chapter(pages, stem: str) -> tuple[Path, Page]:
    matches = [name for name in pages if name.endswith(stem)]
    assert matches, f"no page ending in {stem!r} in _toc.yml"
    return pages[matches[0]]


def test_every_toc_page_renders_with_a_title(pages):
    for name, (_, page) in pages.items():
        assert re.search(r"<h1[ >]", page.dom), f"{name}: no <h1> in the rendered page"
        assert len(page.text) > 200, f"{name}: the page is (nearly) empty"


def test_no_page_shows_an_error(pages):
    for name, (_, page) in pages.items():
        for needle in ("Traceback (most recent call last)", "An Exception was encountered",
                       "PapermillExecutionError", "ModuleNotFoundError", "NameError:"):
            assert needle not in page.text, f"{name}: the page shows {needle!r}"
        assert "papermill-error-cell" not in page.dom, f"{name}: papermill's error banner is rendered"
        for classes in page.classes:
            tokens = classes.split()
            if "output" in tokens or "cell_output" in tokens:
                assert not {"traceback", "error", "stderr"} & set(tokens), \
                    f"{name}: an error/stderr output cell is rendered (class {classes!r})"
            assert "system-message" not in tokens, f"{name}: a Sphinx/docutils error message is rendered"


def test_glued_values_are_filled_in(pages):
    for name, (_, page) in pages.items():
        assert "{glue" not in page.text, f"{name}: an unrendered glue role is shown"
        assert "????" not in page.text, f"{name}: a placeholder '????' is shown"
        empty = [i for i, text in enumerate(page.pasted) if not text.strip()]
        assert not empty, f"{name}: glued values {empty} rendered empty"
    for stem in ("intro", "conclusions", "07_evaluation", "03_original_model"):
        _, page = chapter(pages, stem)
        assert len(page.pasted) >= 4, f"{stem}: expected glued numbers in the prose, found {len(page.pasted)}"
    _, conclusions = chapter(pages, "conclusions")
    numbers = [t for t in conclusions.pasted if re.fullmatch(r"[+-]?\d+(\.\d+)?(e[+-]?\d+)?", t.strip())]
    assert len(numbers) >= 40, f"conclusions: only {len(numbers)} glued numbers rendered"


def test_images_resolve_to_files(pages):
    for name, (path, page) in pages.items():
        for src in page.images:
            if src.startswith(("data:", "http:", "https:")):
                continue
            target = (path.parent / src.split("#")[0].split("?")[0]).resolve()
            assert target.exists(), f"{name}: image {src} does not exist ({target})"


def test_coverage_chapter_has_the_bucket_table_and_figures(pages):
    _, page = chapter(pages, "02_coverage")
    assert "Low Coverage (1-7)" in page.text
    assert "case study" in page.text and "lowcov" in page.text
    assert page.tables >= 3, f"02: expected the coverage tables, found {page.tables} <table>"
    assert len(page.images) >= 2, f"02: expected figures, found {len(page.images)} <img>"


@pytest.mark.parametrize("stem", ["03_original_model", "07_evaluation"])
def test_case_study_tables_and_figures(pages, stem):
    _, page = chapter(pages, stem)
    for needle in ("TRUTH.TOTAL", "METRIC.Recall", "METRIC.F1_Score", "case study", "lowcov"):
        assert needle in page.text, f"{stem}: {needle!r} is not on the page"
    assert page.tables >= 3, f"{stem}: expected the hap.py tables, found {page.tables} <table>"
    assert len(page.images) >= 1, f"{stem}: no figure rendered"


def test_evaluation_shows_every_model(pages):
    _, page = chapter(pages, "07_evaluation")
    for model in ("Original", "V1", "V2", "V1 (last)", "V2 (last)", "bcftools", "V1 (last, original BN)",
                  "V2 (last, original BN)", "V2, frozen BN", "V2, small batches", "V2, small batches, frozen BN"):
        assert model in page.text, f"07: model {model!r} missing"
    assert "What moves the DNA calls" in page.text


def test_fine_tuning_chapter_shows_the_controls_and_how_far_each_run_moved(pages):
    _, page = chapter(pages, "06_finetune")
    for needle in ("config.freeze_batch_norm=true", "config.batch_size=32", "weights: relative change",
                   "batch-norm statistics: relative change"):
        assert needle in page.text, f"06: {needle!r} is not on the page"
    assert len(page.images) >= 2, "06: expected the training curves of the case study's runs and of the controls"


def test_reproducibility_page_lists_runs_versions_and_checksums(pages):
    _, page = chapter(pages, "08_reproducibility")
    for needle in ("07_evaluation.ipynb", "sha256", "torch", "pysam", "htslib"):
        assert needle in page.text, f"08: {needle!r} missing"
    assert re.search(r"\b[0-9a-f]{64}\b", page.text), "08: no sha256 checksum shown"
    assert page.tables >= 5


def test_methods_and_references(pages):
    _, methods = chapter(pages, "methods")
    for needle in ("lowcov.make_examples", "lowcov.train", "lowcov.benchmark", "InceptionV3", "minimap2"):
        assert needle in methods.text, f"methods: {needle!r} missing"
    assert methods.tables >= 2
    _, references = chapter(pages, "references")
    for doi in ("10.1038/nbt.4235", "10.1038/s41587-019-0054-x", "10.1093/bioinformatics/bty191",
                "10.1093/gigascience/giab008", "10.1038/s41598-018-36177-7"):
        assert doi in references.text, f"references: {doi} missing"


#: what a reader's window is: pages must fit it without scrolling sideways
VIEWPORT_WIDTH = 1280
#: run in the page once it has loaded: the document's own horizontal overflow, every element that sticks out
#: to the right of the window without a scrolling box around it, the tables wider than their container, and
#: the code or printed text whose lines are longer than their box
OVERFLOW_PROBE = """
<script>
function lowcovOverflowProbe() {
  if (document.getElementById("lowcov-overflow-probe")) return;
  const root = document.scrollingElement;
  const scrolls = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const boxed = (el) => { for (let a = el.parentElement; a; a = a.parentElement) { if (scrolls(a)) return true; } return false; };
  const wider = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > root.clientWidth + 1 && !boxed(el)) {
      wider.push(el.tagName.toLowerCase() + "." + [...el.classList].join("."));
    }
  }
  const tables = [...document.querySelectorAll("article table")].filter((t) => t.scrollWidth > t.parentElement.clientWidth + 1);
  const clipped = [...document.querySelectorAll("div.cell_input pre, div.cell_output pre")]
    .filter((pre) => pre.scrollWidth > pre.clientWidth + 1);
  const out = document.createElement("pre");
  out.id = "lowcov-overflow-probe";
  out.textContent = JSON.stringify({scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
                                    outside: wider.slice(0, 10), wideTables: tables.length,
                                    unboxedTables: tables.filter((t) => !boxed(t)).length,
                                    clippedCode: clipped.length});
  document.body.appendChild(out);
}
// the load event waits for every resource, and a page may ask for one from the network (MathJax) that
// never answers here: probe at load or after 3 s, whichever is first (stylesheets are applied by then)
window.addEventListener("load", lowcovOverflowProbe);
setTimeout(lowcovOverflowProbe, 3000);
</script>
"""


def overflow(chromium: str, html: Path) -> dict:
    """The OVERFLOW_PROBE's findings for ``html`` at VIEWPORT_WIDTH: the page is copied with a <base> that
    points back at its directory (so its stylesheets load) and the probe appended."""
    import json

    page = html.read_text(encoding="utf-8")
    page = page.replace("<head>", f'<head><base href="{html.parent.as_uri()}/">', 1)
    page = page.replace("</body>", OVERFLOW_PROBE + "</body>", 1)
    with tempfile.TemporaryDirectory(prefix="lowcov-probe-") as scratch:
        probe = Path(scratch) / html.name
        probe.write_text(page, encoding="utf-8")
        dom = dump_dom(chromium, probe, f"--window-size={VIEWPORT_WIDTH},900", "--allow-file-access-from-files",
                       "--virtual-time-budget=5000")
    found = re.search(r'<pre id="lowcov-overflow-probe"[^>]*>(.*?)</pre>', dom, re.S)
    assert found, f"{html}: the overflow probe did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_no_page_scrolls_sideways_at_1280_px(chromium):
    files = [HTML_DIR / f"{name}.html" for name in toc_pages()]
    with ThreadPoolExecutor(max_workers=3) as pool:
        found = dict(zip(files, pool.map(lambda f: overflow(chromium, f), files)))
    for html, probe in found.items():
        name = html.relative_to(HTML_DIR)
        assert probe["scrollWidth"] <= probe["clientWidth"], \
            f"{name}: the page scrolls sideways ({probe['scrollWidth']} > {probe['clientWidth']} px): {probe['outside']}"
        assert not probe["outside"], f"{name}: elements stick out of the window: {probe['outside']}"
        assert probe["unboxedTables"] == 0, f"{name}: {probe['unboxedTables']} wide table(s) without a scroll box"
        assert probe["clippedCode"] == 0, f"{name}: {probe['clippedCode']} code cell(s) with lines cut at the box edge"


def test_wide_tables_are_in_a_scroll_box(chromium):
    probe = overflow(chromium, HTML_DIR / "book" / "executed" / "07_evaluation.html")
    assert probe["wideTables"] >= 1, "07: expected the hap.py tables to be wider than the text column"
    assert probe["unboxedTables"] == 0


#: cell tags that keep a code cell's source out of the reader's way (collapsed or not rendered)
QUIET_TAGS = {"tag_hide-input", "tag_remove-input", "tag_hide-cell", "tag_parameters"}


@pytest.mark.parametrize("stem", ["03_original_model", "04_truth_generation", "05_make_examples", "06_finetune",
                                  "07_evaluation", "08_reproducibility"])
def test_chapters_show_only_their_parameters_code(pages, stem):
    """Between the prose and the tables only the parameters cell shows code; the rest is one click away."""
    _, page = chapter(pages, stem)
    cells = [set(c.split()) for c in page.classes if "cell" in c.split()]
    assert cells, f"{stem}: no code cell rendered"
    shown = [sorted(c) for c in cells if not c & QUIET_TAGS]
    assert not shown, f"{stem}: code cells shown in full: {shown}"


def test_evaluation_keeps_the_full_hap_py_table_behind_a_toggle(pages):
    _, page = chapter(pages, "07_evaluation")
    assert any("tag_hide-output" in c.split() for c in page.classes), "07: no collapsed output (the full table)"
    assert "METRIC.Frac_NA" in page.text

