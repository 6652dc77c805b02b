"""scripts/choose_default.py: the documented rule for the default model, on synthetic cards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import load_script

from fer_core.store.card import HeadCard, ModelCard
from fer_core.store.model_dir import ModelDir


@pytest.fixture(scope="module")
def rule():
    return load_script("choose_default")


def _card(model_id: str, score: float | None, ratio: float | None, heads: bool = True) -> ModelCard:
    card = ModelCard(id=model_id, family="timm", peer_latency={"ratio_to_fer": ratio} if ratio is not None else None)
    if heads:
        table = [{"tau": 0.0, "accuracy": score, "macro_f1": score, "score": score}]
        balance = {"tau": 0.0, "validation": table} if score is not None else None
        card.heads = {h: HeadCard(balance=balance) for h in ("fer2013", "ferplus")}
    return card


def _write(root: Path, cards: list[ModelCard]) -> None:
    for card in cards:
        ModelDir(root / card.id).write_card(card)


def test_the_best_fast_two_head_model_wins_and_is_written(rule, tmp_path: Path) -> None:
    cards = [
        _card("slow_best", 0.9, 1.5),  # too slow
        _card("single", None, 0.5, heads=False),  # one label set
        _card("unbalanced", None, 0.5),
        _card("fast_good", 0.7, 0.8),
        _card("fast_better", 0.75, 1.0),
    ]
    _write(tmp_path, cards)
    rows = rule.rank(tmp_path)
    assert [r["model"] for r in rows if r["eligible"]] == ["fast_better", "fast_good"]
    why = {r["model"]: r["why_not"] for r in rows}
    assert why["slow_best"] == "1.50x fer's latency" and why["single"] == "serves one label set"
    assert why["unbalanced"] == "no balanced fer2013 head; no balanced ferplus head"
    assert rule.main(["--checkpoints", str(tmp_path), "--write"]) == 0
    assert json.loads((tmp_path / "default.json").read_text()) == {"model": "fast_better"}


def test_no_eligible_model_leaves_the_default_alone(rule, tmp_path: Path) -> None:
    _write(tmp_path, [_card("slow", 0.9, 2.0)])
    assert rule.main(["--checkpoints", str(tmp_path), "--write"]) == 1
    assert not (tmp_path / "default.json").exists()


@pytest.mark.parametrize(
    ("peer_latency", "reason"),
    [
        ({"ratio_to_fer": 0.86, "ratio_quartiles": [0.85, 0.88]}, None),
        ({"ratio_to_fer": 0.97, "ratio_quartiles": [0.9, 1.04]}, "ties fer's latency (0.97x, quartiles 0.90-1.04)"),
        ({"ratio_to_fer": 0.95}, None),  # a card measured before quartiles were kept
        ({"ratio_to_fer": 1.13, "ratio_quartiles": [1.1, 1.2]}, "1.13x fer's latency"),
        ({}, "no peer benchmark"),
    ],
)
def test_a_model_must_beat_fer_in_most_rounds_not_only_at_the_median(rule, peer_latency, reason) -> None:
    assert rule.latency_reason(peer_latency) == reason
