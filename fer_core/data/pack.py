"""Compact packs of dataset splits for training on a remote GPU machine.

A remote call carries at most 64 MiB, while FER2013 alone is 61 MB as PNG. A pack keeps every image of the chosen
splits as WebP in ONE ``.npz``: per split a concatenated byte buffer with offsets, plus labels, soft targets,
sample ids, metadata (FER+ votes, so the label mode can still be changed when reading) and drop counts.
WebP quality 95 (the default) is about 1.4 grey levels RMS from the lossless PNGs; ``quality`` above 100 is
lossless WebP (OpenCV's convention).

    python -m fer_core.data.pack --dataset fer2013 --data-root <data> --out packs/fer2013.npz
    python -m fer_core.data.pack --dataset ferplus --data-root <data> --out packs/ferplus.npz  # soft: votes too
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.data.ferplus import relabel_ferplus
from fer_core.data.images import decode_gray, thread_workers
from fer_core.data.storage import arrays_from_fields, arrays_to_fields
from fer_core.labels import get_label_set

__all__ = ["main", "read_pack", "rms_error", "write_pack"]

_FORMAT = "fer-pack-1"
_BYTES = "bytes"  # per split: the concatenated WebP encodings

_DEFAULT_LOCATION = {"fer2013": "fer2013", "fer2013-csv": "fer2013.csv", "ferplus": "ferplus"}  # under --data-root

Splits = FaceArrays | Mapping[str, FaceArrays] | Sequence[FaceArrays]


def _encode(image: np.ndarray, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, quality])
    if not ok:
        raise DatasetError(f"WebP encoding failed for an image of shape {image.shape}")
    return buffer.tobytes()


def _named_splits(splits: Splits) -> dict[str, FaceArrays]:
    if isinstance(splits, FaceArrays):
        return {splits.split: splits}
    if isinstance(splits, Mapping):
        return dict(splits)
    named = {arrays.split: arrays for arrays in splits}
    if len(named) != len(splits):
        raise DatasetError(f"write_pack: split names repeat: {[arrays.split for arrays in splits]}")
    return named


def _split_fields(name: str, arrays: FaceArrays, quality: int, pool: ThreadPoolExecutor) -> dict[str, np.ndarray]:
    if "/" in name or not name:
        raise DatasetError(f"write_pack: split name {name!r} must be non-empty and contain no '/'")
    encoded = list(pool.map(lambda image: _encode(image, quality), arrays.images))
    fields = arrays_to_fields(arrays, f"{name}/", images=False)
    fields[f"{name}/{_BYTES}"] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    fields[f"{name}/offsets"] = np.cumsum([0, *map(len, encoded)]).astype(np.int64)
    fields[f"{name}/image_shape"] = np.array(arrays.images.shape, np.int64)
    return fields


def write_pack(splits: Splits, path: str | Path, quality: int = 95) -> Path:
    """Write one or more splits into one pack; read it back with :func:`read_pack`.

    ``splits``: one :class:`FaceArrays`, a sequence of them (named by their ``split``), or ``{name: arrays}``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {"format": np.array(_FORMAT), "quality": np.array(quality)}  # Any: see data.cache
    with ThreadPoolExecutor(max_workers=thread_workers()) as pool:
        for name, arrays in _named_splits(splits).items():
            payload.update(_split_fields(name, arrays, quality, pool))
    # Compression shrinks the ids and metadata (WebP bytes are already dense); reading stays fast.
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **payload)
    return path


def _decode_split(data: Mapping[str, np.ndarray], name: str, pool: ThreadPoolExecutor) -> np.ndarray:
    raw, offsets = data[f"{name}/{_BYTES}"], data[f"{name}/offsets"]
    chunks = [raw[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    images = list(pool.map(lambda chunk: decode_gray(chunk, None, f"pack split {name}"), chunks))
    if images:
        return np.stack(images)
    return np.zeros(tuple(int(v) for v in data.get(f"{name}/image_shape", (0, 48, 48))), np.uint8)


def _first_layout_split(data: Mapping[str, np.ndarray], name: str, images: np.ndarray) -> FaceArrays:
    """A split of a first-layout pack (no ``format`` entry): labels, ids, soft targets, no metadata or votes."""
    dataset, label_set, mode = (str(v) for v in data[f"{name}/info"])
    soft = data.get(f"{name}/soft_targets")
    return FaceArrays(
        images=images,
        labels=data[f"{name}/labels"].astype(np.int64),
        sample_ids=[str(s) for s in data[f"{name}/sample_ids"]],
        label_set=get_label_set(label_set),
        metadata=pd.DataFrame({"split": [name] * len(images)}),
        soft_targets=None if soft is None else soft.astype(np.float32),
        dataset=dataset,
        split=name,
        label_mode=mode,
    )


def _load(path: str | Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: not a readable pack ({err})") from err
    first_layout = "format" not in data and any(key.endswith(f"/{_BYTES}") for key in data)
    if str(data.get("format", "")) != _FORMAT and not first_layout:
        raise DatasetError(f"{path}: not a pack written by fer_core.data.pack (format {_FORMAT})")
    return data


def read_pack(path: str | Path, *, label_mode: str | None = None) -> dict[str, FaceArrays]:
    """All splits of a pack, decoded, by name; ``label_mode`` relabels FER+ splits from their stored votes."""
    data = _load(path)
    names = sorted({key.split("/", 1)[0] for key in data if "/" in key})
    splits = {}
    with ThreadPoolExecutor(max_workers=thread_workers()) as pool:
        for name in names:
            images = _decode_split(data, name, pool)
            if "format" in data:
                arrays = arrays_from_fields(data, f"{name}/", images=images)
            else:
                arrays = _first_layout_split(data, name, images)
            splits[name] = relabel_ferplus(arrays, label_mode) if label_mode and arrays.dataset == "ferplus" else arrays
    return splits


def rms_error(a: np.ndarray, b: np.ndarray) -> float:
    """Root-mean-square difference of two uint8 image stacks, in grey levels."""
    return float(np.sqrt(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def main(argv: list[str] | None = None) -> int:
    """Command line: load the splits of one dataset, write the pack, print its size and WebP error."""
    from fer_core.data import DATASETS, load_split

    parser = argparse.ArgumentParser(prog="python -m fer_core.data.pack", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=[d for d in DATASETS if d != "imagefolder"])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--root", help="the dataset folder (or fer2013.csv)")
    where.add_argument("--data-root", help="folder holding fer2013/ and ferplus/")
    parser.add_argument("--out", required=True, help="pack file to write, e.g. packs/fer2013.npz")
    parser.add_argument("--splits", nargs="+", default=["train", "val"])
    parser.add_argument("--label-mode", help="FER+ only; default soft (majority labels plus the vote distribution)")
    parser.add_argument("--quality", type=int, default=95, help="WebP quality 1-100; above 100 is lossless")
    parser.add_argument("--cache-dir", help="reuse decoded splits from this cache folder")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else Path(args.data_root) / _DEFAULT_LOCATION[args.dataset]
    mode = args.label_mode or ("soft" if args.dataset == "ferplus" else "majority")
    splits = {
        split: load_split(args.dataset, root, split, label_mode=mode, progress=True, cache_dir=args.cache_dir)
        for split in args.splits
    }
    path = write_pack(splits, args.out, args.quality)
    packed = read_pack(path)
    for name, arrays in splits.items():
        print(
            f"{name}: {len(arrays)} images, RMS error {rms_error(arrays.images, packed[name].images):.2f} grey levels"
        )
    print(f"wrote {path}: {path.stat().st_size / 2**20:.1f} MiB ({args.dataset}, label mode {mode})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
