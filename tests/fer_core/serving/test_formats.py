"""The models people bring, built small and random in the layouts users have them in.

Each layout is loaded without a hand-written card; its predictions are checked against the model's own reference
preprocessing (transformers ``AutoImageProcessor``, timm ``resolve_data_config`` + ``create_transform``, or the raw
ONNX graph) within 1e-3 on probabilities, on colour face crops of several sizes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fer_core.serving.classifier import ModelLoadError, import_model, load_model

LABELS = ("happy", "sad", "neutral")
TOLERANCE = 1e-3


def colour_crops(n: int = 3, seed: int = 0) -> list[np.ndarray]:
    """Smooth colour BGR crops of several sizes and aspect ratios (like detected faces)."""
    rng = np.random.default_rng(seed)
    shapes = [(61, 53), (130, 117), (40, 40), (97, 150)][:n]
    crops = []
    for height, width in shapes:
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        import cv2

        crops.append(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC))
    return crops


def rgb(crop: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(crop[:, :, ::-1])


def softmax(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.float(), dim=1).detach().numpy()


# ------------------------------------------------------------------------------------------------ transformers


def hf_vit(directory: Path) -> None:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(
        image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    _save_hf(ViTForImageClassification, config, ViTImageProcessor(size={"height": 32, "width": 32}), directory)


def hf_convnext(directory: Path) -> None:
    from transformers import ConvNextConfig, ConvNextForImageClassification, ConvNextImageProcessor

    config = ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, patch_size=4)
    processor = ConvNextImageProcessor(size={"shortest_edge": 48}, crop_pct=0.875)
    _save_hf(ConvNextForImageClassification, config, processor, directory)


def hf_clip(directory: Path) -> None:
    from transformers import CLIPConfig, CLIPForImageClassification, CLIPImageProcessor

    vision = {
        "image_size": 32,
        "patch_size": 8,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
    }
    text = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(vision_config=vision, text_config=text, projection_dim=8)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    _save_hf(CLIPForImageClassification, config, processor, directory)


def _save_hf(model_class, config, processor, directory: Path) -> None:
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {name: i for i, name in enumerate(LABELS)}
    torch.manual_seed(0)
    model_class(config).eval().save_pretrained(directory, safe_serialization=True)
    processor.save_pretrained(directory)


def hf_reference(directory: Path, crops: list[np.ndarray]) -> np.ndarray:
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    processor = AutoImageProcessor.from_pretrained(directory, local_files_only=True)
    model = AutoModelForImageClassification.from_pretrained(directory, local_files_only=True).eval()
    with torch.inference_mode():
        inputs = processor(images=[rgb(c) for c in crops], return_tensors="pt")
        return softmax(model(**inputs).logits)


@pytest.mark.parametrize("build", [hf_vit, hf_convnext, hf_clip], ids=["vit", "convnext", "clip"])
def test_transformers_directory_matches_its_own_processor(tmp_path: Path, build) -> None:
    directory = tmp_path / build.__name__
    build(directory)
    clf = load_model(directory)
    crops = colour_crops(4)
    assert clf.labels == LABELS and clf.input_spec.color == "rgb"
    np.testing.assert_allclose(clf.predict(crops), hf_reference(directory, crops), atol=TOLERANCE)
    assert (directory / "card.json").is_file(), "the derived card is written beside the model on first use"


def test_convnext_card_records_its_crop_and_bicubic_resample(tmp_path: Path) -> None:
    hf_convnext(tmp_path / "convnext")
    spec = load_model(tmp_path / "convnext").input_spec
    assert (spec.size, spec.resize, spec.resize_edge, spec.interpolation) == (48, "shortest_edge", 54, "bicubic")


# ------------------------------------------------------------------------------------------------ timm


def timm_dir(directory: Path, name: str = "test_resnet", size: int = 40, crop_pct: float = 0.9) -> nn.Module:
    """A timm model saved the way timm's own ``save_for_hf`` (and ``push_to_hf_hub``) writes it."""
    import timm
    from timm.models import save_for_hf

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=len(LABELS)).eval()
    model.pretrained_cfg = {
        **model.pretrained_cfg,
        "input_size": (3, size, size),
        "crop_pct": crop_pct,
        "interpolation": "bicubic",
    }
    save_for_hf(model, str(directory), model_config={"label_names": list(LABELS)}, safe_serialization=True)
    return model


