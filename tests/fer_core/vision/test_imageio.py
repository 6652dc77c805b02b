"""Decoding uploads: every supported format and pixel layout becomes upright uint8 BGR; bad files fail clearly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fer_core.vision.imageio import DecodedImage, ImageDecodeError, decode_image

# A 40x24 RGB test card: left half red, right half blue, so orientation and channel order are both checkable.
WIDTH, HEIGHT = 40, 24
RED_BGR, BLUE_BGR = (0, 0, 255), (255, 0, 0)


def _card_rgb() -> np.ndarray:
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    rgb[:, : WIDTH // 2] = (255, 0, 0)
    rgb[:, WIDTH // 2 :] = (0, 0, 255)
    return rgb


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _close(pixel: np.ndarray, expected: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(expected)) <= tol))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"])
def test_every_supported_format_decodes_to_bgr(fmt: str) -> None:
    data = _encode(Image.fromarray(_card_rgb()), fmt)
    decoded = decode_image(data, name=f"card.{fmt.lower()}")
    assert isinstance(decoded, DecodedImage)
    assert decoded.bgr.dtype == np.uint8 and decoded.bgr.shape == (HEIGHT, WIDTH, 3)
    assert decoded.original_size == (WIDTH, HEIGHT) and decoded.scale == 1.0
    assert _close(decoded.bgr[HEIGHT // 2, 2], RED_BGR)
    assert _close(decoded.bgr[HEIGHT // 2, WIDTH - 3], BLUE_BGR)


def test_exif_rotated_jpeg_is_turned_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 degrees counter-clockwise: viewers rotate it clockwise
    data = _encode(Image.fromarray(_card_rgb()), "JPEG", exif=exif.tobytes(), quality=95)
    decoded = decode_image(data)
    assert decoded.bgr.shape == (WIDTH, HEIGHT, 3)
    assert decoded.original_size == (HEIGHT, WIDTH)
    # Rotating clockwise puts the red left half on top.
    assert _close(decoded.bgr[2, HEIGHT // 2], RED_BGR)
    assert _close(decoded.bgr[WIDTH - 3, HEIGHT // 2], BLUE_BGR)
    assert any("EXIF" in note for note in decoded.notes)


def test_sixteen_bit_png_uses_the_full_range() -> None:
    ramp = np.linspace(0, 65535, WIDTH * HEIGHT).reshape(HEIGHT, WIDTH).astype(np.uint16)
    decoded = decode_image(_encode(Image.fromarray(ramp), "PNG"))
    grey = decoded.bgr[:, :, 0]
    assert grey.min() == 0 and grey.max() == 255  # clipping at 255 would give a white image instead
    assert np.all(np.diff(grey.ravel().astype(int)) >= 0)  # still a ramp
    assert np.array_equal(decoded.bgr[:, :, 0], decoded.bgr[:, :, 2])
    assert any("8 bits" in note for note in decoded.notes)


@pytest.mark.parametrize(
    ("mode", "pixel", "expected_bgr"),
    [
        ("RGBA", (255, 0, 0, 0), (255, 255, 255)),  # fully transparent red -> white background
        ("RGBA", (255, 0, 0, 255), RED_BGR),  # opaque red stays red
        ("LA", (0, 0), (255, 255, 255)),
        ("L", 128, (128, 128, 128)),
        ("CMYK", (0, 255, 255, 0), RED_BGR),
    ],
)
def test_pixel_layouts_become_bgr(mode: str, pixel, expected_bgr: tuple[int, int, int]) -> None:
    image = Image.new(mode, (WIDTH, HEIGHT), pixel)
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    decoded = decode_image(_encode(image, fmt))
    assert decoded.bgr.shape == (HEIGHT, WIDTH, 3)
    assert _close(decoded.bgr[5, 5], expected_bgr, tol=2)


def test_palette_gif_uses_the_first_frame() -> None:
    frames = [Image.new("RGB", (WIDTH, HEIGHT), color) for color in ((255, 0, 0), (0, 0, 255))]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(data)
    assert _close(decoded.bgr[5, 5], RED_BGR, tol=2)
    assert any("first of 2 frames" in note for note in decoded.notes)


@pytest.mark.parametrize(("size", "max_side"), [((20000, 100), 2048), ((300, 900), 256)])
def test_large_images_are_downscaled_with_a_note(size: tuple[int, int], max_side: int) -> None:
    data = _encode(Image.new("RGB", size, (10, 200, 30)), "PNG")
    decoded = decode_image(data, max_side=max_side)
    assert max(decoded.size) == max_side
    assert decoded.original_size == size
    assert decoded.scale == pytest.approx(max_side / max(size), rel=1e-3)
    assert any("downscaled" in note for note in decoded.notes)


def test_large_jpeg_decodes_at_reduced_scale() -> None:
    data = _encode(Image.new("RGB", (4000, 3000), (90, 90, 90)), "JPEG")
    decoded = decode_image(data, max_side=500)
    assert decoded.size == (500, 375) and decoded.original_size == (4000, 3000)


def _truncated_png() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _encode(Image.fromarray(noise), "PNG")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"Hello, this is a text file renamed to photo.jpg\n", "text file"),
        (bytes(range(256)) * 4, "not an image"),
        (_truncated_png(), "truncated"),
        (_encode(Image.new("RGB", (8, 8)), "ICO"), "unsupported image format"),
    ],
    ids=["empty", "text", "binary-junk", "truncated-png", "ico"],
)
def test_bad_files_raise_a_clear_error_naming_the_file(data: bytes, message: str) -> None:
    with pytest.raises(ImageDecodeError, match=message) as caught:
        decode_image(data, name="upload.jpg")
    assert str(caught.value).startswith("upload.jpg: ")
    assert isinstance(caught.value, ValueError)


def test_unsupported_format_message_names_the_supported_ones() -> None:
    with pytest.raises(ImageDecodeError, match="JPEG, PNG, WebP, BMP, TIFF, GIF"):
        decode_image(_encode(Image.new("RGB", (8, 8)), "ICO"))


def test_decompression_bomb_is_refused_before_decoding() -> None:
    data = _encode(Image.new("L", (3000, 3000)), "PNG")
    with pytest.raises(ImageDecodeError, match="too many pixels"):
        decode_image(data, max_pixels=1_000_000)


def test_invalid_max_side_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_side"):
        decode_image(b"x", max_side=0)
