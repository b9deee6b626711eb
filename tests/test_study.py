"""The RNA pseudo-truth and fine-tuning helpers of lowcov.study's experiments, on small files written here."""
from __future__ import annotations

import numpy as np
import pysam
import pytest

from lowcov import InputError, checks
from lowcov.shards import ExampleSet, ExampleSets
from lowcov.study import controls, fine_tuning, original_model, pseudo_truth, rna_examples
from lowcov.layout import Layout
from lowcov.train import CASE_STUDY_V1, CASE_STUDY_V2, TrainConfig


def write_bam(path, genome: dict[str, str], reads: list[tuple[str, int, str]]) -> str:
    """reads: (contig, 0-based start, CIGAR); sequences copied from the reference (N ops skip it)."""
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": name, "LN": len(seq)} for name, seq in genome.items()],
              "RG": [{"ID": "rg", "SM": "S1"}]}
    names = list(genome)
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for index, (contig, start, cigar) in enumerate(sorted(reads, key=lambda r: (names.index(r[0]), r[1]))):
            segment = pysam.AlignedSegment(out.header)
            segment.query_name = f"read{index}"
            segment.reference_id = names.index(contig)
            segment.reference_start = start
            segment.cigarstring = cigar
            segment.mapping_quality = 60
            bases, position = [], start
            for op, length in segment.cigartuples:
                if op == 0:
                    bases.append(genome[contig][position:position + length])
                if op in (0, 2, 3):
                    position += length
            segment.query_sequence = "".join(bases)
            segment.query_qualities = pysam.qualitystring_to_array("I" * len(segment.query_sequence))
            segment.set_tag("RG", "rg")
            out.write(segment)
    pysam.index(str(path))
    return str(path)


def bed_lines(path) -> list[tuple[str, int, int]]:
    return [(f[0], int(f[1]), int(f[2])) for f in (line.split("\t") for line in open(path).read().splitlines())]


def test_rna_confident_regions_are_depth_3_intersected_with_dna_confident(tmp_path, small_genome):
    fasta, genome = small_genome
    reads = [("chr2", 1000, "100M")] * 2 + [("chr2", 1050, "150M")]  # depth 3 on [1050, 1100)
    # two spliced reads and one plain read: the splice gap [2100, 2900) has depth 1, the exons 3
    reads += [("chr2", 2000, "100M800N100M")] * 2 + [("chr2", 1990, "1000M")]
    reads += [("chr1", 500, "100M")] * 5  # deep, but chr1 is not asked for
    bam = write_bam(tmp_path / "rna.bam", genome, reads)
    dna_confident = tmp_path / "dna.bed"
    dna_confident.write_text("chr2\t1060\t5000\nchr1\t0\t20000\n")
    out = tmp_path / "rna.bed"
    counts = pseudo_truth.rna_confident_regions(bam, dna_confident, ["chr2"], out, min_depth=3)
    assert bed_lines(out) == [("chr2", 1060, 1100), ("chr2", 2000, 2100), ("chr2", 2900, 2990)]
    assert counts == {"rna_min_depth_bases": 50 + 100 + 90, "confident_bases": 40 + 100 + 90}
    # a higher threshold leaves only what is deeper
    pseudo_truth.rna_confident_regions(bam, dna_confident, ["chr2"], out, min_depth=4)
    assert bed_lines(out) == []


def test_rna_confident_regions_refuse_a_bed_of_another_build(tmp_path, small_genome):
    fasta, genome = small_genome
    bam = write_bam(tmp_path / "rna.bam", genome, [("chr2", 100, "100M")])
    bed = tmp_path / "grch38.bed"
    bed.write_text("2\t0\t1000\n")
    with pytest.raises(InputError, match="reference build"):
        pseudo_truth.rna_confident_regions(bam, bed, ["chr2"], tmp_path / "out.bed")


def write_calls(path, genome, records) -> str:
    """records: (pos, ref, alt, filter, GT, GQ, DP) on chr1."""
    plain = str(path).removesuffix(".gz")
    with open(plain, "w") as handle:
        handle.write("##fileformat=VCFv4.2\n")
        for name, seq in genome.items():
            handle.write(f"##contig=<ID={name},length={len(seq)}>\n")
        handle.write('##FILTER=<ID=RefCall,Description="ref">\n##FILTER=<ID=LowQual,Description="low">\n')
        for key, kind in (("GT", "String"), ("GQ", "Integer"), ("DP", "Integer")):
            handle.write(f'##FORMAT=<ID={key},Number=1,Type={kind},Description="{key}">\n')
        handle.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n")
        for pos, ref, alt, flt, gt, gq, dp in records:
            handle.write(f"chr1\t{pos}\t.\t{ref}\t{alt}\t30\t{flt}\t.\tGT:GQ:DP\t{gt}:{gq}:{dp}\n")
    pysam.tabix_index(plain, preset="vcf", force=True)
    return plain + ".gz"


