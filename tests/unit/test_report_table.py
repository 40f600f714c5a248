"""Tests for the terminal output: the rich tables, colour rules, and the progress displays."""

from __future__ import annotations

import io
import re

import pytest
from reportkit import result, sample_report
from rich.console import Console

from linkaudit.model import Report, Status
from linkaudit.report import table, terminal

ANSI = "\x1b["
COLOUR = re.compile(r"\x1b\[(?:\d+;)*(?:3[0-8]|9[0-7])[;m]")
"""An SGR sequence that sets a foreground colour (bold or italic alone are not colour)."""


def test_plain_render_has_counts_and_problems_without_escape_codes() -> None:
    """render() gives plain text: the per-kind counts and each problem, no ANSI codes, no trailing blanks."""
    text = table.render(sample_report())
    assert ANSI not in text
    assert "linkaudit: 9 links in 12.5 s" in text
    assert "https://github.com/gone/repo" in text and "broken for 3 runs, since 2026-11-18" in text
    assert "→ https://github.com/new/name" in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_problems_are_ordered_broken_first() -> None:
    """Problems list broken, then redirected, then blocked and error; ok and skipped links are not listed."""
    text = table.render(sample_report())
    order = [text.index(u) for u in ("cvpr.2022.99999", "old/name", "example.org/blocked", "example.org/slow")]
    assert order == sorted(order)
    assert "cgl_fairness" not in text and "localhost/x" not in text


def test_no_problems_message() -> None:
    """A clean report says there are no problems."""
    assert "No problems found." in table.render(Report(results=(result("web:x.org/a"),)))


def test_brackets_in_urls_are_not_rich_markup() -> None:
    """URLs and details with [brackets] are printed literally, not interpreted as rich markup."""
    text = table.render(Report(results=(result("web:x.org/[bold]x[/bold]", Status.ERROR, detail="[red]boom"),)))
    assert "[bold]x[/bold]" in text and "[red]boom" in text


def test_colour_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal without NO_COLOR the statuses are coloured."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    buffer = io.StringIO()
    table.print_report(sample_report(), Console(file=buffer, force_terminal=True, color_system="standard"))
    assert COLOUR.search(buffer.getvalue())


def test_no_colour_when_no_color_is_set() -> None:
    """NO_COLOR (set by the test environment) turns colour off even on a terminal."""
    buffer = io.StringIO()
    table.print_report(sample_report(), Console(file=buffer, force_terminal=True, color_system="standard"))
    assert not COLOUR.search(buffer.getvalue())


def test_no_colour_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output to a file or pipe has no escape codes."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    buffer = io.StringIO()
    table.print_report(sample_report(), Console(file=buffer))
    assert ANSI not in buffer.getvalue()


def test_log_progress_writes_start_steps_and_end() -> None:
    """The plain CI progress logs the start, each 10% step and the totals, and nothing else."""
    stream = io.StringIO()
    progress = terminal.LogProgress(stream)
    progress.start(20)
    for i in range(20):
        progress.advance(result(f"web:x.org/{i}", Status.BROKEN if i == 0 else Status.OK))
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "linkaudit: checking 20 unique links"
    assert lines[1] == "linkaudit: 2/20 checked (1 broken)"
    assert len(lines) == 1 + 9 + 1
    assert lines[-1].startswith("linkaudit: checked 20/20 in ") and lines[-1].endswith("(1 broken)")


def test_quiet_log_progress_writes_only_start_and_end() -> None:
    """In quiet mode the plain progress writes just two lines."""
    stream = io.StringIO()
    progress = terminal.make_progress(True, stream=stream)
    progress.start(100)
    for i in range(100):
        progress.advance(result(f"web:x.org/{i}"))
    progress.finish()
    assert len(stream.getvalue().splitlines()) == 2


def test_make_progress_picks_plain_log_off_a_terminal() -> None:
    """Off a terminal (as under pytest or in CI) the progress is the plain log, never the bar."""
    assert isinstance(terminal.make_progress(False), terminal.LogProgress)
    assert isinstance(terminal.make_progress(True), terminal.LogProgress)


def test_rich_progress_runs_through_a_whole_check(capsys: pytest.CaptureFixture[str]) -> None:
    """The rich bar accepts start/advance/finish like any Progress."""
    progress = terminal.RichProgress()
    progress.start(3)
    for status in (Status.OK, Status.BROKEN, Status.ERROR):
        progress.advance(result("web:x.org/a", status))
    progress.finish()
    err = capsys.readouterr().err
    assert "3/3" in err
    assert "1 broken, 1 error" in err


def test_rich_progress_draws_the_counts_it_has_at_each_redraw(capsys: pytest.CaptureFixture[str]) -> None:
    """The bar reads the counts when it draws; a link finished just before a lull is on the next frame."""
    progress = terminal.RichProgress()
    progress.start(4)
    progress.advance(result("web:x.org/a", Status.OK))
    progress.advance(result("web:x.org/b", Status.BLOCKED))
    task = progress._bar.tasks[0]
    assert task.completed == 0  # finishing a link costs no call into rich...
    progress._bar.get_renderable()  # ...a redraw (rich's refresh thread, 10 a second) takes the counts
    assert (task.completed, task.fields["counts"]) == (2, "1 blocked")
    progress.finish()
    assert "2/4" in capsys.readouterr().err
