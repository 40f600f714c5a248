"""Suggestions: a repaired URL that still looks wrong -> candidate URLs for the checker to try.

The extractor cannot know which candidate exists; it lowers the link's
confidence, says why in a note, and lists candidates, most plausible first.
The checker asks the host which of them exist and reports only those.
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlunsplit

from .classify import github_repo, split_url
from .records import fast_init

MAX_SUGGESTIONS = 24
GITHUB_OWNER_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# Letters a PDF or OCR pass turns a "/" into: the most frequent garble in real catalogs.
SLASH_AS_LETTER = "Il1i|"
DIGIT_RUN_RE = re.compile(r"(?<=[A-Za-z])[01]{2,}(?=[A-Za-z])")
DIGIT_AS_LETTER = {"0": "o", "1": "l"}
TILDE_LOST_RE = re.compile(r"^/-[A-Za-z][\w.-]*(?:/|$)")
# Path words that follow owner/repo on github.com; seen as the second segment, the first swallowed a slash.
IN_REPO_WORDS = frozenset({"tree", "blob", "raw", "issues", "pulls", "pull", "releases", "wiki", "commits", "commit",
                           "archive", "actions", "tags", "branches", "discussions", "projects", "blame"})


@fast_init
@dataclass(frozen=True, slots=True)
class Suspicion:
    """Why a link looks wrong, and what it may have meant."""

    note: str
    suggestions: tuple[str, ...]


def _dedupe(items: Iterable[str], exclude: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in items:
        if item != exclude and item not in seen:
            seen[item] = None
    return tuple(seen)[:MAX_SUGGESTIONS]


def slash_splits(name: str) -> tuple[str, ...]:
    """Candidate ``owner/repo`` readings of an owner-only GitHub path that swallowed its slash.

    Most plausible first: a letter standing where the slash was (``ownerIrepo``),
    then a slash dropped at a case change (``ownerRepo``), then a short run of
    letters that replaced the slash before a case change (``OliverRensulShunted``).
    """
    candidates: list[str] = []
    for i, ch in enumerate(name):
        if ch in SLASH_AS_LETTER and 0 < i < len(name) - 1:
            candidates.append(f"{name[:i]}/{name[i + 1:]}")
    boundaries = [
        i for i in range(1, len(name)) if name[i].isupper() and (name[i - 1].islower() or name[i - 1].isdigit())
    ]
    candidates.extend(f"{name[:i]}/{name[i:]}" for i in boundaries)
    for i in boundaries:
        for k in (1, 2, 3):
            if i - k > 0 and name[i - k:i].isalpha() and name[i - k:i].islower():
                candidates.append(f"{name[:i - k]}/{name[i:]}")
    valid = []
    for candidate in candidates:
        owner, _, repo = candidate.partition("/")
        if GITHUB_OWNER_RE.match(owner) and GITHUB_REPO_RE.match(repo):
            valid.append(candidate)
    return _dedupe(valid, name)


def digit_variants(name: str) -> tuple[str, ...]:
    """``nute11amok`` -> ``nutellamok``, ``nuteiiamok``: runs of 0/1 inside a word read as letters."""
    if not DIGIT_RUN_RE.search(name):
        return ()
    as_l = DIGIT_RUN_RE.sub(lambda m: "".join(DIGIT_AS_LETTER[c] for c in m.group()), name)
    as_i = DIGIT_RUN_RE.sub(lambda m: m.group().replace("1", "i").replace("0", "o"), name)
    return _dedupe([as_l, as_i], name)


def _with_path(url: str, path: str) -> str:
    parts = split_url(url)[0]
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def suspect_github(url: str) -> Suspicion | None:
    """Suspicions about a github.com URL: an owner-only path, or digits standing for letters."""
    repo = github_repo(url)
    if repo is None:
        return None
    owner, name = repo
    segments = [seg for seg in split_url(url)[0].path.split("/") if seg]
    if name is not None and name.lower() in IN_REPO_WORDS and len(segments) >= 2:
        # github.com/ownerIrepo/tree/main: the "repository" is a path word, so the owner swallowed the slash
        splits = slash_splits(owner)
        if splits:
            tail = "/" + "/".join(segments[1:])
            return Suspicion(
                note=f"'{owner}/{name}' is not a repository path ('{name}' belongs after one); the slash "
                "before the repository may have been read as a letter",
                suggestions=tuple(f"https://github.com/{s}{tail}" for s in splits),
            )
    if name is None:
        splits = slash_splits(owner)
        if not splits:
            return None
        return Suspicion(
            note=f"GitHub link names only an owner ('{owner}'); the slash before the repository may have been "
            "read as a letter",
            suggestions=tuple(f"https://github.com/{s}" for s in splits),
        )
    variants: list[str] = []
    rest = split_url(url)[0].path.split("/")[3:]
    suffix = "/" + "/".join(rest) if rest else ""
    for o in (owner, *digit_variants(owner)):
        for n in (name, *digit_variants(name)):
            if (o, n) != (owner, name):
                variants.append(_with_path(url, f"/{o}/{n}{suffix}"))
    if variants:
        return Suspicion(note="digits inside a name may stand for letters (1 for l, 0 for o)", suggestions=tuple(variants))
    return None


def suspect_tilde(url: str) -> Suspicion | None:
    """A home-page path whose first segment starts with '-' most likely lost a '~' (``/-mas/`` -> ``/~mas/``)."""
    parts = split_url(url)[0]
    if not TILDE_LOST_RE.match(parts.path):
        return None
    return Suspicion(
        note="a path starting with '-' probably had '~' (a personal home page)",
        suggestions=(_with_path(url, "/~" + parts.path[2:]),),
    )


def suspect(url: str) -> Suspicion | None:
    """All single-link suspicions of ``url``, merged; None when it looks fine."""
    found = [s for s in (suspect_github(url), suspect_tilde(url)) if s is not None]
    if not found:
        return None
    return Suspicion(
        note="; ".join(s.note for s in found),
        suggestions=_dedupe((u for s in found for u in s.suggestions), url),
    )


def hyphen_variants(owner: str, known_owners: Iterable[str]) -> tuple[str, ...]:
    """Owners seen elsewhere in the catalog that differ from ``owner`` only by hyphens (``megviiresearch``)."""
    bare = owner.replace("-", "").lower()
    return tuple(sorted({k for k in known_owners if k.lower() != owner.lower() and k.replace("-", "").lower() == bare}))
