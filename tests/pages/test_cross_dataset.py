"""Runs on datasets beyond FER2013 / FER+ on the dashboard: the cross-dataset table, the picker and the notes on
what a run did not score, under streamlit's AppTest on synthetic run fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from run_fixtures import synthetic_rows, write_model_dir, write_run_files
from streamlit.testing.v1 import AppTest

from fer_app.dashboard_data import scoring_note
from fer_core.evaluation import metrics
from fer_core.labels import FER2013, FERPLUS, SharedClasses
from fer_core.store.runs import RunInfo, StoredRun, scan_runs

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30
CONTEMPT_DROPPED = {"class contempt not in fer2013": 12}

# model -> (labels, training dataset)
MODELS = {"alpha_cnn": (FER2013, "fer2013"), "beta_vit": (FER2013, "fer2013"), "gamma_ferplus": (FERPLUS, "ferplus")}
# (model, dataset, classes of the run, seed, extra sidecar keys): alpha (FER2013-7) lost AffectNet's contempt images,
# gamma (FER+-8) was restricted to RAF-DB's 7 classes.
RUNS = [
    ("alpha_cnn", "fer2013", FER2013, 1, {}),
    ("alpha_cnn", "rafdb", FER2013, 2, {}),
    (
        "alpha_cnn",
        "affectnet",
        FER2013,
        3,
        {"scoring": SharedClasses(FERPLUS, FER2013).to_dict({"contempt": 12}), "dropped": CONTEMPT_DROPPED},
    ),
    ("beta_vit", "fer2013", FER2013, 4, {}),
    ("gamma_ferplus", "ferplus", FERPLUS, 5, {}),
    ("gamma_ferplus", "affectnet", FERPLUS, 6, {}),
    ("gamma_ferplus", "rafdb", FER2013, 7, {"scoring": SharedClasses(FER2013, FERPLUS).to_dict()}),
]


def rows_of(model_id: str, dataset: str) -> pd.DataFrame:
    """The clean and resized rows written for one fixture run (test split)."""
    _, _, classes, seed, _ = next(run for run in RUNS if run[:2] == (model_id, dataset))
    return synthetic_rows(classes.names, n=60 + 10 * seed, seed=seed)


@pytest.fixture
def checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "checkpoints"
    for model_id, (labels, trained_on) in MODELS.items():
        model_dir = write_model_dir(root, model_id, {}, labels=labels.names, label_set=labels.name)
        card = json.loads((model_dir / "card.json").read_text())
        card["training"]["dataset"] = trained_on
        (model_dir / "card.json").write_text(json.dumps(card))
    for model_id, dataset, classes, _, info in RUNS:
        write_run_files(
            root / model_id,
            rows_of(model_id, dataset),
            dataset=dataset,
            split="test",
            labels=classes.names,
            label_set=classes.name,
            info=info,
        )
    monkeypatch.setenv("FER_CHECKPOINTS_DIR", str(root))
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    return root


def run_page(name: str) -> AppTest:
    app = AppTest.from_file(str(REPO_ROOT / "pages" / f"{name}.py"), default_timeout=TIMEOUT_S).run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def cross_dataset_frame(app: AppTest) -> pd.DataFrame:
    frames = [df.value for df in app.dataframe if "trained on" in map(str, df.value.columns)]
    assert len(frames) == 1, [list(df.value.columns) for df in app.dataframe]
    return frames[0]


def test_cross_dataset_table_is_every_model_on_every_dataset(checkpoints: Path) -> None:
    table = cross_dataset_frame(run_page("compare"))
    assert list(table.index) == ["alpha_cnn", "beta_vit", "gamma_ferplus"]
    assert table["trained on"].tolist() == ["fer2013", "fer2013", "ferplus"]
    datasets = [column.removesuffix(" accuracy") for column in table.columns if column.endswith(" accuracy")]
    assert datasets == ["affectnet test", "fer2013 test", "ferplus test", "rafdb test"]
    for model_id, dataset, *_ in RUNS:
        clean = metrics.condition_rows(rows_of(model_id, dataset))
        assert table.loc[model_id, f"{dataset} test accuracy"] == pytest.approx(metrics.accuracy(clean))
        assert table.loc[model_id, f"{dataset} test macro-F1"] == pytest.approx(metrics.macro_f1(clean))
    assert np.isnan(table.loc["beta_vit", "rafdb test accuracy"])  # no run: blank, not zero


def test_cross_dataset_table_equals_the_metric_on_the_stored_runs(checkpoints: Path) -> None:
    shown = cross_dataset_frame(run_page("compare"))
    expected = metrics.cross_dataset_table(scan_runs(checkpoints).runs)
    pd.testing.assert_frame_equal(shown, expected, check_names=False, check_dtype=False)


def test_the_page_says_what_each_run_left_out(checkpoints: Path) -> None:
    app = run_page("compare")
    captions = " ".join(caption.value for caption in app.caption)
    assert (
        "` affectnet test `, ` alpha_cnn `: scored on 7 of the dataset's 8 classes (12 ` contempt ` images dropped)."
        in (captions)
    )
    assert "` rafdb test `, ` gamma_ferplus `: predictions restricted to the dataset's 7 classes" in captions


@pytest.mark.parametrize(("page", "key"), [("compare", "compare_dataset"), ("subgroups", "subgroups_dataset")])
def test_picking_a_dataset_shows_its_runs_and_their_notes(checkpoints: Path, page: str, key: str) -> None:
    app = run_page(page)
    picker = app.selectbox(key=key)
    assert picker.options[0] == "affectnet test (2 models)"  # most models first, then by name
    assert "ferplus test (1 model)" in picker.options
    picker.set_value(("rafdb", "test")).run()
    assert not app.exception
    notes = " ".join(caption.value for caption in app.caption if "Not scored:" in caption.value)
    assert (
        "Not scored: ` rafdb test `, ` gamma_ferplus `: predictions restricted to the dataset's 7 classes (` contempt `"
        in notes
    )
    assert "alpha_cnn" not in notes  # scored on every class and image


def test_leaderboard_of_a_new_dataset(checkpoints: Path) -> None:
    app = run_page("compare")
    app.selectbox(key="compare_dataset").set_value(("affectnet", "test")).run()
    board = next(df.value for df in app.dataframe if "ECE" in df.value.columns).set_index("model")
    assert sorted(board.index) == ["alpha_cnn", "gamma_ferplus"]
    clean = metrics.condition_rows(rows_of("alpha_cnn", "affectnet"))
    assert board.loc["alpha_cnn", "accuracy"] == pytest.approx(metrics.accuracy(clean))
    assert any("12 ` contempt ` images dropped" in caption.value for caption in app.caption)


@pytest.mark.parametrize("scoring", ["contempt", ["contempt"], {"images_dropped": [1], "predictions_removed": "x"}])
def test_malformed_scoring_fields_do_not_break_the_page(checkpoints: Path, scoring: object) -> None:
    sidecar = checkpoints / "alpha_cnn" / "runs" / "affectnet-test.json"
    info = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**info, "scoring": scoring, "dropped": "lots"}))
    app = run_page("compare")
    assert not any("alpha_cnn on affectnet" in caption.value for caption in app.caption)
    assert "alpha_cnn" in cross_dataset_frame(app).index


def test_ids_and_reasons_from_a_sidecar_are_shown_as_text() -> None:
    """A run written by anyone: Markdown in its model id, dataset id or drop reason must not render (or fetch)."""
    run = StoredRun(
        model_id="![x](http://host/p.png)",
        dataset="**bold**",
        split="test",
        path=Path("runs/x.parquet"),
        info=RunInfo("![x](http://host/p.png)", "**bold**", "test", ("a", "b"), dropped={":material/home: $x$": 3}),
        rows=pd.DataFrame(),
    )
    note = scoring_note(run)
    assert note == "` ![x](http://host/p.png) ` on ` **bold** test `: 3 images dropped (` :material/home: $x$ `)."
