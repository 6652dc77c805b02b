"""fer_core.store.runs: round trip of synthetic model directories; malformed files reported, never raised."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from run_fixtures import GRID_CONDITIONS, synthetic_history, synthetic_rows, write_model_dir

from fer_core.evaluation import metrics
from fer_core.labels import FER2013, FERPLUS
from fer_core.store.card import ModelCard
from fer_core.store.model_dir import ModelDir
from fer_core.store.runs import (
    SCORE_COLUMNS,
    RunFormatError,
    RunInfo,
    discover_runs,
    load_history,
    load_run,
    read_model_card,
    save_run,
    scan_runs,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Two healthy models: one with FER2013 test+val runs, one FER+ model without a history."""
    write_model_dir(
        tmp_path,
        "cnn_a",
        {("fer2013", "test"): synthetic_rows(seed=1), ("fer2013", "val"): synthetic_rows(seed=2)},
    )
    write_model_dir(
        tmp_path,
        "vit_b",
        {("ferplus", "test"): synthetic_rows(FERPLUS.names, seed=3)},
        labels=FERPLUS.names,
        label_set="ferplus",
        history=False,
    )
    return tmp_path


def test_round_trip_keeps_rows_info_and_card(root: Path) -> None:
    scan = scan_runs(root)
    assert scan.problems == []
    assert [run.key for run in scan.runs] == ["cnn_a/fer2013-test", "cnn_a/fer2013-val", "vit_b/ferplus-test"]
    run = scan.runs[0]
    assert run.labels == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert run.conditions == list(GRID_CONDITIONS)
    assert run.card.id == "cnn_a" and run.card.params == 100_000
    expected = synthetic_rows(seed=1)
    pd.testing.assert_frame_equal(
        run.rows.astype({"condition": str}), expected.astype({"condition": str}), check_dtype=False
    )
    assert scan.runs[2].labels == FERPLUS.names


def test_discover_runs_returns_the_same_runs(root: Path) -> None:
    assert [run.key for run in discover_runs(root)] == [run.key for run in scan_runs(root).runs]


