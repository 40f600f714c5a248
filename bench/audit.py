"""Audit benchmark: linkaudit and lychee against the local latency web, side by side.

Generates a catalog of N links over M hosts of bench/web.py's latency web,
checks that ``linkaudit extract`` finds exactly those N links (and that
``lychee --dump`` does too), then runs, in the same process and on the same
web and catalog::

    linkaudit audit CATALOG --allow-private --no-cache --no-history \\
        --concurrency C --host-concurrency H --format json --output TMPDIR
    lychee --no-progress --max-concurrency C --host-concurrency H \\
        --host-request-interval 0s --format json --output FILE CATALOG

and prints, per run: wall time, the ideal ``max(N*L/C, max_h n_h*L/H)``, their
ratio, links/s, requests served, connections opened, peak in-flight requests
per host and overall (as the server saw them), CPU time and peak RSS of the
child (``os.wait4``), and how many links came back ok.

    .venv/bin/python bench/audit.py                  # 1,000 links / 20 hosts / 50 ms (Zipf-skewed hosts)
    .venv/bin/python bench/audit.py --saturation     # 100,000 links / 50 hosts / 5 ms, uniform
    .venv/bin/python bench/audit.py --links 100000 --hosts 50 --latency 0.005 --distribution uniform

lychee's default 50 ms per-host request interval would make it a politeness
benchmark, not a speed one; ``--host-request-interval 0s`` turns it off (pass
``--lychee-interval 50ms`` to see the default).  lychee sends GET, linkaudit
HEAD: the web answers both after the same latency.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    LINKAUDIT,
    Measured,
    ToolMissing,
    clean_env,
    fail,
    find_lychee,
    fmt,
    format_table,
    linkaudit_argv,
    machine,
    profile_summary,
    require_linkaudit,
    run_measured,
    run_on_terminal,
    scratch,
    tool_version,
    write_catalog,
    write_verified_catalog,
)
from web import LatencyWeb, WebStats

PROG = "bench/audit.py"


# -- the catalog --------------------------------------------------------------

def host_counts(links: int, hosts: int, distribution: str, zipf_s: float) -> list[int]:
    """Links per host: uniform, or Zipf (host k gets a share proportional to 1/k^s), largest remainder."""
    weights = [1.0] * hosts if distribution == "uniform" else [1 / (k ** zipf_s) for k in range(1, hosts + 1)]
    total = sum(weights)
    exact = [links * w / total for w in weights]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(hosts), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: links - sum(counts)]:
        counts[i] += 1
    return counts


def link_hosts(counts: list[int], order: str, seed: int) -> list[int]:
    """The host index of each link, in file order."""
    if order == "busiest-last":  # the adversarial order: the critical path is the last to appear
        ranked = sorted(range(len(counts)), key=lambda h: counts[h])
        return [h for h in ranked for _ in range(counts[h])]
    hosts = [h for h, n in enumerate(counts) for _ in range(n)]
    random.Random(seed).shuffle(hosts)
    return hosts


def lychee_dump(lychee: str, catalog: Path, workdir: Path, timeout: float) -> list[str]:
    """The URLs ``lychee --dump`` finds in ``catalog``."""
    run = run_measured([lychee, "--dump", catalog], timeout=timeout, stdout=workdir / "dump.txt",
                       stderr=workdir / "dump.stderr", env=clean_env())
    if run.returncode != 0:
        raise ToolMissing(f"`lychee --dump` failed (exit {run.returncode}): {run.stderr_tail(3)}")
    return [line.strip() for line in run.stdout.read_text().splitlines() if line.strip()]


def build_catalog(args: argparse.Namespace, web: LatencyWeb, workdir: Path) -> tuple[Path, list[int], str]:
    """Write the catalog, verified with ``linkaudit extract``; returns (path, links per host, form used)."""
    counts = host_counts(args.links, args.hosts, args.distribution, args.zipf_s)
    urls = [web.url(h, f"/p/{i}") for i, h in enumerate(link_hosts(counts, args.order, args.seed))]
    catalog, form = write_verified_catalog(workdir, urls, args.catalog, args.run_timeout)
    return catalog, counts, form


# -- the runs -------------------------------------------------------------------

@dataclass
class Run:
    tool: str
    measured: Measured
    stats: WebStats
    ok: int | None
    note: str = ""
    extra: dict[str, int] = field(default_factory=dict)


def linkaudit_ok(measured: Measured, outdir: Path) -> tuple[int | None, dict[str, int]]:
    """Number of ok results and the status counts, from the JSON on stdout (or the report in ``outdir``)."""
    candidates = [measured.stdout, *sorted(outdir.glob("*.json"))]
    for path in candidates:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            statuses = Counter(str(r.get("status")) for r in data["results"])
            return statuses.get("ok", 0), dict(statuses)
    return None, {}


def run_linkaudit(args: argparse.Namespace, catalog: Path, web: LatencyWeb, workdir: Path, n: int) -> Run:
    outdir = workdir / f"linkaudit-{n}"
    outdir.mkdir()
    profile = outdir / "linkaudit.prof" if args.profile else None
    argv = [
        *linkaudit_argv(profile), "audit", catalog, "--allow-private", "--no-cache", "--no-history",
        "--concurrency", args.concurrency, "--host-concurrency", args.host_concurrency,
        "--format", "json", "--output", outdir, *args.linkaudit_arg,
    ]
    web.reset()
    measured = run_measured(argv, timeout=args.run_timeout, stdout=outdir / "stdout.json",
                            stderr=outdir / "stderr.txt", env=clean_env())
    stats = web.stats()
    ok, statuses = linkaudit_ok(measured, outdir)
    other = {k: v for k, v in statuses.items() if k != "ok"}
    note = " ".join(f"{k}={v}" for k, v in sorted(other.items()))
    if profile is not None:
        note = f"{note} (under cProfile)".strip()
        if profile.exists():
            print(f"--- cProfile of linkaudit run {n + 1} ---\n{profile_summary(profile)}", file=sys.stderr)
    return Run("linkaudit", measured, stats, ok, note)


def run_lychee(args: argparse.Namespace, lychee: str, catalog: Path, web: LatencyWeb, workdir: Path, n: int) -> Run:
    outdir = workdir / f"lychee-{n}"
    outdir.mkdir()
    report = outdir / "report.json"
    argv = [
        lychee, "--no-progress", "--max-concurrency", args.concurrency, "--host-concurrency", args.host_concurrency,
        "--host-request-interval", args.lychee_interval, "--format", "json", "--output", report, catalog,
    ]
    web.reset()
    measured = run_measured(argv, timeout=args.run_timeout, stdout=outdir / "stdout.txt",
                            stderr=outdir / "stderr.txt", env=clean_env())
    stats = web.stats()
    ok = None
    note = f"interval {args.lychee_interval}"
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
        ok = int(data["successful"])
        bad = {k: int(data[k]) for k in ("errors", "timeouts", "excludes", "unknown") if data.get(k)}
        note += "".join(f" {k}={v}" for k, v in bad.items())
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return Run("lychee", measured, stats, ok, note)


# -- the table ------------------------------------------------------------------

def progress_liveness(args: argparse.Namespace, catalog: Path, web: LatencyWeb, workdir: Path,
                      quiet_wall: float | None) -> str:
    """One more linkaudit run, on a pseudo-terminal so the rich bar draws: how live does it stay?"""
    outdir = workdir / "linkaudit-terminal"
    outdir.mkdir()
    argv = [
        *LINKAUDIT, "audit", catalog, "--allow-private", "--no-cache", "--no-history",
        "--concurrency", args.concurrency, "--host-concurrency", args.host_concurrency, "--output", outdir,
    ]
    start, done = b"checking", f"{args.links}/{args.links}".encode()
    web.reset()
    run = run_on_terminal(argv, timeout=args.run_timeout, env=clean_env({"TERM": "xterm"}), markers=(start, done))
    if run.timed_out or start not in run.marks or done not in run.marks:
        state = "timed out" if run.timed_out else f"exit {run.returncode}"
        return f"progress: no complete bar seen on the terminal ({state})"
    first, last = run.marks[start], run.marks[done]
    times = [t for t, _ in run.chunks if first <= t <= last]
    gaps = [b - a for a, b in itertools.pairwise(times)] or [0.0]
    overhead = f" vs {quiet_wall:.2f} s quiet ({run.wall_s / quiet_wall - 1:+.0%})" if quiet_wall else ""
    return (
        f"progress (one more linkaudit run, on a terminal): bar drawn at {first:.2f} s, complete at {last:.2f} s; "
        f"{len(times)} redraws while checking, longest gap {max(gaps):.2f} s (median {statistics.median(gaps):.2f} s); "
        f"wall {run.wall_s:.2f} s{overhead}, exit {run.returncode}"
    )


def ideal_seconds(args: argparse.Namespace, counts: list[int]) -> float:
    """max(N*L/C_global, max over hosts of n_h*L/C_host)."""
    return max(args.links * args.latency / args.concurrency, max(counts) * args.latency / args.host_concurrency)


def startup_seconds(workdir: Path, repeat: int = 5) -> float:
    """Best wall time of ``linkaudit --help`` (issue 5 aims under 0.3 s)."""
    runs = [
        run_measured([*LINKAUDIT, "--help"], timeout=60, stdout=workdir / "help.out", stderr=workdir / "help.err",
                     env=clean_env())
        for _ in range(repeat)
    ]
    return min(m.wall_s for m in runs)


def print_report(args: argparse.Namespace, runs: list[Run], counts: list[int], form: str, versions: str,
                 startup: float | None) -> None:
    ideal = ideal_seconds(args, counts)
    print(f"machine: {machine()}")
    print(f"tools: {versions}")
    if startup is not None:
        print(f"startup: linkaudit --help {startup:.3f} s (best of 5)")
    print(
        f"scenario: {args.links} links over {args.hosts} hosts ({args.distribution}"
        f"{f' s={args.zipf_s:g}' if args.distribution == 'zipf' else ''}, busiest host {max(counts)} links, "
        f"order {args.order}), latency {args.latency * 1000:g} ms, concurrency {args.concurrency} global / "
        f"{args.host_concurrency} per host, catalog as {form}"
    )
    print(f"ideal = max(N*L/C = {args.links * args.latency / args.concurrency:.3f} s, "
          f"max n_h*L/H = {max(counts) * args.latency / args.host_concurrency:.3f} s) = {ideal:.3f} s\n")
    rows = []
    for run in runs:
        m = run.measured
        status = "timeout" if m.timed_out else str(m.returncode)
        rows.append([
            run.tool, status, fmt(m.wall_s), fmt(ideal), fmt(m.wall_s / ideal), f"{args.links / m.wall_s:,.0f}",
            run.stats.requests,
            f"{sum(h.heads for h in run.stats.hosts.values())}/{sum(h.gets for h in run.stats.hosts.values())}",
            run.stats.connections, run.stats.peak_per_host, run.stats.peak_in_flight,
            fmt(m.cpu_s), fmt(m.maxrss_mb, 0), "-" if run.ok is None else run.ok, fmt(run.stats.cpu_s), run.note,
        ])
    print(format_table(
        ["tool", "exit", "wall s", "ideal s", "wall/ideal", "links/s", "requests", "HEAD/GET", "conns", "peak/host",
         "peak all", "CPU s", "RSS MB", "ok", "web CPU s", "note"],
        rows,
    ))
    mine = [r.measured.wall_s for r in runs if r.tool == "linkaudit" and r.ok is not None]
    theirs = [r.measured.wall_s for r in runs if r.tool == "lychee" and r.ok is not None]
    if mine and theirs:
        a, b = statistics.median(mine), statistics.median(theirs)
        print(f"\nlinkaudit / lychee wall time (median of {len(mine)} / {len(theirs)}): {a:.2f} / {b:.2f} s "
              f"= {a / b:.2f}x; throughput {args.links / a:,.0f} vs {args.links / b:,.0f} links/s")


# -- main -------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="exit codes: 0 all runs finished with every link ok; 1 a run failed, timed out or missed links; "
               "2 a tool is missing or the setup failed",
    )
    parser.add_argument("--links", type=int, default=None, help="N, links in the catalog (default 1000)")
    parser.add_argument("--hosts", type=int, default=None, help="M, hosts of the web (default 20)")
    parser.add_argument("--latency", type=float, default=None, help="L, seconds per answer (default 0.05)")
    parser.add_argument("--distribution", choices=("zipf", "uniform"), default=None,
                        help="links per host (default zipf: host k gets a share ~ 1/k^s)")
    parser.add_argument("--zipf-s", type=float, default=1.0, help="Zipf exponent (default 1.0)")
    parser.add_argument("--order", choices=("shuffled", "busiest-last"), default="shuffled",
                        help="order of the links in the file (default shuffled)")
    parser.add_argument("--saturation", action="store_true",
                        help="preset: --links 100000 --hosts 50 --latency 0.005 --distribution uniform")
    parser.add_argument("--concurrency", type=int, default=64, help="C, global concurrency (default 64)")
    parser.add_argument("--host-concurrency", type=int, default=8, help="H, per-host concurrency (default 8)")
    parser.add_argument("--catalog", choices=("auto", "papers", "list"), default="auto",
                        help="papers (one link per paper abstract) or a plain list; auto: papers, else list")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool, alternating (default 1)")
    parser.add_argument("--tools", default="linkaudit,lychee", help="comma-separated: linkaudit, lychee")
    parser.add_argument("--no-lychee", action="store_true", help="same as --tools linkaudit")
    parser.add_argument("--lychee", metavar="PATH", help="the lychee binary (default: the venv's, then PATH)")
    parser.add_argument("--lychee-interval", default="0s",
                        help="lychee --host-request-interval (default 0s; lychee's own default is 50ms)")
    parser.add_argument("--linkaudit-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for linkaudit audit (repeatable)")
    parser.add_argument("--progress", action="store_true",
                        help="also run linkaudit once on a pseudo-terminal and report how live its progress bar stays")
    parser.add_argument("--profile", action="store_true",
                        help="run linkaudit under cProfile and print its top functions on stderr (slows it down)")
    parser.add_argument("--run-timeout", type=float, default=None, help="kill a run after S seconds")
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    parser.add_argument("--keep", action="store_true", help="keep catalog and reports under bench/out/")
    args = parser.parse_args(argv)
    preset = (100_000, 50, 0.005, "uniform") if args.saturation else (1000, 20, 0.05, "zipf")
    for name, value in zip(("links", "hosts", "latency", "distribution"), preset, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.links < 1 or args.hosts < 1 or args.latency < 0 or args.repeat < 1:
        parser.error("--links, --hosts and --repeat must be at least 1, --latency 0 or more")
    if args.hosts > 253:
        parser.error("--hosts must be at most 253 (127.0.0.2 ... 127.0.0.254)")
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if args.no_lychee:
        args.tools = [t for t in args.tools if t != "lychee"]
    if not args.tools or set(args.tools) - {"linkaudit", "lychee"}:
        parser.error("--tools takes linkaudit and/or lychee")
    if args.run_timeout is None:
        counts = host_counts(args.links, args.hosts, args.distribution, args.zipf_s)
        args.run_timeout = max(120.0, 40 * ideal_seconds(args, counts), args.links / 250)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    lychee = ""
    try:
        if "linkaudit" in args.tools:
            require_linkaudit("audit", "linkaudit.audit")
            require_linkaudit("extract", "linkaudit.extract")
        if "lychee" in args.tools:
            lychee = find_lychee(args.lychee)
    except ToolMissing as exc:
        return fail(PROG, str(exc))
    versions = ", ".join(
        v for v in (
            tool_version(LINKAUDIT) if "linkaudit" in args.tools else "",
            tool_version([lychee]) if lychee else "",
        ) if v
    )
    runs_per_tool = len(args.tools) * args.repeat
    time_limit = 120 + args.run_timeout * (runs_per_tool + 2)  # the web outlives every bounded run
    with scratch("audit-", keep=args.keep, contents="catalog and reports") as workdir:
        try:
            web = LatencyWeb(hosts=args.hosts, latency=args.latency, time_limit=time_limit).start()
        except (RuntimeError, ValueError, OSError) as exc:
            return fail(PROG, f"cannot start the latency web: {exc}")
        with web:
            try:
                if "linkaudit" in args.tools:
                    catalog, counts, form = build_catalog(args, web, workdir)
                else:
                    counts = host_counts(args.links, args.hosts, args.distribution, args.zipf_s)
                    urls = [web.url(h, f"/p/{i}") for i, h in enumerate(link_hosts(counts, args.order, args.seed))]
                    form = "list" if args.catalog == "list" else "papers"
                    catalog = workdir / f"catalog-{form}.md"
                    write_catalog(catalog, urls, form)
                if lychee:
                    dumped = lychee_dump(lychee, catalog, workdir, args.run_timeout)
                    if len(dumped) != args.links:
                        print(f"{PROG}: warning: lychee --dump finds {len(dumped)} links, not {args.links}",
                              file=sys.stderr)
            except ToolMissing as exc:
                return fail(PROG, str(exc))
            startup = startup_seconds(workdir) if "linkaudit" in args.tools else None
            runs: list[Run] = []
            for n in range(args.repeat):
                for tool in args.tools:
                    print(f"running {tool} ({n + 1}/{args.repeat}) ...", file=sys.stderr, flush=True)
                    if tool == "linkaudit":
                        runs.append(run_linkaudit(args, catalog, web, workdir, n))
                    else:
                        runs.append(run_lychee(args, lychee, catalog, web, workdir, n))
                    last = runs[-1]
                    if last.measured.timed_out or last.ok is None:
                        print(f"{PROG}: {tool} run {n + 1}: "
                              f"{'timed out' if last.measured.timed_out else f'exit {last.measured.returncode}'}; "
                              f"stderr: {last.measured.stderr_tail(3) or '(empty)'}", file=sys.stderr)
            liveness = None
            if args.progress and "linkaudit" in args.tools:
                print("running linkaudit on a terminal ...", file=sys.stderr, flush=True)
                quiet = [r.measured.wall_s for r in runs if r.tool == "linkaudit" and r.ok is not None]
                liveness = progress_liveness(args, catalog, web, workdir, statistics.median(quiet) if quiet else None)
        print_report(args, runs, counts, form, versions, startup)
        if liveness:
            print(f"\n{liveness}")
    bad = [r for r in runs if r.measured.timed_out or r.ok != args.links]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
