"""GitHub benchmark: API requests and rate-limit points that ``linkaudit audit`` spends on 1,000 repositories.

Reuses the checker's test GitHub (``tests/integration/testweb.py``: ``FakeGitHub``
served by ``TestWeb``), on loopback, the API on 127.0.0.2 and github.com on
127.0.0.3 (so a token sent to the web host shows up), each answering after
``--latency``:

* REST ``GET /repos/{owner}/{repo}`` with ``x-ratelimit-*`` headers and an
  unauthenticated budget of 60 requests, then 403 "API rate limit exceeded"
  with the reset an hour away; a renamed repository answers 301 to
  ``/repositories/{id}``;
* GraphQL ``POST /graphql`` (token required) with aliased
  ``repository(owner:, name:)`` fields; a missing repository is ``null`` plus a
  ``NOT_FOUND`` error;
* github.com pages: 200, 404 missing, 301 renamed.

It plants N repositories (a share missing, archived, renamed), writes a catalog
of their ``https://github.com/owner/repo`` links (checked with ``linkaudit
extract``) and a config.yaml pointing ``github.api``, ``github.graphql`` and
``github.web`` at the fake, runs ``linkaudit audit`` with ``GITHUB_TOKEN`` set and
without, and prints requests per kind, rate-limit points spent (REST: one per
request answered within the budget; GraphQL: one per query of up to 100
repositories), both per 100 repositories, the verdicts against the planted
ones, wall time, CPU and peak RSS.

    .venv/bin/python bench/github.py
    .venv/bin/python bench/github.py --repos 5000 --latency 0.1
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import (
    LINKAUDIT,
    Measured,
    SimulatedServices,
    ToolMissing,
    clean_env,
    fail,
    fmt,
    format_table,
    import_testweb,
    machine,
    read_report,
    require_linkaudit,
    run_measured,
    scratch,
    tool_version,
    write_verified_catalog,
)

PROG = "bench/github.py"
UNAUTHENTICATED_BUDGET = 60
TOKEN = "ghp_bench0000000000000000000000000000000"
API_ADDRESS, WEB_ADDRESS = "127.0.0.2", "127.0.0.3"


@dataclass(frozen=True)
class Planted:
    slug: str
    state: str  # ok, archived, missing, renamed

    @property
    def verdict(self) -> str:
        return {"missing": "broken", "renamed": "redirected"}.get(self.state, "ok")


def plant(count: int, *, missing: float, archived: float, renamed: float, seed: int) -> list[Planted]:
    """``count`` repositories; a seeded share of them missing, archived or renamed."""
    rng = random.Random(seed)
    states = ["missing"] * round(count * missing) + ["archived"] * round(count * archived)
    states += ["renamed"] * round(count * renamed)
    states += ["ok"] * (count - len(states))
    rng.shuffle(states)
    return [Planted(f"bench-org-{i % 97}/repo-{i}", state) for i, state in enumerate(states)]


class BenchGitHub(SimulatedServices):
    """The test suite's FakeGitHub served on two loopback addresses, with latency and a time limit."""

    def __init__(self, testweb: Any, repos: list[Planted], *, latency: float, time_limit: float) -> None:
        super().__init__(testweb, time_limit=time_limit)
        self.repos = repos
        self.state = testweb.FakeGitHub()
        for repo in repos:
            if repo.state == "renamed":
                self.state.add(f"{repo.slug}-renamed")
                self.state.rename(repo.slug, f"{repo.slug}-renamed")
            elif repo.state != "missing":
                self.state.add(repo.slug, archived=repo.state == "archived")
        self.api_server = self.serve(self.state.api, latency=latency, host=API_ADDRESS)
        self.web_server = self.serve(self.state.web, latency=latency, host=WEB_ADDRESS)

    def reset(self, *, budget: int | None) -> None:
        """Zero the counters; ``budget`` is the unauthenticated REST budget (None: unlimited)."""
        def do() -> None:
            self.api_server.reset_stats()
            self.web_server.reset_stats()
            self.state.graphql_queries = 0
            self.state.graphql_aliases.clear()
            self.state.authorizations.clear()
            self.state.rest_budget = budget

        self.on_loop(do)

    def stats(self, budget: int | None) -> dict[str, Any]:
        api_log = list(self.api_server.log)
        web_log = list(self.web_server.log)
        rest = [r for r in api_log if r.path.startswith(("/repos/", "/repositories/"))]
        rest_anonymous = [r for r in rest if not r.headers.get("authorization")]
        graphql = [r for r in api_log if r.path == "/graphql"]
        graphql_authenticated = [r for r in graphql if r.headers.get("authorization", "").lower().startswith("bearer ")]
        answered_anonymous = len(rest_anonymous) if budget is None else min(len(rest_anonymous), budget)
        return {
            "rest": len(rest),
            "rest_403": len(rest_anonymous) - answered_anonymous,
            "graphql": len(graphql),
            "repos_per_query": (sum(self.state.graphql_aliases) / len(self.state.graphql_aliases)
                                if self.state.graphql_aliases else None),
            "web": len(web_log),
            "other_api": len(api_log) - len(rest) - len(graphql),
            "points": answered_anonymous + (len(rest) - len(rest_anonymous)) + len(graphql_authenticated),
            "token_to_web": sum(bool(r.headers.get("authorization")) for r in web_log),
            "peak_api": self.api_server.peak,
            "peak_web": self.web_server.peak,
        }

    def config(self, path: Path) -> None:
        api, web = self.api_server.url, self.web_server.url
        path.write_text(
            "# written by bench/github.py: the GitHub endpoints point at the test GitHub on loopback\n"
            "allow_private_hosts: true\n"
            "github:\n"
            f"  api: {api}\n"
            f"  graphql: {api}/graphql\n"
            f"  web: {web}\n",
            encoding="utf-8",
        )


