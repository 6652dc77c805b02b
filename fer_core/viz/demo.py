"""Plotly figures of the demo pages (home, image, video, live): per-face probability bars, timelines, shares.

Pure functions from face tables (``fer_core.vision.pipeline.face_columns``) to figures (no Streamlit calls), so every
page draws the same emotion in the same colour (``fer_core.labels.emotion_color_hex``) and the figures can be
checked without a running app. Class names come from the model's files: they reach the charts through
:func:`fer_core.viz.figures.safe`, never as markup.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fer_core.labels import emotion_color_hex, prob_column
from fer_core.vision.pipeline import UNCERTAIN
from fer_core.viz.figures import safe

__all__ = ["probability_figure", "shares_figure", "stacked_probabilities_figure", "top_emotion_figure"]

_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def _color_map(names: Sequence[str]) -> dict[str, str]:
    return {name: emotion_color_hex(name) for name in names}


def probability_figure(labels: Sequence[str], probabilities: Sequence[float], title: str = "") -> go.Figure:
    """Horizontal bars, one per class in the model's label order (top to bottom), coloured by emotion."""
    probs = np.asarray(probabilities, dtype=float)
    figure = go.Figure(
        go.Bar(
            x=probs,
            y=[safe(name) for name in labels],
            orientation="h",
            marker_color=[emotion_color_hex(name) for name in labels],
            text=[f"{p:.0%}" for p in probs],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    figure.update_layout(
        title=safe(title) if title else None,
        height=60 + 26 * len(labels),
        margin=_MARGIN,
        xaxis={"range": [0, 1.15], "tickformat": ".0%", "showgrid": False},
        yaxis={"autorange": "reversed"},
        showlegend=False,
    )
    return figure


def _classified(timeline: pd.DataFrame) -> pd.DataFrame:
    """The rows of classified faces (no too-small ones, no empty frames), in time order."""
    return timeline[~timeline["too_small"].astype(bool)].sort_values("time_s")


def _over_time(figure: go.Figure, quantity: str, top: float) -> go.Figure:
    """The layout every timeline figure shares: time on x, a percentage ``quantity`` from 0 to ``top`` on y."""
    figure.update_layout(
        height=300,
        margin=_MARGIN,
        xaxis_title="time (s)",
        yaxis={"title": quantity, "range": [0, top], "tickformat": ".0%"},
    )
    return figure


def top_emotion_figure(timeline: pd.DataFrame, labels: Sequence[str]) -> go.Figure:
    """Confidence of the top emotion over time for one track: a grey line with markers coloured by emotion."""
    rows = _classified(timeline)
    shown = rows["shown_as"]  # the one rule for what a viewer saw (fer_core.vision.pipeline.FaceResult.display_label)
    figure = go.Figure(
        go.Scatter(x=rows["time_s"], y=rows["confidence"], mode="lines", line={"color": "#cccccc"}, showlegend=False)
    )
    for name in [*labels, UNCERTAIN]:
        part = rows[shown == name]
        if part.empty:
            continue
        figure.add_trace(
            go.Scatter(
                x=part["time_s"],
                y=part["confidence"],
                mode="markers",
                name=safe(name),
                marker={"color": emotion_color_hex(name), "size": 7},
                hovertemplate=f"{safe(name)} %{{y:.0%}} at %{{x:.2f}} s<extra></extra>",
            )
        )
    return _over_time(figure, "confidence", 1.02)


def stacked_probabilities_figure(timeline: pd.DataFrame, labels: Sequence[str]) -> go.Figure:
    """Every class probability over time for one track, stacked to 100%."""
    rows = _classified(timeline)
    figure = go.Figure()
    for name in labels:
        figure.add_trace(
            go.Scatter(
                x=rows["time_s"],
                y=rows[prob_column(name)],
                name=safe(name),
                mode="lines",
                stackgroup="probabilities",
                line={"width": 0.5, "color": emotion_color_hex(name)},
                hovertemplate=f"{safe(name)} %{{y:.0%}}<extra></extra>",
            )
        )
    return _over_time(figure, "probability", 1.0)


def shares_figure(shares: pd.DataFrame) -> go.Figure:
    """One horizontal 100% bar per face: the share of analysed frames shown as each emotion."""
    figure = go.Figure()
    faces = [f"face #{track}" for track in shares.index]
    for name in shares.columns:
        values = shares[name].to_numpy(dtype=float)
        if not values.any():
            continue
        figure.add_trace(
            go.Bar(
                x=values,
                y=faces,
                name=safe(name),
                orientation="h",
                marker_color=emotion_color_hex(str(name)),
                hovertemplate=f"{safe(name)} %{{x:.0%}}<extra></extra>",
            )
        )
    figure.update_layout(
        barmode="stack",
        height=80 + 40 * len(faces),
        margin=_MARGIN,
        xaxis={"range": [0, 1], "tickformat": ".0%"},
        legend={"orientation": "h", "y": -0.25},
    )
    return figure
