"""CLI argument handling: usage errors are one line with exit 2; help and version exit 0."""

from __future__ import annotations

import subprocess
import sys

import pytest

from linkaudit.cli import EXIT_CODES_HELP, ExitCode, build_parser, main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "x.md", "--timeout", "0"], "--timeout: must be more than 0"),
        (["audit", "x.md", "--retries", "-1"], "--retries: must be at least 0"),
        (["audit", "x.md", "--concurrency", "abc"], "--concurrency: expected a whole number"),
        (["audit", "x.md", "--host-concurrency", "0"], "--host-concurrency: must be at least 1"),
        (["audit", "x.md", "--shard", "3/2"], "--shard: shard must satisfy 1 <= I <= N"),
        (["audit", "x.md", "--shard", "half"], "--shard: expected I/N"),
        (["audit", "x.md", "--format", "pdf"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        (["diff", "a.json"], "give OLD.json NEW.json"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad flag value is one line on stderr naming the flag, exit code 2, and nothing runs."""
    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """`linkaudit` alone shows the help (with the exit codes) and exits 2."""
    assert main([]) == ExitCode.USAGE
    assert "exit codes:" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--help"], ["audit", "--help"], ["--version"]])
def test_help_and_version_exit_0(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """--help and --version exit 0; audit's help documents every exit code."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    if "audit" in argv:
        out = capsys.readouterr().out
        assert all(f"  {code.value}" in out for code in ExitCode)


def test_exit_code_help_lists_every_code() -> None:
    """The documented exit codes are exactly the ExitCode enum."""
    documented = {int(line.split()[0]) for line in EXIT_CODES_HELP.splitlines()[1:] if line.strip()}
    assert documented == {int(code) for code in ExitCode}
    assert build_parser().epilog == EXIT_CODES_HELP


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["--version"], 0), (["extract", "no/such/catalog.md"], 2), ([], 2)],
    ids=["version", "missing-input", "no-command"],
)
def test_the_real_process_exits_with_main_s_code(argv: list[str], code: int) -> None:
    """``python -m linkaudit`` (``cli.run``) exits with the code ``main`` returns, a one-line error, no traceback."""
    done = subprocess.run([sys.executable, "-m", "linkaudit", *argv], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == code
    assert "Traceback" not in done.stderr
