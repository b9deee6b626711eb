"""The study's stages behind one seam, run by an engine chosen by name.

* ``native``: lowcov's own PyTorch stages (:mod:`lowcov.make_examples`, :mod:`lowcov.train`,
  :mod:`lowcov.call_variants`), the demo profile's default (:mod:`.native`).
* ``deepvariant``: DeepVariant 1.8's official images through docker, podman or apptainer/singularity,
  the seed profile's default (:mod:`.deepvariant`; :mod:`.runtime`, :mod:`.commands`, :mod:`.shuffle`,
  :mod:`.training_outputs`; the plan of what it runs: :mod:`.plan`).

Both take the same requests (:class:`TrainingExamplesRequest`, :class:`CallRequest`) and answer the
stage calls of :class:`Engine`; what they return is a path in each engine's own format (DeepVariant's
TFRecord examples, dataset configs and checkpoint prefixes; lowcov's example sets and ``.pt`` files).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

from .commands import CallRequest, DeepVariantImages, HappyRequest, TrainingExamplesRequest, TrainRequest

if TYPE_CHECKING:
    from ..layout import Layout

ENGINES = ("native", "deepvariant")
#: the engine each profile runs unless a notebook parameter says otherwise
DEFAULT_ENGINE = {"demo": "native", "seed": "deepvariant"}


@runtime_checkable
class Engine(Protocol):
    """The stages the study calls, in order."""

    name: str

    def make_training_examples(self, request: TrainingExamplesRequest) -> str:
        """Labelled examples of ``request.regions`` (all shards); returns where they are."""

    def shuffle(self, examples: str, out_dir: Path, dataset_name: str, seed: int = 1) -> Path:
        """Shuffled examples plus what train reads about them (DeepVariant: a dataset config)."""

    def train(self, train_dataset: Path, tune_dataset: Path, experiment_dir: Path, overrides: Sequence[str]) -> Path:
        """Fine-tune the original model with the case study's override lines; returns ``experiment_dir``."""

    def select_checkpoint(self, experiment_dir: Path, metric: str = "tune/f1_weighted") -> Path:
        """The checkpoint to deploy: the best trained one by ``metric``."""

    def call_variants(self, request: CallRequest) -> Path:
        """Calls (bgzipped VCF) of ``request.reads`` with ``request.customized_model``."""

    def rna_pseudo_truth(self, request: CallRequest) -> Path:
        """The RNA calls the pseudo-truth is filtered from."""


def engine_for(name: str, layout: "Layout | None" = None, **options) -> Engine:
    """The engine called ``name``. For ``deepvariant``, ``layout`` (a seed layout) supplies the downloaded
    ``dv_config.py`` and WGS checkpoint unless ``dv_config`` / ``init_checkpoint`` are given; other
    ``options`` go to :class:`~.deepvariant.DeepVariantEngine` (``runtime``, ``images``, ``n_shards``,
    ``workers``, ``gpu``, ``allow_cpu_fallback``) or :class:`~.native.NativeEngine`."""
    if name == "native":
        from .native import NativeEngine

        return NativeEngine(**options)
    if name == "deepvariant":
        from .deepvariant import DeepVariantEngine

        if layout is not None:
            from .plan import seed_model_files

            for key, path in seed_model_files(layout).items():
                options.setdefault(key, path)
        return DeepVariantEngine(**options)
    raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


__all__ = ["CallRequest", "DEFAULT_ENGINE", "DeepVariantImages", "ENGINES", "Engine", "HappyRequest",
           "TrainRequest", "TrainingExamplesRequest", "engine_for"]
