"""Reading untrusted files: regular files only, with a size bound, and errors that name the file.

A path from a user, a dataset tree or a model folder may be a symlink to ``/dev/zero`` (endless bytes), a named
pipe (a read that never returns), a folder or a file far larger than its kind ever is. Every reader of such paths
checks it here first, so the answer is an error naming the file instead of a hang or a MemoryError.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["UnsafeFileError", "check_regular_file", "read_regular_file"]


class UnsafeFileError(ValueError):
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
