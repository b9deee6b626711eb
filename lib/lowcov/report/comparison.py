"""Several profiles side by side: the key metrics each profile's book glued, and the case study's.

Values are read back from the executed notebooks (the numbers each chapter glued into its page), so the
comparison shows exactly what each rendered book says; a profile that did not run a chapter has empty
cells for it.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd

from ..benchmark.case_study import published_table


@dataclass(frozen=True)
class KeyMetric:
    label: str
    #: the chapter (notebook number) that glues it, and the glue name
    chapter: str
    glue: str
    #: the case study's table, variant type and column for the same quantity (None: not published)
    case_study: tuple[str, str, str] | None = None


def _f1(table: str, variant_type: str) -> tuple[str, str, str]:
    return (table, variant_type, "METRIC.F1_Score")


KEY_METRICS = (
    KeyMetric("Original, full coverage: SNP F1", "03", "original_full_snp_f1", _f1("quick_test_original", "SNP")),
    KeyMetric("Original, full coverage: INDEL F1", "03", "original_full_indel_f1",
              _f1("quick_test_original", "INDEL")),
    KeyMetric("bcftools, full coverage: SNP F1", "03", "bcftools_full_snp_f1"),
    KeyMetric("bcftools, full coverage: INDEL F1", "03", "bcftools_full_indel_f1"),
    KeyMetric("Original, downsampled: SNP F1", "03", "original_downsampled_snp_f1",
              _f1("quick_test_downsampled", "SNP")),
    KeyMetric("Original, downsampled: INDEL F1", "03", "original_downsampled_indel_f1",
              _f1("quick_test_downsampled", "INDEL")),
    KeyMetric("bcftools, downsampled: SNP F1", "03", "bcftools_downsampled_snp_f1"),
    KeyMetric("bcftools, downsampled: INDEL F1", "03", "bcftools_downsampled_indel_f1"),
    KeyMetric("V1, downsampled: SNP F1", "07", "v1_snp_f1_score", _f1("v1", "SNP")),
    KeyMetric("V1, downsampled: INDEL F1", "07", "v1_indel_f1_score", _f1("v1", "INDEL")),
    KeyMetric("V2, downsampled: SNP F1", "07", "v2_snp_f1_score", _f1("v2", "SNP")),
    KeyMetric("V2, downsampled: INDEL F1", "07", "v2_indel_f1_score", _f1("v2", "INDEL")),
    KeyMetric("V2 - Original: INDEL F1", "07", "v2_indel_f1_score_change"),
    KeyMetric("V2 - Original: INDEL F1, in words", "07", "v2_indel_f1_score_direction"),
)

CASE_STUDY_COLUMN = "case study (DeepVariant 1.8, NA12878 chr1)"


def _parse(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def glued_values(executed_dir: str | Path) -> dict[tuple[str, str], object]:
    """(notebook number, glue name) -> value of every glued output in ``executed_dir/NN_*.ipynb``."""
    values = {}
    for path in sorted(Path(executed_dir).glob("[0-9][0-9]_*.ipynb")):
        notebook = json.loads(path.read_text())
        for cell in notebook.get("cells", []):
            for output in cell.get("outputs", []) or []:
                name = (output.get("metadata", {}).get("scrapbook") or {}).get("name")
                # glue(display=False) stores the value under a scrapbook mime type ending in text/plain
                text = next((v for k, v in output.get("data", {}).items() if k.endswith("text/plain")), None)
                if name and text is not None:
                    values[(path.name[:2], name)] = _parse("".join(text) if isinstance(text, list) else text)
    return values


def case_study_value(source: tuple[str, str, str] | None):
    if source is None:
        return None
    table, variant_type, column = source
    frame = published_table(table)
    return float(frame[(frame["Type"] == variant_type) & (frame["Filter"] == "ALL")][column].iloc[0])


def comparison_table(executed_dirs: Mapping[str, str | Path]) -> pd.DataFrame:
    """One row per key metric, one column per profile (name -> its executed notebooks), and the case study's."""
    columns = {name: glued_values(folder) for name, folder in executed_dirs.items()}
    rows = []
    for metric in KEY_METRICS:
        row = {"metric": metric.label}
        for name, values in columns.items():
            row[name] = values.get((metric.chapter, metric.glue))
        row[CASE_STUDY_COLUMN] = case_study_value(metric.case_study)
        rows.append(row)
    return pd.DataFrame(rows).set_index("metric")
