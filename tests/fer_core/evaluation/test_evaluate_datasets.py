"""``python -m fer_core evaluate`` on any dataset a user has: AffectNet, RAF-DB, an ImageFolder, with tiny models.

Each run must be one the dashboard reads (fer_core.store.runs), scored on the classes model and dataset share.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_tiny_model_dir
from dataset_trees import make_affectnet_tree, make_rafdb_tree

from fer_core.apps.cli import main
from fer_core.apps.workflows import matching_head
from fer_core.labels import FER2013, FERPLUS
from fer_core.store.runs import load_run, scan_runs


def tiny_model(tmp_path: Path, name: str, labels: tuple[str, ...], trained_on: str) -> Path:
    """A tiny model whose card says what it was trained on, with known headline test metrics."""
    model_dir = make_tiny_model_dir(tmp_path / "checkpoints" / name, labels=labels)
    card = json.loads((model_dir / "card.json").read_text())
    card["training"] = {"dataset": trained_on}
    card["metrics"] = {"test": {"dataset": trained_on, "accuracy": 0.5}}
    (model_dir / "card.json").write_text(json.dumps(card))
    return model_dir


def evaluate(model_dir: Path, dataset: str, root: Path, *extra: str) -> int:
    return main(["evaluate", "--model", str(model_dir), "--dataset", dataset, "--dataset-path", str(root), *extra])


def test_fer2013_model_on_affectnet_drops_and_counts_contempt(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model_dir = tiny_model(tmp_path, "tiny_fer2013", FER2013.names, "fer2013")
    assert evaluate(model_dir, "affectnet", make_affectnet_tree(tmp_path), "--resize-grid") == 0
    assert "release publishes 4,000" in capsys.readouterr().err  # 8 images, not the 4,000 of the release
    run = load_run(model_dir / "runs" / "affectnet-test.parquet")
    assert (run.dataset, run.split, run.labels) == ("affectnet", "test", FER2013.names)
    assert run.info.scoring["images_dropped"] == {"contempt": 1}
    assert run.info.dropped == {"class contempt not in fer2013": 1}
    assert run.info.num_samples == 7 and run.info.layout == "affectnet"
    clean = run.rows[run.rows["condition"] == "clean"]
    assert "affectnet/val_set/images/107" not in set(clean["sample_id"])
    assert {"valence", "arousal"} <= set(run.rows.columns) and "landmarks" not in run.rows.columns
    card = json.loads((model_dir / "card.json").read_text())
    assert card["metrics"]["test"] == {"dataset": "fer2013", "accuracy": 0.5}  # not overwritten by another dataset


def test_ferplus_model_on_rafdb_chooses_among_the_seven_classes(tmp_path: Path) -> None:
    model_dir = tiny_model(tmp_path, "tiny_ferplus", FERPLUS.names, "ferplus")
    assert evaluate(model_dir, "rafdb", make_rafdb_tree(tmp_path)) == 0
    run = load_run(model_dir / "runs" / "rafdb-test.parquet")
    assert run.labels == FER2013.names and run.info.label_set == "fer2013"
    assert run.info.scoring["predictions_removed"] == ["contempt"]
    probs = run.rows[[f"p_{n}" for n in FER2013.names]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-3)
    assert run.rows["label"].tolist() == [FER2013.index(n) for n in ("happy", "neutral", "angry")]


def test_seven_class_affectnet_view_is_its_own_run(tmp_path: Path) -> None:
    model_dir = tiny_model(tmp_path, "tiny_ferplus", FERPLUS.names, "ferplus")
    root = make_affectnet_tree(tmp_path)
    assert evaluate(model_dir, "affectnet", root) == 0
    assert evaluate(model_dir, "affectnet7", root) == 0
    eight, seven = (load_run(model_dir / "runs" / f"{d}-test.parquet") for d in ("affectnet", "affectnet7"))
    assert eight.info.scoring is None and len(eight.rows) == 8
    assert seven.labels == FER2013.names and len(seven.rows) == 7


def test_image_folder_run_is_named_after_the_folder_or_the_given_id(tmp_path: Path) -> None:
    model_dir = tiny_model(tmp_path, "tiny_fer2013", FER2013.names, "fer2013")
    root = tmp_path / "kids_faces"
    for i, name in enumerate(("Happiness", "sad", "contempt")):
        (root / name).mkdir(parents=True)
        assert cv2.imwrite(str(root / name / f"{i}.png"), np.full((64, 80, 3), 40 * i, np.uint8))
    assert evaluate(model_dir, "imagefolder", root, "--label-set", "ferplus") == 0
    run = load_run(model_dir / "runs" / "kids_faces-test.parquet")
    assert (run.dataset, run.info.layout, run.info.num_samples) == ("kids_faces", "imagefolder", 2)
    assert run.info.scoring["images_dropped"] == {"contempt": 1}
    (root / "contempt" / "2.png").unlink()
    (root / "contempt").rmdir()
    assert evaluate(model_dir, "imagefolder", root, "--dataset-id", "class photos/2024") == 0
    named = load_run(model_dir / "runs" / "class_photos_2024-test.parquet")
    assert named.dataset == "class photos/2024" and named.info.scoring is None
    assert [run.dataset for run in scan_runs(tmp_path / "checkpoints").runs] == ["class photos/2024", "kids_faces"]


def test_model_and_dataset_without_a_shared_class_is_a_message(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model_dir = make_tiny_model_dir(tmp_path / "odd", labels=("bored", "sleepy"))
    assert evaluate(model_dir, "rafdb", make_rafdb_tree(tmp_path)) == 2
    assert "no class in common" in capsys.readouterr().err


def test_label_set_is_only_for_an_image_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model_dir = tiny_model(tmp_path, "tiny_fer2013", FER2013.names, "fer2013")
    assert evaluate(model_dir, "rafdb", make_rafdb_tree(tmp_path), "--label-set", "ferplus") == 2
    assert "--label-set names an ImageFolder's classes" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("model", "dataset", "label_set", "head"),
    [
        ("two", "affectnet", None, "ferplus"),
        ("two", "affectnet7", None, "fer2013"),
        ("two", "rafdb", None, "fer2013"),
        ("two", "imagefolder", "ferplus", "ferplus"),
        ("two", "imagefolder", None, None),  # the model's own default head
        ("two@ferplus", "rafdb", None, "ferplus"),  # an explicit head is kept
    ],
)
def test_a_two_head_model_is_scored_with_the_head_of_the_dataset(
    tmp_path: Path, model: str, dataset: str, label_set: str | None, head: str | None
) -> None:
    directory = tmp_path / "two"
    directory.mkdir()
    heads = {"fer2013": {"labels": list(FER2013.names)}, "ferplus": {"labels": list(FERPLUS.names)}}
    (directory / "card.json").write_text(json.dumps({"id": "two", "heads": heads, "default_head": "fer2013"}))
    name = str(tmp_path / model)
    assert matching_head(name, dataset, label_set) == head
