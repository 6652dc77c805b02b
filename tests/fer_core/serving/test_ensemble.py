"""Ensemble model directories: members resolved beside the directory, mean probabilities, stored like any model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_tiny_model_dir
from test_classifier_heads import make_two_head_dir

from fer_core.labels import FERPLUS
from fer_core.serving.classifier import ModelLoadError, load_model, weights_sha256
from fer_core.serving.ensemble import EnsembleClassifier, save_ensemble_dir

CROPS = np.random.default_rng(0).integers(0, 255, (5, 48, 48), dtype=np.uint8)


def test_ensemble_predicts_the_mean_of_its_members(tmp_path: Path) -> None:
    make_tiny_model_dir(tmp_path / "a", labels=FERPLUS.names)
    make_two_head_dir(tmp_path / "joint")
    directory = save_ensemble_dir(tmp_path / "ens", ["a", "joint@ferplus"], load_member=load_model)
    ensemble = load_model(directory)
    assert isinstance(ensemble, EnsembleClassifier) and ensemble.labels == FERPLUS.names
    members = [load_model(tmp_path / "a"), load_model("joint@ferplus", root=tmp_path)]
    expected = (members[0].predict(CROPS) + members[1].predict(CROPS)) / 2
    np.testing.assert_allclose(ensemble.predict(CROPS), expected, atol=1e-6)
    card = json.loads((directory / "card.json").read_text())
    assert card["family"] == "ensemble" and card["params"] > 0
    assert "selection" not in card["training"]
    assert len(weights_sha256(directory)) == 64


def test_an_ensemble_card_keeps_how_its_members_were_chosen(tmp_path: Path) -> None:
    make_tiny_model_dir(tmp_path / "a", labels=FERPLUS.names)
    make_tiny_model_dir(tmp_path / "b", labels=FERPLUS.names)
    selection = {"split": "FER+ Valid (majority)", "acc_f1": 0.7, "candidates": ["a", "b", "c"]}
    directory = save_ensemble_dir(tmp_path / "ens", ["a", "b"], load_member=load_model, selection=selection)
    card = load_model(directory).card
    assert card.training_fact("selection") == selection


def test_an_ensemble_written_with_weights_serves_the_weighted_mean(tmp_path: Path) -> None:
    make_tiny_model_dir(tmp_path / "a", labels=FERPLUS.names)
    make_tiny_model_dir(tmp_path / "b", labels=FERPLUS.names, channels=3)
    directory = save_ensemble_dir(tmp_path / "ens", ["a", "b"], load_member=load_model, weights=[3, 1])
    ensemble = load_model(directory)
    assert ensemble.card.weights == (3.0, 1.0) and ensemble.card.provenance.startswith("weighted mean")
    a, b = (load_model(tmp_path / name).predict(CROPS) for name in ("a", "b"))
    np.testing.assert_allclose(ensemble.predict(CROPS), 0.75 * a + 0.25 * b, atol=1e-6)


def test_the_weights_hash_tells_apart_ensembles_that_share_their_files(tmp_path: Path) -> None:
    """Same member folders, another head or other shares of the mean: other answers, so another hash."""
    make_two_head_dir(tmp_path / "j1")
    make_two_head_dir(tmp_path / "j2")
    seven = save_ensemble_dir(tmp_path / "seven", ["j1@fer2013", "j2@fer2013"], load_member=load_model)
    eight = save_ensemble_dir(tmp_path / "eight", ["j1@ferplus", "j2@ferplus"], load_member=load_model)
    assert weights_sha256(seven) != weights_sha256(eight)
    card = json.loads((eight / "card.json").read_text())
    before = weights_sha256(eight)
    (eight / "card.json").write_text(json.dumps({**card, "weights": [3, 1]}))
    assert weights_sha256(eight) != before


def test_ensemble_refuses_members_of_another_label_set(tmp_path: Path) -> None:
    make_tiny_model_dir(tmp_path / "seven")
    make_tiny_model_dir(tmp_path / "eight", labels=FERPLUS.names)
    with pytest.raises(ValueError, match="pick members of one label set"):
        save_ensemble_dir(tmp_path / "ens", ["seven", "eight"], load_member=load_model)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([], "needs 'members'"),
        ("a", "needs 'members'"),
        (["ens"], "cannot contain itself"),
        (["nope"], "unknown model"),
    ],
)
def test_broken_ensemble_cards_are_refused(tmp_path: Path, members, message: str) -> None:
    make_tiny_model_dir(tmp_path / "a")
    directory = tmp_path / "ens"
    directory.mkdir()
    card = {"id": "ens", "family": "ensemble", "members": members, "labels": ["x"], "input": {"size": 48}}
    (directory / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match=message):
        load_model(directory)


def _ensemble(root: Path, name: str, members, **extra) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    card = {"id": name, "family": "ensemble", "members": members, "labels": ["x"], "input": {"size": 48}, **extra}
    (directory / "card.json").write_text(json.dumps(card))
    return directory


def _cycle(root: Path) -> Path:
    _ensemble(root, "ens_b", ["a", "ens"])
    return _ensemble(root, "ens", ["ens_b"])


def _outside_member(root: Path) -> Path:
    make_tiny_model_dir(root.parent / "elsewhere")
    return _ensemble(root, "ens", [str(root.parent / "elsewhere")])


def _deep_nesting(root: Path) -> Path:
    previous = "a"
    for depth in range(6):
        _ensemble(root, f"level{depth}", [previous])
        previous = f"level{depth}"
    return root / previous


HOSTILE_ENSEMBLES = {
    "cycle A -> B -> A": (_cycle, r"members form a cycle \(ens -> ens_b -> ens\)"),
    "member outside its folder": (_outside_member, "is not a model name"),
    "member ../a": (lambda r: _ensemble(r, "ens", ["../a"]), "is not a model name"),
    "nested 6 deep": (_deep_nesting, "nested more than 4 deep"),
    "NaN weight": (lambda r: _ensemble(r, "ens", ["a"], weights=[float("nan")]), "'weights' must hold"),
    "negative weight": (lambda r: _ensemble(r, "ens", ["a", "a"], weights=[2, -1]), "'weights' must hold"),
    "weights all zero": (lambda r: _ensemble(r, "ens", ["a"], weights=[0]), "'weights' must hold"),
    "one weight for two members": (lambda r: _ensemble(r, "ens", ["a", "a"], weights=[1]), "'weights' must hold"),
}


@pytest.mark.parametrize(("make", "message"), HOSTILE_ENSEMBLES.values(), ids=HOSTILE_ENSEMBLES.keys())
def test_hostile_ensemble_is_a_model_load_error(tmp_path: Path, make, message: str) -> None:
    """The app's loader catches ModelLoadError: a cycle must not end in a RecursionError, a member must not come
    from anywhere on disk, weights must be a distribution."""
    root = tmp_path / "checkpoints"
    make_tiny_model_dir(root / "a")
    directory = make(root)
    with pytest.raises(ModelLoadError, match=message) as caught:
        load_model(directory)
    assert "card.json" in str(caught.value)


def test_the_ensemble_command_takes_one_weight_per_member(tmp_path: Path, capsys) -> None:
    from fer_core.apps.cli import main

    make_tiny_model_dir(tmp_path / "a", labels=FERPLUS.names)
    make_tiny_model_dir(tmp_path / "b", labels=FERPLUS.names, channels=3)
    out = str(tmp_path / "ens")
    assert main(["ensemble", "--members", "a", "b", "--out", out, "--weights", "2", "1"]) == 0
    assert load_model(tmp_path / "ens").card.weights == (2.0, 1.0)
    for bad in (["1"], ["1", "-1"], ["0", "0"]):
        assert main(["ensemble", "--members", "a", "b", "--out", out, "--weights", *bad]) == 2
        assert "non-negative number per member (2)" in capsys.readouterr().err
    assert load_model(tmp_path / "ens").card.weights == (2.0, 1.0)  # a refused command leaves it as it was


def test_an_ensemble_that_would_not_load_is_never_written(tmp_path: Path) -> None:
    """The weights are checked where the card is written, not only on load: a NaN weight used to be saved and then
    made the ensemble fail to load."""
    from fer_core.apps.cli import main

    make_tiny_model_dir(tmp_path / "a", labels=FERPLUS.names)
    with pytest.raises(ValueError, match="'weights' must hold"):
        save_ensemble_dir(tmp_path / "ens", ["a", "a"], load_member=load_model, weights=[float("nan"), 1])
    assert not (tmp_path / "ens").exists()
    assert main(["ensemble", "--members", "a", "a", "--out", str(tmp_path / "ens"), "--weights", "nan", "1"]) == 2
    assert not (tmp_path / "ens").exists()
