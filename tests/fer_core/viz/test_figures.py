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
    shown = {t.name: (t.x[0], t.y[0], t.marker.size[0]) for t in fig.data if t.mode != "lines"}
    assert set(shown) == {"fast", "big"}
    expected = board.set_index("model")
    assert shown["big"] == (4.0, expected.loc["big", "accuracy"], 9000.0)


def test_accuracy_compute_figure_plots_counted_mflops() -> None:
    runs = [_run("a", 1, ModelCard(params=1000, mflops=38.0)), _run("b", 2, ModelCard(params=2000))]
    fig = figures.accuracy_latency_figure(metrics.leaderboard(runs), cost="MFLOPs")
    assert [(t.name, t.x[0]) for t in fig.data if t.mode != "lines"] == [("a", 38.0)]
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


def test_only_the_pareto_front_and_the_default_carry_labels() -> None:
    board = pd.DataFrame(
        {
            "model": ["cheap", "best", "dominated", "default"],
            "accuracy": [0.6, 0.7, 0.55, 0.5],
            "CPU latency ms": [1.0, 3.0, 2.0, 4.0],
            "params": [1, 2, 3, 4],
        }
    )
    assert figures.pareto_front(board, "CPU latency ms") == ["cheap", "best"]
    fig = figures.accuracy_latency_figure(board, labelled=["default"])
    labelled = {t.name for t in fig.data if t.text is not None}
    assert labelled == {"cheap", "best", "default"}


def test_interval_figure_draws_each_interval() -> None:
    table = pd.DataFrame({"model": ["a", "b"], "gap": [2.0, -1.0], "lo": [0.5, -3.0], "hi": [4.0, 1.5]})
    fig = figures.interval_figure(table, value="gap", highlight=["a"])
    points = fig.data[0]
    assert list(points.y) == ["<b>a</b>", "b"]
    np.testing.assert_allclose(np.asarray(points.x) + points.error_x.array, table["hi"])
    np.testing.assert_allclose(np.asarray(points.x) - points.error_x.arrayminus, table["lo"])


def test_reliability_figure_plots_the_bins(clean: pd.DataFrame) -> None:
    table = metrics.reliability_table(clean)
    fig = figures.reliability_figure({"m": table})
    line = next(t for t in fig.data if t.name == "m")
    shown = table[table["n"] >= figures.RELIABILITY_MIN_BIN]
    assert 0 < len(shown) <= len(table)
    np.testing.assert_allclose(line.x, shown["confidence"])
    np.testing.assert_allclose(line.y, shown["accuracy"])


def test_accuracy_vs_severity_starts_at_clean() -> None:
    runs = [_run("a", 1), _run("b", 2)]
    long = metrics.accuracy_vs_severity(runs, "blur")
    fig = figures.accuracy_vs_severity_figure(long, "blur", highlight=["b"])
    assert [t.name for t in fig.data] == ["a", "b"] and fig.data[1].line.width > fig.data[0].line.width
    assert list(fig.layout.xaxis.ticktext) == ["clean", "1", "2", "3"]


HOSTILE = [
    "<a href='http://x.invalid'>click</a>",
    "![x](http://x.invalid/p.png)",
    "<b style='color:red'>s</b>",
    "%{y:HACK}",
]


def _texts(fig) -> list[str]:
    """Every string Plotly would render as (HTML-subset) text: trace names, texts, hover templates, ticks, titles."""
    found = [str(fig.layout.title.text or "")]
    for axis in ("xaxis", "yaxis"):
        found += [str(t) for t in (fig.layout[axis].ticktext or ())] + [str(fig.layout[axis].title.text or "")]
    for trace in fig.data:
        for attribute in ("name", "text", "hovertemplate", "x", "y"):
            value = getattr(trace, attribute, None)
            if value is None:
                continue
            found += [str(v) for v in value] if isinstance(value, tuple | list | np.ndarray) else [str(value)]
    return found


def test_hostile_labels_reach_no_chart_as_markup() -> None:
    rows = synthetic_rows(n=40, seed=3)
    hostile_names = tuple(f"{h}{i}" for i, h in enumerate([*HOSTILE, "sad", "ok", "neutral"]))[:7]
    renamed = rows.rename(columns={f"p_{a}": f"p_{b}" for a, b in zip(FER2013.names, hostile_names, strict=True)})
    clean = metrics.condition_rows(renamed)
    board = pd.DataFrame({"model": HOSTILE, "accuracy": [0.5] * 4, "CPU latency ms": [1.0] * 4, "params": [1] * 4})
    long = pd.DataFrame({"model": HOSTILE, "severity": [0, 1, 0, 1], "accuracy": [0.5, 0.4, 0.6, 0.3]})
    gaps = pd.DataFrame({"model": HOSTILE, "gap": [1.0] * 4, "lo": [0.0] * 4, "hi": [2.0] * 4})
    charts = [
        figures.confusion_figure(metrics.confusion_matrix(clean), title=HOSTILE[0]),
        figures.per_class_figure(metrics.per_class_prf(clean), title=HOSTILE[1]),
        figures.accuracy_latency_figure(board, labelled=HOSTILE),
        figures.accuracy_vs_severity_figure(long, HOSTILE[2]),
        figures.interval_figure(gaps, value="gap", title=HOSTILE[3]),
        figures.reliability_figure({name: metrics.reliability_table(clean) for name in HOSTILE}),
        figures.learning_curves_figure({name: synthetic_history(2) for name in HOSTILE}),
    ]
    for fig in charts:
        for text in _texts(fig):
            assert "<a " not in text and "style='color:red'" not in text and "%{y:HACK" not in text, text
            assert "<b style" not in text


def test_hostile_class_names_reach_no_demo_chart_as_markup() -> None:
    from fer_core.viz import demo

    labels = tuple(HOSTILE)
    timeline = pd.DataFrame(
        {
            "time_s": [0.0, 0.5],
            "too_small": [False, False],
            "shown_as": [labels[0], labels[1]],
            "confidence": [0.6, 0.7],
            **{f"p_{name}": [0.25, 0.25] for name in labels},
        }
    )
    shares = pd.DataFrame({name: [0.25] for name in labels}, index=[1])
    charts = [
        demo.probability_figure(labels, [0.25] * 4, title=f"Face 1: {labels[0]}"),
        demo.top_emotion_figure(timeline, labels),
        demo.stacked_probabilities_figure(timeline, labels),
        demo.shares_figure(shares),
    ]
    for fig in charts:
        for text in _texts(fig):
            assert "<a " not in text and "<b style" not in text and "%{y:HACK" not in text, text
