"""Stored evaluation runs (read and write), model cards and training histories as the dashboard reads them.

Layout: ``<checkpoints>/<model>/card.json``, ``history.csv`` and ``runs/<dataset>-<split>.parquet`` with its
``.json`` sidecar, a :class:`RunInfo` (``fer_core.evaluation.evaluate`` writes runs through :func:`save_run`). A bad
file must never take the dashboard down, so ``scan_runs`` collects every unreadable or malformed run as a
``RunProblem`` and carries on with the rest.

A run can be read in part (``conditions=``, ``columns=``): the dashboard keeps only the ``clean`` rows of every run
in memory and reads the resize and corruption rows when a page asks for them, a few percent of the full tables.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fer_core.errors import ModelLoadError, RunFormatError
from fer_core.labels import labels_of_columns, prob_column
from fer_core.store.card import ModelCard
from fer_core.store.files import atomic_path, write_json_atomic
from fer_core.store.json_files import read_json_object
from fer_core.store.model_dir import RUNS_DIR, Checkpoints, ModelDir

__all__ = [
    "PROBABILITIES_NOTE",
    "REQUIRED_COLUMNS",
    "REQUIRED_INFO_KEYS",
    "SCORE_COLUMNS",
    "RunFormatError",
    "RunInfo",
    "RunProblem",
    "RunScan",
    "StoredRun",
    "compact_rows",
    "discover_runs",
    "load_history",
    "load_run",
    "read_model_card",
    "read_run_info",
    "remove_runs_of_other_weights",
    "save_run",
    "scan_runs",
]

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("sample_id", "condition", "label", "pred")
REQUIRED_INFO_KEYS = ("model_id", "dataset", "split", "labels")


CLEAN_CONDITION = "clean"
# The columns that score a condition (accuracy): what the resize and corruption tables read of every row.
SCORE_COLUMNS = ("condition", "label", "pred")


# What a stored run's sidecar says of its probability columns (``probabilities``): how compact_rows keeps them
PROBABILITIES_NOTE = "float16, clean condition only (resize conditions keep pred)"


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


# Descriptive sidecar fields that a hand-edited file may have mangled: shown as notes, so a value of the wrong
# type counts as absent instead of hiding the whole run (the keys that decide what is scored are strict).
_NOTE_FIELDS = ("scoring", "dropped", "software", "machine")


@dataclass(frozen=True)
class RunInfo:
    """The JSON sidecar of a stored run (``runs/<dataset>-<split>.json``), typed.

    ``evaluate`` writes every field; older sidecars may lack all but the four required ones (``model_id``,
    ``dataset``, ``split``, ``labels``). Keys this version does not know are kept in ``extra`` and written back.
    """

    model_id: str
    dataset: str
    split: str
    labels: tuple[str, ...]
    weights_sha256: str | None = None
    layout: str | None = None  # the reader that read the dataset (imagefolder, affectnet ...); the dataset id else
    label_set: str | None = None
    label_mode: str | None = None
    scoring: dict[str, Any] | None = None  # SharedClasses.to_dict() when the model's classes differ
    dropped: dict[str, int] = field(default_factory=dict)  # images left out by label filters, per reason
    images_published: int | None = None
    num_samples: int | None = None
    conditions: tuple[str, ...] = ()
    probabilities: str | None = None  # how the p_<class> columns are stored
    tta: str = "none"
    backend: str | None = None
    software: dict[str, str] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    throughput_samples_per_s: float | None = None
    created_utc: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: Path | str = "sidecar") -> RunInfo:
        """Validate a sidecar's keys (RunFormatError naming ``where`` and the key); unknown keys go to ``extra``."""
        missing = [key for key in REQUIRED_INFO_KEYS if key not in data]
        if missing:
            raise RunFormatError(f"{where}: sidecar missing keys {', '.join(missing)}")
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {key: _checked_value(key, data[key], where) for key in known if key in data}
        values["labels"] = _checked_labels(data["labels"], where)
        extra = {key: value for key, value in data.items() if key not in known}
        return cls(**values, extra=extra)

    def get(self, key: str, default: Any = None) -> Any:
        """A sidecar key read as from the JSON object (known fields and unknown keys alike), ``default`` if absent."""
        value = self.to_dict().get(key, default)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        data = self.to_dict()
        if key not in data:
            raise KeyError(key)
        return data[key]

    def to_dict(self) -> dict[str, Any]:
        """The sidecar as written: the known keys in the order sidecars have always had, then the unknown ones."""
        data = {key: getattr(self, key) for key in SIDECAR_KEY_ORDER}
        data["labels"], data["conditions"] = list(self.labels), list(self.conditions)
        return {**data, **self.extra}


