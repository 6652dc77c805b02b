"""The command line: listing, export and bench on a tiny model directory, errors as messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fer_core.apps.cli import main
from fer_core.models import list_architectures

STUDY_ARCHITECTURES = (
    *("cnn", "cnn_mha", "vgg13", "resnet18", "vgg16", "densenet121", "vit"),
    *("convnext", "convnextv2", "clip_vision", "cct", "mcct", "ddamfn"),
)


def test_models_lists_every_architecture(capsys: pytest.CaptureFixture) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in list_architectures():
        assert f"  {name} " in out


def test_catalogue_covers_the_study_architectures() -> None:
    missing = sorted(set(STUDY_ARCHITECTURES) - set(list_architectures()))
    assert not missing, f"architectures missing from the catalogue: {missing}"


def test_export_then_bench(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--model", str(tiny_model_dir)]) == 0
    assert (tiny_model_dir / "model.onnx").is_file()
    out_json = tmp_path / "bench.json"
    args = ["bench", "--model", str(tiny_model_dir), "--batch", "1", "4", "--json", str(out_json), "--update-card"]
    assert main(args) == 0
    rows = json.loads(out_json.read_text())
    assert {row["backend"] for row in rows} == {"torch", "onnx"}
    assert all(row["ms_per_face_b1"] > 0 for row in rows)
    card = json.loads((tiny_model_dir / "card.json").read_text())
    assert card["latency_ms_per_face"] == min(row["ms_per_face_b1"] for row in rows)
    assert card["weights_mb"] > 0


def test_unknown_model_is_a_message_not_a_traceback(capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--model", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def _train_on_recipe(folder: Path, text: str) -> list[str]:
    """``train`` on a recipe file holding ``text``."""
    recipe = folder / "recipe.json"
    recipe.write_text(text)
    return ["train", "--recipe", str(recipe), "--out", str(folder / "model")]


# (case, argv built from a scratch folder, what the one error line must contain)
BAD_INPUTS = [
    ("missing recipe file", lambda d: ["train", "--recipe", str(d / "no.json"), "--out", str(d / "m")], "no.json"),
    ("recipe not JSON", lambda d: _train_on_recipe(d, "{oops"), "recipe.json: not valid JSON"),
    ("recipe is a list", lambda d: _train_on_recipe(d, "[1]"), "recipe.json: a recipe is a JSON object"),
    (
        "bad recipe value",
        lambda d: _train_on_recipe(d, '{"architecture": "cnn", "epochs": "many"}'),
        "epochs must be an integer",
    ),
    ("bad recipe choice", lambda d: _train_on_recipe(d, '{"architecture": "cnn", "optimizer": "x"}'), "adamw, sgd"),
    ("unknown model", lambda d: ["export", "--model", "no-such-model"], "unknown model 'no-such-model'"),
    ("folder without weights", lambda d: ["export", "--model", str(d)], "no model.safetensors"),
    ("ensemble export", lambda d: ["export", "--model", "ensemble_fer2013"], "is an ensemble of"),
    ("ensemble quantize", lambda d: ["quantize", "--model", "ensemble_fer2013"], "quantize works on one trained"),
    ("ensemble balance", lambda d: ["balance", "--model", "ensemble_ferplus"], "balance works on one trained"),
    (
        "missing dataset",
        lambda d: ["evaluate", "--dataset", "fer2013", "--dataset-path", str(d / "none")],
        "dataset path does not exist",
    ),
    ("missing training state", lambda d: ["status", str(d / "none")], "no status.json"),
    (
        "misspelt corruption, refused before the data is read",
        lambda d: ["evaluate", "--dataset", "fer2013", "--dataset-path", str(d / "none"), "--corruptions", "smudge"],
        "unknown corruption smudge; known: blur",
    ),
]


@pytest.mark.parametrize(("case", "argv", "expected"), BAD_INPUTS, ids=[case for case, *_ in BAD_INPUTS])
def test_bad_input_is_one_error_line_and_exit_2(
    case: str, argv, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(argv(tmp_path)) == 2, case
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert expected in err and "Traceback" not in err


def test_ensemble_export_from_the_shell_is_one_line_without_a_traceback() -> None:
    """The command as users type it: the error travels through ``python -m fer_core`` unchanged."""
    done = subprocess.run(
        [sys.executable, "-m", "fer_core", "export", "--model", "ensemble_fer2013"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        timeout=600,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "ensemble_fer2013 is an ensemble of" in done.stderr


def test_unknown_recipe_names_the_shipped_ones(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--recipe", "nope", "--out", str(tmp_path / "m"), "--dataset", "fer2013"]) == 2
    assert "shipped: " in capsys.readouterr().err


def _synthetic_fer2013(root: Path, per_class: int = 3) -> Path:
    """A tiny FER2013 folder tree with train, PublicTest and PrivateTest images of every class."""
    import cv2
    import numpy as np

    from fer_core.labels import FER2013

    rng = np.random.default_rng(0)
    for name in FER2013.names:
        for usage, folder in (("Training", "train"), ("PublicTest", "test"), ("PrivateTest", "test")):
            for i in range(per_class):
                path = root / folder / name / f"{usage}_{name}{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), rng.integers(0, 256, (48, 48), dtype=np.uint8))
    return root


def test_train_then_evaluate_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The training entry point on CPU with a tiny config: model dir, card, history, then a stored run."""
    data = _synthetic_fer2013(tmp_path / "fer2013")
    recipe = tmp_path / "tiny.json"
    recipe.write_text(
        json.dumps({"architecture": "cnn", "arch_args": {"widths": [8, 16]}, "epochs": 2, "batch_size": 8})
    )
    out = tmp_path / "models" / "tiny"
    assert (
        main(["train", "--recipe", str(recipe), "--dataset", "fer2013", "--dataset-path", str(data), "--out", str(out)])
        == 0
    )
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["selection_split"] == "PublicTest" and card["training"]["epochs"] == 2
    assert 0 < card["training"]["cpu_hours"] < 1 and card["mflops"] > 0  # the zoo's cost columns
    assert (out / "history.csv").read_text().count("\n") == 3
    history = pd.read_csv(out / "history.csv")
    assert card["training"]["cpu_hours_from"] == "process CPU time"
    assert card["training"]["cpu_hours"] == pytest.approx(history["cpu_seconds"].sum() / 3600, abs=1e-5)
    args = ["evaluate", "--model", str(out), "--dataset", "fer2013", "--dataset-path", str(data), "--resize-grid"]
    assert main(args) == 0
    card = json.loads((out / "card.json").read_text())
    from fer_core.evaluation import metrics
    from fer_core.store.runs import load_run

    run = load_run(out / "runs" / "fer2013-test.parquet")
    clean = metrics.condition_rows(run.rows, "clean")
    assert len(clean) == 21 and run.rows["condition"].nunique() == 37
    assert card["metrics"]["test"]["accuracy"] == round(metrics.accuracy(clean), 5)
    recipe.write_text(json.dumps({"architecture": "cnn", "arch_args": {"widths": [8, 16]}, "epochs": 1}))
    again = ["train", "--recipe", str(recipe), "--dataset", "fer2013", "--dataset-path", str(data), "--out", str(out)]
    assert main(again) == 0
    assert not list((out / "runs").iterdir()), "a run of the weights just replaced would be shown as the new model's"


