"""A stand-in container runtime for the deepvariant engine's tests: plays ``docker``/``podman``
(``run``, ``image inspect``, ``pull``) and ``apptainer``/``singularity`` (``exec``, ``pull``).

It checks what a real runtime and DeepVariant 1.8 would refuse, then writes outputs shaped as
DeepVariant's (it computes no real calls):

* the runtime: known images only, mounts at the same path inside and out whose host side exists, every
  absolute path in the command inside a mount;
* the binary's command line against ``tests/fixtures/deepvariant_1_8_flags.json`` (unknown flags, bad
  ``--config.<key>``, bad enum values, unknown ``--make_examples_extra_args`` keys are refused);
* make_examples: gzip TFRecord shards of tf.Example records with DeepVariant's keys, labelled from the
  truth VCF, and ``example_info.json`` beside shard 0;
* train: DeepVariant's checks (dataset configs, ``example_info.json`` beside the examples, the init
  checkpoint's ``.index``) then ``checkpoints/ema/checkpoint-<step>-<metric>-1.*`` and an event file; the
  checkpoints are placeholders, or loadable ones when the init checkpoint is a real TensorFlow checkpoint;
* run_deepvariant: the customized model's ``.index`` and ``example_info.json``, then a bgzipped,
  tabix-indexed VCF;  hap.py: ``<prefix>.summary.csv``.

Every folder it writes to gets :data:`lowcov.report.deepvariant.STANDIN_MARKER`, so the chapters say
plainly that their numbers are a rehearsal's placeholders.

Test controls (environment): ``STANDIN_CALLS`` (append one JSON line per run), ``STANDIN_FAIL_TASKS``
(make_examples tasks that fail), ``STANDIN_MISSING_IMAGES`` (images ``image inspect`` does not find).
"""
from __future__ import annotations

import json
import os
import re
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pysam

from lowcov.dvexamples import (DVExample, ExampleInfo, Variant, example_info_path, read_dataset_config,
                               sharded_filename, write_example_info, write_examples)
from lowcov.report.deepvariant import STANDIN_MARKER, STANDIN_MARKER_TEXT
from lowcov.tfrecord import RecordWriter, length_delimited, tag, varint

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "deepvariant_1_8_flags.json"
DV_IMAGES = {"google/deepvariant:1.8.0", "google/deepvariant:1.8.0-gpu"}
HAPPY_IMAGE = "jmcdani20/hap.py:v0.3.12"
BASE_CHANNELS = ["read_base", "base_quality", "mapping_quality", "strand", "read_supports_variant",
                 "base_differs_from_ref"]


class Refused(Exception):
    pass


def mark(folder: Path) -> None:
    """Leave the marker that tells the book these outputs are placeholders (DeepVariant writes none)."""
    (Path(folder) / STANDIN_MARKER).write_text(STANDIN_MARKER_TEXT)


def fail(message: str, code: int = 1):
    print(f"standin: {message}", file=sys.stderr)
    sys.exit(code)


# -- the runtime -----------------------------------------------------------------------------------


def parse_docker_run(args: list[str]) -> tuple[dict, str, list[str]]:
    options = {"mounts": [], "gpu": False, "workdir": None}
    i = 0
    while i < len(args) and args[i].startswith("-"):
        arg = args[i]
        if arg == "--rm":
            i += 1
        elif arg in ("-v", "--volume", "-w", "--user", "--gpus", "--device"):
            value = args[i + 1]
            if arg in ("-v", "--volume"):
                options["mounts"].append(value)
            elif arg == "-w":
                options["workdir"] = value
            elif arg == "--gpus":
                if value != "all":
                    raise Refused(f"--gpus {value}: the engine asks for all GPUs")
                options["gpu"] = True
            elif arg == "--device":
                if value != "nvidia.com/gpu=all":
                    raise Refused(f"--device {value}")
                options["gpu"] = True
            i += 2
        else:
            raise Refused(f"unknown run option {arg}")
    if i >= len(args):
        raise Refused("no image")
    return options, args[i], args[i + 1:]


def parse_apptainer_exec(args: list[str]) -> tuple[dict, str, list[str]]:
    options = {"mounts": [], "gpu": False, "workdir": None}
    i = 0
    while i < len(args) and args[i].startswith("-"):
        arg = args[i]
        if arg == "--cleanenv":
            i += 1
        elif arg == "--nv":
            options["gpu"] = True
            i += 1
        elif arg in ("--bind", "-B", "--pwd"):
            if arg == "--pwd":
                options["workdir"] = args[i + 1]
            else:
                options["mounts"].append(args[i + 1])
            i += 2
        else:
            raise Refused(f"unknown exec option {arg}")
    sif = Path(args[i])
    if not sif.exists():
        raise Refused(f"{sif}: no such SIF file")
    image = sif.read_text().strip()
    return options, image, args[i + 1:]


