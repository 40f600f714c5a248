"""httpcore's side of the transport: the lean per-host httpcore pool, its body streams, its errors as httpx's.

Stage: check.  Used by ``transport.HostRouter`` for what the lean HTTP/1.1
client (``h1``) does not do: API requests through the httpx client, HTTP/2,
and anything through a proxy.  Input: httpcore requests.  Output: httpcore
responses whose bodies release their pool slot when closed (``RawResponse``
for the page walk), and httpcore's exceptions mapped to httpx's classes
exactly as ``httpx.AsyncHTTPTransport`` maps them.

httpcore runs ``import sniffio`` for every lock it creates (several per
request); when sniffio is not installed each miss walks sys.path again
(~0.1 ms per request), so sniffio is a dependency.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpcore
import httpx


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


class TrackedStream(httpx.AsyncByteStream):
    """A response body that calls ``release`` when it is closed (the request is over only then)."""

    def __init__(self, stream: Any, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()
        with httpx_errors():
            await self._stream.aclose()


class RawResponse:
    """An answer from the direct httpcore path: status, raw headers and a body to read or close."""

    __slots__ = ("_body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], stream: Any,
                 release: Callable[[], None]) -> None:
        self.status = status
        self.headers = headers
        self._body = TrackedStream(stream, release)

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