SIDECAR_KEY_ORDER = (
    *("model_id", "weights_sha256", "dataset", "layout", "split", "label_set", "labels", "label_mode", "scoring"),
    *("dropped", "images_published", "num_samples", "conditions", "probabilities", "tta", "backend", "software"),
    *("machine", "throughput_samples_per_s", "created_utc"),
)


# The JSON types of the known sidecar keys (an int is a valid float; a bool is never a number).
_INFO_TYPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(("model_id", "dataset", "split", "tta"), (str,)),
    **dict.fromkeys(
        ("weights_sha256", "layout", "label_set", "label_mode", "probabilities", "backend", "created_utc"),
        (str, type(None)),
    ),
    **dict.fromkeys(("images_published", "num_samples"), (int, type(None))),
    "throughput_samples_per_s": (int, float, type(None)),
    "conditions": (list,),
    "scoring": (dict, type(None)),
    **dict.fromkeys(("dropped", "software", "machine"), (dict,)),
}


def _checked_value(key: str, value: Any, where: Path | str) -> Any:
    wanted = _INFO_TYPES.get(key)
    if wanted is None or (isinstance(value, wanted) and not isinstance(value, bool)):
        return _counts(value) if key == "dropped" else tuple(map(str, value)) if key == "conditions" else value
    if key in _NOTE_FIELDS:
        return None if key == "scoring" else {}
    names = " or ".join("null" if t is type(None) else t.__name__ for t in wanted)
    raise RunFormatError(f"{where}: sidecar {key!r} must be {names}, got {value!r:.60}")


def _counts(value: dict) -> dict[str, int]:
    """Drop reasons and their image counts; entries that are not counts are left out."""
    return {str(k): int(n) for k, n in value.items() if isinstance(n, int | float) and not isinstance(n, bool)}


def _checked_labels(labels: Any, where: Path | str) -> tuple[str, ...]:
    if not isinstance(labels, list) or not labels or not all(isinstance(name, str) for name in labels):
        raise RunFormatError(f"{where}: sidecar 'labels' must be a non-empty list of class names")
    if len(set(labels)) != len(labels):
        raise RunFormatError(f"{where}: sidecar 'labels' lists a class twice ({', '.join(labels)})")
    return tuple(labels)


def read_run_info(path: Path) -> RunInfo:
    """The validated sidecar at ``path``; RunFormatError for anything wrong with it."""
    return RunInfo.from_dict(_read_json_object(path), path)


# Only the condition column is dictionary-encoded. A run repeats every sample's id, label and metadata once per
# condition; plain-encoded, zstd finds those repeats, while dictionary indices hide them (the shipped runs took
# 7-38 % more space that way).
DICTIONARY_COLUMNS = ["condition"]
# One data page per column: zstd compresses each page on its own, so with the default pages (1 MB, 20,000 rows)
# a sample's id met again one condition later sits in another page. One page lets it match the first: a
# FER2013 PrivateTest run with the full resize and corruption grid took 290 KB, now 114 KB. Readers read whole
# columns either way (``_read_table``). A pyarrow too old to lift the row limit per page keeps its default pages.
SINGLE_PAGE = {"data_page_size": 1 << 30} | (
    {"max_rows_per_page": 1 << 30} if "max_rows_per_page" in inspect.signature(pq.write_table).parameters else {}
)


