"""Check stage: classified links -> one ``CheckResult`` per unique link key.

Input: ``Link`` values (from the extractor) and ``Settings``.  Output:
``tuple[CheckResult, ...]`` sorted by key, each citing every paper that links
there.  This module deduplicates, skips what the settings exclude, opens the
run's single ``httpx.AsyncClient`` and hands each link to the checker of its
kind through the scheduler:

    CHECKERS  doi -> DoiChecker (handle API)     github -> GitHubChecker (GraphQL/REST, web fallback)
              shortlink -> ShortlinkChecker      everything else -> WebChecker (HEAD/GET walk)

Broken links with suggestions get their candidates checked ("did you mean").
Raises ``NetworkUnavailable`` when nothing at all could be reached; a host
name that does not resolve is ``broken`` only when something else answered.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from ..classify import classify_url
from ..config import Settings
from ..errors import ConfigError, NetworkUnavailable
from ..model import CheckResult, Kind, Link, LinkKey, Paper, Status, cited_result, link_citations
from ..progress import NullProgress, Progress
from ..suggest import hyphen_variants
from .doi import DoiChecker, batchable, doi_of_link
from .fetch import Checker, Fetcher
from .github import EtagCache, GitHubChecker
from .hosts import HostGates, NetworkState, host_key, split_origin_lenient
from .http import WebChecker
from .repo import RepoRef, parse_repo
from .schedule import Job, Scheduler
from .shortlink import ShortlinkChecker
from .ssrf import is_private_literal
from .transport import HostRouter
from .verdict import REASON_TEXT, Reason, verdict_for_reason

__all__ = ["BROWSER_ACCEPT", "check_links", "new_event_loop"]

logger = logging.getLogger("linkaudit.check")

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
"""What a browser asks for; some servers answer 406 or a bot wall to a bare ``*/*``."""

MAX_CANDIDATES = 24
"""Suggestions checked per link, at most."""

EXISTS = (Status.OK, Status.REDIRECTED)


def new_event_loop(choice: str = "auto") -> asyncio.AbstractEventLoop:
    """The event loop a run uses: uvloop when ``choice`` allows and it is installed (``fast`` extra), else asyncio's.

    Measured on the bench (bench/README.md), uvloop saves nothing measurable
    since the checker's network backend talks to asyncio protocols directly;
    the choice stays for machines where it does.  ``event_loop: uvloop``
    without it installed is a configuration error.
    """
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise ConfigError(
                    "event_loop: uvloop is not installed (pip install 'linkaudit[fast]')"
                ) from None
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


async def check_links(
    links: Sequence[Link],
    settings: Settings,
    *,
    progress: Progress | None = None,
    papers: Sequence[Paper] = (),
    etags: EtagCache | None = None,
) -> tuple[CheckResult, ...]:
    """Check every unique link key once; results sorted by key.

    ``papers`` (optional) gives the citing papers' titles, for ``Citation.title``
    and the Crossref title comparison.  ``progress`` hears ``start`` with the
    number of unique keys, ``advance`` per result and ``finish`` at the end
    (also after an error or an interruption).  ``etags`` (the history store)
    lets GitHub REST lookups be conditional: an unchanged repository costs a
    304 instead of rate-limit budget.
    """
    progress = progress or NullProgress()
    groups: dict[LinkKey, list[Link]] = {}
    for link in links:
        groups.setdefault(link.key, []).append(link)
    progress.start(len(groups))
    try:
        run = _Run(settings, progress, groups, papers, etags)
        results = await run.execute()
    finally:
        progress.finish()
    return tuple(sorted(results, key=lambda r: r.key))


_clock: list[tuple[int, str]] = [(0, "")]


def _now_iso() -> str:
    """The current UTC time, ISO-8601 to the second (formatted once per second: it is stamped on every result)."""
    second = int(time.time())
    cached = _clock[0]
    if cached[0] != second:
        cached = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        _clock[0] = cached
    return cached[1]


class _Run:
    """One checking run: the client, the checkers, the scheduler and the results so far."""

    def __init__(
        self,
        settings: Settings,
        progress: Progress,
        groups: dict[LinkKey, list[Link]],
        papers: Sequence[Paper],
        etags: EtagCache | None = None,
    ) -> None:
        self.etags = etags
        self.settings = settings
        self.progress = progress
        self.groups = groups
        self.titles = {(p.source.path, p.id): p.title for p in papers}
        self.results: dict[LinkKey, CheckResult] = {}
        self.held: list[tuple[Link, CheckResult, float]] = []
        self.network = NetworkState()
        self.excludes = [re.compile(p) for p in settings.exclude]
        self.includes = [re.compile(p) for p in settings.include]
        self.owners = sorted(
            {
                ref.owner
                for ls in groups.values()
                if (ref := _repo(ls[0])) is not None and ref.name is not None
            }
        )

    def _title_for(self, link: Link) -> str | None:
        return self.titles.get((link.source.path, link.paper_id or ""))

    async def execute(self) -> list[CheckResult]:
        """Check everything; raise ``NetworkUnavailable`` when nothing could be reached."""
        settings = self.settings
        gates = HostGates(settings)
        router = HostRouter(settings)
        headers = {
            "User-Agent": settings.user_agent,
            "Accept": BROWSER_ACCEPT,
            "Accept-Language": "en;q=0.9, *;q=0.5",
        }
        router.base_headers(headers)
        timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
        async with httpx.AsyncClient(
            transport=router, trust_env=True, headers=headers, timeout=timeout, follow_redirects=False
        ) as client:
            fetcher = Fetcher(
                client=client, router=router, settings=settings, gates=gates, network=self.network
            )
            self.web = WebChecker(fetcher, settings, self.network)
            self.github = GitHubChecker(fetcher, self.web, settings, self.network, self.etags)
            self.checkers: dict[Kind, Checker] = {kind: self.web for kind in Kind}
            self.checkers[Kind.GITHUB] = self.github
            self.doi = DoiChecker(fetcher, settings, title_for=self._title_for)
            self.checkers[Kind.DOI] = self.doi
            self.checkers[Kind.SHORTLINK] = ShortlinkChecker(
                fetcher, self.web, settings, self.network, dispatch=self._dispatch
            )
            self.scheduler = Scheduler(
                concurrency=settings.concurrency,
                limit=lambda h: gates.get(h).limit,
                interval=lambda h: gates.get(h).min_interval,
                ready_at=lambda h: gates.get(h).ready_at(),
            )
            self._plan()
            await self.scheduler.run()
        if self.network.is_down():
            raise NetworkUnavailable(self.network.summary())
        for link, result, started in self.held:
            if self.network.proven:
                verdict = verdict_for_reason(Reason.DNS, network_up=True)
                result = replace(result, status=verdict.status, definitive=verdict.definitive)
            self._record(link, result, started)
        return list(self.results.values())

    # -- planning ----------------------------------------------------------------------------------

    def _skip_reason(self, link: Link) -> Reason | None:
        scheme, host, _ = split_origin_lenient(link.url)  # a port out of range is the request's to report
        if scheme not in ("http", "https") or not host:
            return Reason.UNSUPPORTED_SCHEME
        if self.excludes and any(p.search(link.url) for p in self.excludes):
            return Reason.EXCLUDED
        if self.includes and not any(p.search(link.url) for p in self.includes):
            return Reason.NOT_INCLUDED
        if not self.settings.allow_private_hosts and is_private_literal(host):
            return Reason.PRIVATE_ADDRESS
        return None

    def _host_for(self, link: Link) -> str:
        if link.kind is Kind.DOI:
            return host_key(self.settings.doi.api)
        if link.kind is Kind.GITHUB:
            ref = _repo(link)
            if ref is not None and ref.name is not None:
                return self.github.graphql_host if self.github.has_token else self.github.api_host
            return self.github.web_host
        return host_key(link.url)

    def _plan(self) -> None:
        """Queue one job per unique key under the host it talks to (GitHub repositories in GraphQL batches)."""
        batch: list[Link] = []
        prefetch: list[RepoRef] = []
        dois: list[tuple[Link, str]] = []  # (link, its DOI): asked of Crossref first, doi_batch at a time
        doi_batch = self.settings.doi.crossref_batch
        started = time.monotonic()  # a skipped link's elapsed time: planning takes microseconds per link
        for links in self.groups.values():
            link = links[0]
            try:
                reason = self._skip_reason(link)
            except ValueError:
                reason = Reason.INVALID_URL
            if reason is not None:
                verdict = verdict_for_reason(reason)
                detail = REASON_TEXT[reason]
                result = CheckResult(
                    key=link.key,
                    url=link.url,
                    kind=link.kind,
                    status=verdict.status,
                    definitive=verdict.definitive,
                    detail=detail,
                )
                self._record(link, result, started)
                continue
            if doi_batch and link.kind is Kind.DOI and (doi := doi_of_link(link)) is not None and batchable(doi):
                dois.append((link, doi))
                continue
            ref = _repo(link) if link.kind is Kind.GITHUB else None
            if ref is not None and ref.name is not None and self.github.has_token:
                batch.append(link)
                continue
            if ref is not None and ref.name is None and self.settings.check_suggestions:
                # an owner-only link's candidates are always checked: ask about them with the first batch
                prefetch.extend(r for url in link.suggestions if (r := _repo_of_url(url)) and r.name)
            self.scheduler.submit(self._host_for(link), self._job(link))
        size = self.settings.github.batch_size
        if prefetch and self.github.has_token and not batch:
            self.scheduler.submit(self.github.graphql_host, self._batch_job([], prefetch))
        for i in range(0, len(batch), size):
            extra = prefetch if i == 0 and self.github.has_token else []
            self.scheduler.submit(self.github.graphql_host, self._batch_job(batch[i : i + size], extra))
        crossref_host = host_key(self.settings.doi.crossref_api)
        for i in range(0, len(dois), doi_batch or 1):
            self.scheduler.submit(crossref_host, self._doi_batch_job(dois[i : i + doi_batch]))

    # -- jobs --------------------------------------------------------------------------------------

    async def _dispatch(self, link: Link) -> CheckResult:
        return await self.checkers[link.kind].check(link)

    def _job(self, link: Link, started: float | None = None) -> Job:
        async def job() -> None:
            t0 = time.monotonic() if started is None else started
            try:
                result = await self._dispatch(link)
            except NetworkUnavailable:
                raise
            except Exception as exc:  # a bug must not lose the whole run
                logger.exception("internal error while checking %s", link.url)
                result = _internal_error(link, exc)
            self._complete(link, result, t0)

        return job

    def _batch_job(self, links: list[Link], prefetch: Sequence[RepoRef] = ()) -> Job:
        async def job() -> None:
            t0 = time.monotonic()
            refs = [_repo(link) for link in links]
            try:
                answers = await self.github.lookup([*(r for r in refs if r is not None), *prefetch])
            except NetworkUnavailable:
                raise
            except Exception as exc:
                logger.exception("internal error while checking a batch of GitHub repositories")
                for link in links:
                    self._complete(link, _internal_error(link, exc), t0)
                return
            for link, ref in zip(links, refs, strict=True):
                assert ref is not None
                answer = answers[ref.lookup]
                if ref.rest and answer.exists and self.settings.github.check_paths:
                    self.scheduler.submit(self.github.web_host, self._job(link, t0))
                    continue
                self._complete(link, await self.github.finish(link, ref, answer), t0)

        return job

    def _doi_batch_job(self, batch: list[tuple[Link, str]]) -> Job:
        """Ask Crossref about these (link, DOI) in one query; those it does not list are asked at doi.org one by one."""

        async def job() -> None:
            t0 = time.monotonic()
            try:
                works, attempts = await self.doi.lookup_batch([doi for _, doi in batch])
            except NetworkUnavailable:
                raise
            except Exception:
                logger.exception("internal error while asking Crossref about a batch of DOIs")
                works, attempts = None, 0
            for link, doi in batch:
                work = works.get(doi.lower()) if works is not None else None
                if work is None:  # not listed (another agency, or none) or the query failed: doi.org decides
                    self.scheduler.submit(self._host_for(link), self._job(link, t0))
                else:
                    self._complete(link, self.doi.from_crossref(link, work, attempts), t0)

        return job

    def _candidates(self, link: Link, result: CheckResult) -> tuple[str, ...]:
        if not self.settings.check_suggestions or result.status is Status.SKIPPED:
            return ()
        ref = _repo(link) if link.kind is Kind.GITHUB else None
        owner_only = ref is not None and ref.name is None
        if result.status is not Status.BROKEN and not owner_only:
            return ()
        candidates = list(link.suggestions)
        if ref is not None and ref.name is not None and result.repo is None:
            parts = urlsplit(link.url)
            for owner in hyphen_variants(ref.owner, self.owners):
                candidates.append(f"{parts.scheme}://{parts.netloc}/{owner}/{ref.name}")
        return tuple(dict.fromkeys(c for c in candidates if c != link.url))[:MAX_CANDIDATES]

    def _complete(self, link: Link, result: CheckResult, started: float) -> None:
        candidates = self._candidates(link, result)
        if not candidates:
            self._emit(link, result, started)
            return

        async def job() -> None:
            try:
                found = await self._existing(link, candidates)
            except NetworkUnavailable:
                raise
            except Exception:
                logger.exception("internal error while checking suggestions for %s", link.url)
                found = ()
            self._emit(link, replace(result, suggestions=found), started)

        first = _repo_of_url(candidates[0])
        host = (
            (self.github.graphql_host if self.github.has_token else self.github.api_host)
            if first is not None and first.name is not None
            else host_key(candidates[0])
        )
        self.scheduler.submit(host, job)

    async def _existing(self, link: Link, candidates: tuple[str, ...]) -> tuple[str, ...]:
        """The candidates that exist: GitHub repositories in one lookup, the rest by their own checker."""
        repos: dict[str, RepoRef] = {}
        others: list[Link] = []
        for url in candidates:
            try:
                kind, key = classify_url(url)
                skip = self._skip_reason(replace(link, url=url, key=key, kind=kind, suggestions=()))
            except ValueError:  # a malformed candidate cannot exist
                continue
            ref = parse_repo(url) if kind is Kind.GITHUB else None
            if ref is not None and ref.name is not None:
                repos[url] = ref
            elif skip is None:
                others.append(
                    Link(
                        url=url, original=url, kind=kind, key=key, paper_id=link.paper_id, source=link.source
                    )
                )
        exists: set[str] = set()
        lookups = self.github.lookup(repos.values()) if repos else None
        checks = asyncio.gather(*(self._dispatch(c) for c in others))
        answers = await lookups if lookups is not None else {}
        exists.update(url for url, ref in repos.items() if answers[ref.lookup].exists)
        exists.update(c.url for c, r in zip(others, await checks, strict=True) if r.status in EXISTS)
        return tuple(url for url in candidates if url in exists)

    # -- results -----------------------------------------------------------------------------------

    def _emit(self, link: Link, result: CheckResult, started: float) -> None:
        if link.key in self.network.dns_pending:
            if not self.network.proven:
                self.held.append((link, result, started))
                return
            verdict = verdict_for_reason(Reason.DNS, network_up=True)
            result = replace(result, status=verdict.status, definitive=verdict.definitive)
        self._record(link, result, started)

    def _record(self, link: Link, result: CheckResult, started: float) -> None:
        papers = link_citations(self.groups.get(link.key, [link]), self.titles)
        final = cited_result(
            result,
            key=link.key,
            url=link.url,
            kind=link.kind,
            papers=papers,
            original=link.original,
            repairs=link.repairs,
            confidence=link.confidence,
            checked_at=_now_iso(),
            elapsed_ms=int((time.monotonic() - started) * 1000),
            from_cache=result.from_cache,
        )
        self.results[link.key] = final
        self.progress.advance(final)


def _repo(link: Link) -> RepoRef | None:
    return parse_repo(link.url) if link.kind is Kind.GITHUB else None


def _repo_of_url(url: str) -> RepoRef | None:
    try:
        kind, _ = classify_url(url)
    except ValueError:
        return None
    return parse_repo(url) if kind is Kind.GITHUB else None


def _internal_error(link: Link, exc: Exception) -> CheckResult:
    return CheckResult(
        key=link.key,
        url=link.url,
        kind=link.kind,
        status=Status.ERROR,
        definitive=False,
        detail=f"internal error ({type(exc).__name__}); please report it",
    )
