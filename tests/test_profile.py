"""Profiles are YAML files: the shipped ones reproduce the former layout, bad files are refused before any
work with the key and the file named, a user's files are linked in place, and a third profile (another
simulated genome with other contig names) runs chapters 1-3 and renders its own copy of the book."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pysam
import pytest
import yaml

from conftest import random_sequence, write_fasta, write_truth_vcf
from lowcov.own_data import prepare_own_data
from lowcov import book
from lowcov.layout import REPO_ROOT, Layout
from lowcov.profile import ProfileError, load_profile, shipped_profiles


def test_shipped_profiles_keep_the_former_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("LOWCOV_DATA", str(tmp_path))
    assert set(shipped_profiles()) >= {"demo", "seed"}
    demo = Layout("demo")
    assert demo.root == tmp_path / "demo"
    assert demo.dna_reference == demo.rna_reference == tmp_path / "demo/reference/genome.fa"
    assert (demo.test_contig, demo.tune_contig) == ("chr1", "chr10")
    assert demo.dna_test_bam(0.5) == tmp_path / "demo/dna/dna.chr1.ds50.bam"
    assert demo.training_contigs() == ["chr2", "chr3", "chr4"]
    seed = Layout("seed")
    assert seed.dna_reference.name == "ucsc_hg19.fa"
    assert seed.rna_reference.name == "Homo_sapiens.GRCh38.dna.primary_assembly.fa"
    # hg19 names the tune contig chr10; Ensembl's GRCh38 names it 10
    assert (seed.test_contig, seed.tune_contig, seed.rna_test_contig, seed.rna_tune_contig) == ("chr1", "chr10", "1", "10")
    assert seed.spec.engine == "deepvariant" and demo.spec.engine == "native"
    # a loaded profile, its name and its YAML path give the same layout
    assert Layout(load_profile("demo")) == Layout(str(REPO_ROOT / "lib/lowcov/profiles/demo.yaml")) == demo


@pytest.fixture
def references(tmp_path, rng):
    """A DNA build (chr1, chr2, chr10) and an RNA build with other names and lengths, and header-only BAMs."""
    dna = {"chr1": random_sequence(rng, 3000), "chr2": random_sequence(rng, 2000), "chr10": random_sequence(rng, 1500)}
    rna = {"1": random_sequence(rng, 3100), "2": random_sequence(rng, 2100), "10": random_sequence(rng, 1600)}
    files = {"dna_reference": write_fasta(tmp_path / "dna.fa", dna), "rna_reference": write_fasta(tmp_path / "rna.fa", rna)}
    for name, genome in (("dna_bam", dna), ("rna_bam", rna), ("rna_bam_on_dna", dna)):
        header = {"HD": {"VN": "1.6", "SO": "coordinate"},
                  "SQ": [{"SN": c, "LN": len(s)} for c, s in genome.items()]}
        path = tmp_path / f"{name}.bam"
        with pysam.AlignmentFile(str(path), "wb", header=header):
            pass
        files[name] = path
    files["truth_vcf"] = write_truth_vcf(tmp_path / "truth.vcf.gz", dna, [("chr1", 100, dna["chr1"][99], "A" if dna["chr1"][99] != "A" else "C", "0|1")])
    files["confident_bed"] = tmp_path / "confident.bed"
    files["confident_bed"].write_text("chr1\t0\t3000\n")
    return files


def files_profile(files, **changes) -> dict:
    document = {
        "name": "mine", "source": "files", "builds": {"dna": "hg19", "rna": "GRCh38"},
        "contigs": {"test": "chr1", "tune": "chr10", "training": ["chr2"]},
        "rna_contigs": {"test": 1, "tune": 10},
        "inputs": {role: {"path": str(files[role])} for role in
                   ("dna_reference", "rna_reference", "dna_bam", "truth_vcf", "confident_bed", "rna_bam")},
    }
    document.update(changes)
    return document


def write_yaml(path: Path, document) -> Path:
    path.write_text(yaml.safe_dump(document) if not isinstance(document, str) else document)
    return path


def test_a_files_profile_links_the_users_files_in_place(tmp_path, references):
    profile = load_profile(write_yaml(tmp_path / "mine.yaml", files_profile(references)))
    assert profile.rna.test == "1" and profile.rna.tune == "10"  # YAML numbers become contig names
    layout = Layout(profile, root=tmp_path / "data")
    before = {role: Path(references[role]).read_bytes() for role in ("dna_reference", "truth_vcf", "dna_bam")}
    placed = prepare_own_data(layout, threads=1)
    assert layout.dna_reference.name == "dna.fa" and layout.rna_reference.name == "rna.fa"
    for role in ("dna_reference", "rna_reference", "dna_bam", "rna_bam", "truth_vcf", "confident_bed"):
        assert os.path.samefile(placed[role], references[role]), role
    assert Path(str(layout.truth_vcf) + ".tbi").exists() and Path(str(layout.dna_reference) + ".fai").exists()
    assert {role: Path(references[role]).read_bytes() for role in before} == before  # never modified
    assert placed["dna_test_bam_low"] == layout.dna_test_bam(0.5) and layout.dna_test_bam(0.5).exists()
    assert layout.training_contigs() == ["chr2"]
    assert layout.training_contigs(layout.rna_reference) == ["2"]  # the RNA build's autosomes minus 1 and 10
    assert prepare_own_data(layout, threads=1) == placed  # a re-run finds everything in place


@pytest.mark.parametrize("edit, key, message", [
    (lambda d: d.update(contig={"test": "chr1"}), "contig", "unknown key (did you mean 'contigs'?)"),
    (lambda d: d.pop("builds"), "builds", "missing (required)"),
    (lambda d: d["contigs"].pop("tune"), "contigs.tune", "missing (required)"),
    (lambda d: d.update(downsample={"fraction": "half"}), "downsample.fraction", "must be float"),
    (lambda d: d.update(downsample={"fraction": 1.5}), "downsample.fraction", "between 0 and 1"),
    (lambda d: d.update(engine="gatk"), "engine", "must be one of native, deepvariant"),
    (lambda d: d.update(source="cloud"), "source", "must be one of"),
    (lambda d: d.update(name="my study"), "name", "not a folder name"),
    (lambda d: d["inputs"].pop("truth_vcf"), "inputs.truth_vcf", "missing (required when source is files)"),
    (lambda d: d["inputs"].update(dna_bam={"path": "/nonexistent/x.bam"}), "inputs.dna_bam.path", "does not exist"),
    (lambda d: d["inputs"].update(dna_bam={"path": "a.bam", "url": "https://x/a.bam"}), "inputs.dna_bam",
     "exactly one of path or url"),
    (lambda d: d["inputs"].update(truth={"path": "t.vcf.gz"}), "inputs.truth", "unknown input"),
    (lambda d: d["inputs"]["dna_bam"].update(sha256="abc"), "inputs.dna_bam.sha256", "64 lowercase hex"),
    (lambda d: d.update(simulation={"seed": 3}), "simulation", "belongs to source simulated"),
    (lambda d: d["contigs"].update(tune="chr22"), "contigs.tune", "'chr22' is not a contig of the DNA reference"),
    (lambda d: d["contigs"].update(training=["chr1"]), "contigs.training", "holds the test or tune contig"),
    (lambda d: d["rna_contigs"].update(test="chr1"), "rna_contigs.test", "is not a contig of the RNA reference"),
])
def test_bad_profiles_name_the_key_and_the_file(tmp_path, references, edit, key, message):
    document = files_profile(references)
    edit(document)
    path = write_yaml(tmp_path / "bad.yaml", document)
    with pytest.raises(ProfileError) as error:
        load_profile(path)
    assert error.value.key == key
    assert message in str(error.value) and str(path) in str(error.value)


def test_an_rna_bam_on_another_build_is_refused(tmp_path, references):
    document = files_profile(references)
    document["inputs"]["rna_bam"] = {"path": str(references["rna_bam_on_dna"])}
    with pytest.raises(ProfileError, match="rna_bam_on_dna.bam is not aligned to the RNA reference .*GRCh38"):
        load_profile(write_yaml(tmp_path / "bad.yaml", document))


def test_unreadable_yaml_and_unknown_names(tmp_path):
    with pytest.raises(ProfileError, match="is not valid YAML"):
        load_profile(write_yaml(tmp_path / "broken.yaml", "name: [unclosed\n"))
    with pytest.raises(ProfileError, match="must be a mapping"):
        load_profile(write_yaml(tmp_path / "list.yaml", "- a\n- b\n"))
    with pytest.raises(ProfileError, match="not a shipped profile"):
        Layout("demo2")


def test_a_profile_parameter_no_notebook_declares_is_refused(tmp_path):
    demo = yaml.safe_load((REPO_ROOT / "lib/lowcov/profiles/demo.yaml").read_text())
    demo.update(name="typo", parameters={"replicate": 2})
    path = write_yaml(tmp_path / "typo.yaml", demo)
    with pytest.raises(ProfileError, match="parameters.replicate: no notebook has this parameter .*'replicates'"):
        book.check_profile_parameters(load_profile(path), book.discover())
    assert book.main(["--profile", str(path), "--no-build"]) == 2  # refused before any notebook runs


# -- a third profile, end to end -----------------------------------------------------------------------------

OTHER_GENOME = """
name: other-genome
description: A second simulated genome (another seed, other contig names), small enough for a test.
source: simulated
sample: OTHER-sim
builds: {dna: sim2, rna: sim2}
contigs: {test: ctgA, tune: ctgT, training: [ctgB, ctgC, ctgD]}
downsample: {fraction: 0.5, seed: 0}
simulation:
  seed: 97
  size: tiny
  contigs: {ctgA: 150000, ctgB: 60000, ctgC: 60000, ctgD: 60000, ctgT: 60000}