def test_pseudo_truth_keeps_pass_non_ref_calls_above_the_thresholds(tmp_path, small_genome):
    fasta, genome = small_genome
    seq = genome["chr1"]
    alt = lambda p: "ACGT"[("ACGT".index(seq[p - 1]) + 1) % 4]  # noqa: E731
    records = [(100, seq[99], alt(100), "PASS", "0/1", 30, 12),   # kept
               (200, seq[199], alt(200), "PASS", "1/1", 20, 3),   # kept: exactly at both thresholds
               (300, seq[299], alt(300), "PASS", "0/1", 19, 12),  # GQ too low
               (400, seq[399], alt(400), "RefCall", "0/0", 50, 12),
               (500, seq[499], alt(500), "LowQual", "0/1", 50, 12),
               (600, seq[599], alt(600), "PASS", "0/0", 50, 12),  # PASS but a reference genotype
               (700, seq[699], alt(700), "PASS", "1/1", 50, 2)]   # too few reads
    calls = write_calls(tmp_path / "calls.vcf.gz", genome, records)
    out = tmp_path / "pseudo.vcf.gz"
    counts = pseudo_truth.filter_pseudo_truth(calls, out, min_gq=20, min_depth=3)
    with pysam.VariantFile(str(out)) as vcf:
        assert [r.pos for r in vcf] == [100, 200]
    assert (tmp_path / "pseudo.vcf.gz.tbi").exists()
    assert counts == {"records": 7, "not_pass": 2, "ref_genotype": 1, "low_gq": 1, "low_depth": 1, "kept": 2}
    # threshold 0 keeps every PASS non-ref call
    assert pseudo_truth.filter_pseudo_truth(calls, out, min_gq=0, min_depth=0)["kept"] == 4


def test_calls_at_editing_sites_match_position_and_allele(tmp_path, small_genome):
    fasta, genome = small_genome
    seq = genome["chr1"]
    other = lambda p, k: "ACGT"[("ACGT".index(seq[p - 1]) + k) % 4]  # noqa: E731
    calls = write_calls(tmp_path / "calls.vcf.gz", genome, [(100, seq[99], other(100, 1), "PASS", "0/1", 30, 9),
                                                            (200, seq[199], other(200, 1), "PASS", "1/1", 30, 9)])
    sites = write_calls(tmp_path / "sites.vcf.gz", genome, [(100, seq[99], other(100, 1), "PASS", "0/1", 0, 0),
                                                            (200, seq[199], other(200, 2), "PASS", "0/1", 0, 0)])
    found = pseudo_truth.calls_at_sites(calls, sites)
    assert found.position.tolist() == [100] and found.GT.tolist() == ["0/1"]


def test_missing_stage_outputs_name_the_notebook_that_makes_them(tmp_path):
    layout = Layout("demo", root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"rna_ccs\.pseudo_truth\.vcf\.gz is missing: run notebook 04_truth_generation"):
        pseudo_truth.RnaTruth.existing(layout, "ccs")
    with pytest.raises(FileNotFoundError, match=r"rna_isoseq\.train.*run notebook 05_make_examples"):
        rna_examples.existing_rna_examples(layout, "isoseq")
    with pytest.raises(FileNotFoundError, match=r"v1.*best_checkpoint\.json is missing: run notebook 06_finetune"):
        fine_tuning.fine_tuned_checkpoints(layout, "v1")
    with pytest.raises(FileNotFoundError, match="original.*best.pt is missing: run notebook 03_original_model"):
        pseudo_truth.rna_pseudo_truth(layout, original_model.original_checkpoint(layout))
    checks.require_inputs({tmp_path: "00_none"})  # present: no error


