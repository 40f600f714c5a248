"""``process.exit_now``: the CLI's own process ends with its code, its output flushed, its exit handlers run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from linkaudit import process

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "cvpr-2022-list06.md"


def _python(code: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, timeout=60,
                          **kwargs)  # type: ignore[call-overload, no-any-return]


def test_exit_code_buffered_output_and_atexit_handlers_survive() -> None:
    done = _python("""
        import atexit, sys
        from linkaudit.process import exit_now
        atexit.register(lambda: print("handler ran", file=sys.stderr))
        sys.stdout = open(sys.stdout.fileno(), "w", buffering=1 << 20, closefd=False)  # held in the buffer
        print("x" * 100_000, end="")
        sys.stderr.write("partial line without newline")
        exit_now(7)
    """)
    assert done.returncode == 7
    assert done.stdout == b"x" * 100_000
    assert done.stderr == b"partial line without newlinehandler ran\n"


def test_retain_only_in_the_own_process() -> None:
    before = len(process._RETAINED)
    process.retain(object(), own_process=False)
    assert len(process._RETAINED) == before  # tests call main() in-process: nothing piles up
    done = _python("""
        from linkaudit import process
        process.retain([1, 2, 3], own_process=True)
        assert process._RETAINED == [[1, 2, 3]]
        process.exit_now(0)
    """)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="a closed pipe as on POSIX shells")
def test_reader_gone_early_is_no_error() -> None:
    """``linkaudit extract … | head -c 10``: exit 0, no traceback, no "Exception ignored" from a last flush."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen([sys.executable, "-m", "linkaudit", "extract", str(SAMPLE), "--format", "json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert len(proc.stdout.read(10)) == 10
        proc.stdout.close()  # the reader leaves
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 0
    assert b"Traceback" not in err and b"Exception ignored" not in err, err


def test_cli_output_complete_and_exit_code_kept(tmp_path: Path) -> None:
    """The real entry point: the whole JSON document reaches a pipe, and a usage error still exits 2."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "linkaudit", "extract", str(SAMPLE), "--format", "json"],
                          capture_output=True, env=env, timeout=60)
    assert done.returncode == 0
    assert done.stdout.rstrip().endswith(b"}") and b'"schema": "linkaudit.extract/1"' in done.stdout
    missing = subprocess.run([sys.executable, "-m", "linkaudit", "extract", str(tmp_path / "nope.md")],
                             capture_output=True, env=env, timeout=60)
    assert missing.returncode == 2
    assert missing.stderr.decode().count("\n") == 1 and "no such file" in missing.stderr.decode()


def test_a_profiler_still_gets_to_write_its_results(tmp_path: Path) -> None:
    """``python -m cProfile -o F -m linkaudit …`` writes F: under a profiler the process exits normally."""
    out = tmp_path / "run.prof"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "linkaudit", "extract", str(SAMPLE),
                           "--format", "json", "--output", str(tmp_path / "x.json")], capture_output=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0 and (tmp_path / "x.json").exists()
