"""Nightly benchmark: what a scheduled audit costs once its history and cache are warm.

A maintainer's nightly job re-audits the same collection: the first night checks
every link, the next ones serve the links that were ok within ``cache_ttl`` from
the history and check only the rest.  This runs, against bench/web.py's latency
web, ``--nights`` audits of one catalog of N links in a row with the history and
the cache on (as the shipped workflow runs them)::

    linkaudit audit CATALOG --config CONFIG --quiet --format json --output DIR

and prints, per night: wall time, CPU, peak RSS, requests the web served, and the
size of the history database.  ``--fail-every K`` makes every K-th link answer
404 (so it is re-checked every night, as failures are).

    .venv/bin/python bench/nightly.py                      # 41,000 links (the 170-page collection's count)
    .venv/bin/python bench/nightly.py --links 100000 --nights 5 --fail-every 20
"""

from __future__ import annotations

import argparse
import sys

from audit import host_counts, link_hosts
from harness import (
    LINKAUDIT,
    ToolMissing,
    clean_env,
    fail,
    fmt,
    format_table,
    machine,
    require_linkaudit,
    run_measured,
    scratch,
    tool_version,
    write_verified_catalog,
)
from web import LatencyWeb

PROG = "bench/nightly.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0] if __doc__ else None,
                                     epilog="exit codes: 0 every night ran; 1 a night failed; 2 a tool is missing")
    parser.add_argument("--links", type=int, default=41_000, help="links in the catalog (default 41000)")
    parser.add_argument("--hosts", type=int, default=50, help="hosts of the web (default 50)")
    parser.add_argument("--latency", type=float, default=0.005, help="seconds per answer (default 0.005)")
    parser.add_argument("--nights", type=int, default=3, help="audits in a row (default 3)")
    parser.add_argument("--fail-every", type=int, default=0, metavar="K",
                        help="every K-th link answers 404 and is checked again each night (default: none)")
    parser.add_argument("--run-timeout", type=float, default=600.0, help="kill a night after S seconds (default 600)")
    parser.add_argument("--keep", action="store_true", help="keep the catalog, history and reports under bench/out/")
    args = parser.parse_args(argv)
    if min(args.links, args.hosts, args.nights) < 1 or args.fail_every < 0:
        parser.error("--links, --hosts and --nights must be at least 1, --fail-every at least 0")
    try:
        require_linkaudit("audit", "linkaudit.audit")
    except ToolMissing as exc:
        return fail(PROG, str(exc))

    with scratch("nightly-", keep=args.keep, contents="catalog, history and reports") as workdir:
        status = 0
        try:
            time_limit = 120 + args.run_timeout * (args.nights + 1)
            with LatencyWeb(hosts=args.hosts, latency=args.latency, time_limit=time_limit).start() as web:
                counts = host_counts(args.links, args.hosts, "uniform", 1.0)
                urls = [web.url(h, f"/p/{i}") for i, h in enumerate(link_hosts(counts, "shuffled", 0))]
                if args.fail_every:
                    urls = [url.replace("/p/", "/404/") if i % args.fail_every == 0 else url for i, url in enumerate(urls)]
                catalog, _ = write_verified_catalog(workdir, urls, "papers", args.run_timeout)
                history, reports = workdir / "history.db", workdir / "reports"
                config = workdir / "config.yaml"
                config.write_text(f"allow_private_hosts: true\nhistory_path: {history}\nreports_dir: {reports}\n",
                                  encoding="utf-8")
                print(f"machine: {machine()}")
                print(f"tools: {tool_version(LINKAUDIT)}")
                print(f"scenario: {args.links} links over {args.hosts} hosts, latency {args.latency * 1000:g} ms, "
                      f"{f'every {args.fail_every}th link 404, ' if args.fail_every else ''}"
                      f"{args.nights} audits in a row with the history and cache on (cache_ttl 24 h)\n")
                rows = []
                for night in range(args.nights):
                    print(f"night {night + 1}/{args.nights} ...", file=sys.stderr, flush=True)
                    web.reset()
                    run = run_measured(
                        [*LINKAUDIT, "audit", catalog, "--config", config, "--quiet", "--format", "json",
                         "--output", reports],
                        timeout=args.run_timeout, stdout=workdir / f"night-{night}.json",
                        stderr=workdir / f"night-{night}.err", env=clean_env(),
                    )
                    stats = web.stats()
                    expected = 1 if args.fail_every else 0
                    if run.timed_out or run.returncode != expected:
                        print(f"{PROG}: night {night + 1}: "
                              f"{'timed out' if run.timed_out else f'exit {run.returncode}'}; {run.stderr_tail(3)}",
                              file=sys.stderr)
                        status = 1
                    rows.append([night + 1, "timeout" if run.timed_out else run.returncode, fmt(run.wall_s),
                                 fmt(run.cpu_s), fmt(run.maxrss_mb, 0), stats.requests,
                                 fmt(history.stat().st_size / 1e6, 1) if history.exists() else "-"])
            print(format_table(["night", "exit", "wall s", "CPU s", "RSS MB", "requests", "history MB"], rows))
        except ToolMissing as exc:
            return fail(PROG, str(exc))
    return status


if __name__ == "__main__":
    sys.exit(main())
