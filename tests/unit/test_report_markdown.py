"""Tests for the markdown status report: tables parse back, escaping, links, sections and the 65,536 cut."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt
from reportkit import result, sample_report

from linkaudit.model import Citation, HistoryEntry, LinkKey, Report, Status
from linkaudit.report import markdown

_HEADING = re.compile(r"^(?:## |<summary><b>)(?P<name>.+?)(?: \(\d+\))?(?:</b></summary>)?$")


def split_row(line: str) -> list[str]:
    """Split a table row on unescaped pipes and undo the backslash escapes."""
    cells, current, i = [], "", 0
    body = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            current += body[i + 1]
            i += 2
            continue
        if ch == "|":
            cells.append(current.strip())
            current = ""
        else:
            current += ch
        i += 1
    cells.append(current.strip())
    return cells


def parse_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Every table in the markdown, by the heading (or <summary>) above it, as dicts keyed by header."""
    tables: dict[str, list[dict[str, str]]] = {}
    heading = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _HEADING.match(lines[i])
        if match:
            heading = match.group("name")
        if lines[i].startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|( ---:? \|)+", lines[i + 1]):
            headers = split_row(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = split_row(lines[i])
                assert len(cells) == len(headers), lines[i]
                rows.append(dict(zip(headers, cells, strict=True)))
                i += 1
            tables[heading] = rows
            continue
        i += 1
    return tables


class _CellCounter(HTMLParser):
    """Counts the cells of every row of every HTML table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append(0)
        elif tag in ("td", "th"):
            self.rows[-1] += 1


def html_tables(text: str) -> list[list[int]]:
    """Render with a real CommonMark+tables parser; the cell counts of each row, per table."""
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    tables = []
    for chunk in html.split("<table>")[1:]:
        counter = _CellCounter()
        counter.feed(chunk.split("</table>")[0])
        tables.append(counter.rows)
    return tables


def test_summary_table_counts_per_kind_and_status() -> None:
    """The summary table has a row per kind with counts per status and a bold total row."""
    tables = parse_tables(markdown.render(sample_report()))
    summary = {row["Kind"]: row for row in tables["Summary"]}
    assert summary["github"]["Total"] == "4"
    assert summary["github"]["redirected"] == "1"
    assert summary["**all**"]["broken"] == "**2**"


def test_broken_table_has_paper_link_status_code_since_and_suggestion() -> None:
    """Each broken link row shows the paper id and title, the link, status, HTTP code, streak and did-you-mean."""
    rows = parse_tables(markdown.render(sample_report()))["Broken links"]
    assert len(rows) == 2
    doi, repo = rows
    assert doi["Paper"].startswith("**1001** Fair | Classifiers `with` ticks and a newline")
    assert doi["Link"] == "[https://doi.org/10.1109/cvpr.2022.99999](https://doi.org/10.1109/cvpr.2022.99999)"
    assert (doi["Status"], doi["HTTP"]) == ("broken", "404")
    assert doi["Since"] == "broken for 3 runs, since 2026-11-18"
    assert repo["Did you mean"] == "[https://github.com/gone/repo2](https://github.com/gone/repo2)"
    assert repo["Since"] == "broken for 1 run, since 2026-11-20"


def test_every_section_is_present_with_its_rows() -> None:
    """Redirected (old → new), inconclusive, archived, repairs (written → repaired) and no-link claims appear."""
    text = markdown.render(sample_report())
    tables = parse_tables(text)
    assert tables["Redirected or renamed"][0]["New"] == "→ [https://github.com/new/name](https://github.com/new/name)"
    assert [r["Status"] for r in tables["Inconclusive: blocked or error"]] == ["blocked", "error"]
    assert tables["Archived repositories"][0]["Last push"] == "2021-01-01T00:00:00Z"
    repair = tables["Repairs applied"][0]
    assert repair["As written"] == "https: //github.com/gone/repo"
    assert repair["Repaired"].startswith("[https://github.com/gone/repo]")
    assert repair["Rules"] == "space-in-scheme"
    assert tables["Papers that claim code without a link"] == [
        {"Paper": "**1008**", "Title": "Code | soon *maybe*", "Where": "catalogs/cvpr.md:100"}]


def test_inconclusive_section_is_collapsed_in_details() -> None:
    """Blocked and error links sit inside a <details> block, after the tables a maintainer must act on."""
    text = markdown.render(sample_report())
    start, end = text.index("<details>"), text.index("</details>")
    assert "example.org/blocked" in text[start:end]
    assert "example.org/blocked" not in text[:start]
    assert text.index("## Broken links") < start


def test_tables_survive_a_real_markdown_parser() -> None:
    """Rendered with a CommonMark+tables parser, every row of every table has exactly its header's cell count."""
    text = markdown.render(sample_report())
    tables = html_tables(text)
    assert len(tables) == 7
    for rows in tables:
        assert len(set(rows)) == 1, rows


@pytest.mark.parametrize(
    "nasty",
    [
        pytest.param("a | b", id="pipe"),
        pytest.param("line\nbreak\r\nagain", id="newlines"),
        pytest.param("``` fence", id="backticks"),
        pytest.param("<script>alert(1)</script>", id="html"),
        pytest.param("*bold* _em_ ~~strike~~ [x](y) # h \\", id="markup"),
        pytest.param("a\\|b", id="escaped-pipe"),
    ],
)
def test_escaping_keeps_tables_intact(nasty: str) -> None:
    """Titles, details and paths with pipes, newlines, backticks, HTML or markup never break a table row."""
    bad = result("web:x.org/a", Status.BROKEN, title=nasty, detail=nasty, paper=nasty,
                 suggestions=("https://x.org/a|b",))
    text = markdown.render(Report(results=(bad,)))
    assert "<script>" not in text
    row = parse_tables(text)["Broken links"][0]
    flat = " ".join(nasty.split())
    assert row["Detail"] == flat
    assert flat in row["Paper"]
    assert all(len(set(rows)) == 1 for rows in html_tables(text))


def test_links_are_clickable_and_only_for_http() -> None:
    """http(s) URLs become links with unsafe characters percent-encoded; other schemes stay plain text."""
    assert markdown.link("https://x.org/a b|c(d)") == "[https://x.org/a b\\|c(d)](https://x.org/a%20b%7Cc%28d%29)"
    assert markdown.link("javascript:alert(1)") == "javascript:alert(1)"
    assert markdown.link("https://x.org/" + "a" * 200).startswith("[https://x.org/aaa")
    assert "…](https://x.org/" + "a" * 200 + ")" in markdown.link("https://x.org/" + "a" * 200)


def test_no_broken_links_says_so() -> None:
    """A report without broken links says so and lists no empty sections."""
    text = markdown.render(Report(results=(result("web:x.org/ok"),)))
    assert "**No broken links.**" in text
    assert "## Broken links (0)" in text
    assert "Redirected" not in text and "<details>" not in text


def test_interrupted_run_is_flagged() -> None:
    """A report of an interrupted run warns that it holds only the links checked so far."""
    text = markdown.render(dataclasses.replace(sample_report(), interrupted=True))
    assert "interrupted" in text.split("## Summary")[0]


def test_rendering_is_deterministic() -> None:
    """The same report renders to the same text whatever the order of its results."""
    report = sample_report()
    assert markdown.render(report) == markdown.render(dataclasses.replace(report, results=report.results[::-1]))


def _big_report(broken: int, inconclusive: int = 0, title_len: int = 120) -> Report:
    results = [result(f"github:owner/repo{i:05d}", Status.BROKEN, paper=str(i), title="T" * title_len,
                      line=i + 1, detail="repository not found") for i in range(broken)]
    results += [result(f"web:slow.org/{i:05d}", Status.ERROR, detail="timeout " * 10, http_status=None)
                for i in range(inconclusive)]
    history = tuple(HistoryEntry(LinkKey(f"github:owner/repo{i:05d}"), consecutive_failures=2,
                                 first_failed="2026-11-19T03:00:00Z") for i in range(broken))
    return Report(results=tuple(results), history=history, started_at="2026-11-20T03:00:00Z")


def test_big_report_is_cut_to_65536_characters() -> None:
    """An oversized report fits GitHub's 65,536-character limit, says how many rows it left out, points to the full one."""
    report = _big_report(2000)
    full = markdown.render(report, limit=None)
    assert len(full) > 300_000
    text = markdown.render(report, full_report="reports/catalog.json")
    assert len(text) <= 65_536
    assert len(text) > 60_000  # the space is used, not wasted
    kept = parse_tables(text)["Broken links"]
    left = int(re.search(r"([\d,]+) of 2,000 rows left out", text).group(1).replace(",", ""))
    assert len(kept) + left == 2000
    assert f"_… {left} more rows left out; the full report is reports/catalog.json._" in text
    assert [r["Paper"].split("**")[1] for r in kept] == [str(i) for i in range(len(kept))]
    assert all(len(set(rows)) == 1 for rows in html_tables(text))


def test_cut_keeps_the_most_important_rows() -> None:
    """When cut, every broken link is kept before any inconclusive row, and the summary is always kept."""
    report = _big_report(60, inconclusive=3000)
    text = markdown.render(report)
    assert len(text) <= 65_536
    tables = parse_tables(text)
    assert len(tables["Broken links"]) == 60
    assert 0 < len(tables["Inconclusive: blocked or error"]) < 3000
    assert "## Summary" in text and "**60 broken**" in text
    assert "the full report is beside this one" in text


def test_cut_respects_any_limit() -> None:
    """Even a tiny limit is honoured, keeping whole lines."""
    text = markdown.render(_big_report(50), limit=1500)
    assert len(text) <= 1500
    assert text.endswith("\n")


def test_report_under_the_limit_is_not_cut() -> None:
    """A report that fits is identical with and without a limit."""
    report = sample_report()
    assert markdown.render(report) == markdown.render(report, limit=None)
    assert "left out" not in markdown.render(report)


def test_citations_beyond_three_are_counted() -> None:
    """A link cited by many papers lists three and counts the rest."""
    many = result("web:x.org/a", Status.BROKEN)
    many = dataclasses.replace(many, papers=tuple(Citation(str(i), "c.md", i + 1, f"P{i}") for i in range(5)))
    row = parse_tables(markdown.render(Report(results=(many,))))["Broken links"][0]
    assert row["Paper"].count("<br>") == 3 and row["Paper"].endswith("and 2 more")


def test_since_is_a_dash_without_history() -> None:
    """Without history (e.g. --no-history) the streak column shows a dash, not a made-up age."""
    row = parse_tables(markdown.render(Report(results=(result("web:x.org/a", Status.BROKEN),))))["Broken links"][0]
    assert row["Since"] == "—"


def test_repairs_table_lists_garbles_and_only_counts_sentence_punctuation() -> None:
    """A link that only lost a full stop is counted, not listed; a real garble is listed as written -> repaired."""
    from linkaudit.model import Confidence, Repair

    report = Report(results=(
        result("github:a/b", original="https://github.com/a/b.",
               repairs=(Repair("trailing-punctuation", "removed trailing '.'"),)),
        result("github:c/d", original="httpsr//glthub.com/c/d", confidence=Confidence.MEDIUM,
               repairs=(Repair("scheme", "'httpsr//' -> 'https://'"), Repair("host-typo", "glthub -> github"))),
    ))
    text = markdown.render(report)
    section = text.split("## Repairs applied", 1)[1]
    assert "httpsr//glthub.com/c/d" in section
    assert "https://github.com/a/b." not in section
    assert "1 more link only lost trailing punctuation" in section
