"""``lowcov benchmark TRUTH.vcf.gz QUERY.vcf.gz -r REF.fa [-f CONFIDENT.bed] [--stratify NAME=BED ...]
[--pass-only] -o PREFIX``: hap.py's command line for the parts lowcov uses."""
from __future__ import annotations

import argparse
import logging
import sys

from .. import InputError
from .engine import BenchmarkConfig, compare, print_case_study_table
from .match import MatchConfig

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lowcov benchmark",
        description="hap.py-compatible small-variant benchmark: writes PREFIX.summary.csv, "
                    "PREFIX.extended.csv and PREFIX.vcf.gz")
    parser.add_argument("truth", help="truth VCF (bgzipped or plain; sorted in memory if needed)")
    parser.add_argument("query", help="query VCF")
    parser.add_argument("-r", "--reference", required=True, help="reference FASTA (indexed if needed)")
    parser.add_argument("-f", "--false-positives", "--confident", dest="confident",
                        help="confident-regions BED: query calls outside are UNK, truth outside not counted")
    parser.add_argument("--stratify", action="append", default=[], metavar="NAME=BED",
                        help="add a Subset row per stratum in extended.csv (repeatable)")
    parser.add_argument("--pass-only", action="store_true", help="drop non-PASS query records before matching")
    parser.add_argument("--usefiltered-truth", action="store_true", help="keep non-PASS truth records")
    parser.add_argument("--no-adjust-conf-regions", action="store_true",
                        help="do not add the truth variants' extents to the confident regions")
    parser.add_argument("--window", type=int, default=MatchConfig.window,
                        help="bases between variants compared together (default %(default)s)")
    parser.add_argument("--no-vcf", action="store_true", help="skip writing PREFIX.vcf.gz")
    parser.add_argument("-o", "--report-prefix", dest="prefix", required=True, help="output prefix")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print the summary table")
    return parser


def _parse_strata(values: list[str]) -> dict[str, str]:
    strata: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--stratify expects NAME=BED, got {value!r}")
        if name in strata:
            raise InputError(f"--stratify name {name!r} given twice")
        strata[name] = path
    return strata


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = BenchmarkConfig(pass_only=args.pass_only, use_filtered_truth=args.usefiltered_truth,
                                 adjust_conf_regions=not args.no_adjust_conf_regions,
                                 match=MatchConfig(window=args.window), write_vcf=not args.no_vcf)
        result = compare(args.truth, args.query, args.reference, confident_bed=args.confident,
                         stratify=_parse_strata(args.stratify), output_prefix=args.prefix, config=config)
    except InputError as exc:
        print(f"lowcov benchmark: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print_case_study_table(result)
    for kind, path in result.outputs.items():
        log.info("wrote %s: %s", kind, path)
    return 0
