"""The lean HTTP/1.1 client (check/h1.py): parsing, framing, keep-alive and errors, against scripted raw servers.

Every server here is a real TCP (or TLS) server on 127.0.0.1, port 0, running
in the test's own event loop.  It plays one script per accepted connection:
each ``bytes`` step reads one request and answers with exactly those bytes,
so framing edge cases (split heads, bad chunk sizes, stray bytes, closes at
awkward moments) are produced on the wire, not mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import trustme
from checkkit import run_async
from testweb import Connections, stop_listening

from linkaudit.check.h1 import MAX_CHUNK_LINE, MAX_HEAD_BYTES, H1Pool, H1Response
from linkaudit.check.h1wire import (
    CHUNKED,
    LENGTH,
    NONE,
    UNTIL_CLOSE,
    body_framing,
    header_block,
    parse_head,
    serialize_request,
    wants_keep_alive,
)
from linkaudit.check.netio import Resolver
from linkaudit.check.transport import HostRouter
from linkaudit.check.verdict import Reason, classify_exception
from linkaudit.config import load_settings

T = TypeVar("T")
Headers = list[tuple[bytes, bytes]]

TIMEOUT: Mapping[str, float | None] = {"connect": 0.5, "read": 0.5, "write": 0.5, "pool": 0.5}
SHORT = 0.2
"""The timeout of the timeout tests, in seconds."""
SLACK = 0.4
"""How late a timeout may fire on a loaded machine."""


# -- the scripted raw server ----------------------------------------------------------------------------


class Step(enum.Enum):
    """Script steps that are not plain answers."""

    CLOSE = "close"  # close the connection now (FIN), without reading anything more
    DROP = "drop"  # read one request, then close without answering
    HANG = "hang"  # read one request, answer nothing (the script's end then waits for the client)
    STALL = "stall"  # read nothing, write nothing, until the server stops
    RESET = "reset"  # abort with a TCP RST (SO_LINGER 0)


@dataclass(frozen=True)
class Write:
    """Write these bytes without reading a request first."""

    data: bytes


@dataclass(frozen=True)
class Pause:
    """Sleep before the next step."""

    seconds: float


@dataclass(frozen=True)
class Wait:
    """Wait until the test sets this event."""

    event: asyncio.Event


Script = Sequence[bytes | Step | Write | Pause | Wait]


def pieces(*parts: bytes, pause: float = 0.003) -> list[bytes | Step | Write | Pause | Wait]:
    """A script answering one request in separate writes (so the client reads them separately)."""
    steps: list[bytes | Step | Write | Pause | Wait] = [parts[0]]
    for part in parts[1:]:
        steps += [Pause(pause), Write(part)]
    return steps


class _ClientClosed(Exception):
    """The client closed the connection where the server waited for its next request."""


class RawServer(Connections):
    """A TCP (or TLS) server on 127.0.0.1 playing the next script on each connection it accepts.

    The last script is replayed for any further connection.  When a script
    ends the server waits for the client to close, keeping any bytes that
    came meanwhile in ``leftover``; ``closed_by_client`` counts the
    connections the client closed while the server waited for a request.
    """

    def __init__(self, scripts: Sequence[Script], tls: ssl.SSLContext | None, rcvbuf: int | None = None) -> None:
        assert scripts
        super().__init__()
        self._scripts = scripts
        self._tls = tls
        self._rcvbuf = rcvbuf
        self.port = 0
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed_by_client = 0
        self.leftover: list[bytes] = []
        self.alpn: list[str | None] = []
        self.errors: list[BaseException] = []
        self._stopping = asyncio.Event()
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        sock = socket.socket()
        if self._rcvbuf is not None:  # before listen(): the accepted sockets inherit it
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
        sock.bind(("127.0.0.1", 0))
        self._server = await asyncio.start_server(self._handle, sock=sock, ssl=self._tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._stopping.set()
        assert self._server is not None
        await stop_listening(self._server)
        await self._end_connections()
        await self._server.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            raise _ClientClosed() from None
        body = b""
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                body = await reader.readexactly(int(value))
        self.requests.append(head + body)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._track(writer):
            return
        script = self._scripts[min(self.connections, len(self._scripts) - 1)]
        self.connections += 1
        ssl_object = writer.get_extra_info("ssl_object")
        self.alpn.append(ssl_object.selected_alpn_protocol() if ssl_object is not None else None)
        try:
            if await self._play(script, reader, writer):
                data = await reader.read()  # the script is over: wait for the client to close
                if data:
                    self.leftover.append(data)
                self.closed_by_client += 1
        except _ClientClosed:
            self.closed_by_client += 1
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away mid-script
        except Exception as exc:
            self.errors.append(exc)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _play(self, script: Script, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Run ``script``; False when it ended the connection itself."""
        for step in script:
            if isinstance(step, bytes):
                await self._read_request(reader)
                writer.write(step)
                await writer.drain()
            elif isinstance(step, Write):
                writer.write(step.data)
                await writer.drain()
            elif isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Wait):
                await step.event.wait()
            elif step is Step.CLOSE:
                return False
            elif step is Step.DROP:
                await self._read_request(reader)
                return False
            elif step is Step.HANG:
                await self._read_request(reader)
            elif step is Step.STALL:
                await self._stopping.wait()
                return False
            elif step is Step.RESET:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return False
        return True


@contextlib.asynccontextmanager
async def serving(
    *scripts: Script, tls: ssl.SSLContext | None = None, rcvbuf: int | None = None
) -> AsyncIterator[RawServer]:
    """A started ``RawServer``, stopped (all its connections aborted) on exit."""
    server = RawServer(scripts, tls, rcvbuf)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    assert server.errors == []


@contextlib.asynccontextmanager
async def pool_for(
    server: RawServer | int,
    *,
    host: str = "127.0.0.1",
    max_idle: int = 4,
    keepalive_expiry: float = 15.0,
    ssl_context: Callable[[], ssl.SSLContext] | None = None,
) -> AsyncIterator[H1Pool]:
    """An ``H1Pool`` for the server's origin (or a bare port), closed on exit."""
    pool = H1Pool(
        scheme="https" if ssl_context is not None else "http",
        host=host,
        port=server if isinstance(server, int) else server.port,
        resolver=Resolver(),
        ssl_context=ssl_context,
        max_idle=max_idle,
        keepalive_expiry=keepalive_expiry,
    )
    try:
        yield pool
    finally:
        await pool.aclose()
        await asyncio.sleep(0)


