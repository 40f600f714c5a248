"""Verdicts: an HTTP status, a caught exception or an API finding -> ``Verdict`` (status + definitive).

Stage: check.  Inputs: status codes, exceptions raised by httpx (or the
standard library under it), ``Reason`` values the checkers name.  Output:
``Verdict``.  This is the only module that decides what an answer means; the
tables below are public so tests read them directly.

    status code ──► STATUS_VERDICTS / ranges ──┐
    exception ──► classify_exception ──► Reason ├──► verdict_for_reason ──► Verdict
    API finding (DOI unknown, repo missing) ────┘
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

import httpx

from ..model import Status
from ..records import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class Verdict:
    """A status and whether a maintainer should act on it."""

    status: Status
    """The verdict."""
    definitive: bool
    """True only for answers a maintainer should act on (never for ``blocked``/``error``)."""


OK = Verdict(Status.OK, True)
REDIRECTED = Verdict(Status.REDIRECTED, True)
BROKEN = Verdict(Status.BROKEN, True)
BLOCKED = Verdict(Status.BLOCKED, False)
ERROR = Verdict(Status.ERROR, False)
SKIPPED = Verdict(Status.SKIPPED, False)


class Reason(StrEnum):
    """Why a link got its verdict when a bare status code does not say it."""

    # transport failures (from exceptions)
    TIMEOUT = "timeout"
    CONNECT_TIMEOUT = "connect-timeout"
    CONNECT = "connect"
    DNS = "dns"
    PROXY = "proxy"
    TLS = "tls"
    PROTOCOL = "protocol"
    INVALID_URL = "invalid-url"
    # request policy
    TOO_MANY_REDIRECTS = "too-many-redirects"
    RATE_LIMITED = "rate-limited"
    UNSUPPORTED_SCHEME = "unsupported-scheme"
    PRIVATE_ADDRESS = "private-address"
    EXCLUDED = "excluded"
    NOT_INCLUDED = "not-included"
    # per-kind findings
    DOI_REGISTERED = "doi-registered"
    DOI_NOT_REGISTERED = "doi-not-registered"
    REPO_FOUND = "repo-found"
    REPO_RENAMED = "repo-renamed"
    REPO_MISSING = "repo-missing"
    REPO_DISABLED = "repo-disabled"
    PATH_MISSING = "path-missing"
    UNEXPECTED_ANSWER = "unexpected-answer"


STATUS_VERDICTS: Mapping[int, Verdict] = {
    404: BROKEN,
    410: BROKEN,
    451: BROKEN,
    401: BLOCKED,
    403: BLOCKED,
    406: BLOCKED,
    418: BLOCKED,
    429: BLOCKED,
    999: BLOCKED,
}
"""Codes with a verdict of their own; 2xx is ``ok``, 5xx ``error``, anything else ``error``."""

REASON_VERDICTS: Mapping[Reason, Verdict] = {
    Reason.TIMEOUT: ERROR,
    Reason.CONNECT_TIMEOUT: ERROR,
    Reason.CONNECT: ERROR,
    # DNS is decided by ``verdict_for_reason``: broken only once the run has proof the network is up.
    Reason.DNS: ERROR,
    Reason.PROXY: ERROR,
    Reason.TLS: ERROR,
    Reason.PROTOCOL: ERROR,
    Reason.INVALID_URL: BROKEN,
    Reason.TOO_MANY_REDIRECTS: ERROR,
    Reason.RATE_LIMITED: BLOCKED,
    Reason.UNSUPPORTED_SCHEME: SKIPPED,
    Reason.PRIVATE_ADDRESS: SKIPPED,
    Reason.EXCLUDED: SKIPPED,
    Reason.NOT_INCLUDED: SKIPPED,
    Reason.DOI_REGISTERED: OK,
    Reason.DOI_NOT_REGISTERED: BROKEN,
    Reason.REPO_FOUND: OK,
    Reason.REPO_RENAMED: REDIRECTED,
    Reason.REPO_MISSING: BROKEN,
    Reason.REPO_DISABLED: BROKEN,
    Reason.PATH_MISSING: BROKEN,
    Reason.UNEXPECTED_ANSWER: ERROR,
}

CONNECT_LEVEL: frozenset[Reason] = frozenset(
    {Reason.DNS, Reason.CONNECT, Reason.CONNECT_TIMEOUT, Reason.PROXY}
)
"""Failures that mean nothing was reached: when every request ends in one of these, the network is down."""

EXCEPTION_REASONS: tuple[tuple[type[BaseException], Reason], ...] = (
    (httpx.ConnectTimeout, Reason.CONNECT_TIMEOUT),
    (httpx.TimeoutException, Reason.TIMEOUT),
    (httpx.ProxyError, Reason.PROXY),
    (httpx.ConnectError, Reason.CONNECT),
    (httpx.UnsupportedProtocol, Reason.UNSUPPORTED_SCHEME),
    (httpx.InvalidURL, Reason.INVALID_URL),
    (httpx.RemoteProtocolError, Reason.PROTOCOL),
    (httpx.LocalProtocolError, Reason.PROTOCOL),
    (httpx.ReadError, Reason.PROTOCOL),
    (httpx.WriteError, Reason.PROTOCOL),
    (httpx.DecodingError, Reason.PROTOCOL),
    (httpx.TransportError, Reason.CONNECT),
    (TimeoutError, Reason.TIMEOUT),
    (socket.gaierror, Reason.DNS),
    (ssl.SSLError, Reason.TLS),
    (ConnectionError, Reason.PROTOCOL),
    (UnicodeError, Reason.INVALID_URL),
    (ValueError, Reason.INVALID_URL),
    (OSError, Reason.CONNECT),
)
"""Exception classes in match order (subclasses before their bases)."""

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})

REASON_TEXT: Mapping[Reason, str] = {
    Reason.TIMEOUT: "timed out",
    Reason.CONNECT_TIMEOUT: "timed out while connecting",
    Reason.CONNECT: "connection failed",
    Reason.DNS: "host name does not resolve",
    Reason.PROXY: "the proxy refused the connection",
    Reason.TLS: "TLS handshake failed",
    Reason.PROTOCOL: "connection dropped or malformed response",
    Reason.INVALID_URL: "invalid URL",
    Reason.TOO_MANY_REDIRECTS: "too many redirects",
    Reason.RATE_LIMITED: "rate limited",
    Reason.UNSUPPORTED_SCHEME: "unsupported URL scheme",
    Reason.PRIVATE_ADDRESS: "private, loopback or link-local address (pass --allow-private to check it)",
    Reason.EXCLUDED: "excluded by configuration",
    Reason.NOT_INCLUDED: "not matched by any 'include' pattern",
    Reason.DOI_REGISTERED: "DOI is registered",
    Reason.DOI_NOT_REGISTERED: "DOI is not registered at doi.org",
    Reason.REPO_FOUND: "repository exists",
    Reason.REPO_RENAMED: "repository was renamed",
    Reason.REPO_MISSING: "repository does not exist (or is private)",
    Reason.REPO_DISABLED: "repository is disabled",
    Reason.PATH_MISSING: "path not found in the repository",
    Reason.UNEXPECTED_ANSWER: "unexpected answer",
}
"""A short human text per reason, the start of a result's ``detail``."""


