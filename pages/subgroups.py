"""Subgroups: how a model does per metadata group (age group by default), with bootstrap intervals.

Every number is computed by ``fer_core.evaluation.metrics`` from the stored run's rows. Rows without a value form the
``unknown`` group and ``unclear`` stays a group of its own: nothing is dropped silently.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fer_app.dashboard_data import (
    N_BOOT,
    SEED,
    all_model_colors,
    default_first,
    default_runs,
    grid_columns,
    open_dashboard,
    rows_of_condition,
)
from fer_app.plain_text import literal
from fer_app.routing import enter_through_navigation
from fer_core.evaluation import metrics
from fer_core.store.runs import StoredRun
from fer_core.viz import figures

enter_through_navigation()

DEFAULT_COLUMN = "age_group"
# The README's convention (scripts/readme_tables.py): adult minus child, 1000 resamples, seed 0, so the page and
# the README show the same numbers.
DEFAULT_GAP = ("adult", "child")
GROUP_NOTE = (
    f"`{metrics.UNKNOWN_GROUP}`: the sample has no value in this column; `unclear`: annotators could not tell. "
    "Both are shown as groups of their own."
)


def choose_run_and_rows(runs: list[StoredRun]) -> tuple[StoredRun, str, pd.DataFrame] | None:
    """Model, metadata column and condition widgets; the chosen run, column and rows (None: nothing to split)."""
    by_model = {run.model_id: run for run in runs}
    run = by_model[st.selectbox("Model", default_first(list(by_model)), key="subgroups_model")]
    columns = metrics.metadata_columns(run.rows)
    if not columns:
        run_name = literal(f"{run.dataset} {run.split}")
        st.info(f"The {run_name} run of {literal(run.model_id)} carries no metadata columns to group by.")
        return None
    left, right = st.columns(2)
    default = columns.index(DEFAULT_COLUMN) if DEFAULT_COLUMN in columns else 0
    column = left.selectbox("Metadata column", columns, index=default, key="subgroups_column")
    condition = right.selectbox("Condition", run.conditions, key="subgroups_condition")
    rows = rows_of_condition(run, condition)
    return None if rows is None else (run, column, rows)


def percent(value: float) -> str:
    """A share as the README writes it: "66.71%" (blank where the group has no value)."""
    return "" if pd.isna(value) else f"{100 * value:.2f}%"


def table_column_config(table: pd.DataFrame) -> dict:
    """Short headers for the per-class recall columns ("recall angry" -> "angry"), so 11 columns fit at 1280 px."""
    config = {"group": st.column_config.TextColumn("group", width="small"), "n": st.column_config.NumberColumn("n")}
    for column in table.columns:
        if column.startswith("recall "):
            name = column.removeprefix("recall ")
            config[column] = st.column_config.Column(name, help=f"recall of {name}", width="small")
    return config


def table_section(rows: pd.DataFrame, column: str, labels: tuple[str, ...]) -> None:
    st.subheader(f"Per {literal(column)}")
    st.caption(f"Accuracy, macro-F1 and recall per class, in %. {GROUP_NOTE}")
    table = metrics.subgroup_table(rows, column, labels).reset_index()
    shares = [c for c in table.columns if c not in ("group", "n")]
    st.dataframe(
        table.style.format(percent, subset=shares),
        hide_index=True,
        width="stretch",
        column_config=table_column_config(table),
        placeholder="",  # a class absent from a small group has no recall: blank, not "None"
    )
    ci = metrics.subgroup_accuracy_ci(rows, column, n_boot=N_BOOT, seed=SEED)
    title = f"Accuracy per {figures.safe(column)}"
    st.plotly_chart(figures.subgroup_bars_figure(ci, title=title), key="subgroup_bars")


def _default_pair(groups: list[str]) -> tuple[int, int]:
    if all(g in groups for g in DEFAULT_GAP):
        return groups.index(DEFAULT_GAP[0]), groups.index(DEFAULT_GAP[1])
    return 0, 1


def gap_section(rows: pd.DataFrame, column: str) -> tuple[str, str] | None:
    """Accuracy difference between two groups (adults minus kids by default) with its bootstrap 95% interval;
    returns the two groups chosen (None when there are fewer than two)."""
    st.subheader("Accuracy gap")
    groups = list(metrics.subgroup_table(rows, column).index)
    if len(groups) < 2:
        st.info(f"Only one {literal(column)} group in these rows; a gap needs two.")
        return None
    first, second = _default_pair(groups)
    left, right = st.columns(2)
    group_a = left.selectbox("Group A", groups, index=first, key="gap_group_a")
    group_b = right.selectbox("Group B", groups, index=second, key="gap_group_b")
    gap, lo, hi = metrics.subgroup_gap_ci(rows, column, group_a, group_b, n_boot=N_BOOT, seed=SEED)
    st.metric(f"Accuracy of {literal(group_a)} minus {literal(group_b)}", gap_text(gap))
    st.caption(
        f"95% bootstrap CI {lo * 100:.2f} to {hi * 100:.2f} points ({N_BOOT} resamples within each group, "
        f"seed {SEED}). An interval that contains 0 means the difference may be chance."
    )
    return group_a, group_b


def every_model_gap_section(runs: list[StoredRun], column: str, groups: tuple[str, str], colors: dict) -> None:
    """The same gap for every model of the split, with its interval, largest first: is a gap one model's or all's?"""
    group_a, group_b = groups
    st.subheader("The gap across models")
    gaps = metrics.subgroup_gaps(runs, column, group_a, group_b, n_boot=N_BOOT, seed=SEED)
    if gaps.empty:
        st.caption(f"No run of this split has both groups in {literal(column)}.")
        return
    shown = gaps.sort_values("gap", ascending=False, ignore_index=True)
    for name in ("gap", "lo", "hi"):
        shown[name] = 100 * shown[name]
    axis = f"accuracy of {figures.safe(group_a)} minus {figures.safe(group_b)}, points (95% bootstrap CI)"
    figure = figures.interval_figure(
        shown, value="gap", axis_title=axis, colors=colors, highlight=default_runs(list(shown["model"]))
    )
    st.plotly_chart(figure, key="every_model_gap")
    above = int((shown["lo"] > 0).sum())
    below = int((shown["hi"] < 0).sum())
    st.caption(
        f"Clean condition. {above} of {len(shown)} models are reliably better on {literal(group_a)} (interval above "
        f"0), {below} reliably better on {literal(group_b)}; the default model is in bold."
    )


def gap_text(gap: float) -> str:
    """An accuracy difference in percentage points, signed: "-2.11 points"."""
    return "-" if pd.isna(gap) else f"{gap * 100:+.2f} points"


def confusion_section(rows: pd.DataFrame, column: str, labels: tuple[str, ...]) -> None:
    st.subheader(f"Confusion matrices per {literal(column)}")
    normalized = st.toggle("Row-normalised", value=True, key="subgroup_confusion_normalized")
    matrices = metrics.per_group_confusion(rows, column, labels, normalize=normalized)
    counts = metrics.group_values(rows, column).value_counts()
    for slot, (group, cm) in zip(grid_columns(len(matrices)), matrices.items(), strict=True):
        title = f"{group} (n={counts[group]})"
        slot.plotly_chart(figures.confusion_figure(cm, normalized=normalized, title=title), key=f"cm_{group}")


def main() -> None:
    all_runs, runs = open_dashboard("Subgroups", key="subgroups_dataset")
    if not all_runs:
        return
    chosen = choose_run_and_rows(runs)
    if chosen is None:
        return
    run, column, rows = chosen
    table_section(rows, column, run.labels)
    groups = gap_section(rows, column)
    if groups is not None:
        every_model_gap_section(runs, column, groups, all_model_colors(all_runs))
    confusion_section(rows, column, run.labels)


main()
