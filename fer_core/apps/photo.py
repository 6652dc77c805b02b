"""The photo use case, shared by the Image page and ``python -m fer_core predict``: decode, detect, classify, tabulate.

One path for both, so a photo gives the same answer wherever it is analysed: decoded by
:func:`fer_core.vision.imageio.decode_image` (EXIF orientation, grey/alpha/16-bit, huge photos downscaled), searched
with the ``photo`` detection preset, classified with :data:`PHOTO_SETTINGS` (up to 50 faces, no temporal smoothing; the
page's sliders may change the threshold and margin), and tabulated in the one face-table schema
(:meth:`fer_core.vision.pipeline.FrameResult.to_frame`) with the image name in front and boxes in the pixels of the
upright original. Each upload is an independent function of its bytes: a broken file becomes an
:class:`ImageAnalysis` carrying an error message, so the page can show it and carry on with the rest.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fer_core.apps.memory import release_freed_memory
from fer_core.store.files import UnsafeFileError, read_regular_file
from fer_core.vision.annotate import annotate_frame
from fer_core.vision.detect import FaceDetector, create_detector, no_face_reason
from fer_core.vision.imageio import IMAGE_EXTENSIONS, DecodedImage, ImageDecodeError, check_image_name, decode_image
from fer_core.vision.pipeline import (
    FACE_COLUMNS,
    ClassifierLike,
    FacePipeline,
    FrameResult,
    PipelineSettings,
    classify_whole_image,
    face_columns,
    json_records,
)
from fer_core.vision.sample_media import sample_face_image

__all__ = [
    "ANALYSIS_SLOTS",
    "IMAGE_TYPES",
    "PHOTO_MAX_FACES",
    "PHOTO_PRESET",
    "PHOTO_SETTINGS",
    "SAMPLE_PHOTO_NAME",
    "ImageAnalysis",
    "analyse_image",
    "faces_table",
    "photo_detector",
    "predict_photo_files",
    "results_json",
    "results_table",
    "sample_photo_bytes",
]

IMAGE_TYPES = IMAGE_EXTENSIONS  # one list, from fer_core.vision.imageio: what the decoder reads is what the page takes
SAMPLE_PHOTO_NAME = "astronaut.png"
PHOTO_MAX_FACES = 50  # a group photo; the table lists every face
MAX_PHOTO_BYTES = 200 * 2**20  # the app's upload limit (.streamlit/config.toml maxUploadSize): no photo is larger
PHOTO_SETTINGS = PipelineSettings(smoothing=0.0, max_faces=PHOTO_MAX_FACES)  # a still image has no past to smooth
PHOTO_PRESET = "photo"
BOX_COLUMNS = ("x1", "y1", "x2", "y2")


@dataclass(frozen=True)
class ImageAnalysis:
    """One upload's outcome: a result and its annotated image, or an ``error`` for the person who uploaded it."""

    name: str
    decoded: DecodedImage | None = None
    result: FrameResult | None = None
    annotated: np.ndarray | None = field(default=None, repr=False)
    whole_image: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None

    @property
    def frame(self) -> FrameResult:
        """The result of a successful analysis (``ok``); a ValueError naming the upload otherwise."""
        if self.result is None:
            raise ValueError(f"{self.name}: not analysed ({self.error})")
        return self.result

    @property
    def image(self) -> DecodedImage:
        """The decoded upload of a successful analysis; a ValueError naming the upload otherwise."""
        if self.decoded is None:
            raise ValueError(f"{self.name}: not decoded ({self.error})")
        return self.decoded

    @property
    def found_no_face(self) -> bool:
        """Detection ran and found nothing (the page then offers to classify the whole image)."""
        return self.ok and not self.whole_image and not self.frame.faces


# How many photos are decoded and analysed at once across a server's sessions. The work is CPU-bound, so more
# at once finishes no sooner, while each holds a decoded photo (~110 MB peak for 12 MP): eight visitors at once
# peaked at +892 MB unbounded (scripts/bench_memory.py --case jpeg_12mp_x8).
ANALYSIS_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


def photo_detector(kind: str = "haar", model_path: str | None = None) -> FaceDetector:
    """The face detector photos are searched with (the ``photo`` preset of ``kind``)."""
    return create_detector(kind, model_path=model_path, preset=PHOTO_PRESET)


def analyse_image(
    name: str,
    data: bytes,
    classifier: ClassifierLike,
    detector: FaceDetector,
    settings: PipelineSettings = PHOTO_SETTINGS,
    *,
    whole_image: bool = False,
    max_side: int = 2048,
) -> ImageAnalysis:
    """Decode ``data`` and classify its faces (or the whole image as one face when ``whole_image``).

    A file of a type not in ``IMAGE_TYPES`` or undecodable bytes give an analysis with ``error`` set instead of
    raising; model or detector failures still raise, since they are not the uploader's doing. The decoder's
    freed buffers go back to the system afterwards (a server otherwise keeps them per upload). At most
    ``ANALYSIS_SLOTS`` analyses run at once; further callers wait their turn.
    """
    with ANALYSIS_SLOTS:
        return _analyse(name, data, classifier, detector, settings, whole_image, max_side)


