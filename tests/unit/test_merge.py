"""Tests for sharding (``--shard I/N``) and ``linkaudit merge``: stable shares and deterministic joins."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reportkit import result, sample_report

from linkaudit import cli
from linkaudit.merge import in_shard, merge_reports
from linkaudit.model import Citation, HistoryEntry, LinkKey, Report, Status
from linkaudit.report import json as report_json

KEYS = [f"github:owner/repo{i}" for i in range(1000)]


@pytest.mark.parametrize("total", [1, 2, 3, 4, 7, 16])
def test_every_key_is_in_exactly_one_shard(total: int) -> None:
    """For any shard count, each key belongs to exactly one shard."""
    for key in KEYS:
        assert sum(in_shard(key, i, total) for i in range(1, total + 1)) == 1


def test_shards_are_balanced() -> None:
    """A thousand keys split four ways gives each shard roughly a quarter."""
    sizes = [sum(in_shard(k, i, 4) for k in KEYS) for i in range(1, 5)]
    assert all(200 <= s <= 300 for s in sizes), sizes


def test_shard_assignment_is_stable() -> None:
    """The assignment is a fixed function of the key (SHA-1), the same on every machine and run."""
    assert [i for i in range(1, 5) if in_shard("github:owner/repo", i, 4)] == [4]
    assert [i for i in range(1, 5) if in_shard("doi:10.1109/cvpr52688.2022.01009", i, 4)] == [3]


@pytest.mark.parametrize(("index", "total"), [(0, 4), (5, 4), (1, 0)])
def test_invalid_shards_are_rejected(index: int, total: int) -> None:
    """An index outside 1..total or a total below 1 is a ValueError."""
    with pytest.raises(ValueError, match="1 <= index <= total"):
        in_shard("k", index, total)


def _split(report: Report, total: int) -> list[Report]:
    return [dataclasses.replace(report, results=tuple(r for r in report.results if in_shard(r.key, i, total)),
                                history=tuple(h for h in report.history if in_shard(h.key, i, total)))
            for i in range(1, total + 1)]


def test_merging_shards_gives_back_the_whole_report() -> None:
    """Splitting a report into shards and merging them renders the same JSON as the original."""
    report = sample_report()
    assert report_json.render(merge_reports(_split(report, 3))) == report_json.render(report)


def test_merge_is_independent_of_order() -> None:
    """Any order of the parts gives the same merged report."""
    parts = _split(sample_report(), 3)
    rendered = {report_json.render(merge_reports(list(p))) for p in itertools.permutations(parts)}
    assert len(rendered) == 1


def test_duplicate_keys_prefer_definitive_then_recent_and_join_citations() -> None:
    """A key in several parts keeps the definitive, most recent verdict and every citation."""
    blocked = result("web:x.org/a", Status.BLOCKED, checked_at="2026-11-20T05:00:00Z", line=1)
    old_broken = result("web:x.org/a", Status.BROKEN, checked_at="2026-11-19T05:00:00Z", line=2)
    new_ok = result("web:x.org/a", Status.OK, checked_at="2026-11-20T04:00:00Z", line=3)
    for order in itertools.permutations([blocked, old_broken, new_ok]):
        merged = merge_reports([Report(results=(r,)) for r in order])
        (only,) = merged.results
        assert only.status is Status.OK
        assert [c.line for c in only.papers] == [1, 2, 3]


def test_duplicate_citations_are_listed_once() -> None:
    """The same citation in two parts appears once in the merged result."""
    citation = Citation("1", "a.md", 4, "T")
    one = dataclasses.replace(result("web:x.org/a"), papers=(citation,))
    merged = merge_reports([Report(results=(one,)), Report(results=(one,))])
    assert merged.results[0].papers == (citation,)


def test_run_facts_sources_papers_and_history_are_joined() -> None:
    """started_at is the earliest, duration the longest, sources/papers united, interrupted if any part was."""
    a = Report(results=(result("web:a.org"),), sources=("b.md",), started_at="2026-11-20T03:00:05Z",
               duration_s=10.0, history=(HistoryEntry(LinkKey("web:a.org"), consecutive_failures=1),))
    b = Report(results=(result("web:b.org"),), sources=("a.md", "b.md"), started_at="2026-11-20T03:00:00Z",
               duration_s=30.0, interrupted=True, papers=sample_report().papers)
    merged = merge_reports([a, b])
    assert merged.started_at == "2026-11-20T03:00:00Z" and merged.duration_s == 30.0
    assert merged.sources == ("a.md", "b.md") and merged.interrupted
    assert [h.key for h in merged.history] == ["web:a.org"]
    assert len(merged.papers) == 2


def test_merge_of_nothing_is_an_empty_report() -> None:
    """Merging no reports gives an empty report."""
    assert merge_reports([]).results == ()


@given(st.lists(st.text(min_size=1, max_size=30), max_size=50), st.integers(1, 9))
def test_shards_partition_any_keys(keys: list[str], total: int) -> None:
    """For arbitrary keys and shard counts, the shards partition the keys."""
    shards = [{k for k in keys if in_shard(k, i, total)} for i in range(1, total + 1)]
    assert set().union(*shards) == set(keys)
    assert sum(len(s) for s in shards) == len(set(keys))


def test_merge_command_writes_the_joined_report(tmp_path: Path) -> None:
    """`linkaudit merge PART... --output FILE` writes one valid report with every result."""
    paths = []
    for i, part in enumerate(_split(sample_report(), 2)):
        path = tmp_path / f"part{i}.json"
        path.write_text(report_json.render(part), encoding="utf-8")
        paths.append(str(path))
    out = tmp_path / "merged.json"
    assert cli.main(["merge", *paths, "--output", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["summary"]["total"] == 9
