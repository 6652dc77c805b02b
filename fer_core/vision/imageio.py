"""Decode uploaded image bytes into the uint8 BGR frames the rest of ``fer_core`` expects, or fail clearly.

Uploads come from phones and desktop tools, so "an image" covers rotated JPEGs (EXIF orientation), grey and
16-bit scans, transparent PNGs, palette GIFs and CMYK print files. Each is normalised here, once, with a note saying
what was done, so the pipeline only ever sees 8-bit BGR. Anything that is not a decodable image raises
:class:`ImageDecodeError` with a message meant for the person who uploaded it (empty file, not an image, truncated,
unsupported format, too many pixels) instead of a Pillow traceback.

Memory is bounded before pixels are decoded: JPEGs decode at the reduced scale libjpeg offers (``draft``), any
other format is refused above :data:`MAX_DECODED_PIXELS` (a 250 KB PNG can declare 9400x9400 pixels, 265 MB of RGB)
and is shrunk by an integer factor (``reduce``) right after decoding, before any copy or conversion.
:data:`IMAGE_EXTENSIONS` is the one list of accepted file extensions, for the upload widget and for messages.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from fer_core.errors import ImageDecodeError

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_DECODED_PIXELS",
    "MAX_HEADER_PIXELS",
    "SUPPORTED_FORMATS",
    "DecodedImage",
    "ImageDecodeError",
    "check_image_name",
    "decode_image",
]

# Accepted formats: shown name -> (Pillow format names, file extensions). MPO is how Pillow reports the
# multi-picture JPEGs many phone cameras write.
_FORMATS = {
    "JPEG": (("JPEG", "MPO"), ("jpg", "jpeg")),
    "PNG": (("PNG",), ("png",)),
    "WebP": (("WEBP",), ("webp",)),
    "BMP": (("BMP",), ("bmp",)),
    "TIFF": (("TIFF",), ("tif", "tiff")),
    "GIF": (("GIF",), ("gif",)),
}
SUPPORTED_FORMATS = tuple(name for pillow_names, _ in _FORMATS.values() for name in pillow_names)
IMAGE_EXTENSIONS = tuple(ext for _, extensions in _FORMATS.values() for ext in extensions)
_SHOWN_FORMATS = ", ".join(_FORMATS)
_DRAFTABLE = ("JPEG", "MPO")

# The most pixels decoded at full size (about 160 MB as RGBA): a 12 MP photo is far below, a 9400x9400 bomb above.
MAX_DECODED_PIXELS = 40_000_000
# What any header may declare. Only JPEGs get past MAX_DECODED_PIXELS (they decode at 1/2..1/8 scale), so this is
# set for the largest phone photos (108 MP) and, through Pillow's own check, refuses anything larger on opening.
MAX_HEADER_PIXELS = 120_000_000
Image.MAX_IMAGE_PIXELS = MAX_HEADER_PIXELS
_WHITE = (255, 255, 255)
_ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose does).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class DecodedImage:
    """An upload as a uint8 BGR array, plus what was done to get there.

    ``original_size`` is (width, height) after EXIF orientation and before any downscaling; ``scale`` is the factor
    applied (1.0 = untouched), so boxes found on ``bgr`` map back to the original by dividing by it.
    """

    bgr: np.ndarray
    original_size: tuple[int, int]
    scale: float
    notes: tuple[str, ...] = ()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of ``bgr``."""
        return self.bgr.shape[1], self.bgr.shape[0]


def _fail(name: str, message: str) -> ImageDecodeError:
    return ImageDecodeError(f"{name}: {message}" if name else message)


def check_image_name(name: str) -> None:
    """Refuse a file whose extension is not in :data:`IMAGE_EXTENSIONS` (SVG, HEIC ... are not decoded here)."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in IMAGE_EXTENSIONS:
        shown = f".{extension} files are" if extension else "files without an extension are"
        raise _fail(name, f"{shown} not accepted; accepted: {', '.join(IMAGE_EXTENSIONS)} ({_SHOWN_FORMATS})")


def _looks_like_text(data: bytes) -> bool:
    """True when the first bytes are printable UTF-8 (a text or HTML file renamed to ``.jpg``)."""
    head = data[:512]
    text = head.decode("utf-8", errors="ignore")
    # Up to 3 bytes may be lost when the cut at 512 bytes splits a multi-byte character.
    return len(text.encode("utf-8")) >= len(head) - 3 and all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _open(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Open the header only (no pixels decoded yet) and check format and pixel count."""
    if not data:
        raise _fail(name, "the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise _fail(name, f"the image has too many pixels to decode safely ({err})") from err
    except UnidentifiedImageError as err:
        kind = "a text file" if _looks_like_text(data) else "not an image Pillow recognises"
        raise _fail(name, f"this is not an image ({kind}); supported formats: {_SHOWN_FORMATS}") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise _fail(name, f"the image header is damaged ({err})") from err
    if image.format not in SUPPORTED_FORMATS:
        raise _fail(name, f"unsupported image format {image.format}; supported formats: {_SHOWN_FORMATS}")
    width, height = image.size
    if width * height > max_pixels:
        raise _fail(
            name, f"the image has too many pixels ({width}x{height}, limit {max_pixels:,}); is it a decompression bomb?"
        )
    return image


def _draft(image: Image.Image, max_side: int) -> None:
    """Let libjpeg decode a JPEG at 1/2, 1/4 or 1/8 scale, never below ``max_side`` (no-op for other formats).

    A 24 MP photo then costs a fraction of the memory and time, with no visible loss after the final downscale.
    """
    if image.format in _DRAFTABLE:
        width, height = image.size
        scale = min(1.0, max_side / max(width, height))
        image.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))


