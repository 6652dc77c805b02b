"""The checkpoints root and the model directories in it: the one owner of their paths and of writing their files.

``Checkpoints`` is a folder of model directories (``checkpoints/`` in the repository, ``$FER_CHECKPOINTS_DIR``, or
any folder given): it lists them, names the default one and resolves a name, ``"default"`` or a path. ``ModelDir``
is one directory: where its card, config, weights, ONNX files, history and stored runs are, reading the card as a
:class:`~fer_core.store.card.ModelCard`, and writing JSON atomically (a temporary file renamed over the old one, so a
reader never sees half a card). ``update_card`` holds an advisory lock on the directory while it reads, changes
and writes the card, so two commands updating one card (``bench --update-card`` and ``balance``) do not lose
each other's change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fer_core import settings
from fer_core.store.card import ModelCard
from fer_core.store.files import write_json_atomic
from fer_core.store.json_files import ModelLoadError, read_json_object, refuse_remote_code

__all__ = [
    "CARD_FILE",
    "CHECKPOINTS_DIR",
    "CONFIG_FILE",
    "DEFAULT_FILE",
    "EXPORTED_FILES",
    "HEAD_SEPARATOR",
    "HISTORY_FILE",
    "INT8_FILE",
    "ONNX_FILE",
    "PEERS_DIR",
    "PEER_FAMILY",
    "PREPROCESSOR_FILE",
    "RUNS_DIR",
    "WEIGHTS_FILE",
    "Checkpoints",
    "ModelDir",
    "run_stem",
    "split_head",
    "write_json_atomic",
]

CHECKPOINTS_DIR = settings.REPO_ROOT / "checkpoints"
CHECKPOINTS_ENV = settings.CHECKPOINTS_DIR.name
DEFAULT_FILE = "default.json"
CARD_FILE = "card.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
EXPORTED_FILES = (ONNX_FILE, INT8_FILE)  # written from the weights by export and quantize, stale once they change
HISTORY_FILE = "history.csv"
PREPROCESSOR_FILE = "preprocessor_config.json"
RUNS_DIR = "runs"
# Other packages' models, scored by our code on our data: a card and stored runs each, no weights (not loadable)
PEERS_DIR = "peers"
PEER_FAMILY = "peer"  # the card ``family`` of such a model
HEAD_SEPARATOR = "@"


def run_stem(dataset: str, split: str, tta: str = "none", answer: str | None = None) -> str:
    """File name (without suffix) of a run: ``<dataset id>-<split>``, plus ``-tta-<mode>`` for a test-time
    augmented run and ``-<answer>`` for a fused answer (so each sits beside the plain run instead of replacing
    it); characters other than letters, digits and ``._+-`` replaced by ``_``, so any dataset id
    (``my faces/2024``) stays one file inside ``runs/``."""
    name = f"{dataset}-{split}" + ("" if tta == "none" else f"-tta-{tta}") + (f"-{answer}" if answer else "")
    safe = re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._")
    return safe or "run"


def split_head(name_or_path: str | Path) -> tuple[str, str | None]:
    """``"model@ferplus"`` -> ``("model", "ferplus")``; a name without a head -> ``(name, None)``."""
    text = str(name_or_path)
    base, sep, head = text.rpartition(HEAD_SEPARATOR)
    if not sep or not head or "/" in head or Path(text).is_dir():
        return text, None
    return base, head


@contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``directory`` itself (no lock file is left in the model directory)."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: the atomic rename alone still keeps readers safe
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _file(name: str, doc: str) -> property:
    """A read-only property: the path of the directory's file ``name``."""
    return property(lambda self: self.path / name, doc=doc)


