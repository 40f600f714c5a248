"""Tests that every ``--format`` has a renderer and that every renderer is pure and deterministic."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest
from reportkit import sample_report

from linkaudit import cli
from linkaudit.report import RENDERERS, Format, render, renderer


def test_every_format_has_a_renderer() -> None:
    """Each Format member maps to a module with a render(report) -> str."""
    assert set(RENDERERS) == set(Format)
    for fmt in Format:
        function = renderer(fmt)
        assert callable(function)
        assert next(iter(inspect.signature(function).parameters)) == "report"


def test_cli_report_formats_match_the_enum() -> None:
    """The CLI's --format choices for reports are exactly the Format values."""
    assert set(cli.REPORT_FORMATS) == {f.value for f in Format}


@pytest.mark.parametrize("fmt", list(Format), ids=lambda f: f.value)
def test_render_is_deterministic_text(fmt: Format) -> None:
    """Every format renders the sample report to the same non-empty text twice."""
    report = sample_report()
    first = render(report, fmt)
    assert isinstance(first, str) and first.endswith("\n") and len(first) > 100
    assert render(report, fmt) == first


def test_renderers_never_import_httpx() -> None:
    """The report package is pure: rendering every format does not load httpx."""
    for fmt in Format:
        render(sample_report(), fmt)
    for name in RENDERERS.values():
        source = inspect.getsource(sys.modules[name])
        assert "httpx" not in source


@pytest.mark.parametrize("fmt", list(Format), ids=lambda f: f.value)
def test_report_command_rerenders_a_saved_result(fmt: Format, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`linkaudit report RESULTS.json --format F` re-renders a saved result in every format, exit 0."""
    from linkaudit.report import json as report_json

    saved = tmp_path / "results.json"
    saved.write_text(report_json.render(sample_report()), encoding="utf-8")
    assert cli.main(["report", str(saved), "--format", fmt.value]) == 0
    out = capsys.readouterr().out
    if fmt is Format.TABLE:  # printed by rich at the console's width
        assert "5 problems" in out
    else:
        assert out == render(sample_report(), fmt)
