"""Report stage, markdown format: ``Report`` -> the status report a maintainer acts on (GitHub-flavoured).

Sections, in order: summary table; broken links (paper, link, status, HTTP
code, "broken for N runs, since DATE", did-you-mean); redirected/renamed
(old -> new); inconclusive (blocked/error, inside ``<details>``); archived
repositories; repairs applied (as written -> repaired); papers that claim code
without a link.  Empty sections are left out (except "no broken links").

Every cell is escaped (``|``, newlines, backticks, emphasis and HTML
characters) and long cells are shortened, so nothing breaks a table; links are
clickable, but only http(s) ones.  With ``limit`` (default 65,536 characters,
GitHub's issue/comment limit) an oversized report keeps the most important
rows (sections in the priority order of ``PRIORITY``, rows in key order
within a section), says how many rows were left out, and points to the full
report beside it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..model import CheckResult, Citation, Paper, Report, Status
from .summary import (
    INCONCLUSIVE,
    history_by_key,
    papers_without_code_links,
    run_label,
    sorted_results,
    summarize,
)

GITHUB_COMMENT_LIMIT = 65_536
"""GitHub's maximum length of an issue body or comment, in characters."""

MAX_CELL = 300
"""Longest cell text before it is shortened with an ellipsis (a title or detail can be huge)."""

MAX_LINK_TEXT = 90
"""Longest visible URL text; the link target itself is never shortened."""

MAX_CITATIONS = 3
"""Citations listed per link in a cell; the rest are counted."""

PRIORITY = ("broken", "redirected", "archived", "no-link", "repairs", "inconclusive")
"""Which sections keep their rows first when the report must be cut."""

