"""Shortlink check: resolve a shortlink (git.io, bit.ly...), then check its target as its own kind.

Stage: check.  Input: ``Link`` of kind ``shortlink``.  Output: ``CheckResult``
for the shortlink's key, carrying the target's verdict: a git.io link to a
renamed repository is ``redirected`` because the repository moved, a bit.ly
link to a DOI is checked at the handle API.  A shortlink that answers 404 is
``broken``; one that answers 200 without redirecting is judged as a page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from urllib.parse import urljoin

from ..classify import classify_url
from ..config import Settings
from ..model import CheckResult, Kind, Link, LinkKey
from .fetch import HEAD_REFUSED, Failed, Fetcher, Walk
from .hosts import NetworkState
from .http import WebChecker
from .verdict import REASON_TEXT, REDIRECT_CODES, Reason


class ShortlinkChecker:
    """Resolves shortlinks hop by hop while they stay on shortlink hosts, then dispatches the target."""

    def __init__(
        self,
        fetcher: Fetcher,
        web: WebChecker,
        settings: Settings,
        network: NetworkState,
        *,
        dispatch: Callable[[Link], Awaitable[CheckResult]],
    ) -> None:
        self._fetcher = fetcher
        self._web = web
        self._settings = settings
        self._network = network
        self._dispatch = dispatch

    async def check(self, link: Link) -> CheckResult:
        """The verdict on the shortlink's target, reported under the shortlink's key."""
        current = link.url
        hops: list[tuple[int, str]] = []
        attempts = 0
        for _ in range(self._settings.max_redirects + 1):
            try:
                reply = await self._fetcher.request("HEAD", current)
                attempts += reply.attempts
                if reply.status in HEAD_REFUSED:
                    reply = await self._fetcher.request("GET", current, guard=False)
                    attempts += reply.attempts
            except Failed as failure:
                return self._web.judge(link, Walk(None, failure, tuple(hops), attempts + failure.attempts))
            location = reply.headers.get("location")
            if reply.status not in REDIRECT_CODES or not location:
                return self._web.judge(link, Walk(reply, None, tuple(hops), attempts))
            target = urljoin(current, location.strip())
            hops.append((reply.status, target))
            try:
                kind, key = classify_url(target)
            except ValueError:  # a malformed target: let the web check say what it is
                kind, key = Kind.WEB, LinkKey(f"web:{target}")
            if kind is not Kind.SHORTLINK:
                break
            current = target
        else:
            too_many = Failed(Reason.TOO_MANY_REDIRECTS, REASON_TEXT[Reason.TOO_MANY_REDIRECTS])
            return self._web.judge(link, Walk(None, too_many, tuple(hops), attempts))
        target_link = Link(
            url=target,
            original=link.original,
            kind=kind,
            key=key,
            paper_id=link.paper_id,
            source=link.source,
        )
        result = await self._dispatch(target_link)
        if target_link.key in self._network.dns_pending:
            self._network.dns_pending.add(link.key)
        return replace(
            result,
            key=link.key,
            url=link.url,
            kind=link.kind,
            redirects=(*(t for _, t in hops), *result.redirects),
            final_url=result.final_url or target,
            attempts=attempts + result.attempts,
            detail=f"resolves to {target}: {result.detail}",
        )