def request_bytes(method: str = "GET", target: bytes = b"/", content: bytes | None = None) -> bytes:
    headers = [(b"Host", b"127.0.0.1")]
    if content is not None:
        headers.append((b"Content-Length", str(len(content)).encode()))
    return serialize_request(method, target, header_block(headers), content)


async def fetch(
    pool: H1Pool,
    method: str = "GET",
    *,
    content: bytes | None = None,
    timeout: Mapping[str, float | None] = TIMEOUT,
) -> tuple[int, Headers, bytes]:
    """(status, headers, body) of one request through ``pool``, its body read to the end and the answer closed."""
    response = await pool.request(method, request_bytes(method, content=content), timeout)
    try:
        body = b"".join([piece async for piece in response.chunks()])
    finally:
        await response.aclose()
    return response.status, response.headers, body


def answer(body: bytes = b"", *headers: bytes, status: bytes = b"200 OK", version: bytes = b"1.1") -> bytes:
    """An answer with a Content-Length and the given extra header lines."""
    lines = [b"HTTP/%s %s" % (version, status), b"Content-Length: %d" % len(body), *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


OK = answer(b"ok")
EMPTY = answer()


def causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- pure functions: the response head ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "status", "minor"),
    [
        (b"HTTP/1.1 200 OK", 200, 1),
        (b"HTTP/1.1 404", 404, 1),
        (b"HTTP/1.1 204 ", 204, 1),
        (b"HTTP/1.0 301 Moved Permanently", 301, 0),
        (b"HTTP/1.1\t503\tService Unavailable", 503, 1),
        (b"HTTP/1.1 200 Tr\xe8s bien, merci", 200, 1),
        (b"HTTP/1.1 599 Custom", 599, 1),
    ],
    ids=["reason", "no-reason", "empty-reason", "http-1.0", "tabs", "latin-1-reason", "unregistered-code"],
)
def test_parse_head_status_line(line: bytes, status: int, minor: int) -> None:
    """An HTTP/1.x status line gives its code and minor version, whatever its reason phrase."""
    assert parse_head(line + b"\r\nX-A: 1") == (status, minor, [(b"X-A", b"1")])


@pytest.mark.parametrize(
    "line",
    [
        b"HTTP/2.0 200 OK",
        b"HTTP/2 200",
        b"HTTP/3.0 200 OK",
        b"ICY 200 OK",
        b"http/1.1 200 OK",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 OK 200",
        b"HTTP/1.1200 OK",
        b"",
        b"<!doctype html><html>",
        b"\x16\x03\x01\x00\xa5",
    ],
    ids=[
        "http-2.0",
        "http-2",
        "http-3.0",
        "icy",
        "lower-case-name",
        "two-digit-code",
        "four-digit-code",
        "swapped",
        "no-space",
        "empty",
        "html-body",
        "tls-bytes",
    ],
)
def test_parse_head_rejects_other_status_lines(line: bytes) -> None:
    """Anything but an ``HTTP/1.x NNN`` status line is a RemoteProtocolError."""
    with pytest.raises(httpx.RemoteProtocolError, match=r"not an HTTP/1\.x status line"):
        parse_head(line + b"\r\nContent-Length: 0")


