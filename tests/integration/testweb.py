"""A small simulated web for the checker's tests: real servers on 127.0.0.1, never mocks.

One background thread runs an asyncio loop hosting every server of a test
session.  ``Server`` is a minimal HTTP/1.1 server (keep-alive, HEAD, optional
TLS) around an ``App``; it counts requests and the peak number in flight, and
logs each request (method, path, headers) for assertions.

Apps:
- ``Origin``: ``/status/<code>``, ``/redirect/<code>?to=URL``, ``/chain/<n>``,
  ``/loop``, ``/slow?delay=S``, ``/flaky/<n>?id=X`` (503 n times, then 200),
  ``/ratelimit?after=S&times=N&mode=seconds|date|reset``, ``/no-head``,
  ``/head-lies`` (HEAD 404, GET 200), ``/drop`` and ``/drop/<n>`` (close the
  connection without an answer), ``/page`` and ``/page/``, ``/to-https``
  (a plain-HTTP request is sent to the same path over HTTPS), ``/drip`` (HEAD
  refused; GET answers 200 and then drips its body for ten seconds).
- ``FakeGitHubAPI``: REST ``/repos/o/r`` (renamed: 301 to
  ``/repositories/<id>``; disabled: 403 with ``block``), an optional
  unauthenticated budget with ``x-ratelimit-*`` headers, ``/graphql`` parsing
  the aliased query; it records every Authorization header it receives.
- ``FakeGitHubWeb``: github.com pages (404 missing, 301 renamed, 451 disabled,
  paths inside repositories, owner pages).
- ``FakeDoi``: doi.org's ``/api/handles/<doi>``; ``FakeCrossref``: ``/works/<doi>``.
- ``VirtualHosts``: one TLS server answering several names by ``Host`` header.
- ``Proxy``: an HTTP forward proxy (CONNECT tunnels and absolute-form requests)
  whose name table maps public names to local servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import os
import re
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Request:
    """What a test server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    server: Server

    @property
    def host(self) -> str:
        """The Host header without a port."""
        return self.headers.get("host", "").rsplit(":", 1)[0].strip("[]")

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """What a test server answers."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drip: float = 0.0
    """Send the body 64 bytes at a time, this many seconds apart (a slow-drip server)."""

    @classmethod
    def of_json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
        """A JSON answer."""
        return cls(status, {"content-type": "application/json", **(headers or {})}, json.dumps(data).encode())


DROP = Response(-1)
"""Close the connection without answering."""

App = Callable[[Request], Awaitable[Response]]


async def stop_listening(server: asyncio.base_events.Server) -> None:
    """``server.close()``, without leaking the connections it is accepting at that moment.

    On Python 3.11 a connection already accepted, whose transport is not made
    yet (that takes one more step of the loop), fails in ``Server._attach``
    once the server is closed; asyncio drops the error and the socket with
    it, unclosed, and the garbage collector's ResourceWarning then fails some
    later test.  A test that connects and leaves at once races its server's
    stop this way.  So: stop accepting, let the accepts under way make their
    transports, refuse what the kernel queued since, and only then close.
    """
    loop = asyncio.get_running_loop()
    sockets = list(server.sockets)
    for sock in sockets:
        loop.remove_reader(sock.fileno())
    for _ in range(2):
        await asyncio.sleep(0)
    for sock in sockets:
        with socket.socket(fileno=os.dup(sock.fileno())) as listener:
            listener.setblocking(False)
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:  # BlockingIOError: nothing queued
                    break
                conn.close()
    server.close()


class Connections:
    """The connections a test server accepted or opened, so that stopping it ends every one.

    Python 3.11's ``Server.close`` stops listening but leaves accepted
    connections open, and ``wait_closed`` returns at once; a handler that
    starts after the stop, or a half-closed connection nobody closes, would
    be left for the garbage collector, whose ResourceWarning then fails
    whichever later test it happens to run in.
    """

    def __init__(self) -> None:
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = False

    def _track(self, *writers: asyncio.StreamWriter) -> bool:
        """Register the running handler and its writers; False (and the writers aborted) once stopped."""
        if self._stopped:
            for writer in writers:
                writer.transport.abort()
            return False
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._writers.update(writers)
        return True

    async def _end_connections(self) -> None:
        self._stopped = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=1.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for _ in range(3):
            await asyncio.sleep(0)  # the aborted transports' connection_lost callbacks


class Server(Connections):
    """One listening socket serving an ``App`` over HTTP/1.1 (optionally TLS)."""

    def __init__(self, app: App, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.app = app
        self.host = host
        self.tls = tls
        self.port = 0
        self.in_flight = 0
        self.peak = 0
        self.requests = 0
        self.log: list[Request] = []
        self.counts: Counter[str] = Counter()
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:41234``."""
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def seen(self, method: str | None = None, path_prefix: str = "") -> list[Request]:
        """Logged requests, filtered by method and path prefix."""
        return [
            r for r in self.log if (method is None or r.method == method) and r.path.startswith(path_prefix)
        ]

    def reset_stats(self) -> None:
        """Forget the log and counters."""
        self.log.clear()
        self.counts.clear()
        self.requests = self.peak = 0

    async def start(self) -> None:
        """Listen on an ephemeral port."""
        self._server = await asyncio.start_server(self._handle, self.host, 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop open connections."""
        if self._server is not None:
            await stop_listening(self._server)
            await self._end_connections()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._track(writer):
            return
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                if "://" in target:  # absolute-form (through a forward proxy)
                    parts = urlsplit(target)
                    target = parts.path + (f"?{parts.query}" if parts.query else "")
                parts = urlsplit(target)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                request = Request(method, unquote(parts.path), query, headers, body, self)
                self.log.append(request)
                self.requests += 1
                self.counts[f"{method} {request.path}"] += 1
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                try:
                    response = await self.app(request)
                finally:
                    self.in_flight -= 1
                if response is DROP or response.status < 0:
                    writer.transport.abort()
                    return
                out = [f"HTTP/1.1 {response.status} X"]
                sent = {k.lower() for k in response.headers}
                for name, value in response.headers.items():
                    out.append(f"{name}: {value}")
                if "content-length" not in sent:
                    out.append(f"content-length: {len(response.body)}")
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
                if method != "HEAD" and response.body and response.drip:
                    for i in range(0, len(response.body), 64):
                        writer.write(response.body[i : i + 64])
                        await writer.drain()
                        await asyncio.sleep(response.drip)
                elif method != "HEAD" and response.body:
                    writer.write(response.body)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


class TestWeb:
    """The background loop that runs the servers of a test session."""

    __test__ = False  # not a test class

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="testweb", daemon=True)
        self._thread.start()
        self._servers: list[Server] = []

    def call(self, coro: Awaitable[Any]) -> Any:
        """Run a coroutine on the server loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    def serve(self, app: App, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Server:
        """Start a server for ``app``."""
        server = Server(app, host=host, tls=tls)
        self.call(server.start())
        self._servers.append(server)
        return server

    def stop_all(self) -> None:
        """Stop every server started so far (between tests)."""
        servers, self._servers = self._servers, []
        for server in servers:
            self.call(server.stop())

    def close(self) -> None:
        """Stop the servers, cancel the handlers still waiting (a /slow answer), then stop the loop."""
        self.stop_all()

        async def cancel_pending() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.call(cancel_pending())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


# -- apps -------------------------------------------------------------------------------------------


class Origin:
    """A generic web origin whose paths choose the answer."""

    def __init__(self) -> None:
        self.failures: Counter[str] = Counter()

    async def __call__(self, req: Request) -> Response:
        """Route one request."""
        parts = [p for p in req.path.split("/") if p]
        head = parts[0] if parts else ""
        if head == "status" and len(parts) == 2:
            code = int(parts[1])
            body = b"" if code in (204, 304) else b"<html>status</html>"
            return Response(code, {"content-type": "text/html"}, body)
        if head == "redirect" and len(parts) == 2:
            return Response(int(parts[1]), {"location": req.query.get("to", "/status/200")})
        if head == "chain" and len(parts) == 2:
            n = int(parts[1])
            code = req.query.get("code", "302")
            if n <= 0:
                return Response(200)
            return Response(int(code), {"location": f"/chain/{n - 1}?code={code}"})
        if head == "loop":
            return Response(302, {"location": "/loop"})
        if head == "slow":
            await asyncio.sleep(float(req.query.get("delay", "0.2")))
            return Response(200, body=b"slow")
        if head == "flaky" and len(parts) == 2:
            key = f"flaky:{req.query.get('id', '')}:{parts[1]}"
            if self.failures[key] < int(parts[1]):
                self.failures[key] += 1
                return Response(int(req.query.get("code", "503")))
            return Response(200)
        if head == "ratelimit":
            key = f"rl:{req.query.get('id', '')}"
            after = float(req.query.get("after", "1"))
            if self.failures[key] < int(req.query.get("times", "1")):
                self.failures[key] += 1
                mode = req.query.get("mode", "seconds")
                if mode == "date":
                    value = email.utils.formatdate(time.time() + after, usegmt=True)
                    return Response(429, {"retry-after": value})
                if mode == "reset":
                    return Response(
                        429,
                        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time() + after))},
                    )
                if mode == "none":
                    return Response(429)
                return Response(429, {"retry-after": str(int(after))})
            return Response(200)
        if head == "no-head":
            return Response(405 if req.method == "HEAD" else 200)
        if head == "head-lies":
            return Response(404 if req.method == "HEAD" else 200)
        if head == "get-only-404":
            return Response(403 if req.method == "HEAD" else 404)
        if head == "drop":
            if len(parts) == 2:
                key = f"drop:{req.query.get('id', '')}"
                if self.failures[key] < int(parts[1]):
                    self.failures[key] += 1
                    return DROP
                return Response(200)
            return DROP
        if head == "drip":
            if req.method == "HEAD":
                return Response(405)
            return Response(200, {"content-type": "text/html"}, b"x" * 64 * 100, drip=0.1)
        if head == "to-https":
            if req.server.tls is None:
                return Response(301, {"location": f"https://{req.headers.get('host', '')}{req.path}"})
            return Response(200)
        if head == "page":
            if req.path.endswith("/"):
                return Response(200)
            return Response(301, {"location": req.path + "/"})
        return Response(404, body=b"not found")


