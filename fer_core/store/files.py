"""Files on disk, both ways: atomic writes, and bounded reads of regular files only.

Writing: a file appears whole or not at all, even if the process dies or the disk fills mid-write. Data goes to a
temporary file in the target's own folder (``os.replace`` is atomic only within one file system), is flushed to
disk with ``fsync``, and is then renamed over the target. Readers (the dashboard, a resumed training run, a
concurrent cache user) therefore never see half a card, run or weights file.

Reading untrusted paths: a path from a user, a dataset tree or a model folder may be a symlink to ``/dev/zero``
(endless bytes), a named pipe (a read that never returns), a folder or a file far larger than its kind ever is.
Every reader of such paths checks it here first, so the answer is an error naming the file instead of a hang or a
MemoryError.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fer_core.errors import FerError

__all__ = [
    "UnsafeFileError",
    "atomic_path",
    "check_regular_file",
    "commit_file",
    "file_sha256",
    "read_regular_file",
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


class UnsafeFileError(FerError, ValueError):
    """A path that is not a regular file of a plausible size; the message names it and the problem."""


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a named pipe",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def _size(size: int) -> str:
    return f"{size / 2**20:,.1f} MB" if size >= 2**20 else f"{size:,} bytes"


def _check(path: str | Path, info: os.stat_result, max_bytes: int | None, what: str) -> int:
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(f"{path}: {_kind(info.st_mode)}, not a regular file; a {what} must be a plain file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise UnsafeFileError(
            f"{path}: {_size(info.st_size)}, larger than any {what} this reads ({_size(max_bytes)} at most)"
        )
    return info.st_size


def check_regular_file(path: str | Path, max_bytes: int | None = None, what: str = "file") -> int:
    """The size of ``path`` (links followed) when it is a regular file of at most ``max_bytes``; else
    UnsafeFileError (FileNotFoundError when it does not exist). Checking never opens the file, so a pipe or a
    device cannot block or feed it."""
    return _check(path, os.stat(path), max_bytes, what)


def read_regular_file(path: str | Path, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``max_bytes``.

    The file is opened without blocking (a named pipe would wait for a writer) and checked on the open descriptor,
    so a path swapped for a pipe or a device after a check is still refused; a file that grows while it is read
    is cut off with an error, not read on.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        _check(path, os.fstat(descriptor), max_bytes, what)
    except BaseException:
        os.close(descriptor)
        raise
    with os.fdopen(descriptor, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeFileError(f"{path}: grew past {_size(max_bytes)} while it was read; a {what} is at most that")
    return data


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
