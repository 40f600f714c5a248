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
from .records import fast_init

# Patterns start with a literal "\n" so that the regex engine jumps from line to line instead of
# testing every character for a line start; a heading on the first line is matched on its own.
_HEADING = r"[ \t]{0,3}#{1,6}[ \t]*\[(?P<id>[^\]\n]{1,64})\][ \t]*(?P<title>[^\n]*)"
HEADING_RE = re.compile("\n" + _HEADING)
FIRST_HEADING_RE = re.compile(_HEADING)
FIELD_RE = re.compile(r"\n[ \t]*\*\*(?P<name>[A-Za-z][\w ]{0,30})\*\*[ \t]*:?[ \t]*(?P<value>[^\n]*)")
SEPARATOR_RE = re.compile(r"\n[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*(?=\n|$)")
MD_LINK_RE = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
URL_IN_TEXT_RE = re.compile(r"https?://\S+")
DOI_IN_TEXT_RE = re.compile(r"\b(10\.\d{4,9}/[^\s\]\)>\"']+)")

VENUE_FIELDS = ("conference", "venue", "journal", "booktitle", "proceedings")
URL_FIELDS = ("url", "link", "doi", "paper", "pdf")
AUTHOR_FIELDS = ("authors", "author")


@fast_init
@dataclass(frozen=True, slots=True)
class PaperSpan:
    """A paper and the offsets of its block in the text (for attaching links)."""

    paper: Paper
    start: int
    end: int
    url_line: int | None
    abstract_start: int
    abstract_end: int
    """The abstract is ``text[abstract_start:abstract_end]``, taken only when it is needed (``abstract``):
    it decides the code claim of papers without a code link, and all abstracts of a large catalog
    held at once would cost more memory than its links."""
    abstract_has_fields: bool
    """No **Abstract** field: the abstract is the rest of the block, its ``**Name**: value`` lines removed."""

    def abstract(self, text: str) -> str:
        """The paper's abstract, stripped (``text`` is the text the span was parsed from)."""
        abstract = text[self.abstract_start:self.abstract_end]
        return (FIELD_RE.sub("", abstract) if self.abstract_has_fields else abstract).strip()


# Emphasis marks: up to three "*" or two "_"; the longest that encloses a value is removed.
_LONGEST_MARK = {"*": 3, "_": 2}


def _clean_inline(text: str) -> str:
    """Strip markdown emphasis and surrounding space from a field value.

    The longest mark (``***``, ``**``, ``*``; ``__``, ``_``) that both starts and ends the value and
    leaves something between is removed: its length is the shortest of the runs of the mark's
    character at either end, the longest mark, and what leaves one character between (counted with
    ``lstrip``/``rstrip`` in C rather than trying each mark in turn; a test holds both equal).
    """
    text = text.strip()
    first = text[:1]
    longest = _LONGEST_MARK.get(first)
    if longest is None:
        return text
    size = min(len(text) - len(text.lstrip(first)), len(text) - len(text.rstrip(first)), longest,
               (len(text) - 1) // 2)
    return text[size:-size].strip() if size else text


def _split_authors(value: str) -> tuple[str, ...]:
    value = _clean_inline(value)
    if not value:
        return ()
    if ";" not in value and " and " not in value:  # the common "A, B, C": no regex needed
        return tuple(filter(None, map(str.strip, value.split(","))))
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


def _headings(text: str, lo: int, hi: int) -> list[tuple[int, re.Match[str]]]:
    """(offset of the heading's first character, its match) of every paper heading in ``text[lo:hi]``."""
    first = FIRST_HEADING_RE.match(text) if lo == 0 else None
    found = [(0, first)] if first else []
    # a heading at lo > 0 is found by its "\n" at lo - 1
    pos = first.end() if first else max(lo - 1, 0)
    found.extend((m.start() + 1, m) for m in HEADING_RE.finditer(text, pos, hi))
    return found


def next_heading(text: str, offset: int) -> int | None:
    """The offset of the first paper heading at or after ``offset`` (a place to cut a catalog), or None."""
    if offset == 0 and FIRST_HEADING_RE.match(text):
        return 0
    match = HEADING_RE.search(text, max(offset - 1, 0))
    return match.start() + 1 if match else None


def parse_catalog(text: str, path: str, *, start: int = 0, end: int | None = None,
                  start_line: int | None = None) -> tuple[PaperSpan, ...]:
    """Every paper in ``text`` (already newline-normalised), with its block's offsets.

    A paper's block runs from its heading to the next heading (or the end of the text).  Each
    block is searched in place (pos/endpos, up to the newline before the next heading): nothing
    of the text is copied but the field values and the abstract.  ``start``/``end`` limit the
    papers to those whose headings stand in ``text[start:end]``; ``end`` must be 0, a heading's
    offset or the text's length, so that a paper's block ends where it ends in the whole text.
    ``start_line`` is the line number of ``start``, when the caller knows it (else it is counted).
    """
    end = len(text) if end is None else end
    headings = _headings(text, start, end)
    spans: list[PaperSpan] = []
    line = 1 + text.count("\n", 0, start) if start_line is None else start_line
    last = start
    for i, (first, heading) in enumerate(headings):
        block_end = headings[i + 1][0] if i + 1 < len(headings) else end
        stop = block_end - 1 if block_end < len(text) else block_end  # the newline before the next heading
        line += text.count("\n", last, first)
        last = first
        # fields start with the "\n" ending the line before them (the heading's line is no field)
        fields: dict[str, tuple[str, int]] = {}
        abstract_from: int | None = None
        for field in FIELD_RE.finditer(text, first, stop):
            name = field[1].strip().lower()
            if name not in fields:
                fields[name] = (field[2], field.start())
            if abstract_from is None and name in ("abstract", "summary"):
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
                url_line = line + text.count("\n", first, fields[name][1] + 1)
                if url or doi:
                    break
        if abstract_from is not None:
            sep = SEPARATOR_RE.search(text, abstract_from, stop)
            abstract = (abstract_from, sep.start() if sep else stop, False)
        else:
            abstract = (heading.end(), stop, True)
        paper = Paper(
            id=heading["id"].strip(),
            title=heading["title"].strip(),
            authors=authors,
            venue=venue,
            doi=doi,
            source=SourceRef(path, line),
            url=url,
        )
        spans.append(PaperSpan(paper=paper, start=first, end=block_end, url_line=url_line, abstract_start=abstract[0],
                               abstract_end=abstract[1], abstract_has_fields=abstract[2]))
    return tuple(spans)
