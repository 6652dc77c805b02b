"""CPU descriptions as tables show them."""

from __future__ import annotations

import pytest

from fer_core.hardware import readable_cpu


@pytest.mark.parametrize(
    ("recorded", "shown"),
    [
        (
            "Intel(R) Xeon(R) Platinum 8488C CPU @ 2.40GHz (AVX-512, VNNI, BF16, AMX)",
            "Intel Xeon Platinum 8488C (AVX-512, VNNI, BF16, AMX)",
        ),
        ("AMD EPYC (AVX-512, VNNI, BF16)", "AMD EPYC (AVX-512, VNNI, BF16)"),
        ("Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz", "Intel Core i7-8550U"),
    ],
)
def test_readable_cpu_drops_marks_clock_and_filler(recorded: str, shown: str) -> None:
    assert readable_cpu(recorded) == shown
