"""Print the compute-budget zoo: params, forward MFLOPs, training throughput and per-face latency per variant.

    python scripts/budget_table.py [--rounds 5] [--names cnn_budget vit_budget] [--json table.json]

FLOPs are counted (torch.utils.flop_counter, a multiply-add is 2 FLOPs) for one 48x48 grey face. Training
throughput is images/s of forward + backward at batch 128, channels_last, on one thread; latency is ms per face at
batch 1 on one thread (torch). All variants are measured in one process in interleaved rounds, so on a busy machine
the ``speed`` column (training throughput relative to ``cnn_budget``, the reference) is the number to compare.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from fer_core.models import list_budget_variants
from fer_core.models.budget import BudgetRow, budget_table

REFERENCE = "cnn_budget"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", nargs="+", choices=list_budget_variants(), help="default: every budget variant")
    parser.add_argument("--rounds", type=int, default=5, help="timed training steps per model (interleaved)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    return parser.parse_args(argv)


def format_rows(rows: list[BudgetRow]) -> str:
    """A plain-text table; ``speed`` is training throughput over the reference's when it was measured."""
    reference = next((row.train_images_per_s for row in rows if row.name == REFERENCE), None)
    lines = [
        f"{'variant':<20} {'budget of':<12} {'input':>5} {'params':>9} {'MFLOPs':>7} {'train img/s':>11} "
        f"{'speed':>5} {'ms/face':>7}"
    ]
    for row in rows:
        speed = f"{row.train_images_per_s / reference:5.2f}" if reference else f"{'-':>5}"
        lines.append(
            f"{row.name:<20} {row.budget_of:<12} {row.img_size:>5} {row.params:>9,} {row.mflops:>7.1f} "
            f"{row.train_images_per_s:>11.0f} {speed} {row.ms_per_face:>7.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rows = budget_table(args.names, rounds=args.rounds, threads=args.threads)
    print(format_rows(rows))
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
