"""A lean HTTP/1.1 client for page checks: the status and headers of a HEAD or GET, on kept-alive connections.

Stage: check.  Input: a method, an origin (scheme, host, port), a request
target, the request's header block and its timeouts.  Output:
``H1Response`` (status, raw headers, a body to iterate or drain), served by
``H1Pool``, one per origin.  Failures are raised as httpx's exception
classes with the socket or TLS error as their cause, so ``verdict`` names them
exactly as it names httpx's own.  The message format itself (parsing a head,
body framing, keep-alive, writing a request) is ``h1wire``'s.

Why not httpcore and h11 here: a page check reads a status line and five
headers.  httpcore's HTTP/1.1 connection wraps each request in h11 event
objects, locks, cancel scopes and a state machine per connection; on the
bench (bench/README.md) that was ~0.25 ms of CPU per request, most of the
checker's cost.  Here the head is cut out of the protocol's buffer with a few
bytes operations.  What this client leaves to httpcore and httpx: proxies
(CONNECT tunnels, SOCKS), HTTP/2, content decoding and the API requests whose
JSON bodies are read; ``transport.HostRouter`` picks the path per request.

HTTP/1.1 as RFC 9112 has it, for a client that sends HEAD and GET: interim
1xx answers are skipped; the body of a HEAD answer, and of 1xx/204/304, is
empty whatever the headers say; otherwise chunked transfer coding, then
``Content-Length``, then "until the server closes".  A connection goes back
to its pool only when its answer was read to the end, no stray bytes follow
it, and neither side asked to close.  A request on a reused connection that
the server had already closed (no byte of an answer came back) is sent once
more on a new connection, as browsers do: idle servers close keep-alive
connections at any moment.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping

import httpx

from .h1wire import CHUNKED, LENGTH, NONE, UNTIL_CLOSE, body_framing, parse_head, wants_keep_alive
from .netio import Resolver, WakingProtocol, connect_first, wait_for

HIGH_WATER = 256 * 1024
"""Bytes buffered from the server before reading from the socket pauses (a GET body the checker drops)."""

MAX_HEAD_BYTES = 256 * 1024
"""Largest response head accepted; h11 allows 16 KiB, but real sites send long cookie and policy headers."""

MAX_CHUNK_LINE = 4096
"""Longest chunk-size line (with extensions) of a chunked body."""

TLS_HANDSHAKE_GRACE = 5.0
"""Extra seconds given to asyncio's own handshake timeout (the connect timeout fires first)."""

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]+")

IDEMPOTENT = frozenset({"HEAD", "GET", "OPTIONS"})
"""Methods sent once more on a new connection when a reused one turns out closed."""



class _Stale(Exception):
    """A reused connection the server had closed before answering (the request may be sent again)."""


class _Connection(WakingProtocol):
    """One connection: buffers what the server sends in one ``bytearray`` and wakes the one reader waiting for it."""

    __slots__ = ("buffer", "idle_since", "tls")

    def __init__(self, tls: bool = False) -> None:
        super().__init__()
        self.buffer = bytearray()
        self.tls = tls
        self.idle_since = 0.0

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    # -- used by H1Pool and H1Response ------------------------------------------------------------

    def is_reusable(self) -> bool:
        """Idle and healthy: nothing buffered (a server's stray bytes or its close show up here at once)."""
        transport = self.transport
        return not self.eof and not self.buffer and transport is not None and not transport.is_closing()

    def close(self) -> None:
        """Close at once; a TLS connection without the close_notify exchange (it would wait for the peer)."""
        transport = self.transport
        if transport is None:
            return
        if self.tls:
            transport.abort()
        else:
            transport.close()

    async def more(self, timeout: float | None) -> None:
        """Wait until more bytes arrived or the server closed; ``httpx.ReadTimeout`` after ``timeout`` s."""
        if self.eof:
            return
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        try:
            await wait_for(waiter, timeout)
        except TimeoutError:
            raise httpx.ReadTimeout("timed out waiting for the server") from None
        finally:
            self.waiter = None

    def ended(self, what: str) -> httpx.HTTPError:
        """The error for a connection that closed in the middle of ``what``."""
        if self.error is not None:
            error = httpx.ReadError(f"connection lost while reading {what} ({self.error})")
            error.__cause__ = self.error
            return error
        return httpx.RemoteProtocolError(f"server closed the connection while sending {what}")

    async def send(self, data: bytes, timeout: float | None) -> None:
        """Write ``data``; wait (up to ``timeout``) only if the socket's buffer is full."""
        transport = self.transport
        if transport is None or transport.is_closing() or self.eof:
            raise _Stale()
        try:
            transport.write(data)
        except (OSError, RuntimeError) as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__) from exc
        drain = self.drain
        if drain is not None:
            try:
                await wait_for(asyncio.shield(drain), timeout)
            except TimeoutError:
                raise httpx.WriteTimeout("timed out sending the request") from None


