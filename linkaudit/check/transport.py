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
proxy variables, ``proxy_for`` reads them here, with httpx's semantics.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any
from urllib.request import getproxies

import httpcore
import httpx

from ..config import Settings
from .h1 import H1Pool, H1Response, header_block, serialize_request
from .hosts import DEFAULT_PORTS
from .netio import AsyncioBackend, Resolver

KEEPALIVE_EXPIRY = 15.0
MAX_IDLE_POOLS = 64
"""Per-host pools kept open beyond this are closed, least recently used first, when nothing is in flight."""
EVICT_BATCH = 32

# httpcore runs ``import sniffio`` for every lock it creates (several per request); when sniffio is not
# installed each miss walks sys.path again (~0.1 ms per request).  sniffio is therefore a dependency.


def _bypassed(host: str, no_proxy: str) -> bool:
    host = host.lower().strip("[]")
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry = entry.split("://", 1)[-1]
        if entry.startswith("[") or entry.count(":") > 1:
            entry = entry.strip("[]")
        elif ":" in entry:
            entry = entry.split(":", 1)[0]
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            network = None
        if network is not None:
            try:
                if ipaddress.ip_address(host) in network:
                    return True
            except ValueError:
                pass
            continue
        bare = entry.lstrip(".").lstrip("*").lstrip(".")
        if host == bare or host.endswith("." + bare):
            return True
    return False


def proxy_for(scheme: str, host: str) -> str | None:
    """The proxy URL the environment sets for ``scheme://host``, or None (none set, or NO_PROXY bypass)."""
    proxies = getproxies()
    url = proxies.get(scheme.lower()) or proxies.get("all")
    if not url:
        return None
    if _bypassed(host, proxies.get("no", "")):
        return None
    return url if "://" in url else f"http://{url}"


class LeanPool(httpcore.AsyncConnectionPool):
    """httpcore's connection pool for one host, without its per-request scan of every connection.

    httpcore's pool re-examines all its connections and queued requests twice
    per request (``_assign_requests_to_connections``, quadratic in the
    connections), which at a few hundred requests a second is a tenth of the
    run's CPU.  The scheduler and the host gate already bound how many requests
    go to a host at once, so this pool never queues: a request takes the most
    recently used idle connection that is still good, or opens a new one, and
    gives it back when its response is closed.  One request per connection at a
    time (HTTP/2 connections too).  The HTTP itself is httpcore's own
    connection classes, created by the base class's ``create_connection``.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._busy: set[httpcore.AsyncConnectionInterface] = set()
        self._surplus: list[httpcore.AsyncConnectionInterface] = []

    def _take_idle(
        self, closing: list[httpcore.AsyncConnectionInterface]
    ) -> httpcore.AsyncConnectionInterface | None:
        connections = self._connections
        for index in range(len(connections) - 1, -1, -1):
            connection = connections[index]
            if connection in self._busy:
                continue
            if connection.is_closed() or connection.has_expired():
                del connections[index]
                closing.append(connection)
                continue
            if connection.is_available():
                return connection
        return None

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` on an idle connection of this pool, or on a new one."""
        fresh = False
        while True:
            closing: list[httpcore.AsyncConnectionInterface] = []
            connection = None if fresh else self._take_idle(closing)
            if connection is None:
                connection = self.create_connection(request.url.origin)
                self._connections.append(connection)
            self._busy.add(connection)
            try:
                for old in closing:
                    await old.aclose()
                response = await connection.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:  # taken or closed meanwhile: use a connection of its own
                self._give_back(connection)
                fresh = True
                continue
            except BaseException:
                self._give_back(connection)
                raise
            response.stream = _LeanStream(response.stream, self, connection)
            return response

    def _give_back(self, connection: httpcore.AsyncConnectionInterface) -> None:
        self._busy.discard(connection)
        if connection.is_closed():
            with contextlib.suppress(ValueError):
                self._connections.remove(connection)
        elif connection.is_idle() and len(self._connections) - len(self._busy) > self._max_keepalive_connections:
            self._connections.remove(connection)
            self._surplus.append(connection)

    async def _close_surplus(self) -> None:
        surplus, self._surplus = self._surplus, []
        for connection in surplus:
            await connection.aclose()


class _LeanStream:
    """A response body from ``LeanPool``: closing it returns the connection to the pool."""

    __slots__ = ("_connection", "_pool", "_stream")

    def __init__(self, stream: Any, pool: LeanPool, connection: httpcore.AsyncConnectionInterface) -> None:
        self._stream = stream
        self._pool: LeanPool | None = pool
        self._connection = connection

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await self._stream.aclose()
        except BaseException:
            # interrupted while closing: leave it out of use (the pool's aclose closes it at the end of the run)
            pool._busy.discard(self._connection)
            if self._connection.is_idle():
                pool._give_back(self._connection)
            raise
        pool._give_back(self._connection)
        if pool._surplus:
            await pool._close_surplus()


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


_ERRORS: dict[type[Exception], type[httpx.HTTPError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}
"""httpcore's exceptions and the httpx ones they become (what ``httpx.AsyncHTTPTransport`` does)."""


@contextlib.contextmanager
def httpx_errors() -> Iterator[None]:
    """Re-raise httpcore's exceptions inside the block as httpx's (what ``httpx.AsyncHTTPTransport`` does)."""
    try:
        yield
    except Exception as exc:
        mapped = httpx_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


def httpx_error(exc: Exception) -> httpx.HTTPError | None:
    """The httpx exception for an httpcore one (the most specific match), or None when it is not httpcore's."""
    mapped: type[httpx.HTTPError] | None = None
    for source, target in _ERRORS.items():
        if isinstance(exc, source) and (mapped is None or issubclass(target, mapped)):
            mapped = target
    return mapped(str(exc)) if mapped is not None else None


class _TrackedStream(httpx.AsyncByteStream):
    """A response body that tells its pool when it is closed (the request is over only then)."""

    def __init__(self, stream: Any, pool: _Pool) -> None:
        self._stream = stream
        self._pool: _Pool | None = pool

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.active -= 1
            self._pool = None
        with httpx_errors():
            await self._stream.aclose()


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


class RawResponse:
    """An answer from the direct httpcore path: status, raw headers and a body to read or close."""

    __slots__ = ("_body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], stream: Any, pool: _Pool) -> None:
        self.status = status
        self.headers = headers
        self._body = _TrackedStream(stream, pool)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk (httpcore errors raised as httpx's)."""
        async for chunk in self._body:
            yield chunk

    async def drain(self) -> None:
        """Read the (empty) body of a HEAD answer to its end, so the connection can be reused."""
        async for _ in self._body:
            pass

    async def aclose(self) -> None:
        """Hand the connection back (kept alive when the body was read to its end)."""
        await self._body.aclose()


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
        key = (scheme, host)
        if key not in self._proxies:
            self._proxies[key] = proxy_for(scheme, host)
        return self._proxies[key] is not None

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
        return RawResponse(response.status, response.headers, response.stream, pool)

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
            stream=_TrackedStream(response.stream, pool),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pool."""
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.pool.aclose()
        await asyncio.sleep(0)  # let the transports finish closing their sockets before the loop may close