@pytest.mark.parametrize(
    ("head", "headers"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-A: 1", [(b"Content-Type", b"text/html"), (b"X-A", b"1")]),
        (b"HTTP/1.1 200 OK\nContent-Type: text/html\nX-A: 1", [(b"Content-Type", b"text/html"), (b"X-A", b"1")]),
        (b"HTTP/1.1 200 OK\nContent-Type: text/html\r\nX-A: 1", [(b"Content-Type", b"text/html"), (b"X-A", b"1")]),
        (b"\r\n\r\n\nHTTP/1.1 200 OK\r\nX-A: 1", [(b"X-A", b"1")]),
        (
            b"HTTP/1.1 200 OK\r\nX-Long: part one\r\n   part two\r\n\tpart three\r\nY: 2",
            [(b"X-Long", b"part one part two part three"), (b"Y", b"2")],
        ),
        (b"HTTP/1.1 200 OK\r\n  orphan continuation\r\nX-A: 1", [(b"X-A", b"1")]),
        (b"HTTP/1.1 200 OK\r\nthis line has no colon\r\nX-A: 1", [(b"X-A", b"1")]),
        (b"HTTP/1.1 200 OK\r\n: no name\r\nX-A: 1", [(b"X-A", b"1")]),
        (b"HTTP/1.1 200 OK\r\nX-Pad  :   v  w  \r\n", [(b"X-Pad", b"v  w")]),
        (b"HTTP/1.1 302 Found\r\nLocation: http://h:8080/a?b=c:d", [(b"Location", b"http://h:8080/a?b=c:d")]),
        (b"HTTP/1.1 200 OK\r\nX-Empty:\r\nX-A: 1", [(b"X-Empty", b""), (b"X-A", b"1")]),
        (
            b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2",
            [(b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2")],
        ),
        (b"HTTP/1.1 200 OK", []),
    ],
    ids=[
        "crlf",
        "bare-lf",
        "mixed-line-ends",
        "blank-lines-before-status-line",
        "obs-fold",
        "fold-before-any-header-dropped",
        "no-colon-dropped",
        "empty-name-dropped",
        "whitespace-trimmed",
        "colons-in-value",
        "empty-value",
        "duplicates-kept-in-order",
        "no-headers",
    ],
)
def test_parse_head_headers(head: bytes, headers: Headers) -> None:
    """Header lines are parsed tolerantly: line ends, folding, junk lines, names' case and order as sent."""
    assert parse_head(head) == (int(head.lstrip(b"\r\n")[9:12]), 1, headers)


# -- pure functions: framing and keep-alive -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "status", "headers", "expected"),
    [
        ("HEAD", 200, [(b"Content-Length", b"42")], (NONE, 0)),
        ("HEAD", 200, [(b"Transfer-Encoding", b"chunked")], (NONE, 0)),
        ("HEAD", 404, [], (NONE, 0)),
        ("GET", 204, [(b"Content-Length", b"5")], (NONE, 0)),
        ("GET", 304, [(b"Transfer-Encoding", b"chunked")], (NONE, 0)),
        ("GET", 100, [], (NONE, 0)),
        ("GET", 200, [(b"Transfer-Encoding", b"chunked")], (CHUNKED, 0)),
        ("GET", 200, [(b"transfer-encoding", b"Chunked")], (CHUNKED, 0)),
        ("GET", 200, [(b"Transfer-Encoding", b"gzip, chunked")], (CHUNKED, 0)),
        ("GET", 200, [(b"Transfer-Encoding", b"gzip"), (b"Transfer-Encoding", b"chunked")], (CHUNKED, 0)),
        ("GET", 200, [(b"Transfer-Encoding", b"chunked, gzip")], (UNTIL_CLOSE, 0)),
        ("GET", 200, [(b"Transfer-Encoding", b"gzip")], (UNTIL_CLOSE, 0)),
        ("GET", 200, [(b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"10")], (CHUNKED, 0)),
        ("GET", 200, [(b"Transfer-Encoding", b"identity"), (b"Content-Length", b"10")], (UNTIL_CLOSE, 0)),
        ("GET", 200, [(b"Content-Length", b"42")], (LENGTH, 42)),
        ("GET", 404, [(b"content-LENGTH", b"3")], (LENGTH, 3)),
        ("GET", 200, [(b"Content-Length", b"42, 42")], (LENGTH, 42)),
        ("GET", 200, [(b"Content-Length", b"42"), (b"Content-Length", b"42")], (LENGTH, 42)),
        ("GET", 200, [(b"Content-Length", b"12345678901234567890")], (LENGTH, 12345678901234567890)),
        ("GET", 200, [(b"Content-Length", b"0")], (NONE, 0)),
        ("GET", 200, [(b"Content-Length", b"000")], (NONE, 0)),
        ("GET", 200, [], (UNTIL_CLOSE, 0)),
        ("GET", 200, [(b"Content-Type", b"text/html")], (UNTIL_CLOSE, 0)),
    ],
    ids=[
        "head-ignores-length",
        "head-ignores-chunked",
        "head-no-headers",
        "204-ignores-length",
        "304-ignores-chunked",
        "1xx",
        "chunked",
        "chunked-any-case",
        "chunked-last-coding",
        "chunked-last-of-two-headers",
        "chunked-not-last",
        "other-coding",
        "chunked-beats-length",
        "identity-coding-beats-length",
        "length",
        "length-any-case-any-status",
        "length-list-equal",
        "length-duplicates-equal",
        "length-huge",
        "length-zero",
        "length-zeros",
        "nothing",
        "no-framing-headers",
    ],
)
def test_body_framing(method: str, status: int, headers: Headers, expected: tuple[int, int]) -> None:
    """The body is delimited as RFC 9112 section 6.3 says: no body, chunked, Content-Length, or until close."""
    assert body_framing(method, status, headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        [(b"Content-Length", b"42, 43")],
        [(b"Content-Length", b"1"), (b"Content-Length", b"2")],
        [(b"Content-Length", b"abc")],
        [(b"Content-Length", b"-1")],
        [(b"Content-Length", b"+5")],
        [(b"Content-Length", b"")],
        [(b"Content-Length", b"4 2")],
        [(b"Content-Length", b"0x10")],
        [(b"Content-Length", b"1e3")],
        [(b"Content-Length", b"42,")],
        [(b"Content-Length", "４２".encode())],
    ],
    ids=[
        "list-differs",
        "duplicates-differ",
        "letters",
        "negative",
        "plus-sign",
        "empty",
        "inner-space",
        "hex",
        "exponent",
        "trailing-comma",
        "non-ascii-digits",
    ],
)
def test_body_framing_rejects_bad_content_length(headers: Headers) -> None:
    """A Content-Length that is not one unsigned decimal number is a RemoteProtocolError."""
    with pytest.raises(httpx.RemoteProtocolError, match="invalid Content-Length"):
        body_framing("GET", 200, headers)


@pytest.mark.parametrize(
    ("minor", "headers", "expected"),
    [
        (1, [], True),
        (1, [(b"Connection", b"close")], False),
        (1, [(b"connection", b"Close")], False),
        (1, [(b"Connection", b"keep-alive, close")], False),
        (1, [(b"Connection", b"keep-alive"), (b"Connection", b"close")], False),
        (1, [(b"Connection", b"Upgrade")], True),
        (1, [(b"Proxy-Connection", b"close")], True),
        (0, [], False),
        (0, [(b"Connection", b"keep-alive")], True),
        (0, [(b"Connection", b"Keep-Alive"), (b"Keep-Alive", b"timeout=5")], True),
        (0, [(b"Connection", b"keep-alive, close")], False),
    ],
    ids=[
        "1.1-default",
        "1.1-close",
        "1.1-close-any-case",
        "1.1-close-in-list",
        "1.1-close-in-second-header",
        "1.1-other-option",
        "1.1-other-header",
        "1.0-default",
        "1.0-keep-alive",
        "1.0-keep-alive-any-case",
        "1.0-keep-alive-and-close",
    ],
)
def test_wants_keep_alive(minor: int, headers: Headers, expected: bool) -> None:
    """HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 only when it opts in."""
    assert wants_keep_alive(minor, headers) is expected


# -- pure functions: the request ------------------------------------------------------------------------


def test_header_block_lines() -> None:
    """Each header becomes one ``Name: value`` CRLF-ended line, in order, values kept as given."""
    block = header_block([(b"User-Agent", b"linkaudit/1 (+x)"), (b"Accept", b"*/*"), (b"X-T", b"a\tb: c")])
    assert block == b"User-Agent: linkaudit/1 (+x)\r\nAccept: */*\r\nX-T: a\tb: c\r\n"
    assert header_block([]) == b""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"X-A", b"1\r\nEvil: injected"),
        (b"X-A", b"1\rEvil: injected"),
        (b"X-A", b"1\nEvil: injected"),
        (b"X-A", b"1\x00"),
        (b"", b"v"),
        (b"X-A:", b"v"),
        (b"X A", b"v"),
        (b"X-A\t", b"v"),
        (b"X-A\r\nEvil", b"v"),
        (b"X-A\n", b"v"),
        (b"X\x00A", b"v"),
    ],
    ids=[
        "crlf-in-value",
        "cr-in-value",
        "lf-in-value",
        "nul-in-value",
        "empty-name",
        "colon-in-name",
        "space-in-name",
        "tab-in-name",
        "crlf-in-name",
        "lf-in-name",
        "nul-in-name",
    ],
)
def test_header_block_rejects_injection(name: bytes, value: bytes) -> None:
    """A header that would break out of its line is a LocalProtocolError, not sent."""
    with pytest.raises(httpx.LocalProtocolError, match="invalid request header"):
        header_block([(b"Host", b"example.org"), (name, value)])


