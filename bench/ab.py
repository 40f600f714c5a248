"""A/B benchmark: the working tree against a git revision, on one linkaudit command, runs alternated.

This machine's speed drifts by 10-20 % within an hour, so a change worth 20-40 ms
cannot be seen by timing the old tree, then the new one.  This exports the
package of ``--base`` (default HEAD) with ``git archive``, compiles both trees'
bytecode, then runs the same command ``--runs`` times in each tree, alternating
the order each round (A B, B A, ...), each run measured on its own (wall time;
CPU of the process and the workers it waited for; peak RSS), and prints the
minimum, the lower quartile and the median of each, and the ratio of the medians.

    .venv/bin/python bench/ab.py -- extract CATALOG.md --format json --output /tmp/x.json --force
    .venv/bin/python bench/ab.py --base HEAD~3 --runs 30 -- extract CATALOG.md --format json
    .venv/bin/python bench/ab.py --instructions -- extract CATALOG.md --format json

``--instructions`` counts instead of timing: each run goes under valgrind's callgrind, which counts the
instructions every process of the run executed (the forked workers too).  The count does not move with the
machine's speed or load (two runs of the same tree differ by ~0.02 %), so one run of each tree tells a 1 %
change apart; it leaves out what instructions do not show (cache misses, waiting), and a run takes ~25x
as long, so give it a catalog of a few MB.

The arguments after ``--`` are linkaudit's, run from the repository root (relative
paths start there); the command must allow running again (``--force`` for an
output file).  Its stdout is discarded; a run that exits
with another code than the first run of the working tree is reported.  Only the
``linkaudit/`` package differs between the two trees: both run with this
checkout's interpreter and dependencies.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
from pathlib import Path

from harness import (
    PYTHON,
    ROOT,
    ToolMissing,
    clean_env,
    fail,
    fmt,
    format_table,
    machine,
    require_linkaudit,
    run_measured,
    scratch,
)

PROG = "bench/ab.py"
ENTRY = "from linkaudit.cli import run; run()"
# -P: no script directory or current directory before PYTHONPATH on sys.path (the runs start in the
# repository root, whose linkaudit/ would otherwise shadow the exported tree)
PYTHON_ARGS = ["-P", "-c"]


def package_of(tree: Path) -> Path:
    """Where ``import linkaudit`` finds the package when run as the measured runs are (checked before timing)."""
    found = subprocess.run([PYTHON, *PYTHON_ARGS, "import linkaudit; print(linkaudit.__file__)"], cwd=ROOT,
                           env=clean_env({"PYTHONPATH": str(tree)}), capture_output=True, text=True, timeout=60,
                           check=True).stdout.strip()
    return Path(found).resolve().parent


def export_package(revision: str, into: Path) -> None:
    """``linkaudit/`` as it is at ``revision``, written below ``into``, its bytecode compiled."""
    try:
        archive = subprocess.run(["git", "archive", "--format=tar", revision, "linkaudit"], cwd=ROOT,
                                 capture_output=True, check=True, timeout=60).stdout
    except FileNotFoundError as exc:
        raise ToolMissing("git is not installed (it exports the --base revision)") from exc
    except subprocess.CalledProcessError as exc:
        raise ToolMissing(f"cannot export {revision!r}: {exc.stderr.decode(errors='replace').strip()}") from exc
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later: refuse links and paths out of ``into``
            tar.extractall(into, filter="data")
        else:  # pragma: no cover - our own repository's archive
            tar.extractall(into)
    import compileall

    compileall.compile_dir(str(into / "linkaudit"), quiet=1, force=False)


VALGRIND = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
COLLECTED_RE = re.compile(r"^==(\d+)== Collected : (\d+)$", re.MULTILINE)


def instructions_of(stderr: Path) -> dict[int, int]:
    """Instructions per process (pid -> count), from callgrind's summary lines in a run's stderr."""
    return {int(pid): int(count) for pid, count in COLLECTED_RE.findall(stderr.read_text(errors="replace"))}


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(minimum, lower quartile, median) of ``values``."""
    ordered = sorted(values)
    return ordered[0], ordered[(len(ordered) - 1) // 4], statistics.median(ordered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0] if __doc__ else None,
                                     epilog="exit codes: 0 every run finished; 1 a run timed out or exited "
                                            "differently; 2 a tool is missing or bad usage")
    parser.add_argument("--base", default="HEAD", help="the git revision to compare against (default HEAD)")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs of each tree (default 20; 1 with --instructions)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under valgrind's callgrind instead of timing (deterministic)")
    parser.add_argument("--run-timeout", type=float, default=300.0, help="kill a run after S seconds (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep the exported tree and the runs' output")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then the linkaudit command line")
    args = parser.parse_args(argv)
    command = args.args[1:] if args.args[:1] == ["--"] else args.args
    if args.runs is None:
        args.runs = 1 if args.instructions else 20
    if not command or args.runs < 1:
        parser.error("give the linkaudit command after --, and --runs of at least 1")
    try:
        require_linkaudit("extract", "linkaudit.cli")
        if args.instructions and shutil.which("valgrind") is None:
            raise ToolMissing("--instructions needs valgrind (Debian: apt-get install valgrind)")
    except ToolMissing as exc:
        return fail(PROG, str(exc))

    with scratch("ab-", keep=args.keep, contents="the exported tree and the runs' output") as workdir:
        try:
            export_package(args.base, workdir / "base")
        except ToolMissing as exc:
            return fail(PROG, str(exc))
        trees = {"working tree": ROOT, f"{args.base}": workdir / "base"}
        for name, tree in trees.items():
            if package_of(tree) != (tree / "linkaudit").resolve():
                return fail(PROG, f"{name}: `import linkaudit` does not find {tree / 'linkaudit'}")
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in trees}
        counts: dict[str, list[dict[int, int]]] = {name: [] for name in trees}
        status = 0
        expected: int | None = None
        prefix = VALGRIND if args.instructions else []
        print(f"machine: {machine()}")
        print(f"command: linkaudit {' '.join(command)}; {args.runs} runs of each tree, alternated"
              f"{', instructions counted by callgrind' if args.instructions else ''}\n")
        for round_ in range(args.runs):
            order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
            for name in order:
                run = run_measured([*prefix, PYTHON, *PYTHON_ARGS, ENTRY, *command], timeout=args.run_timeout,
                                   stdout=workdir / "stdout", stderr=workdir / "stderr",
                                   env=clean_env({"PYTHONPATH": str(trees[name])}))
                if expected is None and name == "working tree":
                    expected = run.returncode
                if run.timed_out or run.returncode != (expected if expected is not None else run.returncode):
                    print(f"{PROG}: {name}, round {round_ + 1}: "
                          f"{'timed out' if run.timed_out else f'exit {run.returncode}'}; {run.stderr_tail(3)}",
                          file=sys.stderr)
                    status = 1
                runs[name].append((run.wall_s, run.cpu_s, run.maxrss_mb))
                if args.instructions:
                    counts[name].append(instructions_of(run.stderr))
        if args.instructions:
            return status or _print_instructions(trees, counts, args.base)
        rows = []
        for name, measured in runs.items():
            wall = quartiles([w for w, _, _ in measured])
            cpu = quartiles([c for _, c, _ in measured])
            rows.append([name, len(measured), *(fmt(v, 3) for v in wall), *(fmt(v, 3) for v in cpu),
                         fmt(max(r for _, _, r in measured), 0)])
        print(format_table(["tree", "runs", "wall min", "wall q1", "wall median", "CPU min", "CPU q1", "CPU median",
                            "RSS MB"], rows))
        new, old = (statistics.median(w for w, _, _ in runs[name]) for name in trees)
        new_cpu, old_cpu = (statistics.median(c for _, c, _ in runs[name]) for name in trees)
        print(f"\nworking tree / {args.base}: wall {new / old:.3f}x, CPU {new_cpu / old_cpu:.3f}x (medians)")
    return status


def _print_instructions(trees: dict[str, Path], counts: dict[str, list[dict[int, int]]], base: str) -> int:
    """The instruction counts' table; 1 when a run printed no count (valgrind failed)."""
    rows = []
    totals: dict[str, float] = {}
    for name in trees:
        runs = counts[name]
        if not runs or any(not run for run in runs):
            print(f"{PROG}: {name}: a run printed no instruction count (see its stderr with --keep)", file=sys.stderr)
            return 1
        total = [sum(run.values()) for run in runs]
        largest = [max(run.values()) for run in runs]
        totals[name] = statistics.median(total)
        rows.append([name, len(runs), max(len(run) for run in runs), f"{min(total):,}", f"{statistics.median(total):,.0f}",
                     f"{statistics.median(largest):,.0f}"])
    print(format_table(["tree", "runs", "processes", "instructions min", "instructions median",
                        "largest process (median)"], rows))
    new, old = (totals[name] for name in trees)
    print(f"\nworking tree / {base}: instructions {new / old:.4f}x (medians, all processes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