@pytest.mark.parametrize("missing_root", ["absent", "file.txt"])
def test_missing_or_odd_root_gives_nothing(tmp_path: Path, missing_root: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    scan = scan_runs(tmp_path / missing_root)
    assert scan.runs == [] and scan.problems == []


def test_conditions_fall_back_to_rows_when_sidecar_has_none(root: Path) -> None:
    sidecar = root / "cnn_a" / "runs" / "fer2013-test.json"
    info = json.loads(sidecar.read_text())
    del info["conditions"]
    sidecar.write_text(json.dumps(info))
    assert load_run(sidecar.with_suffix(".parquet")).conditions == list(GRID_CONDITIONS)


def test_scan_of_the_clean_condition_keeps_only_clean_rows(root: Path) -> None:
    """What the dashboard holds of every run: the clean rows, equal to the clean part of the full table."""
    for run in scan_runs(root, conditions=("clean",)).runs:
        full = load_run(run.path).rows
        assert set(run.rows["condition"].astype(str)) == {"clean"}
        pd.testing.assert_frame_equal(run.rows, metrics.condition_rows(full))
        assert run.conditions == list(GRID_CONDITIONS)


def test_conditions_come_from_the_file_when_only_clean_rows_are_read(root: Path) -> None:
    sidecar = root / "cnn_a" / "runs" / "fer2013-test.json"
    info = json.loads(sidecar.read_text())
    del info["conditions"]
    sidecar.write_text(json.dumps(info))
    run = load_run(sidecar.with_suffix(".parquet"), conditions=["clean"])
    assert run.conditions == list(GRID_CONDITIONS) and len(run.rows) == len(metrics.condition_rows(run.rows))


def test_score_columns_hold_every_condition_and_score_it_alike(root: Path) -> None:
    path = root / "cnn_a" / "runs" / "fer2013-test.parquet"
    scores, full = load_run(path, columns=SCORE_COLUMNS).rows, load_run(path).rows
    assert list(scores.columns) == list(SCORE_COLUMNS) and len(scores) == len(full)
    pd.testing.assert_frame_equal(metrics.resize_robustness_table(scores), metrics.resize_robustness_table(full))
    pd.testing.assert_frame_equal(metrics.corruption_table(scores), metrics.corruption_table(full))


def test_a_bad_class_id_in_rows_left_unread_still_rejects_the_run(root: Path) -> None:
    """The whole file is validated, whichever conditions are kept: a partial read never hides a damaged run."""
    path = root / "cnn_a" / "runs" / "fer2013-test.parquet"
    rows = pd.read_parquet(path)
    rows.loc[rows["condition"] == "blur:3", "pred"] = 7
    rows.to_parquet(path, index=False)
    scan = scan_runs(root, conditions=("clean",))
    assert [problem.path for problem in scan.problems] == [path]
    assert "'pred' must hold class ids 0..6" in scan.problems[0].message


def _break_parquet(path: Path) -> None:
    path.write_bytes(b"PAR1 this is not parquet")


def _drop_probability_column(path: Path) -> None:
    pd.read_parquet(path).drop(columns=["p_fear", "pred"]).to_parquet(path)


def _label_out_of_range(path: Path) -> None:
    rows = pd.read_parquet(path)
    rows.loc[0, "label"] = 99
    rows.to_parquet(path)


def _break_sidecar(path: Path) -> None:
    path.with_suffix(".json").write_text("{not json")


def _sidecar_without_labels(path: Path) -> None:
    sidecar = path.with_suffix(".json")
    info = json.loads(sidecar.read_text())
    del info["labels"]
    sidecar.write_text(json.dumps(info))


def _remove_sidecar(path: Path) -> None:
    path.with_suffix(".json").unlink()


def _remove_parquet(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_break_parquet, "unreadable parquet"),
        (_drop_probability_column, "missing columns pred, p_fear"),
        (_label_out_of_range, "'label' must hold class ids 0..6"),
        (_break_sidecar, "not valid JSON"),
        (_sidecar_without_labels, "sidecar missing keys labels"),
        (_remove_sidecar, "no sidecar fer2013-test.json"),
        (_remove_parquet, "sidecar without its parquet file"),
    ],
)
def test_malformed_run_is_reported_and_the_rest_still_load(root: Path, damage, message: str) -> None:
    damaged = root / "cnn_a" / "runs" / "fer2013-test.parquet"
    damage(damaged)
    scan = scan_runs(root)
    assert [run.key for run in scan.runs] == ["cnn_a/fer2013-val", "vit_b/ferplus-test"]
    assert len(scan.problems) == 1
    problem = scan.problems[0]
    assert message in problem.message and "fer2013-test" in problem.message


def test_load_run_raises_a_clear_error(root: Path) -> None:
    damaged = root / "cnn_a" / "runs" / "fer2013-test.parquet"
    _drop_probability_column(damaged)
    with pytest.raises(RunFormatError, match=r"fer2013-test\.parquet: missing columns pred, p_fear"):
        load_run(damaged)


@pytest.mark.parametrize(
    ("card_text", "message"),
    [(None, "missing"), ("[1, 2]", "expected a JSON object"), ("{oops", "not valid JSON")],
)
def test_bad_card_is_a_problem_but_runs_still_load(root: Path, card_text: str | None, message: str) -> None:
    card_path = root / "vit_b" / "card.json"
    if card_text is None:
        card_path.unlink()
    else:
        card_path.write_text(card_text)
    scan = scan_runs(root)
    assert len(scan.runs) == 3 and scan.runs[2].card == ModelCard()
    assert [p.path for p in scan.problems] == [card_path] and message in scan.problems[0].message


def test_read_card_and_history(root: Path) -> None:
    assert read_model_card(ModelDir(root / "cnn_a")).label_set == "fer2013"
    history = load_history(ModelDir(root / "cnn_a"))
    pd.testing.assert_frame_equal(history, synthetic_history())
    assert load_history(ModelDir(root / "vit_b")) is None
    with pytest.raises(RunFormatError, match=r"missing card\.json"):
        read_model_card(ModelDir(root / "nowhere"))


