"""fer_core.viz.figures: each builder shows exactly the numbers of the metrics table it is given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from run_fixtures import synthetic_history, synthetic_rows

from fer_core.evaluation import metrics
from fer_core.labels import FER2013, emotion_color_hex
from fer_core.store.card import ModelCard
from fer_core.store.runs import RunInfo, StoredRun
from fer_core.viz import figures


def _run(model_id: str, seed: int, card: ModelCard | None = None) -> StoredRun:
    info = RunInfo(model_id, "fer2013", "test", tuple(FER2013.names))
    rows = synthetic_rows(seed=seed)
    return StoredRun(model_id, "fer2013", "test", Path("x.parquet"), info, rows, card or ModelCard())


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return metrics.condition_rows(synthetic_rows(n=80, seed=5), "clean")


@pytest.mark.parametrize(("normalized", "template"), [(False, "%{z:.0f}"), (True, "%{z:.2f}")])
def test_confusion_figure_shows_the_matrix(clean: pd.DataFrame, normalized: bool, template: str) -> None:
    cm = metrics.confusion_matrix(clean, normalize=normalized)
    fig = figures.confusion_figure(cm, normalized=normalized, title="m")
    heatmap = fig.data[0]
    np.testing.assert_allclose(np.asarray(heatmap.z, float), cm.to_numpy(float))
    assert heatmap.texttemplate == template and list(heatmap.x) == list(FER2013.names)
    assert emotion_color_hex("happy") in fig.layout.xaxis.ticktext[FER2013.names.index("happy")]
    assert fig.layout.yaxis.autorange == "reversed"  # true class 0 on top, like the table


def test_per_class_figure_has_one_coloured_trace_per_class(clean: pd.DataFrame) -> None:
    prf = metrics.per_class_prf(clean)
    fig = figures.per_class_figure(prf)
    assert [t.name for t in fig.data] == list(FER2013.names)
    for trace in fig.data:
        assert trace.marker.color == emotion_color_hex(trace.name)
        np.testing.assert_allclose(trace.y, prf.loc[trace.name, ["precision", "recall", "f1"]].to_numpy(float))


def test_learning_curves_draw_train_and_val_for_each_model() -> None:
    history = synthetic_history(4)
    fig = figures.learning_curves_figure({"a": history, "b": history.drop(columns=["val_loss"])})
    names = [t.name for t in fig.data]
    assert names.count("a train") == 2 and names.count("a val") == 2 and names.count("b val") == 1
    dashed = [t for t in fig.data if t.name == "a val"]
    assert all(t.line.dash == "dash" for t in dashed)
    assert list(fig.data[0].y) == list(history["train_loss"])


def test_accuracy_latency_figure_skips_models_without_latency() -> None:
    runs = [
        _run("fast", 1, ModelCard(params=1000, latency_ms_per_face=0.5)),
        _run("big", 2, ModelCard(params=9000, latency_ms_per_face=4.0)),
        _run("unknown", 3, ModelCard(params=5000)),
    ]
    board = metrics.leaderboard(runs)
    fig = figures.accuracy_latency_figure(board)
    shown = {t.name: (t.x[0], t.y[0], t.marker.size[0]) for t in fig.data}
    assert set(shown) == {"fast", "big"}
    expected = board.set_index("model")
    assert shown["big"] == (4.0, expected.loc["big", "accuracy"], 9000.0)


def test_accuracy_compute_figure_plots_counted_mflops() -> None:
    runs = [_run("a", 1, ModelCard(params=1000, mflops=38.0)), _run("b", 2, ModelCard(params=2000))]
    fig = figures.accuracy_latency_figure(metrics.leaderboard(runs), cost="MFLOPs")
    assert [(t.name, t.x[0]) for t in fig.data] == [("a", 38.0)]
    assert "compute" in fig.layout.title.text and "MFLOPs" in fig.layout.xaxis.title.text


def test_robustness_heatmap_matches_the_table() -> None:
    table = metrics.resize_robustness_table(synthetic_rows(seed=7))
    fig = figures.robustness_heatmap(table)
    heatmap = fig.data[0]
    assert list(heatmap.x) == ["clean", "32 px", "16 px", "8 px"]
    assert list(heatmap.y) == ["cubic>cubic", "area>cubic"]
    np.testing.assert_allclose(np.asarray(heatmap.z, float), table.to_numpy(float))


def test_accuracy_vs_size_lines_start_at_clean() -> None:
    runs = [_run("a", 1), _run("b", 2)]
    long = metrics.accuracy_vs_size(runs)
    colors = figures.model_colors(["a", "b"])
    fig = figures.accuracy_vs_size_figure(long, "area>cubic", colors)
    assert [t.name for t in fig.data] == ["a", "b"]
    line = fig.data[1]
    assert list(line.x) == ["clean", "32 px", "16 px", "8 px"] and line.line.color == colors["b"]
    table = metrics.resize_robustness_table(runs[1].rows)
    np.testing.assert_allclose(line.y, table.loc["area>cubic"].to_numpy(float))


def test_subgroup_bars_carry_the_bootstrap_interval(clean: pd.DataFrame) -> None:
    ci = metrics.subgroup_accuracy_ci(clean, "age_group", n_boot=200)
    fig = figures.subgroup_bars_figure(ci)
    bar = fig.data[0]
    assert list(bar.x) == ["adult", "child", "unclear", "unknown"]
    np.testing.assert_allclose(bar.y, ci["accuracy"])
    np.testing.assert_allclose(np.asarray(bar.y) + bar.error_y.array, ci["hi"])
    np.testing.assert_allclose(np.asarray(bar.y) - bar.error_y.arrayminus, ci["lo"])
    assert bar.marker.color[-1] == "#bbbbbb"  # the vague groups are greyed


def test_model_colors_are_stable_and_distinct() -> None:
    colors = figures.model_colors(["a", "b", "c"])
    assert len(set(colors.values())) == 3 and figures.model_colors(["a", "b", "c"]) == colors
