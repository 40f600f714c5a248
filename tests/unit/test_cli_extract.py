"""`linkaudit extract` end to end, in-process: formats, inputs, bad input and exit codes."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

from linkaudit.cli import ExitCode, main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract(sample_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON output carries the schema, papers and links with exactly the contract's field names."""
    code, out, _ = _run(["extract", str(sample_path)], capsys)
    assert code == ExitCode.OK
    doc = json.loads(out)
    assert doc["schema"] == "linkaudit.extract/1"
    assert len(doc["papers"]) == 200 and len(doc["links"]) == 302
    paper = doc["papers"][58]
    assert {"id", "title", "authors", "venue", "doi", "source", "code"} <= set(paper)
    assert paper["id"] == "1058" and isinstance(paper["id"], str)
    link = next(link for link in doc["links"] if link["paper"] == "1058" and link["kind"] == "github")
    assert {"url", "original", "kind", "key", "paper", "source", "repairs", "confidence", "suggestions"} <= set(link)
    assert link["source"] == {"path": str(sample_path), "line": 849}
    assert link["original"] == "httpsr//glthub.com/megvii-research/DynamicMLPForFinegrained."
    assert {r["rule"] for r in link["repairs"]} >= {"scheme", "host-typo"}


def test_markdown_and_table_formats(sample_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Markdown shows repairs per paper; the table prints the links."""
    code, out, _ = _run(["extract", str(sample_path), "--format", "markdown"], capsys)
    assert code == 0
    assert "| 1121 |" in out and "spaced-url" in out and "Papers that claim code but give no link" in out
    code, out, _ = _run(["extract", str(sample_path), "--format", "table"], capsys)
    assert code == 0 and "│ 1121" in out and "claims code without a link: 1072" in out


def test_directory_glob_and_stdin(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Directories recurse into *.md, globs expand, and - reads standard input."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("https://github.com/a/a\n")
    (tmp_path / "sub" / "b.md").write_text("https://github.com/b/b\n")
    (tmp_path / "notes.txt").write_text("https://github.com/c/c\n")
    code, out, _ = _run(["extract", str(tmp_path)], capsys)
    assert code == 0 and [link["key"] for link in json.loads(out)["links"]] == ["github:a/a", "github:b/b"]
    code, out, _ = _run(["extract", str(tmp_path / "**" / "*.md")], capsys)
    assert code == 0 and len(json.loads(out)["links"]) == 2
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"see https://gitlab.com/g/p\n")))
    code, out, _ = _run(["extract", "-"], capsys)
    assert code == 0
    (link,) = json.loads(out)["links"]
    assert link["source"]["path"] == "<stdin>" and link["kind"] == "gitlab"


@pytest.mark.parametrize("case", ["missing", "empty-dir", "binary", "no-glob-match"])
def test_bad_input_is_one_line_exit_2(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Missing paths, empty directories, binary files and empty globs: one line naming the path, exit 2."""
    if case == "missing":
        target = str(tmp_path / "nope.md")
    elif case == "empty-dir":
        target = str(tmp_path)
    elif case == "binary":
        target = str(tmp_path / "x.md")
        Path(target).write_bytes(b"\x7fELF\x00\x00" * 50)
    else:
        target = str(tmp_path / "*.md")
    code, out, err = _run(["extract", target], capsys)
    assert code == ExitCode.USAGE
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (target if case != "no-glob-match" else "*.md") in err


def test_output_file_is_not_overwritten_without_force(sample_path: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """--output writes a file; an existing file is kept unless --force is given."""
    target = tmp_path / "out.json"
    target.write_text("precious")
    code, _, err = _run(["extract", str(sample_path), "--output", str(target)], capsys)
    assert code == ExitCode.USAGE and "--force" in err and target.read_text() == "precious"
    code, _, _ = _run(["extract", str(sample_path), "--output", str(target), "--force"], capsys)
    assert code == 0 and json.loads(target.read_text())["schema"] == "linkaudit.extract/1"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown format or a missing argument is a one-line usage error with exit 2."""
    code, _, err = _run(["extract", "x.md", "--format", "xml"], capsys)
    assert code == ExitCode.USAGE and "invalid choice" in err
    code, _, err = _run(["extract"], capsys)
    assert code == ExitCode.USAGE and "required" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file without read permission is a one-line error naming it."""
    target = tmp_path / "locked.md"
    target.write_text("x")
    target.chmod(0)
    code, _, err = _run(["extract", str(target)], capsys)
    assert code == ExitCode.USAGE and "permission denied" in err
