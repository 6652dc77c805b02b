"""Model comparison: leaderboard, confusion matrices, per-class P/R/F1, learning curves, accuracy vs latency, and
every model on every dataset it was evaluated on.

Every number is computed by ``fer_core.evaluation.metrics`` from the stored runs when the page loads.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fer_app.dashboard_data import (
    grid_columns,
    load_histories,
    runs_or_guidance,
    scoring_note,
    select_dataset_runs,
)
from fer_app.plain_text import literal
from fer_app.routing import enter_through_navigation
from fer_core.evaluation import metrics
from fer_core.store.runs import StoredRun
from fer_core.viz import figures

enter_through_navigation()

HIGHER_IS_BETTER = ("accuracy", "balanced accuracy", "macro-F1")
LOWER_IS_BETTER = ("ECE", "params", "weights MB", "CPU latency ms", "MFLOPs", "train CPU-h")
BEST_CELL = "font-weight: bold; background-color: rgba(44, 160, 44, 0.25)"
MAX_SIDE_BY_SIDE = 4
INSPECTED_MEMORY_KEY = "compare_inspected_by_dataset"
LEADERBOARD_FORMATS = {
    **{column: "{:.2%}" for column in HIGHER_IS_BETTER},
    "ECE": "{:.3f}",
    "params": "{:,.0f}",
    "weights MB": "{:.2f}",
    "CPU latency ms": "{:.2f}",
    "MFLOPs": "{:.1f}",
    "train CPU-h": "{:.2f}",
    "images seen (M)": "{:.2f}",
}


def styled_leaderboard(board: pd.DataFrame):
    """The leaderboard with the best value of every metric column highlighted (values stay numbers: sortable)."""
    return (
        board.style.highlight_max(subset=list(HIGHER_IS_BETTER), props=BEST_CELL)
        .highlight_min(subset=list(LOWER_IS_BETTER), props=BEST_CELL)
        .format(LEADERBOARD_FORMATS, na_rep="")
        .format(na_rep="", subset=[column for column in board.columns if column not in LEADERBOARD_FORMATS])
    )


# Short headers, and no dataset/split columns (the selector above names them), so the board fits at 1280 px.
LEADERBOARD_COLUMNS = {
    "model": "model",
    "n": "n",
    "accuracy": "accuracy",
    "balanced accuracy": "balanced acc.",
    "macro-F1": "macro-F1",
    "ECE": "ECE",
    "params": "params",
    "weights MB": "MB",
    "CPU latency ms": "CPU ms/face",
    "MFLOPs": "MFLOPs",
    "train CPU-h": "train CPU-h",
    "images seen (M)": "images seen (M)",
    "selection split": "selected on",
}


def leaderboard_section(board: pd.DataFrame) -> None:
    st.subheader("Leaderboard")
    st.caption(
        "Clean condition only. ECE: expected calibration error over "
        f"{metrics.ECE_BINS} equal-width confidence bins. Latency: CPU, 1 thread, batch 1, from the model card."
    )
    st.dataframe(
        styled_leaderboard(board),
        hide_index=True,
        width="stretch",
        column_order=[column for column in LEADERBOARD_COLUMNS if column in board.columns],
        column_config={column: st.column_config.Column(label) for column, label in LEADERBOARD_COLUMNS.items()},
        placeholder="",  # a card without a latency: blank, not "None"
    )
    st.caption(literal(metrics.budget_note(board)))


def inspected_models(board: pd.DataFrame, dataset: tuple[str, str]) -> list[str]:
    """The "Models to inspect" picker, remembering each dataset's choice when another dataset is shown meanwhile.

    Streamlit forgets a widget's value when its options change, so the choice is also kept per dataset outside
    the widget and offered back as its default.
    """
    memory = st.session_state.setdefault(INSPECTED_MEMORY_KEY, {})
    options = list(board["model"])
    remembered = [model for model in memory.get(dataset, options[:2]) if model in options]
    chosen = st.multiselect(
        "Models to inspect",
        options,
        default=remembered,
        max_selections=MAX_SIDE_BY_SIDE,
        key=f"compare_models_{dataset[0]}_{dataset[1]}",
    )
    memory[dataset] = list(chosen)
    return chosen


def styled_cross_dataset(table: pd.DataFrame):
    """The cross-dataset table with each column's best model highlighted (values stay numbers: sortable)."""
    scores = [column for column in table.columns if column != "trained on"]
    return table.style.highlight_max(subset=scores, props=BEST_CELL).format("{:.2%}", subset=scores, na_rep="")


