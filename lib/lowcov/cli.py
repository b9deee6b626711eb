"""The ``lowcov`` command: one subcommand per stage, with DeepVariant's flags where they mean the same.

    lowcov acquire --profile demo       make (demo) or download and prepare (seed) a profile's inputs
    lowcov make-examples --mode training --ref REF --reads BAM --examples DIR ...
    lowcov train --config=dv_config.py:wgs --config.KEY=VALUE ... --experiment_dir DIR
    lowcov call-variants --examples DIR --checkpoint CKPT --ref REF --outfile calls.vcf.gz
    lowcov benchmark TRUTH QUERY -r REF ...   hap.py-compatible comparison
    lowcov book --profile demo          run the notebooks and render the book

``lowcov COMMAND --help`` lists a command's flags.
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
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip())
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
