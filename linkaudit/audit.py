"""Audit orchestration: CLI arguments -> extraction -> cache -> check -> history -> reports -> exit code.

The only stage that ties the others together.  It touches files through the
extractor (inputs), the store (history) and ``write_reports`` (outputs), and
prints only through the renderers' console helpers; ``cli.py`` maps its
exceptions to exit codes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import write_atomically
from .config import Settings, load_settings
from .errors import InputError, Terminated
from .model import (
    CheckResult,
    Extraction,
    HistoryEntry,
    Kind,
    Link,
    LinkKey,
    Report,
    cited_result,
    link_citations,
)
from .process import collector_paused, retain, settled_objects_frozen

if TYPE_CHECKING:
    from .store import Store

REPORT_MARKERS = {".json": '"schema": "linkaudit.report/', ".md": "linkaudit"}


class _Collector:
    """A ``Progress`` that keeps every finished result (so Ctrl-C keeps the results so far)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.results: list[CheckResult] = []

    def start(self, total: int) -> None:
        self.inner.start(total)

    def advance(self, result: CheckResult) -> None:
        self.results.append(result)
        self.inner.advance(result)

    def finish(self) -> None:
        self.inner.finish()


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from ``--config`` and the flags (flags win)."""
    overrides: dict[str, Any] = {
        "timeout": args.timeout,
        "concurrency": args.concurrency,
        "host_concurrency": args.host_concurrency,
        "reports_dir": args.output,
    }
    if args.allow_private:
        overrides["allow_private_hosts"] = True
    if args.retries is not None:
        overrides["retry.attempts"] = args.retries + 1
    if args.no_cache:
        overrides["use_cache"] = False
    return load_settings(args.config, overrides)


def report_stem(paths: Sequence[str], shard: tuple[int, int] | None) -> str:
    """The file name (without suffix) of the reports: the catalog's name for one input."""
    if len(paths) == 1 and paths[0] != "-" and not any(c in paths[0] for c in "*?["):
        stem = Path(paths[0].rstrip("/")).stem or "linkaudit"
    elif paths == ["-"]:
        stem = "stdin"
    else:
        stem = "linkaudit"
    return f"{stem}.shard-{shard[0]}-of-{shard[1]}" if shard else stem


def cached_results(store: Store, links: Sequence[Link], settings: Settings,
                   now: datetime | str | float | None = None) -> dict[LinkKey, CheckResult]:
    """The links' recent definitive OKs in the history, each kind under its own TTL and spread
    (``Settings.ttl_for``, ``Settings.spread_for``): the store is asked once per distinct pair."""
    by_kind: dict[Kind, set[LinkKey]] = {}
    for link in links:
        keys = by_kind.get(link.kind)
        if keys is None:
            keys = by_kind[link.kind] = set()
        keys.add(link.key)
    groups: dict[tuple[float, bool], set[LinkKey]] = {}
    for kind, keys in by_kind.items():
        groups.setdefault((settings.ttl_for(kind.value), settings.spread_for(kind.value)), set()).update(keys)
    cached: dict[LinkKey, CheckResult] = {}
    for (ttl, spread), keys in groups.items():
        cached.update(store.cached_ok(keys, ttl=ttl, now=now, spread=spread))
    return cached


def _with_cached(results: Sequence[CheckResult], cached: dict[LinkKey, CheckResult], links: Sequence[Link],
                 extraction: Extraction) -> tuple[CheckResult, ...]:
    """Checked results plus cached OKs, the cached ones given this run's citations."""
    if not cached:
        return tuple(results)
    titles = {(p.source.path, p.id): p.title for p in extraction.papers}
    by_key: dict[LinkKey, list[Link]] = {}
    for link in links:
        if link.key in cached:
            by_key.setdefault(link.key, []).append(link)
    extra = []
    for key, result in cached.items():
        group = by_key.get(key, [])
        first = group[0] if group else None
        extra.append(cited_result(
            result,
            key=result.key,
            url=result.url,
            kind=result.kind,
            papers=link_citations(group, titles),
            original=first.original if first else result.original,
            repairs=first.repairs if first else result.repairs,
            confidence=first.confidence if first else result.confidence,
            checked_at=result.checked_at,
            elapsed_ms=result.elapsed_ms,
            from_cache=True,
        ))
    return tuple(sorted([*results, *extra], key=lambda r: r.key))


def _check_overwrite(path: Path) -> None:
    """Refuse to replace a file linkaudit did not write (the user's own notes named like a report)."""
    if not path.exists():
        return
    marker = REPORT_MARKERS.get(path.suffix)
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(4096, size - 65536))
            tail = handle.read()  # a JSON report's keys are sorted: "schema" comes after the results
    except OSError as exc:
        raise InputError(f"{path}: cannot read the existing report ({exc.strerror or exc})") from exc
    text = (head + b"\n" + tail).decode("utf-8", errors="replace")
    if marker and marker not in text:
        raise InputError(f"{path}: exists and was not written by linkaudit; move it or choose another --output")


