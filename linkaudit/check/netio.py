"""Network I/O for httpcore: an asyncio-native network backend with a per-run DNS cache.

Stage: check.  Input: httpcore's calls (``connect_tcp``, ``read``, ``write``,
``start_tls``, ``get_extra_info``).  Output: ``AsyncioBackend``, passed as
``network_backend`` to every httpcore pool of the run.

Why: httpcore's default backend goes through anyio, which costs a cancel
scope per read and write, a ``sniffio`` lookup per call, and a ``poll``
syscall per idle connection every time the pool looks for a free connection
(``get_extra_info("is_readable")``, twice per request for each idle
connection).  Here reads and writes talk to an ``asyncio.Protocol`` directly,
timeouts are one timer each, and "is the idle connection readable" is a look
at the protocol's own state (asyncio reads eagerly, so a server's close or
stray bytes are already there).  Name resolution is done once per (host,
port) and run, not once per new connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import httpcore

HIGH_WATER = 256 * 1024
"""Bytes buffered from the server before reading from the socket pauses."""

TLS_HANDSHAKE_GRACE = 5.0
"""Extra seconds given to asyncio's own handshake timeout (ours fires first)."""


class WakingProtocol(asyncio.Protocol):
    """What every connection protocol of the checker shares: one waiting reader, the server's close, back-pressure.

    A subclass buffers what ``data_received`` brings and calls ``_wake``;
    ``eof``/``error`` tell a reader the server closed (and why), ``drain`` is
    the future a writer waits on while the transport's buffer is full.
    """

    __slots__ = ("drain", "eof", "error", "paused", "transport", "waiter")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drain: asyncio.Future[None] | None = None
        self.eof = False
        self.error: BaseException | None = None
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio's classes

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        drain, self.drain = self.drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        if self.drain is None and self.transport is not None:
            self.drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drain, self.drain = self.drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Protocol(WakingProtocol):
    """Buffers what the server sends as chunks, for httpcore's reads."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: deque[bytes] = deque()
        self.size = 0

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


async def wait_for(waiter: asyncio.Future[None], timeout: float | None) -> None:
    """Await ``waiter``; ``TimeoutError`` after ``timeout`` seconds (one timer, no task)."""
    if timeout is None:
        await waiter
        return
    timer = asyncio.get_running_loop().call_later(timeout, _expire, waiter)
    try:
        await waiter
    finally:
        timer.cancel()


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection: an asyncio transport (plain or TLS) and its buffering protocol."""

    __slots__ = ("_protocol", "_tls", "_transport")

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol, *, tls: bool = False) -> None:
        self._transport = transport
        self._protocol = protocol
        self._tls = tls

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.chunks:
            if protocol.eof:
                return self._ended()
            waiter = protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                await wait_for(waiter, timeout)
            except TimeoutError as exc:
                raise httpcore.ReadTimeout(str(exc) or "read timed out") from exc
            finally:
                protocol.waiter = None
            if not protocol.chunks:
                return self._ended()
        chunk = protocol.chunks.popleft()
        if len(chunk) > max_bytes:
            protocol.chunks.appendleft(chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        protocol.size -= len(chunk)
        if protocol.paused and protocol.size <= HIGH_WATER // 4:
            protocol.paused = False
            self._transport.resume_reading()
        return chunk

    def _ended(self) -> bytes:
        error = self._protocol.error
        if error is not None:
            raise httpcore.ReadError(str(error) or type(error).__name__) from error
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._transport.is_closing():
            error = protocol.error
            raise httpcore.WriteError(str(error) if error else "connection closed") from error
        try:
            self._transport.write(buffer)
        except (OSError, RuntimeError) as exc:
            raise httpcore.WriteError(str(exc)) from exc
        drain = protocol.drain
        if drain is not None:
            try:
                await wait_for(asyncio.shield(drain), timeout)
            except TimeoutError as exc:
                raise httpcore.WriteTimeout(str(exc) or "write timed out") from exc

    async def aclose(self) -> None:
        if self._tls:
            # no TLS close_notify exchange (anyio's non-standard-compatible mode does the same): a graceful
            # SSL shutdown waits for the peer and would leave the socket open past the end of the run
            self._transport.abort()
        else:
            self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            handshake = loop.start_tls(
                self._transport,
                self._protocol,
                ssl_context,
                server_hostname=server_hostname,
                ssl_handshake_timeout=(timeout + TLS_HANDSHAKE_GRACE) if timeout else None,
            )
            transport = await asyncio.wait_for(handshake, timeout)
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except (OSError, ssl.SSLError, RuntimeError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        if transport is None:  # the connection closed during the handshake
            raise httpcore.ConnectError("connection closed during the TLS handshake")
        self._protocol.transport = transport
        return AsyncioStream(transport, self._protocol, tls=True)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # an idle connection with bytes waiting, or closed by the server: not reusable
            protocol = self._protocol
            return bool(protocol.chunks) or protocol.eof or self._transport.is_closing()
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


Addresses = list[tuple[int, tuple[Any, ...]]]
"""(address family, socket address) pairs, in the resolver's order."""


def _literal_address(host: str, port: int) -> Addresses | None:
    """The socket address of an IP-literal ``host`` (brackets allowed), or None for a name."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.version == 4:
        return [(socket.AF_INET, (str(ip), port))]
    return [(socket.AF_INET6, (str(ip), port, 0, 0))]


class Resolver:
    """Name resolution once per (host, port) and run, shared by every connection and the SSRF guard.

    Sharing matters beyond speed: the guard judges exactly the addresses the
    connections then use, so a name cannot resolve to a public address for
    the check and to a private one for the request.  Only answers are cached
    (a failure is asked again by the next caller); callers asking at the
    same time share one lookup.
    """

    def __init__(self) -> None:
        self._resolved: dict[tuple[str, int], Addresses] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[Addresses]] = {}

    async def resolve(self, host: str, port: int) -> Addresses:
        """The addresses of ``host``; raises ``socket.gaierror`` (or ``OSError``) when it does not resolve."""
        key = (host, port)
        addresses = self._resolved.get(key)
        if addresses is not None:
            return addresses
        literal = _literal_address(host, port)
        if literal is not None:  # no thread-pool round trip for an address (asyncio would ask getaddrinfo)
            self._resolved[key] = literal
            return literal
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Addresses] = loop.create_future()
        self._pending[key] = future
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = [(family, address) for family, _, _, _, address in infos]
            if not addresses:
                raise socket.gaierror(socket.EAI_NONAME, f"no address for {host}")
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # retrieved: each waiter re-raises it
            else:
                future.cancel()
            raise
        else:
            self._resolved[key] = addresses
            future.set_result(addresses)
            return addresses
        finally:
            del self._pending[key]


P = TypeVar("P", bound=asyncio.Protocol)


async def connect_first(
    resolver: Resolver,
    host: str,
    port: int,
    protocol: Callable[[], P],
    *,
    tls: ssl.SSLContext | None = None,
    handshake_timeout: float | None = None,
    local_addr: tuple[str, int] | None = None,
) -> tuple[asyncio.Transport, P]:
    """Connect to the first of ``host``'s addresses that accepts (TLS with ``tls``, checked for ``host``).

    Raises the first address's ``OSError`` when none accepts, and a TLS error
    at once (the certificate is the same on every address).  The caller bounds
    the whole with its connect timeout.
    """
    loop = asyncio.get_running_loop()
    error: OSError | None = None
    for family, address in await resolver.resolve(host, port):
        try:
            return await loop.create_connection(
                protocol,
                address[0],
                address[1],
                family=family,
                ssl=tls,
                server_hostname=host if tls is not None else None,
                ssl_handshake_timeout=handshake_timeout if tls is not None else None,
                local_addr=local_addr,
            )
        except ssl.SSLError:
            raise
        except OSError as exc:
            error = error or exc
    assert error is not None  # resolve() never returns an empty list
    raise error


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens ``AsyncioStream`` connections; names resolved through the run's ``Resolver``."""

    def __init__(self, resolver: Resolver | None = None) -> None:
        self.resolver = resolver or Resolver()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await connect_first(
                    self.resolver, host, port, _Protocol, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc) or "connect timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            if sock is not None:
                sock.setsockopt(*option)
        return AsyncioStream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not supported")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