@pytest.mark.parametrize(("text", "message"), [("loss,acc\n1,2\n", "missing column 'epoch'"), ("", "unreadable CSV")])
def test_malformed_history_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "history.csv").write_text(text)
    with pytest.raises(RunFormatError, match=message):
        load_history(ModelDir(tmp_path))


def test_rows_keep_metadata_with_missing_values(root: Path) -> None:
    rows = discover_runs(root)[0].rows
    assert set(rows["age_group"].dropna()) == {"child", "adult", "unclear"}
    assert rows["age_group"].isna().any()
    assert np.issubdtype(rows["label"].dtype, np.integer)


def test_compact_rows_keep_every_score_and_clean_probabilities(tmp_path: Path) -> None:
    from fer_core.evaluation import metrics
    from fer_core.store.runs import compact_rows

    rows = synthetic_rows(seed=4)
    path = tmp_path / "run.parquet"
    compact_rows(rows).to_parquet(path, index=False)
    stored = pd.read_parquet(path)
    probs = [c for c in rows.columns if c.startswith("p_")]
    assert all(stored[c].dtype == "float16" for c in probs)
    clean = stored["condition"] == "clean"
    assert stored.loc[~clean, probs].isna().all().all() and not stored.loc[clean, probs].isna().any().any()
    pd.testing.assert_frame_equal(stored.drop(columns=probs), rows.drop(columns=probs), check_dtype=False)
    np.testing.assert_allclose(stored.loc[clean, probs].to_numpy(float), rows.loc[clean, probs], atol=1e-3)
    clean_rows = stored[clean].astype({c: "float32" for c in probs})
    assert metrics.expected_calibration_error(clean_rows) == pytest.approx(
        metrics.expected_calibration_error(rows[rows["condition"] == "clean"]), abs=2e-3
    )


def test_load_run_widens_float16_probabilities(root: Path) -> None:
    from fer_core.store.runs import compact_rows

    path = root / "cnn_a" / "runs" / "fer2013-test.parquet"
    compact_rows(pd.read_parquet(path)).to_parquet(path, index=False)
    run = load_run(path)
    assert {str(run.rows[c].dtype) for c in run.rows.columns if c.startswith("p_")} == {"float32"}


SHIPPED_SIDECARS = sorted((Path(__file__).resolve().parents[3] / "checkpoints").glob("*/runs/*.json"))


@pytest.mark.parametrize("path", SHIPPED_SIDECARS, ids=lambda p: f"{p.parents[1].name}/{p.name}")
def test_every_shipped_sidecar_reads_and_writes_back_unchanged(path: Path) -> None:
    original = json.loads(path.read_text())
    written = RunInfo.from_dict(original, path).to_dict()
    assert {key: value for key, value in written.items() if key in original} == original


GOOD_INFO = {"model_id": "m", "dataset": "fer2013", "split": "test", "labels": ["a", "b"]}
# (case, keys changed from GOOD_INFO, what the error names)
BAD_INFO = [
    ("model id not text", {"model_id": 3}, "'model_id' must be str"),
    ("sample count not a number", {"num_samples": "ten"}, "'num_samples' must be int or null"),
    ("sample count a boolean", {"num_samples": True}, "'num_samples' must be int or null"),
    ("conditions not a list", {"conditions": "clean"}, "'conditions' must be list"),
    ("throughput text", {"throughput_samples_per_s": "fast"}, "'throughput_samples_per_s' must be int or float"),
    ("labels empty", {"labels": []}, "non-empty list of class names"),
    ("labels twice", {"labels": ["a", "a"]}, "lists a class twice"),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD_INFO, ids=[case for case, *_ in BAD_INFO])
def test_bad_sidecar_value_names_the_file_and_the_key(case: str, change: dict, message: str) -> None:
    with pytest.raises(RunFormatError, match=f"^runs/x.json: .*{message}"):
        RunInfo.from_dict({**GOOD_INFO, **change}, "runs/x.json")