def verdict_for_status(code: int, *, accepted: frozenset[int] = frozenset()) -> Verdict:
    """The verdict for a final HTTP status (after redirects and retries); ``accepted`` codes count as ok."""
    if code in accepted or 200 <= code < 300:
        return OK
    found = STATUS_VERDICTS.get(code)
    if found is not None:
        return found
    return ERROR


def verdict_for_reason(reason: Reason, *, network_up: bool = False) -> Verdict:
    """The verdict for a named reason; a DNS failure is broken only while the network is proven up."""
    if reason is Reason.DNS and network_up:
        return BROKEN
    return REASON_VERDICTS[reason]


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(chain) < 8:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def is_transport_failure(exc: BaseException) -> bool:
    """True for exceptions that mean a request failed (as opposed to a bug, a cancellation or Ctrl-C)."""
    if not isinstance(exc, Exception):
        return False
    return isinstance(getattr(exc, "reason", None), Reason) or any(
        isinstance(exc, cls) for cls, _ in EXCEPTION_REASONS
    )


def classify_exception(exc: BaseException) -> Reason:
    """Name the failure behind ``exc``, looking through httpx's wrapping for DNS and TLS causes."""
    named = getattr(exc, "reason", None)
    if isinstance(named, Reason):
        return named
    chain = _causes(exc)
    if not isinstance(exc, httpx.TimeoutException | httpx.ProxyError):
        for cause in chain:
            if isinstance(cause, socket.gaierror):
                return Reason.DNS
            if isinstance(cause, ssl.SSLError):
                return Reason.TLS
    for cls, reason in EXCEPTION_REASONS:
        if isinstance(exc, cls):
            return reason
    return Reason.CONNECT


def is_same_resource(origin: str, target: str) -> bool:
    """True when a redirect from ``origin`` to ``target`` keeps the same resource.

    Same resource: only the scheme upgrades (http→https), the host gains or
    loses ``www.``, the letter case changes, or a trailing slash / ``index``
    page appears or disappears; and any redirect away from a doi.org resolver
    (a DOI resolving to its publisher is what a DOI is for).
    """
    a, b = urlsplit(origin), urlsplit(target)
    host_a = (a.hostname or "").lower().removeprefix("www.")
    host_b = (b.hostname or "").lower().removeprefix("www.")
    if host_a in ("doi.org", "dx.doi.org"):
        return True
    if host_a != host_b:
        return False
    if a.scheme != b.scheme and not (a.scheme == "http" and b.scheme == "https"):
        return False
    return _path_norm(a.path) == _path_norm(b.path) and a.query == b.query


def _path_norm(path: str) -> str:
    path = path.lower()
    for index in ("/index.html", "/index.htm", "/index.php"):
        if path.endswith(index):
            path = path[: -len(index) + 1]
    return path.rstrip("/")


def verdict_for_redirects(origin: str, hops: tuple[tuple[int, str], ...]) -> Verdict:
    """``redirected`` when a permanent hop (301/308) moved ``origin`` to another resource, else ``ok``.

    ``hops`` is the chain as (status, target URL).  Temporary redirects (302,
    303, 307: logins, mirrors, language pages) never make a link ``redirected``.
    """
    previous = origin
    for code, target in hops:
        if code in PERMANENT_REDIRECTS and not is_same_resource(previous, target):
            return REDIRECTED
        previous = target
    return OK