@dataclass
class Repo:
    """A repository of the fake GitHub."""

    full_name: str
    id: int
    archived: bool = False
    disabled: bool = False
    empty: bool = False
    stars: int = 42
    pushed_at: str = "2024-01-02T03:04:05Z"
    paths: tuple[str, ...] = ("/tree/main", "/blob/main/README.md")


class FakeGitHub:
    """State shared by the fake GitHub API and the fake github.com."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.renames: dict[str, str] = {}
        self.owners: set[str] = set()
        self.rest_budget: int | None = None
        self.rest_reset_in = 3600.0
        self.graphql_queries = 0
        self.graphql_aliases: list[int] = []
        self.graphql_status: list[int] = []
        """Statuses to answer the next GraphQL queries with (then normal answers)."""
        self.graphql_retry_after = "1"
        self.web_status: dict[str, int] = {}
        self.authorizations: list[tuple[str, str]] = []
        self.not_modified = 0
        """REST requests answered 304 (a matching If-None-Match)."""
        self._ids = 1000

    def add(self, name: str, **kwargs: Any) -> Repo:
        """Add a repository ``owner/name``."""
        self._ids += 1
        repo = Repo(name, self._ids, **kwargs)
        self.repos[name.lower()] = repo
        self.owners.add(name.split("/")[0].lower())
        return repo

    def rename(self, old: str, new: str) -> None:
        """``old`` now redirects to the existing repository ``new``."""
        self.renames[old.lower()] = new.lower()

    def _resolve(self, slug: str) -> Repo | None:
        slug = slug.lower()
        slug = self.renames.get(slug, slug)
        return self.repos.get(slug)

    def _etag(self, repo: Repo) -> str:
        return f'W/"{repo.id}-{repo.archived}-{repo.stars}-{repo.pushed_at}"'

    def _rest_json(self, repo: Repo) -> dict[str, Any]:
        return {
            "id": repo.id,
            "full_name": repo.full_name,
            "archived": repo.archived,
            "disabled": repo.disabled,
            "stargazers_count": repo.stars,
            "pushed_at": repo.pushed_at,
            "size": 0 if repo.empty else 1234,
        }

    async def api(self, req: Request) -> Response:
        """The REST + GraphQL API."""
        self.authorizations.append((req.path, req.headers.get("authorization", "")))
        if req.path == "/graphql" and req.method == "POST":
            return self._graphql(req)
        headers: dict[str, str] = {}
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)", req.path)
        known = self.repos.get(f"{m.group(1)}/{m.group(2)}".lower()) if m else None
        if known is not None and req.headers.get("if-none-match") == self._etag(known):
            self.not_modified += 1  # like GitHub: a 304 costs no rate-limit budget
            return Response(304, {"etag": self._etag(known)})
        if self.rest_budget is not None and not req.headers.get("authorization"):
            reset = str(int(time.time() + self.rest_reset_in))
            if self.rest_budget <= 0:
                return Response.of_json(
                    403,
                    {"message": "API rate limit exceeded"},
                    {"x-ratelimit-remaining": "0", "x-ratelimit-limit": "60", "x-ratelimit-reset": reset},
                )
            self.rest_budget -= 1
            headers = {"x-ratelimit-remaining": str(self.rest_budget), "x-ratelimit-reset": reset}
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)", req.path)
        if m:
            slug = f"{m.group(1)}/{m.group(2)}".lower()
            if slug in self.renames and self.renames[slug] in self.repos:
                repo = self.repos[self.renames[slug]]
                return Response.of_json(
                    301, {"message": "Moved Permanently"}, {**headers, "location": f"/repositories/{repo.id}"}
                )
            repo = self.repos.get(slug)
            if repo is None:
                return Response.of_json(404, {"message": "Not Found"}, headers)
            if repo.disabled:
                return Response.of_json(403, {"message": "Repository access blocked", "block": {}}, headers)
            return Response.of_json(200, self._rest_json(repo), {**headers, "etag": self._etag(repo)})
        m = re.fullmatch(r"/repositories/(\d+)", req.path)
        if m:
            for repo in self.repos.values():
                if repo.id == int(m.group(1)):
                    return Response.of_json(200, self._rest_json(repo), headers)
        return Response.of_json(404, {"message": "Not Found"}, headers)

    def _graphql(self, req: Request) -> Response:
        self.graphql_queries += 1
        if not req.headers.get("authorization", "").lower().startswith("bearer "):
            return Response.of_json(401, {"message": "This endpoint requires you to be authenticated."})
        if self.graphql_status:
            status = self.graphql_status.pop(0)
            return Response.of_json(
                status,
                {"message": "You have exceeded a secondary rate limit."},
                {"retry-after": self.graphql_retry_after},
            )
        query = req.json()["query"]
        found = re.findall(
            r'(\w+): repository\(owner: ("(?:[^"\\]|\\.)*"), name: ("(?:[^"\\]|\\.)*")\)', query
        )
        self.graphql_aliases.append(len(found))
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for alias, owner, name in found:
            slug = f"{json.loads(owner)}/{json.loads(name)}"
            repo = self._resolve(slug)
            if repo is None:
                data[alias] = None
                errors.append(
                    {
                        "type": "NOT_FOUND",
                        "path": [alias],
                        "message": f"Could not resolve to a Repository with the name '{slug}'.",
                    }
                )
                continue
            data[alias] = {
                "nameWithOwner": repo.full_name,
                "isArchived": repo.archived,
                "isDisabled": repo.disabled,
                "isEmpty": repo.empty,
                "stargazerCount": repo.stars,
                "pushedAt": repo.pushed_at,
            }
        body: dict[str, Any] = {"data": data}
        if errors:
            body["errors"] = errors
        return Response.of_json(200, body, {"x-ratelimit-remaining": "4999"})

    async def web(self, req: Request) -> Response:
        """github.com pages."""
        parts = [p for p in req.path.split("/") if p]
        if req.path in self.web_status:
            return Response(self.web_status[req.path])
        if len(parts) == 1:
            return Response(200 if parts[0].lower() in self.owners else 404)
        if len(parts) >= 2:
            slug = f"{parts[0]}/{parts[1]}".lower()
            rest = "/" + "/".join(parts[2:]) if len(parts) > 2 else ""
            if slug in self.renames and self.renames[slug] in self.repos:
                new = self.repos[self.renames[slug]].full_name
                return Response(301, {"location": f"/{new}{rest}"})
            repo = self.repos.get(slug)
            if repo is None:
                return Response(404)
            if repo.disabled:
                return Response(451)
            if rest and not any(rest == p or rest.startswith(p + "/") for p in repo.paths):
                return Response(404)
            return Response(200, {"content-type": "text/html"}, b"<html>repo</html>")
        return Response(200)


class FakeDoi:
    """doi.org's handle API."""

    def __init__(self) -> None:
        self.registered: dict[str, str] = {}
        self.paths: list[str] = []

    async def __call__(self, req: Request) -> Response:
        """``/api/handles/<doi>``."""
        self.paths.append(req.path)
        prefix = "/api/handles/"
        if not req.path.startswith(prefix):
            return Response(404, body=b"<html>no such page</html>")
        doi = req.path[len(prefix) :]
        target = self.registered.get(doi.lower())
        if target is None:
            return Response.of_json(404, {"responseCode": 100, "handle": doi})
        return Response.of_json(
            200,
            {
                "responseCode": 1,
                "handle": doi,
                "values": [{"index": 1, "type": "URL", "data": {"format": "string", "value": target}}],
            },
        )


