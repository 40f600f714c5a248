"""Extraction pipeline: paths -> ``Extraction`` (papers + repaired, classified links).

read (files, directories, globs, stdin) -> ``parse_catalog`` -> ``find_candidates``
-> ``repair_link`` -> ``classify_url`` -> suspicions/suggestions -> code claims.
Only ``read_source``/``expand_paths`` touch files; ``extract_text`` is pure.  A text
can be extracted in stretches cut at paper headings (``extract_stretch``), which
``parallel`` does for a large file, with the same result.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .catalog import parse_catalog
from .claims import code_claim
from .classify import classify_url, github_repo
from .errors import InputError
from .find import find_candidates
from .model import CodeClaim, Confidence, Extraction, Kind, Link, LinkKey, Paper, RawLink
from .repair import repair_link
from .suggest import hyphen_variants, suspect

CATALOG_SUFFIXES = (".md", ".markdown")
PARALLEL_MIN_CHARS = 1_000_000
"""Texts shorter than this together are extracted in one process.  Measured on 2 cores: two processes take 25 ms
instead of 34 for 1 MB (600 papers), about as long as one for 0.25 MB (the fork, packing and unpacking)."""
MAX_WORKERS = 8
"""This process unpacks what the others found (~7 % of the work): beyond ~8 processes that dominates."""
BATCH_CHARS = 32_000_000
"""Inputs are read and extracted this many characters of text at a time (a file larger than this alone):
memory stays flat however large a collection is.  For 170 pages (45 MB) on 2 cores, 16 / 32 / 64 M
took 1.66 / 1.58 / 1.5 s (medians) and 86 / 110 / 150 MB, against 2.1 s and 86 MB serial."""
CLEAN_DOI_URL_RE = re.compile(r"https://doi\.org/10\.\d{4,9}/[!-~]*[A-Za-z0-9]")
_CONTROL_OK = {9, 10, 12, 13, 8, 11, 27}
_CONTROL_BYTES = bytes(b for b in range(32) if b not in _CONTROL_OK)


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
        controls = len(head) - len(head.translate(None, _CONTROL_BYTES))  # deleted, they are counted in C
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


def _links_of(raws: Iterable[RawLink]) -> list[Link]:
    """Repaired, classified links of the candidates, each at most once per paper."""
    links: list[Link] = []
    seen: set[tuple[str | None, str]] = set()
    seen_raw: set[tuple[str | None, str]] = set()
    for raw in raws:
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


@dataclass(frozen=True, slots=True)
class Stretch:
    """The papers and links of one stretch of a text (``extract_stretch``), with what joining needs."""

    papers: tuple[Paper, ...]
    links: tuple[Link, ...]
    bracketed_first: str | None
    """See ``find.Candidates.bracketed_first``."""
    last_candidate: str | None
    """The text of the stretch's last link candidate (the ``after`` of the next stretch)."""


def extract_text(text: str, path: str) -> tuple[tuple[Paper, ...], tuple[Link, ...]]:
    """Papers and links of one already-decoded text (pure; no corpus-wide suggestions yet)."""
    stretch = extract_stretch(text, path)
    return stretch.papers, stretch.links


def extract_stretch(text: str, path: str, *, start: int = 0, end: int | None = None, start_line: int | None = None,
                    after: str | None = None) -> Stretch:
    """``extract_text`` of the papers whose headings stand in ``text[start:end]``.

    ``start`` and ``end`` are 0, offsets of paper headings or the text's length (``next_heading``);
    ``start_line`` is the line number of ``start`` when the caller knows it (counting the newlines
    before a stretch deep in a large text costs a few milliseconds); ``after`` is the last link
    candidate before ``start`` (see ``find_candidates``).  Stretches
    cut this way and joined in order give ``extract_text`` of the whole, unless two of them hold
    papers with the same id (links are de-duplicated per paper id) or a stretch's
    ``bracketed_first`` equals the last candidate before it: ``parallel`` checks both.
    """
    if start_line is None:
        start_line = 1 + text.count("\n", 0, start)
    spans = parse_catalog(text, path, start=start, end=end, start_line=start_line)
    candidates = find_candidates(text, path=path, papers=[(s.start, s.paper.id) for s in spans], start=start,
                                 end=end, start_line=start_line, after=after)
    links = _links_of(candidates.links)
    code_lines: dict[str, bool] = {}
    url_lines = {s.paper.id: s.url_line for s in spans}
    for link in links:
        if link.paper_id is None or link.kind is Kind.DOI:
            continue
        if link.source.line != url_lines.get(link.paper_id):
            code_lines[link.paper_id] = True
    papers = []
    for span in spans:
        paper = span.paper
        # the abstract is taken only for a paper without a code link: it cannot change a "linked"
        code = (CodeClaim.LINKED if code_lines.get(paper.id, False)
                else code_claim(span.abstract(text), has_link=False))
        if code is not paper.code:  # the parsed paper says CodeClaim.NONE: keep it when that stays true
            paper = Paper(id=paper.id, title=paper.title, authors=paper.authors, venue=paper.venue, doi=paper.doi,
                          source=paper.source, url=paper.url, code=code)
        papers.append(paper)
    last = candidates.links[-1].text if candidates.links else None
    return Stretch(papers=tuple(papers), links=tuple(links), bracketed_first=candidates.bracketed_first,
                   last_candidate=last)


