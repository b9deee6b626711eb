"""A hap.py-compatible small-variant benchmark (spec: ``happy-semantics.md``).

``compare(truth, query, reference, confident_bed=..., stratify={...}, output_prefix=...)`` returns
a :class:`BenchmarkResult` whose ``summary`` and ``extended`` DataFrames have hap.py's columns.
Modules, one concept each: ``normalize`` (the project's allele normaliser), ``vcfio`` (reading and
validation), ``calls`` (comparison units), ``match`` (haplotype-aware matching), ``regions``
(BED capture rules), ``quantify`` (counts and metrics), ``output`` (files), ``case_study`` (the
published numbers), ``cli`` (``lowcov benchmark``).
"""
from .engine import (CASE_STUDY_COLUMNS, BenchmarkConfig, BenchmarkResult, case_study_layout, compare,
                     print_case_study_table)
from .match import MatchConfig
from ..normalize import NormalizedAllele, iter_normalized_alleles, normalize, normalize_allele
from .quantify import EXTENDED_COLUMNS, SUMMARY_COLUMNS

__all__ = [
    "BenchmarkConfig", "BenchmarkResult", "CASE_STUDY_COLUMNS", "EXTENDED_COLUMNS", "MatchConfig",
    "NormalizedAllele", "SUMMARY_COLUMNS", "case_study_layout", "compare", "iter_normalized_alleles", "normalize",
    "normalize_allele", "print_case_study_table",
]
