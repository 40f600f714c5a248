"""The request path under the checker: direct httpcore requests, the lean per-host pool, the asyncio backend."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest
from checkkit import make_link, make_settings, run_async, run_check
from testweb import Response, Server, stop_listening

from linkaudit.check import new_event_loop
from linkaudit.check.netio import AsyncioBackend
from linkaudit.check.transport import request_target
from linkaudit.errors import ConfigError
from linkaudit.model import Status


class CountingServer(Server):
    """A test server that also counts the TCP connections it accepted."""

    connections = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await super()._handle(reader, writer)


@pytest.fixture()
def counting(testweb: object) -> Iterator[Callable[..., CountingServer]]:
    started: list[CountingServer] = []

    def start(app: Callable[..., object]) -> CountingServer:
        server = CountingServer(app)  # type: ignore[arg-type]
        testweb.call(server.start())  # type: ignore[attr-defined]
        started.append(server)
        return server

    yield start
    for server in started:
        testweb.call(server.stop())  # type: ignore[attr-defined]


async def _ok(request: object) -> Response:
    return Response(200, {"content-type": "text/html"}, b"<html>ok</html>")


def test_connections_are_kept_alive_and_reused(counting: Callable[..., CountingServer]) -> None:
    """Forty links on one host at two at a time use about two connections, not forty."""
    server = counting(_ok)
    links = [make_link(f"{server.url}/p/{i}") for i in range(40)]
    results = run_check(links, make_settings(host_concurrency=2))
    assert all(r.status is Status.OK and r.attempts == 1 for r in results.values())
    assert server.requests == 40
    assert server.connections <= 4


class _ClosingIdleServer:
    """A keep-alive HTTP/1.1 server that closes every connection 50 ms after answering once on it."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.port = 0
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        await stop_listening(self._server)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


@pytest.fixture()
def closing_idle(testweb: object) -> Iterator[_ClosingIdleServer]:
    server = _ClosingIdleServer()
    testweb.call(server.start())  # type: ignore[attr-defined]
    yield server
    testweb.call(server.stop())  # type: ignore[attr-defined]


def test_a_connection_the_server_closed_while_idle_is_not_reused(closing_idle: _ClosingIdleServer) -> None:
    """After the server drops an idle keep-alive connection, the next request opens a new one, first try."""
    server = closing_idle
    base = f"http://127.0.0.1:{server.port}"

    async def main() -> list[Status]:
        from linkaudit.check import check_links

        settings = make_settings(host_concurrency=1)
        first = await check_links([make_link(f"{base}/a")], settings)
        assert first[0].status is Status.OK
        statuses = []
        for path in ("/b", "/c"):
            results = await check_links([make_link(f"{base}{path}")], settings)
            statuses.append(results[0].status)
            assert results[0].attempts == 1
        return statuses

    assert run_async(main()) == [Status.OK, Status.OK]
    assert server.requests == 3


def test_idle_connection_dropped_by_server_within_one_run(closing_idle: _ClosingIdleServer) -> None:
    """Within one run, a pooled connection closed by the server is replaced without a failed attempt."""
    server = closing_idle
    base = f"http://127.0.0.1:{server.port}"

    async def main() -> list[tuple[Status, int]]:
        from linkaudit.check.fetch import Fetcher
        from linkaudit.check.hosts import HostGates, NetworkState
        from linkaudit.check.transport import HostRouter

        settings = make_settings(host_concurrency=1)
        router = HostRouter(settings)
        async with httpx.AsyncClient(transport=router) as client:
            fetcher = Fetcher(
                client=client, router=router, settings=settings, gates=HostGates(settings), network=NetworkState()
            )
            out = []
            for path in ("/a", "/b", "/c"):
                reply = await fetcher.request("HEAD", f"{base}{path}")
                out.append((Status.OK if reply.status == 200 else Status.ERROR, reply.attempts))
                await asyncio.sleep(0.15)  # the server has closed the connection by now
            return out

    assert run_async(main()) == [(Status.OK, 1)] * 3
    assert server.connections == 3


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org",
        "http://Example.ORG/Path?q=1#frag",
        "https://example.org:443/a/b/",
        "http://example.org:8080/x?y=z&w=%20",
        "http://example.org?only=query",
        "https://example.org/with space/and\"quote",
        "https://bücher.example/straße?ä=ö",
        "http://[::1]:8080/v6",
        "http://example.org/%zz/bad-escape",
        "http://example.org:80/default-port",
    ],
)
def test_request_target_matches_httpx(url: str) -> None:
    """The direct path sends exactly the scheme, host, port and target httpx would."""
    parsed = httpx.URL(url)
    assert request_target(url) == (parsed.raw_scheme, parsed.raw_host, parsed.port, parsed.raw_path)


def test_request_target_rejects_what_httpx_rejects() -> None:
    """Other schemes and host-less URLs raise httpx's own exceptions."""
    with pytest.raises(httpx.UnsupportedProtocol):
        request_target("ftp://example.org/x")
    with pytest.raises((httpx.InvalidURL, httpx.UnsupportedProtocol)):
        request_target("http:///nohost")


def test_backend_resolves_each_host_once(origin: Server) -> None:
    """Name resolution is cached per (host, port) for the run."""

    async def main() -> int:
        backend = AsyncioBackend()
        calls = 0
        loop = asyncio.get_running_loop()
        real = loop.getaddrinfo

        async def counting(*args: object, **kwargs: object) -> object:
            nonlocal calls
            calls += 1
            return await real(*args, **kwargs)  # type: ignore[arg-type]

        loop.getaddrinfo = counting  # type: ignore[method-assign]
        for _ in range(3):
            stream = await backend.connect_tcp("localhost", origin.port, timeout=5)
            await stream.aclose()
        return calls

    assert run_async(main()) == 1


def test_event_loop_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """``asyncio`` gives asyncio's loop; ``uvloop`` without uvloop installed is a configuration error."""
    loop = new_event_loop("asyncio")
    try:
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    with pytest.raises(ConfigError, match="uvloop is not installed"):
        new_event_loop("uvloop")
    loop = new_event_loop("auto")  # falls back quietly
    try:
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()


def test_checks_run_on_uvloop(origin: Server) -> None:
    """The checker works on uvloop (the ``fast`` extra) when it is installed."""
    pytest.importorskip("uvloop")
    loop = new_event_loop("uvloop")
    assert "uvloop" in type(loop).__module__
    url, missing = f"{origin.url}/status/200", f"{origin.url}/status/404"
    from linkaudit.check import check_links

    try:
        results = loop.run_until_complete(check_links([make_link(url), make_link(missing)], make_settings()))
    finally:
        loop.close()
    assert [r.status for r in results] == [Status.OK, Status.BROKEN]
