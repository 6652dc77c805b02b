"""``python -m fer_core train|evaluate|export|predict|bench|import-model|models`` - thin shells over library
functions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fer_core import settings
from fer_core.errors import FerError
from fer_core.store.runs import RunInfo
from fer_core.training.recipes import JOINT_DATASET

__all__ = ["main"]

DATASET_DIRS = {"fer2013": "fer2013", "ferplus": "ferplus"}


def _data_root(args: argparse.Namespace) -> Path:
    return Path(args.data_root) if args.data_root else settings.data_dir()


def _dataset_path(args: argparse.Namespace, dataset: str) -> Path:
    """``--dataset-path`` when given, else ``<data root>/<dataset>`` (the data root itself for the joint set)."""
    if getattr(args, "dataset_path", None):
        return Path(args.dataset_path)
    if dataset == JOINT_DATASET:
        return _data_root(args)
    if dataset in DATASET_DIRS:
        return _data_root(args) / DATASET_DIRS[dataset]
    from fer_core.data import dataset_folder_name

    return _data_root(args) / dataset_folder_name(dataset)


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from fer_core.apps.workflows import train_from_recipe

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.resume and not args.state_dir:
        raise ValueError("--resume needs --state-dir (the folder the interrupted run saved its state in)")
    out = train_from_recipe(
        args.recipe,
        dataset_root=_dataset_path(args, args.dataset or _recipe_dataset(args.recipe)),
        out_dir=Path(args.out),
        epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        model_id=args.model_id,
        limit=args.limit,
        pack=Path(args.pack) if args.pack else None,
        state_dir=Path(args.state_dir).expanduser() if args.state_dir else None,
        resume=args.resume,
    )
    print(f"saved {out}")
    return 0


def cmd_balance(args: argparse.Namespace) -> int:
    from fer_core.apps.workflows import balance_model

    for head, entry in balance_model(args.model, data_root=_data_root(args), metric=args.metric).items():
        table = {row["tau"]: row for row in entry["validation"]}
        before, after = table[0.0], table[entry["tau"]]
        print(
            f"{head}: tau {entry['tau']} | val accuracy {before['accuracy']:.4f} -> {after['accuracy']:.4f}, "
            f"macro-F1 {before['macro_f1']:.4f} -> {after['macro_f1']:.4f}, "
            f"balanced {before['balanced_accuracy']:.4f} -> {after['balanced_accuracy']:.4f}"
        )
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    from fer_core.evaluation.evaluate import forget_runs_of_replaced_weights
    from fer_core.serving.classifier import load_model
    from fer_core.serving.ensemble import save_ensemble_dir

    out = save_ensemble_dir(Path(args.out), args.members, load_member=load_model, weights=args.weights)
    forget_runs_of_replaced_weights(out)  # runs of the members it had before
    print(f"saved {out} ({len(args.members)} members); evaluate it like any model")
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    from fer_core.apps.workflows import quantize_model

    report = quantize_model(args.model, data_root=_data_root(args), calibration_faces=args.calibration_faces)
    verdict = "kept (served by backend auto/onnx)" if report["kept"] else "NOT kept (the float model stays)"
    print(f"{report['file']}: {verdict}")
    for head, figures in (report.get("heads") or {"": report}).items():
        print(
            f"  {head or 'val'}: top-1 agreement {figures['val_top1_agreement']:.4f}, accuracy "
            f"{figures['val_accuracy_float']:.4f} float -> {figures['val_accuracy_int8']:.4f} int8"
        )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from fer_core.training.progress import compare_run_with_model
    from fer_core.training.state import read_status

    for folder in args.state_dirs:
        status = read_status(Path(folder).expanduser())
        last = status.get("last_epoch") or {}
        state = "done" if status["done"] else f"eta {status['eta_seconds'] / 60:.0f} min"
        line = (
            f"{status['recipe']}: epoch {status['epoch']}/{status['epochs']} ({state}), best val score "
            f"{status['best_val_score']:.4f} at epoch {status['best_epoch']}, last val acc {last.get('val_acc', '-')}"
            f", updated {status['updated']}"
        )
        print(printable(line))
        if args.against:
            comparison = compare_run_with_model(status, args.against)
            if comparison is None:
                print(printable(f"  {args.against}: no figure of epoch {status['epoch']} to compare with"))
            else:
                print("\n".join(printable(text) for text in comparison.lines(args.against)))
    return 0


def _corruption_kinds(given: list[str] | None) -> bool | list[str]:
    """``--corruptions`` absent: none (False); alone: every kind (True); with names: those kinds."""
    return True if given == [] else (given or False)


def printable(text: str) -> str:
    """``text`` with control characters (terminal escape codes from a file, newlines) shown escaped, not obeyed."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