@pytest.mark.parametrize(
    ("method", "target", "content", "expected"),
    [
        ("HEAD", b"/a?b=1", None, b"HEAD /a?b=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"),
        ("GET", b"/", b"", b"GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"),
        ("POST", b"/form", b"k=v", b"POST /form HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\nk=v"),
    ],
    ids=["head-with-query", "empty-content", "with-content"],
)
def test_serialize_request(method: str, target: bytes, content: bytes | None, expected: bytes) -> None:
    """A request is its line, the header block, one blank line and then the content, byte for byte."""
    assert serialize_request(method, target, b"Host: h\r\nAccept: */*\r\n", content) == expected


# -- through H1Pool: reuse and bodies -------------------------------------------------------------------


def test_head_then_get_reuse_one_connection() -> None:
    """A HEAD answer (its Content-Length describing no body) and a GET after it travel on one connection."""

    async def main() -> None:
        script = [b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\nContent-Type: text/html\r\n\r\n", answer(b"hello")]
        async with serving(script) as server, pool_for(server) as pool:
            assert await fetch(pool, "HEAD") == (
                200,
                [(b"Content-Length", b"42"), (b"Content-Type", b"text/html")],
                b"",
            )
            assert await fetch(pool, "GET") == (200, [(b"Content-Length", b"5")], b"hello")
            assert pool.connections_opened == 1
            assert server.connections == 1
            assert [r.split(b"\r\n", 1)[0] for r in server.requests] == [b"HEAD / HTTP/1.1", b"GET / HTTP/1.1"]

    run_async(main())


@pytest.mark.parametrize("size", [1, 70_000, 1_000_000], ids=["one-byte", "several-reads", "past-high-water"])
def test_content_length_body_read_exactly(size: int) -> None:
    """A Content-Length body comes out of ``chunks()`` byte for byte, and the connection then serves again."""
    body = bytes(range(256)) * (size // 256) + b"z" * (size % 256)

    async def main() -> None:
        async with serving([answer(body), OK]) as server, pool_for(server) as pool:
            status, _, received = await fetch(pool)
            assert status == 200
            assert received == body
            assert await fetch(pool) == (200, [(b"Content-Length", b"2")], b"ok")
            assert pool.connections_opened == 1

    run_async(main())


def test_chunks_yield_as_the_body_arrives() -> None:
    """``chunks()`` hands over the first bytes before the server has sent the rest."""

    async def main() -> None:
        first_seen = asyncio.Event()
        script = [b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc", Wait(first_seen), Write(b"def")]
        async with serving(script) as server, pool_for(server) as pool:
            response = await pool.request("GET", request_bytes(), TIMEOUT)
            received = []
            async for piece in response.chunks():
                received.append(piece)
                first_seen.set()
            await response.aclose()
            assert received == [b"abc", b"def"]

    run_async(main())


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
        (
            b'5;name=value\r\nhello\r\n6 ; q="a;b"\r\n world\r\nA;x\r\n0123456789\r\n0;last\r\n'
            b"Trailer-A: 1\r\nTrailer-B: 2\r\n\r\n",
            b"hello world0123456789",
        ),
        (b"1a\r\n" + b"x" * 26 + b"\r\n1A\r\n" + b"y" * 26 + b"\r\n0\r\n\r\n", b"x" * 26 + b"y" * 26),
        (b"5\nhello\n0\nT: 1\n\n", b"hello"),
        (b"0005\r\nhello\r\n000\r\n\r\n", b"hello"),
        (b"0\r\n\r\n", b""),
        (b"%x\r\n" % 300_000 + b"q" * 300_000 + b"\r\n0\r\n\r\n", b"q" * 300_000),
    ],
    ids=["plain", "extensions-and-trailers", "hex-both-cases", "bare-lf", "leading-zeros", "empty", "big-chunk"],
)
def test_chunked_body_reassembled(encoded: bytes, decoded: bytes) -> None:
    """A chunked body is decoded exactly (extensions ignored, trailers consumed) and the connection reused."""

    async def main() -> None:
        async with serving([CHUNKED_HEAD + encoded, OK]) as server, pool_for(server) as pool:
            assert await fetch(pool) == (200, [(b"Transfer-Encoding", b"chunked")], decoded)
            assert await fetch(pool) == (200, [(b"Content-Length", b"2")], b"ok")
            assert pool.connections_opened == 1

    run_async(main())


@pytest.mark.parametrize(
    ("parts", "body"),
    [
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r", b"\n\r\nok"], b"ok"),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", b"\r\nok"], b"ok"),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r", b"\nok"], b"ok"),
        ([b"HTTP/1.1 200 OK\nContent-Length: 2\n", b"\nok"], b"ok"),
        ([b"HTTP/1.1 2", b"00 OK\r\nContent-", b"Length: 2\r\n\r\n", b"o", b"k"], b"ok"),
        ([CHUNKED_HEAD + b"5;ext", b"=1\r\nhel", b"lo\r", b"\n0\r\nTrai", b"ler: x\r\n", b"\r\n"], b"hello"),
        ([bytes([c]) for c in CHUNKED_HEAD + b"2\r\nok\r\n0\r\n\r\n"], b"ok"),
    ],
    ids=["cr|lf-crlf", "crlf|crlf", "crlfcr|lf", "bare-lf|lf", "mid-line", "chunked-pieces", "byte-by-byte"],
)
def test_answer_split_across_reads(parts: list[bytes], body: bytes) -> None:
    """An answer arriving in pieces, cut anywhere (inside the blank line too), parses as if sent at once."""

    async def main() -> None:
        async with serving([*pieces(*parts), OK]) as server, pool_for(server) as pool:
            status, _, received = await fetch(pool)
            assert (status, received) == (200, body)
            assert await fetch(pool) == (200, [(b"Content-Length", b"2")], b"ok")
            assert pool.connections_opened == 1

    run_async(main())


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        (b"zz\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),
        (b"\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),
        (b"-5\r\n0123456789abcdef\r\n0\r\n\r\n", "invalid chunk size"),
        (b"+5\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),
        (b"0x5\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),
        (b"1_0\r\n0123456789abcdef\r\n0\r\n\r\n", "invalid chunk size"),
        (b"5\r\nhelloXX\r\n0\r\n\r\n", "chunk not followed by CRLF"),
        (b"1;" + b"e" * (MAX_CHUNK_LINE + 100), "a chunk size line too long"),
        (b"0\r\nTrailer: " + b"t" * (MAX_CHUNK_LINE + 100), "the trailers line too long"),
    ],
    ids=[
        "not-hex",
        "empty-size",
        "negative",
        "plus-sign",
        "0x-prefix",
        "underscore",
        "no-crlf-after-data",
        "size-line-too-long",
        "trailer-line-too-long",
    ],
)
def test_chunked_body_errors(encoded: bytes, message: str) -> None:
    """A malformed chunked body is a RemoteProtocolError (never a hang), and the connection is not reused."""

    async def main() -> None:
        async with serving([CHUNKED_HEAD + encoded], [OK]) as server, pool_for(server) as pool:
            with pytest.raises(httpx.RemoteProtocolError, match=message):
                await fetch(pool)
            assert await fetch(pool) == (200, [(b"Content-Length", b"2")], b"ok")
            assert pool.connections_opened == 2

    run_async(main())


@pytest.mark.parametrize(
    ("head", "headers"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", [(b"Content-Type", b"text/plain")]),
        (b"HTTP/1.0 200 OK\r\n\r\n", []),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n",
            [(b"Transfer-Encoding", b"gzip"), (b"Content-Length", b"3")],
        ),
    ],
    ids=["1.1-no-length", "1.0-no-length", "non-chunked-coding"],
)
def test_body_until_close(head: bytes, headers: Headers) -> None:
    """A body without a length runs until the server closes (bytes as sent), and that connection is not reused."""
    body = b"all of this \r\n\r\n until the end"

    async def main() -> None:
        script = [*pieces(head + body[:10], body[10:]), Step.CLOSE]
        async with serving(script, [OK]) as server, pool_for(server) as pool:
            assert await fetch(pool) == (200, headers, body)
            assert await fetch(pool) == (200, [(b"Content-Length", b"2")], b"ok")
            assert pool.connections_opened == 2
            assert server.connections == 2

    run_async(main())


@pytest.mark.parametrize(
    "interim",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
        b"HTTP/1.1 100\n\n",
        b"\r\n\r\n\n",
        b"HTTP/1.1 100 Continue\r\n\r\n\r\n\r\n",
    ],
    ids=["100-continue", "103-early-hints", "several", "bare-lf-no-reason", "blank-lines", "blank-lines-after-100"],
)
@pytest.mark.parametrize("split", [False, True], ids=["one-write", "separate-writes"])
def test_interim_answers_skipped(interim: bytes, split: bool) -> None:
    """Interim 1xx answers are skipped: the status, headers and body are the final answer's, on a reusable connection."""
    final = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\ngone"

    async def main() -> None:
        script = pieces(interim, final) if split else [interim + final]
        async with serving([*script, OK]) as server, pool_for(server) as pool:
            assert await fetch(pool) == (404, [(b"Content-Length", b"4")], b"gone")
            assert await fetch(pool) == (200, [(b"Content-Length", b"2")], b"ok")
            assert pool.connections_opened == 1

    run_async(main())


