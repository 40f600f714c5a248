"""Helpers for the checker's integration tests: settings aimed at the simulated web, links, a runner."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from testweb import FakeCrossref, FakeDoi, FakeGitHub, Server

from linkaudit.check import check_links
from linkaudit.classify import classify_url
from linkaudit.config import DoiSettings, GitHubSettings, HostSettings, RetrySettings, Settings
from linkaudit.model import CheckResult, Kind, Link, LinkKey, Paper, SourceRef

T = TypeVar("T")

FAST_RETRY = RetrySettings(
    attempts=3, initial_wait=0.0, max_wait=0.0, jitter=0.0, max_retry_after=5.0, total_time=30.0
)


@dataclass
class GitHubWeb:
    """The fake GitHub: its state, its API server and its github.com server."""

    state: FakeGitHub
    api: Server
    web: Server


@dataclass
class DoiWeb:
    """The fake doi.org handle API and Crossref."""

    doi: FakeDoi
    crossref: FakeCrossref
    doi_server: Server
    crossref_server: Server


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(
    *,
    github: GitHubWeb | None = None,
    doi: DoiWeb | None = None,
    hosts: Sequence[HostSettings] = (),
    retry: RetrySettings = FAST_RETRY,
    **overrides: object,
) -> Settings:
    """Settings pointing the API bases at the simulated web, private hosts allowed, zero retry waits."""
    dead = f"http://127.0.0.1:{closed_port()}"
    gh = (
        GitHubSettings(api=github.api.url, graphql=f"{github.api.url}/graphql", web=github.web.url)
        if github
        else GitHubSettings(api=dead, graphql=f"{dead}/graphql", web=dead)
    )
    dois = (
        DoiSettings(api=doi.doi_server.url, crossref_api=doi.crossref_server.url)
        if doi
        else DoiSettings(api=dead, crossref_api=dead)
    )
    values: dict[str, object] = {
        "allow_private_hosts": True,
        "timeout": 3.0,
        "connect_timeout": 2.0,
        "retry": retry,
        "github": gh,
        "doi": dois,
        "hosts": tuple(hosts),
        "http2": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def make_link(
    url: str,
    *,
    kind: Kind | None = None,
    key: str | None = None,
    paper: str | None = "1",
    path: str = "catalog.md",
    line: int = 1,
    suggestions: Sequence[str] = (),
) -> Link:
    """A ``Link`` as the extractor would build it (kind and key from ``classify_url`` unless given)."""
    found_kind, found_key = classify_url(url)
    return Link(
        url=url,
        original=url,
        kind=kind or found_kind,
        key=LinkKey(key) if key else found_key,
        paper_id=paper,
        source=SourceRef(path, line),
        suggestions=tuple(suggestions),
    )


def run_check(links: Sequence[Link], settings: Settings, **kwargs: object) -> dict[str, CheckResult]:
    """Run ``check_links`` in a fresh event loop; results by URL of the first link per key."""
    results = run_async(check_links(links, settings, **kwargs))  # type: ignore[arg-type]
    return {r.url: r for r in results}


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Like ``asyncio.run``, but without waiting for resolver threads stuck on an unreachable DNS server.

    An offline machine's ``getaddrinfo`` calls can hang for seconds in the
    default executor; ``asyncio.run`` joins them, ``loop.close`` does not.
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def paper(pid: str, title: str, path: str = "catalog.md") -> Paper:
    """A citing paper with a title."""
    return Paper(id=pid, title=title, authors=(), venue=None, doi=None, source=SourceRef(path, 1))
