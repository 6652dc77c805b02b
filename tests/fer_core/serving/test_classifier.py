"""Model directories: save/load round trips, default model, hub directories, refusal of unsafe or broken dirs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import hub_vit_dir, make_tiny_model_dir

from fer_core.labels import FERPLUS
from fer_core.serving.classifier import ModelLoadError, load_model
from fer_core.store.model_dir import CHECKPOINTS_DIR, Checkpoints

rng = np.random.default_rng(0)


def random_crops(n: int, shape=(64, 64, 3)) -> list[np.ndarray]:
    return list(rng.integers(0, 256, (n, *shape), dtype=np.uint8))


@pytest.mark.parametrize("labels", [None, FERPLUS.names])
@pytest.mark.parametrize("channels", [1, 3])
def test_save_load_round_trip_gives_probabilities(tmp_path: Path, labels, channels: int) -> None:
    kwargs = {"channels": channels} | ({"labels": labels} if labels else {})
    directory = make_tiny_model_dir(tmp_path / "m", **kwargs)
    clf = load_model(directory)
    probs = clf.predict([*random_crops(3), rng.integers(0, 256, (30, 20), dtype=np.uint8)])
    assert probs.shape == (4, len(clf.labels))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert clf.card.params > 0
    assert (directory / "model.safetensors").is_file() and (directory / "config.json").is_file()


def test_float16_storage_matches_float32_outputs(tiny_model_dir: Path) -> None:
    clf = load_model(tiny_model_dir)
    assert all(p.dtype == torch.float32 for p in clf.module.parameters())
    crops = random_crops(4)
    np.testing.assert_allclose(clf.predict(crops), clf.predict(crops), atol=0)


def test_empty_batch(tiny_model_dir: Path) -> None:
    assert load_model(tiny_model_dir).predict([]).shape == (0, 7)


def test_onnx_backend_matches_torch(tiny_model_dir: Path) -> None:
    from fer_core.serving.export import export_onnx

    report = export_onnx(tiny_model_dir)
    assert report["max_abs_logit_diff"] < 1e-4
    crops = random_crops(5)
    torch_probs = load_model(tiny_model_dir, backend="torch").predict(crops)
    onnx_clf = load_model(tiny_model_dir)  # auto picks ONNX once model.onnx exists
    assert onnx_clf.backend == "onnx"
    np.testing.assert_allclose(onnx_clf.predict(crops), torch_probs, atol=1e-5)


def test_a_model_saved_again_into_its_folder_is_not_hidden_by_its_old_onnx_export(tiny_model_dir: Path) -> None:
    from fer_core.serving.classifier import save_model_dir
    from fer_core.serving.export import export_onnx

    export_onnx(tiny_model_dir)
    (tiny_model_dir / "model.int8.onnx").write_bytes((tiny_model_dir / "model.onnx").read_bytes())
    old = load_model(tiny_model_dir)
    assert old.backend == "onnx"
    retrained = old.module if old.module is not None else load_model(tiny_model_dir, backend="torch").module
    with torch.no_grad():
        for parameter in retrained.parameters():
            parameter.add_(0.5)
    save_model_dir(retrained, tiny_model_dir, card=old.card)  # what train --out writes into the same folder
    assert not (tiny_model_dir / "model.onnx").exists() and not (tiny_model_dir / "model.int8.onnx").exists()
    served = load_model(tiny_model_dir)
    assert served.backend == "torch"
    crops = random_crops(5)
    assert not np.allclose(served.predict(crops), old.predict(crops), atol=1e-3)


@pytest.mark.parametrize("tta", ["flip", "tencrop"])
def test_tta_averages_views(tiny_model_dir: Path, tta: str) -> None:
    probs = load_model(tiny_model_dir, tta=tta).predict(random_crops(2))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_pickle_weights_are_refused(tmp_path: Path) -> None:
    directory = tmp_path / "pickled"
    directory.mkdir()
    (directory / "pytorch_model.bin").write_bytes(b"not really")
    (directory / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="pickle"):
        load_model(directory)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda d: (d / "card.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 20), "unreadable safetensors"),
        (lambda d: (d / "card.json").write_text(json.dumps({"id": "x", "labels": []})), "labels"),
        (lambda d: (d / "config.json").unlink(), "missing config.json"),
    ],
)
def test_malformed_directories_give_clear_errors(tiny_model_dir: Path, breakage, message: str) -> None:
    breakage(tiny_model_dir)
    with pytest.raises(ModelLoadError, match=message):
        load_model(tiny_model_dir)


def test_weights_of_the_wrong_architecture(tiny_model_dir: Path) -> None:
    config = json.loads((tiny_model_dir / "config.json").read_text())
    config["model_args"] = {"widths": [4, 8]}
    (tiny_model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="do not match"):
        load_model(tiny_model_dir)


def test_unknown_name_lists_known_models(tmp_path: Path) -> None:
    make_tiny_model_dir(tmp_path / "alpha")
    with pytest.raises(ModelLoadError, match="known: alpha"):
        load_model("nope", root=tmp_path)


def test_default_model_resolves(tmp_path: Path) -> None:
    make_tiny_model_dir(tmp_path / "alpha")
    (tmp_path / "default.json").write_text(json.dumps({"model": "alpha"}))
    checkpoints = Checkpoints.at(tmp_path)
    assert checkpoints.default_name() == "alpha"
    assert checkpoints.names() == ["alpha"]
    assert load_model("default", root=tmp_path).name == "alpha"
    assert checkpoints.read_card("alpha").architecture == "cnn"


def test_shipped_default_model_loads_and_meets_its_card() -> None:
    if not (CHECKPOINTS_DIR / "default.json").is_file():
        pytest.skip("no shipped default model in checkpoints/")
    clf = load_model("default")
    assert clf.predict(random_crops(2)).shape == (2, len(clf.labels))
    assert clf.card.params == sum(p.numel() for p in load_model("default", backend="torch").module.parameters())


def test_huggingface_hub_directory_loads(tmp_path: Path) -> None:
    hub_dir = hub_vit_dir(tmp_path / "hub-vit")
    clf = load_model(hub_dir)
    assert clf.labels == ("happy", "sad", "neutral")
    assert clf.input_size == 32 and clf.input_spec.channels == 3
    probs = clf.predict(random_crops(2))
    assert probs.shape == (2, 3)


@pytest.mark.parametrize(("key", "value"), [("in_chans", 3), ("img_size", 64), ("num_classes", 8)])
def test_a_config_that_disagrees_with_its_card_is_refused(tiny_model_dir: Path, key: str, value: int) -> None:
    config_path = tiny_model_dir / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, key: value}))
    for backend in ("torch", "onnx"):
        if backend == "onnx":
            from fer_core.serving.export import export_onnx

            config_path.write_text(json.dumps(config))
            export_onnx(tiny_model_dir)
            config_path.write_text(json.dumps({**config, key: value}))
        with pytest.raises(ModelLoadError, match=f"config.json has {key} {value} but card.json describes"):
            load_model(tiny_model_dir, backend=backend)


@pytest.mark.parametrize("threads", [1, 2])
def test_bench_runs_the_onnx_session_on_the_threads_it_reports(
    tiny_model_dir: Path, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session's thread count is fixed when it is made: the benchmark makes one with the threads it reports."""
    from fer_core.bench import latency as bench
    from fer_core.serving.export import export_onnx

    export_onnx(tiny_model_dir)
    sessions = []

    def spy(clf, path, threads=1, attach=bench.attach_onnx_file):
        attach(clf, path, threads=threads)
        sessions.append(clf.onnx_session)

    monkeypatch.setattr(bench, "attach_onnx_file", spy)
    before = torch.get_num_threads()
    try:
        row = bench.benchmark_classifier(str(tiny_model_dir), backend="onnx", threads=threads, batch_sizes=(1,))
    finally:
        torch.set_num_threads(before)  # the rest of the suite keeps its own thread count
    assert row["threads"] == threads
    assert sessions[-1].get_session_options().intra_op_num_threads == threads


@pytest.mark.parametrize("fixed_batch", [1, 3])
def test_onnx_file_with_a_fixed_batch_size_still_classifies_a_group_photo(
    tiny_model_dir: Path, fixed_batch: int
) -> None:
    """ONNX files from elsewhere are often exported with batch 1: nine faces must not crash the session."""
    import onnx

    from fer_core.serving.export import export_onnx

    export_onnx(tiny_model_dir)
    path = tiny_model_dir / "model.onnx"
    graph = onnx.load(str(path))
    for tensor in (*graph.graph.input, *graph.graph.output):
        tensor.type.tensor_type.shape.dim[0].dim_value = fixed_batch
    onnx.save(graph, str(path))
    crops = np.random.default_rng(0).integers(0, 256, (9, 48, 48), dtype=np.uint8)
    onnx_probs = load_model(tiny_model_dir, backend="onnx").predict(crops)
    torch_probs = load_model(tiny_model_dir, backend="torch").predict(crops)
    np.testing.assert_allclose(onnx_probs, torch_probs, atol=1e-4)
