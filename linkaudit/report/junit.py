"""Report stage, JUnit XML format: ``Report`` -> one ``<testcase>`` per unique link, for CI test views.

Layout: ``<testsuites name="linkaudit">`` holding one ``<testsuite>`` per kind
(``linkaudit.doi``, ``linkaudit.github``...), each case named by the link key,
with ``file``/``line`` of its first citation.  The mapping of statuses:

- ``ok``, ``redirected``: passed (a redirect's target is in ``<system-out>``);
- ``broken``: ``<failure type="broken">``;
- ``blocked``, ``error``: ``<skipped message="inconclusive: ...">``.  They are
  deliberately *not* ``<error>``: most CI views paint errors red and some fail
  the build on them, while a bot wall or a timeout is no evidence that a link
  is dead.  The ``inconclusive:`` prefix tells them apart from real skips;
- ``skipped``: ``<skipped message="skipped: ...">``.

Output is deterministic: suites in ``Kind`` order, cases by key, no timestamps
beyond the run's own ``started_at`` (UTC, written without the ``Z`` as the
JUnit schema wants).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import assert_never

from ..model import CheckResult, Kind, Report, Status
from .summary import INCONCLUSIVE, sorted_results

# XML 1.0 cannot carry most control characters, not even escaped; a detail may hold them
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: object) -> str:
    return _XML_ILLEGAL.sub("\ufffd", str(text))


def _seconds(result: CheckResult) -> str:
    return f"{(result.elapsed_ms or 0) / 1000:.3f}"


def _message(result: CheckResult) -> str:
    code = f"HTTP {result.http_status}" if result.http_status is not None else "no HTTP status"
    return f"{result.status.value} ({code}): {result.detail}" if result.detail else f"{result.status.value} ({code})"


def _citations(result: CheckResult) -> str:
    lines = []
    for c in sorted(result.papers, key=lambda c: (c.path, c.line, c.paper or "")):
        paper = f"paper {c.paper}" if c.paper else "no paper"
        title = f": {c.title}" if c.title else ""
        lines.append(f"{c.path}:{c.line} ({paper}{title})")
    return "\n".join(lines)


def _case(parent: ET.Element, result: CheckResult) -> None:
    attrs = {"classname": f"linkaudit.{result.kind.value}", "name": _clean(result.key), "time": _seconds(result)}
    first = min(result.papers, key=lambda c: (c.path, c.line), default=None)
    if first is not None:
        attrs["file"] = _clean(first.path)
        attrs["line"] = str(first.line)
    case = ET.SubElement(parent, "testcase", attrs)
    body = [f"url: {result.url}"]
    if result.final_url:
        body.append(f"final url: {result.final_url}")
    if result.suggestions:
        body.append("did you mean: " + ", ".join(result.suggestions))
    cited = _citations(result)
    if cited:
        body.append("cited at:\n" + cited)
    match result.status:
        case Status.BROKEN:
            failure = ET.SubElement(case, "failure", {"type": "broken", "message": _clean(_message(result))})
            failure.text = _clean("\n".join(body))
        case Status.BLOCKED | Status.ERROR:
            ET.SubElement(case, "skipped", {"message": _clean("inconclusive: " + _message(result))})
        case Status.SKIPPED:
            ET.SubElement(case, "skipped", {"message": _clean("skipped: " + (result.detail or "not checked"))})
        case Status.OK | Status.REDIRECTED:
            pass
        case _:
            assert_never(result.status)
    if result.status is not Status.BROKEN:  # a failure already carries the same text
        out = ET.SubElement(case, "system-out")
        out.text = _clean("\n".join([f"status: {result.status.value}", *body]))


def _counts(results: list[CheckResult]) -> dict[str, str]:
    failures = sum(r.status is Status.BROKEN for r in results)
    skipped = sum(r.status is Status.SKIPPED or r.status in INCONCLUSIVE for r in results)
    seconds = sum((r.elapsed_ms or 0) for r in results) / 1000
    return {"tests": str(len(results)), "failures": str(failures), "errors": "0", "skipped": str(skipped),
            "time": f"{seconds:.3f}"}


def render(report: Report) -> str:
    """The JUnit XML document (UTF-8 declaration, indented, newline-terminated)."""
    results = list(sorted_results(report))
    root = ET.Element("testsuites", {"name": "linkaudit", **_counts(results)})
    for kind in Kind:
        members = [r for r in results if r.kind is kind]
        if not members:
            continue
        attrs = {"name": f"linkaudit.{kind.value}", **_counts(members)}
        if report.started_at:
            # the JUnit schema's timestamp has no zone designator; linkaudit's times are all UTC
            attrs["timestamp"] = _clean(report.started_at.removesuffix("Z"))
        suite = ET.SubElement(root, "testsuite", attrs)
        for result in members:
            _case(suite, result)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
