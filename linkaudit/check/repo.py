"""Repositories: a GitHub URL -> ``RepoRef``; what GitHub said about it -> ``RepoAnswer``.

Stage: check (shared by the GitHub checker and the suggestion check).
Inputs: URLs, API/page findings.  Outputs: ``RepoRef`` (owner, name, path
inside the repository) and ``RepoAnswer`` (verdict, ``RepoInfo``, canonical
``owner/repo``).  Pure functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from ..classify import GITHUB_RESERVED
from ..model import RepoInfo
from .verdict import REASON_TEXT, Reason, Verdict, verdict_for_reason


@dataclass(frozen=True, slots=True)
class RepoRef:
    """A GitHub link read as owner, repository and the path inside the repository."""

    owner: str
    """The user or organisation, as written."""
    name: str | None
    """None for an owner-only link (a user or organisation page)."""
    rest: str = ""
    """What follows ``/owner/repo`` (``/tree/main/src``, with its query), empty for the repository itself."""

    @property
    def slug(self) -> str:
        """``owner/repo`` as written."""
        return f"{self.owner}/{self.name}" if self.name else self.owner

    @property
    def lookup(self) -> str:
        """The cache key: lower-cased ``owner/repo``."""
        return self.slug.lower()


def parse_repo(url: str) -> RepoRef | None:
    """The ``RepoRef`` of a GitHub URL (any host: the kind was decided upstream); None for site pages."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if not segments or segments[0].lower() in GITHUB_RESERVED:
        return None
    owner = segments[0]
    if len(segments) == 1:
        return RepoRef(owner, None)
    name = segments[1]
    if name.lower().endswith(".git"):
        name = name[:-4]
    if not name:
        return RepoRef(owner, None)
    rest = "/" + "/".join(segments[2:]) if len(segments) > 2 else ""
    if rest and parts.query:
        rest += f"?{parts.query}"
    return RepoRef(owner, name, rest)


@dataclass(frozen=True, slots=True)
class RepoAnswer:
    """What GitHub said about one repository."""

    verdict: Verdict
    """The verdict on the repository itself."""
    reason: Reason | None
    """``REPO_FOUND``/``REPO_RENAMED``/``REPO_MISSING``/``REPO_DISABLED``; None when inconclusive."""
    detail: str
    """Human text for the result's ``detail``."""
    info: RepoInfo | None = None
    """Archived, stars, last push...; None when GitHub said nothing about it."""
    canonical: str | None = None
    """``owner/repo`` as GitHub spells it now (differs from the link after a rename)."""
    http_status: int | None = None
    """The HTTP status that decided (None for a GraphQL batch, whose 200 is about the batch)."""
    attempts: int = 0
    """Tries spent on this repository's request."""
    via: str = ""
    """``graphql``, ``rest`` or ``web``."""

    @property
    def exists(self) -> bool:
        """True when the repository exists (maybe renamed)."""
        return self.reason in (Reason.REPO_FOUND, Reason.REPO_RENAMED)


def found_answer(
    ref: RepoRef, canonical: str, info: RepoInfo, *, via: str, http_status: int | None, attempts: int
) -> RepoAnswer:
    """The answer for an existing repository that GitHub calls ``canonical`` (renamed when that differs)."""
    renamed = canonical.lower() != ref.slug.lower()
    if info.disabled:
        reason = Reason.REPO_DISABLED
    elif renamed:
        reason = Reason.REPO_RENAMED
        info = replace(info, renamed_to=canonical)
    else:
        reason = Reason.REPO_FOUND
    detail = REASON_TEXT[reason] + (f" to {canonical}" if reason is Reason.REPO_RENAMED else "")
    if info.archived:
        detail += "; archived"
    if info.empty:
        detail += "; empty"
    return RepoAnswer(
        verdict_for_reason(reason),
        reason,
        detail,
        info,
        canonical,
        http_status=http_status,
        attempts=attempts,
        via=via,
    )


def missing_answer(reason: Reason, *, via: str, http_status: int | None, attempts: int) -> RepoAnswer:
    """The answer for a repository that is missing or disabled."""
    info = RepoInfo(disabled=True) if reason is Reason.REPO_DISABLED else None
    return RepoAnswer(
        verdict_for_reason(reason),
        reason,
        REASON_TEXT[reason],
        info,
        http_status=http_status,
        attempts=attempts,
        via=via,
    )


def inconclusive_answer(
    verdict: Verdict, detail: str, *, via: str, http_status: int | None, attempts: int
) -> RepoAnswer:
    """An answer that says nothing about the repository (rate limited, unreachable, unexpected)."""
    return RepoAnswer(verdict, None, detail, http_status=http_status, attempts=attempts, via=via)


def as_bool(value: object) -> bool:
    """A JSON boolean, False for anything else."""
    return value is True


def as_int(value: object) -> int | None:
    """A JSON integer, None for anything else."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_str(value: object) -> str | None:
    """A JSON string, None for anything else."""
    return value if isinstance(value, str) else None
