"""Robustness: how accuracy holds up when faces are shrunk and enlarged back, and under webcam-like corruptions
(blur, motion, noise, JPEG, exposure, contrast, covered eyes or mouth).

Every number is computed by ``fer_core.evaluation.metrics`` from the stored runs' ``resize:<px>:<down>><up>`` and
``<corruption>:<severity>`` rows (the grammar of ``fer_core.evaluation.conditions``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fer_app.dashboard_data import (
    all_model_colors,
    default_first,
    default_runs,
    every_condition,
    open_dashboard,
)
from fer_app.plain_text import literal
from fer_app.routing import enter_through_navigation
from fer_core.evaluation import metrics
from fer_core.evaluation.conditions import CORRUPTIONS
from fer_core.store.runs import StoredRun
from fer_core.viz import figures

enter_through_navigation()


def has_resize_grid(run: StoredRun) -> bool:
    return any(metrics.parse_resize_condition(c) is not None for c in run.conditions)


def has_corruptions(run: StoredRun) -> bool:
    return any(c.split(":")[0] in CORRUPTIONS for c in run.conditions)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """A robustness table with readable size headers and the pair as a column (for st.dataframe)."""
    shown = table.rename(columns=lambda c: c if isinstance(c, str) else f"{c} px")
    shown.columns.name = None
    return shown.rename_axis("pair").reset_index()


def percent(value: float) -> str:
    """An accuracy as the README writes it: "66.73%" (blank where a cell has no value)."""
    return "" if pd.isna(value) else f"{100 * value:.2f}%"


def points(value: float) -> str:
    """An accuracy difference in percentage points, signed: "-2.11"."""
    return "" if pd.isna(value) else f"{100 * value:+.2f}"


def model_section(runs: list[StoredRun]) -> None:
    """The original study's table for one model: accuracy by pair x size, its drop vs clean, and a heatmap."""
    by_model = {run.model_id: run for run in runs}
    model = st.selectbox("Model", default_first(list(by_model)), key="robustness_model")
    table = metrics.resize_robustness_table(by_model[model].rows)
    st.markdown("**Accuracy %** (rows: down>up interpolation; columns: target size)")
    shown = display_table(table)
    styled = shown.style.format(percent, subset=list(shown.columns[1:]))
    st.dataframe(styled, hide_index=True, width="stretch", placeholder="")
    st.markdown("**Change vs clean** (accuracy difference in percentage points; negative = lost)")
    drop = display_table(metrics.robustness_drop(table))
    styled = drop.style.format(points, subset=list(drop.columns[1:]))
    st.dataframe(styled, hide_index=True, width="stretch", placeholder="")
    st.plotly_chart(figures.robustness_heatmap(table, title=f"{model}: accuracy by size and interpolation"))


def corruption_levels() -> pd.DataFrame:
    """What each corruption and severity is, from the grammar (so the page and the evaluation cannot disagree)."""
    return pd.DataFrame(
        [
            {"corruption": kind, "what": spec.title, **{f"severity {i}": spec.level_text(i) for i in (1, 2, 3)}}
            for kind, spec in CORRUPTIONS.items()
        ]
    )


def corruption_summary_section(runs: list[StoredRun]) -> None:
    st.subheader("Corruptions: summary")
    st.caption(
        "Clean accuracy, the mean accuracy over every corruption and severity, that mean relative to clean, the "
        "corruption that hurts most, and each corruption's mean over its three severities (best mean first)."
    )
    summary = metrics.corruption_summary(runs)
    scores = [c for c in summary.columns if c not in ("model", "worst", "relative")]
    styled = summary.style.format({**{c: percent for c in scores}, "relative": "{:.1%}"}, na_rep="")
    st.dataframe(styled, hide_index=True, width="stretch", height=35 * (len(summary) + 1) + 3)
    with st.expander("What each corruption and severity is"):
        st.dataframe(corruption_levels(), hide_index=True, width="stretch")