def _check_decoded_pixels(image: Image.Image, name: str, max_decoded: int) -> None:
    """Refuse before decoding when the pixels to decode (after any JPEG draft) exceed ``max_decoded``."""
    width, height = image.size
    if width * height > max_decoded:
        raise _fail(
            name,
            f"the image is {width}x{height} ({width * height / 1e6:.1f} MP); at most {max_decoded / 1e6:.0f} MP "
            f"are decoded here. Save a smaller copy (longest side about {round(max_decoded**0.5):,} px) and upload "
            "that.",
        )


def _load(image: Image.Image, name: str) -> Image.Image:
    """Decode the pixels; a truncated or corrupt file becomes an ImageDecodeError."""
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise _fail(name, f"the file is truncated or corrupt ({err})") from err
    return image


def _reduce(image: Image.Image, max_side: int) -> Image.Image:
    """Shrink by the largest integer factor that keeps the longest side >= ``max_side`` (a cheap box filter).

    Done right after decoding, so every later conversion and copy works on the small image.
    """
    factor = max(image.size) // max_side
    if factor < 2:
        return image
    if image.mode == "I;16" or image.mode.startswith("I;16"):
        image = image.convert("I")
    elif image.mode in ("P", "1"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    return image.reduce(factor)


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    """Apply an EXIF orientation (read before any reduction, which drops the EXIF block)."""
    method = _UPRIGHT.get(orientation)
    return image.transpose(method) if method is not None else image


def _exif_orientation(image: Image.Image) -> int:
    """EXIF orientation tag (1 = upright; 5-8 mean the stored image is turned by 90 degrees)."""
    try:
        return int(image.getexif().get(_ORIENTATION_TAG, 1) or 1)
    except (TypeError, ValueError):  # a malformed tag must not make a viewable photo fail
        return 1


def _upright_size(header_size: tuple[int, int], image: Image.Image) -> tuple[int, int]:
    """(width, height) from the header, as the photo is shown once EXIF orientation is applied."""
    width, height = header_size
    return (height, width) if _exif_orientation(image) in (5, 6, 7, 8) else (width, height)


def _sixteen_bit_to_grey(image: Image.Image) -> Image.Image:
    """Scale 16-bit (or 32-bit integer / float) grey to 8 bits over the full range, not by clipping at 255."""
    values = np.asarray(image)
    if image.mode == "F":
        high = 1.0 if values.size and float(np.nanmax(values)) <= 1.0 else 255.0
        scaled = np.nan_to_num(values) / high * 255.0
    else:
        # "I" holds what Pillow decoded from 16-bit files too; treat it as 16-bit unless it already fits in 8.
        high = 255.0 if image.mode == "I" and values.size and int(values.max()) <= 255 else 65535.0
        scaled = values.astype(np.float64) / high * 255.0
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


def _to_rgb(image: Image.Image) -> tuple[Image.Image, list[str]]:
    """Any Pillow mode -> 8-bit RGB, with notes for the conversions a user would want to know about."""
    notes: list[str] = []
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        notes.append(f"high bit-depth image ({image.mode}) scaled to 8 bits")
        image = _sixteen_bit_to_grey(image)
    if _has_alpha(image):
        notes.append("transparent areas composited on white")
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB"), notes
    if image.mode == "CMYK":
        notes.append("CMYK converted to RGB")
    return image.convert("RGB"), notes


def _downscale(bgr: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longest side is ``max_side``; OpenCV's area filter is ~20x faster than Pillow's Lanczos here."""
    height, width = bgr.shape[:2]
    scale = min(1.0, max_side / max(width, height))
    if scale >= 1.0:
        return bgr
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)


def decode_image(
    data: bytes,
    *,
    max_side: int = 2048,
    name: str = "",
    max_pixels: int | None = None,
    max_decoded_pixels: int = MAX_DECODED_PIXELS,
) -> DecodedImage:
    """Decode an uploaded file to uint8 BGR, oriented upright and with its longest side at most ``max_side``.

    Accepts JPEG, PNG, WebP, BMP, TIFF and GIF (first frame). ``max_pixels`` (default: Pillow's
    ``Image.MAX_IMAGE_PIXELS``, set to :data:`MAX_HEADER_PIXELS`) refuses any header declaring more pixels;
    ``max_decoded_pixels`` refuses images that would decode to more (JPEGs count at their reduced decoding scale).
    Both are checked before any pixel is decoded. ``name`` prefixes every error message so a page listing several
    uploads can say which one failed.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    limit = max_pixels if max_pixels is not None else (Image.MAX_IMAGE_PIXELS or 2**63)
    image = _open(bytes(data), name, limit)
    notes = []
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        notes.append(f"first of {frames} frames used")
    header_size = image.size  # before draft() may shrink it
    _draft(image, max_side)
    _check_decoded_pixels(image, name, min(limit, max_decoded_pixels))
    loaded = _load(image, name)
    orientation = _exif_orientation(loaded)  # PNG reads its EXIF only once the pixels are loaded
    original_size = _upright_size(header_size, image)
    if orientation != 1:
        notes.append("rotated upright (EXIF orientation)")
    rgb, mode_notes = _to_rgb(_upright(_reduce(loaded, max_side), orientation))
    del loaded, image  # the full-size decode is no longer needed
    bgr = _downscale(cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR), max_side)
    size = (bgr.shape[1], bgr.shape[0])
    if size != original_size:
        width, height = original_size
        notes.append(f"downscaled from {width}x{height} to {size[0]}x{size[1]}; boxes refer to the smaller image")
    return DecodedImage(bgr, original_size, max(size) / max(original_size), (*notes, *mode_notes))
