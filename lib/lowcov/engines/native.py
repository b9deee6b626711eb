"""The ``native`` engine: the seam's stage calls answered by lowcov's own PyTorch stages.

A thin adapter: each call forwards to :func:`lowcov.make_examples.make_examples`,
:func:`lowcov.train.train` or :func:`lowcov.call_variants.call_variants` with the request's paths.
lowcov's ``make_examples`` shuffles training examples as it writes them, so :meth:`NativeEngine.shuffle`
hands its input on; the deployed checkpoint is the run's ``checkpoints/best.pt``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from .. import InputError
from .commands import CallRequest, TrainingExamplesRequest


@dataclass
class NativeEngine:
    #: lowcov.make_examples.ExamplesConfig (default: its defaults)
    examples_config: object = None
    #: lowcov.train.TrainConfig the overrides apply to (default: DeepVariant's WGS defaults)
    train_config: object = None
    #: the original model's ``.pt`` checkpoint training starts from ('' = from scratch)
    init_checkpoint: str = ""
    call_config: object = None
    options: dict = field(default_factory=dict)
    name: str = "native"

    def make_training_examples(self, request: TrainingExamplesRequest) -> str:
        from ..make_examples import ExamplesConfig, make_examples

        config = replace(self.examples_config or ExamplesConfig(), mode="training")
        excluded = set(request.exclude_regions)
        regions = [r for region in request.regions for r in region.split() if r not in excluded]
        out_dir = request.out_dir / request.name
        make_examples(request.reads, request.reference, out_dir, regions, config, truth_vcf=request.truth_vcf,
                      confident_bed=request.confident_regions)
        return str(out_dir)

    def shuffle(self, examples: str, out_dir: Path, dataset_name: str, seed: int = 1) -> Path:
        return Path(examples)

    def train(self, train_dataset: Path, tune_dataset: Path, experiment_dir: Path, overrides: Sequence[str]) -> Path:
        from ..train import train
        from ..train.config import TrainConfig, apply_overrides

        config = self.train_config or TrainConfig(init_checkpoint=self.init_checkpoint)
        train(train_dataset, tune_dataset, apply_overrides(config, list(overrides)), experiment_dir, **self.options)
        return Path(experiment_dir)

    def select_checkpoint(self, experiment_dir: Path, metric: str = "tune/f1_weighted") -> Path:
        best = Path(experiment_dir) / "checkpoints" / "best.pt"
        if not best.exists():
            raise InputError(f"{experiment_dir}: no checkpoints/best.pt (train has not finished a tune)")
        return best

    def call_variants(self, request: CallRequest) -> Path:
        from ..call_variants import CallConfig, call_variants
        from ..make_examples import ExamplesConfig, make_examples

        if request.customized_model is None:
            raise InputError("the native engine has no built-in model: give the checkpoint (customized_model)")
        config = replace(self.examples_config or ExamplesConfig(), mode="calling")
        make_examples(request.reads, request.reference, request.intermediate_results_dir,
                      [r for region in request.regions for r in region.split()], config)
        call_variants(request.intermediate_results_dir, request.customized_model, request.reference,
                      request.output_vcf, self.call_config or CallConfig())
        return request.output_vcf

    def rna_pseudo_truth(self, request: CallRequest) -> Path:
        """The original model on the RNA reads (the native stand-in for the case study's WES model)."""
        return self.call_variants(request)
