"""lowcov.study.evaluation: the model against the classical peer's better row."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from lowcov.study.evaluation import margin_text, versus_peer


def summary(rows):
    """A benchmark summary with the columns versus_peer reads: (Type, Filter, FN, FP, F1)."""
    return SimpleNamespace(summary=pd.DataFrame(rows, columns=["Type", "Filter", "TRUTH.FN", "QUERY.FP",
                                                               "METRIC.F1_Score"]))


def test_the_model_is_set_against_the_peers_better_row_per_type():
    model = summary([("SNP", "ALL", 2, 3, 0.9990), ("SNP", "PASS", 9, 9, 0.5),
                     ("INDEL", "ALL", 30, 20, 0.9100), ("INDEL", "PASS", 1, 1, 0.99)])
    peer = summary([("SNP", "ALL", 3, 9, 0.9977), ("SNP", "PASS", 10, 1, 0.9978),
                    ("INDEL", "ALL", 37, 105, 0.8826), ("INDEL", "PASS", 38, 62, 0.9142)])
    table = versus_peer(model, peer)
    assert list(table.index) == ["SNP", "INDEL"]
    assert list(table["peer filter"]) == ["PASS", "PASS"]
    assert table.loc["SNP", "F1 margin"] == pytest.approx(0.0012)
    assert list(table["fewer errors"]) == [11 - 5, 100 - 50]
    assert margin_text(table.loc["SNP"]) == ("ahead of bcftools' PASS calls by 0.0012 in F1 (6 fewer errors: "
                                             "2 FN + 3 FP against 10 FN + 1 FP)")
    behind = versus_peer(summary([("SNP", "ALL", 4, 8, 0.99766), ("INDEL", "ALL", 54, 39, 0.9175)]), peer)
    assert margin_text(behind.loc["SNP"]).startswith("behind bcftools' PASS calls by 0.0001 in F1 (1 more error:")
