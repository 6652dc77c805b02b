"""The project installs as a package: a wheel holds fer_core with its recipe files and the fer-studio command, and
the scripts import the installed package instead of patching ``sys.path``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    pytest.importorskip("setuptools", reason="building the wheel offline needs setuptools in the environment")
    out, source = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("source")
    # A copy: setuptools writes build/ and *.egg-info beside the sources, which must not land in the repository.
    shutil.copytree(ROOT / "fer_core", source / "fer_core", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"building the wheel failed:\n{done.stdout}{done.stderr}"
    return zipfile.ZipFile(next(out.glob("fer_studio-*.whl")))


def test_wheel_holds_every_module_and_recipe(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "fer_core").rglob("*.py")}
    recipes = {str(p.relative_to(ROOT)) for p in (ROOT / "fer_core").rglob("recipe_files/*.json")}
    assert recipes and modules | recipes <= names
    top_level = {name.split("/")[0] for name in names}
    assert len(top_level) == 2 and "fer_core" in top_level  # fer_core and its .dist-info, nothing else


def test_wheel_installs_the_fer_studio_command(wheel: zipfile.ZipFile) -> None:
    entry_points = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    assert "fer-studio = fer_core.apps.cli:main" in wheel.read(entry_points).decode()


@pytest.mark.parametrize("script", sorted((ROOT / "scripts").glob("*.py")), ids=lambda p: p.name)
def test_script_does_not_patch_the_import_path(script: Path) -> None:
    assert "sys.path" not in script.read_text(encoding="utf-8")
