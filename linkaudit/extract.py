"""Extraction pipeline: paths -> ``Extraction`` (papers + repaired, classified links).

read (files, directories, globs, stdin) -> ``parse_catalog`` -> ``find_in_text``
-> ``repair_link`` -> ``classify_url`` -> suspicions/suggestions -> code claims.
Only ``read_source``/``expand_paths`` touch files; ``extract_text`` is pure.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from .catalog import parse_catalog
from .claims import code_claim
from .classify import classify_url, github_repo
from .errors import InputError
from .find import find_in_text
from .model import Confidence, Extraction, Kind, Link, LinkKey, Paper
from .repair import repair_link
from .suggest import hyphen_variants, suspect

CATALOG_SUFFIXES = (".md", ".markdown")
CLEAN_DOI_URL_RE = re.compile(r"https://doi\.org/10\.\d{4,9}/[!-~]*[A-Za-z0-9]")
_CONTROL_OK = {9, 10, 12, 13, 8, 11, 27}


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files named by ``paths``: files as given, directories recursed for ``*.md``, globs expanded.

    Raises ``InputError`` naming the first path that is missing or yields nothing.
    """
    files: list[str] = []
    for path in paths:
        if path == "-":
            files.append(path)
            continue
        if os.path.isdir(path):
            found = sorted(
                str(p) for p in Path(path).rglob("*") if p.is_file() and p.suffix.lower() in CATALOG_SUFFIXES
            )
            if not found:
                raise InputError(f"{path}: directory holds no markdown (*.md) files to read")
            files.extend(found)
        elif os.path.exists(path):
            files.append(path)
        elif glob.has_magic(path):
            found = sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
            if not found:
                raise InputError(f"{path}: pattern matches no files")
            files.extend(found)
        else:
            raise InputError(f"{path}: no such file or directory")
    seen: dict[str, None] = {}
    for f in files:
        seen.setdefault(f, None)
    return list(seen)


