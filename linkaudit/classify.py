"""Classification: a repaired URL -> (``Kind``, ``LinkKey``).

The key de-duplicates links across papers and runs: ``github:owner/repo``
(lower-cased, whatever the scheme, path or ``.git``), ``doi:10.x/y``
(lower-cased), ``pages:host/path``, ``short:host/Path`` (shortlink paths are
case-sensitive), ``web:host/path?query``.  Pure functions, no I/O.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import SplitResult, unquote, urlsplit

from .hosts import DOI_HOSTS, SHORTLINK_HOSTS
from .model import Kind, LinkKey

# First path segments of github.com that are site pages, not users or organisations.
GITHUB_RESERVED = frozenset(
    {
        "about", "features", "pricing", "orgs", "topics", "marketplace", "sponsors", "settings", "login", "join",
        "explore", "trending", "collections", "events", "search", "notifications", "new", "enterprise",
        "security", "apps", "site", "contact", "customer-stories", "readme", "team", "issues", "pulls",
        "codespaces", "users", "organizations", "signup", "home", "dashboard", "account", "nonprofit", "mobile",
    }
)

DOI_RE = re.compile(r"^10\.\d{4,9}/\S+$")


# A plain URL: lower-case http(s) scheme, a host of letters, digits, dots and hyphens, maybe a numeric
# port, printable ASCII after it.  urlsplit's cleaning (whitespace, brackets, user-info, IDNA) has
# nothing to do there.
PLAIN_URL_RE = re.compile(r"(https?)://([A-Za-z0-9.-]+(?::\d{1,5})?)([/?#][!-~]*)?")


@lru_cache(maxsize=256)
def split_url(url: str) -> tuple[SplitResult, str]:
    """``urlsplit(url)`` and its lower-cased host, cached: each stage of the pipeline asks again for the same URL."""
    plain = PLAIN_URL_RE.fullmatch(url)
    if plain:
        return split_plain_url(plain)
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:  # "http://]": urllib refuses it; to us it is a URL with no usable host
        return SplitResult("", "", "", "", ""), ""
    return parts, host


def split_plain_url(plain: re.Match[str]) -> tuple[SplitResult, str]:
    """What ``urlsplit`` makes of a ``PLAIN_URL_RE`` match (a test holds them equal), at a fraction of its cost.

    Most links of a catalog are plain; urlsplit's general path cost more than the rest of their
    classification.
    """
    scheme, netloc, rest = plain.groups()
    # as urlsplit: the fragment starts at the first "#", the query at the first "?" before it
    path, _, fragment = (rest or "").partition("#")
    path, _, query = path.partition("?")
    return SplitResult(scheme, netloc, path, query, fragment), netloc.partition(":")[0].lower().rstrip(".")


def doi_of(url: str) -> str | None:
    """The DOI a doi.org URL names (``https://doi.org/10.1/x`` -> ``10.1/x``), else None."""
    parts, host = split_url(url)
    if host not in DOI_HOSTS:
        return None
    doi = unquote(parts.path.lstrip("/"))
    return doi if DOI_RE.match(doi) else None


def github_repo(url: str) -> tuple[str, str | None] | None:
    """(owner, repo or None) of a github.com URL; None for other hosts and site pages."""
    parts, host = split_url(url)
    if host not in ("github.com", "www.github.com"):
        return None
    segments = [s for s in parts.path.split("/") if s]
    if not segments or segments[0].lower() in GITHUB_RESERVED:
        return None
    owner = segments[0]
    repo = segments[1] if len(segments) > 1 else None
    if repo is not None and repo.lower().endswith(".git"):
        repo = repo[:-4] or None
    return owner, repo


def _path_key(path: str) -> str:
    path = path or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path


def classify_url(url: str) -> tuple[Kind, LinkKey]:
    """The kind and de-duplication key of an absolute http(s) URL."""
    parts, host = split_url(url)
    path = parts.path
    query = f"?{parts.query}" if parts.query else ""
    doi = doi_of(url)
    if doi is not None:
        return Kind.DOI, LinkKey(f"doi:{doi.lower()}")
    repo = github_repo(url)
    if repo is not None:
        owner, name = repo
        return Kind.GITHUB, LinkKey(f"github:{owner.lower()}/{name.lower()}" if name else f"github:{owner.lower()}")
    segments = [s for s in path.split("/") if s]
    if host in ("gitlab.com", "www.gitlab.com") and segments:
        # groups nest (gitlab.com/a/b/c); "/-/" starts the in-project part of a path
        project = segments[: segments.index("-")] if "-" in segments else segments
        name = "/".join(project).lower().removesuffix(".git")
        return Kind.GITLAB, LinkKey(f"gitlab:{name}")
    if host in ("gitee.com", "www.gitee.com") and segments:
        name = "/".join(segments[:2]).lower().removesuffix(".git")
        return Kind.GITEE, LinkKey(f"gitee:{name}")
    if host in ("huggingface.co", "www.huggingface.co") and segments:
        if segments[0] in ("datasets", "spaces") and len(segments) >= 3:
            name = "/".join(segments[:3])
        else:
            name = "/".join(segments[:2])
        return Kind.HUGGINGFACE, LinkKey(f"huggingface:{name.lower()}")
    if host.endswith(".github.io") or host.endswith(".gitlab.io"):
        return Kind.PAGES, LinkKey(f"pages:{host}{_path_key(path)}{query}")
    if host in SHORTLINK_HOSTS:
        return Kind.SHORTLINK, LinkKey(f"short:{host}{_path_key(path)}{query}")
    try:
        number = parts.port
    except ValueError:  # a garbled port: keep the text so distinct garbles stay distinct
        number = None
    port = f":{number}" if number and number not in (80, 443) else ""
    return Kind.WEB, LinkKey(f"web:{host}{port}{_path_key(path)}{query}")
