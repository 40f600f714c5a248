"""GitHub check: a repository link -> ``CheckResult`` with ``RepoInfo``, asking GitHub's API, not its pages.

Stage: check.  Input: ``Link`` of kind ``github`` (``github.com/owner/repo``,
maybe with ``/tree/...``/``/blob/...``; or an owner-only page).  Output:
``CheckResult``.

- With a token (``GITHUB_TOKEN``): GraphQL, up to ``github.batch_size`` (≤ 100)
  aliased ``repository(owner:, name:)`` fields per query.  A missing repository
  comes back as ``null`` plus a ``NOT_FOUND`` error; ``nameWithOwner`` shows a
  rename.  The token goes to the configured API host only.
- Without one: REST ``GET /repos/{owner}/{repo}`` (a rename answers 301 to
  ``/repositories/{id}``, followed); once the unauthenticated budget is spent
  (``x-ratelimit-remaining: 0``, a 403/429 rate limit), the github.com page
  itself: 404 missing or private, 301 renamed, 451 disabled.
- Paths inside a repository are checked on the web, after the repository.
- Owner-only links and GitHub site pages are web checks of the page.

Answers are cached per run by lower-cased ``owner/repo``, so a repository
cited by many papers or proposed as a suggestion is asked about once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol
from urllib.parse import urljoin, urlsplit

from ..config import Settings
from ..model import CheckResult, Link, RepoInfo, Status
from .fetch import Failed, Fetcher, Reply
from .hosts import NetworkState, host_key
from .http import WebChecker, status_text
from .repo import (
    RepoAnswer,
    RepoRef,
    as_bool,
    as_int,
    as_str,
    found_answer,
    inconclusive_answer,
    missing_answer,
    parse_repo,
)
from .verdict import (
    ERROR,
    REASON_TEXT,
    Reason,
    verdict_for_reason,
    verdict_for_status,
)

GRAPHQL_FIELDS = "nameWithOwner isArchived isDisabled isEmpty stargazerCount pushedAt"
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
MAX_API_REDIRECTS = 3


class EtagCache(Protocol):
    """Where REST answers are remembered between runs (the history store), for conditional requests."""

    def get_etag(self, url: str) -> tuple[str, str] | None:
        """The stored ``(etag, body)`` of ``url``, or None."""

    def put_etag(self, url: str, etag: str, body: str) -> None:
        """Remember ``url``'s ETag and body."""