def _recipe_dataset(recipe: str) -> str:
    from fer_core.training.recipes import load_recipe

    return load_recipe(recipe).dataset


def cmd_evaluate(args: argparse.Namespace) -> int:
    from fer_core.apps.workflows import evaluate_model

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    parquet_path, info = evaluate_model(
        args.model,
        dataset=args.dataset,
        dataset_root=_dataset_path(args, args.dataset),
        split=args.split,
        label_mode=args.label_mode,
        resize_grid=args.resize_grid,
        corruptions=_corruption_kinds(args.corruptions),
        tta=args.tta,
        backend=args.backend,
        out_dir=Path(args.out) if args.out else None,
        label_set=args.label_set,
        dataset_id=args.dataset_id,
        overwrite=args.overwrite,
    )
    print(json.dumps(info.to_dict(), indent=2))
    print(f"wrote {parquet_path}")
    _warn_if_incomplete(info)
    return 0


def _warn_if_incomplete(info: RunInfo) -> None:
    """Say so when the split has fewer images than its release publishes (an incomplete download)."""
    published = info.images_published
    read = (info.num_samples or 0) + sum(info.dropped.values())
    if published and read != published:
        print(
            f"warning: {info.dataset} {info.split} has {read:,} images; its release publishes {published:,}",
            file=sys.stderr,
        )


