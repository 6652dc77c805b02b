"""The one place the dashboard pages load stored runs, plus the widgets the three pages share.

Runs are read once per state of the checkpoints folder: the cache key is the folder and a fingerprint of its run,
card and history files (path, size, mtime), so a newly written run shows up on the next rerun without a restart.
``st.cache_resource`` rather than ``st.cache_data``: the run tables are only read (fer_core.evaluation.metrics is pure),
and cache_data would pickle and copy every run on every rerun.

Only the ``clean`` rows of every run are kept from the scan: all the Leaderboard and the Errors page read, and a
few percent of a run with the resize grid and the corruptions (a server holding every row of the shipped runs took
over 1 GB). The other conditions are read from the files when a page shows them, in bounded caches: the score
columns of one dataset split's runs for the Robustness page, one condition of one run for the Subgroups page.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pandas as pd
import streamlit as st

from fer_app.plain_text import literal
from fer_core import settings
from fer_core.evaluation import metrics
from fer_core.store.json_files import ModelLoadError
from fer_core.store.model_dir import CARD_FILE, HEAD_SEPARATOR, HISTORY_FILE, PEERS_DIR, Checkpoints, ModelDir
from fer_core.store.runs import (
    SCORE_COLUMNS,
    RunFormatError,
    RunScan,
    StoredRun,
    load_history,
    load_run,
    scan_runs,
)
from fer_core.viz import figures

__all__ = [
    "all_model_colors",
    "cached_intervals",
    "checkpoints_root",
    "data_root",
    "default_first",
    "default_model_id",
    "drop_duplicate_ids",
    "every_condition",
    "folded_scoring_notes",
    "grid_columns",
    "load_all_runs",
    "load_histories",
    "open_dashboard",
    "rows_of_condition",
    "runs_or_guidance",
    "scoring_note",
    "select_dataset_runs",
    "show_empty_guidance",
    "show_problems",
    "show_scoring_notes",
]

# One bootstrap convention on every page and in the README (scripts/readme_tables.py): 1000 resamples, seed 0.
N_BOOT = 1000
SEED = 0
EVALUATE_COMMAND = (
    "python -m fer_core evaluate --model <model> --dataset <fer2013|ferplus|affectnet|rafdb|imagefolder> "
    "--dataset-path <folder> --split test --resize-grid"
)


def checkpoints_root() -> Path:
    """Where model directories live (settings: ``FER_CHECKPOINTS_DIR``; default ``checkpoints/`` in the repo)."""
    return Checkpoints.at().root


def _fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    """Cheap identity of everything the dashboard reads under ``root``."""
    files = ("runs/*", CARD_FILE, HISTORY_FILE)
    folders = ("*", f"{PEERS_DIR}/*")
    paths = [path for name in files for folder in folders for path in root.glob(f"{folder}/{name}")]
    stats = []
    for path in sorted(paths):
        try:
            stat = path.stat()
        except OSError:  # removed between glob and stat
            continue
        stats.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(stats)


@st.cache_resource(show_spinner="Reading stored runs...", max_entries=4)
def _scan_cached(root: str, fingerprint: tuple) -> RunScan:
    del fingerprint  # only part of the cache key
    return scan_runs(Path(root), conditions=(metrics.CLEAN,), peers=True)


def load_all_runs() -> RunScan:
    """Every stored run under the checkpoints root (other packages' models under ``peers/`` too) with its clean
    rows, and the problems met (cached until a file changes). The other conditions: :func:`every_condition`,
    :func:`rows_of_condition`."""
    root = checkpoints_root()
    return _scan_cached(str(root), _fingerprint(root))


@st.cache_resource(max_entries=2, show_spinner="Reading the resize and corruption rows...")
def _scored_cached(root: str, fingerprint: tuple, keys: tuple, _runs: tuple) -> tuple[list[StoredRun], list[str]]:
    del root, fingerprint, keys  # the cache key; the runs follow from it
    scored: list[StoredRun] = []
    failures: list[str] = []
    for run in _runs:
        try:
            scored.append(load_run(run.path, run.card, columns=SCORE_COLUMNS))
        except (RunFormatError, OSError) as error:  # the file changed since the scan
            failures.append(str(error))
    return scored, failures


def every_condition(runs: list[StoredRun]) -> list[StoredRun]:
    """The runs with the rows of every condition, narrowed to the score columns (condition, label, pred): all the
    robustness tables and curves read. Cached per state of the checkpoints and set of runs (one dataset split)."""
    root = checkpoints_root()
    scored, failures = _scored_cached(str(root), _fingerprint(root), tuple(run.key for run in runs), tuple(runs))
    _warn_skipped(failures)
    return scored


@st.cache_resource(max_entries=4, show_spinner="Reading the condition's rows...")
def _condition_cached(root: str, fingerprint: tuple, key: str, condition: str, _run: StoredRun) -> pd.DataFrame:
    del root, fingerprint, key  # the cache key; the run follows from it
    return load_run(_run.path, _run.card, conditions=(condition,)).rows


def rows_of_condition(run: StoredRun, condition: str) -> pd.DataFrame | None:
    """The run's rows of one condition, index reset: the clean ones from the scan, any other read from its file
    (None, with a warning, when the file can no longer be read)."""
    if condition == metrics.CLEAN:
        return metrics.condition_rows(run.rows, condition)
    root = checkpoints_root()
    try:
        rows = _condition_cached(str(root), _fingerprint(root), run.key, condition, run)
    except (RunFormatError, OSError) as error:  # the file changed since the scan
        _warn_skipped([str(error)])
        return None
    return metrics.condition_rows(rows, condition)


def load_histories(runs: list[StoredRun]) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Training histories of the runs' models (model id -> table) and warnings for unreadable ones."""
    histories, warnings = {}, []
    for run in runs:
        if run.model_id in histories:
            continue
        try:
            history = load_history(ModelDir(run.path.parent.parent))
        except (RunFormatError, OSError) as error:
            warnings.append(str(error))
            continue
        if history is not None:
            histories[run.model_id] = history
    return histories, warnings


def show_problems(scan: RunScan) -> None:
    """One warning per file that could not be used, its path relative to the checkpoints root; the page goes on."""
    _warn_skipped([problem.message for problem in scan.problems])


def _warn_skipped(messages: list[str]) -> None:
    prefix = f"{checkpoints_root()}{os.sep}"
    for message in messages:
        st.warning(f"Skipped: {literal(message.replace(prefix, ''))}", icon=":material/warning:")


def grid_columns(count: int, per_row: int = 2) -> list:
    """``count`` layout columns, ``per_row`` to a row, so side-by-side charts stay readable."""
    slots = []
    for start in range(0, count, per_row):
        slots.extend(st.columns(per_row)[: count - start])
    return slots


def show_empty_guidance(root: Path) -> None:
    """What to do when there is nothing to compare yet."""
    st.info(
        f"No stored runs yet under `{root.name}/`. Write one per model and dataset split with\n\n"
        f"`{EVALUATE_COMMAND}`\n\n"
        "or point `FER_CHECKPOINTS_DIR` at a folder of model directories that have `runs/*.parquet`.",
        icon=":material/info:",
    )


def drop_duplicate_ids(runs: list[StoredRun]) -> tuple[list[StoredRun], list[str]]:
    """One run per (model id, dataset, split): a second model folder with the same id (a copied directory) is
    left out with a warning naming both folders, instead of two rows every page would confuse."""
    kept: dict[tuple[str, str, str], StoredRun] = {}
    warnings = []
    for run in runs:
        key = (run.model_id, run.dataset, run.split)
        first = kept.get(key)
        if first is None:
            kept[key] = run
            continue
        folders = [os.path.relpath(r.path.parent.parent, checkpoints_root()) for r in (first, run)]
        warnings.append(
            f"two model folders, {folders[0]} and {folders[1]}, hold a run of model id {run.model_id} on "
            f"{run.dataset} {run.split}; showing the one in {folders[0]}. Give the copy its own id in its card.json "
            "and its runs' sidecars, or remove it."
        )
    return list(kept.values()), warnings


def runs_or_guidance() -> list[StoredRun]:
    """Every readable stored run; malformed ones and duplicate ids are shown as warnings, guidance when none."""
    scan = load_all_runs()
    show_problems(scan)
    runs, warnings = drop_duplicate_ids(scan.runs)
    for warning in warnings:
        st.warning(literal(warning), icon=":material/warning:")
    if not runs:
        show_empty_guidance(checkpoints_root())
    return runs


def open_dashboard(title: str, key: str) -> tuple[list[StoredRun], list[StoredRun]]:
    """The opening of every dashboard page: its title, every stored run (guidance when there is none), and the runs
    of the dataset split chosen in the selector ``key``. Two empty lists when there is no run at all."""
    st.title(title)
    all_runs = runs_or_guidance()
    if not all_runs:
        return [], []
    return all_runs, select_dataset_runs(all_runs, key=key)


def default_model_id() -> str | None:
    """The default model's directory name (``default.json``), None when there is none or it cannot be read."""
    try:
        return Checkpoints.at().default_name()
    except (ModelLoadError, OSError):
        return None


def _is_default(model_id: str, default: str | None) -> bool:
    """A plain (no TTA) run of the default model, or of any of its heads when the default names none."""
    if default is None or " +" in model_id:
        return False
    return model_id == default or (HEAD_SEPARATOR not in default and model_id.startswith(default + HEAD_SEPARATOR))


def served_head() -> str | None:
    """The head (or fused answer) the default model serves (its card's ``default_head``), None when unknown."""
    try:
        root = Checkpoints.at()
        return root.resolve(root.default_name()).read_card().default_head
    except (ModelLoadError, OSError):
        return None


def default_first(model_ids: list[str]) -> list[str]:
    """``model_ids`` with the default model's runs moved to the front, the answer it serves first of them (pages
    open on what the app serves)."""
    default, head = default_model_id(), served_head()
    served = f"{default}{HEAD_SEPARATOR}{head}" if default and head else None
    return sorted(model_ids, key=lambda model: (not _is_default(model, default), model != served))


def default_runs(model_ids: list[str]) -> list[str]:
    """The ids among ``model_ids`` that are runs of the default model."""
    default = default_model_id()
    return [model for model in model_ids if _is_default(model, default)]


def all_model_colors(runs: list[StoredRun]) -> dict[str, str]:
    """One colour per model id, from the sorted ids of every run (so a model keeps its colour on every page)."""
    return figures.model_colors(sorted({run.model_id for run in runs}))


def data_root() -> Path:
    """Where the datasets are (fer_core.settings: ``FER_DATA_DIR``, default ``../shared/data`` by the repository)."""
    return settings.data_dir()


@st.cache_resource(max_entries=8, show_spinner="Bootstrapping intervals...")
def _intervals_cached(root: str, fingerprint: tuple, dataset: str, split: str, _runs: tuple) -> pd.DataFrame:
    del root, fingerprint, dataset, split  # the cache key; the runs follow from it
    return metrics.leaderboard_intervals(list(_runs), n_boot=N_BOOT, seed=SEED)


def cached_intervals(runs: list[StoredRun]) -> pd.DataFrame:
    """The leaderboard's bootstrap intervals of one dataset split, computed once per state of the checkpoints."""
    root = checkpoints_root()
    dataset, split = (runs[0].dataset, runs[0].split) if runs else ("", "")
    return _intervals_cached(str(root), _fingerprint(root), dataset, split, tuple(runs))


def _dataset_choices(runs: list[StoredRun]) -> dict[tuple[str, str], int]:
    """Every (dataset id, split) with a run and its number of models: test splits first, then the splits most
    models were run on, then by name, so the default is the broadest comparison whatever the datasets are called."""
    counts = Counter((r.dataset, r.split) for r in runs)
    order = sorted(counts, key=lambda c: (c[1] != "test", -counts[c], c[0], c[1]))
    return {choice: counts[choice] for choice in order}


def select_dataset_runs(runs: list[StoredRun], key: str) -> list[StoredRun]:
    """A dataset-split selector; returns the runs of the chosen one and says what any of them left out."""
    choices = _dataset_choices(runs)
    dataset, split = st.selectbox(
        "Dataset",
        list(choices),
        format_func=lambda c: f"{c[0]} {c[1]} ({choices[c]} model{'s' if choices[c] > 1 else ''})",
        key=key,
        help="stored runs of this split (python -m fer_core evaluate --dataset ... writes them)",
    )
    chosen = sorted((r for r in runs if (r.dataset, r.split) == (dataset, split)), key=lambda r: r.model_id)
    show_scoring_notes(chosen)
    return chosen


def _count(value: object) -> int:
    return int(value) if isinstance(value, int | float) and value == value else 0


def _mapping(value: object) -> dict:
    """A sidecar field that should be a JSON object; anything else (a hand-edited file) counts as empty."""
    return value if isinstance(value, dict) else {}


def _names(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def scoring_note(run: StoredRun) -> str | None:
    """In words, what a run did not score: classes the model or the dataset lacks, images label filters dropped.

    Read from the sidecar's ``scoring`` and ``dropped`` (written by ``fer_core.evaluation.evaluate``); None when
    nothing. Model and dataset ids, class names and drop reasons come from whoever ran ``evaluate``: shown as text.
    """
    scoring = _mapping(run.info.scoring)
    shared = len(_names(scoring.get("shared_labels")) or run.labels)
    parts = []
    lost = {str(name): _count(n) for name, n in _mapping(scoring.get("images_dropped")).items()}
    if lost:
        counts = ", ".join(f"{n:,} {literal(name)} images dropped" for name, n in lost.items())
        of = len(_names(scoring.get("dataset_labels")))
        parts.append(f"scored on {shared} of the dataset's {of} classes ({counts})")
    removed = _names(scoring.get("predictions_removed"))
    if removed:
        parts.append(
            f"predictions restricted to the dataset's {shared} classes "
            f"({', '.join(map(literal, removed))} probability removed, the rest renormalised)"
        )
    for reason, n in run.info.dropped.items():
        covered = lost and str(reason).startswith("class ")  # the class drops are named above
        if _count(n) and not covered:
            parts.append(f"{_count(n):,} images dropped ({literal(reason)})")
    return (
        (f"{literal(run.model_id)} on {literal(f'{run.dataset} {run.split}')}: " + "; ".join(parts) + ".")
        if parts
        else None
    )


def folded_scoring_notes(runs: list[StoredRun]) -> str | None:
    """What the runs did not score in one line: each distinct note once per dataset split, with the models it
    applies to ("every model" when all the split's runs share it); None when every run scored everything."""
    by_note: dict[tuple[str, str], list[StoredRun]] = {}
    per_split = Counter((run.dataset, run.split) for run in runs)
    for run in runs:
        note = scoring_note(run)
        if note:
            split = f"{literal(f'{run.dataset} {run.split}')}"
            prefix = f"{literal(run.model_id)} on {split}: "
            by_note.setdefault((split, note.removeprefix(prefix)), []).append(run)
    parts = []
    for (split, note), noted in by_note.items():
        everyone = len(noted) == per_split[(noted[0].dataset, noted[0].split)]
        who = "every model" if everyone else ", ".join(literal(run.model_id) for run in noted)
        parts.append(f"{split}, {who}: {note}")
    return " ".join(parts) or None


def show_scoring_notes(runs: list[StoredRun]) -> None:
    """What the runs of the shown split did not score, folded into one line."""
    notes = folded_scoring_notes(runs)
    if notes:
        st.caption(f":material/rule: Not scored: {notes}")
