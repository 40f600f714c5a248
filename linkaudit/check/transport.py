"""Transport: one connection pool per host behind the run's single ``httpx.AsyncClient``.

Stage: check.  Input: ``Settings`` and the environment (``HTTPS_PROXY``,
``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, ``SSL_CERT_FILE``,
``SSL_CERT_DIR``).  Output: ``HostRouter``, an httpx transport that hands
each request to a small per-host pool (or a per-host proxy pool).

Why not one big pool: httpcore scans every connection and every queued
request on each request, so one pool holding a thousand connections costs CPU
per request that grows with the number in flight.  Small per-host pools keep
that scan at the per-host limit, and they share one SSL context (loading the
CA bundle once).  Because a custom transport turns off httpx's own reading of
proxy variables, ``proxy_for`` reads them here, with httpx's semantics.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import AsyncIterator
from urllib.request import getproxies

import httpx

from ..config import Settings
from .hosts import DEFAULT_PORTS

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


class _Pool:
    """One host's transport, with the number of requests using it and when it was last used."""

    __slots__ = ("active", "transport", "used")

    def __init__(self, transport: httpx.AsyncHTTPTransport) -> None:
        self.transport = transport
        self.active = 0
        self.used = 0


class _TrackedStream(httpx.AsyncByteStream):
    """A response body that tells its pool when it is closed (the request is over only then)."""

    def __init__(self, stream: httpx.AsyncByteStream, pool: _Pool) -> None:
        self._stream = stream
        self._pool: _Pool | None = pool

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.active -= 1
            self._pool = None
        await self._stream.aclose()


class HostRouter(httpx.AsyncBaseTransport):
    """Dispatches each request to the pool of its (scheme, host, port), creating pools on first use.

    A catalog can link thousands of hosts (every ``*.github.io`` is one), and
    an idle pool keeps its keep-alive connections (file descriptors) open; past
    ``MAX_IDLE_POOLS`` the least recently used pools with nothing in flight are
    closed.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ssl: ssl.SSLContext = httpx.create_ssl_context(trust_env=True)
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._proxies: dict[tuple[str, str], str | None] = {}
        self._clock = 0

    def is_proxied(self, scheme: str, host: str) -> bool:
        """Whether requests to ``scheme://host`` go through a proxy (then names are the proxy's to resolve)."""
        key = (scheme, host)
        if key not in self._proxies:
            self._proxies[key] = proxy_for(scheme, host)
        return self._proxies[key] is not None

    def _new_pool(self, scheme: str, host: str) -> _Pool:
        self.is_proxied(scheme, host)
        proxy = self._proxies[(scheme, host)]
        limit = self._settings.effective_concurrency(host)
        return _Pool(
            httpx.AsyncHTTPTransport(
                verify=self._ssl,
                http2=self._settings.http2,
                limits=httpx.Limits(
                    max_connections=None, max_keepalive_connections=limit, keepalive_expiry=KEEPALIVE_EXPIRY
                ),
                proxy=self._proxy(proxy) if proxy else None,
            )
        )

    def _proxy(self, url: str) -> httpx.Proxy:
        # an https:// proxy is itself verified with the run's CA bundle (SSL_CERT_FILE applies to it too)
        if url.lower().startswith("https://"):
            return httpx.Proxy(url, ssl_context=self._ssl)
        return httpx.Proxy(url)

    async def _evict(self) -> None:
        idle = sorted((p.used, key) for key, p in self._pools.items() if p.active == 0)
        for _, key in idle[: len(self._pools) - MAX_IDLE_POOLS]:
            pool = self._pools.pop(key)
            await pool.transport.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its host's pool."""
        url = request.url
        key = (url.scheme, url.host, url.port or DEFAULT_PORTS.get(url.scheme, 0))
        pool = self._pools.get(key)
        if pool is None:
            if len(self._pools) >= MAX_IDLE_POOLS + EVICT_BATCH:
                await self._evict()
            pool = self._pools[key] = self._new_pool(url.scheme, url.host)
        self._clock += 1
        pool.used = self._clock
        pool.active += 1
        try:
            response = await pool.transport.handle_async_request(request)
        except BaseException:
            pool.active -= 1
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _TrackedStream(response.stream, pool)
        return response

    async def aclose(self) -> None:
        """Close every pool."""
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.transport.aclose()