def test_unknown_keys_are_kept_and_notes_of_the_wrong_type_count_as_absent() -> None:
    info = RunInfo.from_dict({**GOOD_INFO, "scoring": "contempt", "dropped": {"x": 2, "y": "lots"}, "seed": 7})
    assert info.scoring is None and info.dropped == {"x": 2}
    assert info.extra == {"seed": 7} and info.to_dict()["seed"] == 7
    assert info.labels == ("a", "b") and info.tta == "none"


def test_save_run_writes_rows_and_sidecar_that_load_back(tmp_path: Path) -> None:
    rows = synthetic_rows(seed=4)
    info = RunInfo("m", "fer2013", "test", FER2013.names, num_samples=int(rows["sample_id"].nunique()))
    parquet_path, json_path = save_run(tmp_path / "runs" / "fer2013-test.parquet", rows, info)
    run = load_run(parquet_path)
    assert run.info == info and json_path == parquet_path.with_suffix(".json")
    assert len(run.rows) == len(rows) and sorted(p.name for p in parquet_path.parent.iterdir()) == [
        "fer2013-test.json",
        "fer2013-test.parquet",
    ]


def test_only_the_condition_column_is_dictionary_encoded(tmp_path: Path) -> None:
    """Ids, labels and metadata repeat once per condition: plain-encoded, zstd finds the repeats (smaller files)."""
    import pyarrow.parquet as pq

    rows = synthetic_rows(seed=5, n=400)
    info = RunInfo("m", "fer2013", "test", FER2013.names, num_samples=int(rows["sample_id"].nunique()))
    parquet_path, _ = save_run(tmp_path / "fer2013-test.parquet", rows, info)
    group = pq.ParquetFile(parquet_path).metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)}
    dictionary = {name for name, used in encodings.items() if any("DICTIONARY" in e for e in used)}
    assert dictionary == {"condition"}
    back = load_run(parquet_path).rows
    assert back["sample_id"].tolist() == rows["sample_id"].tolist() and back["pred"].tolist() == rows["pred"].tolist()


def _sample_id_bytes(tmp_path: Path, rows: pd.DataFrame, name: str) -> int:
    """Compressed size of the stored ``sample_id`` column of ``rows`` saved as a run."""
    import pyarrow.parquet as pq

    info = RunInfo("m", "fer2013", "test", FER2013.names, num_samples=int(rows["sample_id"].nunique()))
    parquet_path, _ = save_run(tmp_path / name / "fer2013-test.parquet", rows, info)
    group = pq.ParquetFile(parquet_path).metadata.row_group(0)
    return next(
        group.column(i).total_compressed_size
        for i in range(group.num_columns)
        if group.column(i).path_in_schema == "sample_id"
    )


def test_a_samples_id_repeated_under_every_condition_is_stored_about_once(tmp_path: Path) -> None:
    """zstd compresses each data page on its own: the ids of a run with many conditions must share one page, or
    every page stores them again (a full-grid FER2013 run's ids took 148 KB that way, 13 KB in one page)."""
    from fer_core.store.runs import SINGLE_PAGE

    if "max_rows_per_page" not in SINGLE_PAGE:
        pytest.skip("this pyarrow cannot lift the row limit per data page")
    rows = synthetic_rows(seed=6, n=4000)  # 13 conditions: 52,000 rows, more than the writer's default page holds
    numbers = np.random.default_rng(0).integers(0, 10**8, 4000)
    ids = {f"s{i:04d}": f"fer2013/test/{i % 7}/PrivateTest_{number:08d}" for i, number in enumerate(numbers)}
    rows["sample_id"] = rows["sample_id"].map(ids)
    clean_only = rows[rows["condition"] == "clean"].reset_index(drop=True)
    clean_only["condition"] = clean_only["condition"].cat.remove_unused_categories()
    every_condition = _sample_id_bytes(tmp_path, rows, "grid")
    assert every_condition < 1.5 * _sample_id_bytes(tmp_path, clean_only, "clean")
