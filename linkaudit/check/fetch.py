"""Requests: one HTTP exchange through the host gate, the global cap, the SSRF guard and the retries.

Stage: check.  Input: a method and URL (plus headers/body for APIs).  Output:
``Reply`` (status, the few headers the checkers read, a capped body,
attempts) or ``Failed`` (a ``Reason``, a human detail, attempts).  Also
``walk``: HEAD (GET when HEAD is refused) that follows redirects by hand,
recording the chain.  httpx types stay inside this module and ``transport``;
checkers see only ``Reply``, ``Failed`` and ``Walk``.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import NoReturn, Protocol
from urllib.parse import urljoin

import httpx

from ..config import Settings
from ..errors import NetworkUnavailable
from ..model import CheckResult, Link
from ..records import fast_init
from .hosts import (
    DEFAULT_PORTS,
    HostGate,
    HostGates,
    NetworkState,
    host_key,
    host_name,
    split_origin,
    split_origin_lenient,
)
from .retry import call_with_retries
from .ssrf import AddressGuard
from .transport import HostRouter
from .verdict import CONNECT_LEVEL, REASON_TEXT, REDIRECT_CODES, Reason, classify_exception

KEPT_HEADERS = frozenset(
    {"location", "retry-after", "x-ratelimit-remaining", "x-ratelimit-reset", "content-type", "etag"}
)
"""The only response headers a checker reads (copying all of them costs CPU on every request)."""

_KEPT_RAW = {name.encode(): name for name in KEPT_HEADERS} | {name.title().encode(): name for name in KEPT_HEADERS}
"""Raw header names of ``KEPT_HEADERS`` as servers usually spell them (lower or Title-Case) -> the kept name."""

HEAD_REFUSED = frozenset({400, 403, 404, 405, 406, 501, 999})
"""HEAD answers that a GET may contradict: servers that refuse or mishandle HEAD."""

API_BODY_CAP = 8 * 1024 * 1024
"""Largest JSON body read from an API (a GraphQL batch of 100 repositories is ~30 KB)."""

CAUGHT = (httpx.HTTPError, httpx.InvalidURL, OSError, ssl.SSLError, ValueError, UnicodeError)
"""Exceptions that mean "this request failed" rather than a bug in linkaudit."""


class Checker(Protocol):
    """Checks one link of the kinds it serves; never raises for a problem with the link."""

    async def check(self, link: Link) -> CheckResult:
        """The verdict on ``link``."""
        ...


@fast_init
@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer, after retries."""

    url: str
    """The URL asked (one hop of a chain)."""
    status: int
    """The HTTP status code of the last attempt."""
    headers: Mapping[str, str]
    """Only ``KEPT_HEADERS``, with lower-case names."""
    body: bytes = b""
    """The body, for API requests only (capped at ``API_BODY_CAP``)."""
    attempts: int = 1
    """Tries it took, the first included."""
    retry_after: float | None = None
    """The wait the server asked for (rate limit), if any."""

    def json(self) -> object:
        """The body as JSON; None when it is not valid JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


class Failed(Exception):
    """A request that got no usable HTTP answer (internal: never leaves ``check/``)."""

    def __init__(self, reason: Reason, detail: str, *, attempts: int = 0) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class Walk:
    """A followed redirect chain: the final answer or the failure that ended it."""

    reply: Reply | None
    """The last answer (None when the chain ended in a failure without one)."""
    failure: Failed | None
    """Why the chain ended without a usable answer, if it did."""
    hops: tuple[tuple[int, str], ...]
    """(status, target URL) for every redirect followed."""
    attempts: int
    """Tries over the whole chain."""

    @property
    def final_url(self) -> str | None:
        """Where the chain ended, when it moved at all."""
        return self.hops[-1][1] if self.hops else None


def describe_exception(exc: BaseException, reason: Reason) -> str:
    """A short human detail for a failed request (never includes request headers)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{REASON_TEXT[reason]} ({name}: {text[:160]})" if text else f"{REASON_TEXT[reason]} ({name})"