def write_reports(report: Report, directory: str, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``directory`` atomically; returns their paths."""
    from .report import json as report_json
    from .report import markdown as report_markdown

    folder = Path(directory)
    json_path, md_path = folder / f"{stem}.json", folder / f"{stem}.md"
    for path in (json_path, md_path):
        _check_overwrite(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # the JSON is streamed line by line: a 100,000-link report never sits whole in memory
        contents = (
            (json_path, report_json.iter_lines(report)),
            (md_path, [report_markdown.render(report, full_report=json_path.name).rstrip("\n")]),
        )
        for path, lines in contents:
            write_atomically(path, (f"{line}\n" for line in lines))
    except OSError as exc:
        raise InputError(f"{directory}: cannot write reports ({exc.strerror or exc})") from exc
    return json_path, md_path


def _print_stdout(report: Report, fmt: str | None, *, quiet: bool, json_path: Path | None = None) -> None:
    from .report import Format, render

    github = os.environ.get("GITHUB_ACTIONS") == "true"
    if fmt is None:
        fmt = "github" if github else ("table" if sys.stdout.isatty() else None)
    if fmt == "table" and sys.stdout.isatty():
        from .report.table import print_report

        print_report(report)
    elif fmt == "json" and json_path is not None:
        # the document just written, copied rather than rendered twice (seconds at 100,000 links)
        sys.stdout.flush()
        binary = getattr(sys.stdout, "buffer", None)  # absent when stdout is replaced by a StringIO
        with json_path.open("rb" if binary is not None else "r", encoding=None if binary else "utf-8") as handle:
            shutil.copyfileobj(handle, binary if binary is not None else sys.stdout)
        (binary or sys.stdout).flush()
    elif fmt is not None:
        text = render(report, Format(fmt))
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    elif not quiet:
        from .report.summary import summarize

        counts = summarize(report)
        parts = ", ".join(f"{n} {status}" for status, n in counts.by_status.items() if n)
        sys.stdout.write(f"linkaudit: {counts.total} unique links: {parts or 'none'}\n")
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if fmt == "github" and summary_path:  # annotations on stdout, the status report in the job summary
        from .report.github import render_summary

        try:
            with open(summary_path, "a", encoding="utf-8") as handle:
                handle.write(render_summary(report))
        except OSError as exc:
            print(f"linkaudit: warning: cannot write the job summary ({exc.strerror or exc})", file=sys.stderr)


def run_audit_command(args: argparse.Namespace) -> int:
    """``linkaudit audit``: the whole pipeline; returns the exit code (1 when the policy says so)."""
    own_process = getattr(args, "own_process", False)
    with settled_objects_frozen(own_process) as settle:
        return _audit(args, settle, own_process)


def _audit(args: argparse.Namespace, settle: Callable[[], None], own_process: bool) -> int:
    """The pipeline of ``run_audit_command``; ``settle`` is called once the results are made.

    ``own_process``: the audit owns its process (``cli.run``), so it may tune the collector and
    leave its results for the process's end to free (``process``).
    """
    from .check import check_links
    from .extract import extract_paths
    from .merge import in_shard
    from .policy import failing_results
    from .report.terminal import make_progress
    from .runner import run_checks
    from .store import SCHEMA_VERSION, open_store

    settings = settings_from_args(args)
    with collector_paused(own_process):  # and frozen after, as ``settle`` does
        extraction = extract_paths(args.paths, stdin=sys.stdin)
    for warning in extraction.warnings:
        print(f"linkaudit: warning: {warning}", file=sys.stderr)
    links = list(extraction.links)
    if args.shard:
        index, total = args.shard
        links = [link for link in links if in_shard(link.key, index, total)]

    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    clock = time.monotonic()
    store = None if args.no_history else open_store(settings.history_path, keep_runs=settings.history_keep_runs)
    if store is not None and store.upgraded_from is not None:
        print(f"linkaudit: upgraded the history {store.path} from schema {store.upgraded_from} to {SCHEMA_VERSION} "
              "(older linkaudit versions cannot read it now)", file=sys.stderr)
    try:
        cached = cached_results(store, links, settings) if store is not None and settings.use_cache else {}
        to_check = [link for link in links if link.key not in cached]
        progress = _Collector(make_progress(quiet=args.quiet))
        interrupted: KeyboardInterrupt | None = None
        try:
            checked = run_checks(
                check_links(to_check, settings, progress=progress, papers=extraction.papers, etags=store),
                settings.event_loop,
            )
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the results so far are reported
            interrupted = exc
            checked = tuple(sorted(progress.results, key=lambda r: r.key))
        results = _with_cached(checked, cached, links, extraction)
        previous: dict[LinkKey, str] | None = None
        history: dict[LinkKey, HistoryEntry] = {}
        if store is not None:
            previous = store.previous_run_statuses()
            if interrupted is None:
                entries = store.record_run(results, started_at=started, sources=list(args.paths))
                history = {entry.key: entry for entry in entries}
            else:
                history = store.history([r.key for r in results])
    finally:
        if store is not None:
            store.close()

    report = Report(
        results=results,
        papers=extraction.papers,
        sources=tuple(args.paths),
        started_at=started,
        duration_s=round(time.monotonic() - clock, 3),
        history=tuple(history[k] for k in sorted(history)),
        interrupted=interrupted is not None,
    )
    settle()
    retain((extraction, report), own_process)  # freed with the process (``cli.run``)
    json_path, md_path = write_reports(report, settings.reports_dir, report_stem(args.paths, args.shard))
    _print_stdout(report, args.format, quiet=args.quiet, json_path=json_path)
    print(f"linkaudit: reports written to {json_path} and {md_path}", file=sys.stderr)
    if interrupted is not None:
        return 143 if isinstance(interrupted, Terminated) else 130  # cli.ExitCode.TERMINATED / INTERRUPTED
    return 1 if failing_results(report, history, settings.policy, previous) else 0
