"""Read stored evaluation runs, model cards and training histories (what the dashboard needs; no weights).

Layout (written by ``fer_core.evaluation.evaluate``): ``<checkpoints>/<model>/card.json``, ``history.csv`` and
``runs/<dataset>-<split>.parquet`` with its ``.json`` sidecar. A bad file must never take the dashboard down, so
``scan_runs`` collects every unreadable or malformed run as a ``RunProblem`` and carries on with the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fer_core.errors import ModelLoadError, RunFormatError
from fer_core.labels import labels_of_columns, prob_column
from fer_core.store.card import ModelCard
from fer_core.store.json_files import read_json_object
from fer_core.store.model_dir import Checkpoints, ModelDir

__all__ = [
    "REQUIRED_COLUMNS",
    "REQUIRED_INFO_KEYS",
    "RunFormatError",
    "RunProblem",
    "RunScan",
    "StoredRun",
    "compact_rows",
    "discover_runs",
    "load_history",
    "load_run",
    "read_model_card",
    "scan_runs",
]

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("sample_id", "condition", "label", "pred")
REQUIRED_INFO_KEYS = ("model_id", "dataset", "split", "labels")


CLEAN_CONDITION = "clean"


def compact_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows as stored: probabilities in float16 and kept for the clean condition only.

    Only clean rows' probabilities are ever read back (calibration); the resize conditions are scored by their
    ``pred`` column, which is kept for every row. This cuts a run with the full resize grid about 13-fold (2.8 MB
    to about 0.2 MB for FER2013 PrivateTest), which keeps a zoo of models within the repository's size budget.
    """
    stored = rows.copy()
    columns = [prob_column(name) for name in labels_of_columns(stored.columns)]
    stored[columns] = stored[columns].astype("float32")
    stored.loc[stored["condition"] != CLEAN_CONDITION, columns] = float("nan")
    stored[columns] = stored[columns].astype("float16")
    return stored


