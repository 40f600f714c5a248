"""Extraction benchmark: a 10,000-paper catalog through ``linkaudit extract``, against a regex floor and lychee.

Builds the catalog by repeating examples/cvpr-2022-list06.md (200 papers) with
new ids 0, 1, 2, ... 9999, in two variants: ``repeated`` (the sample's links as
they are, so each URL occurs 50 times) and ``unique`` (every URL and DOI of
copy k carries k, so nothing keyed by URL or paper text can gain from the
repetition; hosts stay the same).  For each variant it measures:

* ``extract_paths`` in a child Python (imports done before the clock starts):
  best-of-R wall time with the default workers (a large file is split between
  the CPUs) and with ``workers=1``, papers/s, and the tracemalloc peak of one
  more serial run;
* the whole CLI, ``linkaudit extract FILE --format json --output F``: wall time,
  CPU (its workers' included) and peak RSS (``os.wait4`` of the child);
* the floor: reading the file and one ``re.findall(r"https?://\\S+", text)`` over it;
* ``lychee --dump FILE`` beside it (best of R), and the ratios to each.

``--variant collection`` measures a collection instead, the size the project's README plans for: 170
files of 160 papers each (ids from 0 in each, every URL and DOI unique), in one directory.

    .venv/bin/python bench/extract.py
    .venv/bin/python bench/extract.py --papers 50000 --repeat 5 --variant unique
    .venv/bin/python bench/extract.py --variant collection --repeat 5
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness import (
    LINKAUDIT,
    PYTHON,
    ROOT,
    Measured,
    ToolMissing,
    clean_env,
    fail,
    find_lychee,
    fmt,
    format_table,
    machine,
    require_linkaudit,
    run_measured,
    scratch,
    tool_version,
)

PROG = "bench/extract.py"
SAMPLE = ROOT / "examples" / "cvpr-2022-list06.md"
HEADING = re.compile(r"^(#{1,6}[ \t]+\[)(\d+)(\])", re.MULTILINE)
FLOOR = re.compile(r"https?://\S+")

# Runs inside a child interpreter so the bench's own imports and memory do not count.
CHILD = r"""
import json, sys, time, tracemalloc
from linkaudit.extract import extract_paths
path, repeat = sys.argv[1], int(sys.argv[2])
result = {}
for label, workers in (("default", None), ("serial", 1)):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        extraction = extract_paths([path], stdin=sys.stdin, workers=workers)
        times.append(time.perf_counter() - t0)
    result[label] = times
papers, links = len(extraction.papers), len(extraction.links)
kinds = {}
for link in extraction.links:
    kinds[str(link.kind)] = kinds.get(str(link.kind), 0) + 1
