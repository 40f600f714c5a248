"""DOI benchmark: requests and wall time ``linkaudit audit`` spends on N DOIs, doi.org alone or Crossref first.

Reuses the checker's test doi.org and Crossref (``tests/integration/testweb.py``:
``FakeDoi``, ``FakeCrossref``), served on loopback, the handle API on 127.0.0.2 and
Crossref on 127.0.0.3, each answering after its own latency:

* ``GET /api/handles/<doi>``: ``responseCode`` 1 for a registered DOI, 100 (HTTP 404) for one that is not;
* ``GET /works?filter=doi:A,doi:B,...&rows=N``: the works Crossref lists among them.

It plants N DOIs (most registered with Crossref, a share registered elsewhere,
at doi.org only, as DataCite's are, and a share registered nowhere), writes a
catalog of their ``https://doi.org/...`` links (checked with ``linkaudit
extract``) and a config pointing ``doi.api`` and ``doi.crossref_api`` at the fakes
(Crossref with the 3 requests in flight linkaudit gives api.crossref.org), then
runs ``linkaudit audit`` with ``doi.crossref_batch`` 0 (every DOI at doi.org) and
N, and prints the requests each service saw, DOIs per Crossref query, the peak
in flight per service, wall time, CPU and the verdicts against the planted ones.

The latencies are assumptions, not measurements of the real services (there is
no internet here): ``--doi-latency`` (default 0.1 s, the lower end seen of doi.org's
handle API) and ``--crossref-latency`` (default 0.5 s for a list query of 50).
The request counts do not depend on them.

    .venv/bin/python bench/doi.py
    .venv/bin/python bench/doi.py --dois 10000 --batch 100 --crossref-latency 1.0
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

PROG = "bench/doi.py"
DOI_ADDRESS, CROSSREF_ADDRESS = "127.0.0.2", "127.0.0.3"
CROSSREF_CONCURRENCY = 3
"""As linkaudit's built-in politeness gives api.crossref.org (config.BUILTIN_HOSTS); the fake has another name."""


@dataclass(frozen=True)
class Planted:
    doi: str
    state: str  # crossref, elsewhere, missing

    @property
    def verdict(self) -> str:
        return "broken" if self.state == "missing" else "ok"


def plant(count: int, *, elsewhere: float, missing: float, seed: int) -> list[Planted]:
    """``count`` DOIs; a seeded share registered elsewhere than Crossref, and a share registered nowhere."""
    rng = random.Random(seed)
    states = ["elsewhere"] * round(count * elsewhere) + ["missing"] * round(count * missing)
    states += ["crossref"] * (count - len(states))
    rng.shuffle(states)
    prefixes = {"crossref": "10.1109/CVPR.2022.", "elsewhere": "10.5281/zenodo.", "missing": "10.1109/CVPR.2099."}
    return [Planted(f"{prefixes[state]}{i:06d}", state) for i, state in enumerate(states)]


class BenchDoiWeb(SimulatedServices):
    """The test suite's fake doi.org and Crossref on two loopback addresses, with latencies and a time limit."""

    def __init__(self, testweb: Any, dois: list[Planted], *, doi_latency: float, crossref_latency: float,
                 time_limit: float) -> None:
        super().__init__(testweb, time_limit=time_limit)
        self.doi = testweb.FakeDoi()
        self.crossref = testweb.FakeCrossref()
        for planted in dois:
            key = planted.doi.lower()
            if planted.state != "missing":
                self.doi.registered[key] = f"https://publisher.example/{planted.doi}"
            if planted.state == "crossref":
                self.crossref.titles[key] = f"Paper {planted.doi}"
                self.crossref.targets[key] = f"https://publisher.example/{planted.doi}"
        self.doi_server = self.serve(self.doi, latency=doi_latency, host=DOI_ADDRESS)
        self.crossref_server = self.serve(self.crossref, latency=crossref_latency, host=CROSSREF_ADDRESS)

    def reset(self) -> None:
        """Zero the counters between two runs."""
        def do() -> None:
            self.doi_server.reset_stats()
            self.crossref_server.reset_stats()
            self.crossref.batches.clear()

        self.on_loop(do)

    def stats(self) -> dict[str, Any]:
        batches = list(self.crossref.batches)
        return {
            "doi": self.doi_server.requests,
            "crossref": self.crossref_server.requests,
            "per_query": sum(map(len, batches)) / len(batches) if batches else None,
            "peak_doi": self.doi_server.peak,
            "peak_crossref": self.crossref_server.peak,
        }

    def config(self, path: Path, batch: int) -> None:
        path.write_text(
            "# written by bench/doi.py: doi.org and Crossref point at the test web on loopback\n"
            "allow_private_hosts: true\n"
            "doi:\n"
            f"  api: {self.doi_server.url}\n"
            f"  crossref_api: {self.crossref_server.url}\n"
            f"  crossref_batch: {batch}\n"
            "  mailto: bench@example.org\n"
            "hosts:\n"
            f"  - host: {CROSSREF_ADDRESS}\n"
            f"    concurrency: {CROSSREF_CONCURRENCY}\n",
            encoding="utf-8",
        )


@dataclass
class Run:
    batch: int
    measured: Measured
    stats: dict[str, Any]
    statuses: Counter[str]


