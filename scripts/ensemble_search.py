"""Choose an ensemble's members on the validation split, by acc_f1.

    python scripts/ensemble_search.py --label-set fer2013 \
        --candidates cnn_small_fer2013 cnn_small_joint@fer2013 cct_budget_joint@fer2013 [--write ensemble_fer2013]

Each candidate's probabilities on the validation split (FER2013 PublicTest, or FER+ Valid with the majority
protocol) are computed once, on the backend the ensemble serves it with (ONNX where the model ships a file). Two
ways to choose, both scored as ``fer_core.serving.ensemble`` serves the result, by acc_f1 = (accuracy + macro-F1) / 2:

- ``--method greedy`` (the default): ensemble selection with replacement (Caruana et al. 2004, "Ensemble Selection
  from Libraries of Models", ICML): each of ``--rounds`` rounds adds the candidate, again if already in, whose
  addition scores best; the best round's picks are the members, weighted by how often each was picked.
- ``--method subsets``: every subset of two or more, equal weights.

The test split is never read. ``--write NAME`` makes ``checkpoints/NAME`` the chosen ensemble.

``--max-ms MS`` (greedy only) caps the ensemble's latency: a round may add only candidates that keep the sum of the
distinct members' per-face latencies (their cards' ``latency_ms_per_face``: ONNX, 1 thread, batch 1) within ``MS``.
An ensemble runs its members one after another, so the sum is close to what it costs (2026-12-07: FER2013 members
2.66 ms in sum, the ensemble 2.80 ms; FER+ 2.81 and 2.98). Picking a member again costs nothing.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from fer_core.data import load_split
from fer_core.evaluation.evaluate import forget_runs_of_replaced_weights
from fer_core.evaluation.metrics import classification_scores, selection_score
from fer_core.serving.classifier import load_model
from fer_core.serving.ensemble import save_ensemble_dir
from fer_core.store.model_dir import Checkpoints, ModelDir, split_head

REPO = Path(__file__).resolve().parents[1]

BATCH = 512


def validation_probabilities(name: str, images: np.ndarray) -> np.ndarray:
    """A candidate's probabilities as an ensemble would serve it: its int8 ONNX file where it ships one."""
    clf = load_model(name)
    return np.concatenate([clf.predict(images[i : i + BATCH]) for i in range(0, len(images), BATCH)])