def cross_dataset_section(all_runs: list[StoredRun]) -> None:
    """Every model on every dataset it has a run for: how far its accuracy carries beyond its training data."""
    st.subheader("Across datasets")
    table = metrics.cross_dataset_table(all_runs)
    st.caption(
        "Clean condition, every stored run: accuracy and macro-F1 per dataset split (blank: no run). Write a run "
        "on your own data with `python -m fer_core evaluate --dataset affectnet|rafdb|imagefolder --dataset-path "
        "<folder>`."
    )
    st.dataframe(styled_cross_dataset(table), width="stretch", placeholder="")
    notes = [note for note in map(scoring_note, all_runs) if note]
    if notes:
        st.caption("Not scored on every class or image: " + " ".join(notes))


def confusion_section(chosen: list[StoredRun]) -> None:
    st.subheader("Confusion matrices")
    normalized = st.toggle("Row-normalised (recall per true class)", value=True, key="confusion_normalized")
    for column, run in zip(grid_columns(len(chosen)), chosen, strict=True):
        clean = metrics.condition_rows(run.rows)
        cm = metrics.confusion_matrix(clean, run.labels, normalize=normalized)
        column.plotly_chart(
            figures.confusion_figure(cm, normalized=normalized, title=run.model_id), key=f"cm_{run.key}"
        )


def per_class_section(chosen: list[StoredRun]) -> None:
    st.subheader("Per-class precision, recall, F1")
    tables = {run.model_id: metrics.per_class_prf(metrics.condition_rows(run.rows), run.labels) for run in chosen}
    for column, (model, prf) in zip(grid_columns(len(tables)), tables.items(), strict=True):
        column.plotly_chart(figures.per_class_figure(prf, title=model), key=f"prf_{model}")
    f1 = pd.DataFrame({model: prf["f1"] for model, prf in tables.items()})
    f1.insert(0, "support", next(iter(tables.values()))["support"])
    st.caption("F1 per class and model (blank: class absent from the split and never predicted)")
    st.dataframe(f1.style.format(precision=3, na_rep=""), width="stretch", placeholder="")


def learning_curves_section(chosen: list[StoredRun], colors: dict[str, str]) -> None:
    histories, warnings = load_histories(chosen)
    for warning in warnings:
        st.warning(f"Skipped history: {literal(warning)}", icon=":material/warning:")
    if histories:
        st.plotly_chart(figures.learning_curves_figure(histories, colors), key="learning_curves")
    else:
        st.caption("No history.csv for the chosen models.")


def latency_section(board: pd.DataFrame, colors: dict[str, str]) -> None:
    for column, (cost, key) in zip(st.columns(2), (("CPU latency ms", "latency"), ("MFLOPs", "compute")), strict=True):
        with column:
            st.plotly_chart(figures.accuracy_latency_figure(board, colors, cost=cost), key=f"accuracy_{key}")
            missing = board.loc[board[cost].isna() | board["params"].isna(), "model"].tolist()
            if missing:
                st.caption(f"Not plotted (no {cost} or parameter count in the card): {literal(', '.join(missing))}")


def main() -> None:
    st.title("Model comparison")
    all_runs = runs_or_guidance()
    if not all_runs:
        return
    colors = figures.model_colors(sorted({run.model_id for run in all_runs}))
    runs = select_dataset_runs(all_runs, key="compare_dataset")
    board = metrics.leaderboard(runs)
    leaderboard_section(board)
    by_model = {run.model_id: run for run in runs}
    chosen_ids = inspected_models(board, (runs[0].dataset, runs[0].split))
    if not chosen_ids:
        st.caption("Choose models to see their confusion matrices, per-class scores and learning curves.")
    else:
        chosen = [by_model[model] for model in chosen_ids]
        confusion_section(chosen)
        per_class_section(chosen)
        learning_curves_section(chosen, colors)
    latency_section(board, colors)
    cross_dataset_section(all_runs)


main()
