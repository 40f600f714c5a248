"""Report stage, GitHub Actions format: ``Report`` -> workflow-command annotations and a job summary.

``render(report)`` is what ``--format github`` prints on stdout: one
``::error file=…,line=…,title=…::message`` per place a *broken* link is cited
(so the annotation sits on the catalog line), ``::warning`` for redirected or
renamed links, and one closing ``::notice`` with the counts.  Inconclusive
links (blocked, error) get no annotation: they are not evidence of breakage.
``render_summary(report)`` is the markdown for ``$GITHUB_STEP_SUMMARY``; the
caller appends it to that file (renderers do no I/O).

GitHub shows at most 10 errors and 10 warnings per step in the UI; the rest
are still in the log, and the summary and reports hold everything.
"""

from __future__ import annotations

from ..model import CheckResult, Citation, Report, Status
from . import markdown
from .summary import sorted_results, summarize

STEP_SUMMARY_LIMIT = 1_000_000
"""GitHub rejects a job summary over 1 MiB per step; stay under it."""


def escape_data(text: str) -> str:
    """Escape a workflow-command message (``%``, CR, LF), as @actions/core does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow-command property value (also ``:`` and ``,``), as @actions/core does."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, *, title: str, citation: Citation | None) -> str:
    """One ``::level file=…,line=…,title=…::message`` line (no file for stdin or an uncited link)."""
    props = []
    if citation is not None and citation.path != "-":
        props += [f"file={escape_property(citation.path)}", f"line={citation.line}"]
    props.append(f"title={escape_property(title)}")
    return f"::{level} {','.join(props)}::{escape_data(message)}"


def _where(result: CheckResult) -> list[Citation | None]:
    citations = sorted(result.papers, key=lambda c: (c.path, c.line, c.paper or ""))
    return list(citations) if citations else [None]


def _paper(citation: Citation | None) -> str:
    if citation is None or citation.paper is None:
        return ""
    return f" (paper {citation.paper}{': ' + citation.title if citation.title else ''})"


def render(report: Report) -> str:
    """Annotations for broken (error) and redirected (warning) links, then a one-line notice of the counts."""
    lines = []
    for result in sorted_results(report):
        if result.status is Status.BROKEN:
            code = f" (HTTP {result.http_status})" if result.http_status is not None else ""
            hint = f" Did you mean {' or '.join(result.suggestions)}?" if result.suggestions else ""
            detail = f": {result.detail}" if result.detail else ""
            for citation in _where(result):
                lines.append(annotation(
                    "error", f"Broken link {result.url}{code}{detail}{_paper(citation)}.{hint}",
                    title=f"linkaudit: broken {result.kind.value} link", citation=citation))
        elif result.status is Status.REDIRECTED or (result.repo is not None and result.repo.renamed_to):
            new = result.final_url or (result.repo.renamed_to if result.repo else None) or "another address"
            for citation in _where(result):
                lines.append(annotation(
                    "warning", f"{result.url} now points to {new}{_paper(citation)}; update the link.",
                    title=f"linkaudit: {result.kind.value} link moved", citation=citation))
    summary = summarize(report)
    counts = ", ".join(f"{n} {status}" for status, n in summary.by_status.items() if n) or "none"
    lines.append(f"::notice title=linkaudit::{escape_data(f'{summary.total} links checked: {counts}')}")
    return "\n".join(lines) + "\n"


def render_summary(report: Report, *, full_report: str | None = None) -> str:
    """The job summary: the markdown status report, cut to the step-summary limit."""
    return markdown.render(report, limit=STEP_SUMMARY_LIMIT, full_report=full_report)
