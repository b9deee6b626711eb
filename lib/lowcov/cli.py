"""The ``lowcov`` command: one subcommand per stage, with DeepVariant's flags where they mean the same.

    lowcov acquire --profile demo       make (demo) or download and prepare (seed) a profile's inputs
    lowcov make-examples --mode training --ref REF --reads BAM --examples DIR ...
    lowcov train --config=dv_config.py:wgs --config.KEY=VALUE ... --experiment_dir DIR
    lowcov call-variants --examples DIR --checkpoint CKPT --ref REF --outfile calls.vcf.gz
    lowcov benchmark TRUTH QUERY -r REF ...   hap.py-compatible comparison
    lowcov book --profile demo          run the notebooks and render the book

``lowcov COMMAND --help`` lists a command's flags. ``lowcov --scheduler ADDRESS COMMAND ...`` runs the
command's shards (make_examples regions, call_variants shards, depth pieces) on a running Dask cluster
(``tcp://HOST:8786``) or a batch-queue cluster (a dask-jobqueue YAML file), as ``LOWCOV_SCHEDULER`` does;
it also reaches the book's notebooks. See :mod:`lowcov.executor`.
"""
from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "acquire": "lowcov.acquire",
    "make-examples": "lowcov.make_examples",
    "train": "lowcov.train.cli",
    "call-variants": "lowcov.call_variants",
    "benchmark": "lowcov.benchmark.cli",
    "book": "lowcov.book",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and (argv[0] == "--scheduler" or argv[0].startswith("--scheduler=")):
        if argv[0] == "--scheduler" and len(argv) < 2:
            print("lowcov: --scheduler needs an address (tcp://HOST:8786) or a dask-jobqueue YAML file", file=sys.stderr)
            return 2
        if argv[0] == "--scheduler":
            scheduler, argv = argv[1], argv[2:]
        else:
            scheduler, argv = argv[0].split("=", 1)[1], argv[1:]
        from .executor import configure

        configure(scheduler)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip())
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