@dataclass
class StoredRun:
    """One evaluation of one model on one dataset split: the sidecar, the rows and the model's card."""

    model_id: str
    dataset: str
    split: str
    path: Path
    info: dict
    rows: pd.DataFrame = field(repr=False)
    card: ModelCard = field(default_factory=ModelCard, repr=False)

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names in label-id order (from the sidecar; the ``p_<class>`` columns follow it)."""
        return tuple(self.info["labels"])

    @property
    def conditions(self) -> list[str]:
        """Conditions in the order the run was evaluated (sidecar first, else as they occur in the rows)."""
        listed = self.info.get("conditions")
        if listed:
            return [str(c) for c in listed]
        return [str(c) for c in dict.fromkeys(self.rows["condition"].astype(str))]

    @property
    def key(self) -> str:
        """A name unique within one checkpoints root: ``model/dataset-split``."""
        return f"{self.model_id}/{self.dataset}-{self.split}"


@dataclass(frozen=True)
class RunProblem:
    """A file that could not be used, and why (shown as a warning, never raised)."""

    path: Path
    message: str


@dataclass
class RunScan:
    """Everything found under a checkpoints root: the usable runs and the problems met on the way."""

    runs: list[StoredRun]
    problems: list[RunProblem]


def _read_json_object(path: Path) -> dict:
    """A JSON object from a UTF-8 file (the project's one reader); RunFormatError for anything wrong with it."""
    try:
        return read_json_object(path)
    except ModelLoadError as error:
        raise RunFormatError(str(error)) from None


def read_model_card(model_dir: ModelDir) -> ModelCard:
    """The card of a model directory as the dashboard reads it; RunFormatError when it cannot be used."""
    try:
        return model_dir.read_card()
    except ModelLoadError as error:
        raise RunFormatError(str(error)) from None


def load_history(model_dir: ModelDir) -> pd.DataFrame | None:
    """Per-epoch training history, or None when the model ships none.

    Raises RunFormatError when the file lacks an ``epoch`` column, the one column every learning curve needs.
    """
    path = model_dir.history_path
    if not path.is_file():
        return None
    try:
        history = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise RunFormatError(f"{path}: unreadable CSV ({error})") from None
    if "epoch" not in history.columns:
        raise RunFormatError(f"{path}: missing column 'epoch'; found {', '.join(map(str, history.columns))}")
    return history


def _validate_info(info: dict, path: Path) -> None:
    missing = [key for key in REQUIRED_INFO_KEYS if key not in info]
    if missing:
        raise RunFormatError(f"{path}: sidecar missing keys {', '.join(missing)}")
    labels = info["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(name, str) for name in labels):
        raise RunFormatError(f"{path}: sidecar 'labels' must be a non-empty list of class names")
    if len(set(labels)) != len(labels):
        raise RunFormatError(f"{path}: sidecar 'labels' lists a class twice ({', '.join(labels)})")


def _validate_rows(rows: pd.DataFrame, labels: list[str], path: Path) -> None:
    expected = [*REQUIRED_COLUMNS, *(prob_column(name) for name in labels)]
    missing = [column for column in expected if column not in rows.columns]
    if missing:
        raise RunFormatError(f"{path}: missing columns {', '.join(missing)}")
    for column in ("label", "pred"):
        values = rows[column]
        if not pd.api.types.is_integer_dtype(values) or (len(values) and not values.between(0, len(labels) - 1).all()):
            raise RunFormatError(f"{path}: column {column!r} must hold class ids 0..{len(labels) - 1}")


def _widen_probabilities(rows: pd.DataFrame) -> pd.DataFrame:
    """float16 probabilities (the stored form) as float32, so that sums and means keep their precision."""
    columns = [prob_column(name) for name in labels_of_columns(rows.columns)]
    narrow = [c for c in columns if rows[c].dtype == "float16"]
    if narrow:
        rows[narrow] = rows[narrow].astype("float32")
    return rows


def load_run(parquet_path: Path, card: ModelCard | None = None) -> StoredRun:
    """Read and validate one stored run (the parquet file and its JSON sidecar beside it)."""
    parquet_path = Path(parquet_path)
    sidecar = parquet_path.with_suffix(".json")
    if not sidecar.is_file():
        raise RunFormatError(f"{parquet_path}: no sidecar {sidecar.name} beside it")
    info = _read_json_object(sidecar)
    _validate_info(info, sidecar)
    try:
        rows = pd.read_parquet(parquet_path)
    except Exception as error:  # pyarrow raises several unrelated types for a damaged file
        raise RunFormatError(f"{parquet_path}: unreadable parquet ({type(error).__name__}: {error})") from None
    _validate_rows(rows, info["labels"], parquet_path)
    rows = _widen_probabilities(rows)
    return StoredRun(
        model_id=str(info["model_id"]),
        dataset=str(info["dataset"]),
        split=str(info["split"]),
        path=parquet_path,
        info=info,
        rows=rows,
        card=card or ModelCard(),
    )


def _card_or_problem(model_dir: ModelDir, problems: list[RunProblem]) -> ModelCard:
    path = model_dir.card_path
    if not path.exists():
        problems.append(RunProblem(path, f"{path}: missing; size and latency columns stay empty"))
        return ModelCard()
    try:
        return read_model_card(model_dir)
    except (RunFormatError, OSError) as error:
        problems.append(RunProblem(path, str(error)))
    return ModelCard()


def _orphan_sidecars(runs_dir: Path) -> list[RunProblem]:
    return [
        RunProblem(path, f"{path}: sidecar without its parquet file {path.with_suffix('.parquet').name}")
        for path in sorted(runs_dir.glob("*.json"))
        if not path.with_suffix(".parquet").is_file()
    ]


def scan_runs(checkpoints_root: Path) -> RunScan:
    """Every readable run under ``<root>/*/runs/``, sorted by model and run name, plus the problems met."""
    runs: list[StoredRun] = []
    problems: list[RunProblem] = []
    for model_dir in Checkpoints(Path(checkpoints_root)).model_dirs():
        if not model_dir.runs_dir.is_dir():
            continue
        parquet_paths = model_dir.run_files()
        problems.extend(_orphan_sidecars(model_dir.runs_dir))
        if not parquet_paths:
            continue
        card = _card_or_problem(model_dir, problems)
        for parquet_path in parquet_paths:
            try:
                runs.append(load_run(parquet_path, card))
            except (RunFormatError, OSError) as error:
                problems.append(RunProblem(parquet_path, str(error)))
    for problem in problems:
        log.warning("skipped stored run: %s", problem.message)
    return RunScan(runs, problems)


def discover_runs(checkpoints_root: Path) -> list[StoredRun]:
    """The readable runs under a checkpoints root; problems are logged (use ``scan_runs`` to get them too)."""
    return scan_runs(checkpoints_root).runs
