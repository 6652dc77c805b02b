"""Write the counted forward MFLOPs per face into every model card that lacks them (cards saved before they did).

    python scripts/card_mflops.py [--checkpoints checkpoints]

Uses the same counter as training (``fer_core.serving.classifier.forward_mflops``: ``torch.utils.flop_counter`` at the
card's input size); ensembles get their members' total.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fer_core.serving.classifier import forward_mflops, load_trained_model
from fer_core.store.card import ModelCard
from fer_core.store.model_dir import Checkpoints, ModelDir

REPO = Path(__file__).resolve().parents[1]


def model_mflops(directory: ModelDir, card: ModelCard, checkpoints: Checkpoints) -> float | None:
    if card.is_ensemble:
        values = [checkpoints.read_card(member).mflops for member in card.members]
        return None if None in values else round(sum(values), 3)
    clf = load_trained_model(directory.path, action="counting FLOPs", backend="torch")
    return forward_mflops(clf.module, clf.input_spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, default=REPO / "checkpoints")
    args = parser.parse_args(argv)
    checkpoints = Checkpoints(args.checkpoints)
    directories = [d for d in checkpoints.model_dirs() if d.has_card()]
    for directory in sorted(directories, key=lambda d: d.read_card().is_ensemble):  # members before ensembles
        card = directory.read_card()
        if card.mflops is not None:
            continue
        mflops = model_mflops(directory, card, checkpoints)
        directory.update_card(lambda card, mflops=mflops: setattr(card, "mflops", mflops))
        print(f"{directory.name}: {mflops} MFLOPs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