class FakeCrossref:
    """api.crossref.org's ``/works/<doi>`` and ``/works?filter=doi:A,doi:B,...`` (the works it lists: ``titles``)."""

    def __init__(self) -> None:
        self.titles: dict[str, str] = {}
        self.targets: dict[str, str] = {}
        self.queries: list[dict[str, str]] = []
        self.agents: list[str] = []
        self.batches: list[list[str]] = []
        """The DOIs of each list query, as asked."""
        self.list_status: int | None = None
        """Answer list queries with this status (and no items) instead."""

    async def __call__(self, req: Request) -> Response:
        """``/works/<doi>``, or a list query on ``/works``."""
        self.queries.append(req.query)
        self.agents.append(req.headers.get("user-agent", ""))
        if req.path.rstrip("/") == "/works":
            return self._list(req)
        doi = req.path.removeprefix("/works/").lower()
        title = self.titles.get(doi)
        if title is None:
            return Response(404, {"content-type": "text/plain"}, b"Resource not found.")
        return Response.of_json(200, {"status": "ok", "message": {"DOI": doi, "title": [title]}})

    def _list(self, req: Request) -> Response:
        asked = [f.removeprefix("doi:") for f in req.query.get("filter", "").split(",") if f.startswith("doi:")]
        self.batches.append(asked)
        if self.list_status is not None:
            return Response.of_json(self.list_status, {"status": "error", "message": []})
        items = []
        for doi in asked[: int(req.query.get("rows", "20"))]:
            title = self.titles.get(doi.lower())
            if title is not None:  # Crossref answers with the DOI lower-cased
                item: dict[str, Any] = {"DOI": doi.lower(), "title": [title]}
                if doi.lower() in self.targets:
                    item["resource"] = {"primary": {"URL": self.targets[doi.lower()]}}
                items.append(item)
        return Response.of_json(200, {"status": "ok", "message-type": "work-list",
                                      "message": {"total-results": len(items), "items": items}})


