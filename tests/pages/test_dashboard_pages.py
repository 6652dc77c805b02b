"""The three dashboard pages under streamlit's AppTest, on synthetic model directories in tmp_path.

Each test checks that a number the page shows equals the one fer_core.evaluation.metrics computes from the fixture rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from run_fixtures import synthetic_rows, write_model_dir
from streamlit.testing.v1 import AppTest

from fer_core.evaluation import metrics
from fer_core.labels import FERPLUS

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES = ("compare", "robustness", "subgroups")
TIMEOUT_S = 30

# Two FER2013 models of different skill and one FER+ model, all with the resize grid and age groups.
FIXTURE_RUNS = {
    "alpha_cnn": {"seed": 1, "skill": 0.8, "params": 50_000, "latency_ms": 0.8},
    "beta_vit": {"seed": 2, "skill": 0.6, "params": 400_000, "latency_ms": 3.0},
}


@pytest.fixture
def checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "checkpoints"
    for model_id, spec in FIXTURE_RUNS.items():
        rows = synthetic_rows(n=120, seed=spec["seed"], skill=spec["skill"], truth_seed=0)
        write_model_dir(
            root, model_id, {("fer2013", "test"): rows}, params=spec["params"], latency_ms=spec["latency_ms"]
        )
    write_model_dir(
        root,
        "gamma_ferplus",
        {("ferplus", "test"): synthetic_rows(FERPLUS.names, n=80, seed=3)},
        labels=FERPLUS.names,
        label_set="ferplus",
    )
    monkeypatch.setenv("FER_CHECKPOINTS_DIR", str(root))
    monkeypatch.syspath_prepend(str(REPO_ROOT))  # pages import fer_app.dashboard_data, as under streamlit run
    return root


def fixture_rows(model_id: str) -> pd.DataFrame:
    spec = FIXTURE_RUNS[model_id]
    return synthetic_rows(n=120, seed=spec["seed"], skill=spec["skill"], truth_seed=0)


def run_page(name: str) -> AppTest:
    app = AppTest.from_file(str(REPO_ROOT / "pages" / f"{name}.py"), default_timeout=TIMEOUT_S).run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def frame_with(app: AppTest, *columns: str) -> pd.DataFrame:
    """The first table on the page that has all ``columns``."""
    frames = [df.value for df in app.dataframe]
    matches = [frame for frame in frames if set(columns) <= set(map(str, frame.columns))]
    assert matches, f"no table with columns {columns}; found {[list(f.columns) for f in frames]}"
    return matches[0]


def test_leaderboard_shows_the_metrics_of_the_rows(checkpoints: Path) -> None:
    app = run_page("compare")
    board = frame_with(app, "model", "accuracy", "macro-F1").set_index("model")
    assert list(board.index) == ["alpha_cnn", "beta_vit"]  # fer2013 test first, sorted by accuracy
    for model_id in FIXTURE_RUNS:
        clean = metrics.condition_rows(fixture_rows(model_id))
        assert board.loc[model_id, "accuracy"] == pytest.approx(metrics.accuracy(clean))
        assert board.loc[model_id, "macro-F1"] == pytest.approx(metrics.macro_f1(clean))
        assert board.loc[model_id, "ECE"] == pytest.approx(metrics.expected_calibration_error(clean), abs=1e-6)
        assert board.loc[model_id, "params"] == FIXTURE_RUNS[model_id]["params"]
    assert not app.warning


def test_compare_switches_dataset(checkpoints: Path) -> None:
    app = run_page("compare")
    app.selectbox(key="compare_dataset").set_value(("ferplus", "test")).run()
    assert not app.exception
    board = frame_with(app, "model", "accuracy", "macro-F1")
    assert list(board["model"]) == ["gamma_ferplus"]
    expected = metrics.accuracy(metrics.condition_rows(synthetic_rows(FERPLUS.names, n=80, seed=3)))
    assert board.loc[0, "accuracy"] == pytest.approx(expected)


def test_compare_remembers_the_models_to_inspect_per_dataset(checkpoints: Path) -> None:
    app = run_page("compare")
    assert app.multiselect(key="compare_models_fer2013_test").value == ["alpha_cnn", "beta_vit"]
    app.multiselect(key="compare_models_fer2013_test").set_value(["beta_vit"]).run()
    app.selectbox(key="compare_dataset").set_value(("ferplus", "test")).run()
    assert app.multiselect(key="compare_models_ferplus_test").value == ["gamma_ferplus"]
    app.selectbox(key="compare_dataset").set_value(("fer2013", "test")).run()
    assert not app.exception
    assert app.multiselect(key="compare_models_fer2013_test").value == ["beta_vit"]


def test_per_class_f1_table_matches(checkpoints: Path) -> None:
    app = run_page("compare")
    f1 = frame_with(app, "support", "beta_vit")
    expected = metrics.per_class_prf(metrics.condition_rows(fixture_rows("beta_vit")))
    np.testing.assert_allclose(f1["beta_vit"].to_numpy(float), expected["f1"].to_numpy(float))
    assert len(app.get("plotly_chart")) >= 6  # 2 confusion + 2 per-class + curves + scatter


@pytest.mark.parametrize("page", PAGES)
def test_empty_checkpoints_show_guidance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    monkeypatch.setenv("FER_CHECKPOINTS_DIR", str(tmp_path / "empty"))
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    app = run_page(page)
    assert any("No stored runs yet" in info.value for info in app.info)
    assert not app.dataframe


@pytest.mark.parametrize("page", PAGES)
def test_malformed_run_warns_and_the_others_render(checkpoints: Path, page: str) -> None:
    (checkpoints / "beta_vit" / "runs" / "fer2013-test.parquet").write_bytes(b"broken")
    app = run_page(page)
    assert any("fer2013-test.parquet" in w.value and "unreadable parquet" in w.value for w in app.warning)
    assert not any(str(checkpoints) in w.value for w in app.warning)  # paths shown relative to the root
    assert app.dataframe  # alpha_cnn still has its tables


def test_robustness_table_matches_the_metric(checkpoints: Path) -> None:
    app = run_page("robustness")
    table = frame_with(app, "pair", "clean", "32 px").set_index("pair")
    expected = metrics.resize_robustness_table(fixture_rows("alpha_cnn"))
    assert list(table.columns) == ["clean", "32 px", "16 px", "8 px"]
    np.testing.assert_allclose(table.to_numpy(float), expected.to_numpy(float))
    drop = next(df.value for df in app.dataframe if "clean" not in df.value.columns).set_index("pair")
    assert list(drop.columns) == ["32 px", "16 px", "8 px"]
    np.testing.assert_allclose(drop.to_numpy(float), metrics.robustness_drop(expected).to_numpy(float))


def test_robustness_follows_the_model_choice(checkpoints: Path) -> None:
    app = run_page("robustness")
    app.selectbox(key="robustness_model").set_value("beta_vit").run()
    table = frame_with(app, "pair", "clean").set_index("pair")
    expected = metrics.resize_robustness_table(fixture_rows("beta_vit"))
    assert table.loc["area>cubic", "8 px"] == pytest.approx(expected.loc["area>cubic", 8])


def test_subgroup_table_and_gap_match_the_metrics(checkpoints: Path) -> None:
    app = run_page("subgroups")
    table = frame_with(app, "group", "n", "accuracy").set_index("group")
    clean = metrics.condition_rows(fixture_rows("alpha_cnn"))
    expected = metrics.subgroup_table(clean, "age_group")
    assert list(table.index) == ["adult", "child", "unclear", "unknown"]
    assert table["n"].tolist() == expected["n"].tolist()
    np.testing.assert_allclose(table["accuracy"], expected["accuracy"])
    gap, lo, hi = metrics.subgroup_gap_ci(clean, "age_group", "adult", "child", n_boot=1000, seed=0)
    assert app.metric[0].label == "Accuracy of adult minus child"  # the README's convention
    assert app.metric[0].value == f"{gap * 100:+.2f} points"
    assert any(f"CI {lo * 100:.2f} to {hi * 100:.2f} points" in caption.value for caption in app.caption)
    assert any("(n=" in str(chart.proto.spec) for chart in app.get("plotly_chart"))  # per-group confusions


def test_subgroup_gap_follows_the_group_choice(checkpoints: Path) -> None:
    app = run_page("subgroups")
    app.selectbox(key="gap_group_b").set_value("unknown").run()
    clean = metrics.condition_rows(fixture_rows("alpha_cnn"))
    gap, _, _ = metrics.subgroup_gap_ci(clean, "age_group", "adult", "unknown")
    assert app.metric[0].value == f"{gap * 100:+.2f} points"