def cmd_export(args: argparse.Namespace) -> int:
    from fer_core.serving.export import export_onnx

    report = export_onnx(args.model, opset=args.opset)
    print(json.dumps(report, indent=2))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """One JSON line per face, printed as soon as its file is done; exit 2 when any file failed (each named)."""
    from fer_core.apps.workflows import iter_predictions

    failed: list[str] = []
    for records in iter_predictions(args.model, args.images, detector=args.detector):
        for record in records:
            print(json.dumps(record), flush=True)
            if "error" in record:
                failed.append(str(record.get("image") or record.get("video")))
                print(f"error: {record['error']}", file=sys.stderr, flush=True)
    if failed:
        print(f"error: {len(failed)} of {len(args.images)} files failed: {', '.join(failed)}", file=sys.stderr)
        return 2
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from fer_core.bench.latency import benchmark_classifier, format_table

    rows_by_model = {
        name: [
            benchmark_classifier(name, backend=backend, threads=args.threads, batch_sizes=args.batch, tta=args.tta)
            for backend in args.backend
        ]
        for name in args.model
    }
    rows = [row for model_rows in rows_by_model.values() for row in model_rows]
    print(format_table(rows))
    if args.update_card:
        from fer_core.bench.latency import record_latency_in_card

        for name, model_rows in rows_by_model.items():
            best = min(model_rows, key=lambda r: r["ms_per_face_b1"])
            record_latency_in_card(name, best, tta=args.tta)
            what = "latency_ms_per_face" if args.tta == "none" else f"latency.tta.{args.tta}"
            print(f"{name}: card {what} = {best['ms_per_face_b1']} ({best['backend']})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def cmd_import_model(args: argparse.Namespace) -> int:
    from fer_core.serving.classifier import import_model

    overrides = {
        "labels": [n.strip() for n in args.labels.split(",")] if args.labels else None,
        "size": args.size,
        "color": args.color,
        "mean": args.mean,
        "std": args.std,
    }
    path, card = import_model(
        args.path,
        root=Path(args.checkpoints) if args.checkpoints else None,
        name=args.name,
        overrides={k: v for k, v in overrides.items() if v is not None},
    )
    print(json.dumps(card.to_dict(), indent=2))
    print(f"imported {path}; next: python -m fer_core evaluate --model {path.name} --dataset ...")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from fer_core.models import architecture_info, list_architectures
    from fer_core.store.model_dir import Checkpoints

    print("architectures (python -m fer_core train --recipe ...):")
    names = list_architectures()
    width = max(map(len, names), default=12)  # budget variants have long names: size the column to fit them
    for name in names:
        info = architecture_info(name)
        print(f"  {name:<{width}} {info.family:<5} {info.description}")
    print("\nshipped models (checkpoints/):")
    checkpoints = Checkpoints.at()
    default = checkpoints.default_name() if checkpoints.names() else None
    for name in checkpoints.names():
        card = checkpoints.read_card(name)
        test = card.test_metrics
        marker = "*" if name == default else " "
        acc = f"{test.accuracy:.4f}" if test and test.accuracy is not None else "-"
        arch, params = card.architecture or "?", card.params or 0
        print(f" {marker}{name:<28} {arch:<10} params {params:>9,}  test acc {acc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fer_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model from a recipe (name or JSON path)")
    train.add_argument("--recipe", required=True)
    train.add_argument("--out", required=True, help="model directory to write (e.g. checkpoints/my_model)")
    datasets = [*sorted(DATASET_DIRS), JOINT_DATASET]
    train.add_argument("--dataset", choices=datasets, help="override the recipe's dataset")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    train.add_argument("--model-id", help="id written in the card (default: the output folder name)")
    train.add_argument("--limit", type=int, help="use only the first N training images (smoke tests)")
    train.add_argument("--pack", help="train/val from a pack file (python -m fer_core.data.pack) instead of folders")
    train.add_argument("--state-dir", help="keep per-epoch training state here (outside the repo) to --resume later")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --state-dir")
    train.add_argument("--threads", type=int, help="torch CPU threads (1 per process is best on a busy machine)")
    _add_data_args(train)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="write a stored evaluation run for a model x dataset x split")
    evaluate.add_argument("--model", default="default")
    evaluate.add_argument("--dataset", choices=_evaluation_datasets(), required=True, help="the layout to read")
    evaluate.add_argument("--split", default="test", choices=["train", "val", "test"])
    evaluate.add_argument("--label-mode", default="majority", help="FER+: majority | plurality50")
    evaluate.add_argument("--resize-grid", action="store_true", help="add the resize-robustness conditions")
    evaluate.add_argument(
        "--corruptions",
        nargs="*",
        metavar="KIND",
        help="add the corruptions, all of them or the KINDs named (webcam: blur, motion, noise, jpeg, dark, bright, "
        "contrast, eyes, mouth; face box: tight, loose, shift; severities 1-3); conditions of the stored run of the "
        "same weights that are not evaluated again are kept",
    )
    evaluate.add_argument("--tta", default="none", choices=["none", "flip", "tencrop"])
    evaluate.add_argument(
        "--backend",
        choices=["auto", "torch", "onnx"],
        help="default: torch, or onnx for a model with only an ONNX file",
    )
    evaluate.add_argument("--threads", type=int, help="torch CPU threads (ONNX Runtime always uses 1)")
    evaluate.add_argument("--out", help="model directory to write runs/ into (default: the model's own)")
    evaluate.add_argument("--label-set", help="imagefolder: fer2013 | ferplus (default: the model's classes)")
    evaluate.add_argument(
        "--dataset-id", help="name of the run and of the dataset on the dashboard (default: the dataset's name)"
    )
    evaluate.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a stored run (and the card's test metrics) computed from another dataset, split or size",
    )
    _add_data_args(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    export = sub.add_parser("export", help="export a model to ONNX (model.onnx beside its weights), checked")
    export.add_argument("--model", default="default")
    export.add_argument("--opset", type=int, default=17)
    export.set_defaults(func=cmd_export)

    predict = sub.add_parser(
        "predict", help="detect faces in images or videos and print one JSON line per face (per frame for a video)"
    )
    predict.add_argument("images", nargs="+", help="image files, or video files (mp4, avi, mov, webm, mkv)")
    predict.add_argument("--model", default="default")
    predict.add_argument("--detector", default="haar")
    predict.set_defaults(func=cmd_predict)

    bench = sub.add_parser("bench", help="CPU latency and throughput of models")
    bench.add_argument("--model", nargs="+", default=["default"])
    bench.add_argument("--backend", nargs="+", default=["torch", "onnx"])
    bench.add_argument("--threads", type=int, default=1)
    bench.add_argument("--batch", type=int, nargs="+", default=[1, 8, 64])
    bench.add_argument(
        "--tta", default="none", choices=["none", "flip", "tencrop"], help="time a test-time augmented model"
    )
    bench.add_argument("--json", help="also write the rows as JSON")
    bench.add_argument(
        "--update-card", action="store_true", help="write the fastest backend's batch-1 latency into each card"
    )
    bench.set_defaults(func=cmd_bench)

    balance = sub.add_parser("balance", help="choose a post-hoc class-prior logit adjustment on the validation split")
    balance.add_argument("--model", required=True)
    balance.add_argument("--metric", default="acc_f1", help="accuracy | macro_f1 | balanced_accuracy | acc_f1")
    _add_data_args(balance)
    balance.set_defaults(func=cmd_balance)

    ensemble = sub.add_parser("ensemble", help="make an ensemble model directory from trained models")
    ensemble.add_argument("--members", nargs="+", required=True, help="model names beside --out (name@head allowed)")
    ensemble.add_argument("--out", required=True, help="ensemble directory, e.g. checkpoints/ensemble_fer2013")
    ensemble.add_argument(
        "--weights", nargs="+", type=float, help="each member's share of the mean, in order (default: equal)"
    )
    ensemble.set_defaults(func=cmd_ensemble)

    quantize = sub.add_parser("quantize", help="int8 ONNX Runtime model, calibrated on train faces, checked on val")
    quantize.add_argument("--model", default="default")
    quantize.add_argument("--calibration-faces", type=int, default=512)
    _add_data_args(quantize)
    quantize.set_defaults(func=cmd_quantize)

    status = sub.add_parser("status", help="how far training runs are (their --state-dir folders)")
    status.add_argument("state_dirs", nargs="+")
    status.add_argument(
        "--against", metavar="MODEL", help="compare with a model's learning curve at the same epoch (e.g. default)"
    )
    status.set_defaults(func=cmd_status)

    imported = sub.add_parser(
        "import-model",
        help="make a model directory (card derived from the model's own files) from a transformers or timm "
        "directory or an ONNX file",
    )
    imported.add_argument("path", help="the directory or .onnx file")
    imported.add_argument("--name", help="directory name under the checkpoints folder (default: the file or folder)")
    imported.add_argument("--checkpoints", help="checkpoints folder (default: $FER_CHECKPOINTS_DIR or checkpoints/)")
    imported.add_argument("--labels", help="ONNX: class names in output order, comma-separated")
    imported.add_argument("--size", type=int, help="ONNX with a free input size: the size it was trained at")
    imported.add_argument("--color", choices=["gray", "rgb", "bgr"], help="ONNX: the pixels it was trained on")
    imported.add_argument("--mean", type=float, nargs="+", help="ONNX: per-channel mean on [0, 1] (default 0)")
    imported.add_argument("--std", type=float, nargs="+", help="ONNX: per-channel std on [0, 1] (default 1)")
    imported.set_defaults(func=cmd_import_model)

    models = sub.add_parser("models", help="list architectures and shipped models")
    models.set_defaults(func=cmd_models)
    return parser


def _evaluation_datasets() -> tuple[str, ...]:
    from fer_core.data import DATASETS

    return DATASETS


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root", help="folder holding fer2013/ and ferplus/ (default: $FER_DATA_DIR or ../shared/data)"
    )
    parser.add_argument("--dataset-path", help="the dataset folder itself (overrides --data-root)")


USER_INPUT_ERRORS = (FerError, OSError, ValueError, KeyError)


def error_line(err: BaseException) -> str:
    """One line for stderr: ``error: <file>: <problem>`` (an OSError names its file; the project's errors do)."""
    if isinstance(err, OSError) and err.filename is not None:
        message = f"{err.filename}: {err.strerror or err}"
    elif isinstance(err, KeyError) and err.args:
        message = str(err.args[0])
    else:
        message = str(err) or type(err).__name__
    return "error: " + " ".join(message.split())


def main(argv: list[str] | None = None) -> int:
    """Run one command; a bad input (missing file, wrong format, bad value) is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_INPUT_ERRORS as err:
        print(error_line(err), file=sys.stderr)
        return 2