class VirtualHosts:
    """Dispatches on the Host header: one TLS server answering for several public names."""

    def __init__(self, apps: dict[str, App], default: App | None = None) -> None:
        self.apps = apps
        self.default = default
        self.log: list[tuple[str, str, str]] = []
        """(host, path, authorization) per request."""

    async def __call__(self, req: Request) -> Response:
        """Route by host."""
        self.log.append((req.host, req.path, req.headers.get("authorization", "")))
        app = self.apps.get(req.host, self.default)
        if app is None:
            return Response(421)
        return await app(req)


class Proxy(Connections):
    """An HTTP forward proxy: CONNECT tunnels and absolute-form requests, to names in its table only."""

    def __init__(self, routes: dict[str, tuple[str, int]]) -> None:
        super().__init__()
        self.routes = routes
        self.connects: list[str] = []
        self.forwards: list[str] = []
        self.port = 0
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on an ephemeral port."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and end the tunnels still open (both of their sides)."""
        if self._server is not None:
            await stop_listening(self._server)
            await self._end_connections()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._track(writer):
            return
        up_writer: asyncio.StreamWriter | None = None
        try:
            up_writer = await self._tunnel(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            for side in (writer, up_writer):
                if side is not None:
                    with contextlib.suppress(Exception):
                        side.close()

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> asyncio.StreamWriter | None:
        """Answer one proxy request; the upstream writer, once there is one."""
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.decode("latin-1").split("\r\n", 1)[0].split(" ", 2)
        if method == "CONNECT":
            self.connects.append(target)
            host, _, port = target.rpartition(":")
            address = self.routes.get(f"{host}:{port}")
        else:
            parts = urlsplit(target)
            self.forwards.append(target)
            address = self.routes.get(f"{parts.hostname}:{parts.port or 80}")
        if address is not None:
            try:
                up_reader, up_writer = await asyncio.open_connection(*address)
            except OSError:
                address = None
        if address is None:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            await writer.drain()
            return None
        if not self._track(up_writer):
            return up_writer
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            up_writer.write(head)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        return up_writer
