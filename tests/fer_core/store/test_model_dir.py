"""Checkpoints / ModelDir: resolving names, paths of a directory's files, atomic and serialised card updates."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from fer_core.store.card import ModelCard
from fer_core.store.json_files import ModelLoadError
from fer_core.store.model_dir import CHECKPOINTS_DIR, Checkpoints, ModelDir, split_head


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in ("alpha", "beta"):
        ModelDir(tmp_path / name).write_card(ModelCard(id=name, labels=("a", "b")))
    (tmp_path / "runs_only" / "runs").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    (tmp_path / "default.json").write_text(json.dumps({"model": "beta"}))
    return tmp_path


@pytest.mark.parametrize(
    ("name", "expected"),
    [("alpha", "alpha"), ("default", "beta"), ("empty", "empty")],
)
def test_resolve_names(root: Path, name: str, expected: str) -> None:
    assert Checkpoints(root).resolve(name).path == root / expected


def test_resolve_a_path_outside_the_root(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    assert Checkpoints(root).resolve(str(elsewhere)).path == elsewhere


def test_unknown_name_lists_the_known_ones(root: Path) -> None:
    with pytest.raises(ModelLoadError, match="known: alpha, beta"):
        Checkpoints(root).resolve("gamma")


def test_listing(root: Path) -> None:
    checkpoints = Checkpoints(root)
    assert checkpoints.names() == ["alpha", "beta"]
    assert [d.name for d in checkpoints.model_dirs()] == ["alpha", "beta", "runs_only"]
    assert checkpoints.default_name() == "beta"
    assert checkpoints.read_card("alpha@head").id == "alpha"


def test_root_from_the_environment(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FER_CHECKPOINTS_DIR", str(root))
    assert Checkpoints.at().root == root
    assert Checkpoints.at(root / "x").root == root / "x"
    monkeypatch.delenv("FER_CHECKPOINTS_DIR")
    assert Checkpoints.at().root == CHECKPOINTS_DIR


@pytest.mark.parametrize(
    ("attribute", "relative"),
    [
        ("card_path", "card.json"),
        ("config_path", "config.json"),
        ("weights_path", "model.safetensors"),
        ("onnx_path", "model.onnx"),
        ("history_path", "history.csv"),
        ("runs_dir", "runs"),
    ],
)
def test_paths(tmp_path: Path, attribute: str, relative: str) -> None:
    assert getattr(ModelDir(tmp_path), attribute) == tmp_path / relative


@pytest.mark.parametrize(
    ("dataset", "split", "stem"),
    [("fer2013", "test", "fer2013-test"), ("my faces/2024", "test", "my_faces_2024-test"), ("../x", "val", "x-val")],
)
def test_run_paths_and_the_card_reference_agree(tmp_path: Path, dataset: str, split: str, stem: str) -> None:
    parquet, sidecar = ModelDir(tmp_path).run_paths(dataset, split)
    assert (parquet, sidecar) == (tmp_path / "runs" / f"{stem}.parquet", tmp_path / "runs" / f"{stem}.json")
    assert tmp_path / ModelDir.run_reference(dataset, split) == parquet


@pytest.mark.parametrize(
    ("text", "expected"),
    [("joint@fer2013", ("joint", "fer2013")), ("joint", ("joint", None)), ("a/b@c/d", ("a/b@c/d", None))],
)
def test_split_head(text: str, expected: tuple) -> None:
    assert split_head(text) == expected


def test_update_card_is_atomic_and_keeps_other_fields(root: Path) -> None:
    directory = ModelDir(root / "alpha")
    directory.update_card(lambda card: setattr(card, "params", 7))
    assert directory.read_card() == ModelCard(id="alpha", labels=("a", "b"), params=7)
    assert sorted(p.name for p in directory.path.iterdir()) == ["card.json"]  # no temporary or lock file left


def test_concurrent_updates_lose_nothing(root: Path) -> None:
    directory = ModelDir(root / "alpha")

    def add(key: str) -> None:
        directory.update_card(lambda card: card.extra.__setitem__(key, True))

    threads = [threading.Thread(target=add, args=(f"k{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(directory.read_card().extra) == [f"k{i}" for i in range(8)]


def test_a_bad_card_names_its_file(root: Path) -> None:
    (root / "alpha" / "card.json").write_text('{"labels": "a"}')
    with pytest.raises(ModelLoadError, match=r"alpha/card\.json: missing or empty 'labels'"):
        ModelDir(root / "alpha").read_card()


def test_reading_cards_and_runs_imports_neither_torch_nor_opencv() -> None:
    """The dashboard reads cards and stored runs only: it must not pay for torch or OpenCV at import."""
    import subprocess
    import sys

    code = (
        "import sys, fer_core.store.runs, fer_core.store.model_dir; print('torch' in sys.modules, 'cv2' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
