"""Plotly figures for the comparison dashboard: one builder per chart, no computing, no showing.

Builders take the tables of ``fer_core.evaluation.metrics`` and return a ``go.Figure`` with one shared look (white
template, compact margins). Emotions keep their ``labels.emotion_color_hex`` colours everywhere; models get colours from
a 45-colour palette, by position in the sorted list of every model id, so one model has one colour on every page.

Every text that comes from files (model ids, class names, group values, column names) goes through :func:`safe`:
Plotly renders a subset of HTML in titles, labels, legends and hover text, so a label such as ``<a href=...>``
would otherwise become a link in each viewer's browser.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fer_core.labels import emotion_color_hex

__all__ = [
    "accuracy_latency_figure",
    "accuracy_vs_severity_figure",
    "accuracy_vs_size_figure",
    "confusion_figure",
    "interval_figure",
    "learning_curves_figure",
    "model_colors",
    "pareto_front",
    "per_class_figure",
    "reliability_figure",
    "robustness_heatmap",
    "safe",
    "subgroup_bars_figure",
]

_TEMPLATE = "plotly_white"
# Dark24, then Alphabet without its pale colours (unreadable on white): 45 distinct colours before any repeats.
_PALE = {"#E2E2E2", "#F7E1A0", "#FBE426", "#16FF32", "#1CFFCE", "#DEA0FD", "#F8A19F"}
_MODEL_PALETTE = (
    *plotly.colors.qualitative.Dark24,
    *(c for c in plotly.colors.qualitative.Alphabet if c.upper() not in _PALE),
)


def safe(text: object) -> str:
    """Text from a file made inert for Plotly: HTML special characters as entities (shown as typed, never
    parsed as tags), and ``%{`` broken up so that hover templates do not substitute inside it."""
    return html.escape(str(text), quote=True).replace("%{", "%&#123;")


def _finish(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    """The shared look: template, title, height and tight margins; the legend, if any, right of the plot."""
    fig.update_layout(
        template=_TEMPLATE,
        title={"text": title, "x": 0.0, "xanchor": "left"},
        height=height,
        margin={"l": 10, "r": 10, "t": 50 if title else 20, "b": 10},
        legend={"orientation": "v", "x": 1.02, "y": 1.0, "xanchor": "left"},
    )
    return fig


def model_colors(models: Sequence[str]) -> dict[str, str]:
    """A colour per model, by position in ``models`` (pass the same sorted list of every model id on every page)."""
    return {model: _MODEL_PALETTE[i % len(_MODEL_PALETTE)] for i, model in enumerate(models)}


def _emotion_ticks(names: Sequence[str]) -> list[str]:
    """Class names as tick labels written in their emotion colour."""
    return [f"<span style='color:{emotion_color_hex(name)}'><b>{safe(name)}</b></span>" for name in names]


def confusion_figure(cm: pd.DataFrame, *, normalized: bool = False, title: str = "") -> go.Figure:
    """Heatmap of a confusion matrix (true classes down, predicted across) with every cell annotated."""
    names = [safe(n) for n in cm.index]
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
    ticks = _emotion_ticks([str(n) for n in cm.index])
    fig.update_xaxes(title="predicted", tickvals=names, ticktext=ticks, side="bottom")
    fig.update_yaxes(title="true", tickvals=names, ticktext=ticks, autorange="reversed")
    return _finish(fig, safe(title), height=380)


def per_class_figure(prf: pd.DataFrame, title: str = "") -> go.Figure:
    """Grouped bars of precision, recall and F1, one bar per class in its emotion colour."""
    measures = ["precision", "recall", "f1"]
    fig = go.Figure()
    for name, row in prf.iterrows():
        fig.add_bar(
            x=["precision", "recall", "F1"],
            y=[row[m] for m in measures],
            name=safe(name),
            marker_color=emotion_color_hex(str(name)),
            customdata=[row["support"]] * 3,
            hovertemplate=f"{safe(name)}<br>%{{x}} %{{y:.3f}}<br>support %{{customdata}}<extra></extra>",
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1], title="score")
    return _finish(fig, safe(title))


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
                    name=f"{safe(model)} {phase}",
                    legendgroup=safe(model),
                    showlegend=col == 1,
                    row=1,
                    col=col,
                )
    fig.update_xaxes(title="epoch")
    return _finish(fig, "Learning curves", height=440)


COST_AXES = {
    "CPU latency ms": ("CPU latency per face (ms, 1 thread, batch 1)", "latency %{x:.2f} ms", "Accuracy vs latency"),
    "MFLOPs": ("forward MFLOPs per face (counted)", "%{x:.1f} MFLOPs", "Accuracy vs compute"),
}


def pareto_front(board: pd.DataFrame, cost: str) -> list[str]:
    """Models no other model beats on both accuracy (higher) and ``cost`` (lower), cheapest first."""
    known = board.dropna(subset=[cost, "accuracy"]).sort_values([cost, "accuracy"], ascending=[True, False])
    front, best = [], -np.inf
    for _, row in known.iterrows():
        if row["accuracy"] > best:
            front.append(str(row["model"]))
            best = row["accuracy"]
    return front


def accuracy_latency_figure(
    board: pd.DataFrame,
    colors: Mapping[str, str] | None = None,
    cost: str = "CPU latency ms",
    labelled: Sequence[str] = (),
) -> go.Figure:
    """Accuracy against a cost column (``COST_AXES``: latency or MFLOPs, log scale), marker area = parameters.

    Only the Pareto front and ``labelled`` (the default model) carry a text label, so 20+ models do not pile their
    names on each other; every marker names its model on hover. Models whose card has no value for the cost or no
    parameter count are left off (the leaderboard lists them).
    """
    axis_title, hover_cost, title = COST_AXES[cost]
    known = board.dropna(subset=[cost, "accuracy", "params"])
    colors = colors or model_colors(list(known["model"]))
    biggest = float(known["params"].max()) if len(known) else 1.0
    named = set(pareto_front(known, cost)) | set(labelled)
    fig = go.Figure()
    for _, row in known.iterrows():
        model = str(row["model"])
        fig.add_scatter(
            x=[row[cost]],
            y=[row["accuracy"]],
            mode="markers+text" if model in named else "markers",
            text=[safe(model)] if model in named else None,
            textposition="middle right",
            name=safe(model),
            marker={
                "size": [float(row["params"])],
                "sizemode": "area",
                "sizeref": 2.0 * biggest / 40**2,
                "sizemin": 5,
                "color": colors.get(model),
                "line": {"width": 1, "color": "#333"},
            },
            hovertemplate=(
                f"{safe(model)}<br>{hover_cost}<br>accuracy %{{y:.2%}}<br>params {int(row['params']):,}<extra></extra>"
            ),
            showlegend=False,
        )
    front = known.set_index("model").loc[pareto_front(known, cost)]
    fig.add_scatter(
        x=front[cost],
        y=front["accuracy"],
        name="Pareto front",
        mode="lines",
        line={"color": "#999", "dash": "dot"},
        hoverinfo="skip",
        showlegend=False,
    )
    fig.update_xaxes(title=axis_title, type="log")
    fig.update_yaxes(title="accuracy (clean)", tickformat=".0%")
    return _finish(fig, f"{title} (marker area = parameters; labelled: Pareto front and default)", height=520)


def _size_label(column: object) -> str:
    return str(column) if isinstance(column, str) else f"{column} px"


def robustness_heatmap(table: pd.DataFrame, title: str = "") -> go.Figure:
    """Heatmap of a resize-robustness table: interpolation pairs down, clean then target sizes across."""
    columns = [_size_label(c) for c in table.columns]
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(dtype=float),
            x=columns,
            y=[str(i) for i in table.index],  # pairs of the grammar's interpolation names only
            colorscale="Viridis",
            texttemplate="%{z:.1%}",
            hovertemplate="%{y} at %{x}<br>accuracy %{z:.2%}<extra></extra>",
            colorbar={"title": "accuracy", "tickformat": ".0%"},
        )
    )
    fig.update_xaxes(title="target size (down, then back up)", type="category")
    fig.update_yaxes(title="down>up interpolation", autorange="reversed", type="category")
    return _finish(fig, safe(title), height=max(260, 60 + 40 * len(table)))


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
            name=safe(model),
            line={"color": colors.get(model)},
            hovertemplate=f"{safe(model)}<br>%{{x}}<br>accuracy %{{y:.2%}}<extra></extra>",
        )
    fig.update_xaxes(title="target size", type="category", categoryorder="array", categoryarray=order)
    fig.update_yaxes(title="accuracy", tickformat=".0%")
    return _finish(fig, f"Accuracy vs target size ({safe(pair)})", height=520)


def subgroup_bars_figure(ci_table: pd.DataFrame, title: str = "") -> go.Figure:
    """Accuracy per group with bootstrap interval error bars and the group size written on each bar."""
    accuracy = ci_table["accuracy"].to_numpy(dtype=float)
    fig = go.Figure(
        go.Bar(
            x=[safe(g) for g in ci_table.index],
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
    return _finish(fig, safe(title), height=360)


def interval_figure(
    table: pd.DataFrame,
    *,
    value: str,
    lo: str = "lo",
    hi: str = "hi",
    label: str = "model",
    axis_title: str = "",
    title: str = "",
    colors: Mapping[str, str] | None = None,
    highlight: Sequence[str] = (),
) -> go.Figure:
    """One row per item (``label`` column): a point at ``value`` with its interval ``lo``..``hi``, a zero line.

    For differences with a confidence interval (subgroup gaps of every model, model A minus model B per class):
    an interval that crosses the zero line may be chance. Rows in ``highlight`` are written in bold.
    """
    names = [str(n) for n in table[label]]
    shown = [f"<b>{safe(n)}</b>" if n in highlight else safe(n) for n in names]
    values = table[value].to_numpy(dtype=float)
    fig = go.Figure(
        go.Scatter(
            x=values,
            y=shown,
            mode="markers",
            marker={"size": 9, "color": [(colors or {}).get(n, _MODEL_PALETTE[0]) for n in names]},
            error_x={
                "type": "data",
                "array": np.nan_to_num(table[hi].to_numpy(dtype=float) - values),
                "arrayminus": np.nan_to_num(values - table[lo].to_numpy(dtype=float)),
                "color": "#555",
            },
            customdata=np.stack([table[lo].to_numpy(dtype=float), table[hi].to_numpy(dtype=float)], axis=1),
            hovertemplate="%{y}<br>%{x:+.2f}<br>95% CI %{customdata[0]:+.2f} to %{customdata[1]:+.2f}<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_vline(x=0, line={"color": "#999", "dash": "dot"})
    fig.update_xaxes(title=axis_title, zeroline=False)
    fig.update_yaxes(autorange="reversed", type="category")
    return _finish(fig, safe(title), height=max(240, 90 + 26 * len(table)))


RELIABILITY_MIN_BIN = 10  # faces; a bin with fewer is noise (one face: 0 % or 100 %) and is left off the diagram


def reliability_figure(tables: Mapping[str, pd.DataFrame], colors: Mapping[str, str] | None = None) -> go.Figure:
    """Reliability diagram: accuracy against mean confidence per confidence bin, one line per model, the diagonal
    for perfect calibration; marker area is the bin's share of samples. Below the diagonal: over-confident.
    Bins with fewer than ``RELIABILITY_MIN_BIN`` faces are left off (the ECE still counts them)."""
    colors = colors or model_colors(list(tables))
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": "#999", "dash": "dot"}, name="calibrated")
    for model, table in tables.items():
        table = table[table["n"] >= RELIABILITY_MIN_BIN]
        share = table["n"] / max(float(table["n"].sum()), 1.0)
        fig.add_scatter(
            x=table["confidence"],
            y=table["accuracy"],
            mode="lines+markers",
            name=safe(model),
            line={"color": colors.get(model)},
            marker={"size": 4 + 30 * np.sqrt(share.to_numpy())},
            customdata=np.stack([table["n"].to_numpy(), table["lo"].to_numpy(), table["hi"].to_numpy()], axis=1),
            hovertemplate=(
                f"{safe(model)}<br>confidence %{{customdata[1]:.2f}}-%{{customdata[2]:.2f}}: mean %{{x:.2f}}"
                "<br>accuracy %{y:.2%}<br>n %{customdata[0]}<extra></extra>"
            ),
        )
    fig.update_xaxes(title="mean confidence (max probability) in the bin", range=[0, 1])
    fig.update_yaxes(title="accuracy in the bin", range=[0, 1], tickformat=".0%")
    return _finish(fig, f"Reliability diagram (clean; bins of {RELIABILITY_MIN_BIN}+ faces)", height=460)


def accuracy_vs_severity_figure(
    long: pd.DataFrame, corruption: str, colors: Mapping[str, str] | None = None, highlight: Sequence[str] = ()
) -> go.Figure:
    """Accuracy against severity (0 = clean) under one corruption, one line per model (highlighted ones thicker)."""
    models = list(dict.fromkeys(long["model"]))
    colors = colors or model_colors(models)
    fig = go.Figure()
    for model in models:
        part = long[long["model"] == model].sort_values("severity")
        fig.add_scatter(
            x=part["severity"],
            y=part["accuracy"],
            mode="lines+markers",
            name=safe(model),
            line={"color": colors.get(model), "width": 4 if model in highlight else 2},
            hovertemplate=f"{safe(model)}<br>severity %{{x}}<br>accuracy %{{y:.2%}}<extra></extra>",
        )
    ticks = sorted(long["severity"].unique()) if len(long) else [0]
    fig.update_xaxes(title="severity", tickvals=ticks, ticktext=["clean" if t == 0 else str(t) for t in ticks])
    fig.update_yaxes(title="accuracy", tickformat=".0%")
    return _finish(fig, f"Accuracy vs severity: {safe(corruption)}", height=480)
