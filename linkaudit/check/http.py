"""Generic web check: a link -> ``CheckResult`` from a HEAD/GET walk of its redirect chain.

Stage: check.  Input: ``Link`` (web pages, project pages, GitLab, Gitee,
Hugging Face, and anything without a dedicated API).  Output: ``CheckResult``
with the status, the final HTTP code, the redirect chain and the attempts.
The meaning of every answer comes from ``verdict``; this module only gathers
the evidence and words the detail.
"""

from __future__ import annotations

import functools
from http import HTTPStatus

from ..config import Settings
from ..model import CheckResult, Link, Status
from .fetch import Fetcher, Walk
from .hosts import NetworkState, host_key, host_name
from .verdict import (
    REDIRECTED,
    Reason,
    Verdict,
    verdict_for_reason,
    verdict_for_redirects,
    verdict_for_status,
)


@functools.lru_cache(maxsize=256)
def status_text(code: int) -> str:
    """``HTTP 404 Not Found``; nonstandard codes without a phrase (one shared string per code)."""
    try:
        return f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def describe_answer(
    verdict: Verdict, code: int, *, attempts: int, retry_after: float | None, max_wait: float
) -> str:
    """The human detail for a final HTTP answer."""
    text = status_text(code)
    if verdict.status is Status.BLOCKED:
        if retry_after is not None and retry_after > max_wait:
            return f"{text}: rate limited; the server asked to wait {retry_after:.0f} s (more than {max_wait:g} s)"
        if code == 429:
            return f"{text}: rate limited after {attempts} attempts (inconclusive)"
        return f"{text}: refused to an automated client (bot wall or login; inconclusive)"
    if verdict.status is Status.ERROR and attempts > 1:
        return f"{text} after {attempts} attempts"
    return text


class WebChecker:
    """Checks a link by walking its redirect chain with HEAD (GET when HEAD is refused)."""

    def __init__(self, fetcher: Fetcher, settings: Settings, network: NetworkState) -> None:
        self._fetcher = fetcher
        self._settings = settings
        self._network = network

    async def check(self, link: Link) -> CheckResult:
        """The verdict on ``link``'s own URL."""
        return self.judge(link, await self._fetcher.walk(link.url))

    async def check_url(self, link: Link, url: str, *, guard: bool) -> CheckResult:
        """The verdict on ``url`` standing in for ``link`` (e.g. the API-less web page of a repository)."""
        return self.judge(link, await self._fetcher.walk(url, guard=guard), origin=url, own_host=guard)

    def judge(
        self, link: Link, walk: Walk, *, origin: str | None = None, own_host: bool = True
    ) -> CheckResult:
        """Turn a walk into a ``CheckResult`` for ``link``.

        ``own_host`` is False when the walk went to a configured endpoint
        standing in for the link (GitHub's web): a name that does not resolve
        there says nothing about the link.
        """
        redirects = tuple(target for _, target in walk.hops)
        code: int | None
        if walk.failure is not None:
            reason = walk.failure.reason
            verdict = verdict_for_reason(reason, network_up=self._network.proven and own_host)
            if reason is Reason.DNS and own_host and not self._network.proven:
                self._network.dns_pending.add(link.key)
            code = walk.reply.status if walk.reply is not None else None
            detail = walk.failure.detail
        else:
            assert walk.reply is not None
            reply = walk.reply
            code = reply.status
            final_host = host_name(host_key(reply.url))
            verdict = verdict_for_status(reply.status, accepted=self._settings.accepted_statuses(final_host))
            if verdict.definitive and verdict.status is Status.OK and walk.hops:
                verdict = verdict_for_redirects(origin or link.url, walk.hops)
            if verdict is REDIRECTED:
                detail = f"moved permanently to {walk.final_url}"
            else:
                detail = describe_answer(
                    verdict,
                    reply.status,
                    attempts=reply.attempts,
                    retry_after=reply.retry_after,
                    max_wait=self._settings.retry.max_retry_after,
                )
        return CheckResult(
            key=link.key,
            url=link.url,
            kind=link.kind,
            status=verdict.status,
            definitive=verdict.definitive,
            http_status=code,
            final_url=walk.final_url,
            redirects=redirects,
            attempts=walk.attempts,
            detail=detail,
        )
