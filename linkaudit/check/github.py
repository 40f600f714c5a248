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
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit

from ..classify import GITHUB_RESERVED
from ..config import Settings
from ..model import CheckResult, Link, RepoInfo, Status
from .fetch import Failed, Fetcher, Reply
from .hosts import NetworkState, host_key
from .http import WebChecker, status_text
from .verdict import (
    ERROR,
    REASON_TEXT,
    Reason,
    Verdict,
    verdict_for_reason,
    verdict_for_status,
)

GRAPHQL_FIELDS = "nameWithOwner isArchived isDisabled isEmpty stargazerCount pushedAt"
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
MAX_API_REDIRECTS = 3


@dataclass(frozen=True, slots=True)
class RepoRef:
    """A GitHub link read as owner, repository and the path inside the repository."""

    owner: str
    name: str | None
    """None for an owner-only link (a user or organisation page)."""
    rest: str = ""
    """What follows ``/owner/repo`` (``/tree/main/src``, with its query), empty for the repository itself."""

    @property
    def slug(self) -> str:
        """``owner/repo`` as written."""
        return f"{self.owner}/{self.name}" if self.name else self.owner

    @property
    def lookup(self) -> str:
        """The cache key: lower-cased ``owner/repo``."""
        return self.slug.lower()


def parse_repo(url: str) -> RepoRef | None:
    """The ``RepoRef`` of a GitHub URL (any host: the kind was decided upstream); None for site pages."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if not segments or segments[0].lower() in GITHUB_RESERVED:
        return None
    owner = segments[0]
    if len(segments) == 1:
        return RepoRef(owner, None)
    name = segments[1]
    if name.lower().endswith(".git"):
        name = name[:-4]
    if not name:
        return RepoRef(owner, None)
    rest = "/" + "/".join(segments[2:]) if len(segments) > 2 else ""
    if rest and parts.query:
        rest += f"?{parts.query}"
    return RepoRef(owner, name, rest)


@dataclass(frozen=True, slots=True)
class RepoAnswer:
    """What GitHub said about one repository."""

    verdict: Verdict
    reason: Reason | None
    """``REPO_FOUND``/``REPO_RENAMED``/``REPO_MISSING``/``REPO_DISABLED``; None when inconclusive."""
    detail: str
    info: RepoInfo | None = None
    canonical: str | None = None
    """``owner/repo`` as GitHub spells it now (differs from the link after a rename)."""
    http_status: int | None = None
    attempts: int = 0
    via: str = ""
    """``graphql``, ``rest`` or ``web``."""

    @property
    def exists(self) -> bool:
        """True when the repository exists (maybe renamed)."""
        return self.reason in (Reason.REPO_FOUND, Reason.REPO_RENAMED)


def _found(
    ref: RepoRef, canonical: str, info: RepoInfo, *, via: str, http_status: int | None, attempts: int
) -> RepoAnswer:
    renamed = canonical.lower() != ref.slug.lower()
    if info.disabled:
        reason = Reason.REPO_DISABLED
    elif renamed:
        reason = Reason.REPO_RENAMED
        info = replace(info, renamed_to=canonical)
    else:
        reason = Reason.REPO_FOUND
    detail = REASON_TEXT[reason] + (f" to {canonical}" if reason is Reason.REPO_RENAMED else "")
    if info.archived:
        detail += "; archived"
    if info.empty:
        detail += "; empty"
    return RepoAnswer(
        verdict_for_reason(reason), reason, detail, info, canonical, http_status=http_status, attempts=attempts, via=via
    )


def _missing(reason: Reason, *, via: str, http_status: int | None, attempts: int) -> RepoAnswer:
    info = RepoInfo(disabled=True) if reason is Reason.REPO_DISABLED else None
    return RepoAnswer(
        verdict_for_reason(reason), reason, REASON_TEXT[reason], info, http_status=http_status, attempts=attempts, via=via
    )


def _inconclusive(verdict: Verdict, detail: str, *, via: str, http_status: int | None, attempts: int) -> RepoAnswer:
    return RepoAnswer(verdict, None, detail, http_status=http_status, attempts=attempts, via=via)


def _as_bool(value: object) -> bool:
    return value is True


def _as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


class GitHubChecker:
    """Checks GitHub links through the API (GraphQL with a token, REST without), the web as a fallback."""

    def __init__(self, fetcher: Fetcher, web: WebChecker, settings: Settings, network: NetworkState) -> None:
        self._fetcher = fetcher
        self._web = web
        self._settings = settings
        self._network = network
        self._token = settings.github_token()
        self._api = settings.github.api.rstrip("/")
        self._graphql = settings.github.graphql
        self._webbase = settings.github.web.rstrip("/")
        self._token_hosts = frozenset({host_key(self._api), host_key(self._graphql)})
        self._answers: dict[str, asyncio.Future[RepoAnswer]] = {}
        self.api_host = host_key(self._api)
        self.graphql_host = host_key(self._graphql)
        self.web_host = host_key(self._webbase)

    @property
    def has_token(self) -> bool:
        """Whether a token is set (GraphQL batches) or not (REST, then the web)."""
        return self._token is not None

    # -- the API, with the token only for the API hosts ------------------------------------------

    def _api_headers(self, url: str, *, use_token: bool = True) -> Mapping[str, str]:
        if use_token and self._token and host_key(url) in self._token_hosts:
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
                        archived=_as_bool(node.get("isArchived")),
                        stars=_as_int(node.get("stargazerCount")),
                        pushed_at=_as_str(node.get("pushedAt")),
                        empty=_as_bool(node.get("isEmpty")),
                        disabled=_as_bool(node.get("isDisabled")),
                    )
                    # http_status stays None: the batch's 200 says nothing about this repository
                    answer = _found(
                        ref, node["nameWithOwner"], info, via="graphql", http_status=None, attempts=reply.attempts
                    )
                    self._settle(ref, answer)
                elif node is None and alias_error == "NOT_FOUND":
                    self._settle(
                        ref, _missing(Reason.REPO_MISSING, via="graphql", http_status=None, attempts=reply.attempts)
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
                reply = await self._fetcher.request(
                    "GET", url, headers=self._api_headers(url), read_body=True, guard=False
                )
                attempts += reply.attempts
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
                archived=_as_bool(body.get("archived")),
                stars=_as_int(body.get("stargazers_count")),
                pushed_at=_as_str(body.get("pushed_at")),
                empty=body.get("size") == 0,
                disabled=_as_bool(body.get("disabled")),
            )
            return _found(ref, body["full_name"], info, via="rest", http_status=200, attempts=attempts)
        if reply.status == 404:
            return _missing(Reason.REPO_MISSING, via="rest", http_status=404, attempts=attempts)
        body = reply.json()
        if reply.status == 451 or (reply.status == 403 and isinstance(body, dict) and "block" in body):
            return _missing(Reason.REPO_DISABLED, via="rest", http_status=reply.status, attempts=attempts)
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
            verdict = verdict_for_reason(failure.reason)  # a DNS failure of GitHub itself says nothing of the repo
            if verdict.status is Status.BROKEN:
                verdict = ERROR
            return _inconclusive(verdict, f"github.com: {failure.detail}", via="web", http_status=None, attempts=failure.attempts)
        location = reply.headers.get("location")
        if reply.status in (301, 308) and location:
            moved = parse_repo(urljoin(url, location))
            if moved is not None and moved.name:
                return _found(ref, moved.slug, RepoInfo(), via="web", http_status=reply.status, attempts=attempts)
        if 200 <= reply.status < 300:
            return _found(ref, ref.slug, RepoInfo(), via="web", http_status=reply.status, attempts=attempts)
        if reply.status == 404:
            return _missing(Reason.REPO_MISSING, via="web", http_status=404, attempts=attempts)
        if reply.status == 451:
            return _missing(Reason.REPO_DISABLED, via="web", http_status=451, attempts=attempts)
        verdict = verdict_for_status(reply.status)
        if verdict.definitive:
            verdict = ERROR  # any other answer from a repository page is not evidence about the repository
        return _inconclusive(verdict, f"github.com: {status_text(reply.status)}", via="web", http_status=reply.status, attempts=attempts)

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

        With a token, the new ones go out as GraphQL batches of ``github.batch_size``.
        """
        wanted = {ref.lookup: ref for ref in refs if ref.name}
        todo = [ref for key, ref in wanted.items() if key not in self._answers]
        loop = asyncio.get_running_loop()
        for ref in todo:
            self._answers[ref.lookup] = loop.create_future()
        if todo:
            try:
                if self._token:
                    size = self._settings.github.batch_size
                    await asyncio.gather(
                        *(self._lookup_graphql(todo[i : i + size]) for i in range(0, len(todo), size))
                    )
                else:
                    await asyncio.gather(*(self._lookup_one(ref) for ref in todo))
            finally:
                for ref in todo:
                    future = self._answers[ref.lookup]
                    if not future.done():
                        future.cancel()
                        del self._answers[ref.lookup]
        return {key: await asyncio.shield(self._answers[key]) for key in wanted}

    # -- links -------------------------------------------------------------------------------------

    def _public(self, link: Link, web_url: str | None) -> str | None:
        """Map a URL on the configured web base back to the link's own origin (they differ in tests only)."""
        if web_url is None or not web_url.startswith(self._webbase):
            return web_url
        parts = urlsplit(link.url)
        return f"{parts.scheme}://{parts.netloc}{web_url[len(self._webbase):]}"

    def needs_path_check(self, link: Link) -> bool:
        """Whether ``link`` needs a web request beyond the repository lookup."""
        ref = parse_repo(link.url)
        return ref is None or ref.name is None or bool(ref.rest and self._settings.github.check_paths)

    async def check(self, link: Link) -> CheckResult:
        """The verdict on a GitHub link (repository through the API, then its path on the web)."""
        ref = parse_repo(link.url)
        if ref is None or ref.name is None:
            path = urlsplit(link.url).path or "/"
            result = await self._web.check_url(link, f"{self._webbase}{path}", guard=False)
            return replace(result, final_url=self._public(link, result.final_url), redirects=tuple(
                self._public(link, u) or u for u in result.redirects))
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
