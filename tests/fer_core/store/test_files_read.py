"""Reading untrusted paths: regular files of bounded size only, refused without blocking or reading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fer_core.store.files import UnsafeFileError, check_regular_file, read_regular_file


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "pipe")
    return folder / "pipe"


def _dev_zero(folder: Path) -> Path:
    (folder / "zero").symlink_to("/dev/zero")
    return folder / "zero"


def _folder(folder: Path) -> Path:
    (folder / "sub").mkdir()
    return folder / "sub"


def _too_large(folder: Path) -> Path:
    (folder / "big").write_bytes(bytes(101))
    return folder / "big"


REFUSED = {
    "named pipe": (_fifo, "a named pipe, not a regular file"),
    "symlink to /dev/zero": (_dev_zero, "a character device, not a regular file"),
    "folder": (_folder, "a folder, not a regular file"),
    "over the bound": (_too_large, "101 bytes, larger than any thing this reads (100 bytes at most)"),
}


@pytest.mark.parametrize("read", [read_regular_file, check_regular_file], ids=["read", "check"])
@pytest.mark.parametrize(("make", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_special_or_oversized_path_is_refused_naming_it(tmp_path: Path, read, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(UnsafeFileError) as caught:
        read(path, 100, "thing")
    assert str(caught.value) == f"{path}: {message}" or str(caught.value).startswith(f"{path}: {message}")


def test_regular_file_within_the_bound_is_read_and_a_missing_one_is_file_not_found(tmp_path: Path) -> None:
    (tmp_path / "ok").write_bytes(b"x" * 100)
    assert read_regular_file(tmp_path / "ok", 100) == b"x" * 100
    assert check_regular_file(tmp_path / "ok", 100) == 100
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "missing", 100)
