"""Two heads on one trunk, masked targets, selection metrics and resume-equals-uninterrupted (tiny configs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from train_fixtures import separable_faces, straight_and_resumed, tiny_recipe

from fer_core.evaluation.metrics import classification_scores, selection_score
from fer_core.training.loop import Head, HeadTargets, combine_head_losses, fit_heads, head_loss
from fer_core.training.recipes import AugmentConfig, Recipe
from fer_core.training.state import load_state, read_status

HEAD_A = Head("a", ("x", "y"))
HEAD_B = Head("b", ("p", "q", "r"), offset=2)


def _two_head_set(n: int, seed: int) -> HeadTargets:
    """Head a: bright top vs bottom half (learnable); head b: random classes, a quarter of the rows masked."""
    images, labels = separable_faces(n, seed)
    rng = np.random.default_rng([seed, 1])  # head b's random classes
    targets = np.zeros((n, 5), np.float32)
    targets[np.arange(n), labels] = 1
    targets[np.arange(n), 2 + rng.integers(0, 3, n)] = 1
    targets[::4, 2:] = 0
    return HeadTargets(images, targets, (HEAD_A, HEAD_B))


def _recipe(**overrides) -> Recipe:
    base = dict(epochs=3, mix_prob=0.5, mixup_alpha=0.4, selection_metric="acc_f1", augment=AugmentConfig(rotation=5))
    return tiny_recipe("tiny_joint", **{**base, **overrides})


def test_head_loss_ignores_masked_rows() -> None:
    logits = torch.randn(4, 3)
    targets = torch.eye(3)[torch.tensor([0, 1, 2, 0])]
    masked = targets.clone()
    masked[2:] = 0
    expected = torch.nn.functional.cross_entropy(logits[:2], torch.tensor([0, 1]))
    assert head_loss(logits, masked).item() == pytest.approx(expected.item(), rel=1e-5)
    changed = logits.clone()
    changed[2:] = 100 * torch.randn(2, 3)  # masked rows may predict anything
    assert head_loss(changed, masked).item() == pytest.approx(expected.item(), rel=1e-5)


def test_head_loss_of_all_masked_rows_is_zero() -> None:
    assert head_loss(torch.randn(3, 4), torch.zeros(3, 4)).item() == 0.0


def test_head_targets_labels_mark_masked_rows() -> None:
    data = _two_head_set(8, 0)
    assert (data.labels(HEAD_B)[::4] == -1).all()
    assert (data.labels(HEAD_A) >= 0).all()


def test_head_targets_shape_is_checked() -> None:
    with pytest.raises(ValueError, match="targets must be"):
        HeadTargets(np.zeros((2, 48, 48), np.uint8), np.zeros((2, 4), np.float32), (HEAD_A, HEAD_B))


@pytest.mark.parametrize(
    ("labels", "preds", "expected"),
    [
        ([0, 0, 1, 1], [0, 0, 1, 1], {"accuracy": 1.0, "macro_f1": 1.0, "balanced_accuracy": 1.0}),
        ([0, 0, 0, 1], [0, 0, 0, 0], {"accuracy": 0.75, "macro_f1": (6 / 7 + 0) / 2, "balanced_accuracy": 0.5}),
        ([-1, 0, 1, -1], [1, 0, 1, 0], {"accuracy": 1.0, "macro_f1": 1.0, "balanced_accuracy": 1.0}),
    ],
)
def test_classification_scores(labels, preds, expected) -> None:
    scores = classification_scores(np.array(labels), np.array(preds), 2)
    assert scores == pytest.approx(expected)


def test_acc_f1_selection_weighs_macro_f1() -> None:
    assert selection_score({"accuracy": 0.8, "macro_f1": 0.4}, "acc_f1") == pytest.approx(0.6)
    assert selection_score({"accuracy": 0.8, "macro_f1": 0.4}, "macro_f1") == pytest.approx(0.4)


def test_unknown_selection_metric_names_the_choices() -> None:
    with pytest.raises(ValueError, match="known: accuracy, macro_f1, balanced_accuracy, acc_f1"):
        _recipe(selection_metric="loss")


def test_two_heads_train_and_select_on_the_validation_score() -> None:
    torch.set_num_threads(1)
    result = fit_heads(_recipe(), _two_head_set(256, 0), _two_head_set(64, 1), progress=False)
    assert result.model(torch.zeros(1, 1, 48, 48)).shape == (1, 5)
    best = max(result.history, key=lambda row: row["val_score"])
    assert result.best_epoch == best["epoch"]
    assert best["val_accuracy_a"] > 0.9  # the learnable head learned through the shared trunk
    assert {"val_macro_f1_b", "val_score_a", "val_loss_b"} <= set(best)


def _saved_after_one_epoch(state_dir: Path) -> None:
    assert load_state(state_dir).epoch == 1 and read_status(state_dir)["epoch"] == 1


def test_resume_gives_the_same_model_as_an_uninterrupted_run(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    recipe, train, val = _recipe(), _two_head_set(96, 0), _two_head_set(32, 1)
    straight, resumed = straight_and_resumed(recipe, train, val, tmp_path, _saved_after_one_epoch)
    assert [r["val_score"] for r in resumed.history] == [r["val_score"] for r in straight.history]
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)
    assert read_status(tmp_path)["done"] is True


def test_resume_refuses_the_state_of_another_recipe(tmp_path: Path) -> None:
    train, val = _two_head_set(64, 0), _two_head_set(32, 1)
    fit_heads(_recipe(epochs=1), train, val, progress=False, state_dir=tmp_path)
    with pytest.raises(ValueError, match="another recipe"):
        fit_heads(_recipe(epochs=1, lr=0.02), train, val, progress=False, state_dir=tmp_path, resume=True)


def test_head_weights_scale_each_heads_loss_and_its_gradient() -> None:
    logits = torch.zeros(4, 5, requires_grad=True)
    targets = torch.zeros(4, 5)
    targets[:, 0] = 1
    targets[:, 2] = 1
    losses = [head_loss(logits[:, h.outputs], targets[:, h.outputs]) for h in (HEAD_A, HEAD_B)]
    unweighted = combine_head_losses(losses, (HEAD_A, HEAD_B), {})
    assert unweighted.item() == pytest.approx(losses[0].item() + losses[1].item())
    weighted = combine_head_losses(losses, (HEAD_A, HEAD_B), {"a": 0.0, "b": 3.0})
    assert weighted.item() == pytest.approx(3 * losses[1].item())
    weighted.backward()
    assert torch.all(logits.grad[:, HEAD_A.outputs] == 0) and torch.any(logits.grad[:, HEAD_B.outputs] != 0)


def test_a_weight_for_a_head_the_run_does_not_train_is_refused_before_training() -> None:
    recipe = _recipe(head_weights={"ferplus": 2.0})
    with pytest.raises(
        ValueError, match=r"head_weights names heads this run does not train \['ferplus'\]; its heads: a, b"
    ):
        fit_heads(recipe, _two_head_set(16, 0), _two_head_set(8, 1), progress=False)


def test_head_weights_are_validated_and_left_out_of_a_recipe_without_them() -> None:
    assert "head_weights" not in _recipe().to_dict()  # the resume fingerprint of older recipes is unchanged
    weighted = _recipe(head_weights={"b": 2})
    assert Recipe.from_dict(weighted.to_dict()).head_weights == {"b": 2}
    with pytest.raises(ValueError, match=r"head_weights.b must be a number in \[0, 100\]"):
        _recipe(head_weights={"b": -1.0})
    with pytest.raises(ValueError, match="head_weights must be an object"):
        Recipe.from_dict({**_recipe().to_dict(), "head_weights": [1, 2]})
