"""Rewrite stored runs in the compact form ``fer_core.evaluation.evaluate`` now writes (float16, clean probabilities
only).

    python scripts/compact_runs.py [--checkpoints checkpoints]

Predictions, labels and metadata are unchanged, so every accuracy, confusion matrix and robustness table stays
the same; calibration (ECE) is computed from float16 instead of float32 probabilities.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pandas as pd

from fer_core.store.model_dir import Checkpoints
from fer_core.store.runs import PROBABILITIES_NOTE, read_run_info, save_run

REPO = Path(__file__).resolve().parents[1]


def compact_run(parquet_path: Path) -> tuple[int, int]:
    """Rewrite one run in place; returns its size in bytes before and after."""
    before = parquet_path.stat().st_size
    info = replace(read_run_info(parquet_path.with_suffix(".json")), probabilities=PROBABILITIES_NOTE)
    save_run(parquet_path, pd.read_parquet(parquet_path), info)
    return before, parquet_path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, default=REPO / "checkpoints")
    args = parser.parse_args(argv)
    runs = [path for model_dir in Checkpoints(args.checkpoints).model_dirs() for path in model_dir.run_files()]
    for parquet_path in runs:
        before, after = compact_run(parquet_path)
        print(f"{parquet_path.relative_to(args.checkpoints)}: {before / 1e6:.2f} MB -> {after / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