def check_mounts(options: dict, command: list[str]) -> list[Path]:
    mounted = []
    for spec in options["mounts"]:
        host, _, inside = spec.partition(":")
        if host != inside:
            raise Refused(f"mount {spec}: the engine mounts every path at the same path inside")
        if not Path(host).is_dir():
            raise Refused(f"mount {spec}: {host} is not an existing directory")
        mounted.append(Path(host))
    for arg in command[1:]:
        for value in re.split(r"[=,: ]", arg):
            value = value.strip("'\"")
            if value.startswith("/") and not value.startswith("/opt/"):
                path = Path(value.split("@")[0])
                if not any(path == m or m in path.parents for m in mounted):
                    raise Refused(f"{value} is not inside a mounted directory ({', '.join(map(str, mounted))})")
    return mounted


# -- flags -------------------------------------------------------------------------------------------


def parse_flags(binary: str, args: list[str], spec: dict) -> tuple[dict, list[str]]:
    """absl-style flags checked against the fixture; returns (values, positionals)."""
    flags, values, positionals = spec["flags"], {}, []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            i += 1
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        if binary == "train" and name.startswith("config."):
            key = name[len("config."):]
            if key not in spec["config_keys"]:
                raise Refused(f"train: --config.{key}: no such key in dv_config.py")
            if not has_value:
                raise Refused(f"train: --config.{key} needs =value")
            values.setdefault("config_overrides", {})[key] = value
            i += 1
            continue
        if name not in flags and name.startswith("no") and flags.get(name[2:], {}).get("type") == "bool":
            values[name[2:]] = False
            i += 1
            continue
        if name not in flags:
            raise Refused(f"{binary}: unknown flag --{name} (not in DeepVariant 1.8's flag definitions)")
        kind = flags[name]["type"]
        if kind == "bool" and not has_value:
            values[name] = True
            i += 1
            continue
        if not has_value:
            if i + 1 >= len(args):
                raise Refused(f"{binary}: --{name} needs a value")
            value = args[i + 1]
            i += 1
        i += 1
        if kind == "int":
            int(value)
        elif kind == "float":
            float(value)
        elif kind == "enum" and value not in flags[name]["choices"]:
            raise Refused(f"{binary}: --{name}={value} is not one of {flags[name]['choices']}")
        values[name] = value
    return values, positionals


def require(values: dict, binary: str, *names: str) -> None:
    for name in names:
        if not values.get(name):
            raise Refused(f"{binary}: --{name} is required")


def require_path(path: str, what: str, *sidecars: str) -> Path:
    if not Path(path).exists():
        raise Refused(f"{what} {path} does not exist")
    for suffix in sidecars:
        if not Path(path + suffix).exists():
            raise Refused(f"{what} {path} has no {suffix} beside it")
    return Path(path)


# -- binaries ------------------------------------------------------------------------------------------


def contigs_of(regions: str) -> list[str]:
    return [part.split(":")[0] for part in regions.split()]


def make_examples(values: dict, spec: dict) -> None:
    require(values, "make_examples", "mode", "ref", "reads", "examples")
    if values["mode"] != "training":
        raise Refused("the stand-in plays make_examples in training mode only")
    require(values, "make_examples", "truth_variants", "confident_regions", "channel_list")
    require_path(values["ref"], "reference", ".fai")
    require_path(values["reads"], "reads", ".bai")
    require_path(values["truth_variants"], "truth", ".tbi")
    require_path(values["confident_regions"], "confident regions")
    task = int(values.get("task", 0))
    if str(task) in os.environ.get("STANDIN_FAIL_TASKS", "").split(","):
        print(f"make_examples task {task}: simulated failure (STANDIN_FAIL_TASKS)")
        sys.exit(3)
    channels = []
    for name in re.split(r"[, ]+", values["channel_list"].replace("BASE_CHANNELS", ",".join(BASE_CHANNELS))):
        if name:
            channels.append(name)
    with pysam.AlignmentFile(values["reads"]) as bam:
        in_bam = set(bam.references)
    wanted = [c for c in contigs_of(values.get("regions", "")) if c not in set(contigs_of(values.get("exclude_regions", "")))]
    missing = [c for c in wanted if c not in in_bam]
    if missing:
        raise Refused(f"make_examples: region contig(s) {missing} are not in {values['reads']}")
    n_shards = int(re.search(r"@(\d+)", values["examples"]).group(1))
    rng = np.random.default_rng(task)
    examples = []
    with pysam.VariantFile(values["truth_variants"]) as truth:
        for number, record in enumerate(r for r in truth if r.contig in wanted):
            if number % n_shards != task:
                continue
            genotype = record.samples[0]["GT"]
            label = sum(1 for allele in genotype if allele)
            image = rng.integers(0, 255, size=(100, 221, len(channels)), dtype=np.uint8)
            variant = Variant(record.contig, record.start, record.stop, record.ref, tuple(record.alts))
            examples.append(DVExample(image, variant, (0,), min(label, 2)))
    write_examples(sharded_filename(values["examples"], task), examples)
    mark(Path(sharded_filename(values["examples"], task)).parent)
    if task == 0:
        write_example_info(example_info_path(values["examples"]),
                           ExampleInfo.from_names(100, 221, channels, "1.8.0"))
    print(f"make_examples task {task}: {len(examples)} examples")


