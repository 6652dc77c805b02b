"""Choose what a two-head model serves - its FER2013 head, its FER+ head or a fusion - on the validation splits.

    python scripts/choose_served_answer.py --model cnn_robust_joint [--write]

Prints every candidate's mean balanced accuracy over FER2013 PublicTest and FER+ Valid and its predicted vs true neutral
share; ``--write`` records the winner in the card (``default_head``, ``fusion``). The rule is
fer_core.evaluation.served_answer's.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from fer_core import settings
from fer_core.apps.workflows import choose_served_answer_for


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data-root", type=Path, default=settings.data_dir())
    parser.add_argument("--write", action="store_true", help="serve the winner: write it into the card")
    parser.add_argument(
        "--split", default="val", choices=("val", "test"), help="test: report the candidates (never chosen there)"
    )
    args = parser.parse_args(argv)
    choice = choose_served_answer_for(args.model, data_root=args.data_root, write=args.write, split=args.split)
    for row in choice["candidates"]:
        shares = "  ".join(
            f"{dataset} acc {v['accuracy']:.4f} F1 {v['macro_f1']:.4f} bal {v['balanced_accuracy']:.4f} "
            f"neutral {v['share']['neutral'][0]:.3f}"
            f"/{v['share']['neutral'][1]:.3f}"
            for dataset, v in row["validation"].items()
        )
        print(f"{row['answer']:<22} mean balanced acc {row['mean_balanced_accuracy']:.4f}  {shares}")
    print(f"best-scoring answer: {choice['best_answer']} (bootstrap standard error {choice['standard_error']:.4f})")
    best = "chosen on the test splits (for reporting only)" if args.split == "test" else "chosen"
    print(f"{best}: {choice['chosen']}" + (" (written to the card)" if args.write else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