@dataclass
class Run:
    mode: str
    measured: Measured
    stats: dict[str, Any]
    statuses: Counter[str]
    archived_seen: int | None


def run_mode(args: argparse.Namespace, mode: str, gh: BenchGitHub, catalog: Path, config: Path,
             workdir: Path) -> Run:
    outdir = workdir / f"linkaudit-{mode}"
    outdir.mkdir()
    argv = [*LINKAUDIT, "audit", catalog, "--config", config, "--allow-private", "--no-cache", "--no-history",
            "--format", "json", "--output", outdir, *args.linkaudit_arg]
    env = clean_env({"GITHUB_TOKEN": TOKEN} if mode == "token" else None)
    budget = UNAUTHENTICATED_BUDGET
    gh.reset(budget=budget)
    measured = run_measured(argv, timeout=args.run_timeout, stdout=outdir / "stdout.json",
                            stderr=outdir / "stderr.txt", env=env)
    report = read_report(measured, outdir)
    statuses: Counter[str] = Counter()
    archived = None
    if report is not None:
        statuses = Counter(str(r.get("status")) for r in report["results"])
        archived = sum(bool((r.get("repo") or {}).get("archived")) for r in report["results"])
    return Run(mode, measured, gh.stats(budget), statuses, archived)


def print_report(args: argparse.Namespace, runs: list[Run], repos: list[Planted], form: str) -> None:
    planted = Counter(r.state for r in repos)
    n = len(repos)
    print(f"machine: {machine()}")
    print(f"tools: {tool_version(LINKAUDIT)}")
    print(f"scenario: {n} github.com repository links (catalog as {form}); planted: "
          + ", ".join(f"{v} {k}" for k, v in sorted(planted.items()))
          + f"; the test GitHub answers after {args.latency * 1000:g} ms; REST budget {UNAUTHENTICATED_BUDGET} "
          "unauthenticated\n")
    rows = []
    for run in runs:
        m, st = run.measured, run.stats
        api = st["rest"] + st["graphql"] + st["other_api"]
        rows.append([
            run.mode, "timeout" if m.timed_out else m.returncode, fmt(m.wall_s), fmt(m.cpu_s), f"{m.maxrss_mb:.0f}",
            st["rest"], st["rest_403"], st["graphql"], fmt(st["repos_per_query"], 0), st["web"],
            fmt(100 * api / n, 1), st["points"], fmt(100 * st["points"] / n, 1), st["token_to_web"],
            f"{st['peak_api']}/{st['peak_web']}",
            " ".join(f"{k}={v}" for k, v in sorted(run.statuses.items())) or "-",
            "-" if run.archived_seen is None else run.archived_seen,
        ])
    print(format_table(
        ["mode", "exit", "wall s", "CPU s", "RSS MB", "REST", "REST 403", "GraphQL", "repos/query", "web pages",
         "API req/100", "points", "points/100", "token->web", "peak api/web", "verdicts", "archived seen"],
        rows,
    ))
    expected = Counter(r.verdict for r in repos)
    print("\nexpected verdicts: " + " ".join(f"{k}={v}" for k, v in sorted(expected.items()))
          + " (archived repositories are ok, flagged archived when the API says so)")
    print("REST counts every /repos and /repositories request, the 403s included; points are the rate-limit "
          "budget spent: REST 1 per request answered, GraphQL 1 per query")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Count the GitHub API requests and rate-limit points linkaudit audit spends.",
        epilog="exit codes: 0 measured, verdicts as planted; 1 a run failed, timed out or got verdicts wrong; "
               "2 a tool is missing",
    )
    parser.add_argument("--repos", type=int, default=1000, help="repository links in the catalog (default 1000)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per test GitHub answer (default 0.05)")
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
        testweb = import_testweb("FakeGitHub")
        require_linkaudit("audit", "linkaudit.audit")
        require_linkaudit("extract", "linkaudit.extract")
    except ToolMissing as exc:
        return fail(PROG, str(exc))

    repos = plant(args.repos, missing=args.missing, archived=args.archived, renamed=args.renamed, seed=args.seed)
    with scratch("github-", keep=args.keep, contents="catalog, config and reports") as workdir:
        runs: list[Run] = []
        urls = [f"https://github.com/{r.slug}" for r in repos]
        try:
            catalog, form = write_verified_catalog(workdir, urls, args.catalog, args.run_timeout)
        except ToolMissing as exc:
            return fail(PROG, str(exc))
        try:
            gh = BenchGitHub(testweb, repos, latency=args.latency,
                             time_limit=60 + args.run_timeout * (len(modes) + 1))
        except OSError as exc:
            return fail(PROG, f"cannot start the test GitHub: {exc}")
        try:
            config = workdir / "config.yaml"
            gh.config(config)
            for mode in modes:
                print(f"running linkaudit audit ({mode}) ...", file=sys.stderr, flush=True)
                run = run_mode(args, mode, gh, catalog, config, workdir)
                if run.measured.timed_out or not run.statuses:
                    print(f"{PROG}: {mode} run {'timed out' if run.measured.timed_out else 'wrote no report'} "
                          f"(exit {run.measured.returncode}): {run.measured.stderr_tail(3) or '(no stderr)'}",
                          file=sys.stderr)
                runs.append(run)
        finally:
            gh.close()
        print_report(args, runs, repos, form)
    expected = Counter(r.verdict for r in repos)
    bad = [r for r in runs if r.measured.timed_out or r.statuses.get("broken", 0) != expected["broken"]
           or sum(r.statuses.values()) != len(repos)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
