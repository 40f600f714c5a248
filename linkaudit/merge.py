"""Merge stage: shard ``Report``s (from ``audit --shard I/N``) -> one ``Report``; and the shard predicate.

``in_shard(key, index, total)`` picks a stable share of link keys: the first
8 bytes of SHA-1 of the key, modulo ``total``; ``index`` is 1-based.  It is
the same on every machine and Python version (unlike ``hash()``), so the
jobs of a CI matrix split the keys without overlap or gaps.

``merge_reports`` joins the results.  Shards do not overlap, but reports of
overlapping runs may be merged too: a key found in several reports keeps one
result, chosen deterministically (see ``_preference``), with the citations of
all of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from .model import CheckResult, Citation, HistoryEntry, LinkKey, Paper, Report, Status

_STATUS_RANK = {
    Status.BROKEN: 0,
    Status.REDIRECTED: 1,
    Status.OK: 2,
    Status.BLOCKED: 3,
    Status.ERROR: 4,
    Status.SKIPPED: 5,
}


def in_shard(key: str, index: int, total: int) -> bool:
    """True when ``key`` belongs to shard ``index`` of ``total`` (1-based); every key is in exactly one shard."""
    if total < 1 or not 1 <= index <= total:
        raise ValueError(f"shard must satisfy 1 <= index <= total, got {index}/{total}")
    digest = hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") % total == index - 1


def _preference(result: CheckResult) -> tuple[object, ...]:
    """Sort key, best first: a definitive verdict, then the most recent check, then the gravest status."""
    return (
        not result.definitive,
        result.from_cache,
        -_timestamp(result.checked_at),  # later checks first
        _STATUS_RANK[result.status],
        result.url,
        result.attempts,
        result.detail,
    )


def _timestamp(text: str | None) -> float:
    """Seconds since the epoch of an ISO 8601 time (UTC when naive); 0 when missing or unreadable."""
    if not text:
        return 0.0
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return 0.0
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


def _merge_citations(results: Sequence[CheckResult]) -> tuple[Citation, ...]:
    seen = {(c.path, c.line, c.paper or "", c.title or ""): c for r in results for c in r.papers}
    return tuple(seen[k] for k in sorted(seen))


def merge_reports(reports: Sequence[Report]) -> Report:
    """One report with every result of ``reports`` (one per key), their papers, sources and history.

    Run facts: ``started_at`` is the earliest, ``duration_s`` the longest
    (shards run side by side), ``interrupted`` if any shard was.
    """
    by_key: dict[LinkKey, list[CheckResult]] = {}
    for report in reports:
        for result in report.results:
            by_key.setdefault(result.key, []).append(result)
    results = []
    for key in sorted(by_key):
        candidates = sorted(by_key[key], key=_preference)
        results.append(replace(candidates[0], papers=_merge_citations(candidates)))

    history: dict[LinkKey, HistoryEntry] = {}
    for report in reports:
        for entry in report.history:
            old = history.get(entry.key)
            # the entry with the longer record wins; ties go to the later last_ok, then the text
            if old is None or _entry_rank(entry) > _entry_rank(old):
                history[entry.key] = entry

    papers: dict[tuple[str, int, str], Paper] = {}
    for report in reports:
        for paper in report.papers:
            papers.setdefault((paper.source.path, paper.source.line, paper.id), paper)

    starts = [r.started_at for r in reports if r.started_at]
    durations = [r.duration_s for r in reports if r.duration_s is not None]
    return Report(
        results=tuple(results),
        papers=tuple(papers[k] for k in sorted(papers)),
        sources=tuple(sorted({s for r in reports for s in r.sources})),
        started_at=min(starts) if starts else None,
        duration_s=max(durations) if durations else None,
        history=tuple(history[k] for k in sorted(history) if k in by_key),
        interrupted=any(r.interrupted for r in reports),
    )


def _entry_rank(entry: HistoryEntry) -> tuple[int, str, str, str]:
    return (entry.consecutive_failures, entry.last_ok or "", entry.first_seen or "", entry.first_failed or "")
