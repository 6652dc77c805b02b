"""Write the counted forward MFLOPs per face into every model card that lacks them (cards saved before they did).

    python scripts/card_mflops.py [--checkpoints checkpoints]

Uses the same counter as training (``fer_core.zoo.forward_mflops``: ``torch.utils.flop_counter`` at the card's
input size); ensembles get their members' total.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fer_core.workflows import write_json_atomic  # noqa: E402  (after the repository is on the path)
from fer_core.zoo import forward_mflops, load_model  # noqa: E402


def model_mflops(directory: Path, card: dict, root: Path) -> float | None:
    if card.get("family") == "ensemble":
        members = [json.loads((root / m.split("@")[0] / "card.json").read_text()) for m in card["members"]]
        values = [m.get("mflops") for m in members]
        return None if None in values else round(sum(values), 3)
    return forward_mflops(load_model(directory, backend="torch").module, card)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, default=REPO / "checkpoints")
    args = parser.parse_args(argv)
    for card_path in sorted(args.checkpoints.glob("*/card.json"), key=lambda p: "ensemble" in p.parent.name):
        card = json.loads(card_path.read_text(encoding="utf-8"))
        if card.get("mflops") is not None:
            continue
        card["mflops"] = model_mflops(card_path.parent, card, args.checkpoints)
        write_json_atomic(card_path, card)
        print(f"{card_path.parent.name}: {card['mflops']} MFLOPs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