def remove_runs_of_other_weights(model_dir: Path, weights_sha256: str) -> list[str]:
    """Delete the stored runs (parquet and sidecar) computed from weights other than ``weights_sha256``; their names.

    Called by whatever replaces a folder's weights (or an ensemble's members): such a run would go on being shown as
    this model's result. A sidecar that cannot be read is left for ``scan_runs`` to report.
    """
    removed = []
    for sidecar in sorted((Path(model_dir) / RUNS_DIR).glob("*.json")):
        try:
            stale = read_run_info(sidecar).weights_sha256 != weights_sha256
        except RunFormatError:
            continue
        if stale:
            sidecar.with_suffix(".parquet").unlink(missing_ok=True)
            sidecar.unlink()
            removed.append(sidecar.stem)
            log.warning("%s removed: computed from weights this model no longer has (evaluate again)", sidecar)
    return removed


def save_run(parquet_path: Path, rows: pd.DataFrame, info: RunInfo) -> tuple[Path, Path]:
    """Write a stored run: the rows (compacted, see :func:`compact_rows`) and the sidecar beside them, each
    atomically. Returns both paths."""
    json_path = parquet_path.with_suffix(".json")
    with atomic_path(parquet_path) as tmp:
        compact_rows(rows).to_parquet(
            tmp, index=False, compression="zstd", compression_level=19, use_dictionary=DICTIONARY_COLUMNS, **SINGLE_PAGE
        )
    write_json_atomic(json_path, info.to_dict())
    return parquet_path, json_path