class H1Response:
    """One answer: status, raw headers, and the body (read with ``chunks``/``drain``), then ``aclose``."""

    __slots__ = ("_conn", "_done", "_keep", "_mode", "_on_close", "_pool", "_read_timeout", "_remaining",
                 "headers", "status")

    def __init__(
        self,
        *,
        status: int,
        headers: list[tuple[bytes, bytes]],
        conn: _Connection,
        pool: H1Pool,
        mode: int,
        length: int,
        keep_alive: bool,
        read_timeout: float | None,
        on_close: Callable[[], None] | None,
    ) -> None:
        self.status = status
        self.headers = headers
        self._conn = conn
        self._pool: H1Pool | None = pool
        self._mode = mode
        self._remaining = length
        self._done = mode == NONE
        self._keep = keep_alive and mode != UNTIL_CLOSE
        self._read_timeout = read_timeout
        self._on_close = on_close

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, piece by piece as it arrives (chunked coding undone)."""
        if self._done:
            return
        conn, timeout = self._conn, self._read_timeout
        buffer = conn.buffer
        if self._mode == LENGTH:
            while self._remaining:
                if not buffer:
                    if conn.eof:
                        raise conn.ended("the body")
                    await conn.more(timeout)
                    continue
                piece = bytes(buffer[: self._remaining])
                del buffer[: len(piece)]
                self._remaining -= len(piece)
                yield piece
        elif self._mode == CHUNKED:
            while True:
                line = await self._line(b"a chunk size")
                size_text = line.split(b";", 1)[0].strip()
                if _CHUNK_SIZE.fullmatch(size_text) is None:  # int(_, 16) would take "-5", "+5", "0x5", "1_0"
                    raise httpx.RemoteProtocolError(f"invalid chunk size {size_text[:40]!r}")
                size = int(size_text, 16)
                if size == 0:
                    while await self._line(b"the trailers"):  # trailer fields, up to the blank line
                        pass
                    break
                while size:
                    if not buffer:
                        if conn.eof:
                            raise conn.ended("a chunk")
                        await conn.more(timeout)
                        continue
                    piece = bytes(buffer[:size])
                    del buffer[: len(piece)]
                    size -= len(piece)
                    yield piece
                if await self._line(b"a chunk end"):
                    raise httpx.RemoteProtocolError("chunk not followed by CRLF")
        else:  # until the server closes
            while True:
                if buffer:
                    piece = bytes(buffer)
                    buffer.clear()
                    yield piece
                elif conn.eof:
                    if conn.error is not None:
                        raise conn.ended("the body")
                    break
                else:
                    await conn.more(timeout)
        self._done = True

    async def _line(self, what: bytes) -> bytes:
        """One CRLF- (or LF-) terminated line of a chunked body, without its end."""
        conn = self._conn
        buffer = conn.buffer
        while True:
            end = buffer.find(b"\n")
            if end >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(buffer) > MAX_CHUNK_LINE:
                raise httpx.RemoteProtocolError(f"{what.decode()} line too long")
            if conn.eof:
                raise conn.ended(what.decode())
            await conn.more(self._read_timeout)

    async def drain(self) -> None:
        """Read the body to its end (a HEAD answer has none), so the connection can be reused."""
        async for _ in self.chunks():
            pass

    async def aclose(self) -> None:
        """Give the connection back when the answer was read to its end and both sides keep it; else close it."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if self._on_close is not None:
            self._on_close()
        pool.release(self._conn, reuse=self._done and self._keep)