def add_corpus_suggestions(links: Iterable[Link]) -> tuple[Link, ...]:
    """Suggest owners seen elsewhere in the same audit that differ only by hyphens (``megviiresearch``)."""
    links = tuple(links)
    repos = [github_repo(link.url) if link.kind is Kind.GITHUB else None for link in links]
    owners = {repo[0] for repo in repos if repo is not None}
    # hyphenated owners by what ``hyphen_variants`` compares (no hyphens, lower case): each owner is
    # compared only with its few candidates, not with every hyphenated owner of the catalog
    hyphenated: dict[str, list[str]] = {}
    for owner in owners:
        if "-" in owner:
            hyphenated.setdefault(owner.replace("-", "").lower(), []).append(owner)
    if not hyphenated:  # no hyphenated owner anywhere: nothing to suggest
        return links
    result = []
    for link, repo in zip(links, repos, strict=True):
        # only an owner whose lower-case form some hyphenated owner has without its hyphens can get a suggestion
        if repo is not None and "-" not in repo[0] and (known := hyphenated.get(repo[0].lower())):
            variants = hyphen_variants(repo[0], known)
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


def extract_paths(paths: Sequence[str], *, stdin: IO[str] | IO[bytes] | None = None,
                  workers: int | None = None) -> Extraction:
    """Extract every input named by ``paths`` into one ``Extraction``.

    Inputs of at least ``PARALLEL_MIN_CHARS`` together (one large file, or a collection of many
    pages) are split between ``workers`` processes (default: the CPUs available, at most
    ``MAX_WORKERS`` and, beyond two, one per ``PARALLEL_MIN_CHARS`` of text; 1 extracts everything
    in this process).  Files are read ``BATCH_CHARS`` of text at a time, so that a huge collection
    is never all in memory.  The result is the same either way.
    """
    papers: list[Paper] = []
    links: list[Link] = []
    warnings: list[str] = []
    batch: list[tuple[str, str]] = []
    size = 0

    def flush() -> None:
        nonlocal size
        for file_papers, file_links in _extract_batch(batch, size, workers):
            papers.extend(file_papers)
            links.extend(file_links)
        batch.clear()
        size = 0

    for path in expand_paths(paths):
        text, file_warnings = read_source(path, stdin)
        warnings.extend(file_warnings)
        batch.append(("<stdin>" if path == "-" else path, text))
        size += len(text)
        if size >= BATCH_CHARS:
            flush()
    flush()
    return Extraction(papers=tuple(papers), links=add_corpus_suggestions(links), warnings=tuple(warnings))


def _extract_batch(sources: list[tuple[str, str]], size: int,
                   workers: int | None) -> list[tuple[tuple[Paper, ...], tuple[Link, ...]]]:
    """``extract_text`` of each of ``sources`` (``size`` characters together), in as many processes as pay."""
    if workers != 1 and size >= PARALLEL_MIN_CHARS:
        from . import parallel  # forks: imported only for a big input (and it imports this module)

        count = (min(parallel.available_workers(), MAX_WORKERS, max(2, size // PARALLEL_MIN_CHARS))
                 if workers is None else workers)
        if count > 1:
            return parallel.extract_sources(sources, workers=count)
    return [extract_text(text, path) for path, text in sources]
