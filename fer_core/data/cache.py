"""An on-disk cache of decoded splits: one uncompressed ``.npz`` per (dataset, root, split, settings, files).

Decoding FER2013 train takes seconds; ``np.load`` of its 66 MB of pixels takes a fraction of one. The key covers
the name, size and modification time of every file in the split's folder (or of the CSV file), so editing,
adding or removing an image makes a new entry; the stale entry for the same root and settings is removed then.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.data.images import walk_files
from fer_core.data.storage import arrays_from_fields, arrays_to_fields
from fer_core.store.files import atomic_path

__all__ = ["cache_entry", "read_cached", "write_cached"]

_FORMAT = "fer-data-cache-1"  # bump when the stored layout or a reader's output changes


def _fingerprint(source: Path) -> str:
    """Hash of the names, sizes and mtimes of ``source`` (a file, or every file below a folder)."""
    if source.is_file():
        stat = source.stat()
        entries = [f"{source.name}:{stat.st_size}:{stat.st_mtime_ns}"]
    else:
        entries, skip = [], len(str(source)) + 1  # paths below source, without os.path.relpath's cost
        for entry in walk_files(source):
            stat = entry.stat()
            entries.append(f"{entry.path[skip:]}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()[:16]


def cache_entry(cache_dir: Path, source: Path, *, dataset: str, split: str, settings: str) -> Path:
    """Cache file for the split read from ``source`` with ``settings`` (label mode, size ...) in its current state."""
    identity = f"{_FORMAT}|{dataset}|{source.resolve()}|{split}|{settings}"
    stem = f"{dataset}-{split}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"
    return Path(cache_dir) / f"{stem}-{_fingerprint(source)}.npz"


def read_cached(path: Path) -> FaceArrays | None:
    """The cached split, or None when the entry is missing or unreadable (it is then rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return arrays_from_fields({key: data[key] for key in data.files})
    except (OSError, ValueError, zipfile.BadZipFile, DatasetError):
        return None


def write_cached(path: Path, arrays: FaceArrays) -> None:
    """Store ``arrays`` atomically (a concurrent reader never sees half a file) and drop stale entries."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a file object: np.savez adds no .npz suffix to it
        fields: dict[str, Any] = arrays_to_fields(arrays)  # Any: np.savez's own allow_pickle keyword is a bool
        np.savez(fh, **fields)
    stem = path.stem.rsplit("-", 1)[0]
    for stale in path.parent.glob(f"{stem}-*.npz"):
        if stale != path:
            stale.unlink(missing_ok=True)