parameters:
  read_fractions: [1.0]
  original_overrides: [config.optimizer=adam, config.learning_rate=0.001, config.batch_size=32,
                       config.num_epochs=1, config.tune_every_steps=0, config.log_every_steps=10,
                       config.num_validation_examples=500]
"""


def run_book(args, data: Path, builds: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, LOWCOV_DATA=str(data), LOWCOV_PROFILE_BUILDS=str(builds))
    return subprocess.run([sys.executable, "-m", "lowcov.book", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=1500)


@pytest.mark.slow
def test_a_third_profile_runs_chapters_1_to_3_and_a_batch_compares_it(tmp_path):
    data, builds = tmp_path / "data", tmp_path / "builds"
    other = write_yaml(tmp_path / "other.yaml", OTHER_GENOME)
    result = run_book(["--profile", str(other), "--only", "01", "--only", "02", "--only", "03"], data, builds)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    layout = Layout(str(other), root=data / "other-genome")
    assert layout.dna_test_bam(0.5).name == "dna.ctgA.ds50.bam" and layout.dna_test_bam(0.5).exists()
    with pysam.AlignmentFile(str(layout.dna_test_bam(1.0))) as bam:
        assert bam.references == ("ctgA", "ctgB", "ctgC", "ctgD", "ctgT")
        assert {r.reference_name for r in bam.fetch(until_eof=True) if not r.is_unmapped} == {"ctgA"}
    train_info = json.loads((layout.examples_dir("dna.train") / "example_info.json").read_text())
    assert "ctgA" not in json.dumps(train_info["params"]["regions"])  # the test contig never trains
    executed = builds / "other-genome" / "executed"
    assert sorted(p.name[:2] for p in executed.glob("*.ipynb")) == ["01", "02", "03"]
    html = builds / "other-genome" / "_build" / "html"
    assert (html / "executed" / "03_original_model.html").exists()
    front = (html / "intro.html").read_text()
    assert "ctgA" in front and "ctgT" in front
    assert not (REPO_ROOT / "book" / "executed" / "run-state.json").exists() or \
        "other-genome" not in (REPO_ROOT / "book" / "executed" / "run-state.json").read_text()

    # a user's own files: the simulated genome's BAMs, reference and truth, linked in place
    mine = {"name": "own-files", "source": "files", "builds": {"dna": "sim2", "rna": "sim2"},
            "contigs": {"test": "ctgA", "tune": "ctgT", "training": ["ctgB", "ctgC", "ctgD"]},
            "inputs": {"dna_reference": {"path": str(layout.dna_reference)}, "dna_bam": {"path": str(layout.dna_bam)},
                       "truth_vcf": {"path": str(layout.truth_vcf)}, "confident_bed": {"path": str(layout.confident_bed)},
                       "rna_bam": {"path": str(layout.rna_bam("ccs"))}}}
    own = write_yaml(tmp_path / "own.yaml", mine)
    result = run_book(["--profiles", str(other), str(own), "--only", "01"], data, builds)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    own_layout = Layout(str(own), root=data / "own-files")
    assert os.path.samefile(own_layout.dna_bam, layout.dna_bam)  # linked, not copied
    assert own_layout.dna_test_bam(0.5).exists()
    table = pd.read_csv(builds / "comparison.csv", index_col="metric")
    assert list(table.columns[:2]) == ["other-genome", "own-files"] and table.columns[2].startswith("case study")
    row = table.loc["Original, full coverage: SNP F1"]
    assert row["other-genome"] > 0 and pd.isna(row["own-files"])  # own-files ran chapter 1 only
    assert row.iloc[2] == pytest.approx(0.998873)


def test_plan_flag_writes_the_seed_script_and_refuses_other_profiles(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOWCOV_DATA", str(tmp_path / "data"))
    plan = tmp_path / "seed.sh"
    assert book.main(["--profile", "seed", "--plan", str(plan)]) == 0
    script = plan.read_text()
    assert "--regions=chr1" in script and "--exclude_regions 10" in script  # hg19 test contig, GRCh38 tune contig
    assert not (tmp_path / "data" / "seed" / "calls").exists() or not any((tmp_path / "data" / "seed" / "calls").iterdir())
    assert book.main(["--profile", "demo", "--plan", str(tmp_path / "demo.sh")]) == 2
    assert "one case-study profile" in capsys.readouterr().err


def test_chapter_8_shows_the_seed_plan_without_touching_the_data_root(tmp_path, monkeypatch):
    from lowcov.report.plan import plan_differences_table, seed_plan

    monkeypatch.setenv("LOWCOV_DATA", str(tmp_path / "data"))
    steps, script = seed_plan()
    assert steps["commands"].sum() >= 40 and steps["step"].str.contains("V2: train").any()
    assert "$LOWCOV_DATA/seed/" in script and "/tmp/" not in script
    assert not (tmp_path / "data").exists()  # the plan was written into a temporary root
    assert plan_differences_table()["step"].str.startswith("V2 config.").any()


def test_the_readme_example_profile_is_valid(tmp_path):
    text = (REPO_ROOT / "README.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    profile = load_profile(write_yaml(tmp_path / "my_study.yaml", block), check_files=False)
    assert profile.source == "files" and profile.inputs["truth_vcf"].url.startswith("https://")
    book.check_profile_parameters(profile, book.discover())  # its parameters exist in the notebooks