del extraction
tracemalloc.start()
extraction = extract_paths([path], stdin=sys.stdin, workers=1)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
result.update(papers=papers, links=links, kinds=kinds, peak=peak)
print(json.dumps(result))
"""


# A link as written in the sample (clean scheme, the "httpsr//" garble, or a bare DOI), up to where it ends.
LINK_TOKEN = re.compile(r"(?:https?://|httpsr//|(?<![\w./-])10\.\d{4,9}/)[^\s<>\"'\[\]()]+")
TOKEN_TAIL = ".,;:!?*_"


def make_unique(chunk: str, copy: int) -> str:
    """``chunk`` with every URL and DOI changed by the copy number, so no two copies share a link.

    The host stays (caching by host is fair; a few hundred hosts exist), the path or the DOI
    suffix changes: ``.../owner/repo`` -> ``.../owner/repo-7``, ``.../proj/`` -> ``.../proj-7/``,
    ``https://host/`` -> ``https://host/7/``, ``10.1109/X.01009`` -> ``10.1109/X.01009-7``.  Trailing
    sentence punctuation stays after the change.  The few spaced-out or scheme-less garbles of
    the sample (5 of 302 links) are left as they are.
    """

    def change(match: re.Match[str]) -> str:
        token = match.group()
        core = token.rstrip(TOKEN_TAIL)
        tail = token[len(core):]
        if "//" in core:
            host_end = min((i for i in (core.find(c, core.index("//") + 2) for c in "/?#") if i != -1),
                           default=len(core))
            if host_end >= len(core) - 1:  # no path, or only "/"
                return f"{core.rstrip('/')}/{copy}{core[host_end:]}{tail}"
        for suffix in ("/", ".git"):  # keep a trailing slash or clone suffix where the repairer looks for it
            if core.endswith(suffix):
                return f"{core[:-len(suffix)]}-{copy}{suffix}{tail}"
        return f"{core}-{copy}{tail}"

    return LINK_TOKEN.sub(change, chunk)


def build_catalog(papers: int, path: Path, *, unique: bool = False, first_copy: int = 0) -> int:
    """Repeat the sample's papers with ids 0..papers-1; returns the number of papers written.

    With ``unique``, every URL and DOI of copy k (papers 200k..200k+199) carries ``first_copy + k``
    (``make_unique``), so a cache keyed by URL or by paper text gains nothing from the repetition.
    """
    text = SAMPLE.read_text(encoding="utf-8")
    starts = [m.start() for m in HEADING.finditer(text)]
    if not starts:
        raise ToolMissing(f"{SAMPLE}: no '## [id] Title' headings found")
    chunks = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
    # the page's navigation footer follows the last paper's separator: written once, at the end
    cut = chunks[-1].rfind("\n----\n")
    footer = chunks[-1][cut + 6 :] if cut >= 0 else ""
    chunks[-1] = chunks[-1][: cut + 6] + "\n" if cut >= 0 else chunks[-1].rstrip("\n") + "\n\n"
    with path.open("w", encoding="utf-8") as out:
        out.write(text[: starts[0]])
        for new_id in range(papers):
            chunk = chunks[new_id % len(chunks)]
            if unique:
                chunk = make_unique(chunk, first_copy + new_id // len(chunks))
            heading = HEADING.match(chunk)
            assert heading is not None  # every chunk starts at a heading
            out.write(f"{heading[1]}{new_id}{heading[3]}{chunk[heading.end():]}")
        out.write(footer)
    return papers


def build_collection(pages: int, page_papers: int, directory: Path) -> int:
    """``pages`` catalog pages of ``page_papers`` papers each (ids from 0 in each, as a collection's venues
    and years have them), every URL and DOI unique across the whole collection; returns the papers written."""
    directory.mkdir()
    copies = -(-page_papers // 200)
    for page in range(pages):
        build_catalog(page_papers, directory / f"list{page:03d}.md", unique=True, first_copy=page * copies)
    return pages * page_papers


def _texts(path: Path) -> list[Path]:
    return sorted(path.glob("*.md")) if path.is_dir() else [path]


def floor_seconds(path: Path, repeat: int) -> tuple[float, float, int]:
    """Best times of (read + regex scan) and of the scan alone; and the number of matches (a directory: its files)."""
    best_total = best_scan = float("inf")
    matches = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        texts = [file.read_text(encoding="utf-8", errors="replace") for file in _texts(path)]
        t1 = time.perf_counter()
        matches = sum(len(FLOOR.findall(text)) for text in texts)
        t2 = time.perf_counter()
        best_total = min(best_total, t2 - t0)
        best_scan = min(best_scan, t2 - t1)
    return best_total, best_scan, matches


def best(runs: list[Measured]) -> Measured:
    return min(runs, key=lambda m: m.wall_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Time `linkaudit extract` on a large catalog against a regex floor and lychee --dump.",
        epilog="exit codes: 0 measured; 1 a run failed or timed out; 2 a tool is missing",
    )
    parser.add_argument("--papers", type=int, default=10_000, help="papers in the catalog (default 10000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best counts (default 3)")
    parser.add_argument("--variant", choices=("repeated", "unique", "both", "collection"), default="both",
                        help="the catalog's links as in the sample, made unique per copy, or both (default); "
                             "collection: --pages files of --page-papers papers each, links unique")
    parser.add_argument("--pages", type=int, default=170, help="files of the collection variant (default 170)")
    parser.add_argument("--page-papers", type=int, default=160,
                        help="papers per file of the collection variant (default 160: 27,200 in all)")
    parser.add_argument("--no-lychee", action="store_true", help="skip lychee --dump")
    parser.add_argument("--lychee", metavar="PATH", help="the lychee binary (default: the venv's, then PATH)")
    parser.add_argument("--run-timeout", type=float, default=300.0, help="kill a run after S seconds (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep the catalog and outputs under bench/out/")
    args = parser.parse_args(argv)
    if min(args.papers, args.repeat, args.pages, args.page_papers) < 1:
        parser.error("--papers, --repeat, --pages and --page-papers must be at least 1")
    lychee = ""
    try:
        require_linkaudit("extract", "linkaudit.extract")
        if not args.no_lychee:
            lychee = find_lychee(args.lychee)
    except ToolMissing as exc:
        return fail(PROG, str(exc))

    with scratch("extract-", keep=args.keep, contents="catalog and outputs") as workdir:
        try:
            print(f"machine: {machine()}")
            print(f"tools: {', '.join(v for v in (tool_version(LINKAUDIT), tool_version([lychee]) if lychee else '') if v)}")
            variants = ("repeated", "unique") if args.variant == "both" else (args.variant,)
            return max(measure(args, lychee, workdir, variant) for variant in variants)
        except ToolMissing as exc:
            return fail(PROG, str(exc))


def measure(args: argparse.Namespace, lychee: str, workdir: Path, variant: str) -> int:
    if variant == "collection":
        catalog = workdir / f"collection-{args.pages}x{args.page_papers}"
        papers = build_collection(args.pages, args.page_papers, catalog)
        described = (f"{args.pages} files of {args.page_papers} papers (ids from 0 in each), every URL and DOI "
                     f"unique, {papers:,} papers")
    else:
        catalog = workdir / f"catalog-{args.papers}-{variant}.md"
        papers = build_catalog(args.papers, catalog, unique=variant == "unique")
        described = (f"{papers} papers ({papers // 200} x examples/cvpr-2022-list06.md, new ids"
                     f"{', every URL and DOI unique per copy' if variant == 'unique' else ''})")
    size_mb = sum(file.stat().st_size for file in _texts(catalog)) / 1e6
    env = clean_env()
    status = 0

    # 1. extract_paths in a child interpreter (default workers, then serial)
    child = run_measured([PYTHON, "-c", CHILD, catalog, args.repeat],
                         timeout=args.run_timeout * (2 * args.repeat + 1),
                         stdout=workdir / f"child-{variant}.json", stderr=workdir / f"child-{variant}.err", env=env)
    inproc: dict[str, Any] = {}
    if child.returncode == 0:
        inproc = json.loads(child.stdout.read_text())
    else:
        print(f"{PROG}: in-process extract failed ({'timed out' if child.timed_out else child.returncode}): "
              f"{child.stderr_tail(3)}", file=sys.stderr)
        status = 1

    # 2. the whole CLI
    cli_runs = []
    for n in range(args.repeat):
        out = workdir / f"extract-{variant}-{n}.json"
        run = run_measured([*LINKAUDIT, "extract", catalog, "--format", "json", "--output", out, "--force"],
                           timeout=args.run_timeout, stdout=workdir / f"cli-{n}.out", stderr=workdir / f"cli-{n}.err",
                           env=env)
        if run.returncode != 0:
            print(f"{PROG}: linkaudit extract failed ({'timed out' if run.timed_out else run.returncode}): "
                  f"{run.stderr_tail(3)}", file=sys.stderr)
            status = 1
            break
        cli_runs.append(run)
    cli_links = None
    if cli_runs:
        data = json.loads((workdir / f"extract-{variant}-0.json").read_text(encoding="utf-8"))
        cli_links = len(data["links"])
        if len(data["papers"]) != papers:
            print(f"{PROG}: warning: extract found {len(data['papers'])} papers, the catalog has {papers}",
                  file=sys.stderr)

    # 3. the floor
    floor_total, floor_scan, floor_matches = floor_seconds(catalog, max(args.repeat, 5))

    # 4. lychee --dump
    dump_runs = []
    for n in range(args.repeat if lychee else 0):
        run = run_measured([lychee, "--dump", catalog], timeout=args.run_timeout, stdout=workdir / f"dump-{n}.txt",
                           stderr=workdir / f"dump-{n}.err", env=env)
        if run.returncode != 0:
            print(f"{PROG}: lychee --dump failed ({run.returncode}): {run.stderr_tail(3)}", file=sys.stderr)
            status = 1
            break
        dump_runs.append(run)
    dump_links = None
    if dump_runs:
        dump_links = sum(1 for line in dump_runs[0].stdout.read_text().splitlines() if line.strip())

    # the table
    print(f"\ncatalog ({variant}): {described}, {size_mb:.1f} MB; best of {args.repeat}\n")
    rows = []
    cli = best(cli_runs) if cli_runs else None
    dump = best(dump_runs) if dump_runs else None
    for label, key in (("extract_paths (in-process)", "default"), ("extract_paths workers=1", "serial")):
        if inproc:
            seconds = min(inproc[key])
            rows.append([label, fmt(seconds, 3), f"{papers / seconds:,.0f}", inproc["links"], "-", "-",
                         f"{inproc['peak'] / 1e6:.0f} (tracemalloc)" if key == "serial" else "-",
                         fmt(seconds / floor_total, 1), fmt(seconds / dump.wall_s, 1) if dump else "-"])
    if cli:
        rows.append(["linkaudit extract (CLI)", fmt(cli.wall_s, 3), f"{papers / cli.wall_s:,.0f}", cli_links,
                     fmt(cli.cpu_s), f"{cli.maxrss_mb:.0f}", "-", fmt(cli.wall_s / floor_total, 1),
                     fmt(cli.wall_s / dump.wall_s, 1) if dump else "-"])
    rows.append(["floor: read + regex https?://\\S+", fmt(floor_total, 3), f"{papers / floor_total:,.0f}",
                 floor_matches, "-", "-", "-", "1.0", "-"])
    rows.append(["  (regex scan alone)", fmt(floor_scan, 3), f"{papers / floor_scan:,.0f}", floor_matches,
                 "-", "-", "-", fmt(floor_scan / floor_total, 1), "-"])
    if dump:
        rows.append(["lychee --dump", fmt(dump.wall_s, 3), f"{papers / dump.wall_s:,.0f}", dump_links,
                     fmt(dump.cpu_s), f"{dump.maxrss_mb:.0f}", "-", fmt(dump.wall_s / floor_total, 1), "1.0"])
    print(format_table(["what", "wall s", "papers/s", "links", "CPU s", "RSS MB", "peak MB", "x floor", "x lychee"],
                       rows))
    if inproc:
        print("\nlinks by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(inproc["kinds"]).items())))
        print(f"extract_paths / floor = {min(inproc['default']) / floor_total:.1f}x (issue 2 aims within 5x)")
    if cli and dump:
        print(f"linkaudit extract CLI / lychee --dump = {cli.wall_s / dump.wall_s:.1f}x (issue 5 aims within 3x)")
    return status


if __name__ == "__main__":
    sys.exit(main())
