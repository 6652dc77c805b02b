"""Regenerate the results tables of README.md from the stored runs in checkpoints/*/runs.

Every number between the ``<!-- results:start -->`` and ``<!-- results:end -->`` markers is computed here by
fer_core.metrics from the run rows; nothing is typed in. ``python scripts/readme_tables.py`` rewrites README.md;
``--check`` exits 1 when the README is out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fer_core import metrics  # noqa: E402  (after the repository is on the path)
from fer_core.runs import StoredRun, discover_runs  # noqa: E402

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _pct(value: float) -> str:
    return "-" if pd.isna(value) else f"{100 * value:.2f}"


def leaderboard_markdown(runs: list[StoredRun]) -> str:
    board = metrics.leaderboard([r for r in runs if r.split == "test"])
    lines = [
        "| model | dataset (test split) | n | accuracy % | balanced acc. % | macro-F1 % | ECE | params | CPU ms/face |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in board.to_dict("records"):
        latency = row["CPU latency ms"]
        lines.append(
            f"| {row['model']} | {row['dataset']} | {row['n']} | {_pct(row['accuracy'])} | "
            f"{_pct(row['balanced accuracy'])} | {_pct(row['macro-F1'])} | {row['ECE']:.3f} | "
            f"{int(row['params']):,} | {'-' if pd.isna(latency) else f'{latency:.2f}'} |"
        )
    return "\n".join(lines)


def robustness_markdown(run: StoredRun) -> str:
    table = metrics.resize_robustness_table(run.rows)
    header = "| down>up | clean | " + " | ".join(f"{c} px" for c in table.columns[1:]) + " |"
    lines = [f"Accuracy % of `{run.model_id}` on {run.dataset} test, faces shrunk to N px and enlarged back:", ""]
    lines += [header, "|---|" + "---:|" * len(table.columns)]
    for pair, row in table.iterrows():
        lines.append(f"| {pair} | " + " | ".join(_pct(v) for v in row.to_numpy()) + " |")
    return "\n".join(lines)


def subgroup_markdown(run: StoredRun) -> str:
    clean = metrics.condition_rows(run.rows, metrics.CLEAN)
    table = metrics.subgroup_table(clean, "age_group")
    gap, lo, hi = metrics.subgroup_gap_ci(clean, "age_group", "adult", "child", n_boot=1000, seed=0)
    lines = [f"`{run.model_id}` on {run.dataset} test by age group:", ""]
    lines += ["| group | n | accuracy % | macro-F1 % |", "|---|---:|---:|---:|"]
    for group, row in table.iterrows():
        lines.append(f"| {group} | {int(row['n'])} | {_pct(row['accuracy'])} | {_pct(row['macro-F1'])} |")
    lines += ["", f"Adult minus child accuracy: {_pct(gap)} points (95% bootstrap CI {_pct(lo)} to {_pct(hi)})."]
    return "\n".join(lines)


def results_section(checkpoints: Path) -> str:
    runs = sorted(discover_runs(checkpoints), key=lambda r: (r.dataset, r.model_id))
    if not runs:
        return "No stored runs yet."
    parts = [leaderboard_markdown(runs)]
    for run in runs:
        if run.split != "test":
            continue
        if len(run.conditions) > 1:
            parts.append(robustness_markdown(run))
        if "age_group" in run.rows.columns:
            parts.append(subgroup_markdown(run))
    return "\n\n".join(parts)


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