class GitHubChecker:
    """Checks GitHub links through the API (GraphQL with a token, REST without), the web as a fallback."""

    def __init__(self, fetcher: Fetcher, web: WebChecker, settings: Settings, network: NetworkState,
                 etags: EtagCache | None = None) -> None:
        self._fetcher = fetcher
        self._etags = etags
        self._web = web
        self._settings = settings
        self._network = network
        self._token = settings.github_token()
        self._api = settings.github.api.rstrip("/")
        self._graphql = settings.github.graphql
        self._webbase = settings.github.web.rstrip("/")
        self._token_hosts = frozenset({host_key(self._api), host_key(self._graphql)})
        self._answers: dict[str, asyncio.Future[RepoAnswer]] = {}
        self._queue: list[RepoRef] = []
        self._flush: asyncio.Task[None] | None = None
        self._flushing: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones
        self.api_host = host_key(self._api)
        self.graphql_host = host_key(self._graphql)
        self.web_host = host_key(self._webbase)

    @property
    def has_token(self) -> bool:
        """Whether a token is set (GraphQL batches) or not (REST, then the web)."""
        return self._token is not None

    # -- the API, with the token only for the API hosts ------------------------------------------

    def _api_headers(self, url: str) -> Mapping[str, str]:
        """API headers; the token only when ``url`` is on a configured API host."""
        if self._token and host_key(url) in self._token_hosts:
            return {**API_HEADERS, "Authorization": f"Bearer {self._token}"}
        return API_HEADERS

    async def _lookup_graphql(self, refs: Sequence[RepoRef]) -> None:
        aliases = " ".join(
            f"r{i}: repository(owner: {json.dumps(ref.owner)}, name: {json.dumps(ref.name)}) {{ ...R }}"
            for i, ref in enumerate(refs)
        )
        query = f"query {{ {aliases} }} fragment R on Repository {{ {GRAPHQL_FIELDS} }}"
        fallback: list[RepoRef] = []
        try:
            reply = await self._fetcher.request(
                "POST",
                self._graphql,
                headers=self._api_headers(self._graphql),
                json_body={"query": query},
                read_body=True,
                guard=False,
            )
        except Failed:
            reply = None
        body = reply.json() if reply is not None and reply.status == 200 else None
        if not isinstance(body, dict):
            fallback.extend(refs)
        else:
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            errors: dict[str, str] = {}
            for error in body.get("errors") or ():
                if isinstance(error, dict):
                    path = error.get("path")
                    kind = str(error.get("type") or "")
                    if isinstance(path, list) and path:
                        errors[str(path[0])] = kind
                    elif kind == "RATE_LIMITED":
                        errors["*"] = kind
            for i, ref in enumerate(refs):
                node = data.get(f"r{i}") if data else None
                alias_error = errors.get(f"r{i}") or errors.get("*")
                assert reply is not None
                if isinstance(node, dict) and isinstance(node.get("nameWithOwner"), str):
                    info = RepoInfo(
                        archived=as_bool(node.get("isArchived")),
                        stars=as_int(node.get("stargazerCount")),
                        pushed_at=as_str(node.get("pushedAt")),
                        empty=as_bool(node.get("isEmpty")),
                        disabled=as_bool(node.get("isDisabled")),
                    )
                    # http_status stays None: the batch's 200 says nothing about this repository
                    answer = found_answer(
                        ref,
                        node["nameWithOwner"],
                        info,
                        via="graphql",
                        http_status=None,
                        attempts=reply.attempts,
                    )
                    self._settle(ref, answer)
                elif node is None and alias_error == "NOT_FOUND":
                    self._settle(
                        ref,
                        missing_answer(
                            Reason.REPO_MISSING, via="graphql", http_status=None, attempts=reply.attempts
                        ),
                    )
                else:
                    fallback.append(ref)
        if fallback:
            await asyncio.gather(*(self._lookup_one(ref) for ref in fallback))

    async def _rest(self, ref: RepoRef) -> RepoAnswer | None:
        """Ask REST; None when it cannot answer (rate limited, unreachable, unexpected)."""
        url = f"{self._api}/repos/{ref.owner}/{ref.name}"
        attempts = 0
        try:
            for _ in range(MAX_API_REDIRECTS + 1):
                # a conditional request answered 304 costs no rate-limit budget (GitHub's docs)
                stored = self._etags.get_etag(url) if self._etags is not None else None
                headers = self._api_headers(url)
                if stored is not None:
                    headers = {**headers, "If-None-Match": stored[0]}
                reply = await self._fetcher.request("GET", url, headers=headers, read_body=True, guard=False)
                attempts += reply.attempts
                if reply.status == 304 and stored is not None:
                    reply = replace(reply, status=200, body=stored[1].encode())
                elif reply.status == 200 and reply.headers.get("etag") and self._etags is not None:
                    self._etags.put_etag(url, reply.headers["etag"], reply.body.decode("utf-8", "replace"))
                location = reply.headers.get("location")
                if reply.status in (301, 302, 307, 308) and location:
                    url = urljoin(url, location)  # a rename: /repositories/{id}
                    continue
                break
        except Failed:
            return None
        if reply.status == 200:
            body = reply.json()
            if not isinstance(body, dict) or not isinstance(body.get("full_name"), str):
                return None
            info = RepoInfo(
                archived=as_bool(body.get("archived")),
                stars=as_int(body.get("stargazers_count")),
                pushed_at=as_str(body.get("pushed_at")),
                empty=body.get("size") == 0,
                disabled=as_bool(body.get("disabled")),
            )
            return found_answer(ref, body["full_name"], info, via="rest", http_status=200, attempts=attempts)
        if reply.status == 404:
            return missing_answer(Reason.REPO_MISSING, via="rest", http_status=404, attempts=attempts)
        body = reply.json()
        if reply.status == 451 or (reply.status == 403 and isinstance(body, dict) and "block" in body):
            return missing_answer(
                Reason.REPO_DISABLED, via="rest", http_status=reply.status, attempts=attempts
            )
        return None

    async def _from_web(self, ref: RepoRef) -> RepoAnswer:
        """Ask the github.com page: 200 exists, 301 renamed, 404 missing, 451 disabled."""
        url = f"{self._webbase}/{ref.owner}/{ref.name}"
        try:
            reply: Reply = await self._fetcher.request("HEAD", url, guard=False)
            attempts = reply.attempts
            if reply.status in (403, 405, 501):
                reply = await self._fetcher.request("GET", url, guard=False)
                attempts += reply.attempts
        except Failed as failure:
            # github.com failing (even to resolve) says nothing about the repository
            verdict = verdict_for_reason(failure.reason)
            if verdict.status is Status.BROKEN:
                verdict = ERROR
            return inconclusive_answer(
                verdict,
                f"github.com: {failure.detail}",
                via="web",
                http_status=None,
                attempts=failure.attempts,
            )
        location = reply.headers.get("location")
        if reply.status in (301, 308) and location:
            moved = parse_repo(urljoin(url, location))
            if moved is not None and moved.name:
                return found_answer(
                    ref, moved.slug, RepoInfo(), via="web", http_status=reply.status, attempts=attempts
                )
        if 200 <= reply.status < 300:
            return found_answer(
                ref, ref.slug, RepoInfo(), via="web", http_status=reply.status, attempts=attempts
            )
        if reply.status == 404:
            return missing_answer(Reason.REPO_MISSING, via="web", http_status=404, attempts=attempts)
        if reply.status == 451:
            return missing_answer(Reason.REPO_DISABLED, via="web", http_status=451, attempts=attempts)
        verdict = verdict_for_status(reply.status)
        if verdict.definitive:
            verdict = ERROR  # any other answer from a repository page is not evidence about the repository
        return inconclusive_answer(
            verdict,
            f"github.com: {status_text(reply.status)}",
            via="web",
            http_status=reply.status,
            attempts=attempts,
        )

    async def _lookup_one(self, ref: RepoRef) -> None:
        answer = await self._rest(ref)
        if answer is None:
            answer = await self._from_web(ref)
        self._settle(ref, answer)

    def _settle(self, ref: RepoRef, answer: RepoAnswer) -> None:
        future = self._answers[ref.lookup]
        if not future.done():
            future.set_result(answer)

    async def lookup(self, refs: Iterable[RepoRef]) -> dict[str, RepoAnswer]:
        """Answers for ``refs`` (repositories, not owners), asking GitHub only about ones not asked yet.

        With a token, new repositories join a queue that is flushed on the next
        turn of the event loop, so lookups made at the same moment by different
        jobs (e.g. the suggestions of several broken links) share GraphQL
        queries of up to ``github.batch_size`` aliases.
        """
        wanted = {ref.lookup: ref for ref in refs if ref.name}
        todo = [ref for key, ref in wanted.items() if key not in self._answers]
        loop = asyncio.get_running_loop()
        for ref in todo:
            self._answers[ref.lookup] = loop.create_future()
        futures = {key: self._answers[key] for key in wanted}
        if todo and self._token:
            self._queue.extend(todo)
            if self._flush is None:
                self._flush = loop.create_task(self._flush_queue())
                self._flushing.add(self._flush)
                self._flush.add_done_callback(self._flushing.discard)
        elif todo:
            try:
                await asyncio.gather(*(self._lookup_one(ref) for ref in todo))
            except BaseException as exc:
                self._abandon(todo, exc)
                raise
        return {key: await asyncio.shield(future) for key, future in futures.items()}

    async def _flush_queue(self) -> None:
        await asyncio.sleep(0)  # let the other jobs started in this turn queue their repositories too
        batch, self._queue, self._flush = self._queue, [], None
        size = self._settings.github.batch_size
        try:
            await asyncio.gather(
                *(self._lookup_graphql(batch[i : i + size]) for i in range(0, len(batch), size))
            )
        except BaseException as exc:
            self._abandon(batch, exc)
            if not isinstance(exc, Exception):
                raise

    def _abandon(self, refs: Sequence[RepoRef], exc: BaseException) -> None:
        """Hand ``exc`` to everyone waiting for an answer that will not come, and forget those lookups."""
        for ref in refs:
            future = self._answers.get(ref.lookup)
            if future is not None and not future.done():
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                else:
                    future.cancel()
                del self._answers[ref.lookup]

    # -- links -------------------------------------------------------------------------------------

    def _public(self, link: Link, web_url: str | None) -> str | None:
        """Map a URL on the configured web base back to the link's own origin (they differ in tests only)."""
        if web_url is None or not web_url.startswith(self._webbase):
            return web_url
        parts = urlsplit(link.url)
        return f"{parts.scheme}://{parts.netloc}{web_url[len(self._webbase) :]}"

    async def check(self, link: Link) -> CheckResult:
        """The verdict on a GitHub link (repository through the API, then its path on the web)."""
        ref = parse_repo(link.url)
        if ref is None or ref.name is None:
            path = urlsplit(link.url).path or "/"
            result = await self._web.check_url(link, f"{self._webbase}{path}", guard=False)
            return replace(
                result,
                final_url=self._public(link, result.final_url),
                redirects=tuple(self._public(link, u) or u for u in result.redirects),
            )
        answer = (await self.lookup([ref]))[ref.lookup]
        return await self.finish(link, ref, answer)

    async def finish(self, link: Link, ref: RepoRef, answer: RepoAnswer) -> CheckResult:
        """The result for ``link`` from its repository's answer, checking its path when there is one."""
        final_url = None
        if answer.reason is Reason.REPO_RENAMED and answer.canonical:
            parts = urlsplit(link.url)
            final_url = f"{parts.scheme}://{parts.netloc}/{answer.canonical}{ref.rest}"
        result = CheckResult(
            key=link.key,
            url=link.url,
            kind=link.kind,
            status=answer.verdict.status,
            definitive=answer.verdict.definitive,
            http_status=answer.http_status,
            final_url=final_url,
            attempts=answer.attempts,
            detail=answer.detail,
            repo=answer.info,
        )
        if not (ref.rest and answer.exists and self._settings.github.check_paths):
            return result
        slug = answer.canonical or ref.slug
        page = await self._web.check_url(link, f"{self._webbase}/{slug}{ref.rest}", guard=False)
        attempts = result.attempts + page.attempts
        redirects = tuple(self._public(link, u) or u for u in page.redirects)
        if page.status is Status.BROKEN:
            verdict = verdict_for_reason(Reason.PATH_MISSING)
            return replace(
                result,
                status=verdict.status,
                definitive=verdict.definitive,
                http_status=page.http_status,
                attempts=attempts,
                redirects=redirects,
                detail=f"{answer.detail}, but {REASON_TEXT[Reason.PATH_MISSING]}: {ref.rest} ({page.detail})",
            )
        if page.status in (Status.OK, Status.REDIRECTED):
            status, definitive = result.status, result.definitive
            if page.status is Status.REDIRECTED and status is Status.OK:
                status, definitive = page.status, page.definitive
            return replace(
                result,
                status=status,
                definitive=definitive,
                attempts=attempts,
                redirects=redirects,
                final_url=final_url or self._public(link, page.final_url),
                detail=f"{answer.detail}; path {ref.rest}: {page.detail}",
            )
        return replace(
            result,
            status=page.status,
            definitive=page.definitive,
            http_status=page.http_status,
            attempts=attempts,
            redirects=redirects,
            detail=f"{answer.detail}; path {ref.rest}: {page.detail}",
        )
