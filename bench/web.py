"""A local latency web: one asyncio HTTP/1.1 server on many loopback addresses.

The server listens on 127.0.0.2 ... 127.0.0.(N+1), all on the same port (all of
127/8 is local on Linux), answers every request (HEAD, GET, anything) with 200
(404 for a path under ``/404/``) after a chosen latency, keeps connections alive, and counts per host (per
listening address): requests, connections, and the peak number of requests in
flight (received but not yet answered).  It stops by itself after a time limit.

As a library (what bench/audit.py does)::

    with LatencyWeb(hosts=20, latency=0.05, time_limit=300).start() as web:
        url = web.url(0, "/p/1")          # http://127.0.0.2:PORT/p/1
        ...                               # run a link checker against it
        stats = web.stats()               # WebStats: per-host counts and peaks
        web.reset()                       # zero the counters for the next tool

As a script::

    .venv/bin/python bench/web.py --hosts 20 --latency 0.05 --time-limit 60

prints the addresses and port, serves until the time limit (or Ctrl-C), then
prints a table of what it saw.  ``--probe N`` sends N GET requests to it from a
small built-in client first, as a self-test.

Built on ``asyncio.Protocol`` and ``loop.call_later`` (no coroutine per request)
so that one core serves tens of thousands of requests per second: the server
must not be the bottleneck of the saturation scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import errno
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from harness import format_table

T = TypeVar("T")

MAX_HEAD_BYTES = 65_536
BODY = b"<!doctype html><html><head><title>ok</title></head><body>ok</body></html>\n"
FIRST_OCTET = 2  # 127.0.0.1 is left alone: other local services live there


@dataclasses.dataclass
class HostStats:
    """What one listening address saw."""

    address: str
    requests: int = 0
    heads: int = 0
    gets: int = 0
    other: int = 0
    connections: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    host_headers: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


@dataclasses.dataclass
class WebStats:
    """A consistent snapshot of the whole web's counters."""

    hosts: dict[str, HostStats]
    peak_in_flight: int
    """Peak requests in flight over all hosts together."""
    since: float
    """Seconds since the last reset (or start)."""
    cpu_s: float
    """CPU seconds the server thread used since the last reset."""

    @property
    def requests(self) -> int:
        return sum(h.requests for h in self.hosts.values())

    @property
    def connections(self) -> int:
        return sum(h.connections for h in self.hosts.values())

    @property
    def peak_per_host(self) -> int:
        """The highest per-host peak in flight, over all hosts."""
        return max((h.peak_in_flight for h in self.hosts.values()), default=0)

    @property
    def mismatched_host_headers(self) -> int:
        """Requests whose Host header named another address than the one they arrived on."""
        bad = 0
        for h in self.hosts.values():
            for value, count in h.host_headers.items():
                if value.rsplit(":", 1)[0] != h.address:
                    bad += count
        return bad


