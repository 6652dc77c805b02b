"""Error browser: the faces behind a confusion-matrix cell, and a model's most confident mistakes.

The rows (labels, predictions, probabilities) come from the stored run; the faces are read by ``sample_id`` from the
dataset when it is on this machine (``FER_DATA_DIR``). Without it the page still lists every row.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fer_app.dashboard_data import (
    data_root,
    default_first,
    open_dashboard,
)
from fer_app.plain_text import literal
from fer_app.routing import enter_through_navigation
from fer_core.evaluation import metrics
from fer_core.labels import prob_column
from fer_core.store.runs import StoredRun
from fer_core.store.sample_files import read_face, sample_image_path
from fer_core.viz import figures

enter_through_navigation()

PER_ROW = 8
MAX_FACES = 48


def largest_error_cell(cm: pd.DataFrame) -> tuple[int, int]:
    """(true, predicted) ids of the off-diagonal cell with the most faces: where the page opens."""
    counts = cm.to_numpy().copy()
    counts[range(len(counts)), range(len(counts))] = -1
    true_id, pred_id = divmod(int(counts.argmax()), counts.shape[1])
    return true_id, pred_id


def choose_cell(run: StoredRun, cm: pd.DataFrame) -> tuple[int, int]:
    labels = list(run.labels)
    true_default, pred_default = largest_error_cell(cm)
    left, right = st.columns(2)
    true_name = left.selectbox("True class", labels, index=true_default, key=f"errors_true_{run.key}")
    pred_name = right.selectbox("Predicted as", labels, index=pred_default, key=f"errors_pred_{run.key}")
    return labels.index(true_name), labels.index(pred_name)


def face_caption(row: pd.Series, labels: tuple[str, ...]) -> str:
    """Probability of the predicted class and of the true one (as a literal: Streamlit renders captions as Markdown)."""
    predicted, true = labels[int(row["pred"])], labels[int(row["label"])]
    return literal(f"{predicted} {row[prob_column(predicted)]:.2f} · {true} {row[prob_column(true)]:.2f}")


def show_faces(rows: pd.DataFrame, labels: tuple[str, ...], key: str) -> None:
    """Thumbnails of the rows' faces, ``PER_ROW`` to a line, with their probabilities; a table when no face is found."""
    root = data_root()
    shown = rows.head(MAX_FACES)
    paths = [sample_image_path(root, sample_id) for sample_id in shown["sample_id"]]
    if not any(paths):
        st.info(
            f"The faces are not on this machine: no image for these sample ids under {literal(root)}. Set "
            "`FER_DATA_DIR` to the folder holding `fer2013/` and `ferplus/` (as the evaluation read them) to see "
            "them; the rows below come from the stored run alone.",
            icon=":material/image_not_supported:",
        )
    else:
        slots = [slot for _ in range(0, len(shown), PER_ROW) for slot in st.columns(PER_ROW)]
        for slot, path, (_, row) in zip(slots, paths, shown.iterrows(), strict=False):
            face = read_face(path) if path is not None else None
            if face is None:
                slot.caption(f"no image: {literal(row['sample_id'])}")
            else:
                slot.image(face, caption=face_caption(row, labels), width="stretch", clamp=True)
    if len(rows) > MAX_FACES:
        st.caption(f"The {MAX_FACES} most confident of {len(rows):,} faces; the table lists them all.")
    table = rows[["sample_id", "confidence"]].assign(
        true=[labels[i] for i in rows["label"]], predicted=[labels[i] for i in rows["pred"]]
    )
    st.dataframe(table.style.format({"confidence": "{:.3f}"}), hide_index=True, width="stretch", key=key)


def cell_section(run: StoredRun) -> None:
    st.subheader("Faces in a confusion-matrix cell")
    clean = metrics.condition_rows(run.rows)
    cm = metrics.confusion_matrix(clean, run.labels)
    left, right = st.columns([2, 3])
    left.plotly_chart(figures.confusion_figure(cm, title=f"{run.model_id} (counts)"), key="errors_cm")
    with right:
        true_id, pred_id = choose_cell(run, cm)
        cell = metrics.error_cell(run.rows, true_id, pred_id)
        st.caption(
            f"{len(cell):,} {literal(run.labels[true_id])} faces predicted as {literal(run.labels[pred_id])}, most "
            "confident first. Each face: the predicted class's probability, then the true class's."
        )
    if cell.empty:
        st.caption("No face in this cell.")
        return
    show_faces(cell, run.labels, key="errors_cell_table")


def mistakes_section(run: StoredRun) -> None:
    st.subheader("Most confident mistakes")
    st.caption("Wrong answers the model was surest of, across every cell: often label noise, sometimes a blind spot.")
    show_faces(metrics.confident_mistakes(run.rows, limit=MAX_FACES), run.labels, key="errors_mistakes_table")


def main() -> None:
    all_runs, runs = open_dashboard("Errors", key="errors_dataset")
    if not all_runs:
        return
    by_model = {run.model_id: run for run in runs}
    run = by_model[st.selectbox("Model", default_first(list(by_model)), key="errors_model")]
    cell_section(run)
    mistakes_section(run)


main()
