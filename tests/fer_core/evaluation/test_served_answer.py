"""The served-answer rule: candidates scored on both validation sets, restricted to each dataset's classes."""

from __future__ import annotations

import numpy as np

from fer_core.evaluation.served_answer import Candidate, ValidationSet, choose_served_answer, restricted_preds

A = ("x", "y")
B = ("y", "x", "z")


def _set(name: str, labels: tuple[str, ...], targets: list[int], probs_a: list, probs_b: list) -> ValidationSet:
    return ValidationSet(
        name,
        labels,
        np.array(targets),
        {"a": np.array(probs_a, float), "b": np.array(probs_b, float)},
        {"a": A, "b": B},
    )


def test_restricted_preds_ignore_classes_the_dataset_lacks() -> None:
    probs = np.array([[0.3, 0.2, 0.5], [0.1, 0.6, 0.3]])  # over ("y", "x", "z")
    assert restricted_preds(probs, B, ("x", "y")).tolist() == [1, 0]


def test_fusion_maps_classes_by_name_and_keeps_a_one_head_class() -> None:
    val = _set("a", A, [0], [[0.8, 0.2]], [[0.1, 0.3, 0.6]])
    probs = Candidate("f", {"a": 1.0, "b": 1.0}).probabilities(val, B)
    np.testing.assert_allclose(probs, [[(0.2 + 0.1) / 2, (0.8 + 0.3) / 2, 0.6 / 2]])


def test_the_candidate_best_on_both_sets_wins_and_the_table_keeps_the_shares() -> None:
    # Head a is right on set "a", head b on set "b"; each is wrong on the other set: only the fusion is right twice.
    many = 200  # faces enough for a small standard error: no tie with the heads
    set_a = _set("a", A, [0, 1] * many, [[0.9, 0.1], [0.1, 0.9]] * many, [[0.55, 0.45, 0.0], [0.45, 0.55, 0.0]] * many)
    set_b = _set("b", B, [0, 1] * many, [[0.55, 0.45], [0.45, 0.55]] * many, [[0.9, 0.1, 0.0], [0.1, 0.9, 0.0]] * many)
    choice = choose_served_answer([set_a, set_b], ("a", "b"), B)
    assert choice["chosen"] == "fused (b 0.25)", "the first of the equally good fusions"
    assert choice["weights"] == {"a": 0.75, "b": 0.25}
    by_name = {row["answer"]: row for row in choice["candidates"]}
    assert by_name["a"]["validation"]["a"]["accuracy"] == 1.0 and by_name["a"]["validation"]["b"]["accuracy"] == 0.0
    assert by_name["fused (b 0.50)"]["validation"]["b"]["share"]["y"] == [0.5, 0.5]


def test_the_rule_is_balanced_accuracy_so_copying_the_majority_class_does_not_win() -> None:
    # Head a always says the majority class x (accuracy 0.75, balanced 0.5); head b finds the one y face but
    # calls two x faces y (accuracy 0.5, balanced 0.67). An accuracy rule would serve a.
    many = 200
    targets = [0, 0, 0, 1] * many
    probs_a = [[0.9, 0.1]] * 4 * many
    probs_b = [[0.4, 0.6, 0.0], [0.9, 0.1, 0.0], [0.9, 0.1, 0.0], [0.9, 0.1, 0.0]] * many  # over ("y", "x", "z")
    choice = choose_served_answer([_set("s", A, targets, probs_a, probs_b)], ("a", "b"), B)
    by_name = {row["answer"]: row["validation"]["s"] for row in choice["candidates"]}
    assert by_name["a"]["accuracy"] > by_name["b"]["accuracy"]
    assert choice["chosen"] == "b"
    assert by_name["b"]["balanced_accuracy"] > by_name["a"]["balanced_accuracy"]


def _two_heads(faces: int, right_fer2013: int, right_ferplus: int, seed: int = 0) -> ValidationSet:
    """Two classes, half the faces each; each head confidently right on its first ``right_*`` faces (shuffled)."""
    rng = np.random.default_rng(seed)
    targets = rng.permutation(np.arange(faces) % 2)

    def head(right: int, confidence: float) -> np.ndarray:
        probs = np.full((faces, 2), 1 - confidence)
        answers = np.where(np.arange(faces) < right, targets, 1 - targets)
        probs[np.arange(faces), answers] = confidence
        return probs

    heads = {"fer2013": head(right_fer2013, 0.9), "ferplus": head(right_ferplus, 0.9)}
    return ValidationSet("s", A, targets, heads, {"fer2013": A, "ferplus": A})


def test_candidates_within_one_standard_error_of_the_best_tie_and_the_least_ferplus_weight_is_served() -> None:
    val = _two_heads(400, right_fer2013=280, right_ferplus=288)  # 70 % against 72 %: within the noise of 400 faces
    choice = choose_served_answer([val], ("fer2013", "ferplus"), A)
    assert choice["best_answer"] != "fer2013" and 0.01 < choice["standard_error"] < 0.05
    assert choice["chosen"] == "fer2013" and choice["weights"] == {"fer2013": 1.0}


def test_a_lead_beyond_the_noise_is_served_even_with_more_ferplus_weight() -> None:
    val = _two_heads(4000, right_fer2013=2400, right_ferplus=3600)  # 60 % against 90 % on 4,000 faces
    choice = choose_served_answer([val], ("fer2013", "ferplus"), A)
    scores = {row["answer"]: row["mean_balanced_accuracy"] for row in choice["candidates"]}
    best = max(scores.values())
    assert choice["chosen"] != "fer2013" and scores[choice["chosen"]] >= best - choice["standard_error"]
    assert choice["standard_error"] < 0.01