def test_timm_directory_matches_timm_transform(tmp_path: Path) -> None:
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    model = timm_dir(tmp_path / "timm")
    config = json.loads((tmp_path / "timm" / "config.json").read_text())
    assert config["architecture"] == "test_resnet" and config["label_names"] == list(LABELS)
    clf = load_model(tmp_path / "timm")
    crops = colour_crops(4)
    transform = create_transform(**resolve_data_config(model=model))
    with torch.inference_mode():
        reference = softmax(model(torch.stack([transform(Image.fromarray(rgb(c))) for c in crops])))
    assert clf.labels == LABELS and clf.input_spec.resize_edge == 44
    np.testing.assert_allclose(clf.predict(crops), reference, atol=TOLERANCE)


# ------------------------------------------------------------------------------------------------ ONNX


class TinyNet(nn.Module):
    def __init__(self, channels: int, nhwc: bool, softmax_out: bool) -> None:
        super().__init__()
        self.nhwc, self.softmax_out = nhwc, softmax_out
        self.conv = nn.Conv2d(channels, 4, 3, stride=2)
        self.head = nn.Linear(4, len(LABELS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.nhwc:
            x = x.permute(0, 3, 1, 2)
        logits = self.head(self.conv(x).mean(dim=(2, 3)))
        return torch.softmax(logits, dim=1) if self.softmax_out else logits


def onnx_file(
    path: Path, *, channels: int = 3, size: int = 32, nhwc: bool = False, fixed: bool = False, probs: bool = False
) -> Path:
    torch.manual_seed(0)
    model = TinyNet(channels, nhwc, probs).eval()
    shape = (1, size, size, channels) if nhwc else (1, channels, size, size)
    axes = None if fixed else {"input": {0: "batch"}, "logits": {0: "batch"}}
    torch.onnx.export(
        model,
        torch.zeros(shape),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes=axes,
        dynamo=False,
    )
    import onnx

    graph = onnx.load(str(path))
    onnx.helper.set_model_props(graph, {"labels": json.dumps(LABELS)})  # class names, as exporters can record them
    onnx.save(graph, str(path))
    return path


ONNX_LAYOUTS = {
    "nchw-dynamic-logits": {},
    "nhwc-dynamic-logits": {"nhwc": True},
    "nchw-batch1-logits": {"fixed": True},
    "nhwc-batch1-softmax": {"nhwc": True, "fixed": True, "probs": True},
    "nchw-dynamic-softmax": {"probs": True},
    "grey48-dynamic-logits": {"channels": 1, "size": 48},
}


@pytest.mark.parametrize("layout", ONNX_LAYOUTS, ids=list(ONNX_LAYOUTS))
def test_bare_onnx_file_is_detected_and_served(tmp_path: Path, layout: str) -> None:
    import onnxruntime as ort

    options = ONNX_LAYOUTS[layout]
    path = onnx_file(tmp_path / "model.onnx", **options)
    clf = load_model(path)
    facts = clf.onnx_facts
    assert facts.layout == ("NHWC" if options.get("nhwc") else "NCHW")
    assert facts.batch == (1 if options.get("fixed") else None)
    assert facts.outputs == ("probabilities" if options.get("probs") else "logits")
    crops = colour_crops(3)  # three faces through a batch-1 model: run one at a time
    got = clf.predict(crops)
    batch = np.stack([clf.input_spec and _onnx_input(c, clf.input_spec) for c in crops])
    batch = batch.transpose(0, 2, 3, 1) if options.get("nhwc") else batch
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    raw = np.concatenate([session.run(None, {"input": batch[i : i + 1]})[0] for i in range(len(batch))])
    expected = raw if options.get("probs") else np.exp(raw) / np.exp(raw).sum(1, keepdims=True)
    np.testing.assert_allclose(got, expected, atol=1e-5)  # softmax applied exactly once


def _onnx_input(crop: np.ndarray, spec) -> np.ndarray:
    """The documented default for an ONNX file: pixels / 255, RGB for 3 channels, squashed to its size."""
    import cv2

    image = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)[:, :, None] if spec.channels == 1 else rgb(crop)
    from PIL import Image

    if spec.interpolation == "area_linear":
        mode = cv2.INTER_AREA if max(image.shape[:2]) > spec.size else cv2.INTER_LINEAR
        image = cv2.resize(image, (spec.size, spec.size), interpolation=mode).reshape(spec.size, spec.size, -1)
    else:
        image = np.asarray(Image.fromarray(image).resize((spec.size, spec.size), Image.BILINEAR))
    return (image.astype(np.float32) / 255.0).transpose(2, 0, 1)


def test_onnx_without_labels_asks_for_them(tmp_path: Path) -> None:
    path = tmp_path / "five.onnx"
    torch.onnx.export(
        nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 5)), torch.zeros(1, 3, 16, 16), str(path), dynamo=False
    )
    with pytest.raises(ModelLoadError, match="--labels"):
        load_model(path)


