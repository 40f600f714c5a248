"""Rendering an ``Extraction`` (``linkaudit extract``): JSON (``linkaudit.extract/1``), markdown, rich table.

Pure functions over the model, except ``print_table`` which writes to a rich console.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from ..model import EXTRACT_SCHEMA, Extraction, Link, Paper


def paper_to_dict(paper: Paper) -> dict[str, Any]:
    """One paper in the ``linkaudit.extract/1`` shape."""
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
    """One link in the ``linkaudit.extract/1`` shape."""
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


def summarize(extraction: Extraction) -> dict[str, Any]:
    """Counts a reader wants first: papers, links per kind, code claims, repaired and suspect links."""
    return {
        "papers": len(extraction.papers),
        "links": len(extraction.links),
        "unique_keys": len({link.key for link in extraction.links}),
        "by_kind": dict(sorted(Counter(link.kind.value for link in extraction.links).items())),
        "by_confidence": dict(sorted(Counter(link.confidence.value for link in extraction.links).items())),
        "code": dict(sorted(Counter(paper.code.value for paper in extraction.papers).items())),
        "repaired": sum(1 for link in extraction.links if any(r.rule != "trailing-punctuation" for r in link.repairs)),
    }


def render_json(extraction: Extraction) -> str:
    """The ``linkaudit.extract/1`` document: one paper or link per line, so runs diff line by line.

    (``json.dumps(indent=...)`` falls back to the pure-Python encoder; encoding
    each record compactly keeps the C encoder and is several times faster.)
    """

    encode = json.JSONEncoder(ensure_ascii=False).encode  # one encoder: json.dumps(**kw) builds one per call

    def records(items: list[dict[str, Any]]) -> str:
        if not items:
            return "[]"
        return "[\n    " + ",\n    ".join(map(encode, items)) + "\n  ]"

    head = {"schema": EXTRACT_SCHEMA, "summary": summarize(extraction), "warnings": list(extraction.warnings)}
    parts = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in head.items()]
    parts.append(f'  "papers": {records([paper_to_dict(p) for p in extraction.papers])}')
    parts.append(f'  "links": {records([link_to_dict(link) for link in extraction.links])}')
    return "{\n" + ",\n".join(parts) + "\n}\n"


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