_ESCAPE = re.compile(r"([\\`*_\[\]<>|~&#])")
# characters that would end a link target or a table cell; line breaks are dropped
_URL_UNSAFE = {" ": "%20", "|": "%7C", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E", "`": "%60", "\\": "%5C",
               '"': "%22", "\n": "", "\r": "", "\t": ""}


def escape(text: object, *, max_len: int = MAX_CELL) -> str:
    """Make ``text`` safe inside a table cell: one line, markdown/HTML characters escaped, shortened."""
    flat = " ".join(str(text).split())
    if len(flat) > max_len:
        flat = flat[: max_len - 1].rstrip() + "…"
    return _ESCAPE.sub(r"\\\1", flat)


def link(url: str, text: str | None = None) -> str:
    """A clickable markdown link to ``url`` (http/https only; anything else is shown as plain text)."""
    shown = escape(text if text is not None else url, max_len=MAX_LINK_TEXT)
    target = url.strip()
    if not re.match(r"https?://", target, re.IGNORECASE):
        return shown
    target = "".join(_URL_UNSAFE.get(ch, ch) for ch in target)
    return f"[{shown}]({target})"


def _paper_label(citation: Citation) -> str:
    name = f"**{escape(citation.paper)}**" if citation.paper else ""
    title = escape(citation.title, max_len=120) if citation.title else ""
    where = escape(f"{citation.path}:{citation.line}")
    main = " ".join(p for p in (name, title) if p) or where
    return main if main == where else f"{main} ({where})"


def papers_cell(result: CheckResult) -> str:
    """Who cites a link: paper id in bold, title, and file:line; at most ``MAX_CITATIONS`` then a count."""
    citations = sorted(result.papers, key=lambda c: (c.path, c.line, c.paper or ""))
    if not citations:
        return "—"
    shown = [_paper_label(c) for c in citations[:MAX_CITATIONS]]
    if len(citations) > MAX_CITATIONS:
        shown.append(f"and {len(citations) - MAX_CITATIONS} more")
    return "<br>".join(shown)


def _code(value: int | None) -> str:
    return "—" if value is None else str(value)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table_head(headers: Sequence[str], align: Sequence[str] | None = None) -> list[str]:
    marks = [("---:" if a == "r" else "---") for a in (align or ["l"] * len(headers))]
    return [_row(headers), _row(marks)]


@dataclass(frozen=True, slots=True)
class _Section:
    """One table of the report, before the cut decides how many of its rows to keep."""

    name: str
    heading: str
    headers: Sequence[str]
    rows: Sequence[str]
    align: Sequence[str] | None = None
    intro: str = ""
    collapsed: bool = False

    def lines(self, kept: int, note: str) -> list[str]:
        """The section's markdown lines with its first ``kept`` rows and a note about the rest."""
        count = len(self.rows)
        out: list[str] = []
        if self.collapsed:
            out += ["<details>", f"<summary><b>{self.heading} ({count})</b></summary>", ""]
        else:
            out += [f"## {self.heading} ({count})", ""]
        if self.intro:
            out += [self.intro, ""]
        if kept:
            out += [*_table_head(self.headers, self.align), *self.rows[:kept], ""]
        if kept < count:
            out += [f"_… {count - kept} more row{'s' if count - kept != 1 else ''} left out; {note}._", ""]
        if self.collapsed:
            out += ["</details>", ""]
        return out


def _broken_section(results: Sequence[CheckResult], report: Report) -> _Section:
    history = history_by_key(report)
    rows = []
    for r in results:
        if r.status is not Status.BROKEN:
            continue
        suggestions = "<br>".join(link(s) for s in r.suggestions) or "—"
        rows.append(_row([papers_cell(r), link(r.url), r.status.value, _code(r.http_status),
                          escape(run_label(history.get(r.key))), suggestions, escape(r.detail) or "—"]))
    return _Section("broken", "Broken links", ["Paper", "Link", "Status", "HTTP", "Since", "Did you mean", "Detail"],
                    rows, align=["l", "l", "l", "r", "l", "l", "l"])


def _redirected_section(results: Sequence[CheckResult]) -> _Section:
    rows = []
    for r in results:
        renamed = r.repo.renamed_to if r.repo else None
        if r.status is not Status.REDIRECTED and not renamed:
            continue
        if r.final_url:
            new = link(r.final_url)
        elif renamed:
            new = escape(renamed)
        else:
            new = "—"
        rows.append(_row([papers_cell(r), link(r.url), "→ " + new, r.status.value, _code(r.http_status)]))
    return _Section("redirected", "Redirected or renamed", ["Paper", "Old", "New", "Status", "HTTP"], rows,
                    align=["l", "l", "l", "l", "r"], intro="Update these links to where they now point.")


def _inconclusive_section(results: Sequence[CheckResult]) -> _Section:
    rows = [
        _row([papers_cell(r), link(r.url), r.status.value, _code(r.http_status), str(r.attempts),
              escape(r.detail) or "—"])
        for r in results if r.status in INCONCLUSIVE
    ]
    return _Section("inconclusive", "Inconclusive: blocked or error", ["Paper", "Link", "Status", "HTTP",
                    "Attempts", "Detail"], rows, align=["l", "l", "l", "r", "r", "l"], collapsed=True,
                    intro="Bot walls, rate limits, timeouts and server errors: not evidence that a link is dead.")


def _archived_section(results: Sequence[CheckResult]) -> _Section:
    rows = []
    for r in results:
        if r.repo is None or not r.repo.archived:
            continue
        notes = ", ".join(n for n, on in (("disabled", r.repo.disabled), ("empty", r.repo.empty)) if on) or "—"
        rows.append(_row([papers_cell(r), link(r.url), escape(r.repo.pushed_at or "—"),
                          _code(r.repo.stars), notes]))
    return _Section("archived", "Archived repositories", ["Paper", "Repository", "Last push", "Stars", "Notes"],
                    rows, align=["l", "l", "l", "r", "l"], intro="Read-only upstream: the code is frozen.")


# A sentence's full stop after a URL is prose, not a garble: such links are counted, not listed.
TRIVIAL_REPAIRS = frozenset({"trailing-punctuation"})


def _repairs_section(results: Sequence[CheckResult]) -> _Section:
    rows = []
    trivial = 0
    for r in results:
        if not r.repairs:
            continue
        if all(rp.rule in TRIVIAL_REPAIRS for rp in r.repairs):
            trivial += 1
            continue
        written = escape(r.original if r.original is not None else r.url)
        rules = ", ".join(escape(rp.rule) for rp in r.repairs)
        rows.append(_row([papers_cell(r), written, link(r.url), rules, r.confidence.value, r.status.value]))
    intro = "Links written garbled in the catalog; fix them at the source."
    if trivial:
        intro += (f" ({trivial} more link{'s' if trivial != 1 else ''} only lost trailing punctuation, such as a "
                  f"sentence's full stop, and {'are' if trivial != 1 else 'is'} not listed.)")
    return _Section("repairs", "Repairs applied", ["Paper", "As written", "Repaired", "Rules", "Confidence",
                    "Status"], rows, intro=intro)


def _no_link_section(papers: Sequence[Paper]) -> _Section:
    rows = [_row([f"**{escape(p.id)}**", escape(p.title) or "—", escape(f"{p.source.path}:{p.source.line}")])
            for p in papers]
    return _Section("no-link", "Papers that claim code without a link", ["Paper", "Title", "Where"], rows)


def _summary_lines(report: Report) -> list[str]:
    summary = summarize(report)
    statuses = list(summary.by_status)
    head = ["Kind", "Total", *statuses]
    lines = _table_head(head, ["l"] + ["r"] * (len(head) - 1))
    for kind, counts in summary.by_kind_status.items():
        lines.append(_row([kind, str(summary.by_kind[kind]), *(str(counts[s]) for s in statuses)]))
    lines.append(_row(["**all**", f"**{summary.total}**", *(f"**{summary.by_status[s]}**" for s in statuses)]))
    run = []
    if report.started_at:
        run.append(f"Run {escape(report.started_at)}")
    if report.duration_s is not None:
        run.append(f"{report.duration_s:.1f} s")
    run.append(f"{summary.total} unique link{'s' if summary.total != 1 else ''}, "
               f"{summary.citations} citation{'s' if summary.citations != 1 else ''}")
    if report.sources:
        run.append("sources: " + ", ".join(escape(s) for s in sorted(set(report.sources))))
    verdict = (f"**{summary.definitive_failures} broken** (definitive)" if summary.definitive_failures
               else "**No broken links.**")
    verdict += f" · {summary.inconclusive} inconclusive (blocked or error, not counted as broken)"
    return ["## Summary", "", " · ".join(run), "", *lines, "", verdict, ""]


def _sections(report: Report) -> list[_Section]:
    results = sorted_results(report)
    return [
        _broken_section(results, report),
        _redirected_section(results),
        _inconclusive_section(results),
        _archived_section(results),
        _repairs_section(results),
        _no_link_section(papers_without_code_links(report)),
    ]


def _assemble(head: list[str], sections: Sequence[_Section], kept: dict[str, int] | None, *,
              banner: str, note: str) -> str:
    lines = list(head[:1])
    if banner:
        lines += ["", banner]
    lines += head[1:]
    for section in sections:
        if section.rows or section.name == "broken":
            lines += section.lines(len(section.rows) if kept is None else kept[section.name], note)
    return "\n".join(lines).rstrip("\n") + "\n"


def render(report: Report, *, limit: int | None = GITHUB_COMMENT_LIMIT, full_report: str | None = None) -> str:
    """The markdown status report; at most ``limit`` characters (None: no limit).

    ``full_report`` names the complete report (e.g. ``reports/catalog.json``)
    that a cut report points to; without it the note says "beside this one".
    """
    head = ["# linkaudit report", ""]
    if report.interrupted:
        head += ["> [!WARNING]", "> The run was interrupted: this report holds only the links checked so far.", ""]
    head += _summary_lines(report)
    sections = _sections(report)
    if full_report is None:
        note = "the full report is beside this one"
    else:
        note = f"the full report is {link(full_report) if '://' in full_report else escape(full_report)}"
    text = _assemble(head, sections, None, banner="", note=note)
    if limit is None or len(text) <= limit:
        return text
    return _cut(head, sections, limit=limit, note=note)


def _cut(head: list[str], sections: Sequence[_Section], *, limit: int, note: str) -> str:
    """Keep whole rows, most important sections first, until the report fits in ``limit`` characters."""
    total_rows = sum(len(s.rows) for s in sections)
    by_name = {s.name: s for s in sections}
    ordered = [by_name[name] for name in PRIORITY if name in by_name]
    kept = {s.name: 0 for s in sections}

    def banner() -> str:
        left = total_rows - sum(kept.values())
        return (f"> [!NOTE]\n> Cut to fit in {limit:,} characters (GitHub's limit is {GITHUB_COMMENT_LIMIT:,}): "
                f"{left:,} of {total_rows:,} rows left out, least important first (broken links are kept "
                f"longest); {note}.")

    def assemble() -> str:
        return _assemble(head, sections, kept, banner=banner(), note=note)

    # with nothing kept every count is at its largest, so this bounds the fixed text from above
    budget = limit - len(assemble())
    full = True
    for s in ordered:
        for i, row in enumerate(s.rows):
            cost = len(row) + 1
            if i == 0:  # the first row brings the table head and a blank line
                cost += sum(len(h) + 1 for h in _table_head(s.headers, s.align)) + 1
            if cost > budget:
                full = False
                break
            budget -= cost
            kept[s.name] += 1
        if not full:
            break  # never keep a less important row in place of a more important one
    text = assemble()
    while len(text) > limit:  # only when the estimate was off, or the fixed text alone is too long
        victim = next((s for s in reversed(ordered) if kept[s.name] > 0), None)
        if victim is None:
            return text[:limit].rsplit("\n", 1)[0] + "\n"
        kept[victim.name] -= 1
        text = assemble()
    return text
