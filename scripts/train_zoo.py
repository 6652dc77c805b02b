"""Train many recipes on one GPU machine, several at a time, from packed datasets; bundle the results.

Meant for a remote GPU machine that receives the repository plus the packs (``python -m fer_core.data.pack``) and
returns only a few files: every finished model directory is added to ``<out>/models-<n>.tar`` bundles of at most
``--bundle-mb`` MB, with one log per recipe. Evaluation then runs where the lossless datasets are
(``python -m fer_core evaluate``), never on the training machine.

    python scripts/train_zoo.py --recipes cnn_fer2013 cct_fer2013 --pack fer2013=packs/fer2013.npz \\
        --out "$OUT" --parallel 4 --epochs 60
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from fer_core.store.model_dir import ModelDir
from fer_core.training.recipes import load_recipe


def model_name(recipe: str) -> str:
    """Model directory name of a recipe given by name or by path."""
    return Path(recipe).stem


def launch(recipe: str, pack: Path, work: Path, epochs: int | None) -> subprocess.Popen:
    """Start one training process; its output goes to ``<work>/<model name>.log``."""
    name = model_name(recipe)
    command = [sys.executable, "-m", "fer_core", "train", "--recipe", recipe, "--pack", str(pack)]
    command += ["--out", str(work / name)]
    if epochs:
        command += ["--epochs", str(epochs)]
    log = open(work / f"{name}.log", "w")  # noqa: SIM115  (the child process writes it until it ends)
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def bundle(model_dirs: list[Path], out: Path, limit_mb: float) -> list[Path]:
    """Pack model directories into tar files of at most ``limit_mb`` each (a model is never split)."""
    bundles, current, size = [], [], 0.0
    for directory in model_dirs:
        mb = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 2**20
        if current and size + mb > limit_mb:
            bundles.append(current)
            current, size = [], 0.0
        current.append(directory)
        size += mb
    if current:
        bundles.append(current)
    paths = []
    for i, group in enumerate(bundles):
        path = out / f"models-{i}.tar"
        with tarfile.open(path, "w") as tar:
            for directory in group:
                tar.add(directory, arcname=directory.name)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", required=True)
    parser.add_argument("--pack", nargs="+", required=True, help="dataset=path pairs, e.g. fer2013=packs/fer2013.npz")
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", default="build/zoo")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--bundle-mb", type=float, default=15.5)
    args = parser.parse_args(argv)
    packs = dict(item.split("=", 1) for item in args.pack)
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    queue = list(args.recipes)
    running: dict[str, subprocess.Popen] = {}
    started = time.time()
    while queue or running:
        while queue and len(running) < args.parallel:
            recipe = queue.pop(0)
            running[recipe] = launch(recipe, Path(packs[load_recipe(recipe).dataset]), work, args.epochs)
        for recipe, process in list(running.items()):
            if process.poll() is not None:
                print(f"{recipe}: exit {process.returncode} after {time.time() - started:.0f}s", flush=True)
                del running[recipe]
        time.sleep(2)
    finished = [work / model_name(r) for r in args.recipes if ModelDir(work / model_name(r)).has_card()]
    for path in bundle(finished, out, args.bundle_mb):
        print(f"wrote {path}")
    logs = out / "logs.tar"
    with tarfile.open(logs, "w") as tar:
        for log in work.glob("*.log"):
            tar.add(log, arcname=log.name)
    return 0 if len(finished) == len(args.recipes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
