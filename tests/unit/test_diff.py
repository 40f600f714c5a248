"""Tests for ``linkaudit diff``: newly broken, still broken, fixed, between two reports or since the last run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from reportkit import result

from linkaudit import cli
from linkaudit.diff import diff_reports, render_json, render_markdown, run_diff_command
from linkaudit.errors import InputError, StoreError
from linkaudit.model import Report, Status
from linkaudit.report import json as report_json
from linkaudit.store import open_store

OLD = Report(
    results=(
        result("web:a.org/still", Status.BROKEN),
        result("web:a.org/fixed", Status.BROKEN),
        result("web:a.org/walled", Status.BROKEN),
        result("web:a.org/gone", Status.BROKEN),
        result("web:a.org/new", Status.OK),
        result("web:a.org/fine", Status.OK),
    ),
    started_at="2026-11-19T03:00:00Z",
)
NEW = Report(
    results=(
        result("web:a.org/still", Status.BROKEN),
        result("web:a.org/fixed", Status.REDIRECTED, final_url="https://b.org/fixed"),
        result("web:a.org/walled", Status.BLOCKED),
        result("web:a.org/new", Status.BROKEN),
        result("web:a.org/fresh", Status.BROKEN),
        result("web:a.org/fine", Status.OK),
    ),
    started_at="2026-11-20T03:00:00Z",
)


def _keys(results: tuple) -> list[str]:
    return [r.key for r in results]


def test_diff_sorts_broken_links_into_categories() -> None:
    """Links are newly broken, still broken, fixed, unconfirmed or no longer cited; working links are ignored."""
    diff = diff_reports(OLD, NEW)
    assert _keys(diff.newly_broken) == ["web:a.org/fresh", "web:a.org/new"]
    assert _keys(diff.still_broken) == ["web:a.org/still"]
    assert _keys(diff.fixed) == ["web:a.org/fixed"]
    assert _keys(diff.unconfirmed) == ["web:a.org/walled"]
    assert _keys(diff.no_longer_cited) == ["web:a.org/gone"]
    assert diff.fixed[0].status is Status.REDIRECTED  # the new result is reported


def test_diff_of_identical_reports_has_only_still_broken() -> None:
    """Comparing a report with itself reports nothing new and nothing fixed."""
    diff = diff_reports(NEW, NEW)
    assert not diff.newly_broken and not diff.fixed and len(diff.still_broken) == 3


def test_markdown_rendering_lists_each_category() -> None:
    """The markdown diff counts every category and has a table for each non-empty one."""
    text = render_markdown(diff_reports(OLD, NEW))
    assert "2026-11-19T03:00:00Z → 2026-11-20T03:00:00Z" in text
    assert "2 newly broken · 1 still broken · 1 fixed · 1 no longer confirmed broken · 1 no longer cited" in text
    assert "## Newly broken (2)" in text and "## Fixed (1)" in text
    assert "[https://a.org/fresh](https://a.org/fresh)" in text


def test_json_rendering_is_a_versioned_document() -> None:
    """The JSON diff names its schema and carries report results per category."""
    doc = json.loads(render_json(diff_reports(OLD, NEW)))
    assert doc["schema"] == "linkaudit.diff/1"
    assert [r["key"] for r in doc["newly_broken"]] == ["web:a.org/fresh", "web:a.org/new"]
    assert doc["fixed"][0]["final_url"] == "https://b.org/fixed"


def _save(tmp_path: Path, name: str, report: Report) -> str:
    path = tmp_path / name
    path.write_text(report_json.render(report), encoding="utf-8")
    return str(path)


def test_diff_command_exits_1_when_something_is_newly_broken(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`linkaudit diff OLD NEW` prints the diff and exits 1 when a link is newly broken."""
    code = cli.main(["diff", _save(tmp_path, "old.json", OLD), _save(tmp_path, "new.json", NEW)])
    assert code == 1
    assert "## Newly broken (2)" in capsys.readouterr().out


def test_diff_command_exits_0_when_nothing_is_newly_broken(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Only fixes and old breakage: exit 0; --format json prints the JSON document."""
    code = cli.main(["diff", _save(tmp_path, "new.json", NEW), _save(tmp_path, "newer.json", NEW),
                     "--format", "json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["newly_broken"] == []


def test_diff_command_reports_a_bad_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing or invalid report file gives exit 2 and one line on stderr."""
    code = cli.main(["diff", str(tmp_path / "missing.json"), _save(tmp_path, "new.json", NEW)])
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.json: no such file" in err and err.count("\n") == 1


def _since_last_args(tmp_path: Path, new_path: str, history: Path) -> argparse.Namespace:
    config = tmp_path / "config.yaml"
    config.write_text(f"history_path: {history}\n", encoding="utf-8")
    return argparse.Namespace(old=None, new=None, since_last=new_path, config=str(config), format="markdown")


def test_since_last_compares_with_the_previous_run_in_history(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--since-last NEW.json compares with the latest recorded run that started before NEW (not NEW itself)."""
    history = tmp_path / "h.db"
    with open_store(history) as store:
        store.record_run(OLD.results, started_at=OLD.started_at or "")
        store.record_run(NEW.results, started_at=NEW.started_at or "")  # the audit recorded NEW too
    args = _since_last_args(tmp_path, _save(tmp_path, "new.json", NEW), history)
    assert run_diff_command(args) == 1
    out = capsys.readouterr().out
    assert "2026-11-19T03:00:00Z → 2026-11-20T03:00:00Z" in out
    assert "## Newly broken (2)" in out and "## Fixed (1)" in out


def test_since_last_without_history_is_an_error(tmp_path: Path) -> None:
    """--since-last with no history database is a StoreError, and no database is created."""
    history = tmp_path / "none.db"
    with pytest.raises(StoreError, match="no history database"):
        run_diff_command(_since_last_args(tmp_path, _save(tmp_path, "new.json", NEW), history))
    assert not history.exists()


def test_since_last_without_an_earlier_run_is_an_error(tmp_path: Path) -> None:
    """--since-last when the history holds no run before NEW is an InputError saying so."""
    history = tmp_path / "h.db"
    with open_store(history) as store:
        store.record_run(NEW.results, started_at=NEW.started_at or "")
    with pytest.raises(InputError, match="no run recorded before 2026-11-20T03:00:00Z"):
        run_diff_command(_since_last_args(tmp_path, _save(tmp_path, "new.json", NEW), history))