def test_fine_tune_config_is_the_case_study_lists_plus_the_init_checkpoint(tmp_path):
    v1 = fine_tuning.fine_tune_config(CASE_STUDY_V1, tmp_path / "best.pt", threads=1)
    assert (v1.learning_rate, v1.batch_size, v1.num_validation_examples, v1.early_stopping_patience,
            v1.warmup_steps) == (0.001, 256, 0, 50, 1000)
    assert v1.init_checkpoint == str(tmp_path / "best.pt") and v1.num_threads == 1
    assert v1.num_epochs == TrainConfig().num_epochs and v1.tune_every_steps == TrainConfig().tune_every_steps
    # lowcov's one addition: bfloat16 where the device computes it natively, as the original model
    assert v1.precision == fine_tuning.FINE_TUNE_PRECISION == "auto" != TrainConfig().precision
    v2 = fine_tuning.fine_tune_config(CASE_STUDY_V2, "x.pt", ["config.log_every_steps=1", "config.seed=7"])
    assert (v2.num_epochs, v2.weight_decay, v2.learning_rate_decay_rate, v2.warmup_steps) == (20, 0.00005, 0.995, 500)
    assert (v2.log_every_steps, v2.seed) == (1, 7)
    with pytest.raises(InputError, match=r"\[.learning_rate.\] would change the method"):
        fine_tuning.fine_tune_config(CASE_STUDY_V1, "x.pt", ["config.learning_rate=0.1"])


def test_controls_are_v2_plus_their_lines_and_change_only_what_they_say(tmp_path):
    v2 = fine_tuning.fine_tune_config(CASE_STUDY_V2, "x.pt")
    changed = {}
    for control in controls.FINE_TUNE_CONTROLS:
        assert control.overrides[:len(CASE_STUDY_V2)] == list(CASE_STUDY_V2)
        config = fine_tuning.fine_tune_config(control.overrides, "x.pt")
        changed[control.slug] = {k: getattr(config, k) for k in TrainConfig.__dataclass_fields__
                                 if getattr(config, k) != getattr(v2, k)}
    assert changed == {"v2_frozen_bn": {"freeze_batch_norm": True},
                       "v2_small_batches": {"batch_size": 32, "warmup_steps": 0},
                       "v2_small_batches_frozen_bn": {"batch_size": 32, "warmup_steps": 0, "freeze_batch_norm": True},
                       # the data controls keep V2's settings: only their examples (and the DNA one's steps) differ
                       "dna_low_coverage": {}, "rna_truth_labels": {}}
    chosen = controls.fine_tune_controls(["v2_small_batches", "v2_frozen_bn"])
    assert [c.slug for c in chosen] == ["v2_frozen_bn", "v2_small_batches"]  # the library's order
    runs = [(run.name, run.directory, run.seed) for control in controls.FINE_TUNE_CONTROLS for run in control.runs]
    assert runs[:3] == [("V2, frozen BN", "v2_frozen_bn", 2024),
                        ("V2, small batches (seed 2024)", "v2_small_batches", 2024),
                        ("V2, small batches (seed 2025)", "v2_small_batches_seed2025", 2025)]
    # V2's seeds for the small-batch runs; one seed for each data control (they cost as much as V2 itself)
    assert len({directory for _, directory, _ in runs}) == len(runs) == 9
    assert [run.name for run in controls.fine_tune_controls(["dna_low_coverage", "rna_truth_labels"])[0].runs] == \
        ["DNA at 50 %"]
    with pytest.raises(ValueError, match=r"unknown fine-tuning controls \['v3'\]"):
        controls.fine_tune_controls(["v3"])


def test_the_dna_and_small_batch_controls_run_v2s_number_of_steps(tmp_path, monkeypatch):
    dna, small = controls.fine_tune_controls(["dna_low_coverage", "v2_small_batches"])[::-1]
    assert dna.examples == "dna_low_coverage" and dna.steps_of_v2 and small.steps_of_v2
    assert not controls.fine_tune_controls(["rna_truth_labels"])[0].steps_of_v2  # V2's epochs on V2's examples
    seen = {}
    monkeypatch.setattr(controls, "fine_tune", lambda layout, directory, overrides, sets, init, extra, threads, force, nproc=1:
                        seen.update(directory=directory, extra=extra))
    controls.fine_tune_control(Layout("demo", root=tmp_path), dna.runs[0], None, "x.pt", v2_steps=20)
    assert seen == {"directory": "dna_low_coverage", "extra": ["config.seed=2024", "config.max_steps=20"]}
    run = small.runs[1]
    controls.fine_tune_control(Layout("demo", root=tmp_path), run, None, "x.pt", v2_steps=190)
    assert seen == {"directory": "v2_small_batches_seed2025", "extra": ["config.seed=2025", "config.max_steps=190"]}
    with pytest.raises(ValueError, match="as many steps as V2"):
        controls.fine_tune_control(Layout("demo", root=tmp_path), run, None, "x.pt")
    with pytest.raises(ValueError, match="examples must be one of"):
        controls.FineTuneControl("x", "x", (), "", examples="protein")


