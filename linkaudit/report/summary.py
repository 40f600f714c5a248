"""Report stage, shared counting: ``Report`` -> ``Summary`` (counts per status, kind and kind×status).

Every renderer (JSON, markdown, JUnit, table, GitHub) shows the same numbers,
so they are computed once here.  Also holds the small, pure helpers the
renderers share: results sorted by key, history looked up by key.
"""

from __future__ import annotations

from collections import Counter
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
    pairs = Counter((result.kind, result.status) for result in report.results)
    by_status = {s.value: 0 for s in Status}
    by_kind = {k.value: 0 for k in Kind}
    by_kind_status: dict[str, Mapping[str, int]] = {}
    for kind in Kind:
        row = {s.value: pairs[(kind, s)] for s in Status}
        if any(row.values()):
            by_kind_status[kind.value] = row
            by_kind[kind.value] = sum(row.values())
            for status, n in row.items():
                by_status[status] += n
    return Summary(
        total=len(report.results),
        by_status=by_status,
        by_kind=by_kind,
        by_kind_status=by_kind_status,
        definitive_failures=by_status[Status.BROKEN.value],
        inconclusive=sum(by_status[s.value] for s in INCONCLUSIVE),
        citations=sum(len(result.papers) for result in report.results),
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
    """How long a link has been broken, e.g. ``broken for 3 runs, since 2026-11-20``; ``—`` without history."""
    if entry is None or entry.consecutive_failures < 1:
        return "—"
    runs = entry.consecutive_failures
    text = f"broken for {runs} run{'s' if runs != 1 else ''}"
    if entry.first_failed:
        text += f", since {entry.first_failed[:10]}"
    return text
