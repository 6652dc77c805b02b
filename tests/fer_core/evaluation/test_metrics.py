"""fer_core.evaluation.metrics against small hand-computed examples."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fer_core.evaluation import metrics
from fer_core.store.card import ModelCard
from fer_core.store.runs import RunInfo, StoredRun

NAMES = ("angry", "happy", "sad")
# Hand example: true [a a a h h s], predicted [a a h h a h].
# Confusion rows (true) x columns (pred): angry 2 1 0 / happy 1 1 0 / sad 0 1 0.
LABELS = [0, 0, 0, 1, 1, 2]
PREDS = [0, 0, 1, 1, 0, 1]


def make_rows(labels, preds, *, names=NAMES, condition="clean", confidence=None, groups=None) -> pd.DataFrame:
    """Rows in stored-run shape; probabilities put ``confidence`` (default 0.8) on the predicted class."""
    n, k = len(labels), len(names)
    conf = np.full(n, 0.8) if confidence is None else np.asarray(confidence, float)
    probs = np.repeat(((1 - conf) / (k - 1))[:, None], k, axis=1)
    probs[np.arange(n), preds] = conf
    rows = pd.DataFrame(probs, columns=[f"p_{name}" for name in names])
    rows.insert(0, "pred", np.asarray(preds, np.int16))
    rows.insert(0, "label", np.asarray(labels, np.int16))
    rows.insert(0, "condition", condition)
    rows.insert(0, "sample_id", [f"s{i}" for i in range(n)])
    if groups is not None:
        rows["age_group"] = groups
    return rows


def make_run(model_id: str, rows: pd.DataFrame, card: ModelCard | None = None) -> StoredRun:
    info = RunInfo(model_id, "fer2013", "test", tuple(metrics.class_names(rows)))
    return StoredRun(model_id, "fer2013", "test", Path(f"{model_id}.parquet"), info, rows, card or ModelCard())


def test_class_names_follow_probability_columns() -> None:
    assert metrics.class_names(make_rows(LABELS, PREDS)) == NAMES


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (metrics.accuracy, 3 / 6),
        (metrics.balanced_accuracy, (2 / 3 + 1 / 2 + 0) / 3),
        (metrics.macro_f1, (2 / 3 + 0.4 + 0) / 3),
    ],
)
def test_headline_metrics_on_hand_example(fn, expected: float) -> None:
    assert fn(make_rows(LABELS, PREDS)) == pytest.approx(expected)


@pytest.mark.parametrize("fn", [metrics.accuracy, metrics.balanced_accuracy, metrics.macro_f1])
def test_empty_rows_give_nan_not_an_error(fn) -> None:
    assert np.isnan(fn(make_rows([], [])))


@pytest.mark.parametrize(
    ("normalize", "expected"),
    [
        (False, [[2, 1, 0], [1, 1, 0], [0, 1, 0]]),
        (True, [[2 / 3, 1 / 3, 0], [0.5, 0.5, 0], [0, 1, 0]]),
    ],
)
def test_confusion_matrix(normalize: bool, expected) -> None:
    cm = metrics.confusion_matrix(make_rows(LABELS, PREDS), normalize=normalize)
    assert list(cm.index) == list(NAMES) and list(cm.columns) == list(NAMES)
    np.testing.assert_allclose(cm.to_numpy(), expected)


def test_normalised_confusion_row_without_samples_is_blank() -> None:
    cm = metrics.confusion_matrix(make_rows([0, 1], [0, 0]), normalize=True)
    assert np.isnan(cm.loc["sad"]).all()
    np.testing.assert_allclose(cm.loc["happy"], [1, 0, 0])


@pytest.mark.parametrize(
    ("name", "precision", "recall", "f1", "support"),
    [
        ("angry", 2 / 3, 2 / 3, 2 / 3, 3),
        ("happy", 1 / 3, 1 / 2, 0.4, 2),
        ("sad", 0.0, 0.0, 0.0, 1),  # never predicted: precision 0, not NaN
    ],
)
def test_per_class_prf(name: str, precision: float, recall: float, f1: float, support: int) -> None:
    table = metrics.per_class_prf(make_rows(LABELS, PREDS))
    assert table.loc[name].to_dict() == pytest.approx(
        {"precision": precision, "recall": recall, "f1": f1, "support": support}
    )


def test_classes_without_samples_are_left_out_of_the_averages() -> None:
    # Four classes; true [a b], predicted [a d]: c never occurs, d is predicted but has no samples.
    names = ("a", "b", "c", "d")
    rows = make_rows([0, 1], [0, 3], names=names)
    table = metrics.per_class_prf(rows)
    np.testing.assert_allclose(table["precision"], [1, 0, 0, 0])
    np.testing.assert_allclose(table["recall"], [1, 0, np.nan, np.nan])
    np.testing.assert_allclose(table["f1"], [1, 0, np.nan, 0])
    assert metrics.macro_f1(rows) == pytest.approx(1 / 3)
    assert metrics.balanced_accuracy(rows) == pytest.approx(1 / 2)


@pytest.mark.parametrize(
    ("labels", "preds", "confidence", "n_bins", "expected"),
    [
        # bins of width 0.1: (0.8,0.9] holds 2 rows (acc .5, conf .9), (0.5,0.6] 1 (acc 1), (0.4,0.5] 1 (acc 0)
        ([0, 0, 1, 2], [0, 1, 1, 0], [0.9, 0.9, 0.6, 0.45], 10, 0.5 * 0.4 + 0.25 * 0.4 + 0.25 * 0.45),
        ([0, 1, 2], [0, 1, 2], [1.0, 1.0, 1.0], 15, 0.0),  # confident and right: perfectly calibrated
        ([0, 1], [1, 0], [1.0, 1.0], 15, 1.0),  # confident and wrong: worst case
    ],
)
def test_expected_calibration_error(labels, preds, confidence, n_bins: int, expected: float) -> None:
    rows = make_rows(labels, preds, confidence=confidence)
    assert metrics.expected_calibration_error(rows, n_bins=n_bins) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("clean", None),
        ("resize:32:area>cubic", (32, "area>cubic")),
        ("resize:8:nearest>lanczos4", (8, "nearest>lanczos4")),
        ("resize:x:area>cubic", None),
        ("blur:3", None),
    ],
)
def test_parse_resize_condition(condition: str, expected) -> None:
    assert metrics.parse_resize_condition(condition) == expected


def _grid_rows() -> pd.DataFrame:
    """Two samples per condition with chosen hit counts: clean 2/2; cubic 32:1/2, 16:0/2; area 32:2/2, 16:1/2."""
    hits = {
        "clean": 2,
        "resize:32:cubic>cubic": 1,
        "resize:16:cubic>cubic": 0,
        "resize:32:area>cubic": 2,
        "resize:16:area>cubic": 1,
    }
    frames = [make_rows([0, 1], [0 if h > 0 else 2, 1 if h > 1 else 2], condition=c) for c, h in hits.items()]
    rows = pd.concat(frames, ignore_index=True)
    rows["condition"] = pd.Categorical(rows["condition"], categories=list(hits))
    return rows


def test_condition_rows_selects_one_condition() -> None:
    rows = metrics.condition_rows(_grid_rows(), "resize:32:cubic>cubic")
    assert len(rows) == 2 and metrics.accuracy(rows) == 0.5 and list(rows.index) == [0, 1]


def test_resize_robustness_table_and_drop() -> None:
    table = metrics.resize_robustness_table(_grid_rows())
    assert list(table.index) == ["cubic>cubic", "area>cubic"]
    assert list(table.columns) == ["clean", 32, 16]
    np.testing.assert_allclose(table.to_numpy(), [[1.0, 0.5, 0.0], [1.0, 1.0, 0.5]])
    np.testing.assert_allclose(metrics.robustness_drop(table).to_numpy(), [[-0.5, -1.0], [0.0, -0.5]])


def test_robustness_table_of_a_clean_only_run_is_empty() -> None:
    table = metrics.resize_robustness_table(make_rows(LABELS, PREDS))
    assert table.empty and list(table.columns) == ["clean"]


def test_accuracy_vs_size_is_long_and_carries_the_clean_reference() -> None:
    long = metrics.accuracy_vs_size([make_run("m1", _grid_rows()), make_run("clean_only", make_rows([0], [0]))])
    assert set(long["model"]) == {"m1"}
    row = long[(long["pair"] == "area>cubic") & (long["size"] == 16)].iloc[0]
    assert row["accuracy"] == 0.5 and row["clean accuracy"] == 1.0
    assert len(long) == 4


def test_leaderboard_uses_clean_rows_and_cards() -> None:
    card = ModelCard(params=1234, weights_mb=0.5, latency_ms_per_face=2.0, training={"selection_split": "val"})
    board = metrics.leaderboard([make_run("good", _grid_rows(), card), make_run("bare", make_rows(LABELS, PREDS))])
    assert list(board["model"]) == ["good", "bare"]  # sorted by accuracy, best first
    good, bare = board.iloc[0], board.iloc[1]
    assert good["n"] == 2 and good["accuracy"] == 1.0  # clean only, not the resize rows
    assert (good["params"], good["weights MB"], good["CPU latency ms"], good["selection split"]) == (
        1234,
        0.5,
        2.0,
        "val",
    )
    assert bare["accuracy"] == 0.5 and bare["macro-F1"] == pytest.approx(metrics.macro_f1(make_rows(LABELS, PREDS)))
    assert np.isnan(bare["params"]) and pd.isna(bare["selection split"])


def test_leaderboard_cost_columns_come_from_the_card() -> None:
    card = ModelCard(params=10, mflops=37.8, training={"cpu_hours": 0.9, "epochs": 30, "train_samples": 28709})
    board = metrics.leaderboard([make_run("zoo", _grid_rows(), card), make_run("old", make_rows(LABELS, PREDS))])
    zoo, old = board.set_index("model").loc["zoo"], board.set_index("model").loc["old"]
    assert (zoo["MFLOPs"], zoo["train CPU-h"], zoo["images seen (M)"]) == (37.8, 0.9, 0.861)
    assert old[["MFLOPs", "train CPU-h", "images seen (M)"]].isna().all()


GROUPS = ["child", "child", "adult", "adult", np.nan, "unclear"]


def test_group_values_name_missing_values() -> None:
    rows = make_rows(LABELS[:5], PREDS[:5], groups=["child", None, np.nan, "", "adult"])
    assert list(metrics.group_values(rows, "age_group")) == ["child", "unknown", "unknown", "unknown", "adult"]
    with pytest.raises(KeyError, match="available: sample_id"):
        metrics.group_values(rows, "gender")


def test_subgroup_table_keeps_unclear_and_unknown() -> None:
    # child: true a a pred a a (2/2); adult: true a h pred h h (1/2); unknown: h->a (0/1); unclear: s->h (0/1)
    table = metrics.subgroup_table(make_rows(LABELS, PREDS, groups=GROUPS))
    assert list(table.index) == ["adult", "child", "unclear", "unknown"]
    assert table["n"].to_dict() == {"adult": 2, "child": 2, "unclear": 1, "unknown": 1}
    assert table["accuracy"].to_dict() == {"adult": 0.5, "child": 1.0, "unclear": 0.0, "unknown": 0.0}
    assert table.loc["adult", "recall angry"] == 0.0 and table.loc["adult", "recall happy"] == 1.0
    assert np.isnan(table.loc["child", "recall sad"])  # no sad child: undefined, not zero
    assert table.loc["child", "macro-F1"] == 1.0


def test_per_group_confusion_partitions_the_rows() -> None:
    rows = make_rows(LABELS, PREDS, groups=GROUPS)
    matrices = metrics.per_group_confusion(rows, "age_group")
    assert list(matrices) == ["adult", "child", "unclear", "unknown"]
    total = sum(m.to_numpy() for m in matrices.values())
    np.testing.assert_array_equal(total, metrics.confusion_matrix(rows).to_numpy())
    assert matrices["unknown"].loc["happy", "angry"] == 1


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (["child"] * 3 + ["adult"] * 3, (1.0, 1.0, 1.0)),  # children all right, adults all wrong: no spread
        (["adult"] * 3 + ["child"] * 3, (-1.0, -1.0, -1.0)),
        (["child"] * 6, (np.nan, np.nan, np.nan)),  # empty adult group
    ],
)
def test_subgroup_gap_ci_degenerate_cases(groups, expected) -> None:
    rows = make_rows([0] * 6, [0, 0, 0, 1, 1, 1], groups=groups)
    np.testing.assert_allclose(metrics.subgroup_gap_ci(rows, "age_group", "child", "adult"), expected)


def _two_group_rows(n_a: int, acc_a: float, n_b: int, acc_b: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hit = np.concatenate([rng.random(n_a) < acc_a, rng.random(n_b) < acc_b])
    return make_rows(np.zeros(len(hit), int), np.where(hit, 0, 1), groups=["child"] * n_a + ["adult"] * n_b)


def test_subgroup_gap_ci_matches_an_index_bootstrap_and_is_fast() -> None:
    rows = _two_group_rows(800, 0.6, 2700, 0.7)
    started = time.perf_counter()
    gap, lo, hi = metrics.subgroup_gap_ci(rows, "age_group", "child", "adult", n_boot=1000, seed=0)
    assert time.perf_counter() - started < 0.5
    correct = (rows["label"] == rows["pred"]).to_numpy()
    child, adult = correct[:800], correct[800:]
    assert gap == pytest.approx(child.mean() - adult.mean())
    assert lo < gap < hi
    # Reference: the textbook bootstrap that resamples indices within each group.
    rng = np.random.default_rng(1)
    reference = child[rng.integers(0, 800, (2000, 800))].mean(1) - adult[rng.integers(0, 2700, (2000, 2700))].mean(1)
    ref_lo, ref_hi = np.percentile(reference, [2.5, 97.5])
    assert lo == pytest.approx(ref_lo, abs=0.01) and hi == pytest.approx(ref_hi, abs=0.01)


def test_subgroup_gap_ci_is_reproducible_per_seed() -> None:
    rows = _two_group_rows(100, 0.5, 100, 0.6)
    first = metrics.subgroup_gap_ci(rows, "age_group", "child", "adult", seed=3)
    assert metrics.subgroup_gap_ci(rows, "age_group", "child", "adult", seed=3) == first


def test_subgroup_accuracy_ci_brackets_each_group() -> None:
    table = metrics.subgroup_accuracy_ci(_two_group_rows(200, 0.5, 300, 0.8), "age_group")
    assert list(table.index) == ["adult", "child"] and table["n"].tolist() == [300, 200]
    assert ((table["lo"] <= table["accuracy"]) & (table["accuracy"] <= table["hi"])).all()
    assert (table["hi"] - table["lo"] > 0).all()


def test_metadata_columns_skip_core_probability_and_id_like_columns() -> None:
    rows = make_rows(LABELS, PREDS, groups=GROUPS)
    rows["path"] = [f"img{i}.png" for i in range(6)]
    assert metrics.metadata_columns(rows, max_groups=5) == ["age_group"]
    assert metrics.metadata_columns(rows) == ["age_group", "path"]


@pytest.mark.parametrize(
    ("seen", "note"),
    [
        (
            {"a": 0.861, "b": 0.861, "c": None},
            "Every model with a recorded budget saw the same 0.86 M training images.",
        ),
        ({"a": 0.861, "b": 1.005}, "Training budgets (images seen) differ: 1.00 M: b; 0.86 M: a."),
        ({"a": None}, "No card here records its training budget."),
    ],
)
def test_budget_note_reads_the_cards(seen: dict, note: str) -> None:
    board = pd.DataFrame({"model": list(seen), "images seen (M)": pd.to_numeric(pd.Series(list(seen.values())))})
    assert metrics.budget_note(board) == note


def test_leaderboard_latency_of_a_tta_run_is_its_own_timing_or_none() -> None:
    from dataclasses import replace

    from run_fixtures import synthetic_rows

    from fer_core.labels import FER2013
    from fer_core.store.card import Latency

    card = ModelCard(id="m", latency_ms_per_face=1.0, latency=Latency(backend="onnx", extra={"tta": {}}))
    card.latency.extra["tta"]["flip"] = {"ms_per_face": 2.1, "backend": "onnx"}
    rows = synthetic_rows(seed=1)
    info = RunInfo("m", "fer2013", "test", FER2013.names)

    def run(model_id: str, tta: str) -> StoredRun:
        return StoredRun(model_id, "fer2013", "test", Path(f"{tta}.parquet"), replace(info, tta=tta), rows, card)

    board = metrics.leaderboard([run("m", "none"), run("m +flip TTA", "flip"), run("m +tencrop TTA", "tencrop")])
    latency = dict(zip(board["model"], board["CPU latency ms"], strict=True))
    assert latency["m"] == 1.0 and latency["m +flip TTA"] == 2.1 and np.isnan(latency["m +tencrop TTA"])


def test_bootstrap_balanced_accuracies_score_each_resample_as_scikit_learn_would() -> None:
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(3)
    labels = rng.integers(-1, 4, 300)  # -1: unlabelled, left out
    preds = np.where(rng.random(300) < 0.6, labels, rng.integers(0, 4, 300))
    samples = metrics.bootstrap_balanced_accuracies(labels, preds, 4, n_boot=50, seed=7)
    keep = labels >= 0
    picks = np.random.default_rng(7).integers(0, keep.sum(), (50, keep.sum()))
    expected = [balanced_accuracy_score(labels[keep][p], preds[keep][p]) for p in picks]
    np.testing.assert_allclose(samples, expected, atol=1e-12)