def score(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    scores = classification_scores(labels, probs.argmax(1), probs.shape[1])
    return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"], "score": selection_score(scores, "acc_f1")}


def ranked_subsets(probs: dict[str, np.ndarray], labels: np.ndarray) -> list[tuple[tuple[str, ...], dict]]:
    """Every subset (singles included, for reference), best validation score first."""
    names = list(probs)
    subsets = [c for k in range(1, len(names) + 1) for c in itertools.combinations(names, k)]
    rows = [(subset, score(np.mean([probs[n] for n in subset], axis=0), labels)) for subset in subsets]
    return sorted(rows, key=lambda row: row[1]["score"], reverse=True)


GREEDY_ROUNDS = 25


def member_latency_ms(name: str) -> float:
    """A candidate's per-face latency from its card (``bench --update-card``), for ``--max-ms``."""
    directory, _ = split_head(name)
    latency = Checkpoints.at().read_card(str(directory)).latency_ms_per_face
    if latency is None:
        raise SystemExit(
            f"{name}: its card has no latency_ms_per_face; time it first: python -m fer_core bench "
            f"--model {directory} --backend onnx --batch 1 --threads 1 --update-card"
        )
    return float(latency)


def greedy_selection(
    probs: dict[str, np.ndarray],
    labels: np.ndarray,
    rounds: int = GREEDY_ROUNDS,
    latency_ms: dict[str, float] | None = None,
    max_ms: float | None = None,
) -> tuple[dict[str, int], dict[str, float]]:
    """Ensemble selection with replacement: the members (candidate order) with how often each was picked, and the
    scores of that weighted mean. Each round adds the candidate whose addition scores best; the best round wins,
    so later rounds that only add noise are dropped. With ``max_ms``, a round only considers candidates already in
    or whose ``latency_ms`` keeps the members' sum within it (the rounds end when none is left)."""
    names = list(probs)
    counts = dict.fromkeys(names, 0)
    total = np.zeros_like(probs[names[0]], dtype=np.float64)
    best: tuple[dict[str, float], dict[str, int]] | None = None
    for picked in range(1, rounds + 1):
        allowed = _within_budget(names, counts, latency_ms, max_ms)
        if not allowed:
            break
        trials = [(score((total + probs[name]) / picked, labels), name) for name in allowed]
        round_scores, name = max(trials, key=lambda trial: trial[0]["score"])
        counts[name] += 1
        total += probs[name]
        if best is None or round_scores["score"] > best[0]["score"]:
            best = (round_scores, dict(counts))
    if best is None:
        raise ValueError(f"no candidate fits within {max_ms} ms" if max_ms is not None else "rounds must be >= 1")
    return {name: count for name, count in best[1].items() if count}, best[0]


def _within_budget(
    names: list[str], counts: dict[str, int], latency_ms: dict[str, float] | None, max_ms: float | None
) -> list[str]:
    """The candidates a round may pick: all without a budget; else those already in, or that fit what is left."""
    if max_ms is None:
        return names
    if latency_ms is None:
        raise ValueError("max_ms needs each candidate's latency_ms")
    spent = sum(latency_ms[name] for name in names if counts[name])
    return [name for name in names if counts[name] or spent + latency_ms[name] <= max_ms]


def choose(
    method: str, probs: dict[str, np.ndarray], labels: np.ndarray, rounds: int = GREEDY_ROUNDS
) -> tuple[dict[str, float], dict[str, float]]:
    """The members ``method`` chooses with their weights (equal for ``subsets``), and their validation scores."""
    if method == "greedy":
        counts, scores = greedy_selection(probs, labels, rounds)
        return {name: float(count) for name, count in counts.items()}, scores
    best, scores = next((subset, s) for subset, s in ranked_subsets(probs, labels) if len(subset) > 1)
    return dict.fromkeys(best, 1.0), scores


def compare_methods(
    probs: dict[str, np.ndarray], labels: np.ndarray, repeats: int = 5, seed: int = 0
) -> list[dict[str, float]]:
    """Held-out acc_f1 of each method: the validation split halved at random ``repeats`` times, each method choosing
    on one half and scored on the other, both ways round (2-fold cross-validation)."""
    rng = np.random.default_rng(seed)
    folds = []
    for _ in range(repeats):
        order = rng.permutation(len(labels))
        halves = (order[: len(labels) // 2], order[len(labels) // 2 :])
        for fit, held_out in (halves, halves[::-1]):
            row = {}
            for method in ("subsets", "greedy"):
                weights, _ = choose(method, {name: p[fit] for name, p in probs.items()}, labels[fit])
                mean = sum(w * probs[name][held_out] for name, w in weights.items()) / sum(weights.values())
                row[method] = score(mean, labels[held_out])["score"]
            folds.append(row)
    return folds


def selection_record(
    label_set: str, scores: dict[str, float], candidates: list[str], method: str = "every subset"
) -> dict:
    """How the members were chosen, for the card (``training.selection``) and the README's ensembles table."""
    rounded = {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"], "acc_f1": scores["score"]}
    rounded = {key: round(float(value), 5) for key, value in rounded.items()}
    split = "FER2013 PublicTest" if label_set == "fer2013" else "FER+ Valid (majority)"
    return {"split": split, "metric": "acc_f1", "method": method, **rounded, "candidates": list(candidates)}


def _is_ensemble_of(directory: Path, members: list[str], weights: list[float] | None) -> bool:
    """Whether ``directory`` already holds the ensemble of ``members`` with these ``weights``, in that order."""
    model_dir = ModelDir(directory)
    if not model_dir.has_card():
        return False
    card = model_dir.read_card()
    same_weights = tuple(card.weights or ()) == tuple(float(w) for w in weights or ())
    return card.is_ensemble and tuple(card.members or ()) == tuple(members) and same_weights


def write_ensemble(directory: Path, members: list[str], selection: dict, weights: list[float] | None = None) -> bool:
    """Make ``directory`` the ensemble of ``members``; False where it already was, on the same member weights.

    Then only the card's selection record is updated: rewriting the card would drop the test metrics and latencies
    measured of that same ensemble (its stored runs stay valid). A member retrained in place makes its runs stale
    (``forget_runs_of_replaced_weights`` removes them), and the card is written afresh.
    """
    if _is_ensemble_of(directory, members, weights) and not forget_runs_of_replaced_weights(directory):
        model_dir = ModelDir(directory)
        card = model_dir.read_card()
        card.training = {**(card.training or {}), "selection": dict(selection)}
        model_dir.write_card(card)
        return False
    save_ensemble_dir(directory, members, load_member=load_model, selection=selection, weights=weights)
    forget_runs_of_replaced_weights(directory)  # runs of the members it had before
    return True


def print_ranking(ranking: list[tuple[tuple[str, ...], dict]], top: int) -> None:
    print(f"{'val acc':>7} {'macro-F1':>8} {'acc_f1':>7}  members")
    for subset, s in ranking[:top]:
        print(f"{100 * s['accuracy']:7.2f} {100 * s['macro_f1']:8.2f} {100 * s['score']:7.2f}  {' + '.join(subset)}")


def print_choice(members: list[str], weights: list[float], scores: dict[str, float]) -> None:
    accuracy, macro_f1, acc_f1 = (100 * scores[key] for key in ("accuracy", "macro_f1", "score"))
    print(f"val acc {accuracy:.2f}  macro-F1 {macro_f1:.2f}  acc_f1 {acc_f1:.2f}  (weight x member)")
    for name, weight in zip(members, weights, strict=True):
        print(f"  {weight:3.0f} x {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label-set", required=True, choices=["fer2013", "ferplus"])
    parser.add_argument("--candidates", nargs="+", required=True, help="model names (name@head for a joint model)")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--write", metavar="NAME", help="write checkpoints/NAME as the chosen ensemble (>= 2 members)")
    parser.add_argument("--method", choices=["greedy", "subsets"], default="greedy")
    parser.add_argument("--rounds", type=int, default=GREEDY_ROUNDS, help="greedy: picks made (with replacement)")
    parser.add_argument("--top", type=int, default=10, help="subsets: how many of the best to list")
    parser.add_argument(
        "--max-ms", type=float, help="greedy: cap on the members' summed per-face latency (their cards' figures)"
    )
    parser.add_argument(
        "--compare-methods",
        action="store_true",
        help="cross-validate both methods on the validation split, write nothing",
    )
    args = parser.parse_args(argv)
    if args.max_ms is not None and args.method != "greedy":
        parser.error("--max-ms works with --method greedy only")
    val = load_split(args.label_set, args.data_root / args.label_set, "val", label_mode="majority", progress=True)
    probs = {name: validation_probabilities(name, val.images) for name in args.candidates}
    if args.compare_methods:
        folds = compare_methods(probs, val.labels)
        for row in folds:
            print(f"held-out acc_f1: subsets {100 * row['subsets']:.2f}  greedy {100 * row['greedy']:.2f}")
        gain = 100 * np.mean([row["greedy"] - row["subsets"] for row in folds])
        ahead = sum(row["greedy"] > row["subsets"] for row in folds)
        print(f"greedy - subsets: {gain:+.2f} points on average; greedy ahead in {ahead} of {len(folds)} folds")
        return 0
    if args.method == "subsets":
        ranking = ranked_subsets(probs, val.labels)
        print_ranking(ranking, args.top)
        best, scores = next((subset, s) for subset, s in ranking if len(subset) > 1)
        members, weights, method = list(best), None, "every subset"
    else:
        latency = {name: member_latency_ms(name) for name in args.candidates} if args.max_ms is not None else None
        try:
            counts, scores = greedy_selection(probs, val.labels, args.rounds, latency, args.max_ms)
        except ValueError as error:  # no candidate fits the latency cap
            raise SystemExit(f"ensemble_search: {error}") from None
        members, weights = list(counts), [float(count) for count in counts.values()]
        method = f"greedy selection with replacement, best of {args.rounds} rounds"
        if args.max_ms is not None:
            method += f", members' latencies summing to at most {args.max_ms:g} ms"
            print(f"members' latencies sum to {sum(latency[name] for name in members):.2f} ms of {args.max_ms:g}")
        print_choice(members, weights, scores)
    if args.write:
        if len(members) < 2:
            raise SystemExit(f"the selection holds one model ({members[0]}), not an ensemble; nothing written")
        selection = selection_record(args.label_set, scores, args.candidates, method)
        out = REPO / "checkpoints" / args.write
        changed = write_ensemble(out, members, selection, weights)
        print(f"{'wrote' if changed else 'kept (same members; selection record updated)'} {out}: {' + '.join(members)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