def test_fine_tune_from_a_trained_model_records_its_source(tmp_path: Path) -> None:
    """``init_from`` in a recipe: the second run starts from the first's weights and its card names them."""
    from fer_core.serving.classifier import weights_sha256

    data = _synthetic_fer2013(tmp_path / "fer2013", per_class=2)
    network = {"architecture": "cnn", "arch_args": {"widths": [8]}, "epochs": 1, "batch_size": 4}
    source, tuned = tmp_path / "source", tmp_path / "tuned"
    for out, extra in ((source, {}), (tuned, {"init_from": str(source), "lr": 0.0001})):
        recipe = tmp_path / f"{out.name}.json"
        recipe.write_text(json.dumps({**network, **extra}))
        argv = ["train", "--recipe", str(recipe), "--dataset", "fer2013", "--dataset-path", str(data), "--out"]
        assert main([*argv, str(out)]) == 0
    card = json.loads((tuned / "card.json").read_text())
    assert card["training"]["init_from"]["weights_sha256"] == weights_sha256(source)
    assert card["training"]["init_from"]["model"] == "source"
    assert card["training"]["recipe"]["init_from"] == str(source)
    assert card["provenance"].startswith("fine-tuned by python -m fer_core train --recipe tuned from source")


def test_fine_tune_from_another_network_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from conftest import make_tiny_model_dir

    source = make_tiny_model_dir(tmp_path / "widths_8_16")
    data = _synthetic_fer2013(tmp_path / "fer2013", per_class=1)
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"architecture": "cnn", "arch_args": {"widths": [8]}, "init_from": str(source)}))
    argv = ["train", "--recipe", str(recipe), "--dataset", "fer2013", "--dataset-path", str(data)]
    assert main([*argv, "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "is another network than the recipe builds (arch_args: recipe {'widths': [8]}" in err
    assert not (tmp_path / "m").exists()


def test_train_from_a_pack(tmp_path: Path) -> None:
    """The remote-GPU path: pack train+val, train from the pack only."""
    from fer_core.data import load_split
    from fer_core.data.pack import write_pack

    data = _synthetic_fer2013(tmp_path / "fer2013", per_class=2)
    pack = write_pack({s: load_split("fer2013", data, s) for s in ("train", "val")}, tmp_path / "fer2013.npz")
    recipe = tmp_path / "tiny.json"
    recipe.write_text(json.dumps({"architecture": "cnn", "arch_args": {"widths": [8]}, "epochs": 1, "batch_size": 4}))
    out = tmp_path / "from_pack"
    assert (
        main(["train", "--recipe", str(recipe), "--pack", str(pack), "--out", str(out), "--dataset-path", "none"]) == 0
    )
    assert json.loads((out / "card.json").read_text())["training"]["train_samples"] == 14


def test_train_zoo_trains_several_recipes_and_bundles_them(tmp_path: Path) -> None:
    """scripts/train_zoo.py, the many-models-per-GPU-call driver, end to end on CPU with two tiny recipes."""
    import importlib.util
    import tarfile

    from fer_core.data import load_split
    from fer_core.data.pack import write_pack

    data = _synthetic_fer2013(tmp_path / "fer2013", per_class=2)
    pack = write_pack({s: load_split("fer2013", data, s) for s in ("train", "val")}, tmp_path / "fer2013.npz")
    recipes = []
    for name, arch, args in (("tiny_cnn", "cnn", {"widths": [8]}), ("tiny_cct", "cct", {"embed_dim": 32, "depth": 1})):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"architecture": arch, "arch_args": args, "epochs": 1, "batch_size": 4}))
        recipes.append(str(path))
    script = Path(__file__).resolve().parents[3] / "scripts" / "train_zoo.py"
    spec = importlib.util.spec_from_file_location("train_zoo", script)
    train_zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_zoo)
    out = tmp_path / "out"
    argv = ["--recipes", *recipes, "--pack", f"fer2013={pack}", "--out", str(out), "--work", str(tmp_path / "w")]
    assert train_zoo.main(argv) == 0
    with tarfile.open(out / "models-0.tar") as tar:
        names = set(tar.getnames())
    assert {"tiny_cnn/card.json", "tiny_cct/model.safetensors"} <= names
    assert (out / "logs.tar").is_file()


