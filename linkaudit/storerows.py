"""The rows of the history database as Python values: times, a verified result's cached projection, a run's step.

Pure functions used by ``store`` (which owns the database itself): times are
normalised to ``YYYY-MM-DDTHH:MM:SSZ`` UTC; a verified result is stored as a
small JSON projection (``projection``) and served from the cache as a
``CheckResult`` again (``from_projection``) until it is due (``due_age``,
``spread_due``); ``advance`` applies one run's verdict to a link's history by
the rules in ``store``'s docstring.
"""

from __future__ import annotations

import functools
import json
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .model import CheckResult, DoiInfo, HistoryEntry, Kind, LinkKey, RepoInfo, Status
from .records import fast_init


def utc_iso(value: datetime | str | float | None = None) -> str:
    """A time as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC); a naive datetime or string is taken as UTC; None is now."""
    return to_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_datetime(value: datetime | str | float | None) -> datetime:
    """A time as an aware UTC datetime: a datetime, an ISO string (naive = UTC), epoch seconds, or None (now)."""
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@functools.lru_cache(maxsize=8192)
def normalise(value: str) -> tuple[str, float] | None:
    """An ISO time as (``YYYY-MM-DDTHH:MM:SSZ``, epoch seconds); None when unreadable.

    Cached: the results of one run share a few thousand distinct seconds at most.
    """
    try:
        moment = to_datetime(value)
    except ValueError:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ"), moment.timestamp()


def time_or(value: str | None, fallback: str) -> tuple[str, float]:
    """``value`` normalised (text and epoch), or ``fallback`` when it is missing or unreadable."""
    parsed = normalise(value) if value else None
    if parsed is None:
        parsed = normalise(fallback)
        assert parsed is not None  # the run time was validated by record_run
    return parsed


@fast_init
@dataclass(frozen=True, slots=True)
class LinkRow:
    """A link's history as its row holds it, before a run's verdict is applied (``advance``)."""

    first_seen: str
    last_ok: str | None
    consecutive_failures: int
    first_failed: str | None


ENCODE_SORTED = json.JSONEncoder(sort_keys=True).encode
"""``json.dumps(value, sort_keys=True)``, without building an encoder per call."""

_STR = json.encoder.encode_basestring_ascii  # the C encoder json.dumps uses for strings (ensure_ascii)


