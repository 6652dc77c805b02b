"""scripts/ensemble_search.py: subsets scored as the served ensemble is (mean probabilities), best first."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def search():
    return load_script("ensemble_search")


def test_complementary_members_beat_each_alone(search) -> None:
    labels = np.array([0, 0, 1, 1])
    # a is sure and right on the first half, unsure and wrong on the second; b the other way round
    a = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    b = np.array([[0.4, 0.6], [0.4, 0.6], [0.1, 0.9], [0.1, 0.9]])
    ranking = search.ranked_subsets({"a": a, "b": b}, labels)
    assert ranking[0][0] == ("a", "b") and ranking[0][1]["accuracy"] == 1.0
    assert {subset for subset, _ in ranking} == {("a",), ("b",), ("a", "b")}
    assert ranking[1][1]["accuracy"] == 0.5


def test_candidates_are_scored_on_the_backend_an_ensemble_serves_them_with(search) -> None:
    """Members are served from their int8 ONNX files, so the search must score those, not the torch weights."""
    from fer_core.serving.classifier import load_model

    name = "cnn_robust_joint@fer2013"
    faces = np.random.default_rng(0).integers(0, 256, size=(16, 48, 48), dtype=np.uint8)
    served = load_model(name)
    assert served.backend == "onnx"
    np.testing.assert_allclose(search.validation_probabilities(name, faces), served.predict(faces), atol=1e-6)


def test_the_written_card_records_how_its_members_were_chosen(search) -> None:
    record = search.selection_record("ferplus", {"accuracy": 0.8, "macro_f1": 0.6, "score": 0.7}, ["a@ferplus"])
    assert record == {
        "split": "FER+ Valid (majority)",
        "metric": "acc_f1",
        "method": "every subset",
        "accuracy": 0.8,
        "macro_f1": 0.6,
        "acc_f1": 0.7,
        "candidates": ["a@ferplus"],
    }


def test_greedy_selection_weights_members_by_how_often_they_help(search) -> None:
    """Picks with replacement: a member picked twice weighs twice; one that never helps is left out."""
    labels = np.array([0, 0, 0, 1, 1])
    strong = np.array([[0.8, 0.2], [0.8, 0.2], [0.8, 0.2], [0.6, 0.4], [0.4, 0.6]])  # wrong on face 3 only
    fixer = np.array(
        [[0.1, 0.9], [0.6, 0.4], [0.6, 0.4], [0.1, 0.9], [0.5, 0.5]]
    )  # right on face 3, sure and wrong on 0
    useless = np.array([[0.1, 0.9]] * 3 + [[0.9, 0.1]] * 2)  # always wrong
    counts, scores = search.greedy_selection({"strong": strong, "useless": useless, "fixer": fixer}, labels, 6)
    assert scores["accuracy"] == 1.0 and "useless" not in counts
    assert counts == {"strong": 2, "fixer": 1}  # at equal weights the fixer's sure mistake on face 0 would win
    mean = (counts["strong"] * strong + counts["fixer"] * fixer) / sum(counts.values())
    assert search.score(mean, labels) == scores


def _store_run(model_dir) -> None:
    from run_fixtures import synthetic_rows, write_run_files

    from fer_core.labels import FER2013
    from fer_core.serving.classifier import weights_sha256

    info = {"weights_sha256": weights_sha256(model_dir)}
    rows = synthetic_rows(n=10)
    write_run_files(
        model_dir, rows, dataset="fer2013", split="test", labels=FER2013.names, label_set="fer2013", info=info
    )


def test_writing_the_same_members_again_keeps_what_was_measured_of_the_ensemble(search, tmp_path) -> None:
    """A search that picks the members an ensemble already has must not drop its test metrics and latencies."""
    from conftest import make_tiny_model_dir

    from fer_core.store.model_dir import ModelDir

    for name, channels in (("a", 1), ("b", 3), ("c", 3)):
        make_tiny_model_dir(tmp_path / name, channels=channels)
    ensemble = ModelDir(tmp_path / "ens")
    assert search.write_ensemble(ensemble.path, ["a", "b"], {"acc_f1": 0.6})
    _store_run(ensemble.path)
    card = ensemble.read_card()
    card.metrics, card.latency_ms_per_face = {"test": {"accuracy": 0.7}}, 1.5
    ensemble.write_card(card)

    assert not search.write_ensemble(ensemble.path, ["a", "b"], {"acc_f1": 0.61})
    card = ensemble.read_card()
    assert card.metrics["test"].accuracy == 0.7 and card.latency_ms_per_face == 1.5
    assert card.training_fact("selection") == {"acc_f1": 0.61}
    assert list(ensemble.runs_dir.glob("*.json"))

    make_tiny_model_dir(tmp_path / "a", channels=3)  # a member retrained in place: what was measured is stale
    assert search.write_ensemble(ensemble.path, ["a", "b"], {"acc_f1": 0.62})
    assert not ensemble.read_card().metrics and not list(ensemble.runs_dir.glob("*.json"))
    assert search.write_ensemble(ensemble.path, ["a", "c"], {"acc_f1": 0.63})
    assert ensemble.read_card().members == ("a", "c")
    assert search.write_ensemble(ensemble.path, ["a", "c"], {"acc_f1": 0.64}, weights=[2, 1])  # other shares
    assert ensemble.read_card().weights == (2.0, 1.0)
    assert not search.write_ensemble(ensemble.path, ["a", "c"], {"acc_f1": 0.64}, weights=[2, 1])


def test_the_methods_are_compared_on_halves_they_did_not_choose_on(search) -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 40)
    probs = {name: rng.dirichlet(np.ones(3), 40) for name in ("a", "b", "c")}
    probs["a"][np.arange(40), labels] += 1.0  # one good candidate among noise
    folds = search.compare_methods(probs, labels, repeats=2)
    assert len(folds) == 4 and all(set(row) == {"subsets", "greedy"} for row in folds)
    assert all(0.0 <= value <= 1.0 for row in folds for value in row.values())
    weights, scores = search.choose("subsets", probs, labels)
    assert len(weights) >= 2 and set(weights.values()) == {1.0} and 0.0 <= scores["score"] <= 1.0


def test_a_latency_cap_keeps_out_the_members_it_cannot_afford(search) -> None:
    """With --max-ms a round adds only candidates that fit what is left; picking a member again costs nothing."""
    labels = np.array([0, 0, 0, 1, 1])
    strong = np.array([[0.8, 0.2], [0.8, 0.2], [0.8, 0.2], [0.6, 0.4], [0.4, 0.6]])
    fixer = np.array([[0.1, 0.9], [0.6, 0.4], [0.6, 0.4], [0.1, 0.9], [0.5, 0.5]])
    probs = {"strong": strong, "fixer": fixer}
    fits, _ = search.greedy_selection(probs, labels, 6, {"strong": 1.0, "fixer": 0.5}, max_ms=1.5)
    assert fits == {"strong": 2, "fixer": 1}  # both fit: the same choice as without a cap
    capped, scores = search.greedy_selection(probs, labels, 6, {"strong": 1.0, "fixer": 0.6}, max_ms=1.5)
    assert capped == {"strong": 1} and scores == search.score(strong, labels)
    with pytest.raises(ValueError, match="no candidate fits"):
        search.greedy_selection(probs, labels, 6, {"strong": 1.0, "fixer": 0.6}, max_ms=0.4)


def test_the_latency_cap_reads_each_candidate_s_card(search) -> None:
    from fer_core.store.model_dir import Checkpoints

    card = Checkpoints.at().read_card("cnn_robust_joint")
    assert search.member_latency_ms("cnn_robust_joint@fer2013") == card.latency_ms_per_face > 0


def test_a_latency_cap_with_the_subsets_method_is_refused(search, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        search.main(["--label-set", "fer2013", "--candidates", "a", "b", "--method", "subsets", "--max-ms", "2"])
    assert stop.value.code == 2 and "--max-ms works with --method greedy only" in capsys.readouterr().err