def test_replicate_runs_are_named_and_stored_apart():
    seeds = fine_tuning.REPLICATE_SEEDS
    assert len(set(seeds)) >= 3 and seeds[0] == TrainConfig().seed  # the first replicate is the unreplicated run
    assert [fine_tuning.run_directory("v2", s) for s in seeds] == ["v2"] + [f"v2_seed{s}" for s in seeds[1:]]
    assert fine_tuning.run_name("V2", 2025, fine_tuning.REPLICATE_SEEDS) == "V2 (seed 2025)"
    assert fine_tuning.run_name("V2", 2024, (2024,)) == "V2"


def test_original_statistics_need_a_finished_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 06_finetune"):
        controls.with_original_statistics(Layout("demo", root=tmp_path), "v1")


def test_class_balance_counts_and_fractions(tmp_path):
    from lowcov.shards import write_info, write_shard

    def example_set(name, labels):
        directory = tmp_path / name
        directory.mkdir()
        write_shard(directory / "shard-00000-of-00001.npz", np.zeros((len(labels), 4, 5, 1), np.uint8),
                    np.array(labels), {})
        counts = np.bincount(labels, minlength=3)
        write_info(directory, {"height": 4, "width": 5, "channels": ["read_base"], "n_examples": len(labels),
                               "shards": ["shard-00000-of-00001.npz"],
                               "class_counts": {"hom_ref": int(counts[0]), "het": int(counts[1]),
                                                "hom_alt": int(counts[2])}})
        return ExampleSet.open(directory)

    balance = rna_examples.class_balance(ExampleSets(example_set("train", [0, 0, 1, 2]), example_set("tune", [2])))
    assert balance.loc["train", ["hom_ref", "het", "hom_alt", "examples"]].tolist() == [2, 1, 1, 4]
    assert balance.loc["train", "hom_ref fraction"] == 0.5 and balance.loc["tune", "hom_alt fraction"] == 1.0


def test_notebook_03_trains_the_original_model_with_the_library_settings():
    """The notebook's parameters cell repeats the settings as literals (papermill injects literals only):
    they must be the ones lowcov.study documents."""
    import ast
    import json

    from lowcov.layout import REPO_ROOT

    notebook = json.loads((REPO_ROOT / "notebooks" / "03_original_model.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", []))
    values = {target.id: ast.literal_eval(node.value) for node in ast.parse("".join(cell["source"])).body
              if isinstance(node, ast.Assign) for target in node.targets}
    assert values["original_overrides"] == original_model.DEMO_ORIGINAL_OVERRIDES
    assert tuple(values["read_fractions"]) == original_model.DEMO_READ_FRACTIONS


def test_original_statistics_are_put_into_the_end_of_run_weights(tmp_path):
    import json

    import torch

    from lowcov.model import build_model, read_checkpoint_payload, save_checkpoint

    layout = Layout("demo", root=tmp_path)
    torch.manual_seed(0)
    original = build_model("compact", 20, 31)
    save_checkpoint(original_model.original_checkpoint(layout), original)
    run = layout.model_dir("v1")
    (run / "checkpoints").mkdir(parents=True)
    tuned = build_model("compact", 20, 31)
    for layer in tuned.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.running_mean.add_(1.0)
    save_checkpoint(run / "checkpoints" / "ckpt-3.pt", tuned)
    save_checkpoint(run / "checkpoints" / "best.pt", tuned)
    (run / "best_checkpoint.json").write_text(json.dumps({"complete": True, "steps": 3,
                                                          "best_checkpoint": "checkpoints/best.pt"}))
    out = controls.with_original_statistics(layout, "v1")
    state = read_checkpoint_payload(out)["state_dict"]
    donor = original.state_dict()
    means = [k for k in state if k.endswith("running_mean")]
    assert means and all(torch.equal(state[k], donor[k]) for k in means)
    weights = [k for k in state if k.endswith("weight")]
    assert all(torch.equal(state[k], tuned.state_dict()[k]) for k in weights)


