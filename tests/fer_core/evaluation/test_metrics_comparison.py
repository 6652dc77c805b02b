"""Comparison tables: bootstrap intervals, paired differences, McNemar, errors, calibration, corruptions, gaps.

scikit-learn is the oracle for the point values; the intervals are checked for what a bootstrap must satisfy.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from run_fixtures import synthetic_rows
from sklearn.metrics import accuracy_score, f1_score

from fer_core.evaluation import metrics
from fer_core.labels import FER2013
from fer_core.store.card import ModelCard
from fer_core.store.runs import StoredRun


def run_of(model_id: str, rows: pd.DataFrame) -> StoredRun:
    info = {"model_id": model_id, "dataset": "fer2013", "split": "test", "labels": list(FER2013.names)}
    return StoredRun(model_id, "fer2013", "test", Path(f"{model_id}.parquet"), info, rows, ModelCard())


def test_bootstrap_scores_bracket_the_sklearn_values() -> None:
    clean = metrics.condition_rows(synthetic_rows(n=400, seed=1))
    scores = metrics.bootstrap_scores_ci(clean, FER2013.names, n_boot=500, seed=0)
    acc, acc_lo, acc_hi = scores["accuracy"]
    f1, f1_lo, f1_hi = scores["macro-F1"]
    assert acc == pytest.approx(accuracy_score(clean["label"], clean["pred"]))
    assert f1 == pytest.approx(f1_score(clean["label"], clean["pred"], average="macro"))
    assert acc_lo < acc < acc_hi and f1_lo < f1 < f1_hi
    # about two standard errors either side
    se = math.sqrt(acc * (1 - acc) / len(clean))
    assert acc_hi - acc_lo == pytest.approx(2 * 1.96 * se, rel=0.25)
    assert metrics.bootstrap_scores_ci(clean, FER2013.names, n_boot=500, seed=0) == scores


@pytest.mark.parametrize(
    ("only_a", "only_b", "expected"),
    [(0, 0, 1.0), (5, 5, 1.0), (1, 9, 2 * 11 / 1024), (0, 12, 2 / 4096), (30, 10, None)],
)
def test_mcnemar_exact_p(only_a: int, only_b: int, expected: float | None) -> None:
    p = metrics.mcnemar_p(only_a, only_b)
    if expected is None:  # against the exact sum of binomial terms
        n = only_a + only_b
        expected = 2 * sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2**n
    assert p == pytest.approx(expected)
    assert metrics.mcnemar_p(only_b, only_a) == pytest.approx(p)


def test_paired_difference_of_a_model_with_itself_is_zero() -> None:
    rows = synthetic_rows(n=200, seed=2)
    paired = metrics.paired_rows(rows, rows)
    diff = metrics.paired_difference(paired, n_boot=200)
    assert diff["difference"] == 0 and diff["lo"] == 0 and diff["hi"] == 0
    assert diff["agreement"] == 1 and diff["p"] == 1


def test_paired_difference_matches_the_accuracies_and_brackets_them() -> None:
    a, b = synthetic_rows(n=300, seed=3, skill=0.8), synthetic_rows(n=300, seed=3, skill=0.5)
    paired = metrics.paired_rows(a, b)
    diff = metrics.paired_difference(paired, n_boot=500)
    acc_a, acc_b = (metrics.accuracy(metrics.condition_rows(r)) for r in (a, b))
    assert diff["difference"] == pytest.approx(acc_a - acc_b)
    assert diff["lo"] < diff["difference"] < diff["hi"] and diff["p"] < 0.01
    clean_a, clean_b = metrics.condition_rows(a), metrics.condition_rows(b)
    assert diff["agreement"] == pytest.approx((clean_a["pred"] == clean_b["pred"]).mean())
    f1, lo, hi = metrics.paired_macro_f1_difference(paired, FER2013.names, n_boot=300)
    expected = f1_score(clean_a["label"], clean_a["pred"], average="macro") - f1_score(
        clean_b["label"], clean_b["pred"], average="macro"
    )
    assert f1 == pytest.approx(expected) and lo < f1 < hi
    per_class = metrics.paired_per_class(paired, FER2013.names, n_boot=100)
    assert per_class["n"].sum() == len(paired) and list(per_class.index) == list(FER2013.names)


def test_paired_rows_refuse_runs_with_different_labels() -> None:
    a = synthetic_rows(n=50, seed=4)
    b = a.copy()
    b["label"] = (b["label"] + 1) % 7
    with pytest.raises(ValueError, match="different labels"):
        metrics.paired_rows(a, b)


def test_error_cell_and_confident_mistakes_are_sorted_by_confidence() -> None:
    rows = synthetic_rows(n=300, seed=5, skill=0.5)
    clean = metrics.condition_rows(rows)
    cell = metrics.error_cell(rows, 0, 1)
    assert len(cell) == int(((clean["label"] == 0) & (clean["pred"] == 1)).sum())
    assert cell["confidence"].is_monotonic_decreasing
    mistakes = metrics.confident_mistakes(rows, limit=10)
    assert len(mistakes) == 10 and (mistakes["label"] != mistakes["pred"]).all()
    assert mistakes["confidence"].is_monotonic_decreasing
    wrong = clean[clean["label"] != clean["pred"]]
    top = wrong[[f"p_{n}" for n in FER2013.names]].max(1).sort_values(ascending=False).head(10)
    np.testing.assert_allclose(mistakes["confidence"], top.to_numpy())


def test_reliability_bins_add_up_to_the_ece() -> None:
    clean = metrics.condition_rows(synthetic_rows(n=500, seed=6))
    table = metrics.reliability_table(clean)
    assert table["n"].sum() == len(clean)
    ece = (table["n"] * (table["accuracy"] - table["confidence"]).abs()).sum() / table["n"].sum()
    assert ece == pytest.approx(metrics.expected_calibration_error(clean))
    assert ((table["confidence"] > table["lo"]) & (table["confidence"] <= table["hi"])).all()


def test_corruption_table_and_summary() -> None:
    rows = synthetic_rows(n=200, seed=7)
    table = metrics.corruption_table(rows)
    assert list(table.index) == ["blur", "eyes"] and list(table.columns) == ["clean", 1, 2, 3]
    blur2 = metrics.accuracy(metrics.condition_rows(rows, "blur:2"))
    assert table.loc["blur", 2] == pytest.approx(blur2)
    summary = metrics.corruption_summary([run_of("m", rows)])
    row = summary.iloc[0]
    assert row["mean corrupted"] == pytest.approx(np.nanmean(table[[1, 2, 3]].to_numpy()))
    assert row["relative"] == pytest.approx(row["mean corrupted"] / row["clean"])
    curve = metrics.accuracy_vs_severity([run_of("m", rows)], "eyes")
    assert curve["severity"].tolist() == [0, 1, 2, 3]
    assert metrics.corruption_table(metrics.condition_rows(rows)).empty


def test_subgroup_gaps_of_every_run_equal_the_single_gap() -> None:
    runs = [run_of(f"m{seed}", synthetic_rows(n=200, seed=seed)) for seed in (8, 9)]
    gaps = metrics.subgroup_gaps(runs, "age_group", "adult", "child", n_boot=200)
    for run, (_, row) in zip(runs, gaps.iterrows(), strict=True):
        clean = metrics.condition_rows(run.rows)
        assert (row["gap"], row["lo"], row["hi"]) == metrics.subgroup_gap_ci(
            clean, "age_group", "adult", "child", n_boot=200
        )
