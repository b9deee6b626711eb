"""call_variants: genotype probabilities for every example of an example set, then the VCF.

Reads an example set (:mod:`lowcov.make_examples`) and a checkpoint; writes a VCF through
:mod:`lowcov.postprocess_variants` (the two are one call here, as ``run_deepvariant`` chains them).
Each example shard is predicted on its own (a shard's batches do not depend on any other shard), so the
shards can run as tasks of :mod:`lowcov.executor`: in this process by default, on local worker processes
(``threads``) or on a Dask cluster (``scheduler``); the predictions are the same numbers wherever they run.
"""
from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam
from .executor import ENV_VAR, ExecutorError, in_worker, run_shards
from .fileio import atomic_output
from .postprocess_variants import write_vcf
from .shards import ExampleSet, read_shard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallConfig:
    #: on 2 CPU cores 128 called ~850 examples/s end to end and 512 ~570: bigger batches only add memory
    #: traffic there (the calls are the same)
    batch_size: int = 128
    device: str | None = None  # None: the GPU when PyTorch sees one, else the CPU
    min_qual: float = 1.0
    max_qual: float = 99.0
    max_gq: int = 99
    sample: str | None = None  # default: the SM of the examples' BAM read group


def _device(config: CallConfig) -> str:
    import torch

    return config.device or ("cuda" if torch.cuda.is_available() else "cpu")


@functools.lru_cache(maxsize=1)
def _loaded_model(checkpoint: str, version: tuple[int, int], geometry: tuple, device: str):
    """The checkpoint's network, loaded once per process while the checkpoint file stays the same
    (``version``: its size and modification time)."""
    from .model import load_for_inference

    height, width, channels = geometry
    return load_for_inference(checkpoint, height, width, list(channels), device).model


def _predict_shard(task) -> tuple[np.ndarray, dict, np.ndarray]:
    """Task: (probabilities, metadata, labels) of one example shard."""
    from .model import predict

    if in_worker():
        # one core per task; Dask's OMP_NUM_THREADS=1 comes too late when the worker imported torch early
        # (spawned local workers import the calling script again, and with it its imports)
        import torch

        torch.set_num_threads(1)
    shard_path, checkpoint, geometry, config = task
    device = _device(config)
    from .dvmodel import is_checkpoint_prefix

    # a DeepVariant checkpoint is a prefix, not a file: its .index changes whenever it is rewritten
    stat = os.stat(f"{checkpoint}.index" if is_checkpoint_prefix(checkpoint) and not os.path.isfile(checkpoint)
                   else checkpoint)
    model = _loaded_model(str(checkpoint), (stat.st_size, stat.st_mtime_ns), geometry, device)
    shard = read_shard(shard_path)
    return predict(model, shard.images, config.batch_size, device), shard.meta, shard.labels


def predict_examples(examples: ExampleSet, checkpoint: str | os.PathLike, config: CallConfig = CallConfig(),
                     threads: int = 1, scheduler=None):
    """(probabilities [N, 3], metadata dict of arrays, labels) for every example, in example order.

    ``threads`` > 1 predicts the shards on that many local worker processes of one torch thread each;
    ``scheduler``: on a Dask cluster (:mod:`lowcov.executor`). On a GPU, leave both unset.
    """
    height, width, _ = examples.shape
    geometry = (height, width, tuple(examples.info["channels"]))
    tasks = [(path, str(checkpoint), geometry, config) for path in examples.shards]
    outputs = run_shards(_predict_shard, tasks, description="call_variants", labels=[p.name for p in examples.shards],
                         scheduler=scheduler, threads=threads)
    if not outputs:
        return np.zeros((0, 3), np.float32), {}, np.zeros(0, np.int8)
    probs, meta, labels = zip(*outputs)
    merged = {k: np.concatenate([m[k] for m in meta]) for k in meta[0]}
    return np.concatenate(probs), merged, np.concatenate(labels)


def sample_of_examples(examples: ExampleSet) -> str:
    bam = examples.info.get("bam")
    if bam and Path(bam).exists():
        with pysam.AlignmentFile(bam) as handle:
            groups = handle.header.to_dict().get("RG", [])
            if groups and groups[0].get("SM"):
                return groups[0]["SM"]
    return "SAMPLE"


