"""Command line: the only module that prints, picks exit codes and chooses formats.

    linkaudit extract PATH... [--format json|markdown|table] [--output FILE]
    linkaudit audit   PATH... [--config FILE] [--format ...] [--output DIR] [--no-cache] ...
    linkaudit report  RESULTS.json [--format markdown|junit|table|json|github] [--output FILE]
    linkaudit diff    OLD.json NEW.json | --since-last
    linkaudit merge   PART.json... [--output FILE]

Exit codes: 0 nothing broken, 1 broken links found (per the failure policy),
2 usage/config/input error, 3 network unavailable, 130 interrupted, 143 terminated (SIGTERM).
Heavy modules (httpx, rich, yaml) are imported lazily so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .atomic import write_atomically
from .errors import ConfigError, InputError, LinkauditError, NetworkUnavailable, StoreError, Terminated
from .process import collector_paused, exit_now, retain


class ExitCode(enum.IntEnum):
    """The documented exit codes."""

    OK = 0
    BROKEN = 1
    USAGE = 2
    NETWORK = 3
    INTERRUPTED = 130
    TERMINATED = 143


EXIT_CODES_HELP = """exit codes:
  0  nothing broken (per the failure policy)
  1  broken links found (definitive failures, per the failure policy)
  2  usage, config or input error (one line on stderr names the problem)
  3  the links could not be checked: the network is unavailable
  130 interrupted (Ctrl-C); results so far are kept
  143 terminated (SIGTERM: a cancelled or timed-out CI job); results so far are kept
"""

EXTRACT_FORMATS = ("json", "markdown", "table")
REPORT_FORMATS = ("json", "markdown", "junit", "table", "github")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str) -> Any:  # pragma: no cover - exercised through main()
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _number(kind: type[int] | type[float], *, minimum: float, strict: bool, what: str) -> Any:
    """An argparse ``type=`` that parses ``kind`` and rejects values below (or at, if ``strict``) ``minimum``."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum or (strict and value == minimum):
            bound = f"more than {minimum:g}" if strict else f"at least {minimum:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


_positive_int = _number(int, minimum=1, strict=False, what="a whole number")
_non_negative_int = _number(int, minimum=0, strict=False, what="a whole number")
_positive_float = _number(float, minimum=0, strict=True, what="a number of seconds")


