"""Tests for the JUnit XML report: one test case per link, failures for broken, skips for the undecided."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from reportkit import CATALOG, result, sample_report

from linkaudit.model import Report, Status
from linkaudit.report import junit


@pytest.fixture()
def root() -> ET.Element:
    """The parsed XML of the sample report."""
    return ET.fromstring(junit.render(sample_report()))


def _cases(root: ET.Element) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in root.iter("testcase")}


def test_document_is_well_formed_with_declaration() -> None:
    """The output starts with an XML declaration and parses as XML."""
    text = junit.render(sample_report())
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    ET.fromstring(text)


def test_one_testcase_per_link_grouped_by_kind(root: ET.Element) -> None:
    """Every unique link is one test case, in one suite per kind, cases in key order."""
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["linkaudit.doi", "linkaudit.github", "linkaudit.web"]
    names = [c.get("name") for s in suites for c in s.findall("testcase")]
    assert len(names) == 9 and len(set(names)) == 9
    for suite in suites:
        cases = [c.get("name") for c in suite.findall("testcase")]
        assert cases == sorted(cases)


def test_counts_match_the_cases(root: ET.Element) -> None:
    """tests/failures/errors/skipped attributes agree with the case elements at both levels."""
    for element in [root, *root.findall("testsuite")]:
        cases = list(element.iter("testcase"))
        assert int(element.get("tests", "")) == len(cases)
        assert int(element.get("failures", "")) == sum(c.find("failure") is not None for c in cases)
        assert int(element.get("skipped", "")) == sum(c.find("skipped") is not None for c in cases)
        assert element.get("errors") == "0"


@pytest.mark.parametrize(
    ("key", "element", "prefix"),
    [
        pytest.param("doi:10.1109/cvpr.2022.99999", "failure", "broken (HTTP 404)", id="broken"),
        pytest.param("web:example.org/blocked", "skipped", "inconclusive: blocked", id="blocked"),
        pytest.param("web:example.org/slow", "skipped", "inconclusive: error", id="error"),
        pytest.param("web:localhost/x", "skipped", "skipped: private address", id="skipped"),
    ],
)
def test_status_mapping(root: ET.Element, key: str, element: str, prefix: str) -> None:
    """broken -> <failure>; blocked/error -> <skipped> marked inconclusive; skipped -> <skipped>."""
    case = _cases(root)[key]
    child = case.find(element)
    assert child is not None
    assert (child.get("message") or "").startswith(prefix)


@pytest.mark.parametrize("key", ["github:naver-ai/cgl_fairness", "github:old/name"])
def test_ok_and_redirected_pass(root: ET.Element, key: str) -> None:
    """ok and redirected links are passing cases (no failure, error or skipped child)."""
    case = _cases(root)[key]
    assert case.find("failure") is None and case.find("skipped") is None and case.find("error") is None


def test_failure_body_names_url_suggestion_and_citations(root: ET.Element) -> None:
    """A failure's text names the URL, the did-you-mean and every catalog line citing it."""
    failure = _cases(root)["github:gone/repo"].find("failure")
    assert failure is not None and failure.text is not None
    assert "url: https://github.com/gone/repo" in failure.text
    assert "did you mean: https://github.com/gone/repo2" in failure.text
    assert f"{CATALOG}:52 (paper 1003: Gone)" in failure.text


def test_cases_point_at_the_catalog_line(root: ET.Element) -> None:
    """Each case carries the file and line of its first citation."""
    case = _cases(root)["doi:10.1109/cvpr.2022.99999"]
    assert (case.get("file"), case.get("line")) == (CATALOG, "27")


def test_control_characters_are_replaced() -> None:
    """Control characters that XML 1.0 cannot carry are replaced, so the document still parses."""
    bad = result("web:x.org/a", Status.BROKEN, detail="bell\x07 and nul\x00", title="t\x1b[31m")
    root = ET.fromstring(junit.render(Report(results=(bad,))))
    failure = next(root.iter("failure"))
    assert "\ufffd" in (failure.get("message") or "")


def test_empty_report_is_a_valid_empty_suite() -> None:
    """A report without links renders an empty <testsuites> with zero counts."""
    root = ET.fromstring(junit.render(Report(results=())))
    assert root.get("tests") == "0" and not root.findall("testsuite")


def test_rendering_is_deterministic() -> None:
    """The same report renders identically whatever the order of its results."""
    report = sample_report()
    reordered = Report(results=report.results[::-1], started_at=report.started_at)
    assert junit.render(Report(results=report.results, started_at=report.started_at)) == junit.render(reordered)
