"""Rendering an ``Extraction`` (``linkaudit extract``): JSON (``linkaudit.extract/1``), markdown, rich table.

Pure functions over the model, except ``print_table`` which writes to a rich console.
"""

from __future__ import annotations

import enum
import json
import json.encoder
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import attrgetter
from typing import Any, TypeVar

from ..model import EXTRACT_SCHEMA, CodeClaim, Confidence, Extraction, Kind, Link, Paper

# The string encoder that json's C encoder itself applies to str values when ensure_ascii=False:
# calling it per field gives byte for byte the output of ``encode(paper_to_dict(paper))``.
_encode_str = json.encoder.encode_basestring
_ENUM_JSON = {member: _encode_str(member.value) for values in (Kind, Confidence, CodeClaim) for member in values}

_Record = TypeVar("_Record", Paper, Link)


def paper_to_dict(paper: Paper) -> dict[str, Any]:
    """One paper in the ``linkaudit.extract/1`` shape (``paper_record`` is the same, already encoded)."""
    return {
        "id": paper.id,
        "title": paper.title,
        "authors": list(paper.authors),
        "venue": paper.venue,
        "doi": paper.doi,
        "url": paper.url,
        "source": {"path": paper.source.path, "line": paper.source.line},
        "code": paper.code.value,
    }


def link_to_dict(link: Link) -> dict[str, Any]:
    """One link in the ``linkaudit.extract/1`` shape (``link_record`` is the same, already encoded)."""
    return {
        "url": link.url,
        "original": link.original,
        "kind": link.kind.value,
        "key": link.key,
        "paper": link.paper_id,
        "source": {"path": link.source.path, "line": link.source.line},
        "repairs": [{"rule": r.rule, "detail": r.detail} for r in link.repairs],
        "confidence": link.confidence.value,
        "suggestions": list(link.suggestions),
        "notes": list(link.notes),
    }


