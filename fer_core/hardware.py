"""What the machine's CPU can do, read once from ``/proc/cpuinfo``: its name and the vector units that matter.

Two decisions hang on it. Training precision: bf16 autocast runs 1.8x faster training steps than fp32 on a CPU
with native bf16 instructions (AVX512-BF16 or AMX; measured 1.5-5x for this project's networks) and about 10x
slower on one without them (AVX2 emulates bf16). Latency reports: int8 kernels differ most between CPUs with and
without VNNI, so every latency names the CPU it was measured on.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

__all__ = ["CpuInfo", "cpu_info", "readable_cpu", "training_precision"]

CPUINFO = Path("/proc/cpuinfo")
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


class CpuInfo:
    """The CPU's model name and flags (those of the first logical CPU, which are the machine's)."""

    def __init__(self, model_name: str, flags: frozenset[str]) -> None:
        self.model_name = model_name
        self.flags = flags

    @classmethod
    def parse(cls, text: str) -> CpuInfo:
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
        return cls(fields.get("model name", "unknown CPU"), frozenset(fields.get("flags", "").split()))

    @property
    def has_bf16(self) -> bool:
        return bool(self.flags & BF16_FLAGS)

    @property
    def simd(self) -> str:
        return "AVX-512" if "avx512f" in self.flags else "AVX2" if "avx2" in self.flags else "no AVX2"

    def describe(self) -> str:
        """e.g. "AMD EPYC (AVX-512, VNNI, BF16)": the name and the units that change speed."""
        units = [self.simd, "VNNI" if self.flags & VNNI_FLAGS else "no VNNI"]
        if self.has_bf16:
            units.append("BF16")
        if "amx_bf16" in self.flags:
            units.append("AMX")
        return f"{self.model_name} ({', '.join(units)})"


def cpu_info(path: Path = CPUINFO) -> CpuInfo | None:
    """This machine's CPU, or None where ``/proc/cpuinfo`` cannot be read (not Linux)."""
    try:
        return CpuInfo.parse(path.read_text(errors="replace"))
    except OSError:
        return None


def readable_cpu(description: str) -> str:
    """A recorded CPU description without trademark marks, clock and filler words, for a table cell.

    "Intel(R) Xeon(R) Platinum 8488C CPU @ 2.40GHz (AVX-512, VNNI, BF16, AMX)" ->
    "Intel Xeon Platinum 8488C (AVX-512, VNNI, BF16, AMX)".
    """
    text = re.sub(r"\((R|TM|tm)\)", "", description)
    text = re.sub(r"@\s*[\d.]+\s*GHz", "", text)
    text = re.sub(r"\b(CPU|Processor)\b", "", text)
    return " ".join(text.split()).replace(" )", ")")


def training_precision(requested: str, device_type: str) -> str:
    """``fp32`` or ``bf16`` for a recipe's ``precision``: ``auto`` takes bf16 on CUDA and on bf16-capable CPUs."""
    if requested != "auto":
        return requested
    if device_type == "cuda":
        return "bf16"
    info = _this_cpu()
    return "bf16" if device_type == "cpu" and info is not None and info.has_bf16 else "fp32"


@lru_cache(maxsize=1)
def _this_cpu() -> CpuInfo | None:
    return cpu_info()
