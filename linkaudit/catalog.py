"""Catalog parsing: markdown text -> ``Paper`` records (id, title, authors, venue, DOI, URL, abstract).

A paper starts at a heading ``#..###### [id] Title`` (any level); its fields
are ``**Name**: value`` lines (Authors, Conference/Venue/Journal, URL/DOI,
Abstract).  Missing fields are simply absent.  A file without such headings
is not a catalog: it yields no papers, and its links get ``paper: null``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .classify import doi_of
from .model import Paper, SourceRef

# Patterns start with a literal "\n" (the text is searched with one prepended) so that the regex
# engine jumps from line to line instead of testing every character for a line start.
HEADING_RE = re.compile(r"\n[ \t]{0,3}#{1,6}[ \t]*\[(?P<id>[^\]\n]{1,64})\][ \t]*(?P<title>[^\n]*)")
FIELD_RE = re.compile(r"\n[ \t]*\*\*(?P<name>[A-Za-z][\w ]{0,30})\*\*[ \t]*:?[ \t]*(?P<value>[^\n]*)")
SEPARATOR_RE = re.compile(r"\n[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*(?=\n|$)")
MD_LINK_RE = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
URL_IN_TEXT_RE = re.compile(r"https?://\S+")
DOI_IN_TEXT_RE = re.compile(r"\b(10\.\d{4,9}/[^\s\]\)>\"']+)")

VENUE_FIELDS = ("conference", "venue", "journal", "booktitle", "proceedings")
URL_FIELDS = ("url", "link", "doi", "paper", "pdf")
AUTHOR_FIELDS = ("authors", "author")


@dataclass(frozen=True, slots=True)
class PaperSpan:
    """A paper and the offsets of its block in the text (for attaching links)."""

    paper: Paper
    start: int
    end: int
    url_line: int | None
    abstract: str


def _clean_inline(text: str) -> str:
    """Strip markdown emphasis and surrounding space from a field value."""
    text = text.strip()
    for mark in ("***", "**", "*", "__", "_"):
        if len(text) > 2 * len(mark) and text.startswith(mark) and text.endswith(mark):
            text = text[len(mark):-len(mark)].strip()
            break
    return text


def _split_authors(value: str) -> tuple[str, ...]:
    value = _clean_inline(value)
    if not value:
        return ()
    if ";" not in value and " and " not in value:  # the common "A, B, C": no regex needed
        return tuple(p for p in (part.strip() for part in value.split(",")) if p)
    parts = re.split(r"\s*;\s*|\s*,\s*(?:and\s+)?|\s+and\s+", value)
    return tuple(p.strip() for p in parts if p.strip())


DOI_URL_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/")
BARE_DOI_RE = re.compile(r"10\.\d{4,9}/\S+")


def _url_and_doi(value: str) -> tuple[str | None, str | None]:
    """The URL a ``**URL**`` field points at, and the DOI when it is one."""
    value = value.strip()
    if value.endswith(")") and "](" in value:  # the common "[text](url)": plain string operations
        target = value[value.rindex("](") + 2:-1].strip()
        if target and " " not in target:
            for prefix in DOI_URL_PREFIXES:
                if target.startswith(prefix) and BARE_DOI_RE.fullmatch(target, len(prefix)):
                    return target, target[len(prefix):]
    match = MD_LINK_RE.search(value)
    url: str | None = match.group(2) if match else None
    if url is None:
        bare = URL_IN_TEXT_RE.search(value)
        url = bare.group().rstrip(".,;)") if bare else None
    doi = doi_of(url) if url else None
    if doi is None:
        m = DOI_IN_TEXT_RE.search(value)
        if m:
            doi = m.group(1).rstrip(".,;")
    return url, doi


def parse_catalog(text: str, path: str) -> tuple[PaperSpan, ...]:
    """Every paper in ``text`` (already newline-normalised), with its block's offsets."""
    text = "\n" + text  # offsets below are shifted by one; see the patterns' comment
    headings = list(HEADING_RE.finditer(text))
    spans: list[PaperSpan] = []
    line = 0  # the prepended "\n" is counted too
    last = 0
    for i, heading in enumerate(headings):
        start = heading.start() + 1  # the heading's first character (after its "\n")
        end = headings[i + 1].start() + 1 if i + 1 < len(headings) else len(text)
        line += text.count("\n", last, start)
        last = start
        block = text[start - 1:end]
        fields: dict[str, tuple[str, int]] = {}
        abstract_from: int | None = None
        for field in FIELD_RE.finditer(block):
            name = field.group("name").strip().lower()
            if name not in fields:
                fields[name] = (field.group("value"), field.start())
            if name in ("abstract", "summary") and abstract_from is None:
                abstract_from = field.end()
        authors: tuple[str, ...] = ()
        venue = url = doi = None
        url_line = None
        for name in AUTHOR_FIELDS:
            if name in fields:
                authors = _split_authors(fields[name][0])
                break
        for name in VENUE_FIELDS:
            if name in fields:
                venue = _clean_inline(fields[name][0]) or None
                break
        for name in URL_FIELDS:
            if name in fields:
                url, doi = _url_and_doi(fields[name][0])
                url_line = line + block.count("\n", 0, fields[name][1] + 1) - 1
                if url or doi:
                    break
        if abstract_from is not None:
            abstract = block[abstract_from:]
            sep = SEPARATOR_RE.search(abstract)
            abstract = abstract[: sep.start()] if sep else abstract
        else:
            abstract = FIELD_RE.sub("", block[heading.end() - start + 1:])
        paper = Paper(
            id=heading.group("id").strip(),
            title=heading.group("title").strip(),
            authors=authors,
            venue=venue,
            doi=doi,
            source=SourceRef(path, line),
            url=url,
        )
        spans.append(PaperSpan(paper=paper, start=start - 1, end=end - 1, url_line=url_line, abstract=abstract.strip()))
    return tuple(spans)
