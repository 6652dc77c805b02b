"""The one atomic write: the target is replaced whole, or left as it was, and no temporary file stays behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fer_core.store.files import atomic_path, temporary_beside, write_bytes_atomic, write_json_atomic, write_text_atomic

WRITERS = [
    ("bytes", lambda p: write_bytes_atomic(p, b"new"), b"new"),
    ("text", lambda p: write_text_atomic(p, "new é"), "new é".encode()),
    ("json", lambda p: write_json_atomic(p, {"a": 1}), b'{\n  "a": 1\n}\n'),
]


@pytest.mark.parametrize(("kind", "write", "expected"), WRITERS, ids=[w[0] for w in WRITERS])
@pytest.mark.parametrize("existing", [False, True], ids=["new file", "over an old file"])
def test_writer_leaves_the_whole_file_and_nothing_else(kind, write, expected, existing: bool, tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.json"
    if existing:
        target.parent.mkdir()
        target.write_bytes(b"old")
    write(target)
    assert target.read_bytes() == expected
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_temporary_sits_beside_the_target_and_keeps_its_suffix(tmp_path: Path) -> None:
    target = tmp_path / "model.int8.onnx"
    with temporary_beside(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith("-model.int8.onnx")
        tmp.write_text(json.dumps([1]))
    assert not tmp.exists() and not target.exists()