def _analyse(
    name: str,
    data: bytes,
    classifier: ClassifierLike,
    detector: FaceDetector,
    settings: PipelineSettings,
    whole_image: bool,
    max_side: int,
) -> ImageAnalysis:
    try:
        check_image_name(name)
        decoded = decode_image(data, name=name, max_side=max_side)
    except ImageDecodeError as err:
        return ImageAnalysis(name, error=str(err))
    try:
        if whole_image:
            result = classify_whole_image(classifier, decoded.bgr, confidence_threshold=settings.confidence_threshold)
        else:
            result = FacePipeline(classifier, detector, settings).process(decoded.bgr)
        return ImageAnalysis(name, decoded, result, annotate_frame(decoded.bgr, result), whole_image)
    finally:
        release_freed_memory()


def faces_table(analysis: ImageAnalysis) -> pd.DataFrame:
    """The faces of one photo in the one face-table schema, ``image`` first, boxes in the original's pixels."""
    labels = analysis.frame.labels if analysis.ok else ()
    table = analysis.frame.to_frame() if analysis.ok else pd.DataFrame(columns=face_columns(labels))
    scale = analysis.image.scale if analysis.ok else 1.0
    if scale != 1.0 and len(table):
        table[list(BOX_COLUMNS)] = (table[list(BOX_COLUMNS)] / scale).round().astype(int)
    table.insert(0, "image", analysis.name)
    return table


def results_table(analyses: Sequence[ImageAnalysis]) -> pd.DataFrame:
    """All faces of all successfully analysed images (the CSV download)."""
    tables = [faces_table(a) for a in analyses if a.ok and a.frame.faces]
    if not tables:
        return pd.DataFrame(columns=["image", *FACE_COLUMNS])
    return pd.concat(tables, ignore_index=True)


def face_records(analysis: ImageAnalysis) -> list[dict]:
    """The rows of :func:`faces_table` as JSON-ready dicts (NaN probabilities of too-small faces as null)."""
    return json_records(faces_table(analysis))


def _image_record(analysis: ImageAnalysis) -> dict:
    if not analysis.ok:
        return {"image": analysis.name, "error": analysis.error}
    decoded = analysis.image
    return {
        "image": analysis.name,
        "width": decoded.size[0],
        "height": decoded.size[1],
        "original_size": list(decoded.original_size),
        "scale": round(decoded.scale, 6),
        "notes": list(decoded.notes),
        "whole_image": analysis.whole_image,
        "faces": face_records(analysis),
    }


def results_json(analyses: Sequence[ImageAnalysis], model: str) -> str:
    """Every image (failed ones with their error) and its faces as face-table rows, as indented JSON."""
    labels = next((list(a.frame.labels) for a in analyses if a.ok), [])
    document = {"model": model, "labels": labels, "images": [_image_record(a) for a in analyses]}
    return json.dumps(document, indent=2)


def predict_photo_files(
    classifier: ClassifierLike, paths: Sequence[str | Path], detector: FaceDetector
) -> Iterator[dict]:
    """The CLI's ``predict``: one face-table row per face of each file, as the Image page analyses an upload.

    A file that cannot be read or decoded gives one record with its ``error``; one without a face gives one record
    saying why it may be (the smallest face searched at its size).
    """
    for path in paths:
        try:
            data = read_regular_file(path, MAX_PHOTO_BYTES, "photo")
        except (OSError, UnsafeFileError) as err:
            yield {"image": str(path), "error": _file_error(path, err)}
            continue
        analysis = analyse_image(str(path), data, classifier, detector)
        if not analysis.ok:
            yield {"image": str(path), "error": analysis.error}
        elif not analysis.frame.faces:
            yield {"image": str(path), "faces": 0, "why": no_face_reason(detector, analysis.image.size)}
        else:
            yield from face_records(analysis)


def _file_error(path: str | Path, error: Exception) -> str:
    """The error's text, naming the file once (OSError's own text names it only as a repr, or not at all)."""
    if isinstance(error, OSError) and error.strerror:
        return f"{path}: {error.strerror}"
    text = str(error)
    return text if str(path) in text else f"{path}: {text}"


def sample_photo_bytes() -> bytes:
    """The bundled sample photo as PNG bytes, so it goes through the same decoding path as an upload."""
    ok, encoded = cv2.imencode(".png", sample_face_image())
    if not ok:  # pragma: no cover - encoding a valid uint8 image to PNG does not fail
        raise RuntimeError("could not encode the sample photo")
    return encoded.tobytes()
