"""The pinned requirement files and pyproject's install groups name the same packages, and the light one has no torch.

requirements-app.txt (the app on ONNX Runtime) = pyproject ``dependencies`` + the ``app`` extra;
requirements.txt adds exactly the ``train`` extra; requirements-dev.txt adds the ``dev`` extra's test tools.
Every pin satisfies the group's version range.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
TORCH_STACK = {"torch", "torchvision", "timm", "transformers"}


def pinned(file: str) -> dict[str, str]:
    """Package -> pinned version of a requirements file and the files it includes with ``-r``."""
    pins: dict[str, str] = {}
    for raw in (REPO / file).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-e"):
            continue
        if line.startswith("-r"):
            pins |= pinned(line.removeprefix("-r").strip())
            continue
        name, separator, version = line.partition("==")
        assert separator, f"{file}: {line!r} is not pinned with =="
        pins[canonicalize_name(name)] = version
    return pins


def group(*names: str) -> dict[str, Requirement]:
    """Requirements of pyproject's base ``dependencies`` (name ``base``) and the named extras, self-references out."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = [
        line
        for name in names
        for line in (project["dependencies"] if name == "base" else project["optional-dependencies"][name])
    ]
    requirements = [Requirement(line) for line in lines]
    return {
        canonicalize_name(r.name): r
        for r in requirements
        if canonicalize_name(r.name) != canonicalize_name(project["name"])
    }


@pytest.mark.parametrize(
    ("file", "groups", "included"),
    [
        ("requirements-app.txt", ("base", "app"), None),
        ("requirements.txt", ("train",), "requirements-app.txt"),
        ("requirements-dev.txt", ("dev",), "requirements.txt"),
    ],
)
def test_pins_match_the_install_group(file: str, groups: tuple[str, ...], included: str | None):
    own = pinned(file)
    if included is not None:
        own = {name: version for name, version in own.items() if name not in pinned(included)}
    expected = group(*groups)
    assert sorted(own) == sorted(expected), f"{file} and pyproject {groups} list different packages"
    for name, version in own.items():
        assert expected[name].specifier.contains(version), f"{file}: {name}=={version} is outside {expected[name]}"


def test_the_light_install_has_no_torch_stack():
    assert TORCH_STACK.isdisjoint(pinned("requirements-app.txt"))
    assert TORCH_STACK.isdisjoint(group("base", "app"))