class H1Pool:
    """Kept-alive HTTP/1.1 connections to one origin; a request takes the most recently used idle one.

    The scheduler and the host gate bound a host's requests in flight, so the
    pool never queues: it opens a connection whenever none is idle, and keeps
    at most ``max_idle`` idle ones, each for ``keepalive_expiry`` seconds.
    """

    def __init__(
        self,
        *,
        scheme: str,
        host: str,
        port: int,
        resolver: Resolver,
        ssl_context: Callable[[], ssl.SSLContext] | None,
        max_idle: int,
        keepalive_expiry: float,
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self._resolver = resolver
        self._ssl_context = ssl_context
        self._max_idle = max(1, max_idle)
        self._expiry = keepalive_expiry
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self.connections_opened = 0

    def _take_idle(self) -> _Connection | None:
        idle = self._idle
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.is_reusable() and now - conn.idle_since < self._expiry:
                return conn
            self._drop(conn)
        return None

    def _drop(self, conn: _Connection) -> None:
        self._open.discard(conn)
        conn.close()

    def release(self, conn: _Connection, *, reuse: bool) -> None:
        """Back to the idle list (``reuse`` and still healthy), else closed."""
        if reuse and conn.is_reusable() and len(self._idle) < self._max_idle:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            self._drop(conn)

    async def _connect(self, timeout: float | None) -> _Connection:
        tls = self._ssl_context() if self._ssl_context is not None else None
        try:
            async with asyncio.timeout(timeout):
                _, conn = await connect_first(
                    self._resolver,
                    self.host,
                    self.port,
                    lambda: _Connection(tls is not None),
                    tls=tls,
                    handshake_timeout=(timeout + TLS_HANDSHAKE_GRACE) if timeout else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {self.host}:{self.port}") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        self.connections_opened += 1
        self._open.add(conn)
        return conn

    async def request(
        self,
        method: str,
        data: bytes,
        timeout: Mapping[str, float | None],
        on_close: Callable[[], None] | None = None,
    ) -> H1Response:
        """Send one serialized request and read the head of its answer (the body is the caller's to read)."""
        read_timeout = timeout.get("read")
        for attempt in range(2):
            conn = self._take_idle() if attempt == 0 else None  # the retry goes to a new connection
            reused = conn is not None
            if conn is None:
                conn = await self._connect(timeout.get("connect"))
            try:
                await conn.send(data, timeout.get("write"))
                status, minor, headers = await self._read_head(conn, read_timeout, reused=reused)
                mode, length = body_framing(method, status, headers)
            except _Stale:
                self._drop(conn)
                if reused and method in IDEMPOTENT:
                    continue  # the server had closed this idle connection: once more on a new one
                raise httpx.RemoteProtocolError("server closed the connection without answering") from None
            except BaseException:
                self._drop(conn)
                raise
            return H1Response(
                status=status,
                headers=headers,
                conn=conn,
                pool=self,
                mode=mode,
                length=length,
                keep_alive=wants_keep_alive(minor, headers),
                read_timeout=read_timeout,
                on_close=on_close,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    async def _read_head(
        conn: _Connection, timeout: float | None, *, reused: bool
    ) -> tuple[int, int, list[tuple[bytes, bytes]]]:
        buffer = conn.buffer
        start = 0
        while True:
            if start == 0 and buffer and buffer[0] in b"\r\n":
                # blank lines before a status line (RFC 9112 2.2 lets a client skip them), else they end the head
                del buffer[: len(buffer) - len(buffer.lstrip(b"\r\n"))]
            end = _HEAD_END.search(buffer, start)
            if end is None or end.start() > MAX_HEAD_BYTES:  # no end yet, or one past the limit
                if len(buffer) > MAX_HEAD_BYTES:
                    raise httpx.RemoteProtocolError(f"response head larger than {MAX_HEAD_BYTES} bytes")
                if conn.eof:
                    if buffer:
                        raise conn.ended("the response head")
                    if reused:
                        raise _Stale()  # an idle connection the server had closed: nothing was answered
                    if conn.error is not None:
                        raise conn.ended("the response head")
                    raise httpx.RemoteProtocolError("server closed the connection without answering")
                start = max(0, len(buffer) - 3)
                await conn.more(timeout)
                continue
            head = bytes(buffer[: end.start()])
            del buffer[: end.end()]
            status, minor, headers = parse_head(head)
            if 100 <= status < 200 and status != 101:
                start = 0  # interim answer (100 Continue, 103 Early Hints): the real one follows
                continue
            if status == 101:
                raise httpx.RemoteProtocolError("unexpected protocol switch (101)")
            return status, minor, headers

    async def aclose(self) -> None:
        """Close every connection of the pool."""
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
