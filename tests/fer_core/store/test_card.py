"""ModelCard: every shipped card round-trips unchanged; every shape a card takes reads back typed; bad fields named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fer_core.data.preprocess import InputSpec
from fer_core.store.card import SCHEMA_VERSION, CardError, HeadCard, Latency, ModelCard, TestMetrics
from fer_core.store.model_dir import CHECKPOINTS_DIR, Checkpoints

SHIPPED_CARDS = sorted(CHECKPOINTS_DIR.glob("*/card.json"))
HEAD = {"labels": ["a", "b"], "outputs": [0, 2], "logit_bias": [0.0, -0.5], "balance": {"tau": 0.5}}
TEST = {"dataset": "fer2013", "split": "test", "samples": 10, "accuracy": 0.5, "run": "runs/fer2013-test.parquet"}
BASE = {
    "id": "m",
    "architecture": "cnn",
    "labels": ["a", "b"],
    "input": {"size": 48, "channels": 1, "mean": [0.5], "std": [0.25]},
}

# Every kind of card the project writes: trained, multi-head (balanced, quantised, benchmarked), ensemble, hub.
CARD_SHAPES = [
    pytest.param({**BASE, "arch_args": {"widths": [8, 16]}, "metrics": {"test": TEST}}, id="single-head"),
    pytest.param(
        {
            **BASE,
            "heads": {"x": {**HEAD, "metrics": {"test": TEST}}, "y": {"labels": ["c"], "outputs": [2, 3]}},
            "default_head": "x",
            "num_outputs": 3,
            "onnx": {"file": "model.int8.onnx", "kept": True},
            "latency_ms_per_face": 0.2,
            "latency": {"backend": "onnx", "threads": 1, "batch": 1, "machine": "x86_64", "command": "bench"},
            "peer_latency": {"ratio_to_fer": 0.6},
        },
        id="multi-head",
    ),
    pytest.param({**BASE, "family": "ensemble", "members": ["a", "b@x"], "weights": [1, 2]}, id="ensemble"),
    pytest.param({**BASE, "logit_bias": [0.1, 0.2], "balance": {"tau": 1.0}, "future_key": [1]}, id="unknown-key"),
    pytest.param({"id": "dashboard-only", "params": 100, "latency_ms_per_face": None}, id="minimal"),
]


@pytest.mark.skipif(not SHIPPED_CARDS, reason="no shipped models in checkpoints/")
@pytest.mark.parametrize("path", SHIPPED_CARDS, ids=[p.parent.name for p in SHIPPED_CARDS])
def test_every_shipped_card_round_trips_to_the_same_text(path: Path) -> None:
    """Written again, a shipped card is the same file; a card older than the schema version gains only that key."""
    data = json.loads(path.read_text())
    written = ModelCard.from_dict(data, path).to_dict()
    assert written["schema_version"] == SCHEMA_VERSION
    if "schema_version" not in data:
        del written["schema_version"]
    assert json.dumps(written, indent=2) + "\n" == path.read_text()


@pytest.mark.parametrize("data", CARD_SHAPES)
def test_card_shapes_round_trip(data: dict) -> None:
    card = ModelCard.from_dict(data)
    expected = {k: v for k, v in data.items() if v is not None}
    assert {k: v for k, v in card.to_dict().items() if k != "schema_version"} == expected
    assert ModelCard.from_dict(card.to_dict()) == card


def test_parts_are_typed() -> None:
    card = ModelCard.from_dict(CARD_SHAPES[1].values[0])
    assert card.labels == ("a", "b") and card.input == InputSpec(size=48, channels=1)
    head = card.heads["x"]
    assert isinstance(head, HeadCard) and head.outputs == (0, 2) and head.logit_bias == (0.0, -0.5)
    assert head.test_metrics == TestMetrics(**TEST)
    assert card.latency == Latency(backend="onnx", threads=1, batch=1, machine="x86_64", command="bench")
    assert card.onnx_file == "model.int8.onnx" and card.head_names() == ["x", "y"]


def test_a_new_card_is_written_in_field_order_with_its_version_first() -> None:
    card = ModelCard(id="m", labels=("a",), input=InputSpec(), metrics={}, params=3)
    assert list(card.to_dict()) == ["schema_version", "id", "labels", "input", "metrics", "params"]


@pytest.mark.parametrize(
    ("dataset", "trained", "expected"),
    [
        ("fer2013", "fer2013+ferplus", True),
        ("ferplus", "fer2013+ferplus", True),
        ("rafdb", "fer2013", False),
        ("rafdb", None, True),
    ],
)
def test_trained_on(dataset: str, trained: str | None, expected: bool) -> None:
    card = ModelCard(training={"dataset": trained} if trained else None)
    assert card.trained_on(dataset) is expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": "angry"}, "labels"),
        ({"labels": ["a", "a"]}, "distinct"),
        ({"input": {"channels": 1}}, "'input' has no 'size'"),
        ({"input": {"size": 48, "channels": 2}}, "channels"),
        ({"params": "many"}, "'params' must be int"),
        ({"params": True}, "'params' must be int"),
        ({"heads": {"x": {"labels": ["a"], "outputs": [0]}}}, "outputs"),
        ({"heads": {"x": 3}}, "a head must be an object"),
        ({"members": "a"}, "needs 'members'"),
        ({"logit_bias": ["x"]}, "logit_bias"),
        ({"latency": {"threads": "one"}}, "threads"),
        ({"metrics": {"test": {"accuracy": "high"}}}, "accuracy"),
        ({"schema_version": SCHEMA_VERSION + 1}, "newer"),
    ],
)
def test_bad_fields_are_named(change: dict, message: str) -> None:
    with pytest.raises(CardError, match=message) as raised:
        ModelCard.from_dict({**BASE, **change}, Path("/m/card.json"))
    assert str(raised.value).startswith("/m/card.json: ")


def test_not_an_object() -> None:
    with pytest.raises(CardError, match="JSON object"):
        ModelCard.from_dict([1, 2])


@pytest.mark.skipif(not SHIPPED_CARDS, reason="no shipped models in checkpoints/")
def test_every_shipped_model_reads_through_the_checkpoints_root() -> None:
    checkpoints = Checkpoints(CHECKPOINTS_DIR)
    for name in checkpoints.names():
        card = checkpoints.read_card(name)
        assert card.id == name and card.labels and card.input is not None