class _Counters:
    """Mutable counters; touched only from the server's event loop thread."""

    def __init__(self, addresses: list[str]) -> None:
        self.hosts = {a: HostStats(a) for a in addresses}
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        # in place: open connections hold references to their HostStats
        for h in self.hosts.values():
            h.requests = h.heads = h.gets = h.other = h.connections = 0
            h.peak_in_flight = h.in_flight
            h.host_headers.clear()
        self.peak_in_flight = self.in_flight
        self.since = time.monotonic()
        self.cpu0 = time.thread_time()

    def snapshot(self) -> WebStats:
        hosts = {
            a: dataclasses.replace(h, host_headers=collections.Counter(h.host_headers)) for a, h in self.hosts.items()
        }
        return WebStats(
            hosts=hosts,
            peak_in_flight=self.peak_in_flight,
            since=time.monotonic() - self.since,
            cpu_s=time.thread_time() - self.cpu0,
        )


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; answers requests in order, each after the latency."""

    def __init__(self, web: LatencyWeb) -> None:
        self.web = web
        self.buffer = b""
        self.skip = 0  # request body bytes still to discard
        self.pending: collections.deque[tuple[float, bytes, bool]] = collections.deque()
        self.timer: asyncio.TimerHandle | None = None
        self.closing = False
        self.transport: asyncio.Transport | None = None
        self.host: HostStats | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.web._transports.add(transport)
        address = transport.get_extra_info("sockname")[0]
        self.host = self.web._counters.hosts.get(address)
        if self.host is not None:
            self.host.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.web._transports.discard(self.transport)
        if self.timer is not None:
            self.timer.cancel()
        counters = self.web._counters
        for _ in self.pending:  # requests that will never be answered are no longer in flight
            counters.in_flight -= 1
            if self.host is not None:
                self.host.in_flight -= 1
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if self.skip:
            taken = min(self.skip, len(data))
            self.skip -= taken
            data = data[taken:]
        self.buffer += data
        while not self.closing:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    self._close()
                return
            head = self.buffer[:end]
            self.buffer = self.buffer[end + 4 :]
            self._request(head)
            if self.skip:
                taken = min(self.skip, len(self.buffer))
                self.skip -= taken
                self.buffer = self.buffer[taken:]
                if self.skip:
                    return

    def _request(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            self._close()
            return
        method, version = parts[0], parts[2]
        keep_alive = version == b"HTTP/1.1"
        host_header = ""
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                try:
                    self.skip = max(0, int(value.strip()))
                except ValueError:
                    self._close()
                    return
            elif name == b"connection":
                token = value.strip().lower()
                if token == b"close":
                    keep_alive = False
                elif token == b"keep-alive":
                    keep_alive = True
            elif name == b"host":
                host_header = value.strip().decode("latin-1")
        counters = self.web._counters
        host = self.host
        counters.in_flight += 1
        counters.peak_in_flight = max(counters.peak_in_flight, counters.in_flight)
        if host is not None:
            host.requests += 1
            if method == b"HEAD":
                host.heads += 1
            elif method == b"GET":
                host.gets += 1
            else:
                host.other += 1
            host.host_headers[host_header] += 1
            host.in_flight += 1
            host.peak_in_flight = max(host.peak_in_flight, host.in_flight)
        body = b"" if method == b"HEAD" else BODY
        status = b"404 Not Found" if parts[1].startswith(b"/404/") else b"200 OK"
        response = (
            b"HTTP/1.1 %s\r\nServer: linkaudit-bench-web\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: %d\r\n%s\r\n" % (status, len(BODY), b"" if keep_alive else b"Connection: close\r\n")
        ) + body
        loop = self.web._loop
        assert loop is not None
        self.pending.append((loop.time() + self.web.latency, response, keep_alive))
        if not keep_alive:
            self.closing = True  # read no further requests on this connection
        if self.timer is None:
            self._schedule()

    def _schedule(self) -> None:
        loop = self.web._loop
        assert loop is not None
        due = self.pending[0][0]
        self.timer = loop.call_at(due, self._respond)

    def _respond(self) -> None:
        self.timer = None
        loop = self.web._loop
        assert loop is not None and self.transport is not None
        counters = self.web._counters
        now = loop.time()
        while self.pending and self.pending[0][0] <= now:
            _, response, keep_alive = self.pending.popleft()
            counters.in_flight -= 1
            if self.host is not None:
                self.host.in_flight -= 1
            self.transport.write(response)
            if not keep_alive:
                self.pending.clear()
                self.transport.close()
                return
        if self.pending:
            self._schedule()

    def _close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()


class LatencyWeb:
    """The latency web, run in a background thread with its own event loop."""

    def __init__(
        self,
        *,
        hosts: int = 20,
        latency: float = 0.05,
        time_limit: float = 300.0,
        port: int = 0,
        first: int = FIRST_OCTET,
    ) -> None:
        if not 1 <= hosts <= 255 - first:
            raise ValueError(f"hosts must be between 1 and {255 - first} (127.0.0.{first} ... 127.0.0.254)")
        if latency < 0:
            raise ValueError("latency must be 0 or more")
        self.latency = latency
        self.time_limit = time_limit
        self.addresses = [f"127.0.0.{first + i}" for i in range(hosts)]
        self.port = port
        self._counters = _Counters(self.addresses)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped = threading.Event()
        self._transports: set[asyncio.Transport] = set()
        self.started_at = 0.0

    # -- public API -------------------------------------------------------
    def start(self) -> LatencyWeb:
        """Bind every address, start serving in a daemon thread; returns self once listening."""
        self._thread = threading.Thread(target=self._run, name="latency-web", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError(f"latency web could not start: {self._error}") from self._error
        if not self._ready.is_set():
            raise RuntimeError("latency web did not start within 30 s")
        return self

    def url(self, host_index: int, path: str = "/") -> str:
        """The URL of ``path`` on host number ``host_index`` (0-based)."""
        return f"http://{self.addresses[host_index]}:{self.port}{path}"

    def stats(self) -> WebStats:
        """A consistent snapshot of the counters (taken on the server thread)."""
        return self._call(self._counters.snapshot)

    def reset(self) -> None:
        """Zero the counters (requests still in flight stay counted as in flight)."""
        self._call(self._counters.reset)

    @property
    def running(self) -> bool:
        return self._ready.is_set() and not self._stopped.is_set()

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        loop = self._loop
        if loop is not None and not self._stopped.is_set():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._shutdown)
        if self._thread is not None:
            self._thread.join(10)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server has stopped (time limit reached); True if it did."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> LatencyWeb:
        return self if self._ready.is_set() else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals --------------------------------------------------------
    def _call(self, fn: Callable[[], T]) -> T:
        loop = self._loop
        if loop is None or self._stopped.is_set():
            return fn()  # the loop is gone; nothing else touches the counters any more
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # pragma: no cover - surfaced to the caller
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            self._stopped.set()

    async def _bind(self) -> list[asyncio.Server]:
        loop = asyncio.get_running_loop()
        last: OSError | None = None
        for _ in range(20):  # port 0: the first address picks a port, the others may find it taken
            servers: list[asyncio.Server] = []
            port = self.port
            try:
                for address in self.addresses:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        sock.bind((address, port))
                    except OSError:
                        sock.close()
                        raise
                    port = sock.getsockname()[1]
                    server = await loop.create_server(lambda: _Connection(self), sock=sock, backlog=4096)
                    servers.append(server)
                self.port = port
                return servers
            except OSError as exc:
                last = exc
                for server in servers:
                    server.close()
                if self.port or exc.errno != errno.EADDRINUSE:
                    raise
        raise OSError(f"no port free on all of {self.addresses[0]} ... {self.addresses[-1]}: {last}")

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        servers = await self._bind()
        self._counters.reset()
        self.started_at = time.monotonic()
        self._loop.call_later(self.time_limit, self._shutdown)
        self._ready.set()
        try:
            await self._done.wait()
        finally:
            for server in servers:
                server.close()
            for transport in list(self._transports):
                transport.abort()
            for server in servers:
                await server.wait_closed()

    def _shutdown(self) -> None:
        self._done.set()


# -- script ---------------------------------------------------------------

def stats_table(stats: WebStats) -> str:
    """Per-host rows plus a total row."""
    rows: list[list[Any]] = [
        [h.address, h.requests, h.heads, h.gets, h.other, h.connections, h.peak_in_flight]
        for h in stats.hosts.values()
    ]
    rows.append(
        [
            "total",
            stats.requests,
            sum(h.heads for h in stats.hosts.values()),
            sum(h.gets for h in stats.hosts.values()),
            sum(h.other for h in stats.hosts.values()),
            stats.connections,
            f"{stats.peak_in_flight} (all hosts)",
        ]
    )
    table = format_table(["host", "requests", "HEAD", "GET", "other", "connections", "peak in flight"], rows)
    return f"{table}\nserver CPU {stats.cpu_s:.2f} s over {stats.since:.1f} s"


async def _probe(web: LatencyWeb, count: int, concurrency: int) -> float:
    """Send ``count`` keep-alive GETs spread over the hosts, ``concurrency`` connections at a time."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker(slot: int) -> None:
        address = web.addresses[slot % len(web.addresses)]
        reader, writer = await asyncio.open_connection(address, web.port)
        try:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                writer.write(f"GET /probe/{i} HTTP/1.1\r\nHost: {address}:{web.port}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker(s) for s in range(concurrency))), timeout=120)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Serve a local latency web on 127.0.0.2 ... 127.0.0.(N+1), one port, 200 after LATENCY.",
    )
    parser.add_argument("--hosts", type=int, default=20, help="number of loopback addresses (default 20)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds before each answer (default 0.05)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="stop after this many seconds (default 60)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--probe", type=int, default=0, metavar="N",
                        help="self-test: send N GETs from a built-in client, print the stats, and stop")
    parser.add_argument("--probe-concurrency", type=int, default=64, metavar="C")
    args = parser.parse_args(argv)
    try:
        web = LatencyWeb(hosts=args.hosts, latency=args.latency, time_limit=args.time_limit, port=args.port)
        web.start()
    except (ValueError, RuntimeError) as exc:
        print(f"web.py: {exc}", file=sys.stderr)
        return 2
    with web:
        print(f"serving http://{web.addresses[0]}:{web.port}/ ... http://{web.addresses[-1]}:{web.port}/ "
              f"latency {args.latency * 1000:g} ms, stopping after {args.time_limit:g} s", flush=True)
        if args.probe:
            elapsed = asyncio.run(_probe(web, args.probe, args.probe_concurrency))
            ideal = args.probe * args.latency / args.probe_concurrency
            print(f"probe: {args.probe} requests in {elapsed:.2f} s ({args.probe / elapsed:,.0f}/s; "
                  f"ideal {ideal:.2f} s)")
        else:
            try:
                web.wait(args.time_limit + 5)
            except KeyboardInterrupt:
                print("interrupted", file=sys.stderr)
        print(stats_table(web.stats()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
