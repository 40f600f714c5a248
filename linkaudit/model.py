"""The values that flow between linkaudit's stages.

catalog -> ``Paper``; find -> ``RawLink``; repair/classify -> ``Link``;
check -> ``CheckResult``; report -> ``Report``.  Every value is a frozen,
slotted dataclass whose collections are tuples; enums carry exactly the words
used in the JSON contracts (``linkaudit.extract/1``, ``linkaudit.report/1``).
No I/O and no third-party types live here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NewType

from .records import fast_init

LinkKey = NewType("LinkKey", str)
"""De-duplication key of a link, e.g. ``github:owner/repo`` or ``doi:10.1109/x``."""

EXTRACT_SCHEMA = "linkaudit.extract/1"
REPORT_SCHEMA = "linkaudit.report/1"


class Kind(enum.StrEnum):
    """What a link points at; decides which checker verifies it."""

    DOI = "doi"
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEE = "gitee"
    HUGGINGFACE = "huggingface"
    PAGES = "pages"
    SHORTLINK = "shortlink"
    WEB = "web"


class Status(enum.StrEnum):
    """The verdict on one link.  ``broken`` is always definitive; ``blocked``/``error`` never are."""

    OK = "ok"
    REDIRECTED = "redirected"
    BROKEN = "broken"
    BLOCKED = "blocked"
    ERROR = "error"
    SKIPPED = "skipped"


class Confidence(enum.StrEnum):
    """How sure the extractor is that a link is what the author meant."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class CodeClaim(enum.StrEnum):
    """Whether a paper links its code, claims code without a link, or says nothing."""

    LINKED = "linked"
    CLAIMED_NO_LINK = "claimed-no-link"
    NONE = "none"


@fast_init
@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where something was written: a file path (``-`` for stdin) and a 1-based line."""

    path: str
    line: int


@fast_init
@dataclass(frozen=True, slots=True)
class Paper:
    """One catalog entry.

    ``id`` is the catalog's id as a string (unique only within one file);
    ``source`` points at the heading line.  The abstract is not kept: it is
    only needed to detect code claims, and holding every abstract of a large
    collection would double the memory an audit needs.
    """

    id: str
    title: str
    authors: tuple[str, ...]
    venue: str | None
    doi: str | None
    source: SourceRef
    code: CodeClaim = CodeClaim.NONE
    url: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class RawLink:
    """What the finder saw: possibly garbled text, not yet validated."""

    text: str
    source: SourceRef
    paper_id: str | None
    hint: str = ""
    """Which finder produced it (``markdown``, ``html``, ``bare``, ``spaced``, ``schemeless``, ``doi``...)."""


@fast_init
@dataclass(frozen=True, slots=True)
class Repair:
    """One change the extractor made to the text as written."""

    rule: str
    detail: str


@fast_init
@dataclass(frozen=True, slots=True)
class Link:
    """A repaired, classified link, ready to be checked.

    ``url`` is absolute http(s); ``original`` is the text as written;
    ``suggestions`` are candidate URLs for the checker to try when ``url``
    fails (only the ones that exist get reported).
    """

    url: str
    original: str
    kind: Kind
    key: LinkKey
    paper_id: str | None
    source: SourceRef
    repairs: tuple[Repair, ...] = ()
    confidence: Confidence = Confidence.HIGH
    suggestions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """Why a link looks suspect (low confidence) even though nothing was repaired."""


@dataclass(frozen=True, slots=True)
class Extraction:
    """The extractor's whole output for one or more files."""

    papers: tuple[Paper, ...]
    links: tuple[Link, ...]
    warnings: tuple[str, ...] = ()


@fast_init
@dataclass(frozen=True, slots=True)
class RepoInfo:
    """What a code host's API told about a repository."""

    archived: bool = False
    renamed_to: str | None = None
    stars: int | None = None
    pushed_at: str | None = None
    empty: bool = False
    disabled: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class DoiInfo:
    """What doi.org (and optionally Crossref) told about a DOI."""

    registered: bool
    target: str | None = None
    title: str | None = None
    title_matches: bool | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Citation:
    """One place a link is cited: the paper id (or None), the file and line, the paper title."""

    paper: str | None
    path: str
    line: int
    title: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict on one unique link key, with the evidence behind it."""

    key: LinkKey
    url: str
    kind: Kind
    status: Status
    definitive: bool
    http_status: int | None = None
    final_url: str | None = None
    redirects: tuple[str, ...] = ()
    attempts: int = 0
    detail: str = ""
    repo: RepoInfo | None = None
    doi: DoiInfo | None = None
    suggestions: tuple[str, ...] = ()
    """Candidate URLs that were checked and exist ("did you mean")."""
    papers: tuple[Citation, ...] = ()
    original: str | None = None
    repairs: tuple[Repair, ...] = ()
    confidence: Confidence = Confidence.HIGH
    checked_at: str | None = None
    elapsed_ms: int | None = None
    from_cache: bool = False


def link_citations(links: Sequence[Link], titles: Mapping[tuple[str, str], str]) -> tuple[Citation, ...]:
    """A ``Citation`` per link occurrence, titled from ``titles`` ((path, paper id) -> title)."""
    if len(links) == 1:  # most links are cited once: no generator for them
        link = links[0]
        path, paper = link.source.path, link.paper_id
        return (Citation(paper=paper, path=path, line=link.source.line,
                         title=titles.get((path, paper)) if paper is not None else None),)
    return tuple(
        Citation(
            paper=link.paper_id,
            path=link.source.path,
            line=link.source.line,
            title=titles.get((link.source.path, link.paper_id)) if link.paper_id is not None else None,
        )
        for link in links
    )


def cited_result(
    evidence: CheckResult,
    *,
    key: LinkKey,
    url: str,
    kind: Kind,
    papers: tuple[Citation, ...],
    original: str | None,
    repairs: tuple[Repair, ...],
    confidence: Confidence,
    checked_at: str | None,
    elapsed_ms: int | None,
    from_cache: bool,
) -> CheckResult:
    """``evidence``'s verdict (status, HTTP facts, repository and DOI facts, suggestions) filed under a link.

    Built field by field: ``dataclasses.replace`` costs about twice as much, and this runs once per
    checked or cached link (test_check_record pins that every field survives both callers).
    """
    return CheckResult(
        key=key,
        url=url,
        kind=kind,
        status=evidence.status,
        definitive=evidence.definitive,
        http_status=evidence.http_status,
        final_url=evidence.final_url,
        redirects=evidence.redirects,
        attempts=evidence.attempts,
        detail=evidence.detail,
        repo=evidence.repo,
        doi=evidence.doi,
        suggestions=evidence.suggestions,
        papers=papers,
        original=original,
        repairs=repairs,
        confidence=confidence,
        checked_at=checked_at,
        elapsed_ms=elapsed_ms,
        from_cache=from_cache,
    )


@fast_init
@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A link's record across runs, from the history database."""

    key: LinkKey
    first_seen: str | None = None
    last_ok: str | None = None
    consecutive_failures: int = 0
    first_failed: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """A whole audit: one result per unique link plus the papers that claim code without a link."""

    results: tuple[CheckResult, ...]
    papers: tuple[Paper, ...] = ()
    sources: tuple[str, ...] = ()
    started_at: str | None = None
    duration_s: float | None = None
    history: tuple[HistoryEntry, ...] = ()
    interrupted: bool = False
    schema: str = REPORT_SCHEMA
