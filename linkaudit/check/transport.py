"""Transport: one connection pool per host behind the run's single ``httpx.AsyncClient``.

Stage: check.  Input: ``Settings`` and the environment (``HTTPS_PROXY``,
``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, ``SSL_CERT_FILE``,
``SSL_CERT_DIR``).  Output: ``HostRouter``, an httpx transport that hands
each request to a small per-host pool (or a per-host proxy pool); page
requests to hosts reached directly (``HostRouter.open``) go to the lean
HTTP/1.1 client of ``h1`` instead of httpcore.

Why not one big pool: httpcore scans every connection and every queued
request on each request, so one pool holding a thousand connections costs CPU
per request that grows with the number in flight.  Small per-host pools keep
that scan at the per-host limit, and they share one SSL context (loading the
CA bundle once).  Because a custom transport turns off httpx's own reading of
proxy variables, ``proxies.proxy_for`` reads them, with httpx's semantics.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Mapping
from typing import Any

import httpcore
import httpx

from ..config import Settings
from .corepool import LeanPool, RawResponse, TrackedStream, httpx_error
from .h1 import H1Pool, H1Response
from .h1wire import header_block, serialize_request
from .hosts import DEFAULT_PORTS
from .netio import AsyncioBackend, Resolver
from .proxies import proxy_for

KEEPALIVE_EXPIRY = 15.0
MAX_IDLE_POOLS = 64
"""Per-host pools kept open beyond this are closed, least recently used first, when nothing is in flight."""
EVICT_BATCH = 32


class _Pool:
    """One origin's pool (httpcore's, or an ``H1Pool`` for direct page requests), its use count and last use."""

    __slots__ = ("active", "pool", "release", "used")

    def __init__(self, pool: httpcore.AsyncConnectionPool | H1Pool) -> None:
        self.pool = pool
        self.active = 0
        self.used = 0
        self.release = self._release  # bound once: every direct request hands it to its response

    def _release(self) -> None:
        self.active -= 1


_PLAIN_URL = re.compile(
    r"(https?)://([a-z0-9.-]+)(?::([0-9]{1,5}))?((?:[/?](?:[a-z0-9\-._~:/?@!$&'()*+,;=]|%[0-9a-f]{2})*)?)(?:#.*)?",
    re.IGNORECASE | re.DOTALL,
)
"""An http(s) URL that needs no normalizing: ASCII host name, nothing to percent-encode (else httpx parses it)."""


def request_target(url: str) -> tuple[bytes, bytes, int | None, bytes]:
    """(scheme, host, port or None for the default, request target) of ``url``, as httpx would send them.

    Raises ``httpx.InvalidURL`` (or ``httpx.UnsupportedProtocol``) like httpx.
    """
    match = _PLAIN_URL.fullmatch(url)
    if match is not None:
        scheme, host, port_text, target = match.groups()
        scheme = scheme.lower()
        port = int(port_text) if port_text else None
        if port is None or (port <= 65535 and port != DEFAULT_PORTS[scheme]):
            if port == DEFAULT_PORTS[scheme]:
                port = None
            if not target or target[0] == "?":
                target = "/" + target
            return scheme.encode(), host.lower().encode(), port, target.encode()
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"unsupported protocol {parsed.scheme!r}")
    if not parsed.raw_host:
        raise httpx.InvalidURL(f"no host in {url!r}")
    return parsed.raw_scheme, parsed.raw_host, parsed.port, parsed.raw_path


class HostRouter(httpx.AsyncBaseTransport):
    """Dispatches each request to the pool of its origin (scheme, host, port), creating pools on first use.

    Two kinds of pool: page requests (``open``) to a host reached directly
    go through an ``H1Pool`` (the lean HTTP/1.1 client of ``h1``); API
    requests from the httpx client, and anything through a proxy, go through
    httpcore.  A catalog can link thousands of hosts (every ``*.github.io`` is
    one), and an idle pool keeps its keep-alive connections (file descriptors)
    open; past ``MAX_IDLE_POOLS`` the least recently used pools with nothing in
    flight are closed.  Every pool resolves names through the run's one
    ``Resolver`` (which the SSRF guard shares) and uses one SSL context per
    kind, created when the first https pool needs it.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ssl_context: ssl.SSLContext | None = None
        self._h1_ssl_context: ssl.SSLContext | None = None
        self.resolver = Resolver()
        self._backend = AsyncioBackend(self.resolver)
        self._pools: dict[tuple[str, str, int, bool], _Pool] = {}
        self._proxies: dict[tuple[str, str], str | None] = {}
        self._clock = 0
        self._base: list[tuple[bytes, bytes]] = []
        self._base_block = b""

    @property
    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context(trust_env=True)
        return self._ssl_context

    def _h1_ssl(self) -> ssl.SSLContext:
        """The SSL context of the lean HTTP/1.1 pools: the same trust (SSL_CERT_FILE), ALPN offering only http/1.1.

        A context of its own because httpcore sets ALPN on the context it is
        given (``h2`` included when HTTP/2 is on): a server picking h2 on a
        connection that then speaks HTTP/1.1 would answer garbage.
        """
        if self._h1_ssl_context is None:
            context = httpx.create_ssl_context(trust_env=True)
            context.set_alpn_protocols(["http/1.1"])
            self._h1_ssl_context = context
        return self._h1_ssl_context

    def is_proxied(self, scheme: str, host: str) -> bool:
        """Whether requests to ``scheme://host`` go through a proxy (then names are the proxy's to resolve)."""
        return self.proxy(scheme, host) is not None

    def proxy(self, scheme: str, host: str) -> str | None:
        """The proxy requests to ``scheme://host`` go through (credentials included), or None."""
        key = (scheme, host)
        if key not in self._proxies:
            self._proxies[key] = proxy_for(scheme, host)
        return self._proxies[key]

    def _new_pool(self, scheme: str, host: str, port: int, *, lean: bool) -> _Pool:
        self.is_proxied(scheme, host)
        proxy = self._proxies[(scheme, host)]
        limit = self._settings.effective_concurrency(host)
        if lean and not proxy:
            return _Pool(
                H1Pool(
                    scheme=scheme,
                    host=host,
                    port=port,
                    resolver=self.resolver,
                    ssl_context=self._h1_ssl if scheme == "https" else None,
                    max_idle=limit,
                    keepalive_expiry=KEEPALIVE_EXPIRY,
                )
            )
        options: dict[str, Any] = {
            "ssl_context": self._ssl if scheme == "https" or proxy else None,
            "max_connections": None,
            "max_keepalive_connections": limit,
            "keepalive_expiry": KEEPALIVE_EXPIRY,
            "http1": True,
            "http2": self._settings.http2,
            "network_backend": self._backend,
        }
        if not proxy:
            return _Pool(LeanPool(**options))
        url = httpx.URL(proxy)
        proxy_url = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)
        auth = (url.username.encode(), url.password.encode()) if url.username or url.password else None
        if url.scheme in ("socks5", "socks5h"):
            return _Pool(httpcore.AsyncSOCKSProxy(proxy_url=proxy_url, proxy_auth=auth, **options))
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported proxy scheme {url.scheme!r} in {proxy!r}")
        # an https:// proxy is itself verified with the run's CA bundle (SSL_CERT_FILE applies to it too)
        return _Pool(
            httpcore.AsyncHTTPProxy(
                proxy_url=proxy_url,
                proxy_auth=auth,
                proxy_ssl_context=self._ssl if url.scheme == "https" else None,
                **options,
            )
        )

    async def _evict(self) -> None:
        idle = sorted((p.used, key) for key, p in self._pools.items() if p.active == 0)
        for _, key in idle[: len(self._pools) - MAX_IDLE_POOLS]:
            pool = self._pools.pop(key)
            await pool.pool.aclose()

    async def _pool_for(self, scheme: str, host: str, port: int | None, *, lean: bool = False) -> _Pool:
        key = (scheme, host, port or DEFAULT_PORTS.get(scheme, 0), lean)
        pool = self._pools.get(key)
        if pool is None:
            if len(self._pools) >= MAX_IDLE_POOLS + EVICT_BATCH:
                await self._evict()
            pool = self._pools[key] = self._new_pool(scheme, host, key[2], lean=lean)
        self._clock += 1
        pool.used = self._clock
        pool.active += 1
        return pool

    def base_headers(self, headers: Mapping[str, str]) -> None:
        """The headers every direct request carries (the client's defaults, minus compression)."""
        self._base = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        self._base_block = header_block(self._base)

    async def open(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        timeout: Mapping[str, float | None],
    ) -> RawResponse | H1Response:
        """Send one page request without httpx's ``Request``/``Response``, cookies or hooks.

        For the page walk, where only the status and a few headers matter:
        a host reached directly gets the lean HTTP/1.1 client (``h1``), a
        proxied one httpcore.  Raises httpx's exceptions.  No
        ``Accept-Encoding`` is sent, so a body arrives as the server stores it.
        """
        scheme, host, port, target = request_target(url)
        authority = b"[%s]" % host if b":" in host else host
        if port is not None:
            authority = b"%s:%d" % (authority, port)
        extra: list[tuple[bytes, bytes]] = []
        base = self._base
        if headers:
            names = {name.lower() for name in headers}
            base = [item for item in base if item[0].decode("latin-1").lower() not in names]
            extra = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        if content is not None:
            extra.append((b"Content-Length", str(len(content)).encode()))
        scheme_text, host_text = scheme.decode(), host.decode("ascii")
        lean = not self.is_proxied(scheme_text, host_text)
        pool = await self._pool_for(scheme_text, host_text, port, lean=lean)
        try:
            if isinstance(pool.pool, H1Pool):
                block = self._base_block if base is self._base else header_block(base)
                data = serialize_request(
                    method, target, b"Host: %s\r\n%s%s" % (authority, block, header_block(extra)), content
                )
                return await pool.pool.request(method, data, timeout, on_close=pool.release)
            request = httpcore.Request(
                method=method,
                url=httpcore.URL(scheme=scheme, host=host, port=port, target=target),
                headers=[(b"Host", authority), *base, *extra],
                content=content,
                extensions={"timeout": timeout},
            )
            response = await pool.pool.handle_async_request(request)
        except BaseException as exc:
            pool.active -= 1
            mapped = httpx_error(exc) if isinstance(exc, Exception) else None
            if mapped is None:
                raise
            raise mapped from exc
        return RawResponse(response.status, response.headers, response.stream, pool.release)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its host's pool."""
        url = request.url
        pool = await self._pool_for(url.scheme, url.host, url.port)
        assert isinstance(request.stream, httpx.AsyncByteStream)
        assert not isinstance(pool.pool, H1Pool)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await pool.pool.handle_async_request(core)
        except BaseException as exc:
            pool.active -= 1
            mapped = httpx_error(exc) if isinstance(exc, Exception) else None
            if mapped is None:
                raise
            raise mapped from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=TrackedStream(response.stream, pool.release),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pool."""
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.pool.aclose()
        await asyncio.sleep(0)  # let the transports finish closing their sockets before the loop may close
