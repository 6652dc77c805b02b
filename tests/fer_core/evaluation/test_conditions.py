"""The one condition grammar: parsing, names, descriptions, and its errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fer_core.evaluation import conditions
from fer_core.evaluation.conditions import CORRUPTIONS, Corruption, Resize, parse_condition


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clean", None),
        ("resize:24:linear>linear", Resize(24, "linear", "linear")),
        ("jpeg:1", Corruption("jpeg", 1)),
        ("mouth:3", Corruption("mouth", 3)),
    ],
)
def test_parse_and_name_round_trip(text: str, expected) -> None:
    parsed = parse_condition(text)
    assert parsed == expected
    assert (parsed.name if parsed is not None else "clean") == text


@pytest.mark.parametrize(
    "bad", ["", "resize:0:cubic>cubic", "resize:8:cubic", "resize:8:a>b>c", "blur", "blur:0", "blur:x", "fog:2"]
)
def test_bad_conditions_name_every_valid_form(bad: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_condition(bad)
    message = str(error.value)
    assert repr(bad) in message and "resize:<px>:<down>><up>" in message
    assert all(kind in message for kind in CORRUPTIONS)
    assert parse_condition(bad, strict=False) is None


def test_every_corruption_has_three_severities_in_words() -> None:
    names = conditions.corruption_conditions()
    assert len(names) == 3 * len(CORRUPTIONS) and len(set(names)) == len(names)
    for name in names:
        text = conditions.describe_condition(name)
        assert CORRUPTIONS[name.split(":")[0]].title in text


def test_unknown_corruption_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: blur, motion"):
        conditions.corruption_conditions(["blur", "fog"])


def test_the_grammar_needs_neither_opencv_nor_torch() -> None:
    code = "import sys, fer_core.evaluation.conditions; print('cv2' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