@dataclass(frozen=True)
class ModelDir:
    """One model directory: the paths of its files, its card, its config and its stored runs."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def name(self) -> str:
        return self.path.name

    card_path = _file(CARD_FILE, "``card.json``: the model card")
    config_path = _file(CONFIG_FILE, "``config.json``: the architecture (timm layout) or transformers config")
    weights_path = _file(WEIGHTS_FILE, "``model.safetensors``: the weights")
    onnx_path = _file(ONNX_FILE, "``model.onnx``: the float ONNX export")
    history_path = _file(HISTORY_FILE, "``history.csv``: per-epoch training history")
    preprocessor_path = _file(PREPROCESSOR_FILE, "``preprocessor_config.json`` of a hub directory")
    runs_dir = _file(RUNS_DIR, "``runs/``: the stored evaluation runs")

    def has_card(self) -> bool:
        return self.card_path.is_file()

    def run_paths(self, dataset: str, split: str, tta: str = "none", answer: str | None = None) -> tuple[Path, Path]:
        """Parquet and JSON sidecar paths of the stored run of ``dataset``/``split`` (TTA mode, fused answer)."""
        stem = self.runs_dir / run_stem(dataset, split, tta, answer)
        return stem.with_suffix(".parquet"), stem.with_suffix(".json")

    @staticmethod
    def run_reference(dataset: str, split: str) -> str:
        """How a card names a stored run: relative to the model directory, ``runs/<stem>.parquet``."""
        return f"{RUNS_DIR}/{run_stem(dataset, split)}.parquet"

    def run_files(self) -> list[Path]:
        """The stored runs' parquet files, sorted by name."""
        return sorted(self.runs_dir.glob("*.parquet"))

    def read_card(self) -> ModelCard:
        """The card (ModelLoadError naming the file when it is missing, unreadable or of the wrong shape)."""
        return ModelCard.from_dict(read_json_object(self.card_path), self.card_path)

    def read_config(self) -> dict[str, Any]:
        """``config.json``, refused when it asks transformers to run code shipped in the directory."""
        config = read_json_object(self.config_path)
        refuse_remote_code(config, self.config_path)
        return config

    def write_card(self, card: ModelCard) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.card_path, card.to_dict())

    def write_json(self, name: str, data: dict) -> Path:
        """Write ``data`` atomically as the directory's file ``name`` (config.json, a run sidecar ...)."""
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, data)
        return path

    def update_card(self, change: Callable[[ModelCard], None]) -> ModelCard:
        """Read the card, let ``change`` edit it in place, write it back; one writer at a time."""
        with _directory_lock(self.path):
            card = self.read_card()
            change(card)
            self.write_card(card)
        return card


@dataclass(frozen=True)
class Checkpoints:
    """A folder of model directories (shipped ``checkpoints/`` unless another is named)."""

    root: Path

    @classmethod
    def at(cls, root: Path | str | None = None) -> Checkpoints:
        """``root`` if given, else ``$FER_CHECKPOINTS_DIR``, else the repository's ``checkpoints/``."""
        if root is not None:
            return cls(Path(root))
        return cls(settings.checkpoints_dir())

    def names(self) -> list[str]:
        """Names of the model directories under the root (those with a ``card.json``)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / CARD_FILE).is_file())

    def model_dirs(self) -> list[ModelDir]:
        """Every directory under the root that holds a card or stored runs."""
        if not self.root.is_dir():
            return []
        found = (p for p in sorted(self.root.iterdir()) if p.is_dir())
        return [ModelDir(p) for p in found if (p / CARD_FILE).is_file() or (p / RUNS_DIR).is_dir()]

    def peer_dirs(self) -> list[ModelDir]:
        """The stored runs of other packages' models (``<root>/peers/<name>/``), shown beside ours in the dashboard.

        ``peers/`` has no card, so it is never taken for a model directory; its folders hold no weights.
        """
        return Checkpoints(self.root / PEERS_DIR).model_dirs()

    def default_name(self) -> str:
        """Name of the shipped default model (``default.json``: ``{"model": "<directory>"}``)."""
        path = self.root / DEFAULT_FILE
        name = read_json_object(path).get("model")
        if not isinstance(name, str) or not name:
            expected = '{"model": "<directory>"}'
            raise ModelLoadError(f"{path}: cannot read the default model name (expected {expected})")
        return name

    def resolve(self, name_or_path: str | Path) -> ModelDir:
        """The directory of a model name under the root, ``"default"``, or a path to a directory."""
        text = str(name_or_path)
        if text == "default":
            text = self.default_name()
        candidate = Path(text).expanduser()
        if candidate.is_dir():
            return ModelDir(candidate)
        shipped = self.root / text
        if shipped.is_dir():
            return ModelDir(shipped)
        known = ", ".join(self.names()) or "none"
        raise ModelLoadError(f"unknown model {text!r}: not a directory and not a shipped model; known: {known}")

    def read_card(self, name_or_path: str | Path) -> ModelCard:
        """The card of a model name (``name@head`` allowed), ``"default"`` or path; no weights are read."""
        return self.resolve(split_head(name_or_path)[0]).read_card()

    def choices(self) -> list[str]:
        """What a model picker offers: every model, and ``model@head`` once per head of a multi-head model."""
        choices = []
        for name in self.names():
            try:
                card = self.resolve(name).read_card()
                heads = card.head_names() + ([card.fused_head] if card.fused_head else [])
            except ModelLoadError:  # an unreadable card must not hide the other models; loading it says why
                heads = []
            choices += [f"{name}{HEAD_SEPARATOR}{h}" for h in heads] or [name]
        return choices
