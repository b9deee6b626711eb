"""``lowcov train``: DeepVariant's ``train`` command line for the native engine.

    lowcov train --config=dv_config.py:wgs \
        --config.train_dataset_pbtxt=EXAMPLES_DIR --config.tune_dataset_pbtxt=EXAMPLES_DIR \
        --config.init_checkpoint=best.pt --config.learning_rate=0.001 ... --experiment_dir=DIR

DeepVariant's own network: ``--config.model_type=inception_v3 --config.init_checkpoint=.../deepvariant.wgs.ckpt``
(a DeepVariant checkpoint prefix), ``--config.write_deepvariant_checkpoint=true`` to get the selected
checkpoint back in DeepVariant's format.

The dataset keys name a DeepVariant ``dataset_config.pbtxt`` (or DeepVariant example files), converted
once into a lowcov example set beside them, or a lowcov example-set directory; every other ``--config.KEY=VALUE`` is a
:class:`~lowcov.train.config.TrainConfig` key, parsed as :func:`~lowcov.train.config.apply_overrides`
parses the case study's lists. ``--nproc N`` trains on N processes with DistributedDataParallel through
torchrun (one GPU each, or CPU processes; ``batch_size`` stays the global batch and must divide by N; see
:mod:`lowcov.train.distributed`). ``--strategy`` (DeepVariant's TensorFlow distribution strategy) is
accepted and ignored: ``--nproc`` says how many processes train.
"""
from __future__ import annotations

import argparse
import logging
from typing import Sequence

from .. import InputError
from .config import TrainConfig, apply_overrides
from .distributed import DistributedTrainingError
from .loop import train

log = logging.getLogger(__name__)

#: DeepVariant's config files name the setting after a colon; lowcov's defaults are ``get_wgs_config``
KNOWN_CONFIGS = ("wgs",)


def split_config_flags(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(``--config.KEY=VALUE`` overrides in order, the other arguments). A value may also follow as the
    next argument (``--config.batch_size 256``), as absl flags allow."""
    overrides, rest = [], []
    items = list(argv)
    while items:
        item = items.pop(0)
        if item.startswith("--config."):
            if "=" not in item:
                if not items:
                    raise InputError(f"{item} has no value")
                item = f"{item}={items.pop(0)}"
            overrides.append(item)
        else:
            rest.append(item)
    return overrides, rest


def main(argv: Sequence[str] | None = None) -> int:
    import sys

    overrides, rest = split_config_flags(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="lowcov train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="dv_config.py:wgs",
                        help="DeepVariant's config file and setting; lowcov's defaults are its ':wgs' setting")
    parser.add_argument("--experiment_dir", required=True, help="checkpoints, training log and run record")
    parser.add_argument("--strategy", default=None, help="accepted for DeepVariant's command lines; not used")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    parser.add_argument("--force", action="store_true", help="discard what experiment_dir holds and start again")
    parser.add_argument("--nproc", type=int, default=1,
                        help="training processes (DistributedDataParallel through torchrun: gloo on the CPU, "
                             "NCCL with one GPU each); batch_size is the global batch (default: 1)")
    args = parser.parse_args(rest)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        setting = args.config.rpartition(":")[2]
        if setting not in KNOWN_CONFIGS:
            raise InputError(f"--config={args.config}: lowcov's defaults are DeepVariant's "
                             f"{', '.join(KNOWN_CONFIGS)} setting; name it (e.g. dv_config.py:wgs)")
        config = apply_overrides(TrainConfig(), overrides)
        for key in ("train_dataset_pbtxt", "tune_dataset_pbtxt"):
            if getattr(config, key) == getattr(TrainConfig(), key):
                raise InputError(f"--config.{key} is required: a dataset_config.pbtxt or an example-set directory")
        if args.strategy:
            log.info("--strategy=%s is not used: --nproc sets the training processes", args.strategy)
        from ..dvexamples import example_set_of

        # DeepVariant's dataset configs (or example files) are converted once; lowcov sets are used as they are
        train_set, tune_set = example_set_of(config.train_dataset_pbtxt), example_set_of(config.tune_dataset_pbtxt)
        result = train(train_set, tune_set, config, args.experiment_dir, device=args.device, force=args.force,
                       nproc=args.nproc)
    except InputError as exc:
        log.error("%s", exc)
        return 1
    except DistributedTrainingError as exc:
        log.error("%s", exc)
        return 2
    print(f"train: {result.steps} steps, {result.epochs} epochs, stopped by {result.stopped_by}; selected step "
          f"{result.best_step} ({config.best_checkpoint_metric} "
          f"{result.best_metrics.get(config.best_checkpoint_metric, float('nan')):.5f}) -> {result.best_checkpoint}")
    if result.deepvariant_checkpoint is not None:
        print(f"train: in DeepVariant's format: {result.deepvariant_checkpoint}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
