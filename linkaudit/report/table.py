"""Report stage, terminal format: ``Report`` -> a rich summary table and a table of the problems.

``print_report(report, console)`` prints to a terminal: colour only when the
console is a TTY, and never when ``NO_COLOR`` is set (rich's own detection).
``render(report) -> str`` is the same tables as plain text, for files and
pipes.  Problems are the links a maintainer may have to look at: broken,
redirected, blocked and error, in that order, by key within a status.
"""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..model import CheckResult, Report, Status
from .summary import history_by_key, run_label, sorted_results, summarize

PLAIN_WIDTH = 140
"""Width of the plain-text rendering (a file has no terminal width to follow)."""

_STYLE = {
    Status.OK: "green",
    Status.REDIRECTED: "yellow",
    Status.BROKEN: "bold red",
    Status.BLOCKED: "magenta",
    Status.ERROR: "magenta",
    Status.SKIPPED: "dim",
}
_PROBLEMS = (Status.BROKEN, Status.REDIRECTED, Status.BLOCKED, Status.ERROR)


def summary_table(report: Report) -> Table:
    """Counts per kind (rows) and status (columns), with a total row."""
    summary = summarize(report)
    title = f"linkaudit: {summary.total} links"
    if report.duration_s is not None:
        title += f" in {report.duration_s:.1f} s"
    table = Table(title=title, title_justify="left")
    table.add_column("kind")
    table.add_column("total", justify="right")
    for status in Status:
        table.add_column(status.value, justify="right", style=_STYLE[status])
    for kind, counts in summary.by_kind_status.items():
        table.add_row(kind, str(summary.by_kind[kind]), *(str(counts[s.value]) for s in Status))
    table.add_row(Text("all", style="bold"), Text(str(summary.total), style="bold"),
                  *(Text(str(summary.by_status[s.value]), style="bold") for s in Status), end_section=True)
    return table


def _paper(result: CheckResult) -> Text:
    citations = sorted(result.papers, key=lambda c: (c.path, c.line, c.paper or ""))
    if not citations:
        return Text("—")
    first = citations[0]
    label = f"{first.paper} " if first.paper else ""
    text = f"{label}{first.path}:{first.line}"
    if len(citations) > 1:
        text += f" (+{len(citations) - 1})"
    return Text(text)


def _note(result: CheckResult, label: str) -> Text:
    if result.status is Status.BROKEN:
        note = label
        if result.suggestions:
            note += "; did you mean " + ", ".join(result.suggestions)
    elif result.status is Status.REDIRECTED:
        note = "→ " + (result.final_url or (result.repo.renamed_to if result.repo else None) or "?")
    else:
        note = result.detail
    return Text(note)


def problems_table(report: Report) -> Table | None:
    """Broken, redirected, blocked and error links (None when there are none)."""
    history = history_by_key(report)
    results = sorted_results(report)
    rows = [r for status in _PROBLEMS for r in results if r.status is status]
    if not rows:
        return None
    table = Table(title=f"{len(rows)} problem{'s' if len(rows) != 1 else ''}", title_justify="left")
    table.add_column("status")
    table.add_column("kind")
    table.add_column("link", overflow="fold")
    table.add_column("HTTP", justify="right")
    table.add_column("cited at", overflow="fold")
    table.add_column("note", overflow="fold")
    for r in rows:
        table.add_row(
            Text(r.status.value, style=_STYLE[r.status]),
            Text(r.kind.value),
            Text(r.url),
            Text("—" if r.http_status is None else str(r.http_status)),
            _paper(r),
            _note(r, run_label(history.get(r.key))),
        )
    return table


def _renderables(report: Report) -> Group:
    parts: list[Table | Text] = [summary_table(report), Text("")]
    problems = problems_table(report)
    parts.append(problems if problems is not None else Text("No problems found.", style="green"))
    if report.interrupted:
        parts.append(Text("Interrupted: only the links checked so far are shown.", style="bold yellow"))
    return Group(*parts)


def print_report(report: Report, console: Console | None = None) -> None:
    """Print the summary and the problems to ``console`` (default: stdout, colour on a TTY unless NO_COLOR)."""
    console = console if console is not None else Console(highlight=False)
    console.print(_renderables(report))


def render(report: Report) -> str:
    """The same tables as plain text, no colour and no terminal codes, ``PLAIN_WIDTH`` wide."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=PLAIN_WIDTH, color_system=None, no_color=True, force_terminal=False,
                      highlight=False, emoji=False, legacy_windows=False)
    console.print(_renderables(report))
    # rich pads titles and cells to the table width; trailing blanks are noise in a file
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"
