"""The simulated web itself: a server stopped while it is accepting connections leaks none of them."""

from __future__ import annotations

import asyncio
import gc
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from testweb import Origin, Server, TestWeb, stop_listening


@pytest.fixture()
def unraisable(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """What the garbage collector reports while the test runs (an unclosed socket's ResourceWarning)."""
    seen: list[Any] = []
    gc.collect()
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    yield seen


def _connect_while_blocked(testweb: TestWeb, server: Server, stop: Callable[[], Any]) -> None:
    """Connect three clients while the server's loop is busy, then stop it right after it accepted them."""

    async def busy_then_stop() -> None:
        time.sleep(0.3)  # blocks the loop: the clients' connections queue in the kernel
        await asyncio.sleep(0)  # resumes before the loop's next select...
        await asyncio.sleep(0)  # ...this one after it, and after the accept it found due
        await stop()  # the accepted connections' transports are not made yet

    future = asyncio.run_coroutine_threadsafe(busy_then_stop(), testweb.loop)
    clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    for client in clients:
        client.close()
    future.result(10)
    testweb.call(asyncio.sleep(0.05))  # the aborted connections' callbacks


def test_a_server_stopped_mid_accept_leaks_no_connection(testweb: TestWeb, unraisable: list[Any]) -> None:
    server = Server(Origin())
    testweb.call(server.start())
    _connect_while_blocked(testweb, server, server.stop)
    gc.collect()
    assert [str(u.exc_value) for u in unraisable] == []


def test_stop_listening_refuses_what_it_did_not_accept(testweb: TestWeb, unraisable: list[Any]) -> None:
    """Without a handler of its own to close them: the connections are still closed, none left behind."""
    accepted: list[asyncio.StreamWriter] = []

    async def keep(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    async def start() -> asyncio.base_events.Server:
        return await asyncio.start_server(keep, "127.0.0.1", 0)

    listener = testweb.call(start())
    server = Server(Origin())
    server.port = listener.sockets[0].getsockname()[1]

    async def stop() -> None:
        await stop_listening(listener)
        await asyncio.sleep(0.05)  # the handlers of the connections it did accept have run
        for writer in accepted:
            writer.close()

    _connect_while_blocked(testweb, server, stop)
    gc.collect()
    assert [str(u.exc_value) for u in unraisable] == []
