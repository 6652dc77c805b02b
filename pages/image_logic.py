"""What the image page does with one upload, without Streamlit: decode, detect and classify, annotate, tabulate.

Keeping this apart from the page makes each upload an independent, testable function of its bytes: a broken file
becomes an :class:`ImageAnalysis` carrying an error message, so the page can show it and carry on with the rest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import pandas as pd

from fer_core.annotate import annotate_frame
from fer_core.detect import FaceDetector
from fer_core.imageio import IMAGE_EXTENSIONS, DecodedImage, ImageDecodeError, check_image_name, decode_image
from fer_core.memory import release_freed_memory
from fer_core.pipeline import ClassifierLike, FacePipeline, FrameResult, PipelineSettings, classify_whole_image
from fer_core.sample_media import sample_face_image

__all__ = [
    "IMAGE_TYPES",
    "SAMPLE_PHOTO_NAME",
    "ImageAnalysis",
    "analyse_image",
    "faces_table",
    "results_json",
    "results_table",
    "sample_photo_bytes",
]

IMAGE_TYPES = IMAGE_EXTENSIONS  # one list, from fer_core.imageio: what the decoder reads is what the page takes
SAMPLE_PHOTO_NAME = "astronaut.png"
_TABLE_COLUMNS = ("image", "face", "x1", "y1", "x2", "y2", "label", "shown_as", "confidence", "uncertain")


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
    def found_no_face(self) -> bool:
        """Detection ran and found nothing (the page then offers to classify the whole image)."""
        return self.ok and not self.whole_image and not self.result.faces


def analyse_image(
    name: str,
    data: bytes,
    classifier: ClassifierLike,
    detector: FaceDetector,
    settings: PipelineSettings,
    *,
    whole_image: bool = False,
    max_side: int = 2048,
) -> ImageAnalysis:
    """Decode ``data`` and classify its faces (or the whole image as one face when ``whole_image``).

    A file of a type not in ``IMAGE_TYPES`` or undecodable bytes give an analysis with ``error`` set instead of
    raising; model or detector failures still raise, since they are not the uploader's doing. The decoder's
    freed buffers go back to the system afterwards (a server otherwise keeps them per upload).
    """
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
    """One row per face: image, face number, box, label, what was shown, confidence, uncertain, ``p_<class>``."""
    if not analysis.ok:
        return pd.DataFrame(columns=list(_TABLE_COLUMNS))
    labels = analysis.result.labels
    rows = []
    for number, (face, record) in enumerate(zip(analysis.result.faces, analysis.result.to_records(), strict=True), 1):
        row = {"image": analysis.name, "face": number, **{k: record[k] for k in ("x1", "y1", "x2", "y2")}}
        row.update(label=face.label, shown_as=face.display_label, confidence=face.confidence, uncertain=face.uncertain)
        row.update({f"p_{name}": record[f"p_{name}"] for name in labels})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*_TABLE_COLUMNS, *(f"p_{name}" for name in labels)])


def results_table(analyses: Sequence[ImageAnalysis]) -> pd.DataFrame:
    """All faces of all successfully analysed images (the CSV download)."""
    tables = [faces_table(a) for a in analyses if a.ok and a.result.faces]
    if not tables:
        return pd.DataFrame(columns=list(_TABLE_COLUMNS))
    return pd.concat(tables, ignore_index=True)


def _image_record(analysis: ImageAnalysis) -> dict:
    if not analysis.ok:
        return {"image": analysis.name, "error": analysis.error}
    decoded, result = analysis.decoded, analysis.result
    faces = []
    for number, face in enumerate(result.faces, 1):
        probs = face.probabilities if face.probabilities is not None else []
        faces.append(
            {
                "face": number,
                "box": list(face.box),
                "label": face.label,
                "shown_as": face.display_label,
                "confidence": round(face.confidence, 5),
                "uncertain": face.uncertain,
                "probabilities": {n: round(float(p), 5) for n, p in zip(result.labels, probs, strict=False)},
            }
        )
    return {
        "image": analysis.name,
        "width": decoded.size[0],
        "height": decoded.size[1],
        "original_size": list(decoded.original_size),
        "scale": round(decoded.scale, 6),
        "notes": list(decoded.notes),
        "whole_image": analysis.whole_image,
        "faces": faces,
    }


def results_json(analyses: Sequence[ImageAnalysis], model: str) -> str:
    """Every image (failed ones with their error) and its faces, as indented JSON (the JSON download)."""
    labels = next((list(a.result.labels) for a in analyses if a.ok), [])
    document = {"model": model, "labels": labels, "images": [_image_record(a) for a in analyses]}
    return json.dumps(document, indent=2)


def sample_photo_bytes() -> bytes:
    """The bundled sample photo as PNG bytes, so it goes through the same decoding path as an upload."""
    ok, encoded = cv2.imencode(".png", sample_face_image())
    if not ok:  # pragma: no cover - encoding a valid uint8 image to PNG does not fail
        raise RuntimeError("could not encode the sample photo")
    return encoded.tobytes()
