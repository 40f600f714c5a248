"""GitHub benchmark: API requests and rate-limit points that ``linkaudit audit`` spends on 1,000 repositories.

Starts a fake GitHub on loopback, with the API and the web site on two
addresses (so a token sent to the web site shows up as a leak):

* REST ``GET /repos/{owner}/{repo}`` (and ``/repositories/{id}``, where a
  renamed repository's 301 points), with ``x-ratelimit-*`` headers and a budget
  of 60 requests unauthenticated (5,000 with a token); past it, 403 "API rate
  limit exceeded" with the reset an hour away;
* GraphQL ``POST /graphql`` (a token is required, as on GitHub) accepting
  aliased ``repository(owner:, name:)`` fields, fragments and variables, and
  ``rateLimit``; a missing repository is ``null`` plus a ``NOT_FOUND`` error;
  a renamed one resolves to its new ``nameWithOwner``; 1 point per query;
* the web pages ``/{owner}/{repo}`` (200, 404 missing, 301 renamed).

Then it writes a catalog of N ``https://github.com/owner/repo`` links (checked
with ``linkaudit extract``), a config.yaml pointing ``github.api``,
``github.graphql`` and ``github.web`` at the fake, and runs ``linkaudit audit``
twice: with ``GITHUB_TOKEN`` set and without.  It prints requests per kind,
points spent, both per 100 repositories, the statuses found against the ones
planted, wall time, CPU and peak RSS.

    .venv/bin/python bench/github.py
    .venv/bin/python bench/github.py --repos 5000 --latency 0.1
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from harness import (
    LINKAUDIT,
    OUT,
    Measured,
    ToolMissing,
    clean_env,
    fail,
    fmt,
    format_table,
    machine,
    require_linkaudit,
    run_measured,
    tool_version,
    write_verified_catalog,
)

PROG = "bench/github.py"
UNAUTHENTICATED_LIMIT = 60
TOKEN_LIMIT = 5000
GRAPHQL_LIMIT = 5000
TOKEN = "ghp_bench0000000000000000000000000000000"


# -- the repositories ---------------------------------------------------------------

@dataclass
class Repo:
    id: int
    owner: str
    name: str
    archived: bool = False
    missing: bool = False
    renamed_to: tuple[str, str] | None = None
    stars: int = 0

    @property
    def current(self) -> tuple[str, str]:
        return self.renamed_to or (self.owner, self.name)


def plant_repos(count: int, *, missing: float, archived: float, renamed: float, seed: int) -> list[Repo]:
    """``count`` repositories, a seeded share of them missing, archived or renamed."""
    rng = random.Random(seed)
    repos = [Repo(id=100_000 + i, owner=f"bench-org-{i % 97}", name=f"repo-{i}", stars=rng.randrange(5000))
             for i in range(count)]
    order = list(range(count))
    rng.shuffle(order)
    n_missing, n_archived, n_renamed = (round(count * share) for share in (missing, archived, renamed))
    for i in order[:n_missing]:
        repos[i].missing = True
    for i in order[n_missing : n_missing + n_archived]:
        repos[i].archived = True
    for i in order[n_missing + n_archived : n_missing + n_archived + n_renamed]:
        repos[i].renamed_to = (repos[i].owner, f"{repos[i].name}-renamed")
    return repos


# -- a minimal GraphQL reader (enough for aliased repository lookups) -----------------------

_TOKEN = re.compile(
    r'(?P<skip>[\s,\ufeff]+|#[^\n]*)|(?P<block>"""(?:[^"\\]|\\.|"(?!""))*""")|(?P<string>"(?:[^"\\\n]|\\.)*")'
    r"|(?P<spread>\.\.\.)|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<name>[_A-Za-z][_0-9A-Za-z]*)"
    r"|(?P<punct>[!$&()\:=@\[\]{}|])"
)


class GraphQLError(Exception):
    pass


@dataclass
class Field:
    alias: str
    name: str
    args: dict[str, Any]
    selections: list[Any] = field(default_factory=list)


@dataclass
class Spread:
    fragment: str | None  # a named fragment, or None for an inline fragment
    selections: list[Any] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str, variables: dict[str, Any]) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise GraphQLError(f"Syntax Error: unexpected character {text[pos]!r}")
            pos = m.end()
            kind = m.lastgroup or ""
            if kind != "skip":
                self.tokens.append((kind, m.group()))
        self.i = 0
        self.variables = variables

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("eof", "")

    def take(self, value: str | None = None) -> str:
        kind, text = self.peek()
        if kind == "eof" or (value is not None and text != value):
            raise GraphQLError(f"Syntax Error: expected {value or 'a token'}, found {text or 'end of query'}")
        self.i += 1
        return text

    def document(self) -> tuple[list[Any], dict[str, list[Any]]]:
        operation: list[Any] | None = None
        fragments: dict[str, list[Any]] = {}
        while self.peek()[0] != "eof":
            text = self.peek()[1]
            if text == "fragment":
                self.take()
                name = self.take()
                self.take("on")
                self.take()
                fragments[name] = self.selection_set()
            elif text == "{":
                operation = self.selection_set()
            elif text in ("query", "mutation", "subscription"):
                self.take()
                if self.peek()[0] == "name":
                    self.take()
                if self.peek()[1] == "(":
                    self.skip_group("(", ")")
                self.directives()
                operation = self.selection_set()
            else:
                raise GraphQLError(f"Syntax Error: unexpected {text!r}")
        if operation is None:
            raise GraphQLError("no operation in the query")
        return operation, fragments

    def skip_group(self, open_: str, close: str) -> None:
        depth = 0
        while True:
            text = self.take()
            depth += text == open_
            depth -= text == close
            if depth == 0:
                return

    def directives(self) -> None:
        while self.peek()[1] == "@":
            self.take()
            self.take()
            if self.peek()[1] == "(":
                self.skip_group("(", ")")

    def selection_set(self) -> list[Any]:
        self.take("{")
        selections: list[Any] = []
        while self.peek()[1] != "}":
            if self.peek()[0] == "spread":
                self.take()
                if self.peek()[1] == "on":
                    self.take()
                    self.take()
                    selections.append(Spread(None, self.selection_set()))
                elif self.peek()[1] == "{":
                    selections.append(Spread(None, self.selection_set()))
                else:
                    selections.append(Spread(self.take()))
                    self.directives()
                continue
            alias = name = self.take()
            if self.peek()[1] == ":":
                self.take()
                name = self.take()
            args: dict[str, Any] = {}
            if self.peek()[1] == "(":
                self.take()
                while self.peek()[1] != ")":
                    key = self.take()
                    self.take(":")
                    args[key] = self.value()
                self.take(")")
            self.directives()
            subs = self.selection_set() if self.peek()[1] == "{" else []
            selections.append(Field(alias, name, args, subs))
        self.take("}")
        return selections

    def value(self) -> Any:
        kind, text = self.peek()
        if text == "$":
            self.take()
            return self.variables.get(self.take())
        if kind == "string":
            self.take()
            return json.loads(text)
        if kind == "block":
            self.take()
            return text[3:-3]
        if kind == "number":
            self.take()
            return float(text) if any(c in text for c in ".eE") else int(text)
        if text == "[":
            self.take()
            items = []
            while self.peek()[1] != "]":
                items.append(self.value())
            self.take("]")
            return items
        if text == "{":
            self.take()
            obj = {}
            while self.peek()[1] != "}":
                key = self.take()
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        self.take()
        return {"true": True, "false": False, "null": None}.get(text, text)


def _flatten(selections: list[Any], fragments: dict[str, list[Any]]) -> list[Field]:
    out: list[Field] = []
    for sel in selections:
        if isinstance(sel, Spread):
            body = sel.selections if sel.fragment is None else fragments.get(sel.fragment, [])
            out.extend(_flatten(body, fragments))
        else:
            out.append(sel)
    return out


def _resolve(obj: dict[str, Any] | None, selections: list[Any], fragments: dict[str, list[Any]]) -> Any:
    if obj is None:
        return None
    result: dict[str, Any] = {}
    for f in _flatten(selections, fragments):
        value = obj.get(f.name)
        if f.selections and isinstance(value, dict):
            value = _resolve(value, f.selections, fragments)
        elif f.selections and isinstance(value, list):
            value = [_resolve(v, f.selections, fragments) for v in value]
        result[f.alias] = value
    return result


# -- the fake GitHub -----------------------------------------------------------------

@dataclass
class GitHubStats:
    rest: int = 0
    rest_limited: int = 0
    graphql: int = 0
    graphql_nodes: int = 0
    graphql_unauthenticated: int = 0
    points_rest: int = 0
    points_graphql: int = 0
    web: int = 0
    web_methods: Counter[str] = field(default_factory=Counter)
    other: int = 0
    token_to_web: int = 0
    peak_in_flight: int = 0


class FakeGitHub:
    """The API on ``api_address`` and the web pages on ``web_address``, one port, threads, a time limit."""

    def __init__(self, repos: list[Repo], *, latency: float, time_limit: float,
                 api_address: str = "127.0.0.2", web_address: str = "127.0.0.3") -> None:
        self.repos = repos
        self.by_name = {(r.owner.lower(), r.name.lower()): r for r in repos}
        self.by_name.update({(r.renamed_to[0].lower(), r.renamed_to[1].lower()): r for r in repos if r.renamed_to})
        self.by_id = {r.id: r for r in repos}
        self.latency = latency
        self.time_limit = time_limit
        self.addresses = (api_address, web_address)
        self.lock = threading.Lock()
        self.reset()
        self.servers: list[ThreadingHTTPServer] = []
        self.port = 0

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.stats = GitHubStats()
            self.in_flight = 0
            self.budgets: dict[str, int] = {}  # per token ("" = unauthenticated): REST requests used
            self.graphql_used: dict[str, int] = {}
            self.reset_at = int(time.time()) + 3600

    @property
    def api(self) -> str:
        return f"http://{self.addresses[0]}:{self.port}"

    @property
    def web(self) -> str:
        return f"http://{self.addresses[1]}:{self.port}"

    def start(self) -> FakeGitHub:
        handler = _make_handler(self)
        for address in self.addresses:
            server = ThreadingHTTPServer((address, self.port), handler)
            server.daemon_threads = True
            self.port = server.server_address[1]
            self.servers.append(server)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        timer = threading.Timer(self.time_limit, self.stop)
        timer.daemon = True
        timer.start()
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
        self.servers = []

    def __enter__(self) -> FakeGitHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # the API ------------------------------------------------------------------------
    def rest_repo(self, repo: Repo) -> dict[str, Any]:
        owner, name = repo.current
        return {
            "id": repo.id, "node_id": f"R_{repo.id}", "name": name, "full_name": f"{owner}/{name}",
            "owner": {"login": owner, "type": "Organization"}, "private": False,
            "html_url": f"https://github.com/{owner}/{name}", "url": f"{self.api}/repos/{owner}/{name}",
            "fork": False, "archived": repo.archived, "disabled": False, "size": 1024,
            "stargazers_count": repo.stars, "pushed_at": "2024-05-01T12:00:00Z", "default_branch": "main",
        }

    def graphql_repo(self, repo: Repo) -> dict[str, Any]:
        owner, name = repo.current
        return {
            "__typename": "Repository", "id": f"R_{repo.id}", "databaseId": repo.id, "name": name,
            "nameWithOwner": f"{owner}/{name}", "owner": {"login": owner, "__typename": "Organization"},
            "url": f"https://github.com/{owner}/{name}", "isArchived": repo.archived, "isDisabled": False,
            "isEmpty": False, "isFork": False, "isPrivate": False, "isLocked": False, "stargazerCount": repo.stars,
            "pushedAt": "2024-05-01T12:00:00Z", "updatedAt": "2024-05-01T12:00:00Z",
            "createdAt": "2020-01-01T00:00:00Z", "description": "bench", "homepageUrl": None,
            "defaultBranchRef": {"name": "main"}, "visibility": "PUBLIC", "forkCount": 0,
        }

    def lookup(self, owner: str, name: str) -> Repo | None:
        repo = self.by_name.get((owner.lower(), name.lower().removesuffix(".git")))
        return None if repo is None or repo.missing else repo

    def graphql(self, body: bytes, token: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        try:
            payload = json.loads(body or b"{}")
            operation, fragments = _Parser(str(payload.get("query", "")), payload.get("variables") or {}).document()
        except (ValueError, GraphQLError, AttributeError) as exc:
            return 200, {"errors": [{"message": str(exc)}]}, {}
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        nodes = 0
        with self.lock:
            used = self.graphql_used.get(token, 0)
            headers = {
                "x-ratelimit-limit": str(GRAPHQL_LIMIT), "x-ratelimit-remaining": str(max(0, GRAPHQL_LIMIT - used - 1)),
                "x-ratelimit-used": str(min(GRAPHQL_LIMIT, used + 1)), "x-ratelimit-reset": str(self.reset_at),
                "x-ratelimit-resource": "graphql",
            }
            if used >= GRAPHQL_LIMIT:
                headers["x-ratelimit-remaining"] = "0"
                return 200, {"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]}, headers
            self.graphql_used[token] = used + 1
            self.stats.points_graphql += 1
            remaining = GRAPHQL_LIMIT - used - 1
        for f in _flatten(operation, fragments):
            if f.name == "repository":
                nodes += 1
                owner, name = str(f.args.get("owner", "")), str(f.args.get("name", ""))
                repo = self.lookup(owner, name)
                if repo is None:
                    data[f.alias] = None
                    errors.append({
                        "type": "NOT_FOUND", "path": [f.alias], "locations": [{"line": 1, "column": 1}],
                        "message": f"Could not resolve to a Repository with the name '{owner}/{name}'.",
                    })
                else:
                    data[f.alias] = _resolve(self.graphql_repo(repo), f.selections, fragments)
            elif f.name == "rateLimit":
                data[f.alias] = _resolve({
                    "cost": 1, "limit": GRAPHQL_LIMIT, "remaining": remaining, "used": GRAPHQL_LIMIT - remaining,
                    "nodeCount": nodes, "resetAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.reset_at)),
                }, f.selections, fragments)
            elif f.name == "viewer":
                data[f.alias] = _resolve({"login": "bench", "__typename": "User"}, f.selections, fragments)
            elif f.name == "__typename":
                data[f.alias] = "Query"
            else:
                data[f.alias] = None
        with self.lock:
            self.stats.graphql_nodes += nodes
        result: dict[str, Any] = {"data": data}
        if errors:
            result["errors"] = errors
        return 200, result, headers


def _make_handler(gh: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "GitHub.com"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self.handle_any()

        def do_HEAD(self) -> None:
            self.handle_any()

        def do_POST(self) -> None:
            self.handle_any()

        def token(self) -> str:
            auth = self.headers.get("Authorization", "")
            scheme, _, value = auth.partition(" ")
            return value.strip() if scheme.lower() in ("bearer", "token") and value.strip() else ""

        def send(self, status: int, body: bytes, headers: dict[str, str], content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def send_json(self, status: int, obj: Any, headers: dict[str, str]) -> None:
            self.send(status, json.dumps(obj).encode(), headers, "application/json; charset=utf-8")

        def handle_any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with gh.lock:
                gh.in_flight += 1
                gh.stats.peak_in_flight = max(gh.stats.peak_in_flight, gh.in_flight)
            try:
                if gh.latency:
                    time.sleep(gh.latency)
                if self.server.server_address[0] == gh.addresses[1]:
                    self.web_page()
                else:
                    self.api(body)
            finally:
                with gh.lock:
                    gh.in_flight -= 1

        def web_page(self) -> None:
            with gh.lock:
                gh.stats.web += 1
                gh.stats.web_methods[self.command] += 1
                gh.stats.token_to_web += bool(self.headers.get("Authorization"))
            parts = [unquote(p) for p in urlsplit(self.path).path.split("/") if p]
            repo = gh.lookup(parts[0], parts[1]) if len(parts) >= 2 else None
            if repo is None:
                self.send(404, b"<html><body>Not Found</body></html>", {}, "text/html; charset=utf-8")
            elif repo.renamed_to and (parts[0], parts[1]) != repo.renamed_to:
                rest = "/".join(parts[2:])
                location = f"{gh.web}/{repo.renamed_to[0]}/{repo.renamed_to[1]}" + (f"/{rest}" if rest else "")
                self.send(301, b"", {"Location": location}, "text/html; charset=utf-8")
            else:
                self.send(200, b"<html><body>a repository</body></html>", {}, "text/html; charset=utf-8")

        def api(self, body: bytes) -> None:
            token = self.token()
            path = urlsplit(self.path).path.rstrip("/")
            if path == "/graphql" and self.command == "POST":
                with gh.lock:
                    gh.stats.graphql += 1
                    gh.stats.graphql_unauthenticated += not token
                if not token:
                    self.send_json(401, {"message": "This endpoint requires you to be authenticated.",
                                         "documentation_url": "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql"},
                                   {})
                    return
                status, result, headers = gh.graphql(body, token)
                self.send_json(status, result, headers)
                return
            self.rest(path, token)

        def rest(self, path: str, token: str) -> None:
            parts = [unquote(p) for p in path.split("/") if p]
            is_repo = (len(parts) == 3 and parts[0] == "repos") or (len(parts) == 2 and parts[0] == "repositories")
            limit = TOKEN_LIMIT if token else UNAUTHENTICATED_LIMIT
            with gh.lock:
                if not is_repo:
                    gh.stats.other += 1
                gh.stats.rest += is_repo
                used = gh.budgets.get(token, 0)
                exhausted = used >= limit
                if exhausted:
                    gh.stats.rest_limited += 1
                else:
                    gh.budgets[token] = used = used + 1
                    gh.stats.points_rest += 1
            headers = {
                "x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(limit - used),
                "x-ratelimit-reset": str(gh.reset_at), "x-ratelimit-used": str(used), "x-ratelimit-resource": "core",
            }
            if exhausted:
                self.send_json(403, {
                    "message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated "
                               "requests get a higher rate limit. Check out the documentation for more details.)",
                    "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
                }, headers)
                return
            repo: Repo | None = None
            if is_repo and parts[0] == "repos":
                repo = gh.lookup(parts[1], parts[2])
                if repo is not None and repo.renamed_to and (parts[1], parts[2]) != repo.renamed_to:
                    url = f"{gh.api}/repositories/{repo.id}"
                    self.send_json(301, {"message": "Moved Permanently", "url": url,
                                         "documentation_url": "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects"},
                                   {**headers, "Location": url})
                    return
            elif is_repo and parts[1].isdigit():
                repo = gh.by_id.get(int(parts[1]))
                repo = None if repo is None or repo.missing else repo
            if repo is None:
                self.send_json(404, {"message": "Not Found",
                                     "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository"},
                               headers)
                return
            self.send_json(200, gh.rest_repo(repo), headers)

    return Handler


# -- the runs -------------------------------------------------------------------------

@dataclass
class Run:
    mode: str
    measured: Measured
    stats: GitHubStats
    statuses: Counter[str]
    archived_seen: int | None
    renamed_seen: int | None


def write_config(path: Path, gh: FakeGitHub) -> None:
    path.write_text(
        "# written by bench/github.py: the GitHub endpoints point at its fake GitHub on loopback\n"
        "allow_private_hosts: true\n"
        "github:\n"
        f"  api: {gh.api}\n"
        f"  graphql: {gh.api}/graphql\n"
        f"  web: {gh.web}\n",
        encoding="utf-8",
    )


def read_report(measured: Measured, outdir: Path) -> dict[str, Any] | None:
    for path in [measured.stdout, *sorted(outdir.glob("*.json"))]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            return data
    return None


def run_mode(args: argparse.Namespace, mode: str, gh: FakeGitHub, catalog: Path, config: Path, workdir: Path) -> Run:
    outdir = workdir / f"linkaudit-{mode}"
    outdir.mkdir()
    argv = [*LINKAUDIT, "audit", catalog, "--config", config, "--allow-private", "--no-cache", "--no-history",
            "--format", "json", "--output", outdir, *args.linkaudit_arg]
    env = clean_env({"GITHUB_TOKEN": TOKEN} if mode == "token" else None)
    gh.reset()
    measured = run_measured(argv, timeout=args.run_timeout, stdout=outdir / "stdout.json",
                            stderr=outdir / "stderr.txt", env=env)
    with gh.lock:
        stats = gh.stats
    report = read_report(measured, outdir)
    statuses: Counter[str] = Counter()
    archived = renamed = None
    if report is not None:
        results = report["results"]
        statuses = Counter(str(r.get("status")) for r in results)
        repos = [r.get("repo") or {} for r in results]
        archived = sum(bool(r.get("archived")) for r in repos)
        renamed = sum(bool(r.get("renamed_to")) for r in repos)
    return Run(mode, measured, stats, statuses, archived, renamed)


def print_report(args: argparse.Namespace, runs: list[Run], repos: list[Repo], form: str) -> None:
    planted = Counter("broken" if r.missing else "redirected" if r.renamed_to else "ok" for r in repos)
    n = len(repos)
    print(f"machine: {machine()}")
    print(f"tools: {tool_version(LINKAUDIT)}")
    print(f"scenario: {n} github.com repository links (catalog as {form}); planted: "
          f"{sum(r.missing for r in repos)} missing, {sum(r.archived for r in repos)} archived, "
          f"{sum(bool(r.renamed_to) for r in repos)} renamed; fake GitHub answers after {args.latency * 1000:g} ms; "
          f"REST budget {UNAUTHENTICATED_LIMIT}/h unauthenticated, {TOKEN_LIMIT}/h with a token; "
          f"GraphQL 1 point per query\n")
    rows = []
    for run in runs:
        m, st = run.measured, run.stats
        api = st.rest + st.graphql + st.other
        points = st.points_rest + st.points_graphql
        rows.append([
            run.mode, "timeout" if m.timed_out else m.returncode, fmt(m.wall_s), fmt(m.cpu_s), f"{m.maxrss_mb:.0f}",
            st.rest, st.rest_limited, st.graphql, fmt(st.graphql_nodes / st.graphql, 0) if st.graphql else "-",
            st.web, fmt(100 * api / n, 1), points, fmt(100 * points / n, 1), st.token_to_web, st.peak_in_flight,
            " ".join(f"{k}={v}" for k, v in sorted(run.statuses.items())) or "-",
            "-" if run.archived_seen is None else run.archived_seen,
        ])
    print(format_table(
        ["mode", "exit", "wall s", "CPU s", "RSS MB", "REST", "REST 403", "GraphQL", "repos/query", "web pages",
         "API req/100", "points", "points/100", "token->web", "peak conc", "statuses", "archived seen"],
        rows,
    ))
    print("\nplanted: " + " ".join(f"{k}={v}" for k, v in sorted(planted.items()))
          + "  (REST counts every /repos and /repositories request, the 403s included; points are the "
            "rate-limit budget spent: REST 1 per request answered, GraphQL 1 per query)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Count the GitHub API requests and rate-limit points linkaudit audit spends.",
        epilog="exit codes: 0 measured, verdicts as planted; 1 a run failed, timed out or got verdicts wrong; "
               "2 a tool is missing",
    )
    parser.add_argument("--repos", type=int, default=1000, help="repository links in the catalog (default 1000)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per fake GitHub answer (default 0.05)")
    parser.add_argument("--missing", type=float, default=0.02, help="share of missing repositories (default 0.02)")
    parser.add_argument("--archived", type=float, default=0.03, help="share archived (default 0.03)")
    parser.add_argument("--renamed", type=float, default=0.01, help="share renamed (default 0.01)")
    parser.add_argument("--modes", default="token,anonymous", help="comma-separated: token, anonymous")
    parser.add_argument("--catalog", choices=("auto", "papers", "list"), default="auto",
                        help="papers (one link per paper abstract) or a plain list; auto: papers, else list")
    parser.add_argument("--linkaudit-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for linkaudit audit (repeatable)")
    parser.add_argument("--run-timeout", type=float, default=600.0, help="kill a run after S seconds (default 600)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep catalog, config and reports under bench/out/")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"token", "anonymous"}:
        parser.error("--modes takes token and/or anonymous")
    if args.repos < 1 or args.latency < 0:
        parser.error("--repos must be at least 1 and --latency 0 or more")
    try:
        require_linkaudit("audit", "linkaudit.audit")
        require_linkaudit("extract", "linkaudit.extract")
    except ToolMissing as exc:
        return fail(PROG, str(exc))

    repos = plant_repos(args.repos, missing=args.missing, archived=args.archived, renamed=args.renamed,
                        seed=args.seed)
    OUT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="github-", dir=OUT))
    try:
        urls = [f"https://github.com/{r.owner}/{r.name}" for r in repos]
        try:
            catalog, form = write_verified_catalog(workdir, urls, args.catalog, args.run_timeout)
        except ToolMissing as exc:
            return fail(PROG, str(exc))
        time_limit = 60 + args.run_timeout * (len(modes) + 1)
        try:
            gh = FakeGitHub(repos, latency=args.latency, time_limit=time_limit).start()
        except OSError as exc:
            return fail(PROG, f"cannot start the fake GitHub: {exc}")
        with gh:
            config = workdir / "config.yaml"
            write_config(config, gh)
            runs = []
            for mode in modes:
                print(f"running linkaudit audit ({mode}) ...", file=sys.stderr, flush=True)
                run = run_mode(args, mode, gh, catalog, config, workdir)
                if run.measured.timed_out or not run.statuses:
                    print(f"{PROG}: {mode} run {'timed out' if run.measured.timed_out else 'wrote no report'} "
                          f"(exit {run.measured.returncode}): {run.measured.stderr_tail(3) or '(no stderr)'}",
                          file=sys.stderr)
                runs.append(run)
        print_report(args, runs, repos, form)
    finally:
        if args.keep:
            print(f"\ncatalog, config and reports kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    planted = Counter("broken" if r.missing else "redirected" if r.renamed_to else "ok" for r in repos)
    bad = [r for r in runs if r.measured.timed_out or r.statuses.get("broken", 0) != planted["broken"]
           or sum(r.statuses.values()) != len(repos)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