def test_the_fitted_settings_read_their_values_from_the_code():
    from dataclasses import replace

    from lowcov.simulate import DemoConfig
    from lowcov.study import fitted

    table = fitted.fitted_table()
    assert table.loc["simulate.DemoConfig.confident_fraction", "value"] == str(DemoConfig().confident_fraction)
    other = fitted.fitted_table(replace(DemoConfig(), rna_read_count=6000))
    assert other.loc["simulate.DemoConfig.expression_sd, rna_read_count", "value"].endswith("6,000 reads")
    genes = table.loc["simulate.DemoConfig.intergenic_mean, intron_median, intron_length, exon_length, transcript_length"]
    assert genes.value == "150, 120, (70, 2000), (500, 1000), (1500, 4500)"
    assert original_model.DEMO_ORIGINAL_OVERRIDES[0] in table.loc["study.original_model.DEMO_ORIGINAL_OVERRIDES", "value"]
    assert table.loc["pileup.DEFAULT_CHANNELS (beyond DeepVariant's WGS channels)", "value"] == "homopolymer_weighted"
    assert table.loc["realigner.RealignerConfig.min_haplotype_reads", "value"] == "2"
    assert table.loc["model.COMPACT_BLOCK_WIDTH", "value"] == "32 channels"
    assert (table.target.str.len() > 0).all() and (table.how.str.len() > 0).all()


def test_sweep_datasets_are_named_by_their_fraction_and_made_from_the_full_bam(tmp_path, diploid_sample):
    import shutil

    from lowcov.study import evaluation

    assert [evaluation.dataset_of(f) for f in (1.0, 0.5, 0.1, 0.7)] == ["full", "downsampled", "ds10", "ds70"]
    assert evaluation.fraction_of("ds20") == 0.2 and evaluation.fraction_of("downsampled") == 0.5
    with pytest.raises(ValueError, match="dsNN"):
        evaluation.fraction_of("half")
    layout = Layout("demo", root=tmp_path / "data")
    full = layout.dna_test_bam(1.0)
    shutil.copy(diploid_sample["bam"], full)
    shutil.copy(str(diploid_sample["bam"]) + ".bai", str(full) + ".bai")
    bam = evaluation.test_bam(layout, "ds20")
    with pysam.AlignmentFile(str(bam)) as small, pysam.AlignmentFile(str(full)) as whole:
        kept, total = sum(1 for _ in small), sum(1 for _ in whole)
    assert 0.1 * total < kept < 0.3 * total
    with pytest.raises(FileNotFoundError, match="01_data_acquisition"):
        evaluation.test_bam(layout, "downsampled")


def test_rna_confident_regions_without_dna_regions_are_rna_depth_alone(tmp_path, small_genome):
    """RNA on another build than the DNA truth: the DNA regions' coordinates do not carry over, so the
    deepvariant chapters pass none and every base with RNA depth >= 3 is confident."""
    fasta, genome = small_genome
    bam = write_bam(tmp_path / "rna.bam", genome, [("chr2", 1000, "100M")] * 2 + [("chr2", 1050, "150M")])
    out = tmp_path / "rna.bed"
    counts = pseudo_truth.rna_confident_regions(bam, None, ["chr2"], out, min_depth=3)
    assert bed_lines(out) == [("chr2", 1050, 1100)]
    assert counts == {"rna_min_depth_bases": 50, "confident_bases": 50}


def test_cells_of_the_other_engine_are_skipped_and_hidden(tmp_path, monkeypatch):
    import json

    from lowcov.study import engine_cells

    native = ["# engine: native\n", "x = 1\n"]
    shared = ["x = 2\n"]
    on_deepvariant = engine_cells.skip_other_engine("deepvariant")
    assert on_deepvariant(native) == ["pass\n"] and on_deepvariant(shared) == shared
    assert engine_cells.skip_other_engine("native")(native) == native  # the chosen engine's cells run as written
    assert engine_cells.cell_engine(["\n", "# engine: deepvariant\n", "y = 1\n"]) == "deepvariant"
    assert engine_cells.cell_engine(["y = 1  # engine: native\n"]) is None  # only a leading marker line counts
    assert engine_cells.chapter_engine(None, Layout("seed", root=tmp_path)) == "deepvariant"
    assert engine_cells.chapter_engine("native", Layout("seed", root=tmp_path)) == "native"
    with pytest.raises(ValueError, match="engine must be one of"):
        engine_cells.chapter_engine("gatk", Layout("demo", root=tmp_path))

    executed = tmp_path / "03.ipynb"
    cells = [{"cell_type": "code", "metadata": {"tags": ["hide-input"]}, "source": "".join(native), "outputs": []},
             {"cell_type": "code", "metadata": {}, "source": ["# engine: deepvariant\n", "dv = 1"], "outputs": []},
             {"cell_type": "markdown", "metadata": {"tags": ["engine-native"]}, "source": "Training ran..."},
             {"cell_type": "markdown", "metadata": {}, "source": "## Quick tests"}]
    executed.write_text(json.dumps({"cells": cells, "metadata": {"papermill": {"parameters": {"profile": "seed"}}}}))
    assert engine_cells.hide_other_engine_cells(executed) == 2
    tags = [c["metadata"].get("tags", []) for c in json.loads(executed.read_text())["cells"]]
    assert ["remove-cell" in t for t in tags] == [True, False, True, False]
    assert engine_cells.hide_other_engine_cells(executed) == 0  # already hidden