class Fetcher:
    """The run's request machinery around the single ``httpx.AsyncClient``."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        router: HostRouter,
        settings: Settings,
        gates: HostGates,
        network: NetworkState,
    ) -> None:
        self.settings = settings
        self.gates = gates
        self.network = network
        self._client = client
        self._router = router
        self._global = asyncio.Semaphore(settings.concurrency)
        self._guard = AddressGuard(allow_private=settings.allow_private_hosts, resolver=router.resolver)
        self._extra: dict[str, tuple[Mapping[str, str], httpx.Timeout | None]] = {}
        self._max_wait = settings.retry.max_retry_after
        self._timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)

    def _host_extras(self, key: str, host: str) -> tuple[Mapping[str, str], httpx.Timeout | None]:
        extra = self._extra.get(key)
        if extra is None:
            entry = self.settings.host_settings(host)
            timeout = self.settings.effective_timeout(host)
            extra = (
                dict(entry.headers) if entry else {},
                httpx.Timeout(timeout, connect=self.settings.connect_timeout)
                if timeout != self.settings.timeout
                else None,
            )
            self._extra[key] = extra
        return extra

    async def _check_address(self, url: str) -> None:
        bad_port: ValueError | None = None
        try:
            scheme, host, port = split_origin(url)
        except ValueError as exc:  # a port out of range: reported below, once the scheme is known to be fine
            scheme, host, port = split_origin_lenient(url)
            bad_port = exc
        if scheme not in ("http", "https"):
            raise Failed(
                Reason.UNSUPPORTED_SCHEME, f"{REASON_TEXT[Reason.UNSUPPORTED_SCHEME]}: {scheme or '?'}"
            )
        try:
            if bad_port is not None:
                raise bad_port
            blocked = await self._guard.is_blocked(
                host, port or DEFAULT_PORTS[scheme], proxied=self._router.is_proxied(scheme, host)
            )
        except (OSError, ValueError, UnicodeError) as exc:
            reason = classify_exception(exc)
            self._fail(url, host_key(url), reason, describe_exception(exc, reason), attempts=0)
        if blocked:
            raise Failed(Reason.PRIVATE_ADDRESS, f"{host}: {REASON_TEXT[Reason.PRIVATE_ADDRESS]}")

    def _fail(self, url: str, key: str, reason: Reason, detail: str, *, attempts: int) -> NoReturn:
        scheme, host, _ = split_origin_lenient(url)
        self.network.note_failure(key, reason, detail, proxy=self._router.proxy(scheme, host))
        if reason in CONNECT_LEVEL:
            self.gates.get(key).unreachable = (reason, detail)
            if self.network.should_give_up():
                raise NetworkUnavailable(self.network.summary())
        raise Failed(reason, detail, attempts=attempts)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: object | None = None,
        read_body: bool = False,
        guard: bool = True,
    ) -> Reply:
        """One request with retries; raises ``Failed`` when no HTTP answer came back.

        ``guard`` applies the SSRF guard (off for the configured API endpoints);
        ``read_body`` keeps the body (up to ``API_BODY_CAP``) for JSON APIs.
        """
        try:
            key = host_key(url)
        except ValueError as exc:
            raise Failed(Reason.INVALID_URL, describe_exception(exc, Reason.INVALID_URL)) from None
        gate = self.gates.get(key)
        if gate.unreachable is not None:
            raise Failed(*gate.unreachable)
        refusal = gate.refusal()
        if refusal is not None:
            raise Failed(Reason.RATE_LIMITED, refusal)
        if guard:
            await self._check_address(url)
        counter = [0]
        content = json.dumps(json_body).encode() if json_body is not None else None
        if content is not None:
            headers = {**(headers or {}), "Content-Type": "application/json"}
        try:
            return await call_with_retries(
                self.settings.retry,
                lambda: self._attempt(gate, method, url, headers, content, read_body, counter),
            )
        except CAUGHT as exc:
            reason = classify_exception(exc)
            self._fail(url, key, reason, describe_exception(exc, reason), attempts=counter[0])

    async def _attempt(
        self,
        gate: HostGate,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        read_body: bool,
        counter: list[int],
    ) -> Reply:
        counter[0] += 1
        refusal = gate.refusal()
        if refusal is not None:
            raise Failed(Reason.RATE_LIMITED, refusal, attempts=counter[0])
        extra_headers, timeout = self._host_extras(gate.key, host_name(gate.key))
        if extra_headers:
            headers = {**extra_headers, **(headers or {})}
        async with gate, self._global:
            refusal = gate.refusal()  # the host may have run out of budget while this request waited
            if refusal is not None:
                raise Failed(Reason.RATE_LIMITED, refusal, attempts=counter[0])
            self.network.note_attempt()
            if read_body:
                status, raw_headers, body = await self._send_client(method, url, headers, content, timeout)
            else:
                status, raw_headers = await self._send_direct(method, url, headers, content, timeout)
                body = b""
        kept: dict[str, str] = {}
        for raw_name, raw_value in raw_headers:
            name = _KEPT_RAW.get(raw_name) or _KEPT_RAW.get(raw_name.lower())
            if name is not None:
                kept[name] = raw_value.decode("latin-1")
        retry_after = gate.observe(status, kept, max_wait=self._max_wait)
        return Reply(
            url=url, status=status, headers=kept, body=body, attempts=counter[0], retry_after=retry_after
        )

    async def _send_client(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        timeout: httpx.Timeout | None,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """An API request through the httpx client (content decoding); the body read up to ``API_BODY_CAP``."""
        request = self._client.build_request(
            method, url, headers=headers, content=content, timeout=timeout or httpx.USE_CLIENT_DEFAULT
        )
        response = await self._client.send(request, stream=True)
        try:
            status = response.status_code
            self.network.note_answer(status)
            body = await self._read(
                response.aiter_bytes(),
                API_BODY_CAP,
                seconds=timeout.read if timeout and timeout.read else self.settings.timeout,
                required=True,
            )
        finally:
            await response.aclose()
        return status, response.headers.raw, body

    async def _send_direct(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        timeout: httpx.Timeout | None,
    ) -> tuple[int, list[tuple[bytes, bytes]]]:
        """A page request straight through the host's httpcore pool; the body is drained or dropped."""
        response = await self._router.open(
            method, url, headers=headers, content=content, timeout=(timeout or self._timeout).as_dict()
        )
        try:
            status = response.status
            self.network.note_answer(status)
            if method == "HEAD":
                # an empty body, but reading it lets the connection go back to the pool (else it is closed)
                await response.drain()
            else:
                await self._read(
                    response.chunks(),
                    self.settings.max_body_bytes,
                    seconds=timeout.read if timeout and timeout.read else self.settings.timeout,
                    required=False,
                )
        finally:
            await response.aclose()
        return status, response.headers

    @staticmethod
    async def _read(chunks: AsyncIterator[bytes], cap: int, *, seconds: float, required: bool) -> bytes:
        """Read up to ``cap`` bytes within ``seconds`` in all (a read timeout bounds one chunk, not a slow drip).

        Past the deadline a page body (``required`` False) is simply left
        unread; an API body raises a timeout.
        """
        parts: list[bytes] = []
        size = 0
        deadline = time.monotonic() + seconds
        async for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size >= cap:
                break  # the rest is not needed; closing drops the connection instead of reading it
            if time.monotonic() > deadline:
                if required:
                    raise httpx.ReadTimeout(f"body not read within {seconds:g} s")
                break
        return b"".join(parts)[:cap]

    async def walk(self, url: str, *, guard: bool = True, max_redirects: int | None = None) -> Walk:
        """HEAD ``url`` (GET when HEAD is refused) and follow redirects by hand, recording the chain."""
        limit = self.settings.max_redirects if max_redirects is None else max_redirects
        hops: list[tuple[int, str]] = []
        attempts = 0
        method = "HEAD"
        current = url
        while True:
            try:
                reply = await self.request(method, current, guard=guard)
                attempts += reply.attempts
                if method == "HEAD" and reply.status in HEAD_REFUSED:
                    # Servers that refuse or mishandle HEAD: ask with GET, and keep using GET down the chain.
                    reply = await self.request("GET", current, guard=False)
                    attempts += reply.attempts
                    method = "GET"
            except Failed as failure:
                return Walk(None, failure, tuple(hops), attempts + failure.attempts)
            location = reply.headers.get("location")
            if reply.status not in REDIRECT_CODES or not location:
                return Walk(reply, None, tuple(hops), attempts)
            target = urljoin(current, location.strip())
            if len(hops) >= limit:
                detail = f"{REASON_TEXT[Reason.TOO_MANY_REDIRECTS]} (more than {limit})"
                return Walk(reply, Failed(Reason.TOO_MANY_REDIRECTS, detail), tuple(hops), attempts)
            hops.append((reply.status, target))
            current = target