def decode_bytes(data: bytes, path: str) -> tuple[str, tuple[str, ...]]:
    """Bytes -> text with newlines normalised; binary input raises ``InputError``.

    UTF-8 (with or without BOM) and UTF-16 with a BOM are read as such; other
    bytes that are not UTF-8 are replaced, with a warning naming the count.
    A stray control byte (a ``\\b`` left by a mangled ``\\beta``) is text.
    """
    warnings: list[str] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: invalid UTF-16 text ({exc.reason})") from exc
    else:
        head = data[:65536]
        if b"\x00" in head:
            raise InputError(f"{path}: looks like a binary file (NUL bytes), not a text catalog")
        controls = sum(1 for b in head if b < 32 and b not in _CONTROL_OK)
        if head and controls > max(8, len(head) // 20):
            raise InputError(f"{path}: looks like a binary file (control bytes), not a text catalog")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("utf-8-sig", errors="replace")
            bad = text.count("\ufffd") - data.decode("utf-8", errors="ignore").count("\ufffd")
            warnings.append(f"{path}: {max(bad, 1)} byte(s) are not valid UTF-8 and were replaced")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, tuple(warnings)


def read_source(path: str, stdin: IO[str] | IO[bytes] | None = None) -> tuple[str, tuple[str, ...]]:
    """The text of one input (``-`` = stdin) and any warnings about its encoding."""
    if path == "-":
        if stdin is None:
            raise InputError("-: no standard input to read")
        buffer = getattr(stdin, "buffer", None)
        data = buffer.read() if buffer is not None else stdin.read()
        if isinstance(data, str):
            data = data.encode("utf-8", errors="surrogateescape")
        return decode_bytes(data, "<stdin>")
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a directory") from exc
    except PermissionError as exc:
        raise InputError(f"{path}: permission denied") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return decode_bytes(data, path)


def _links_of_text(text: str, path: str, spans_offsets: list[tuple[int, str]]) -> list[Link]:
    links: list[Link] = []
    seen: set[tuple[str | None, str]] = set()
    seen_raw: set[tuple[str | None, str]] = set()
    for raw in find_in_text(text, path=path, papers=spans_offsets):
        if (raw.paper_id, raw.text) in seen_raw:  # [url](url): the same text twice
            continue
        seen_raw.add((raw.paper_id, raw.text))
        if CLEAN_DOI_URL_RE.fullmatch(raw.text) and (raw.paper_id, raw.text) not in seen:
            # most links of a DOI catalog: a clean doi.org URL needs no repair, classification or suspicion
            seen.add((raw.paper_id, raw.text))
            doi = raw.text.split("/", 3)[3]
            links.append(Link(url=raw.text, original=raw.text, kind=Kind.DOI, key=LinkKey(f"doi:{doi.lower()}"),
                              paper_id=raw.paper_id, source=raw.source))
            continue
        repaired = repair_link(raw)
        if repaired is None:
            continue
        marker = (raw.paper_id, repaired.url)
        if marker in seen:
            continue
        seen.add(marker)
        kind, key = classify_url(repaired.url)
        link = Link(
            url=repaired.url,
            original=repaired.original,
            kind=kind,
            key=key,
            paper_id=repaired.paper_id,
            source=repaired.source,
            repairs=repaired.repairs,
            confidence=repaired.confidence,
        )
        suspicion = suspect(repaired.url) if kind is not Kind.DOI else None
        if suspicion is not None:
            link = dataclasses.replace(
                link, confidence=Confidence.LOW, suggestions=suspicion.suggestions, notes=(suspicion.note,)
            )
        links.append(link)
    return links


def extract_text(text: str, path: str) -> tuple[tuple[Paper, ...], tuple[Link, ...]]:
    """Papers and links of one already-decoded text (pure; no corpus-wide suggestions yet)."""
    spans = parse_catalog(text, path)
    links = _links_of_text(text, path, [(s.start, s.paper.id) for s in spans])
    code_lines: dict[str, bool] = {}
    url_lines = {s.paper.id: s.url_line for s in spans}
    for link in links:
        if link.paper_id is None or link.kind is Kind.DOI:
            continue
        if link.source.line != url_lines.get(link.paper_id):
            code_lines[link.paper_id] = True
    papers = tuple(
        Paper(id=p.id, title=p.title, authors=p.authors, venue=p.venue, doi=p.doi, source=p.source, url=p.url,
              code=code_claim(s.abstract, has_link=code_lines.get(p.id, False)))
        for s in spans
        for p in (s.paper,)
    )
    return papers, tuple(links)


def add_corpus_suggestions(links: Iterable[Link]) -> tuple[Link, ...]:
    """Suggest owners seen elsewhere in the same audit that differ only by hyphens (``megviiresearch``)."""
    links = tuple(links)
    owners = {repo[0] for link in links if link.kind is Kind.GITHUB and (repo := github_repo(link.url))}
    hyphenated = {o for o in owners if "-" in o}
    result = []
    for link in links:
        repo = github_repo(link.url) if link.kind is Kind.GITHUB else None
        if repo is not None and "-" not in repo[0]:
            variants = hyphen_variants(repo[0], hyphenated)
            if variants:
                owner = repo[0]
                suggestions = tuple(re.sub(f"/{re.escape(owner)}(?=/|$)", f"/{v}", link.url, count=1) for v in variants)
                link = dataclasses.replace(
                    link,
                    confidence=Confidence.LOW,
                    suggestions=tuple(dict.fromkeys((*suggestions, *link.suggestions))),
                    notes=(*link.notes, f"owner '{owner}' differs only by hyphens from {', '.join(variants)} "
                           "elsewhere in this catalog"),
                )
        result.append(link)
    return tuple(result)


def extract_paths(paths: Sequence[str], *, stdin: IO[str] | IO[bytes] | None = None) -> Extraction:
    """Extract every input named by ``paths`` into one ``Extraction``."""
    papers: list[Paper] = []
    links: list[Link] = []
    warnings: list[str] = []
    for path in expand_paths(paths):
        text, file_warnings = read_source(path, stdin)
        warnings.extend(file_warnings)
        file_papers, file_links = extract_text(text, "<stdin>" if path == "-" else path)
        papers.extend(file_papers)
        links.extend(file_links)
    return Extraction(papers=tuple(papers), links=add_corpus_suggestions(links), warnings=tuple(warnings))