def _strings(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(map(_encode_str, values)) + "]"


def paper_record(paper: Paper) -> str:
    """``paper_to_dict(paper)`` as compact JSON (``", "``/``": "`` separators, non-ASCII kept), built directly.

    Building a dict per record and handing it to the encoder cost most of the writer's time; the
    record's shape is fixed, so only its strings need encoding.  (The optional fields are tested
    here rather than in a helper: a function call per field is a third of a record's time.)
    """
    venue = "null" if paper.venue is None else _encode_str(paper.venue)
    doi = "null" if paper.doi is None else _encode_str(paper.doi)
    url = "null" if paper.url is None else _encode_str(paper.url)
    return (
        f'{{"id": {_encode_str(paper.id)}, "title": {_encode_str(paper.title)}, "authors": {_strings(paper.authors)}, '
        f'"venue": {venue}, "doi": {doi}, "url": {url}, '
        f'"source": {{"path": {_encode_str(paper.source.path)}, "line": {paper.source.line}}}, '
        f'"code": {_ENUM_JSON[paper.code]}}}'
    )


def link_record(link: Link) -> str:
    """``link_to_dict(link)`` as compact JSON, built directly (see ``paper_record``)."""
    paper = "null" if link.paper_id is None else _encode_str(link.paper_id)
    # most links have no repairs, suggestions or notes
    repairs = ", ".join(
        f'{{"rule": {_encode_str(r.rule)}, "detail": {_encode_str(r.detail)}}}' for r in link.repairs
    ) if link.repairs else ""
    suggestions = _strings(link.suggestions) if link.suggestions else "[]"
    notes = _strings(link.notes) if link.notes else "[]"
    return (
        f'{{"url": {_encode_str(link.url)}, "original": {_encode_str(link.original)}, '
        f'"kind": {_ENUM_JSON[link.kind]}, "key": {_encode_str(link.key)}, "paper": {paper}, '
        f'"source": {{"path": {_encode_str(link.source.path)}, "line": {link.source.line}}}, '
        f'"repairs": [{repairs}], "confidence": {_ENUM_JSON[link.confidence]}, '
        f'"suggestions": {suggestions}, "notes": {notes}}}'
    )


def summarize(extraction: Extraction) -> dict[str, Any]:
    """Counts a reader wants first: papers, links per kind, code claims, repaired and suspect links."""
    links = extraction.links

    def counts(members: Iterable[enum.StrEnum]) -> dict[str, int]:
        # counted by member (attrgetter and Counter run in C), named by value; members sort as their values
        return {member.value: n for member, n in sorted(Counter(members).items())}

    return {
        "papers": len(extraction.papers),
        "links": len(links),
        "unique_keys": len(set(map(attrgetter("key"), links))),
        "by_kind": counts(map(attrgetter("kind"), links)),
        "by_confidence": counts(map(attrgetter("confidence"), links)),
        "code": counts(map(attrgetter("code"), extraction.papers)),
        "repaired": sum(1 for link in links if link.repairs and any(r.rule != "trailing-punctuation" for r in link.repairs)),
    }


def render_json(extraction: Extraction) -> str:
    """The ``linkaudit.extract/1`` document: one paper or link per line, so runs diff line by line.

    (``json.dumps(indent=...)`` falls back to the pure-Python encoder; each record is written
    compactly on its own line instead, by ``paper_record``/``link_record``.)
    """
    return "".join(iter_json(extraction))


RECORDS_PER_PIECE = 2_000
"""Records per piece of ``iter_json``: pieces of ~1 MB, written one by one, reuse the same memory."""


def iter_json(extraction: Extraction) -> Iterator[str]:
    """``render_json(extraction)`` in pieces, so a writer never holds the whole document (~1 KB a link)."""
    head = {"schema": EXTRACT_SCHEMA, "summary": summarize(extraction), "warnings": list(extraction.warnings)}
    yield "{\n" + "".join(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n" for k, v in head.items())
    yield '  "papers": '
    yield from _array(extraction.papers, paper_record)
    yield ',\n  "links": '
    yield from _array(extraction.links, link_record)
    yield "\n}\n"


def _array(items: Sequence[_Record], record: Callable[[_Record], str]) -> Iterator[str]:
    """A JSON array of ``record(item)``, one per line, in pieces of ``RECORDS_PER_PIECE``."""
    if not items:
        yield "[]"
        return
    separator = "[\n    "
    for start in range(0, len(items), RECORDS_PER_PIECE):
        yield separator + ",\n    ".join(map(record, items[start:start + RECORDS_PER_PIECE]))
        separator = ",\n    "
    yield "\n  ]"


def md_escape(text: str) -> str:
    """Make ``text`` safe inside a markdown table cell."""
    return (
        text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
        .replace("<", "&lt;").replace(">", "&gt;").replace("`", "\\`").replace("*", "\\*").replace("_", "\\_")
    )


def _md_link(url: str) -> str:
    safe = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("|", "%7C")
    return f"[{md_escape(url)}]({safe})"


def render_markdown(extraction: Extraction) -> str:
    """A readable report: summary, then one table row per link grouped by paper, repairs shown."""
    summary = summarize(extraction)
    lines = ["# linkaudit extract", ""]
    lines.append(
        f"{summary['papers']} papers, {summary['links']} links "
        f"({', '.join(f'{k}: {v}' for k, v in summary['by_kind'].items()) or 'none'}); "
        f"code: {', '.join(f'{k}: {v}' for k, v in summary['code'].items()) or 'n/a'}."
    )
    lines.append("")
    by_paper: dict[tuple[str, str | None], list[Link]] = {}
    for link in extraction.links:
        by_paper.setdefault((link.source.path, link.paper_id), []).append(link)
    titles = {(p.source.path, p.id): p for p in extraction.papers}
    lines += ["| paper | title | kind | link | confidence | repairs / notes |", "|---|---|---|---|---|---|"]
    for (path, paper_id), links in by_paper.items():
        paper = titles.get((path, paper_id)) if paper_id is not None else None
        for link in links:
            notes = [f"{r.rule}: {r.detail}" for r in link.repairs] + list(link.notes)
            if link.suggestions:
                notes.append("try: " + ", ".join(link.suggestions[:3]) + (" …" if len(link.suggestions) > 3 else ""))
            if link.original != link.url:
                notes.insert(0, f"as written: `{link.original.strip()}`".replace("|", "\\|"))
            lines.append(
                "| "
                + " | ".join(
                    [
                        md_escape(paper_id or "-"),
                        md_escape(paper.title if paper else path),
                        link.kind.value,
                        _md_link(link.url),
                        link.confidence.value,
                        "<br>".join(n if n.startswith("as written") else md_escape(n) for n in notes) or "",
                    ]
                )
                + " |"
            )
    claimed = [p for p in extraction.papers if p.code.value == "claimed-no-link"]
    if claimed:
        lines += ["", "## Papers that claim code but give no link", "", "| paper | title | line |", "|---|---|---|"]
        lines += [f"| {md_escape(p.id)} | {md_escape(p.title)} | {p.source.path}:{p.source.line} |" for p in claimed]
    for warning in extraction.warnings:
        lines += ["", f"> warning: {md_escape(warning)}"]
    return "\n".join(lines) + "\n"


def render(extraction: Extraction, fmt: str) -> str:
    """Render in ``fmt`` (json, markdown or table)."""
    if fmt == "json":
        return render_json(extraction)
    if fmt == "markdown":
        return render_markdown(extraction)
    if fmt == "table":
        from io import StringIO

        from rich.console import Console

        buffer = StringIO()
        print_table(extraction, Console(file=buffer, width=160, no_color=True))
        return buffer.getvalue()
    raise ValueError(f"unknown extract format {fmt!r}")


def print_table(extraction: Extraction, console: Any = None) -> None:
    """A rich table of the links on the terminal (colour only on a TTY; NO_COLOR respected by rich)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{len(extraction.papers)} papers, {len(extraction.links)} links", show_lines=False)
    for column in ("paper", "line", "kind", "url", "conf.", "repairs"):
        table.add_column(column, overflow="fold")
    style = {"high": "", "medium": "yellow", "low": "red"}
    for link in extraction.links:
        table.add_row(
            link.paper_id or "-",
            str(link.source.line),
            link.kind.value,
            link.url,
            f"[{style[link.confidence.value]}]{link.confidence.value}[/]" if style[link.confidence.value] else "high",
            ", ".join(r.rule for r in link.repairs if r.rule != "trailing-punctuation"),
        )
    console.print(table)
    claimed = [p.id for p in extraction.papers if p.code.value == "claimed-no-link"]
    if claimed:
        console.print(f"claims code without a link: {', '.join(claimed)}")
