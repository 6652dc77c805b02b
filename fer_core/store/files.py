"""The one atomic write: a file appears whole or not at all, even if the process dies or the disk fills mid-write.

Data goes to a temporary file in the target's own folder (``os.replace`` is atomic only within one file system),
is flushed to disk with ``fsync``, and is then renamed over the target. Readers (the dashboard, a resumed training
run, a concurrent cache user) therefore never see half a card, run or weights file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "commit_file",
    "temporary_beside",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


@contextmanager
def temporary_beside(path: Path | str) -> Iterator[Path]:
    """A fresh temporary file in ``path``'s folder, ending in ``path``'s name (writers that look at the suffix
    still see it); removed on exit unless :func:`commit_file` has moved it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=f"-{path.name}")
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def commit_file(tmp: Path, path: Path | str) -> None:
    """Flush ``tmp`` to disk and rename it over ``path`` (same folder), then flush the folder entry too."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_folder(Path(path).parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; some systems (Windows) cannot open a folder, and then it is skipped."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path to write; when the block ends without an error it replaces ``path``."""
    with temporary_beside(path) as tmp:
        yield tmp
        commit_file(tmp, path)


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    """``path.write_bytes(data)``, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: Path | str, text: str) -> None:
    """``path.write_text(text)`` in UTF-8, atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path | str, data: Any) -> None:
    """``data`` as indented JSON with a final newline (the layout of every JSON file the project writes)."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
