"""Diff stage: two ``Report``s (or a report and the previous run in the history) -> ``ReportDiff``.

``diff_reports(old, new)`` sorts every link that is broken in either report
into: newly broken, still broken, fixed (now ``ok`` or ``redirected``),
unconfirmed (now blocked, error or skipped: no longer *known* broken, not known
fixed) and no longer cited (absent from the new report).  ``render_markdown``
and ``render_json`` (``linkaudit.diff/1``) are pure renderers.

``run_diff_command(args)`` backs ``linkaudit diff OLD.json NEW.json`` and
``linkaudit diff --since-last NEW.json`` (the old side is the latest run in
the history database that started before NEW).  Exit code: 1 when anything
is newly broken, else 0, so the command can gate CI on new breakage alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

from .errors import InputError
from .model import CheckResult, LinkKey, Report, Status
from .report.json import load_report, result_dict
from .report.markdown import escape, link, papers_cell
from .report.summary import WORKING, history_by_key, run_label, sorted_results

DIFF_SCHEMA = "linkaudit.diff/1"


@dataclass(frozen=True, slots=True)
class ReportDiff:
    """How the broken links changed between two reports; every tuple is in key order."""

    old_started_at: str | None
    new_started_at: str | None
    newly_broken: tuple[CheckResult, ...]
    """Broken now, not broken (or absent) before; the new results."""
    still_broken: tuple[CheckResult, ...]
    """Broken in both; the new results."""
    fixed: tuple[CheckResult, ...]
    """Broken before, ``ok`` or ``redirected`` now; the new results."""
    unconfirmed: tuple[CheckResult, ...]
    """Broken before, inconclusive or skipped now; the new results."""
    no_longer_cited: tuple[CheckResult, ...]
    """Broken before and absent from the new report; the old results."""
    new_report: Report | None = None
    """The new report, for its history fields in renderings."""


def diff_reports(old: Report, new: Report) -> ReportDiff:
    """Compare the broken links of ``old`` and ``new`` by key."""
    before: dict[LinkKey, CheckResult] = {r.key: r for r in sorted_results(old)}
    after: dict[LinkKey, CheckResult] = {r.key: r for r in sorted_results(new)}
    newly: list[CheckResult] = []
    still: list[CheckResult] = []
    fixed: list[CheckResult] = []
    unconfirmed: list[CheckResult] = []
    for key, result in after.items():
        was_broken = key in before and before[key].status is Status.BROKEN
        if result.status is Status.BROKEN:
            (still if was_broken else newly).append(result)
        elif was_broken:
            (fixed if result.status in WORKING else unconfirmed).append(result)
    gone = [r for key, r in before.items() if r.status is Status.BROKEN and key not in after]
    return ReportDiff(old.started_at, new.started_at, tuple(newly), tuple(still), tuple(fixed),
                      tuple(unconfirmed), tuple(gone), new_report=new)


_SECTIONS = (
    ("newly_broken", "Newly broken"),
    ("still_broken", "Still broken"),
    ("fixed", "Fixed"),
    ("unconfirmed", "No longer confirmed broken (now inconclusive or skipped)"),
    ("no_longer_cited", "No longer cited"),
)


def render_markdown(diff: ReportDiff) -> str:
    """The diff as markdown: a count line, then one table per non-empty category."""
    history = history_by_key(diff.new_report) if diff.new_report else {}
    lines = ["# linkaudit diff", "",
             f"{escape(diff.old_started_at or 'old report')} → {escape(diff.new_started_at or 'new report')}", ""]
    counts = [f"{len(getattr(diff, name))} {title.split(' (')[0].lower()}" for name, title in _SECTIONS]
    lines += [" · ".join(counts), ""]
    for name, title in _SECTIONS:
        results: tuple[CheckResult, ...] = getattr(diff, name)
        if not results:
            continue
        lines += [f"## {title} ({len(results)})", "", "| Paper | Link | Kind | Status | HTTP | Since |",
                  "| --- | --- | --- | --- | ---: | --- |"]
        for r in results:
            since = run_label(history.get(r.key)) if r.status is Status.BROKEN and name != "no_longer_cited" else "—"
            code = "—" if r.http_status is None else str(r.http_status)
            lines.append(f"| {papers_cell(r)} | {link(r.url)} | {r.kind.value} | {r.status.value} | {code} | "
                         f"{escape(since)} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def render_json(diff: ReportDiff) -> str:
    """The diff as a ``linkaudit.diff/1`` JSON document (sorted keys, results by key)."""
    history = history_by_key(diff.new_report) if diff.new_report else {}
    doc: dict[str, object] = {
        "schema": DIFF_SCHEMA,
        "old_started_at": diff.old_started_at,
        "new_started_at": diff.new_started_at,
    }
    for name, _ in _SECTIONS:
        results: tuple[CheckResult, ...] = getattr(diff, name)
        use_history = name != "no_longer_cited"
        doc[name] = [result_dict(r, history.get(r.key) if use_history else None) for r in results]
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def run_diff_command(args: argparse.Namespace) -> int:
    """``linkaudit diff``: print the diff (markdown or json) on stdout; 1 if anything is newly broken, else 0.

    ``args``: ``old``, ``new`` (paths), ``since_last`` (path of NEW, compared
    with the previous run in the history at ``Settings.history_path``),
    ``config`` and ``format`` (``markdown`` or ``json``).
    """
    since_last = getattr(args, "since_last", None)
    if since_last:
        from .config import load_settings
        from .store import open_store

        new = load_report(since_last)
        settings = load_settings(getattr(args, "config", None))
        with open_store(settings.history_path, create=False) as store:
            old = store.previous_run_report(before=new.started_at)
        if old is None:
            when = f" before {new.started_at}" if new.started_at else ""
            raise InputError(f"{settings.history_path}: no run recorded{when} to compare {since_last} with")
    else:
        old, new = load_report(args.old), load_report(args.new)
    diff = diff_reports(old, new)
    text = render_json(diff) if getattr(args, "format", "markdown") == "json" else render_markdown(diff)
    sys.stdout.write(text)
    return 1 if diff.newly_broken else 0