def _cached_predictions(examples: ExampleSet, checkpoint: str | os.PathLike, config: CallConfig,
                        cache_dir: Path, **shards_on) -> tuple[np.ndarray, dict, bool]:
    """:func:`predict_examples`, kept in ``cache_dir`` under the digest of the weights and of the examples, so
    that checkpoints holding the same weights (a fine-tuning run that selected its starting model) are
    predicted once. Returns (probabilities, metadata, whether they came from the cache)."""
    from .fileio import sha256sum
    from .batchnorm import weights_digest

    # the device too: a GPU's arithmetic can differ from the CPU's in the last bits
    device = _device(config)
    key = (f"{weights_digest(checkpoint)[:24]}.{sha256sum(examples.directory / 'example_info.json')[:24]}"
           f".{device.replace(':', '')}.npz")
    path = cache_dir / key
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            return stored["probs"], {k.removeprefix("meta_"): stored[k] for k in stored.files if k != "probs"}, True
    probs, meta, _ = predict_examples(examples, checkpoint, config, **shards_on)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, probs=probs, **{f"meta_{k}": v for k, v in meta.items()})
    return probs, meta, False


def call_variants(examples_dir: str | os.PathLike, checkpoint: str | os.PathLike, reference: str | os.PathLike,
                  out_vcf: str | os.PathLike, config: CallConfig = CallConfig(),
                  cache_dir: str | os.PathLike | None = None, threads: int = 1, scheduler=None) -> dict:
    """Predict every example with ``checkpoint`` and write ``out_vcf``; returns timing figures.

    ``cache_dir``: reuse the predictions of identical weights on the same examples (see
    :func:`_cached_predictions`); the VCF still names ``checkpoint``. ``threads``, ``scheduler``: where the
    shards are predicted (:func:`predict_examples`).
    """
    examples = ExampleSet.open(examples_dir)
    started = time.perf_counter()
    shards_on = {"threads": threads, "scheduler": scheduler}
    if cache_dir is None:
        probs, meta, _ = predict_examples(examples, checkpoint, config, **shards_on)
        reused = False
    else:
        probs, meta, reused = _cached_predictions(examples, checkpoint, config, Path(cache_dir), **shards_on)
    predicted = time.perf_counter()
    sample = config.sample or sample_of_examples(examples)
    write_vcf(probs, meta, reference, out_vcf, sample, str(checkpoint), config)
    done = time.perf_counter()
    return {"examples": len(probs), "predictions_reused": reused, "call_seconds": round(predicted - started, 2),
            "postprocess_seconds": round(done - predicted, 2),
            "examples_per_second": None if reused else round(len(probs) / max(predicted - started, 1e-9), 1)}


def main(argv: list[str] | None = None) -> int:
    """``lowcov call-variants``: DeepVariant's call_variants and postprocess_variants in one command."""
    import argparse

    from . import InputError

    parser = argparse.ArgumentParser(prog="lowcov call-variants", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", required=True, help="example-set directory (lowcov make-examples)")
    parser.add_argument("--checkpoint", required=True, help="a lowcov checkpoint (.pt), e.g. checkpoints/best.pt")
    parser.add_argument("--ref", required=True, help="reference FASTA (postprocess_variants' --ref)")
    parser.add_argument("--outfile", required=True, help="output VCF (.vcf.gz: bgzipped and tabix-indexed)")
    parser.add_argument("--batch_size", type=int, default=CallConfig.batch_size)
    parser.add_argument("--sample_name", default=None, help="default: the SM of the examples' BAM read group")
    parser.add_argument("--min_qual", type=float, default=CallConfig.min_qual, help="below it: FILTER LowQual")
    parser.add_argument("--device", default=None, help="cpu, cuda ... (default: CUDA when available)")
    parser.add_argument("--threads", type=int, default=1,
                        help="local worker processes predicting shards (1: this process, torch's own threads)")
    parser.add_argument("--scheduler", default=None,
                        help=f"a running Dask scheduler (tcp://HOST:8786) or a dask-jobqueue YAML file (default: ${ENV_VAR})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config = CallConfig(batch_size=args.batch_size, device=args.device, min_qual=args.min_qual,
                        sample=args.sample_name)
    try:
        figures = call_variants(args.examples, args.checkpoint, args.ref, args.outfile, config, threads=args.threads,
                                scheduler=args.scheduler)
    except (InputError, ExecutorError) as exc:
        log.error("%s", exc)
        return 1
    print(f"call_variants: {figures['examples']} examples in {figures['call_seconds']} s "
          f"({figures['examples_per_second']} examples/s), postprocess {figures['postprocess_seconds']} s -> "
          f"{args.outfile}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
