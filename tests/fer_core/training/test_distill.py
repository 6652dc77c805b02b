"""fer_core.training.distill: target blending, masked rows, teacher caching, and a recipe that distils end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fer_core.labels import FER2013, FERPLUS
from fer_core.serving.classifier import load_model
from fer_core.training.distill import blend_targets, distilled_targets, teacher_facts, teacher_probabilities
from fer_core.training.loop import Head, HeadTargets
from fer_core.training.recipes import Recipe

FER_HEAD = Head(FER2013.name, FER2013.names)
PLUS_HEAD = Head(FERPLUS.name, FERPLUS.names, offset=len(FER2013))


def _joint_targets(n: int, rng: np.random.Generator) -> np.ndarray:
    fer = np.eye(7, dtype=np.float32)[rng.integers(0, 7, n)]
    plus = rng.dirichlet(np.ones(8), n).astype(np.float32)
    plus[::3] = 0  # every third face has no FER+ label (masked)
    return np.concatenate([fer, plus], 1)


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_blend_moves_labelled_rows_towards_the_teacher_and_keeps_masked_rows(weight: float) -> None:
    rng = np.random.default_rng(0)
    targets = _joint_targets(9, rng)
    teacher = rng.dirichlet(np.ones(8), 9).astype(np.float32)
    blended = blend_targets(targets, teacher, PLUS_HEAD, weight)
    masked = targets[:, PLUS_HEAD.outputs].sum(1) == 0
    np.testing.assert_array_equal(blended[masked], targets[masked])
    expected = (1 - weight) * targets[~masked, 7:] + weight * teacher[~masked]
    np.testing.assert_allclose(blended[~masked, 7:], expected, rtol=1e-6)
    np.testing.assert_allclose(blended[~masked, 7:].sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(blended[:, :7], targets[:, :7])  # the other head is untouched


def test_blend_weight_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match="distill_weight"):
        blend_targets(np.zeros((2, 15), np.float32), np.zeros((2, 8), np.float32), PLUS_HEAD, 1.5)


def test_distilled_targets_use_the_teachers_probabilities_and_cache_them(tiny_model_dir: Path, tmp_path) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (12, 48, 48), dtype=np.uint8)
    train = HeadTargets.single(images, rng.integers(0, 7, 12), FER_HEAD)
    out = distilled_targets(train, {"fer2013": str(tiny_model_dir)}, 0.5, cache_dir=tmp_path)
    teacher = load_model(tiny_model_dir, backend="torch").predict(images)
    np.testing.assert_allclose(out.targets, 0.5 * train.targets + 0.5 * teacher, atol=1e-5)
    cached = list(tmp_path.glob("teacher-*.npy"))
    assert len(cached) == 1
    np.testing.assert_allclose(teacher_probabilities(str(tiny_model_dir), images, FER2013.names, tmp_path), teacher)


def test_teacher_for_an_unknown_head_or_other_classes_is_refused(tiny_model_dir: Path) -> None:
    images = np.zeros((2, 48, 48), np.uint8)
    train = HeadTargets.single(images, np.zeros(2, int), FER_HEAD)
    with pytest.raises(ValueError, match="unknown heads"):
        distilled_targets(train, {"ferplus": str(tiny_model_dir)}, 0.5)
    with pytest.raises(ValueError, match="the head needs"):
        teacher_probabilities(str(tiny_model_dir), images, FERPLUS.names)


def test_recipe_without_teachers_keeps_its_saved_form() -> None:
    plain = Recipe(name="r", architecture="cnn")
    assert "teachers" not in plain.to_dict() and "distill_weight" not in plain.to_dict()
    student = Recipe.from_dict({"name": "s", "architecture": "cnn", "teachers": {"fer2013": "ens"}})
    assert Recipe.from_dict(json.loads(json.dumps(student.to_dict()))) == student


def test_an_ensemble_teacher_is_recorded_by_its_members_and_their_hash(tmp_path: Path) -> None:
    """The card must say which teacher a run read: an ensemble's name may hold other members later."""
    from conftest import make_tiny_model_dir

    from fer_core.apps.cli import main
    from fer_core.serving.classifier import weights_sha256

    make_tiny_model_dir(tmp_path / "a")
    make_tiny_model_dir(tmp_path / "b", channels=3)
    assert main(["ensemble", "--members", "a", "b", "--out", str(tmp_path / "ens")]) == 0
    facts = teacher_facts({"fer2013": str(tmp_path / "ens")})
    expected = {
        "model": str(tmp_path / "ens"),
        "weights_sha256": weights_sha256(tmp_path / "ens"),
        "members": ["a", "b"],
    }
    assert facts == {"fer2013": expected}


def test_two_ensembles_of_the_same_folders_do_not_share_a_cached_teacher_output(tmp_path: Path) -> None:
    """One ensemble per head over the same joint models: each head's cached outputs are its own.

    (The cache key holds the labels as well as the weights hash, which once was the same for both.)
    """
    from conftest import make_two_head_dir

    from fer_core.apps.cli import main

    make_two_head_dir(tmp_path / "j1")
    make_two_head_dir(tmp_path / "j2")
    for head in ("fer2013", "ferplus"):
        assert main(["ensemble", "--members", f"j1@{head}", f"j2@{head}", "--out", str(tmp_path / head)]) == 0
    images = np.random.default_rng(2).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    cache = tmp_path / "cache"
    teacher_probabilities(str(tmp_path / "fer2013"), images, FER2013.names, cache)
    plus = teacher_probabilities(str(tmp_path / "ferplus"), images, FERPLUS.names, cache)
    np.testing.assert_allclose(plus, load_model(tmp_path / "ferplus", backend="torch").predict(images), atol=1e-5)


def test_a_resumed_run_learns_from_the_teacher_it_started_with(tmp_path: Path, caplog) -> None:
    from conftest import make_tiny_model_dir

    from fer_core.training.distill import PINNED_FACTS, distill_run

    teacher = make_tiny_model_dir(tmp_path / "teacher")
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (10, 48, 48), dtype=np.uint8)
    train = HeadTargets.single(images, rng.integers(0, 7, 10), FER_HEAD)
    state = tmp_path / "state"
    first, facts = distill_run(train, {"fer2013": str(teacher)}, 0.5, state_dir=state, cache_dir=tmp_path / "c")
    assert (state / PINNED_FACTS).is_file() and (state / "teacher-fer2013.npy").is_file()

    make_tiny_model_dir(teacher, channels=3)  # the teacher's folder now holds other weights
    resumed, resumed_facts = distill_run(train, {"fer2013": str(teacher)}, 0.5, state_dir=state, resume=True)
    np.testing.assert_allclose(resumed.targets, first.targets)
    assert resumed_facts == facts
    assert "changed since this run started" in caplog.text
    fresh, fresh_facts = distill_run(train, {"fer2013": str(teacher)}, 0.5, state_dir=state)  # a new run: new teacher
    assert fresh_facts != facts and not np.allclose(fresh.targets, first.targets)


def test_a_run_with_a_teacher_for_an_unknown_head_fails_before_loading_it(tmp_path: Path) -> None:
    from fer_core.training.distill import distill_run

    train = HeadTargets.single(np.zeros((2, 48, 48), np.uint8), np.zeros(2, int), FER_HEAD)
    with pytest.raises(ValueError, match="unknown heads"):
        distill_run(train, {"ferplus": str(tmp_path / "no_such_model")}, 0.5, state_dir=tmp_path / "state")
