"""Peak and retained memory of the image and video pages' work on large inputs, one fresh process per case.

    python scripts/bench_memory.py                       # every case
    python scripts/bench_memory.py --case png_9400 --json out.json

Cases: ``png_9400`` (a 9400x9400 PNG of about 250 KB, the decompression-bomb shape), ``png_6000`` (36 MP, near
the largest PNG still decoded), ``jpeg_12mp`` (a 4000x3000 camera photo), ``video_4k`` (2 s of 3840x2160 video at
15 fps), ``jpeg_12mp_x8`` (eight sessions analysing that photo at the same time). Each case runs in its own
Python process: it imports everything and analyses a small image first (the baseline), then runs the case the way
the page does (``fer_core.apps.photo.analyse_image`` / ``fer_core.apps.video.analyse_video`` with the shipped
default model and the Haar detector), drops the result and reports:

- ``peak_mb``: the peak resident set size during the case (kernel ``VmHWM``, reset first) minus the baseline;
- ``retained_mb``: resident size after the result is dropped and freed memory is returned to the system (as the
  pages do at the end of a run), minus the baseline: what a server keeps per run;
- ``seconds``: wall time of the case.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

__all__ = ["CASES", "main", "parse_args", "run_case"]

CASES = ("png_9400", "png_6000", "jpeg_12mp", "video_4k", "jpeg_12mp_x8")
_PAGE_SIZE = resource.getpagesize()


def resident_mb() -> float:
    """Current resident set size of this process, MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE_SIZE / 2**20


def reset_peak() -> None:
    """Restart the kernel's peak-RSS count (``VmHWM``) from the current size, so a peak covers one case only."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def peak_mb() -> float:
    """Peak resident set size since the last :func:`reset_peak`, MB."""
    with open("/proc/self/status") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return kib / 1024


def png_bomb_bytes(side: int = 9400) -> bytes:
    """A ``side`` x ``side`` RGB PNG that compresses to a few hundred KB (flat colour with a few stripes)."""
    image = np.full((side, side, 3), 200, np.uint8)
    image[::97] = 30
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


def photo_jpeg_bytes(size: tuple[int, int] = (4000, 3000)) -> bytes:
    """A camera-sized JPEG: the sample face scaled up over a noisy background (noise keeps the file photo-sized)."""
    from fer_core.vision.sample_media import sample_face_image

    width, height = size
    photo = cv2.resize(sample_face_image(), (height, height), interpolation=cv2.INTER_CUBIC)
    canvas = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    canvas[:, (width - height) // 2 : (width - height) // 2 + height] = photo
    ok, encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


def _analysers():
    """The default model, the page's photo detector and pipeline settings (imported here: part of the baseline)."""
    from fer_core.serving.classifier import load_model
    from fer_core.vision.detect import create_detector
    from fer_core.vision.pipeline import PipelineSettings

    return load_model("default"), create_detector("haar", max_side=640), PipelineSettings(smoothing=0.0)


def _image_case(data: bytes, name: str) -> Callable[[], object]:
    from fer_core.apps.photo import analyse_image

    classifier, detector, settings = _analysers()
    analyse_image("warmup.png", png_bomb_bytes(64), classifier, detector, settings)
    return lambda: analyse_image(name, data, classifier, detector, settings)


def _concurrent_case(sessions: int = 8) -> Callable[[], object]:
    """``sessions`` visitors analysing a 12 MP photo at once: one server thread each, sharing the cached model and
    detector as the app's sessions do (``st.cache_resource``)."""
    from concurrent.futures import ThreadPoolExecutor

    run_one = _image_case(photo_jpeg_bytes(), "photo.jpg")

    def run() -> object:
        with ThreadPoolExecutor(sessions) as pool:
            results = list(pool.map(lambda _: run_one(), range(sessions)))
        errors = [r.error for r in results if getattr(r, "error", None)]
        return _Outcome(errors[0] if errors else None)

    return run


@dataclass
class _Outcome:
    error: str | None


def _video_case(folder: Path) -> Callable[[], object]:
    from fer_core.apps.video import analyse_video
    from fer_core.vision.pipeline import FacePipeline
    from fer_core.vision.sample_media import write_face_video

    classifier, detector, settings = _analysers()
    small = write_face_video(folder / "warmup.mp4", 3, size=(320, 240), fps=15)
    clip = write_face_video(folder / "clip_4k.mp4", 30, size=(3840, 2160), fps=15)
    pipeline = FacePipeline(classifier, detector, settings)
    analyse_video(small, pipeline, source_key="warmup", source_name="warmup.mp4")
    return lambda: analyse_video(clip, pipeline, source_key="clip", source_name="clip_4k.mp4")


def run_case(case: str) -> dict:
    """Measure one case in this process (call it in a fresh process: peaks are per process)."""
    import gc

    from fer_core.apps.memory import release_freed_memory

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        if case == "png_9400":
            run = _image_case(png_bomb_bytes(), "bomb.png")
        elif case == "png_6000":
            run = _image_case(png_bomb_bytes(6000), "large.png")
        elif case == "jpeg_12mp":
            run = _image_case(photo_jpeg_bytes(), "photo.jpg")
        elif case == "video_4k":
            run = _video_case(Path(folder))
        elif case == "jpeg_12mp_x8":
            run = _concurrent_case()
        else:
            raise SystemExit(f"unknown case {case!r}; known: {', '.join(CASES)}")
        gc.collect()
        reset_peak()
        baseline = resident_mb()
        started = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - started
        outcome = getattr(result, "error", None) or "ok"
        del result
        gc.collect()
        release_freed_memory()  # as the pages do once a run's results are shown
        return {
            "case": case,
            "baseline_mb": round(baseline, 1),
            "peak_mb": round(peak_mb() - baseline, 1),
            "retained_mb": round(resident_mb() - baseline, 1),
            "seconds": round(seconds, 2),
            "outcome": outcome[:120],
        }


def _in_fresh_process(case: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--case", case, "--child"]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def format_rows(rows: Sequence[dict]) -> str:
    header = f"{'case':<12} {'baseline MB':>11} {'peak +MB':>9} {'retained +MB':>12} {'seconds':>8}  outcome"
    lines = [header]
    for row in rows:
        lines.append(
            f"{row['case']:<12} {row['baseline_mb']:>11} {row['peak_mb']:>9} {row['retained_mb']:>12} "
            f"{row['seconds']:>8}  {row['outcome']}"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=CASES, action="append", help="run only these cases (repeatable)")
    parser.add_argument("--json", help="also write the rows as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        import torch

        torch.set_num_threads(1)  # as the app runs
        print(json.dumps(run_case(args.case[0])))
        return 0
    rows = [_in_fresh_process(case) for case in args.case or CASES]
    print(format_rows(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
