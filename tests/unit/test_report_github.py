"""Tests for the GitHub Actions format: annotations on catalog lines and the job summary."""

from __future__ import annotations

import dataclasses

from reportkit import CATALOG, result, sample_report

from linkaudit.model import Citation, Report, Status
from linkaudit.report import github, markdown


def _lines(report: Report) -> list[str]:
    return github.render(report).splitlines()


def test_broken_links_are_errors_on_the_catalog_line() -> None:
    """Each broken link gives an ::error annotation with the file and line where it is cited."""
    errors = [line for line in _lines(sample_report()) if line.startswith("::error ")]
    assert len(errors) == 2
    assert errors[0].startswith(f"::error file={CATALOG},line=27,title=linkaudit%3A broken doi link::")
    assert "Broken link https://doi.org/10.1109/cvpr.2022.99999 (HTTP 404)" in errors[0]
    assert errors[1].startswith(f"::error file={CATALOG},line=52,")
    assert "Did you mean https://github.com/gone/repo2?" in errors[1]


def test_redirected_links_are_warnings() -> None:
    """A redirected or renamed link gives a ::warning naming where it now points."""
    warnings = [line for line in _lines(sample_report()) if line.startswith("::warning ")]
    assert warnings == [
        f"::warning file={CATALOG},line=40,title=linkaudit%3A github link moved::https://github.com/old/name now "
        "points to https://github.com/new/name (paper 1002: Renamed repo); update the link."]


def test_inconclusive_and_ok_links_get_no_annotation() -> None:
    """Blocked, error, skipped and ok links are not annotated (a bot wall is no evidence of breakage)."""
    text = github.render(sample_report())
    for url in ("example.org/blocked", "example.org/slow", "localhost/x", "naver-ai/cgl_fairness"):
        assert url not in text


def test_every_citation_gets_its_own_annotation() -> None:
    """A broken link cited on two lines is annotated on both."""
    twice = dataclasses.replace(result("web:x.org/a", Status.BROKEN),
                                papers=(Citation("1", "a.md", 3), Citation("2", "b.md", 9)))
    errors = [line for line in _lines(Report(results=(twice,))) if line.startswith("::error")]
    assert [e.split("::")[1].split(",title")[0] for e in errors] == ["error file=a.md,line=3", "error file=b.md,line=9"]


def test_messages_and_properties_are_escaped() -> None:
    """Newlines and % in messages, and : and , in properties, are escaped as @actions/core does."""
    nasty = dataclasses.replace(result("web:x.org/a", Status.BROKEN, detail="50% lost\nsecond line"),
                                papers=(Citation("1", "dir,x/a:b.md", 4),))
    line = _lines(Report(results=(nasty,)))[0]
    assert line.startswith("::error file=dir%2Cx/a%3Ab.md,line=4,")
    assert "50%25 lost%0Asecond line" in line
    assert "\n" not in line


def test_stdin_and_uncited_links_have_no_file() -> None:
    """A link read from stdin or cited nowhere is annotated without file/line properties."""
    stdin = dataclasses.replace(result("web:x.org/a", Status.BROKEN), papers=(Citation(None, "-", 1),))
    nowhere = dataclasses.replace(result("web:x.org/b", Status.BROKEN), papers=())
    errors = [line for line in _lines(Report(results=(stdin, nowhere))) if line.startswith("::error")]
    assert all(e.startswith("::error title=") for e in errors) and len(errors) == 2


def test_closing_notice_counts_statuses() -> None:
    """The last line is a ::notice with the counts per status."""
    assert _lines(sample_report())[-1] == (
        "::notice title=linkaudit::9 links checked: 3 ok, 1 redirected, 2 broken, 1 blocked, 1 error, 1 skipped")


def test_job_summary_is_the_markdown_report() -> None:
    """The job summary is the markdown status report (with the larger step-summary limit)."""
    report = sample_report()
    assert github.render_summary(report) == markdown.render(report)
