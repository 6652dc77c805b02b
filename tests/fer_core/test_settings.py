"""fer_core.settings: every FER_* variable read in one place, with a default when unset."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from fer_core import settings

REPO = Path(__file__).resolve().parents[2]
# (setting, function, value set, expected result, expected result when unset)
TABLE = [
    (settings.CHECKPOINTS_DIR, settings.checkpoints_dir, "/m", Path("/m"), REPO / "checkpoints"),
    (settings.CACHE_DIR, settings.cache_dir, "/c", Path("/c"), Path.home() / ".cache" / "fer-studio" / "data"),
    (settings.DATA_DIR, settings.data_dir, "/d", Path("/d"), REPO.parent / "shared" / "data"),
    (settings.DNN_DETECTOR, settings.dnn_detector, "~/yunet.onnx", Path.home() / "yunet.onnx", None),
    (settings.ICE_SERVERS, settings.ice_servers, '[{"urls": "stun:x"}]', '[{"urls": "stun:x"}]', None),
]


@pytest.mark.parametrize(("setting", "read", "value", "expected", "unset"), TABLE, ids=[t[0].name for t in TABLE])
def test_setting_reads_its_variable_and_falls_back_to_its_default(
    setting, read, value, expected, unset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(setting.name, value)
    assert read() == expected
    monkeypatch.setenv(setting.name, "")
    assert read() == unset
    monkeypatch.delenv(setting.name)
    assert read() == unset


def test_every_setting_is_documented_in_the_module_docstring() -> None:
    assert {s.name for s in settings.SETTINGS} == {t[0].name for t in TABLE}
    for setting in settings.SETTINGS:
        assert f"``{setting.name}``" in (settings.__doc__ or ""), setting.name


def _reads_environment(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
            lines.append(node.lineno)
    return lines


# torchrun's own variables (RANK, WORLD_SIZE, LOCAL_RANK) belong to the launcher's protocol, not to our settings.
ALLOWED = {"fer_core/settings.py", "fer_core/training/distributed.py"}
CODE = sorted(p for folder in ("fer_core", "fer_app", "pages") for p in (REPO / folder).rglob("*.py"))


def test_only_settings_reads_the_environment() -> None:
    readers = {
        str(p.relative_to(REPO)): lines
        for p in CODE
        if str(p.relative_to(REPO)) not in ALLOWED and (lines := _reads_environment(p))
    }
    assert not readers, f"read the environment outside fer_core.settings: {readers}"
