"""Resize robustness: how accuracy holds up when faces are shrunk and enlarged back before classification.

Every number is computed by ``fer_core.evaluation.metrics`` from the stored runs' ``resize:<px>:<down>><up>`` rows.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fer_app.dashboard_data import (
    runs_or_guidance,
    select_dataset_runs,
)
from fer_app.routing import enter_through_navigation
from fer_core.evaluation import metrics
from fer_core.store.runs import StoredRun
from fer_core.viz import figures

enter_through_navigation()


def has_resize_grid(run: StoredRun) -> bool:
    return any(metrics.parse_resize_condition(c) is not None for c in run.conditions)


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
    model = st.selectbox("Model", list(by_model), key="robustness_model")
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


def curves_section(runs: list[StoredRun], colors: dict[str, str]) -> None:
    """Accuracy against target size for every model, one interpolation pair at a time."""
    long = metrics.accuracy_vs_size(runs)
    pairs = list(dict.fromkeys(long["pair"]))
    pair = st.selectbox("Interpolation pair (down>up)", pairs, key="robustness_pair")
    st.plotly_chart(figures.accuracy_vs_size_figure(long, pair, colors), key="accuracy_vs_size")


def main() -> None:
    st.title("Resize robustness")
    st.caption(
        "Each test face is shrunk to the target size with the first interpolation and enlarged back to the model's "
        "input size with the second, as in the low-resolution study this project grew from."
    )
    all_runs = runs_or_guidance()
    if not all_runs:
        return
    colors = figures.model_colors(sorted({run.model_id for run in all_runs}))
    runs = [run for run in select_dataset_runs(all_runs, key="robustness_dataset") if has_resize_grid(run)]
    if not runs:
        st.info(
            "No run of this split has resize conditions; write them with `python -m fer_core evaluate --resize-grid`."
        )
        return
    st.subheader("Per model")
    model_section(runs)
    st.subheader("Across models")
    curves_section(runs, colors)


main()
