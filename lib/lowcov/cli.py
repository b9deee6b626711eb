"""The ``lowcov`` command: one subcommand per entry point of the library.

    lowcov data --profile demo          make a profile's input files (python -m lowcov.data)
    lowcov book --profile demo          run the notebooks and render the book (python -m lowcov.book)
    lowcov acquire ...                  download the seed profile's files (python -m lowcov.acquire)
    lowcov benchmark TRUTH QUERY -r REF ...   hap.py-compatible comparison (python -m lowcov.benchmark)
"""
from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "data": "lowcov.data",
    "book": "lowcov.book",
    "acquire": "lowcov.acquire",
    "benchmark": "lowcov.benchmark.cli",
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