def corruption_curves_section(runs: list[StoredRun], colors: dict[str, str]) -> None:
    kinds = [kind for kind in CORRUPTIONS if any(f"{kind}:1" in run.conditions for run in runs)]
    left, right = st.columns([1, 2])
    kind = left.selectbox(
        "Corruption", kinds, format_func=lambda k: f"{k}: {CORRUPTIONS[k].title}", key="robustness_corruption"
    )
    right.caption(
        " - ".join(f"severity {i}: {CORRUPTIONS[kind].level_text(i)}" for i in (1, 2, 3)) + " (for a 48 px face)"
    )
    long = metrics.accuracy_vs_severity(runs, kind)
    highlight = default_runs(list(long["model"].unique()))
    st.plotly_chart(
        figures.accuracy_vs_severity_figure(long, CORRUPTIONS[kind].title, colors, highlight=highlight),
        key="accuracy_vs_severity",
    )


def corruption_model_section(runs: list[StoredRun]) -> None:
    by_model = {run.model_id: run for run in runs}
    model = st.selectbox("Model", default_first(list(by_model)), key="robustness_corruption_model")
    table = metrics.corruption_table(by_model[model].rows)
    shown = table.rename(columns=lambda c: c if isinstance(c, str) else f"severity {c}")
    shown.columns.name = None
    shown = shown.rename_axis("corruption").reset_index()
    st.dataframe(
        shown.style.format(percent, subset=list(shown.columns[1:])), hide_index=True, width="stretch", placeholder=""
    )


def curves_section(runs: list[StoredRun], colors: dict[str, str]) -> None:
    """Accuracy against target size for every model, one interpolation pair at a time."""
    long = metrics.accuracy_vs_size(runs)
    pairs = list(dict.fromkeys(long["pair"]))
    pair = st.selectbox("Interpolation pair (down>up)", pairs, key="robustness_pair")
    st.plotly_chart(figures.accuracy_vs_size_figure(long, pair, colors), key="accuracy_vs_size")


def resize_part(runs: list[StoredRun], colors: dict[str, str]) -> None:
    resized = [run for run in runs if has_resize_grid(run)]
    if not resized:
        st.info(
            "No run of this split has resize conditions; write them with `python -m fer_core evaluate --resize-grid`."
        )
        return
    st.subheader("Per model")
    model_section(resized)
    st.subheader("Across models")
    curves_section(resized, colors)


def corruption_part(runs: list[StoredRun], colors: dict[str, str]) -> None:
    corrupted = [run for run in runs if has_corruptions(run)]
    if not corrupted:
        st.info(
            "No run of this split has corruption conditions; add them with `python -m fer_core evaluate --corruptions` "
            "(the run's resize grid is kept)."
        )
        return
    corruption_summary_section(corrupted)
    st.subheader("Accuracy vs severity")
    corruption_curves_section(corrupted, colors)
    st.subheader("Per model")
    corruption_model_section(corrupted)
    missing = [run.model_id for run in runs if not has_corruptions(run)]
    if missing:
        st.caption(f"No corruption run yet: {literal(', '.join(missing))}")


def main() -> None:
    all_runs, runs = open_dashboard("Robustness", key="robustness_dataset")
    if not all_runs:
        return
    colors = all_model_colors(all_runs)
    runs = every_condition(runs)
    resize_tab, corruption_tab = st.tabs(["Resize", "Corruptions"])
    with resize_tab:
        st.caption(
            "Each test face is shrunk to the target size with the first interpolation and enlarged back to the "
            "model's input size with the second, as in the low-resolution study this project grew from."
        )
        resize_part(runs, colors)
    with corruption_tab:
        st.caption(
            "Webcam-like corruptions at three severities, applied to each test face at the dataset's resolution "
            "before the model's own resize: blur, motion blur, sensor noise, JPEG, under- and over-exposure, low "
            "contrast, and a grey band over the eyes or the mouth; and face boxes placed as another detector "
            "places them: tighter, looser (mirrored margin) or shifted."
        )
        corruption_part(runs, colors)


main()