@dataclass
class StoredRun:
    """One evaluation of one model on one dataset split: the sidecar, the rows and the model's card."""

    model_id: str
    dataset: str
    split: str
    path: Path
    info: RunInfo
    rows: pd.DataFrame = field(repr=False)
    card: ModelCard = field(default_factory=ModelCard, repr=False)
    # The conditions in the file, in order, when the sidecar lists none and ``rows`` hold only some of them.
    file_conditions: tuple[str, ...] = field(default=(), repr=False)

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names in label-id order (from the sidecar; the ``p_<class>`` columns follow it)."""
        return self.info.labels

    @property
    def conditions(self) -> list[str]:
        """Conditions in the order the run was evaluated (sidecar first, else as they occur in the file's rows)."""
        if self.info.conditions:
            return list(self.info.conditions)
        if self.file_conditions:
            return list(self.file_conditions)
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


def _validate_columns(schema: pa.Schema, labels: Sequence[str], path: Path) -> None:
    expected = [*REQUIRED_COLUMNS, *(prob_column(name) for name in labels)]
    missing = [column for column in expected if column not in schema.names]
    if missing:
        raise RunFormatError(f"{path}: missing columns {', '.join(missing)}")


def _holds_class_ids(values: pa.ChunkedArray, num_classes: int) -> bool:
    """Integers without gaps (a null would turn the pandas column into floats), all within 0..num_classes-1."""
    if not pa.types.is_integer(values.type) or values.null_count:
        return False
    if len(values) == 0:
        return True
    low, high = pc.min_max(values).values()
    return low.as_py() >= 0 and high.as_py() <= num_classes - 1


def _validate_class_ids(table: pa.Table, labels: Sequence[str], path: Path) -> None:
    for column in ("label", "pred"):
        if not _holds_class_ids(table[column], len(labels)):
            raise RunFormatError(f"{path}: column {column!r} must hold class ids 0..{len(labels) - 1}")


def _widen_probabilities(rows: pd.DataFrame) -> pd.DataFrame:
    """float16 probabilities (the stored form) as float32, so that sums and means keep their precision."""
    columns = [prob_column(name) for name in labels_of_columns(rows.columns)]
    narrow = [c for c in columns if rows[c].dtype == "float16"]
    if narrow:
        rows[narrow] = rows[narrow].astype("float32")
    return rows


def _read_table(parquet_path: Path, labels: Sequence[str], columns: Sequence[str] | None) -> pa.Table:
    """The file's table (``columns`` and the score columns, or all), validated as a whole: every expected column
    present, class ids of every row, whatever part of it is kept afterwards."""
    try:
        with pq.ParquetFile(parquet_path) as file:
            _validate_columns(file.schema_arrow, labels, parquet_path)
            wanted = None if columns is None else list(dict.fromkeys([*SCORE_COLUMNS, *columns]))
            table = file.read(columns=wanted, use_pandas_metadata=True)
    except RunFormatError:
        raise
    except Exception as error:  # pyarrow raises several unrelated types for a damaged file
        raise RunFormatError(f"{parquet_path}: unreadable parquet ({type(error).__name__}: {error})") from None
    _validate_class_ids(table, labels, parquet_path)
    return table


def _conditions_in(table: pa.Table) -> tuple[str, ...]:
    """The table's conditions in the order they first occur."""
    return tuple(str(c) for c in pc.unique(table["condition"]).to_pylist())


def _rows_of(table: pa.Table, conditions: Collection[str] | None) -> pd.DataFrame:
    """The rows of ``conditions`` (all: None) as pandas rows; only those are converted (the bulk of a run's memory)."""
    if conditions is not None:
        table = table.filter(pc.is_in(table["condition"], value_set=pa.array(list(conditions), pa.string())))
    return _widen_probabilities(table.to_pandas())


def load_run(
    parquet_path: Path,
    card: ModelCard | None = None,
    *,
    conditions: Collection[str] | None = None,
    columns: Sequence[str] | None = None,
) -> StoredRun:
    """Read and validate one stored run (the parquet file and its JSON sidecar beside it).

    ``conditions`` keeps only the rows of those conditions and ``columns`` only those columns (the score columns
    ``condition``, ``label``, ``pred`` always come along); None keeps all. The file is validated whole either way,
    so a run reads as broken or sound whichever part of it a page asks for.
    """
    parquet_path = Path(parquet_path)
    sidecar = parquet_path.with_suffix(".json")
    if not sidecar.is_file():
        raise RunFormatError(f"{parquet_path}: no sidecar {sidecar.name} beside it")
    info = read_run_info(sidecar)
    table = _read_table(parquet_path, info.labels, columns)
    partial = conditions is not None and not info.conditions
    return StoredRun(
        model_id=info.model_id,
        dataset=info.dataset,
        split=info.split,
        path=parquet_path,
        info=info,
        rows=_rows_of(table, conditions),
        card=card or ModelCard(),
        file_conditions=_conditions_in(table) if partial else (),
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


def scan_runs(checkpoints_root: Path, conditions: Collection[str] | None = None, *, peers: bool = False) -> RunScan:
    """Every readable run under ``<root>/*/runs/``, sorted by model and run name, plus the problems met.

    ``conditions``: keep only the rows of these conditions (see :func:`load_run`; None keeps every row). ``peers``:
    the runs of other packages' models under ``<root>/peers/`` too (:meth:`Checkpoints.peer_dirs`), after ours.
    """
    runs: list[StoredRun] = []
    problems: list[RunProblem] = []
    checkpoints = Checkpoints(Path(checkpoints_root))
    for model_dir in checkpoints.model_dirs() + (checkpoints.peer_dirs() if peers else []):
        if not model_dir.runs_dir.is_dir():
            continue
        parquet_paths = model_dir.run_files()
        problems.extend(_orphan_sidecars(model_dir.runs_dir))
        if not parquet_paths:
            continue
        card = _card_or_problem(model_dir, problems)
        for parquet_path in parquet_paths:
            try:
                runs.append(load_run(parquet_path, card, conditions=conditions))
            except (RunFormatError, OSError) as error:
                problems.append(RunProblem(parquet_path, str(error)))
    for problem in problems:
        log.warning("skipped stored run: %s", problem.message)
    return RunScan(runs, problems)


def discover_runs(checkpoints_root: Path) -> list[StoredRun]:
    """The readable runs under a checkpoints root; problems are logged (use ``scan_runs`` to get them too)."""
    return scan_runs(checkpoints_root).runs
