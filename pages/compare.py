"""Model comparison: leaderboard with 95 % bootstrap intervals, accuracy vs latency and compute, two models compared
on the same faces (paired bootstrap, McNemar, agreement), confusion matrices, per-class P/R/F1, reliability diagrams,
learning curves, and every model on every dataset it was evaluated on.

Every number is computed by ``fer_core.evaluation.metrics`` from the stored runs when the page loads.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fer_app.dashboard_data import (
    N_BOOT,
    SEED,
    all_model_colors,
    cached_intervals,
    default_first,
    default_runs,
    folded_scoring_notes,
    grid_columns,
    load_histories,
    open_dashboard,
)
from fer_app.plain_text import literal
from fer_app.routing import enter_through_navigation
from fer_core.evaluation import metrics
from fer_core.store.model_dir import PEER_FAMILY
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
    "accuracy CI": "acc. 95% CI",
    "balanced accuracy": "balanced acc.",
    "macro-F1": "macro-F1",
    "macro-F1 CI": "F1 95% CI",
    "ECE": "ECE",
    "params": "params",
    "weights MB": "MB",
    "CPU latency ms": "CPU ms/face",
    "backend": "timed on",
    "MFLOPs": "MFLOPs",
    "train CPU-h": "train CPU-h",
    "selection split": "selected on",
}
ROW_PX = 35  # st.dataframe's row height: the board is sized to show every row without an inner scroll bar


def interval_text(lo: float, hi: float) -> str:
    return "" if pd.isna(lo) or pd.isna(hi) else f"{100 * lo:.1f}-{100 * hi:.1f}"


def board_with_intervals(board: pd.DataFrame, runs: list[StoredRun]) -> pd.DataFrame:
    """The leaderboard plus its interval columns and how each latency was measured (backend and CPU; a TTA row's
    latency is its own timing, or none)."""
    intervals = cached_intervals(runs).reindex(board["model"])
    board = board.copy()
    for name in ("accuracy", "macro-F1"):
        lo, hi = intervals[f"{name} lo"].to_numpy(), intervals[f"{name} hi"].to_numpy()
        board[f"{name} CI"] = [interval_text(a, b) for a, b in zip(lo, hi, strict=True)]
    by_model = {run.model_id: run for run in runs}
    board["backend"] = [by_model[model].card.timed_on(by_model[model].info.tta) for model in board["model"]]
    return board


def filter_board(board: pd.DataFrame, runs: list[StoredRun]) -> pd.DataFrame:
    """Rows of the chosen architectures and heads (all by default)."""
    architectures = {run.model_id: run.card.architecture or "unknown" for run in runs}
    left, right = st.columns([3, 1])
    kinds = sorted(set(architectures.values()))
    chosen = left.multiselect(
        "Architectures", kinds, default=[], key="board_architectures", placeholder="all architectures"
    )
    plain_only = right.toggle("Hide TTA rows", value=False, key="board_hide_tta")
    keep = board["model"].map(architectures).isin(chosen or kinds)
    if plain_only:
        keep &= ~board["model"].str.contains(" +", regex=False)
    return board[keep].reset_index(drop=True)


def leaderboard_section(board: pd.DataFrame, runs: list[StoredRun]) -> pd.DataFrame:
    st.subheader("Leaderboard")
    st.caption(
        f"Clean condition only. 95% CI: percentile bootstrap over the test faces ({N_BOOT} resamples, seed {SEED}); "
        "rows whose intervals overlap may not differ - compare them below. ECE: expected calibration error over "
        f"{metrics.ECE_BINS} equal-width confidence bins. Latency: CPU, 1 thread, batch 1, from the model card "
        "(`python -m fer_core bench`), with the backend and the CPU it was timed on (latencies from different "
        "CPUs do not compare)."
    )
    board = filter_board(board_with_intervals(board, runs), runs)
    st.dataframe(
        styled_leaderboard(board),
        hide_index=True,
        width="stretch",
        height=ROW_PX * (len(board) + 1) + 3,
        column_order=[column for column in LEADERBOARD_COLUMNS if column in board.columns],
        column_config={
            column: st.column_config.Column(label, width="medium" if column == "model" else "small")
            for column, label in LEADERBOARD_COLUMNS.items()
        },
        placeholder="",  # a card without a latency: blank, not "None"
    )
    st.download_button(
        "Download the leaderboard (CSV)",
        board.to_csv(index=False).encode(),
        file_name=f"leaderboard-{runs[0].dataset}-{runs[0].split}.csv",
        mime="text/csv",
        icon=":material/download:",
    )
    st.caption(literal(metrics.budget_note(board)))
    peers = sorted({run.model_id for run in runs if run.card.family == PEER_FAMILY})
    if peers:
        st.caption(
            f"{literal(', '.join(peers))}: another package's model, scored by the same code on the same faces "
            "(`python scripts/compare_peers.py --store`); its rows are references, not a model shipped here."
        )
    return board


def inspected_models(board: pd.DataFrame, dataset: tuple[str, str]) -> list[str]:
    """The "Models to inspect" picker, remembering each dataset's choice when another dataset is shown meanwhile.

    Streamlit forgets a widget's value when its options change, so the choice is also kept per dataset outside
    the widget and offered back as its default.
    """
    memory = st.session_state.setdefault(INSPECTED_MEMORY_KEY, {})
    options = default_first(list(board["model"]))
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
    notes = folded_scoring_notes(all_runs)
    if notes:
        st.caption(f"Not scored on every class or image: {notes}")


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
    labelled = default_runs(list(board["model"]))
    for cost, key in (("CPU latency ms", "latency"), ("MFLOPs", "compute")):
        figure = figures.accuracy_latency_figure(board, colors, cost=cost, labelled=labelled)
        st.plotly_chart(figure, key=f"accuracy_{key}")
        missing = board.loc[board[cost].isna() | board["params"].isna(), "model"].tolist()
        if missing:
            st.caption(f"Not plotted (no {cost} or parameter count in the card): {literal(', '.join(missing))}")


def reliability_section(chosen: list[StoredRun], colors: dict[str, str]) -> None:
    st.subheader("Calibration")
    tables = {run.model_id: metrics.reliability_table(metrics.condition_rows(run.rows)) for run in chosen}
    left, right = st.columns([2, 1])
    left.plotly_chart(figures.reliability_figure(tables, colors), key="reliability")
    eces = pd.DataFrame(
        {
            "model": list(tables),
            "ECE": [metrics.expected_calibration_error(metrics.condition_rows(r.rows)) for r in chosen],
        }
    )
    right.dataframe(eces.style.format({"ECE": "{:.3f}"}), hide_index=True, width="stretch")
    right.caption(
        "Points below the diagonal: the model is more confident than it is right (over-confident). ECE is the "
        "sample-weighted mean distance of the points from the diagonal."
    )


def percent_points(value: float) -> str:
    return "" if pd.isna(value) else f"{100 * value:+.2f}"


def two_models_section(runs: list[StoredRun], colors: dict[str, str]) -> None:
    """Model A against model B on the same faces: paired bootstrap interval of the difference, McNemar, per class."""
    st.subheader("Compare two models")
    options = default_first([run.model_id for run in runs])
    if len(options) < 2:
        st.caption("One model on this split: nothing to compare it with.")
        return
    left, right = st.columns(2)
    model_a = left.selectbox("Model A", options, index=0, key="pair_a")
    model_b = right.selectbox("Model B", [m for m in options if m != model_a], index=0, key="pair_b")
    by_model = {run.model_id: run for run in runs}
    try:
        paired = metrics.paired_rows(by_model[model_a].rows, by_model[model_b].rows)
    except ValueError as error:
        st.warning(literal(error), icon=":material/warning:")
        return
    diff = metrics.paired_difference(paired, n_boot=N_BOOT, seed=SEED)
    labels = by_model[model_a].labels
    f1, f1_lo, f1_hi = metrics.paired_macro_f1_difference(paired, labels, n_boot=N_BOOT, seed=SEED)
    cells = st.columns(4)
    cells[0].metric("Accuracy A - B", f"{percent_points(diff['difference'])} points")
    cells[0].caption(f"95% CI {percent_points(diff['lo'])} to {percent_points(diff['hi'])}")
    cells[1].metric("Macro-F1 A - B", f"{percent_points(f1)} points")
    cells[1].caption(f"95% CI {percent_points(f1_lo)} to {percent_points(f1_hi)}")
    cells[2].metric("McNemar p", f"{diff['p']:.3g}")
    cells[2].caption(f"only A right on {diff['only a right']:,} faces, only B on {diff['only b right']:,}")
    cells[3].metric("Agreement", f"{diff['agreement']:.1%}")
    cells[3].caption(f"same prediction on {diff['n']:,} paired faces")
    st.caption(
        f"Paired bootstrap: the same resampled faces score both models ({N_BOOT} resamples, seed {SEED}). "
        "McNemar's exact test asks whether the faces only one model gets right split evenly; p < 0.05 and an "
        "interval that excludes 0 say the difference is unlikely to be chance."
    )
    per_class = metrics.paired_per_class(paired, labels, n_boot=N_BOOT, seed=SEED)
    shown = per_class.reset_index().rename(columns={"class": "model"})
    for column in ("difference", "lo", "hi"):
        shown[column] = 100 * shown[column]
    st.plotly_chart(
        figures.interval_figure(
            shown,
            value="difference",
            axis_title="recall of A minus recall of B, points (95% paired bootstrap CI)",
            title="Per class",
        ),
        key="pair_per_class",
    )
    table = per_class.style.format(
        {
            "recall a": "{:.2%}",
            "recall b": "{:.2%}",
            "difference": percent_points,
            "lo": percent_points,
            "hi": percent_points,
            "p": "{:.3g}",
        },
        na_rep="",
    )
    st.dataframe(table, width="stretch")


def main() -> None:
    all_runs, runs = open_dashboard("Model comparison", key="compare_dataset")
    if not all_runs:
        return
    colors = all_model_colors(all_runs)
    board = leaderboard_section(metrics.leaderboard(runs), runs)
    latency_section(board, colors)
    two_models_section(runs, colors)
    by_model = {run.model_id: run for run in runs}
    chosen_ids = inspected_models(board, (runs[0].dataset, runs[0].split))
    if not chosen_ids:
        st.caption("Choose models to see their confusion matrices, per-class scores and learning curves.")
    else:
        chosen = [by_model[model] for model in chosen_ids]
        confusion_section(chosen)
        per_class_section(chosen)
        reliability_section(chosen, colors)
        learning_curves_section(chosen, colors)
    cross_dataset_section(all_runs)


main()