def test_protocol_switch_rejected() -> None:
    """A 101 Switching Protocols answer to a page request is a RemoteProtocolError."""

    async def main() -> None:
        script = [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"]
        async with serving(script) as server, pool_for(server) as pool:
            with pytest.raises(httpx.RemoteProtocolError, match="101"):
                await fetch(pool)

    run_async(main())


@pytest.mark.parametrize(
    ("first", "opened"),
    [
        (answer(b"ok", b"Connection: close"), 2),
        (answer(b"ok", b"Connection: keep-alive, Close"), 2),
        (answer(b"ok", version=b"1.0"), 2),
        (answer(b"ok", b"Connection: keep-alive", version=b"1.0"), 1),
        (answer(b"ok", b"Connection: keep-alive"), 1),
    ],
    ids=["1.1-close", "1.1-close-in-list", "1.0-default", "1.0-keep-alive", "1.1-keep-alive"],
)
def test_connection_header_decides_reuse(first: bytes, opened: int) -> None:
    """An answer asking to close (or an HTTP/1.0 one not opting in) makes the next request open a new connection."""

    async def main() -> None:
        async with serving([first, OK], [OK]) as server, pool_for(server) as pool:
            assert (await fetch(pool))[::2] == (200, b"ok")
            await asyncio.sleep(0.01)
            assert server.closed_by_client == (1 if opened == 2 else 0)  # the client closed what it will not reuse
            assert await fetch(pool) == (200, [(b"Content-Length", b"2")], b"ok")
            assert pool.connections_opened == opened
            assert server.connections == opened

    run_async(main())


@pytest.mark.parametrize("read", [0, 3], ids=["unread", "partly-read"])
def test_body_not_read_to_its_end_is_not_reused(read: int) -> None:
    """An answer closed before its body was read to the end closes its connection instead of pooling it."""

    async def main() -> None:
        async with serving([answer(b"0123456789"), OK], [OK]) as server, pool_for(server) as pool:
            response = await pool.request("GET", request_bytes(), TIMEOUT)
            got = b""
            async for piece in response.chunks():
                got += piece
                if len(got) >= read:
                    break
            await response.aclose()
            await asyncio.sleep(0.01)
            assert server.closed_by_client == 1
            assert await fetch(pool) == (200, [(b"Content-Length", b"2")], b"ok")
            assert pool.connections_opened == 2

    run_async(main())


@pytest.mark.parametrize(
    ("method", "first"),
    [
        ("GET", answer(b"ok") + b"HTTP/1.1 200 OK\r\n"),
        ("GET", answer(b"ok") + b"\r\n"),
        ("HEAD", answer(b"ok")),
        ("GET", CHUNKED_HEAD + b"2\r\nok\r\n0\r\n\r\njunk"),
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\nbody anyway"),
    ],
    ids=["extra-answer", "extra-crlf", "body-sent-to-head", "after-chunked-end", "body-after-204"],
)
def test_stray_bytes_after_an_answer_prevent_reuse(method: str, first: bytes) -> None:
    """Bytes following the end of an answer mean the framing is off, so the connection is closed, not reused."""

    async def main() -> None:
        async with serving([first, OK], [OK]) as server, pool_for(server) as pool:
            status, _, body = await fetch(pool, method)
            assert status in (200, 204)
            assert body == (b"ok" if method == "GET" and status == 200 else b"")
            assert await fetch(pool) == (200, [(b"Content-Length", b"2")], b"ok")
            assert pool.connections_opened == 2
            assert server.connections == 2

    run_async(main())


def test_on_close_called_once() -> None:
    """The ``on_close`` callback runs once when the answer is closed, however often ``aclose`` is called."""

    async def main() -> None:
        calls: list[int] = []
        async with serving([OK]) as server, pool_for(server) as pool:
            response = await pool.request("GET", request_bytes(), TIMEOUT, on_close=lambda: calls.append(1))
            assert isinstance(response, H1Response)
            assert calls == []
            await response.drain()
            await response.aclose()
            await response.aclose()
            assert calls == [1]

    run_async(main())


# -- through H1Pool: closes, stale connections, errors --------------------------------------------------


@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_idle_connection_closed_by_server_is_replaced(method: str) -> None:
    """After the server closes an idle kept-alive connection, the next request succeeds on a new connection."""

    async def main() -> None:
        async with serving([EMPTY, Step.CLOSE], [OK]) as server, pool_for(server) as pool:
            assert (await fetch(pool, method))[0] == 200
            await asyncio.sleep(0.02)  # the server's FIN has arrived
            status, _, body = await fetch(pool, method)
            assert (status, body) == (200, b"ok" if method == "GET" else b"")
            assert pool.connections_opened == 2
            assert len(server.requests) == 2

    run_async(main())


@pytest.mark.parametrize("method", ["HEAD", "GET", "OPTIONS"])
def test_stale_connection_retried_once_on_a_new_one(method: str) -> None:
    """A reused connection the server closes on receiving the request (no answer) is retried on a new connection."""

    async def main() -> None:
        async with serving([EMPTY, Step.DROP], [OK]) as server, pool_for(server) as pool:
            assert (await fetch(pool, method))[0] == 200
            assert (await fetch(pool, method))[0] == 200
            assert pool.connections_opened == 2
            assert len(server.requests) == 3  # the dropped one was received, then sent again

    run_async(main())


def test_stale_retry_uses_a_new_connection_even_with_more_idle_ones() -> None:
    """The one retry after a stale connection goes to a newly opened connection, not to another idle one."""

    async def main() -> None:
        async with serving([EMPTY, Step.DROP], [EMPTY, Step.DROP], [OK]) as server, pool_for(server) as pool:
            first = await asyncio.gather(fetch(pool), fetch(pool))  # two connections, both then idle
            assert [status for status, _, _ in first] == [200, 200]
            assert pool.connections_opened == 2
            assert await fetch(pool) == (200, [(b"Content-Length", b"2")], b"ok")
            assert pool.connections_opened == 3

    run_async(main())


def test_stale_connection_not_retried_for_post() -> None:
    """A non-idempotent request on a stale reused connection is a RemoteProtocolError, not sent twice."""

    async def main() -> None:
        async with serving([EMPTY, Step.DROP], [OK]) as server, pool_for(server) as pool:
            assert (await fetch(pool))[0] == 200
            with pytest.raises(httpx.RemoteProtocolError, match="without answering"):
                await fetch(pool, "POST", content=b"k=v")
            assert pool.connections_opened == 1
            assert server.requests[-1].endswith(b"\r\n\r\nk=v")
            assert len(server.requests) == 2

    run_async(main())


def test_fresh_connection_closed_without_answer() -> None:
    """A new connection closed by the server without an answer is a RemoteProtocolError, with no retry."""

    async def main() -> None:
        async with serving([Step.DROP]) as server, pool_for(server) as pool:
            with pytest.raises(httpx.RemoteProtocolError, match="without answering"):
                await fetch(pool, "HEAD")
            assert pool.connections_opened == 1
            assert server.connections == 1

    run_async(main())


@pytest.mark.parametrize(
    ("script", "error", "cause"),
    [
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", Step.CLOSE], httpx.RemoteProtocolError, None),
        (
            [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", Pause(0.05), Step.RESET],
            httpx.ReadError,
            ConnectionResetError,
        ),
        ([CHUNKED_HEAD + b"a\r\nabc", Step.CLOSE], httpx.RemoteProtocolError, None),
        ([CHUNKED_HEAD + b"3\r\nabc\r\n", Step.CLOSE], httpx.RemoteProtocolError, None),
        ([CHUNKED_HEAD + b"3\r\nabc\r\n", Pause(0.05), Step.RESET], httpx.ReadError, ConnectionResetError),
        (
            [b"HTTP/1.1 200 OK\r\n\r\nabc", Pause(0.05), Step.RESET],
            httpx.ReadError,
            ConnectionResetError,
        ),
    ],
    ids=["length-fin", "length-reset", "mid-chunk-fin", "between-chunks-fin", "chunked-reset", "until-close-reset"],
)
def test_server_closing_mid_body(script: Script, error: type[Exception], cause: type[Exception] | None) -> None:
    """A body cut short is a RemoteProtocolError (orderly close) or a ReadError caused by the reset."""

    async def main() -> None:
        async with serving(script) as server, pool_for(server) as pool:
            response = await pool.request("GET", request_bytes(), TIMEOUT)
            assert response.status == 200
            with pytest.raises(error) as caught:
                async for _ in response.chunks():
                    pass
            await response.aclose()
            if cause is not None:
                assert isinstance(caught.value.__cause__, cause)

    run_async(main())


@pytest.mark.parametrize("reused", [False, True], ids=["fresh", "reused"])
def test_partial_head_then_close(reused: bool) -> None:
    """A server closing in the middle of a head is a RemoteProtocolError, even on a reused connection (no retry)."""

    async def main() -> None:
        partial = [Write(b"HTTP/1.1 200 OK\r\nContent-Le"), Step.CLOSE]
        script = [EMPTY, Step.HANG, *partial] if reused else [Step.HANG, *partial]
        async with serving(script, [OK]) as server, pool_for(server) as pool:
            if reused:
                assert (await fetch(pool))[0] == 200
            with pytest.raises(httpx.RemoteProtocolError, match="response head"):
                await fetch(pool)
            assert pool.connections_opened == 1

    run_async(main())


@pytest.mark.parametrize(
    ("extra", "end", "ok"),
    [
        (MAX_HEAD_BYTES + 1000, b"\r\n\r\n", False),
        (MAX_HEAD_BYTES + 1000, b"", False),
        (MAX_HEAD_BYTES - 1000, b"\r\n\r\n", True),
    ],
    ids=["over-limit-terminated", "over-limit-unterminated", "under-limit"],
)
def test_head_size_limit(extra: int, end: bytes, ok: bool) -> None:
    """A response head over MAX_HEAD_BYTES is a RemoteProtocolError whether or not its end was sent; one under it parses."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Big: " + b"b" * extra + end

    async def main() -> None:
        async with serving([head]) as server, pool_for(server) as pool:
            if ok:
                status, headers, body = await fetch(pool)
                assert (status, headers[0], len(headers[1][1]), body) == (200, (b"Content-Length", b"0"), extra, b"")
            else:
                with pytest.raises(httpx.RemoteProtocolError, match="response head larger than"):
                    await fetch(pool)

    run_async(main())


@pytest.mark.parametrize(
    "script",
    [
        [Step.HANG],
        [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"],
        [CHUNKED_HEAD + b"5\r\nhel"],
        [b"HTTP/1.1 200 OK\r\nContent-Len"],
    ],
    ids=["no-answer", "mid-length-body", "mid-chunk", "mid-head"],
)
def test_read_timeout(script: Script) -> None:
    """A server that stops sending raises httpx.ReadTimeout after the read timeout, not before or much later."""

    async def main() -> None:
        async with serving(script) as server, pool_for(server) as pool:
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(httpx.ReadTimeout):
                await fetch(pool, timeout={**TIMEOUT, "read": SHORT})
            elapsed = loop.time() - start
            assert SHORT - 0.01 <= elapsed < SHORT + SLACK
            await asyncio.sleep(0.01)
            assert server.closed_by_client == 1  # the timed-out connection was closed, not pooled

    run_async(main())


def test_write_timeout() -> None:
    """A request body the server never reads raises httpx.WriteTimeout once the socket buffers are full."""
    data = request_bytes("POST", content=b"x" * (8 * 1024 * 1024))  # more than the kernel buffers (4 MiB + 64 KiB)

    async def main() -> None:
        async with serving([Step.STALL], rcvbuf=64 * 1024) as server, pool_for(server) as pool:
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(httpx.WriteTimeout):
                await pool.request("POST", data, {**TIMEOUT, "write": SHORT})
            assert SHORT - 0.01 <= loop.time() - start < SHORT + SLACK
            assert pool.connections_opened == 1

    run_async(main())


def test_connect_refused() -> None:
    """Connecting to a port nobody listens on is an httpx.ConnectError caused by the refusal."""

    async def main() -> None:
        async with pool_for(free_port()) as pool:
            with pytest.raises(httpx.ConnectError) as caught:
                await fetch(pool)
            assert isinstance(caught.value.__cause__, ConnectionRefusedError)
            assert classify_exception(caught.value) is Reason.CONNECT
            assert pool.connections_opened == 0

    run_async(main())


def test_unresolvable_name() -> None:
    """A host name that does not resolve is an httpx.ConnectError caused by socket.gaierror (a DNS verdict)."""

    async def main() -> None:
        async with pool_for(80, host="no-such-host.invalid") as pool:
            with pytest.raises(httpx.ConnectError) as caught:
                await fetch(pool)
            assert isinstance(caught.value.__cause__, socket.gaierror)
            assert classify_exception(caught.value) is Reason.DNS

    run_async(main())


@pytest.mark.parametrize(
    ("idle", "opened"),
    [(0.0, 1), (0.12, 2)],
    ids=["within-expiry", "past-expiry"],
)
def test_keepalive_expiry(idle: float, opened: int) -> None:
    """An idle connection is reused within ``keepalive_expiry`` and closed (a new one opened) past it."""

    async def main() -> None:
        async with serving([OK, OK]) as server, pool_for(server, keepalive_expiry=0.06) as pool:
            assert (await fetch(pool))[2] == b"ok"
            await asyncio.sleep(idle)
            assert (await fetch(pool))[2] == b"ok"
            assert pool.connections_opened == opened
            await asyncio.sleep(0.01)
            assert server.closed_by_client == opened - 1  # the expired connection was closed by the pool

    run_async(main())


@pytest.mark.parametrize(("max_idle", "opened"), [(1, 3), (2, 2), (0, 3)], ids=["one", "two", "zero-means-one"])
def test_max_idle(max_idle: int, opened: int) -> None:
    """At most ``max_idle`` idle connections are kept; the others are closed when their answers are."""

    async def main() -> None:
        async with serving([OK, OK]) as server, pool_for(server, max_idle=max_idle) as pool:
            await asyncio.gather(fetch(pool), fetch(pool))
            assert pool.connections_opened == 2
            await asyncio.sleep(0.01)
            assert server.closed_by_client == 2 - min(2, max(1, max_idle))
            await asyncio.gather(fetch(pool), fetch(pool))
            assert pool.connections_opened == opened
            assert server.connections == opened

    run_async(main())


def test_pool_aclose_closes_idle_connections() -> None:
    """Closing the pool closes its idle connections (the server sees them end)."""

    async def main() -> None:
        async with serving([OK]) as server:
            async with pool_for(server) as pool:
                await asyncio.gather(fetch(pool), fetch(pool))
                assert server.closed_by_client == 0
            await asyncio.sleep(0.01)
            assert server.closed_by_client == 2

    run_async(main())


# -- HTTPS ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority the HTTPS tests' clients trust."""
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 and localhost, offering h2 before http/1.1 by ALPN."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def trusting(ca: trustme.CA, alpn: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_tls_requests_reuse_their_connection(ca: trustme.CA, server_tls: ssl.SSLContext, host: str) -> None:
    """HEAD and GET over TLS work, verified against the CA, and share one kept-alive connection."""
    context = trusting(ca)

    async def main() -> None:
        script = [b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", EMPTY, answer(b"secure")]
        async with serving(script, tls=server_tls) as server:
            async with pool_for(server, host=host, ssl_context=lambda: context) as pool:
                assert await fetch(pool, "HEAD") == (200, [(b"Content-Length", b"9")], b"")
                assert await fetch(pool, "HEAD") == (200, [(b"Content-Length", b"0")], b"")
                assert await fetch(pool, "GET") == (200, [(b"Content-Length", b"6")], b"secure")
                assert pool.connections_opened == 1
                assert server.connections == 1
            await asyncio.sleep(0.01)
            assert server.closed_by_client == 1

    run_async(main())


def test_tls_untrusted_certificate(server_tls: ssl.SSLContext) -> None:
    """A certificate from a CA the client does not trust is an httpx.ConnectError caused by an ssl.SSLError (TLS)."""
    context = trusting(trustme.CA())

    async def main() -> None:
        async with serving([OK], tls=server_tls) as server, pool_for(server, ssl_context=lambda: context) as pool:
            with pytest.raises(httpx.ConnectError) as caught:
                await fetch(pool, "HEAD")
            assert any(isinstance(cause, ssl.SSLCertVerificationError) for cause in causes(caught.value))
            assert classify_exception(caught.value) is Reason.TLS
            assert pool.connections_opened == 0
            assert server.requests == []

    run_async(main())


def test_tls_handshake_timeout() -> None:
    """A server that never answers the TLS handshake raises httpx.ConnectTimeout after the connect timeout."""
    context = ssl.create_default_context()

    async def main() -> None:
        async with serving([Step.STALL]) as server, pool_for(server, ssl_context=lambda: context) as pool:
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(httpx.ConnectTimeout) as caught:
                await fetch(pool, "HEAD", timeout={**TIMEOUT, "connect": SHORT})
            assert SHORT - 0.01 <= loop.time() - start < SHORT + SLACK
            assert classify_exception(caught.value) is Reason.CONNECT_TIMEOUT

    run_async(main())


def test_h1_ssl_offers_only_http11(
    ca: trustme.CA, server_tls: ssl.SSLContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lean pools' SSL context trusts SSL_CERT_FILE and offers only http/1.1, so an h2-preferring server picks it."""
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    both = trusting(ca, ["h2", "http/1.1"])

    async def main() -> None:
        async with serving([EMPTY], tls=server_tls) as server:
            router = HostRouter(load_settings(None, {"allow_private_hosts": True}))
            try:
                response = await router.open("HEAD", f"https://127.0.0.1:{server.port}/", timeout=TIMEOUT)
                assert isinstance(response, H1Response)
                assert response.status == 200
                await response.drain()
                await response.aclose()
            finally:
                await router.aclose()
            # the control: a client offering h2 too gets h2 from this server
            async with pool_for(server, ssl_context=lambda: both) as pool:
                assert (await fetch(pool, "HEAD"))[0] == 200
            assert server.alpn == ["http/1.1", "h2"]

    run_async(main())


# -- Resolver -------------------------------------------------------------------------------------------


def test_resolver_shares_concurrent_lookups() -> None:
    """Concurrent resolves of one (host, port) share one lookup and its answer, which stays cached."""

    async def main() -> None:
        resolver = Resolver()
        answers = await asyncio.gather(*(resolver.resolve("localhost", 8080) for _ in range(8)))
        assert all(found is answers[0] for found in answers)
        assert (socket.AF_INET, ("127.0.0.1", 8080)) in answers[0]
        assert await resolver.resolve("localhost", 8080) is answers[0]
        other_port = await resolver.resolve("localhost", 8081)
        assert other_port is not answers[0]
        assert (socket.AF_INET, ("127.0.0.1", 8081)) in other_port
        assert resolver._pending == {}

    run_async(main())


def test_resolver_failure_not_cached() -> None:
    """A name that does not resolve raises socket.gaierror for every caller and is asked again next time."""

    async def main() -> None:
        resolver = Resolver()
        results = await asyncio.gather(
            *(resolver.resolve("no-such-host.invalid", 80) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(result, socket.gaierror) for result in results)
        assert resolver._resolved == {}
        assert resolver._pending == {}
        with pytest.raises(socket.gaierror):
            await resolver.resolve("no-such-host.invalid", 80)
        assert resolver._pending == {}

    run_async(main())


# -- end to end through HostRouter.open -----------------------------------------------------------------


def test_router_open_sends_the_exact_request() -> None:
    """``HostRouter.open`` sends the request line, Host first, the base headers, overrides, and no Accept-Encoding."""

    async def main() -> None:
        async with serving([EMPTY, answer(b"page")]) as server:
            router = HostRouter(load_settings(None, {"allow_private_hosts": True}))
            router.base_headers({"User-Agent": "linkaudit-test/1.0", "Accept": "*/*"})
            try:
                url = f"http://127.0.0.1:{server.port}"
                head = await router.open("HEAD", f"{url}/path?q=1", timeout=TIMEOUT)
                assert isinstance(head, H1Response)
                assert head.status == 200
                await head.drain()
                await head.aclose()
                get = await router.open("GET", f"{url}/other", headers={"accept": "text/html"}, timeout=TIMEOUT)
                assert b"".join([piece async for piece in get.chunks()]) == b"page"
                await get.aclose()
                assert [pool.active for pool in router._pools.values()] == [0]
                pool = next(iter(router._pools.values())).pool
                assert isinstance(pool, H1Pool)
                assert pool.connections_opened == 1
            finally:
                await router.aclose()
            port = server.port
            assert server.requests == [
                b"HEAD /path?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                b"User-Agent: linkaudit-test/1.0\r\nAccept: */*\r\n\r\n" % port,
                b"GET /other HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                b"User-Agent: linkaudit-test/1.0\r\naccept: text/html\r\n\r\n" % port,
            ]
            assert all(b"accept-encoding" not in request.lower() for request in server.requests)

    run_async(main())