def test_every_engine_chapter_declares_the_engine_and_marks_its_cells():
    """Chapters 3-7: an ``engine`` parameter; the setup cell chooses the cells before any marked cell runs;
    each deepvariant cell's prose comes from the library (no glue: the native chapters' glue names stay theirs)."""
    import json

    from lowcov.layout import REPO_ROOT
    from lowcov.study.engine_cells import cell_engine

    for number in ("03", "04", "05", "06", "07"):
        path = next((REPO_ROOT / "notebooks").glob(f"{number}_*.ipynb"))
        cells = json.loads(path.read_text())["cells"]
        parameters = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
        assert "engine = None" in "".join(parameters["source"]), path.name
        code = [c for c in cells if c["cell_type"] == "code"]
        owners = [cell_engine("".join(c["source"]).splitlines(keepends=True)) for c in code]
        setup = next(i for i, c in enumerate(code) if "engine_cells.run_cells_of(engine)" in "".join(c["source"]))
        assert all(owner is None for owner in owners[:setup + 1]), path.name
        assert "deepvariant" in owners and "native" in owners, path.name
        for cell, owner in zip(code, owners):
            if owner == "deepvariant":
                assert "glue(" not in "".join(cell["source"]), path.name


def test_fake_seed_profile_has_two_builds(tmp_path):
    """The rehearsal's data: DNA on hg19-like names, RNA aligned to a renamed copy with GRCh38-like names."""
    from lowcov.checks import bam_contigs, fasta_contigs
    from lowcov.demo import FAKE_SEED_CONTIGS, write_fake_seed
    from lowcov.profile import load_profile

    profile = load_profile(write_fake_seed(tmp_path, seed=5, parameters={"dv_shards": 2}))
    assert (profile.engine, profile.source, profile.parameters) == ("deepvariant", "files", {"dv_shards": 2})
    dna, rna = profile.input_path("dna_reference"), profile.input_path("rna_reference")
    assert list(fasta_contigs(dna)) == list(FAKE_SEED_CONTIGS)
    assert list(fasta_contigs(rna)) == [name.removeprefix("chr") for name in FAKE_SEED_CONTIGS]
    with pysam.FastaFile(str(dna)) as hg19_like, pysam.FastaFile(str(rna)) as grch38_like:
        assert hg19_like.fetch("chr10") == grch38_like.fetch("10")
    rna_bam = profile.input_path("rna_bam")
    assert list(bam_contigs(rna_bam)) == list(fasta_contigs(rna))
    with pysam.AlignmentFile(str(rna_bam)) as bam:
        assert bam.mapped > 100
    assert (profile.rna.test, profile.rna.tune) == ("1", "10")


def test_fine_tuning_without_the_published_model_says_where_to_get_it(tmp_path):
    from lowcov.engines.deepvariant import DeepVariantEngine
    from lowcov.engines.runtime import ContainerRuntime
    from lowcov.study import deepvariant

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "dv_config.py").write_text("# config\n")
    engine = DeepVariantEngine(runtime=ContainerRuntime("docker"), dv_config=downloads / "dv_config.py",
                               init_checkpoint=downloads / "deepvariant.wgs.ckpt")
    with pytest.raises(InputError, match=r"deepvariant\.wgs\.ckpt\.index, .* is missing: the seed profile downloads"):
        deepvariant.require_published_model(engine)
    for suffix in (".index", ".data-00000-of-00001"):
        (downloads / f"deepvariant.wgs.ckpt{suffix}").write_bytes(b"x")
    (downloads / "example_info.json").write_text("{}")
    deepvariant.require_published_model(engine)
