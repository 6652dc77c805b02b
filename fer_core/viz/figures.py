"""Plotly figures for the comparison dashboard: one builder per chart, no computing, no showing.

Builders take the tables of ``fer_core.evaluation.metrics`` and return a ``go.Figure`` with one shared look (white
template, compact margins). Emotions keep their ``labels.emotion_color_hex`` colours everywhere; models get colours from
a palette distinct from the emotion colours, in a stable order, so one model has one colour across the charts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fer_core.labels import emotion_color_hex

__all__ = [
    "accuracy_latency_figure",
    "accuracy_vs_size_figure",
    "confusion_figure",
    "learning_curves_figure",
    "model_colors",
    "per_class_figure",
    "robustness_heatmap",
    "subgroup_bars_figure",
]

_TEMPLATE = "plotly_white"
_MODEL_PALETTE = plotly.colors.qualitative.Safe


def _finish(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    """The shared look: template, title, height and tight margins."""
    fig.update_layout(
        template=_TEMPLATE,
        title={"text": title, "x": 0.0, "xanchor": "left"},
        height=height,
        margin={"l": 10, "r": 10, "t": 50 if title else 20, "b": 10},
        legend={"orientation": "h", "y": -0.18},
    )
    return fig


def model_colors(models: Sequence[str]) -> dict[str, str]:
    """A colour per model, by position in ``models`` (pass the same sorted list on every chart)."""
    return {model: _MODEL_PALETTE[i % len(_MODEL_PALETTE)] for i, model in enumerate(models)}


def _emotion_ticks(names: Sequence[str]) -> list[str]:
    """Class names as tick labels written in their emotion colour."""
    return [f"<span style='color:{emotion_color_hex(name)}'><b>{name}</b></span>" for name in names]


def confusion_figure(cm: pd.DataFrame, *, normalized: bool = False, title: str = "") -> go.Figure:
    """Heatmap of a confusion matrix (true classes down, predicted across) with every cell annotated."""
    names = [str(n) for n in cm.index]
    fig = go.Figure(
        go.Heatmap(
            z=cm.to_numpy(dtype=float),
            x=names,
            y=names,
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalized else None,
            texttemplate="%{z:.2f}" if normalized else "%{z:.0f}",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{z}<extra></extra>",
            showscale=False,
        )
    )
    fig.update_xaxes(title="predicted", tickvals=names, ticktext=_emotion_ticks(names), side="bottom")
    fig.update_yaxes(title="true", tickvals=names, ticktext=_emotion_ticks(names), autorange="reversed")
    return _finish(fig, title, height=380)


def per_class_figure(prf: pd.DataFrame, title: str = "") -> go.Figure:
    """Grouped bars of precision, recall and F1, one bar per class in its emotion colour."""
    measures = ["precision", "recall", "f1"]
    fig = go.Figure()
    for name, row in prf.iterrows():
        fig.add_bar(
            x=["precision", "recall", "F1"],
            y=[row[m] for m in measures],
            name=str(name),
            marker_color=emotion_color_hex(str(name)),
            customdata=[row["support"]] * 3,
            hovertemplate=f"{name}<br>%{{x}} %{{y:.3f}}<br>support %{{customdata}}<extra></extra>",
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1], title="score")
    return _finish(fig, title)


def learning_curves_figure(histories: Mapping[str, pd.DataFrame], colors: Mapping[str, str] | None = None) -> go.Figure:
    """Loss and accuracy per epoch, side by side: train solid, validation dashed, one colour per model."""
    colors = colors or model_colors(list(histories))
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    for model, history in histories.items():
        for col, measure in enumerate(("loss", "acc"), start=1):
            for phase, dash in (("train", "solid"), ("val", "dash")):
                column = f"{phase}_{measure}"
                if column not in history.columns:
                    continue
                fig.add_scatter(
                    x=history["epoch"],
                    y=history[column],
                    mode="lines",
                    line={"color": colors.get(model), "dash": dash},
                    name=f"{model} {phase}",
                    legendgroup=model,
                    showlegend=col == 1,
                    row=1,
                    col=col,
                )
    fig.update_xaxes(title="epoch")
    return _finish(fig, "Learning curves")


COST_AXES = {
    "CPU latency ms": ("CPU latency per face (ms, 1 thread, batch 1)", "latency %{x:.2f} ms", "Accuracy vs latency"),
    "MFLOPs": ("forward MFLOPs per face (counted)", "%{x:.1f} MFLOPs", "Accuracy vs compute"),
}


def accuracy_latency_figure(
    board: pd.DataFrame, colors: Mapping[str, str] | None = None, cost: str = "CPU latency ms"
) -> go.Figure:
    """Accuracy against a cost column (``COST_AXES``: latency or MFLOPs), marker area proportional to parameters.

    Models whose card has no value for the cost or no parameter count are left off (the leaderboard lists them).
    """
    axis_title, hover_cost, title = COST_AXES[cost]
    known = board.dropna(subset=[cost, "accuracy", "params"])
    colors = colors or model_colors(list(known["model"]))
    biggest = float(known["params"].max()) if len(known) else 1.0
    fig = go.Figure()
    for _, row in known.iterrows():
        fig.add_scatter(
            x=[row[cost]],
            y=[row["accuracy"]],
            mode="markers+text",
            text=[row["model"]],
            textposition="top center",
            name=str(row["model"]),
            marker={
                "size": [float(row["params"])],
                "sizemode": "area",
                "sizeref": 2.0 * biggest / 50**2,
                "sizemin": 6,
                "color": colors.get(row["model"]),
                "line": {"width": 1, "color": "#333"},
            },
            hovertemplate=(
                f"{row['model']}<br>{hover_cost}<br>accuracy %{{y:.2%}}<br>params {int(row['params']):,}<extra></extra>"
            ),
        )
    fig.update_xaxes(title=axis_title)
    fig.update_yaxes(title="accuracy (clean)", tickformat=".0%")
    return _finish(fig, f"{title} (marker area = parameters)")


def _size_label(column: object) -> str:
    return str(column) if isinstance(column, str) else f"{column} px"


def robustness_heatmap(table: pd.DataFrame, title: str = "") -> go.Figure:
    """Heatmap of a resize-robustness table: interpolation pairs down, clean then target sizes across."""
    columns = [_size_label(c) for c in table.columns]
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(dtype=float),
            x=columns,
            y=[str(i) for i in table.index],
            colorscale="Viridis",
            texttemplate="%{z:.1%}",
            hovertemplate="%{y} at %{x}<br>accuracy %{z:.2%}<extra></extra>",
            colorbar={"title": "accuracy", "tickformat": ".0%"},
        )
    )
    fig.update_xaxes(title="target size (down, then back up)", type="category")
    fig.update_yaxes(title="down>up interpolation", autorange="reversed", type="category")
    return _finish(fig, title, height=max(260, 60 + 40 * len(table)))


def accuracy_vs_size_figure(long: pd.DataFrame, pair: str, colors: Mapping[str, str] | None = None) -> go.Figure:
    """Accuracy against target size for one interpolation pair, one line per model, starting from clean."""
    part = long[long["pair"] == pair]
    models = list(dict.fromkeys(part["model"]))
    colors = colors or model_colors(models)
    sizes = sorted(part["size"].unique(), reverse=True)
    order = ["clean", *(_size_label(s) for s in sizes)]
    fig = go.Figure()
    for model in models:
        rows = part[part["model"] == model].sort_values("size", ascending=False)
        fig.add_scatter(
            x=["clean", *(_size_label(s) for s in rows["size"])],
            y=[rows["clean accuracy"].iloc[0], *rows["accuracy"]],
            mode="lines+markers",
            name=model,
            line={"color": colors.get(model)},
            hovertemplate=f"{model}<br>%{{x}}<br>accuracy %{{y:.2%}}<extra></extra>",
        )
    fig.update_xaxes(title="target size", type="category", categoryorder="array", categoryarray=order)
    fig.update_yaxes(title="accuracy", tickformat=".0%")
    return _finish(fig, f"Accuracy vs target size ({pair})")


def subgroup_bars_figure(ci_table: pd.DataFrame, title: str = "") -> go.Figure:
    """Accuracy per group with bootstrap interval error bars and the group size written on each bar."""
    accuracy = ci_table["accuracy"].to_numpy(dtype=float)
    fig = go.Figure(
        go.Bar(
            x=[str(g) for g in ci_table.index],
            y=accuracy,
            error_y={
                "type": "data",
                "array": np.nan_to_num(ci_table["hi"].to_numpy(dtype=float) - accuracy),
                "arrayminus": np.nan_to_num(accuracy - ci_table["lo"].to_numpy(dtype=float)),
            },
            text=[f"n={n}" for n in ci_table["n"]],
            textposition="inside",
            insidetextanchor="start",
            marker_color=[_MODEL_PALETTE[0] if g not in ("unclear", "unknown") else "#bbbbbb" for g in ci_table.index],
            hovertemplate="%{x}<br>accuracy %{y:.2%}<extra></extra>",
        )
    )
    fig.update_yaxes(title="accuracy (95% bootstrap CI)", range=[0, 1], tickformat=".0%")
    return _finish(fig, title, height=360)
