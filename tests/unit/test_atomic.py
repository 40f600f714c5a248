"""atomic.write_atomically: all or nothing, no file of the user's touched, the usual permissions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkaudit.atomic import write_atomically
from linkaudit.cli import ExitCode, main


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_writes_the_pieces_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    write_atomically(target, (f"{i}\n" for i in range(3)))
    assert target.read_text() == "0\n1\n2\n"
    write_atomically(target, ["é ✓\n"])  # UTF-8, replaced whole
    assert target.read_bytes() == "é ✓\n".encode()
    assert _leftovers(tmp_path) == []


def test_a_failure_midway_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old\n")

    def pieces() -> Iterator[str]:
        yield "new, half"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, pieces())
    assert target.read_text() == "old\n" and _leftovers(tmp_path) == []


def test_a_users_file_named_like_a_temporary_one_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    for name in ("out.json.tmp", ".out.json.tmp"):  # the fixed names an earlier writer used
        (tmp_path / name).write_text(f"mine: {name}")
    write_atomically(target, ["{}\n"])
    assert target.read_text() == "{}\n"
    for name in ("out.json.tmp", ".out.json.tmp"):
        assert (tmp_path / name).read_text() == f"mine: {name}"


def test_permissions_follow_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        write_atomically(tmp_path / "a.md", ["x\n"])
    finally:
        os.umask(previous)
    assert (tmp_path / "a.md").stat().st_mode & 0o777 == 0o640


def test_an_unwritable_directory_raises_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_atomically(tmp_path / "missing" / "a.json", ["x"])
    assert not (tmp_path / "missing").exists()


def test_extract_output_keeps_a_users_tmp_file(sample_path: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """--output next to a file of the user's named OUTPUT.tmp: that file is untouched."""
    mine = tmp_path / "out.json.tmp"
    mine.write_text("precious")
    assert main(["extract", str(sample_path), "--output", str(tmp_path / "out.json")]) == ExitCode.OK
    capsys.readouterr()
    assert mine.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.json.tmp"]


def test_a_symlinked_report_keeps_its_link(tmp_path: Path) -> None:
    """reports/status.md linked to docs/status.md: the link stays and the document it points at is replaced."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "reports").mkdir()
    document = tmp_path / "docs" / "status.md"
    document.write_text("old\n")
    link = tmp_path / "reports" / "status.md"
    link.symlink_to(Path("..") / "docs" / "status.md")
    write_atomically(link, ["new\n"])
    assert link.is_symlink() and document.read_text() == "new\n"
    assert _leftovers(tmp_path / "docs") == [] and _leftovers(tmp_path / "reports") == []
