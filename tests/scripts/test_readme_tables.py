"""scripts/readme_tables.py: the served answer's predicted vs true class shares, for a fusion or a single head."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import load_script

from fer_core.labels import FERPLUS
from fer_core.store.card import ModelCard


@pytest.fixture(scope="module")
def tables():
    return load_script("readme_tables")


def _row(answer: str, weights: dict) -> dict:
    shares = {"neutral": [0.2, 0.17], "happy": [0.25, 0.25]}
    return {"answer": answer, "weights": weights, "validation": {"fer2013": {"share": shares}}}


def test_a_served_head_shows_its_own_row_of_the_served_answer_table(tables) -> None:
    candidates = [_row("fer2013", {"fer2013": 1.0}), _row("ferplus", {"ferplus": 1.0})]
    candidates[1]["validation"]["fer2013"]["share"] = {"neutral": [0.35, 0.17]}
    card = ModelCard(id="m", labels=FERPLUS.names, default_head="fer2013")
    card.extra = {"served_answer": {"rule": "r", "candidates": candidates}}
    text = tables.served_share_markdown(card)
    assert "served `fer2013` answer" in text and "`served_answer` table" in text
    assert "| fer2013 val | 20.00 / 17.00 | 25.00 / 25.00 | - |" in text


def test_a_fused_answer_shows_the_fusion_row_and_nothing_is_shown_without_a_table(tables) -> None:
    fusion = {"name": "fused", "labels": ["neutral", "happy"], "heads": {"fer2013": 0.5, "ferplus": 0.5}}
    fusion["candidates"] = [_row("fer2013", {"fer2013": 1.0}), _row("fused", {"fer2013": 0.5, "ferplus": 0.5})]
    card = ModelCard(id="m", labels=FERPLUS.names, default_head="fused")
    card.extra = {"fusion": fusion}
    assert "served `fused` answer" in tables.served_share_markdown(card)
    assert tables.served_share_markdown(ModelCard(id="m", labels=FERPLUS.names)) == ""


def test_the_latency_sentence_names_the_cpu_the_ratio_was_measured_on(tables) -> None:
    peer = {"ms_per_face": 0.3, "backend": "onnx", "fer_tflite_ms_per_face": 0.4, "ratio_to_fer": 0.75}
    dated = tables.peer_latency_sentence({**peer, "measured": "2026-12-07"})
    assert dated.endswith("a ratio of 0.75 (`python scripts/bench_peers.py`, 2026-12-07).")
    with_cpu = tables.peer_latency_sentence({**peer, "measured": "2026-12-07", "cpu": "AMD EPYC (AVX-512, VNNI)"})
    assert with_cpu.endswith("(`python scripts/bench_peers.py`, 2026-12-07, AMD EPYC (AVX-512, VNNI)).")


def _run(model_id: str, card: ModelCard, skill: float, tta: str = "none"):
    from run_fixtures import synthetic_rows

    from fer_core.store.runs import RunInfo, StoredRun

    rows = synthetic_rows(n=200, conditions=("clean", "blur:1", "noise:2"), skill=skill, seed=int(skill * 100))
    info = RunInfo(model_id=model_id, dataset="fer2013", split="test", labels=FERPLUS.names[:7], tta=tta)
    return StoredRun(model_id, "fer2013", "test", Path("x"), info, rows, card)


def test_the_ensembles_table_compares_each_ensemble_with_its_best_member(tables) -> None:
    ensemble = ModelCard(id="ens", family="ensemble", members=("a@fer2013", "b@fer2013"), mflops=150.0)
    ensemble.label_set = "fer2013"
    ensemble.training = {"selection": {"acc_f1": 0.6789}}
    members = [ModelCard(id="a"), ModelCard(id="b")]
    runs = [
        _run("ens", ensemble, 0.8),
        _run("ens +flip TTA", ensemble, 0.82, tta="flip"),
        _run("a@fer2013", members[0], 0.6),
        _run("b@fer2013", members[1], 0.7),
        _run("b@fer2013 +flip TTA", members[1], 0.95, tta="flip"),  # a TTA run is not the member's plain answer
        _run("c@fer2013", ModelCard(id="c"), 0.9),  # not a member
    ]
    on_another_split = _run("ens", ensemble, 0.3)
    on_another_split.dataset = "ferplus"  # evaluated beside its own split: not its row
    runs.append(on_another_split)
    accuracy = {run.model_id: tables._clean_accuracy(run) for run in runs[:-1]}
    row = tables.ensembles_markdown(runs).splitlines()[-1]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:4] == ["ens", "2: `a`, `b`", "150", "67.89"]
    assert cells[4] == f"{100 * accuracy['ens']:.2f} / {100 * accuracy['ens +flip TTA']:.2f} / -"
    assert cells[5] == f"{100 * accuracy['b@fer2013']:.2f} (`b`)"
    assert cells[6] == f"{100 * (accuracy['ens'] - accuracy['b@fer2013']):.2f}"
    assert tables.ensembles_markdown(runs[2:]) == ""
    ensemble.weights = (3.0, 1.0)
    weighted = tables.ensembles_markdown(runs).splitlines()[-1]
    assert "| 2: `a` x3, `b` x1 |" in weighted


def test_the_leaderboard_ranks_plain_runs_and_folds_the_test_time_augmented_ones(tables) -> None:
    card = ModelCard(id="a", labels=FERPLUS.names[:7])
    runs = [_run("a", card, 0.6), _run("b", card, 0.7), _run("a +flip TTA", card, 0.8, tta="flip")]
    text = tables.leaderboard_markdown(runs, "fer2013")
    plain, folded = text.split("<details>")
    assert plain.index("| b |") < plain.index("| a |") and "TTA" not in plain.split("\n", 1)[1]
    assert "the 1 test-time augmented runs" in folded and "| a +flip TTA |" in folded
    assert folded.rstrip().endswith("</details>")
    assert "<details>" not in tables.leaderboard_markdown(runs[:2], "fer2013")