def test_predict_finds_small_head_shots_in_a_large_photo_and_explains_an_empty_one(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The photo preset and the Image page's decoding: four faces of 24-80 px in a 1600x1200 JPEG."""
    import cv2
    import numpy as np

    from fer_core.bench.detection import compose_scene, face_free_images, match_faces, skimage_faces

    backgrounds = dict(face_free_images())
    faces = skimage_faces()[:4]
    rng = np.random.default_rng(1)
    scene = compose_scene("heads", backgrounds["rocket"], faces, [80, 60, 40, 24], (1600, 1200), rng)
    photo, empty = tmp_path / "heads.jpg", tmp_path / "coffee.png"
    cv2.imwrite(str(photo), scene.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    cv2.imwrite(str(empty), backgrounds["coffee"])
    assert main(["predict", "--model", str(tiny_model_dir), str(photo), str(empty)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    boxes = np.array([[r[k] for k in ("x1", "y1", "x2", "y2")] for r in records if r["image"] == str(photo)])
    found, false = match_faces(scene.boxes, boxes.reshape(-1, 4))
    assert false == 0
    assert found[np.array(scene.sizes) >= 40].all(), "every face of 40 px or more"
    (no_face,) = [r for r in records if r["image"] == str(empty)]
    assert no_face["faces"] == 0 and "24 px or larger" in no_face["why"]


def test_train_a_student_distilled_from_a_teacher(tmp_path: Path, tiny_model_dir: Path, monkeypatch) -> None:
    from fer_core.serving.classifier import weights_sha256

    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))  # the teacher's cached probabilities go here
    data = _synthetic_fer2013(tmp_path / "fer2013")
    recipe = tmp_path / "student.json"
    spec = {"architecture": "cnn", "arch_args": {"widths": [8, 16]}, "epochs": 1, "batch_size": 8}
    recipe.write_text(json.dumps({**spec, "teachers": {"fer2013": str(tiny_model_dir)}, "distill_weight": 0.7}))
    out = tmp_path / "student"
    args = ["train", "--recipe", str(recipe), "--dataset", "fer2013", "--dataset-path", str(data), "--out", str(out)]
    assert main(args) == 0
    saved = json.loads((out / "card.json").read_text())["training"]["recipe"]
    assert saved["teachers"] == {"fer2013": str(tiny_model_dir)} and saved["distill_weight"] == 0.7
    teachers = json.loads((out / "card.json").read_text())["training"]["teachers"]
    assert teachers == {"fer2013": {"model": str(tiny_model_dir), "weights_sha256": weights_sha256(tiny_model_dir)}}
    assert len(list((tmp_path / "cache").glob("teacher-*.npy"))) == 1


def test_cpu_description_names_the_model_and_the_int8_extension(tmp_path: Path) -> None:
    from fer_core.bench.latency import cpu_description

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma\n\nprocessor\t: 1\n")
    assert cpu_description(cpuinfo) == "AMD EPYC (AVX2, no VNNI)"
    cpuinfo.write_text("model name\t: Intel Xeon\nflags\t\t: avx2 avx512f avx512_vnni\n")
    assert cpu_description(cpuinfo) == "Intel Xeon (AVX-512, VNNI)"
    assert cpu_description(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [([], False), (["--corruptions"], True), (["--corruptions", "tight", "shift"], ["tight", "shift"])],
)
def test_corruptions_flag_alone_means_every_kind_and_with_names_only_those(argv: list[str], expected) -> None:
    from fer_core.apps.cli import _corruption_kinds, build_parser

    args = build_parser().parse_args(["evaluate", "--dataset", "fer2013", *argv])
    assert _corruption_kinds(args.corruptions) == expected


def test_an_ensemble_given_new_members_loses_the_runs_of_the_old_ones(tmp_path: Path) -> None:
    from conftest import make_tiny_model_dir
    from run_fixtures import synthetic_rows, write_run_files

    from fer_core.labels import FER2013
    from fer_core.serving.classifier import weights_sha256

    make_tiny_model_dir(tmp_path / "a")
    make_tiny_model_dir(tmp_path / "b", channels=3)  # other weights than a's
    out = tmp_path / "ens"
    assert main(["ensemble", "--members", "a", "b", "--out", str(out)]) == 0
    info = {"weights_sha256": weights_sha256(out)}
    write_run_files(
        out, synthetic_rows(n=10), dataset="fer2013", split="test", labels=FER2013.names, label_set="fer2013", info=info
    )
    assert main(["ensemble", "--members", "a", "b", "--out", str(out)]) == 0  # the same members: the run stays
    assert (out / "runs" / "fer2013-test.parquet").is_file()
    assert main(["ensemble", "--members", "b", "a", "--out", str(out)]) == 0
    assert sorted((out / "runs").iterdir()) == []