def _scalar_event(step: int, wall_time: float, tag_name: str, value: float) -> bytes:
    """A tensorflow.Event holding one scalar as TF2 writes it (a float tensor)."""
    tensor = tag(1, 0) + varint(1) + length_delimited(2, b"") + length_delimited(5, struct.pack("<f", value))
    summary_value = length_delimited(1, tag_name.encode()) + length_delimited(8, tensor)
    summary = length_delimited(1, summary_value)
    return tag(1, 1) + struct.pack("<d", wall_time) + tag(2, 0) + varint(step) + length_delimited(5, summary)


#: the last 8 bytes of a TensorFlow checkpoint's .index (the table format's magic number, little-endian)
TF_INDEX_MAGIC = (0xdb4775248b80fb57).to_bytes(8, "little")


def is_tensorflow_checkpoint(prefix: str) -> bool:
    with open(f"{prefix}.index", "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() < len(TF_INDEX_MAGIC):
            return False
        handle.seek(-len(TF_INDEX_MAGIC), os.SEEK_END)
        return handle.read() == TF_INDEX_MAGIC


def checkpoint_writer(init_checkpoint: str, best_epoch: int):
    """How train's EMA checkpoints are written: placeholder bytes, unless the init checkpoint is a real
    TensorFlow checkpoint (a rehearsal of the controls that read the weights). Then every checkpoint is a
    loadable copy of it (hard links: no extra disk), except the best one, which holds weights and batch-norm
    statistics moved by a seeded jitter, as if trained, so that what reads it sees a checkpoint other than
    its start."""
    if not is_tensorflow_checkpoint(init_checkpoint):
        def placeholder(prefix: Path, epoch: int) -> None:
            Path(f"{prefix}.index").write_bytes(b"standin index")
            Path(f"{prefix}.data-00000-of-00001").write_bytes(b"standin weights")
        return placeholder

    def real(prefix: Path, epoch: int) -> None:
        if epoch != best_epoch:
            for suffix in (".index", ".data-00000-of-00001"):
                os.link(f"{init_checkpoint}{suffix}", f"{prefix}{suffix}")
            return
        import torch

        from lowcov.dvmodel import load_checkpoint, save_checkpoint

        module = load_checkpoint(init_checkpoint)
        generator = torch.Generator().manual_seed(epoch)
        with torch.no_grad():
            for tensor in module.parameters():
                tensor.mul_(1 + 0.01 * torch.randn(tensor.shape, generator=generator))
            for bn in module.bns:
                bn.running_mean.add_(0.05 * torch.randn(bn.running_mean.shape, generator=generator)
                                     * bn.running_var.sqrt())
                bn.running_var.mul_(1 + 0.1 * torch.rand(bn.running_var.shape, generator=generator))
        save_checkpoint(module, prefix)
    return real


def train(values: dict, spec: dict) -> None:
    require(values, "train", "config", "experiment_dir")
    config_path, _, config_name = values["config"].rpartition(":")
    require_path(config_path, "config file")
    if config_name not in spec["config_names"]:
        raise Refused(f"train: config {config_name!r} is not one of {spec['config_names']}")
    overrides = values.get("config_overrides", {})
    for key in ("train_dataset_pbtxt", "tune_dataset_pbtxt", "init_checkpoint"):
        if key not in overrides:
            raise Refused(f"train: --config.{key} is not set")
    train_config = read_dataset_config(require_path(overrides["train_dataset_pbtxt"], "train dataset config"))
    read_dataset_config(require_path(overrides["tune_dataset_pbtxt"], "tune dataset config"))
    directory = Path(train_config.tfrecord_path).parent
    info = directory / "example_info.json"
    if not info.exists():
        print(f"FileNotFoundError: example_info.json not found in directory {directory}")
        sys.exit(1)
    require_path(overrides["init_checkpoint"] + ".index", "init checkpoint index")
    batch = int(overrides.get("batch_size", 16384))
    epochs = int(overrides.get("num_epochs", 10))
    steps_per_epoch = max(1, train_config.num_examples // batch)
    experiment = Path(values["experiment_dir"])
    ema = experiment / "checkpoints" / "ema"
    ema.mkdir(parents=True, exist_ok=True)
    (experiment / "checkpoints" / "example_info.json").write_text(info.read_text())
    (ema / "example_info.json").write_text(info.read_text())
    mark(experiment)
    mark(ema)
    # a rise then a fall, so the best checkpoint is neither the first nor the last
    metrics = [0.90 + 0.03 * np.sin(np.pi * (e + 1) / (epochs + 1)) for e in range(epochs)]
    write_weights = checkpoint_writer(overrides["init_checkpoint"], int(np.argmax(metrics)))
    events = experiment / f"events.out.tfevents.{int(time.time())}.standin"
    with RecordWriter(events, compressed=False) as writer:
        writer.write(tag(1, 1) + struct.pack("<d", time.time()) + length_delimited(3, b"brain.Event:2"))
        for epoch, metric in enumerate(metrics):
            step = (epoch + 1) * steps_per_epoch
            for name, value in (("train/loss", 1.0 / (epoch + 2)), ("train/learning_rate", 0.001),
                                ("epoch", float(epoch)), ("tune/f1_weighted", metric)):
                writer.write(_scalar_event(step, 1000.0 + step, name, value))
            write_weights(ema / f"checkpoint-{step}-{metric:.5f}-1", epoch)
    print(f"train: {epochs} epochs of {steps_per_epoch} steps")


def run_deepvariant(values: dict, spec: dict) -> None:
    require(values, "run_deepvariant", "model_type", "ref", "reads", "output_vcf")
    require_path(values["ref"], "reference", ".fai")
    require_path(values["reads"], "reads", ".bai")
    model = values.get("customized_model")
    if model:
        require_path(model + ".index", "customized model index")
        if not (Path(model).parent / "example_info.json").exists():
            print(f"ValueError: example_info.json not found in {model}. Please check the checkpoint path.")
            sys.exit(1)
    if values.get("intermediate_results_dir") and not Path(values["intermediate_results_dir"]).is_dir():
        raise Refused("--intermediate_results_dir must exist")
    make_examples_flags = spec["all"]["make_examples"]["flags"]
    for item in filter(None, (values.get("make_examples_extra_args") or "").split(",")):
        key = item.split("=")[0].strip("-")
        if key not in make_examples_flags:
            raise Refused(f"run_deepvariant: --make_examples_extra_args names {key}, not a make_examples flag")
    lengths = dict(line.split("\t")[:2] for line in Path(values["ref"] + ".fai").read_text().splitlines())
    regions = contigs_of(values.get("regions") or " ".join(lengths))
    with pysam.AlignmentFile(values["reads"]) as bam:
        missing = [c for c in regions if c not in bam.references]
        sample = next((rg.get("SM") for rg in bam.header.to_dict().get("RG", []) if rg.get("SM")), "default")
    if missing:
        raise Refused(f"run_deepvariant: regions {missing} not in {values['reads']}")
    header = pysam.VariantHeader()
    for contig, length in lengths.items():
        header.contigs.add(contig, length=int(length))
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.add_line('##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Conditional genotype quality">')
    header.add_line('##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">')
    header.add_line('##FILTER=<ID=RefCall,Description="Genotyping model thinks this site is reference.">')
    header.add_line(f"##standin_model={model or values['model_type']}")
    header.add_sample(sample)
    out = Path(values["output_vcf"])
    plain = out.with_name(out.name.removesuffix(".gz"))
    with pysam.FastaFile(values["ref"]) as fasta, pysam.VariantFile(str(plain), "w", header=header) as vcf:
        for contig in regions:
            for number, position in enumerate(range(100, min(int(lengths[contig]), 2000), 300)):
                ref = fasta.fetch(contig, position, position + 1).upper()
                alt = {"A": "G", "C": "T", "G": "A", "T": "C"}.get(ref, "A")
                record = vcf.new_record(contig=contig, start=position, stop=position + 1, alleles=(ref, alt))
                # het, hom-alt and RefCall records in turn, so that filters downstream have each to sort
                kind = number % 3
                record.filter.add("RefCall" if kind == 2 else "PASS")
                record.samples[sample]["GT"] = ((0, 1), (1, 1), (0, 0))[kind]
                record.samples[sample]["GQ"] = 30
                record.samples[sample]["DP"] = 12
                vcf.write(record)
    pysam.tabix_index(str(plain), preset="vcf", force=True)
    mark(out.parent)
    print(f"run_deepvariant: wrote {out}")


def happy(values: dict, positionals: list[str], spec: dict) -> None:
    if len(positionals) != 2:
        raise Refused("hap.py: expected TRUTH and QUERY")
    require(values, "hap.py", "r", "o", "f")
    truth, query = (require_path(p, "VCF") for p in positionals)
    keys = {}
    for name, path in (("truth", truth), ("query", query)):
        with pysam.VariantFile(str(path)) as vcf:
            keys[name] = {(r.contig, r.pos, r.ref, r.alts[0]) for r in vcf if r.contig == values.get("l", r.contig)}
    tp = len(keys["truth"] & keys["query"])
    rows = ["Type,Filter,TRUTH.TOTAL,TRUTH.TP,TRUTH.FN,QUERY.TOTAL,QUERY.FP,METRIC.Recall,METRIC.Precision"]
    for kind in ("INDEL", "SNP"):
        for filt in ("ALL", "PASS"):
            rows.append(f"{kind},{filt},{len(keys['truth'])},{tp},{len(keys['truth']) - tp},{len(keys['query'])},"
                        f"{len(keys['query']) - tp},{tp / max(1, len(keys['truth'])):.6f},"
                        f"{tp / max(1, len(keys['query'])):.6f}")
    Path(values["o"] + ".summary.csv").write_text("\n".join(rows) + "\n")
    mark(Path(values["o"]).parent)


# -- entry point ---------------------------------------------------------------------------------------


def run_container(image: str, command: list[str]) -> None:
    fixture = json.loads(FIXTURE.read_text())
    if image == HAPPY_IMAGE:
        spec = fixture["binaries"]["hap.py"]
        if command[0] != spec["path"]:
            raise Refused(f"{image} has no {command[0]}")
        values, positionals = parse_flags("hap.py", command[1:], spec)
        happy(values, positionals, spec)
        return
    if image not in DV_IMAGES:
        raise Refused(f"unknown image {image}")
    name = command[0].rsplit("/", 1)[-1]
    if name not in fixture["binaries"] or command[0] != fixture["binaries"][name]["path"]:
        raise Refused(f"{image} has no {command[0]}")
    spec = dict(fixture["binaries"][name], all=fixture["binaries"])
    values, positionals = parse_flags(name, command[1:], spec)
    if positionals:
        raise Refused(f"{name}: unexpected arguments {positionals}")
    {"make_examples": make_examples, "train": train, "run_deepvariant": run_deepvariant}[name](values, spec)


def main(argv: list[str]) -> None:
    runtime, args = argv[0], argv[1:]
    calls = os.environ.get("STANDIN_CALLS")
    if calls:
        with open(calls, "a") as handle:
            handle.write(json.dumps({"runtime": runtime, "args": args}) + "\n")
    try:
        if runtime in ("docker", "podman"):
            if args[:2] == ["image", "inspect"]:
                missing = set(filter(None, os.environ.get("STANDIN_MISSING_IMAGES", "").split(",")))
                if args[2] in missing or (args[2] not in DV_IMAGES and args[2] != HAPPY_IMAGE):
                    fail(f"Error: No such image: {args[2]}")
                print("[{}]")
                return
            if args[:1] != ["run"]:
                raise Refused(f"{runtime} {' '.join(args[:1])} is not played")
            options, image, command = parse_docker_run(args[1:])
        elif runtime in ("apptainer", "singularity"):
            if args[:1] == ["pull"]:
                Path(args[1]).write_text(args[2].removeprefix("docker://") + "\n")
                return
            if args[:1] != ["exec"]:
                raise Refused(f"{runtime} {' '.join(args[:1])} is not played")
            options, image, command = parse_apptainer_exec(args[1:])
        else:
            raise Refused(f"unknown runtime {runtime}")
        check_mounts(options, command)
        run_container(image, command)
    except Refused as exc:
        fail(str(exc), 2)


if __name__ == "__main__":
    main(sys.argv[1:])
