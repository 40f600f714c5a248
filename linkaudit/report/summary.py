"""Report stage, shared counting: ``Report`` -> ``Summary`` (counts per status, kind and kind×status).

Every renderer (JSON, markdown, JUnit, table, GitHub) shows the same numbers,
so they are computed once here.  Also holds the small, pure helpers the
renderers share: results sorted by key, history looked up by key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..model import CheckResult, CodeClaim, HistoryEntry, Kind, LinkKey, Paper, Report, Status

INCONCLUSIVE = frozenset({Status.BLOCKED, Status.ERROR})
"""Statuses that are never evidence a link is dead (bot walls, timeouts)."""

WORKING = frozenset({Status.OK, Status.REDIRECTED})
"""Statuses of a link that resolves."""


@dataclass(frozen=True, slots=True)
class Summary:
    """The counts a report opens with."""

    total: int
    """Unique links checked (one per key)."""
    by_status: Mapping[str, int]
    """Every status, zero included, in ``Status`` order."""
    by_kind: Mapping[str, int]
    """Every kind, zero included, in ``Kind`` order."""
    by_kind_status: Mapping[str, Mapping[str, int]]
    """For each kind with at least one link: every status, zero included."""
    definitive_failures: int
    """Results that are ``broken`` (always definitive): what a maintainer must fix."""
    inconclusive: int
    """Results that are ``blocked`` or ``error``: could not be decided this run."""
    citations: int
    """Places (paper, line) that cite the links, summed over results."""


def summarize(report: Report) -> Summary:
    """Count ``report.results`` per status, per kind and per kind×status."""
    by_status = {s.value: 0 for s in Status}
    by_kind = {k.value: 0 for k in Kind}
    by_kind_status: dict[str, dict[str, int]] = {}
    failures = inconclusive = citations = 0
    for result in report.results:
        by_status[result.status.value] += 1
        by_kind[result.kind.value] += 1
        row = by_kind_status.setdefault(result.kind.value, {s.value: 0 for s in Status})
        row[result.status.value] += 1
        citations += len(result.papers)
        if result.status is Status.BROKEN:
            failures += 1
        elif result.status in INCONCLUSIVE:
            inconclusive += 1
    ordered_kinds: dict[str, Mapping[str, int]] = {k.value: by_kind_status[k.value] for k in Kind if k.value in by_kind_status}
    return Summary(
        total=len(report.results),
        by_status=by_status,
        by_kind=by_kind,
        by_kind_status=ordered_kinds,
        definitive_failures=failures,
        inconclusive=inconclusive,
        citations=citations,
    )


def sorted_results(report: Report) -> tuple[CheckResult, ...]:
    """The results in key order (then URL, for the impossible duplicate key): the order every format uses."""
    return tuple(sorted(report.results, key=lambda r: (r.key, r.url)))


def history_by_key(report: Report) -> dict[LinkKey, HistoryEntry]:
    """``report.history`` as a mapping from link key to its entry."""
    return {entry.key: entry for entry in report.history}


def papers_without_code_links(report: Report) -> tuple[Paper, ...]:
    """Papers that say code is available but give no link, in (path, line, id) order."""
    claimed = (p for p in report.papers if p.code is CodeClaim.CLAIMED_NO_LINK)
    return tuple(sorted(claimed, key=lambda p: (p.source.path, p.source.line, p.id)))


def run_label(entry: HistoryEntry | None) -> str:
    """How long a link has been broken, e.g. ``broken for 3 runs, since 2026-11-20``; ``new`` without history."""
    if entry is None or entry.consecutive_failures < 1:
        return "new"
    runs = entry.consecutive_failures
    text = f"broken for {runs} run{'s' if runs != 1 else ''}"
    if entry.first_failed:
        text += f", since {entry.first_failed[:10]}"
    return text