def _shard(text: str) -> tuple[int, int]:
    try:
        index, total = (int(p) for p in text.split("/", 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N such as 1/4, got {text!r}") from None
    if total < 1 or not 1 <= index <= total:
        raise argparse.ArgumentTypeError(f"shard must satisfy 1 <= I <= N, got {text!r}")
    return index, total


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of all subcommands."""
    parser = _Parser(
        prog="linkaudit",
        description="Audit the links of research catalogs: DOIs, code repositories and project pages.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"linkaudit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ex = sub.add_parser(
        "extract",
        help="list the papers, DOIs and code/project links of catalogs (no network)",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ex.add_argument("paths", nargs="+", metavar="PATH", help="files, directories (*.md inside), globs, or - for stdin")
    ex.add_argument("--format", choices=EXTRACT_FORMATS, default="json")
    ex.add_argument("--output", metavar="FILE", help="write here instead of stdout (an existing file needs --force)")
    ex.add_argument("--force", action="store_true", help="overwrite an existing --output file")

    au = sub.add_parser(
        "audit",
        help="extract and check every link; write reports",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    au.add_argument("paths", nargs="+", metavar="PATH", help="files, directories (*.md inside), globs, or - for stdin")
    au.add_argument("--config", metavar="FILE", help="config.yaml (default: built-in defaults)")
    au.add_argument("--format", choices=REPORT_FORMATS, help="what to print on stdout (default: table on a terminal, "
                    "github under GitHub Actions, else a one-line summary)")
    au.add_argument("--output", metavar="DIR", help="directory for the JSON and markdown reports (default: reports/)")
    au.add_argument("--no-cache", action="store_true", help="check every link, even ones that were ok recently")
    au.add_argument("--no-history", action="store_true", help="do not read or write the history database")
    au.add_argument("--allow-private", action="store_true", help="also check localhost/private/link-local addresses")
    au.add_argument("--timeout", type=_positive_float, metavar="S", help="read timeout per request, seconds")
    au.add_argument("--retries", type=_non_negative_int, metavar="N", help="retries after the first try")
    au.add_argument("--concurrency", type=_positive_int, metavar="N", help="requests in flight overall (default 64)")
    au.add_argument("--host-concurrency", type=_positive_int, metavar="N", help="requests in flight per host (default 8)")
    au.add_argument("--shard", type=_shard, metavar="I/N", help="check only the I-th of N stable shares of link keys")
    au.add_argument("--quiet", action="store_true", help="no progress display")

    rp = sub.add_parser("report", help="re-render a saved JSON result without checking anything")
    rp.add_argument("results", metavar="RESULTS.json")
    rp.add_argument("--format", choices=REPORT_FORMATS, default="markdown")
    rp.add_argument("--output", metavar="FILE", help="write here instead of stdout (an existing file needs --force)")
    rp.add_argument("--force", action="store_true", help="overwrite an existing --output file")

    df = sub.add_parser("diff", help="newly broken, fixed and still broken links between two results")
    df.add_argument("old", nargs="?", metavar="OLD.json")
    df.add_argument("new", nargs="?", metavar="NEW.json")
    df.add_argument("--since-last", metavar="NEW.json", help="compare NEW.json against the previous run in the history")
    df.add_argument("--config", metavar="FILE", help="config.yaml (for the history path)")
    df.add_argument("--format", choices=("markdown", "json"), default="markdown")

    mg = sub.add_parser("merge", help="join shard results (from audit --shard) into one report")
    mg.add_argument("parts", nargs="+", metavar="PART.json")
    mg.add_argument("--output", metavar="FILE", help="write here instead of stdout (an existing file needs --force)")
    mg.add_argument("--force", action="store_true", help="overwrite an existing --output file")
    return parser


def _write_output(text: str, output: str | None, *, force: bool) -> None:
    """Write ``text`` to ``output`` or stdout; never overwrite a user's file without --force."""
    _write_pieces([text if text.endswith("\n") else text + "\n"], output, force=force)


def _write_pieces(pieces: Iterable[str], output: str | None, *, force: bool) -> None:
    """Write the pieces of a document (ending in a newline) to ``output`` or stdout, as ``_write_output``.

    A large report is written as it is rendered, a piece at a time, instead of first being joined
    into one string (and encoded into one more copy of it).
    """
    if output is None or output == "-":
        for piece in pieces:
            sys.stdout.write(piece)
        return
    path = Path(output)
    if path.exists() and not force:
        raise InputError(f"{output}: file exists; pass --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, pieces)  # a half-written file is no report (Ctrl-C, or a disk that filled up)
    except OSError as exc:
        raise InputError(f"{output}: cannot write ({exc.strerror or exc})") from exc


def _cmd_extract(args: argparse.Namespace) -> int:
    from .extract import extract_paths
    from .report import extraction as render_extraction

    with collector_paused(args.own_process):
        extraction = extract_paths(args.paths, stdin=sys.stdin)
        retain(extraction, args.own_process)  # freed with the process, not object by object
        for warning in extraction.warnings:
            print(f"linkaudit: warning: {warning}", file=sys.stderr)
        if args.format == "table" and not args.output:
            render_extraction.print_table(extraction)
            return ExitCode.OK
        if args.format == "json":
            _write_pieces(render_extraction.iter_json(extraction), args.output, force=args.force)
        else:
            _write_output(render_extraction.render(extraction, args.format), args.output, force=args.force)
    return ExitCode.OK


def _cmd_audit(args: argparse.Namespace) -> int:
    from .audit import run_audit_command

    return run_audit_command(args)


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import Format, render
    from .report.json import load_report

    report = load_report(args.results)
    if args.format == "table" and not args.output:
        from .report.table import print_report

        print_report(report)
        return ExitCode.OK
    _write_output(render(report, Format(args.format)), args.output, force=args.force)
    return ExitCode.OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from .diff import run_diff_command

    if args.since_last and (args.old or args.new):
        raise _UsageError("linkaudit diff: give OLD.json NEW.json, or --since-last NEW.json, not both")
    if not args.since_last and not (args.old and args.new):
        raise _UsageError("linkaudit diff: give OLD.json NEW.json, or --since-last NEW.json")
    return run_diff_command(args)


def _cmd_merge(args: argparse.Namespace) -> int:
    from .merge import merge_reports
    from .report import json as report_json

    reports = [report_json.load_report(p) for p in args.parts]
    _write_output(report_json.render(merge_reports(reports)), args.output, force=args.force)
    return ExitCode.OK


COMMANDS = {
    "extract": _cmd_extract,
    "audit": _cmd_audit,
    "report": _cmd_report,
    "diff": _cmd_diff,
    "merge": _cmd_merge,
}


def main(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """Run the CLI; returns the exit code (never raises for a user's mistake).

    ``own_process`` is true only from ``run()``: the command may then tune process-wide state (the GC).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.own_process = own_process  # the audit's GC tuning is process-wide: only where it owns the process
        if not args.command:
            parser.print_help()
            return ExitCode.USAGE
        return int(COMMANDS[args.command](args))
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return ExitCode.USAGE
    except NetworkUnavailable as exc:
        print(f"linkaudit: network unavailable: {exc}", file=sys.stderr)
        return ExitCode.NETWORK
    except (ConfigError, InputError, StoreError) as exc:
        print(f"linkaudit: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except LinkauditError as exc:
        print(f"linkaudit: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except Terminated:
        print("linkaudit: terminated", file=sys.stderr)
        return ExitCode.TERMINATED
    except KeyboardInterrupt:
        print("linkaudit: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (e.g. `| head`); not an error worth a traceback
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return ExitCode.OK



def run() -> None:
    """The console entry point (``linkaudit``, ``python -m linkaudit``): ``main()``, then exit with its code.

    The process ends without freeing what is still alive and without the
    interpreter's teardown (``process.exit_now``: streams flushed, ``atexit``
    handlers run): 20 ms after a small audit, ~50 ms after a 10,000-paper
    extraction, more after 100,000 links.  Only the real process does this;
    tests call ``main()`` in-process.
    """
    code = main(own_process=True)
    exit_now(code)