def _value(value: object) -> str:
    """A JSON value as ``ENCODE_SORTED`` writes it, for the scalars of a projection."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is str:
        return _STR(value)
    if type(value) is int:
        return int.__repr__(value)
    return ENCODE_SORTED(value)


def projection(result: CheckResult) -> str:
    """The part of a verified result the cache serves again (JSON, sorted keys), without what its row holds.

    The URL is the row's own (``links.url``), and fields at their defaults (no redirects, no detail, no
    repository or DOI facts) are left out: ~50 bytes for a plain page instead of ~190.  Rows written
    before (schema 1) carry every field and the URL; ``from_projection`` reads both.  Written field by
    field, byte for byte what ``ENCODE_SORTED`` makes of the same dict (a test holds them equal), at a
    fifth of its cost: a night's verified links each get one.
    """
    parts = []
    if result.checked_at is not None:
        parts.append('"checked_at": ' + _value(result.checked_at))
    if result.detail:
        parts.append('"detail": ' + _value(result.detail))
    doi = result.doi
    if doi is not None:
        parts.append(f'"doi": {{"registered": {_value(doi.registered)}, "target": {_value(doi.target)}, '
                     f'"title": {_value(doi.title)}, "title_matches": {_value(doi.title_matches)}}}')
    if result.final_url is not None:
        parts.append('"final_url": ' + _value(result.final_url))
    if result.http_status is not None:
        parts.append('"http_status": ' + _value(result.http_status))
    if result.redirects:
        parts.append('"redirects": [' + ", ".join(map(_value, result.redirects)) + "]")
    repo = result.repo
    if repo is not None:
        parts.append(f'"repo": {{"archived": {_value(repo.archived)}, "disabled": {_value(repo.disabled)}, '
                     f'"empty": {_value(repo.empty)}, "pushed_at": {_value(repo.pushed_at)}, '
                     f'"renamed_to": {_value(repo.renamed_to)}, "stars": {_value(repo.stars)}}}')
    return "{" + ", ".join(parts) + "}"


def from_projection(key: str, kind: str, data: Mapping[str, Any], *, url: str) -> CheckResult:
    """The cached ``CheckResult`` of a row's ``projection``; ``url`` is the row's (schema 1 rows hold their own)."""
    repo = data.get("repo")
    doi = data.get("doi")
    return CheckResult(
        key=LinkKey(key),
        url=data.get("url") or url,
        kind=Kind(kind),
        status=Status.OK,
        definitive=True,
        http_status=data.get("http_status"),
        final_url=data.get("final_url"),
        redirects=tuple(data.get("redirects") or ()),
        attempts=0,
        detail=data.get("detail") or "",
        repo=RepoInfo(**repo) if repo else None,
        doi=DoiInfo(**doi) if doi else None,
        checked_at=data.get("checked_at"),
        from_cache=True,
    )


def advance(prev: LinkRow | None, result: CheckResult, *, key: str, run_time: str, when: str) -> HistoryEntry:
    """Apply one run's verdict to a link's history (see the module docstring for the rules)."""
    first_seen = prev.first_seen if prev else run_time
    last_ok = prev.last_ok if prev else None
    failures = prev.consecutive_failures if prev else 0
    first_failed = prev.first_failed if prev else None
    if result.status is Status.BROKEN:
        first_failed = first_failed if failures > 0 and first_failed else when
        failures += 1
    elif result.status in (Status.OK, Status.REDIRECTED):
        failures, first_failed = 0, None
        last_ok = max(last_ok, when) if last_ok else when
    return HistoryEntry(LinkKey(key), first_seen=first_seen, last_ok=last_ok, consecutive_failures=failures,
                        first_failed=first_failed)


SCHEDULE_ALLOWANCE = 3600.0
"""At most this much of the TTL is given up to a scheduler's jitter (``due_age``)."""


def due_age(ttl: float) -> float:
    """The age from which a cached ``ok`` is checked again: ``ttl`` less 1/24 of it, at most an hour.

    A scheduled job runs about one period after the run that verified its links, early or late by
    the scheduler's delay (GitHub's cron often starts minutes to an hour late) and by when in that
    run each link was checked.  With the age compared to the TTL itself, a daily job under the
    default 24 h TTL would re-check whichever links happened to be a minute older than a day and
    serve the rest, a different share each night; with the allowance it re-checks every link the
    previous night verified, and a re-run the same day is still served from the cache.
    """
    return ttl - min(SCHEDULE_ALLOWANCE, ttl / 24)


def spread_due(key: str, verified: float, ttl: float) -> float:
    """With ``cache_spread``: when a link verified ``ok`` at ``verified`` (epoch seconds) is due again.

    Each key has its own slot in every ``ttl``-long period, fixed by a hash of the key (the same on
    every machine and run): slots at ``offset + n * ttl`` with ``offset`` in ``[0, ttl)``.  A link is
    due at the first of its slots at least ``ttl / 2`` after it was verified, so a collection whose
    links were all verified by one run comes due spread over the following period (a daily job with a
    7-day TTL re-checks about a seventh each night, instead of everything every seventh night), and a
    link re-checked at its slot is due again one ``ttl`` later.  Its age when due is between ``ttl / 2``
    and ``1.5 * ttl``.
    """
    offset = zlib.crc32(key.encode("utf-8")) / 2**32 * ttl
    periods = math.ceil((verified + ttl / 2 - offset) / ttl)
    return offset + periods * ttl
