"""scripts/bench_photo_concurrency.py: its pure parts (arguments, outcomes, statistics, the table); no browser, no
server, no timing."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO_ROOT, load_script


@pytest.fixture(scope="module")
def bench():
    """The script as a module; it imports ``bench_live_browser`` the way scripts do, from its own folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO_ROOT / "scripts"))
        return load_script("bench_photo_concurrency")


def _round(bench, sessions: int, seconds: list[float | None], failure: str = "no result in 300 s"):
    pages = [
        bench.PageResult(s, faces=4) if s is not None else bench.PageResult(None, failure=failure) for s in seconds
    ]
    return bench.RoundResult(sessions, pages, 0.05, 42.4, 301.5, log_errors=[])


def test_arguments_default_to_one_upload_and_take_rounds_and_json(bench) -> None:
    args = bench.parse_args([])
    assert args.sessions == [1] and args.json is None and args.timeout == 300.0
    args = bench.parse_args(["--sessions", "1", "2", "4", "8", "--json", "out.json", "--timeout", "60"])
    assert args.sessions == [1, 2, 4, 8] and args.json == Path("out.json") and args.timeout == 60.0


def test_a_round_of_no_tabs_is_refused(bench) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(["--sessions", "0"])


def test_spread_is_min_median_max_and_none_without_values(bench) -> None:
    assert bench.spread([3.0, 1.0, 2.0, 10.0]) == (1.0, 2.5, 10.0)
    assert bench.spread([2.0]) == (2.0, 2.0, 2.0)
    assert bench.spread([]) is None


def test_page_result_reads_the_watchers_record(bench) -> None:
    done = {"ok": True, "detail": "4 faces found, numbered in reading order", "at_ms": 12_500}
    assert bench.page_result(done, 10.0, 300) == bench.PageResult(2.5, faces=4)
    one = {"ok": True, "detail": "1 face found, numbered in reading order", "at_ms": 11_000}
    assert bench.page_result(one, 10.0, 300).faces == 1
    error = {"ok": False, "detail": "photo.jpg: the analysis failed", "at_ms": 11_000}
    assert bench.page_result(error, 10.0, 300) == bench.PageResult(None, failure="photo.jpg: the analysis failed")
    assert bench.page_result(None, 10.0, 300) == bench.PageResult(None, failure="no result in 300 s")


def test_failures_name_each_reason_once(bench) -> None:
    pages = [bench.PageResult(1.0), bench.PageResult(None, failure="a"), bench.PageResult(None, failure="a")]
    assert bench.failures(pages) == "2 (a)"
    assert bench.failures([bench.PageResult(1.0)]) == "-"


def test_table_from_fixed_measurements(bench) -> None:
    rounds = [_round(bench, 1, [2.64]), _round(bench, 4, [2.0, 3.0, 5.0, None]), _round(bench, 2, [None, None])]
    rows = bench.summary_rows(rounds)
    assert [r["succeeded"] for r in rows] == [1, 3, 0]
    assert rows[1]["seconds"] == (2.0, 3.0, 5.0) and rows[2]["seconds"] is None
    lines = bench.markdown_table(rows).splitlines()
    assert len(lines) == 5 and lines[0].startswith("| uploads at once | succeeded |")
    assert lines[2] == "| 1 | 1/1 | 2.6 / 2.6 / 2.6 | 4 | - | 42 | 302 | 0 |"
    assert lines[3] == "| 4 | 3/4 | 2.0 / 3.0 / 5.0 | 4 | 1 (no result in 300 s) | 42 | 302 | 0 |"
    assert lines[4] == "| 2 | 0/2 | - | - | 2 (no result in 300 s) | 42 | 302 | 0 |"