# ------------------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize("name", ["model.h5", "model.hdf5", "model.keras", "model.tflite"])
def test_keras_files_get_the_conversion_route(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"\x89HDF\r\n")
    with pytest.raises(
        ModelLoadError, match=r"not supported.*python -m tf2onnx\.convert --keras.*Supported: a transformers"
    ):
        load_model(tmp_path / name)


def test_saved_model_folder_gets_the_conversion_route(tmp_path: Path) -> None:
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="tf2onnx"):
        load_model(tmp_path / "saved")


def test_a_card_whose_labels_disagree_with_the_model_is_refused(tmp_path: Path) -> None:
    hf_vit(tmp_path / "vit")
    load_model(tmp_path / "vit")  # writes the derived card
    card = json.loads((tmp_path / "vit" / "card.json").read_text())
    card["labels"] = ["sad", "happy", "neutral"]
    (tmp_path / "vit" / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match="disagree with the model's own label names"):
        load_model(tmp_path / "vit")


# ------------------------------------------------------------------------------------------------ load -> dashboard


def image_folder(root: Path, size: int = 64, per_class: int = 2) -> Path:
    """A tiny colour ImageFolder of ``size`` px faces in the three classes."""
    import cv2

    rng = np.random.default_rng(1)
    for name in LABELS:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
            cv2.imwrite(str(root / name / f"{i}.png"), cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC))
    return root


FORMATS = {
    "transformers": lambda path: hf_vit(path) or path,
    "timm": lambda path: timm_dir(path) and path,
    "onnx-nhwc-batch1": lambda path: onnx_file(path.with_suffix(".onnx"), nhwc=True, fixed=True, probs=True),
}


@pytest.mark.parametrize("layout", FORMATS, ids=list(FORMATS))
def test_load_predict_evaluate_and_leaderboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str) -> None:
    from streamlit.testing.v1 import AppTest

    from fer_core.apps.workflows import evaluate_model

    checkpoints = tmp_path / "checkpoints"
    monkeypatch.setenv("FER_CHECKPOINTS_DIR", str(checkpoints))
    source = FORMATS[layout](tmp_path / "mine")
    assert load_model(source).predict(colour_crops(2)).shape == (2, len(LABELS))
    target, card = import_model(source, name="mine")
    assert card.labels == LABELS and target == checkpoints / "mine"
    faces = image_folder(tmp_path / "faces")
    _, info = evaluate_model("mine", dataset="imagefolder", dataset_root=faces, label_set="fer2013")
    assert info["num_samples"] == 6 and info["images"] == {"color": True, "size": [64, 64]}
    assert info["preprocessing"] == card.input.to_dict()

    repo = Path(__file__).resolve().parents[3]
    monkeypatch.syspath_prepend(str(repo))
    app = AppTest.from_file(str(repo / "pages" / "compare.py"), default_timeout=60).run()
    assert not app.exception, [e.message for e in app.exception]
    boards = [df.value for df in app.dataframe if "model" in map(str, df.value.columns)]
    assert any("mine" in set(board["model"]) for board in boards)
