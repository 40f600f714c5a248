"""History benchmark: what the history database costs per night, in time and bytes, as runs accumulate.

A scheduled audit records every link's verdict each night (``Store.record_run``) and keeps the per-run
rows for ``history_keep_runs`` runs; the CI workflow restores and saves the file each night.  This
records ``--runs`` runs of ``--links`` links straight through the store (no network, no extraction) and
prints, at a few runs, the time of that night's ``record_run`` and the file's size, and at the end the
bytes each run adds per link::

    .venv/bin/python bench/history.py                          # 41,000 links, 30 runs (the default keep)
    .venv/bin/python bench/history.py --base be23e67           # the same with the tree at a revision
    .venv/bin/python bench/history.py --upgrade-from be23e67   # build with that revision, time the upgrade

With ``--upgrade-from REV`` the history is written by the package as it was at REV, then opened once by
this tree (which upgrades an older schema in place), and the opening is timed.  Every run's results are
the same generated mix as bench/nightly.py's: web pages, GitHub repositories and DOIs, every
``--fail-every``-th link broken, the ok ones served from the cache on alternate nights.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from ab import export_package
from harness import PYTHON, ROOT, ToolMissing, clean_env, fail, fmt, format_table, machine, scratch

PROG = "bench/history.py"

# Runs in a child process whose ``linkaudit`` is the measured tree's (PYTHONPATH), so one script measures
# any revision.  It prints one JSON object per measured run.
WORKER = r"""
import json, os, sys, time
from datetime import datetime, timedelta
from linkaudit.model import CheckResult, DoiInfo, Kind, LinkKey, RepoInfo, Status
from linkaudit.store import open_store

path, links, runs, fail_every, keep, mode = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
if mode == "open":
    started = time.perf_counter()
    open_store(path, keep_runs=keep).close()
    print(json.dumps({"open_s": time.perf_counter() - started, "bytes": os.path.getsize(path)}))
    sys.exit(0)

def day(night):
    return (datetime(2026, 11, 1) + timedelta(days=night - 1)).strftime("%Y-%m-%d")

def results(night):
    out = []
    for i in range(links):
        broken = fail_every and i % fail_every == 0
        cached = not broken and night % 2 == 0
        checked = f"{day(night)}T03:{i * 60 // links:02d}:{i % 60:02d}Z"
        if i % 3 == 0:
            key, url, kind = f"github:owner{i % 997}/repo-{i}", f"https://github.com/owner{i % 997}/repo-{i}", Kind.GITHUB
            extra = {"repo": RepoInfo(stars=i % 500, pushed_at="2026-10-01T00:00:00Z")}
        elif i % 3 == 1:
            key, url, kind = f"doi:10.1109/cvpr52688.2022.{i:05d}", f"https://doi.org/10.1109/CVPR52688.2022.{i:05d}", Kind.DOI
            extra = {"doi": DoiInfo(registered=True, target=f"https://ieeexplore.ieee.org/document/{9000000 + i}")}
        else:
            key, url, kind = f"web:project-{i}.github.io/paper", f"https://project-{i}.github.io/paper/", Kind.WEB
            extra = {}
        status = Status.BROKEN if broken else Status.OK
        out.append(CheckResult(key=LinkKey(key), url=url, kind=kind, status=status, definitive=True,
                               http_status=404 if broken else 200, attempts=0 if cached else 1,
                               checked_at=checked, from_cache=cached, **({} if broken else extra)))
    return out

for night in range(1, runs + 1):
    batch = results(night)
    # one process per night in real use: the store is opened, written and closed (which checkpoints the WAL)
    with open_store(path, keep_runs=keep) as store:
        started = time.perf_counter()
        store.record_run(batch, started_at=f"{day(night)}T03:00:00Z", sources=("catalog.md",))
        elapsed = time.perf_counter() - started
    print(json.dumps({"run": night, "record_s": elapsed, "bytes": os.path.getsize(path)}), flush=True)
"""


def run_worker(package: Path, db: Path, args: argparse.Namespace, mode: str) -> list[dict[str, float]]:
    argv = [PYTHON, "-P", "-c", WORKER, str(db), str(args.links), str(args.runs), str(args.fail_every),
            str(args.keep_runs), mode]
    done = subprocess.run(argv, cwd=ROOT, env=clean_env({"PYTHONPATH": str(package)}), capture_output=True,
                          text=True, timeout=args.run_timeout)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0] if __doc__ else None,
                                     epilog="exit codes: 0 measured; 1 a run failed; 2 git or a revision is missing")
    parser.add_argument("--links", type=int, default=41_000, help="links per run (default 41000)")
    parser.add_argument("--runs", type=int, default=30, help="runs recorded (default 30)")
    parser.add_argument("--keep-runs", type=int, default=30, help="history_keep_runs (default 30)")
    parser.add_argument("--fail-every", type=int, default=20, metavar="K", help="every K-th link broken (default 20)")
    parser.add_argument("--base", metavar="REV", help="measure the package as it is at REV instead of this tree")
    parser.add_argument("--upgrade-from", metavar="REV",
                        help="write the history with the package at REV, then time this tree's opening (upgrade)")
    parser.add_argument("--run-timeout", type=float, default=1800.0, help="kill the worker after S seconds")
    parser.add_argument("--keep", action="store_true", help="keep the database under bench/out/")
    args = parser.parse_args(argv)
    if min(args.links, args.runs, args.keep_runs) < 1 or args.fail_every < 0:
        parser.error("--links, --runs and --keep-runs must be at least 1, --fail-every at least 0")
    revision = args.upgrade_from or args.base
    print(f"machine: {machine()}")
    print(f"scenario: {args.links} links, {args.runs} runs recorded, {args.keep_runs} kept, "
          f"every {args.fail_every or 'no'}th link broken, ok links from the cache on even nights")
    with scratch("history-", keep=args.keep, contents="history database") as workdir, \
            tempfile.TemporaryDirectory() as exported:
        try:
            package = ROOT
            if revision:
                export_package(revision, Path(exported))
                package = Path(exported)
            db = workdir / "history.db"
            runs = run_worker(package, db, args, "record")
            opened = run_worker(ROOT, db, args, "open") if args.upgrade_from else []
        except ToolMissing as exc:
            return fail(PROG, str(exc))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            return fail(PROG, f"the store worker failed: {exc}", 1)
    shown = sorted({1, 2, 3, min(10, args.runs), min(args.keep_runs, args.runs), args.runs})
    rows = [(r["run"], fmt(r["record_s"]), fmt(r["bytes"] / 1e6, 1)) for r in runs if r["run"] in shown]
    print(f"package: {revision or 'this tree'}\n")
    print(format_table(["run", "record_run s", "history MB"], rows))
    growing = [r for r in runs if r["run"] <= args.keep_runs]  # before pruning levels the file off
    if len(growing) >= 3:
        # growth between two runs after the first (the first also writes every link's own row)
        last, first = growing[-1], growing[1]
        grown = (last["bytes"] - first["bytes"]) / max(1, last["run"] - first["run"]) / args.links
        print(f"\nbytes per link per run (runs {first['run']}-{last['run']}): {grown:.0f}")
    if opened:
        print(f"upgrade by this tree: {opened[0]['open_s']:.2f} s, file {runs[-1]['bytes'] / 1e6:.1f} -> "
              f"{opened[0]['bytes'] / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