def run_batch(args: argparse.Namespace, batch: int, web: BenchDoiWeb, catalog: Path, workdir: Path) -> Run:
    outdir = workdir / f"linkaudit-batch-{batch}"
    outdir.mkdir()
    config = outdir / "config.yaml"
    web.config(config, batch)
    argv = [*LINKAUDIT, "audit", catalog, "--config", config, "--allow-private", "--no-cache", "--no-history",
            "--format", "json", "--output", outdir]
    web.reset()
    measured = run_measured(argv, timeout=args.run_timeout, stdout=outdir / "stdout.json",
                            stderr=outdir / "stderr.txt", env=clean_env())
    report = read_report(measured, outdir)
    statuses = Counter(str(r.get("status")) for r in report["results"]) if report else Counter()
    return Run(batch, measured, web.stats(), statuses)


def print_report(args: argparse.Namespace, runs: list[Run], dois: list[Planted], form: str) -> None:
    planted = Counter(d.state for d in dois)
    n = len(dois)
    print(f"machine: {machine()}")
    print(f"tools: {tool_version(LINKAUDIT)}")
    print(f"scenario: {n} DOI links (catalog as {form}); planted: {planted['crossref']} registered with Crossref, "
          f"{planted['elsewhere']} registered elsewhere (doi.org only), {planted['missing']} registered nowhere; "
          f"latency (assumed): doi.org {args.doi_latency * 1000:g} ms per lookup, Crossref "
          f"{args.crossref_latency * 1000:g} ms per query; Crossref {CROSSREF_CONCURRENCY} in flight, doi.org 8\n")
    rows = []
    for run in runs:
        m, st = run.measured, run.stats
        total = st["doi"] + st["crossref"]
        rows.append([
            run.batch or "off", "timeout" if m.timed_out else m.returncode, fmt(m.wall_s), fmt(m.cpu_s),
            f"{m.maxrss_mb:.0f}", st["doi"], st["crossref"], fmt(st["per_query"], 1), total, fmt(100 * total / n, 1),
            f"{st['peak_doi']}/{st['peak_crossref']}",
            " ".join(f"{k}={v}" for k, v in sorted(run.statuses.items())) or "-",
        ])
    print(format_table(
        ["crossref_batch", "exit", "wall s", "CPU s", "RSS MB", "doi.org", "Crossref", "DOIs/query", "requests",
         "req/100 DOIs", "peak doi/crossref", "verdicts"],
        rows,
    ))
    expected = Counter(d.verdict for d in dois)
    print("\nexpected verdicts: " + " ".join(f"{k}={v}" for k, v in sorted(expected.items())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Count the requests linkaudit audit spends on DOIs, doi.org alone or Crossref first.",
        epilog="exit codes: 0 measured, verdicts as planted; 1 a run failed, timed out or got verdicts wrong; "
               "2 a tool is missing",
    )
    parser.add_argument("--dois", type=int, default=1000, help="DOI links in the catalog (default 1000)")
    parser.add_argument("--batch", type=int, default=50, help="doi.crossref_batch of the batched run (default 50)")
    parser.add_argument("--elsewhere", type=float, default=0.08,
                        help="share registered elsewhere than Crossref (default 0.08)")
    parser.add_argument("--missing", type=float, default=0.02, help="share registered nowhere (default 0.02)")
    parser.add_argument("--doi-latency", type=float, default=0.1, help="seconds per handle lookup (default 0.1)")
    parser.add_argument("--crossref-latency", type=float, default=0.5,
                        help="seconds per Crossref list query (default 0.5)")
    parser.add_argument("--catalog", choices=("auto", "papers", "list"), default="auto",
                        help="papers (one link per paper abstract) or a plain list; auto: papers, else list")
    parser.add_argument("--run-timeout", type=float, default=600.0, help="kill a run after S seconds (default 600)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep catalog, configs and reports under bench/out/")
    args = parser.parse_args(argv)
    if args.dois < 1 or not 1 <= args.batch <= 100 or min(args.doi_latency, args.crossref_latency) < 0:
        parser.error("--dois must be at least 1, --batch between 1 and 100, the latencies 0 or more")
    try:
        testweb = import_testweb("FakeDoi", "FakeCrossref")
        require_linkaudit("audit", "linkaudit.audit")
        require_linkaudit("extract", "linkaudit.extract")
    except ToolMissing as exc:
        return fail(PROG, str(exc))

    dois = plant(args.dois, elsewhere=args.elsewhere, missing=args.missing, seed=args.seed)
    with scratch("doi-", keep=args.keep, contents="catalog, configs and reports") as workdir:
        runs: list[Run] = []
        try:
            catalog, form = write_verified_catalog(workdir, [f"https://doi.org/{d.doi}" for d in dois], args.catalog,
                                                   args.run_timeout)
        except ToolMissing as exc:
            return fail(PROG, str(exc))
        try:
            web = BenchDoiWeb(testweb, dois, doi_latency=args.doi_latency, crossref_latency=args.crossref_latency,
                              time_limit=60 + args.run_timeout * 3)
        except OSError as exc:
            return fail(PROG, f"cannot start the test doi.org and Crossref: {exc}")
        try:
            for batch in (0, args.batch):
                print(f"running linkaudit audit (crossref_batch {batch}) ...", file=sys.stderr, flush=True)
                run = run_batch(args, batch, web, catalog, workdir)
                if run.measured.timed_out or not run.statuses:
                    print(f"{PROG}: crossref_batch {batch}: "
                          f"{'timed out' if run.measured.timed_out else 'wrote no report'} "
                          f"(exit {run.measured.returncode}): {run.measured.stderr_tail(3) or '(no stderr)'}",
                          file=sys.stderr)
                runs.append(run)
        finally:
            web.close()
        print_report(args, runs, dois, form)
    expected = Counter(d.verdict for d in dois)
    bad = [r for r in runs if r.measured.timed_out or r.statuses != expected]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
