"""Unit tests for check/verdict.py: the mapping tables read directly, and the redirect rules."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from linkaudit.check import verdict
from linkaudit.check.verdict import (
    BLOCKED,
    BROKEN,
    CONNECT_LEVEL,
    ERROR,
    OK,
    REASON_TEXT,
    REASON_VERDICTS,
    REDIRECTED,
    SKIPPED,
    STATUS_VERDICTS,
    Reason,
    classify_exception,
    is_same_resource,
    verdict_for_reason,
    verdict_for_redirects,
    verdict_for_status,
)
from linkaudit.model import Status

STATUS_CASES = [
    (200, OK),
    (204, OK),
    (299, OK),
    (404, BROKEN),
    (410, BROKEN),
    (451, BROKEN),
    (401, BLOCKED),
    (403, BLOCKED),
    (418, BLOCKED),
    (429, BLOCKED),
    (999, BLOCKED),
    (500, ERROR),
    (502, ERROR),
    (503, ERROR),
    (504, ERROR),
    (400, ERROR),
    (409, ERROR),
    (300, ERROR),
    (304, ERROR),
]


@pytest.mark.parametrize(("code", "expected"), STATUS_CASES, ids=[str(c) for c, _ in STATUS_CASES])
def test_status_codes_map_to_documented_verdicts(code: int, expected: verdict.Verdict) -> None:
    """Each status code gets the verdict the issue's taxonomy names (2xx ok, 404/410/451 broken, bot walls blocked)."""
    assert verdict_for_status(code) == expected


def test_status_table_is_what_the_issue_documents() -> None:
    """The explicit table holds exactly the broken and blocked codes of the taxonomy."""
    broken = {code for code, v in STATUS_VERDICTS.items() if v == BROKEN}
    blocked = {code for code, v in STATUS_VERDICTS.items() if v == BLOCKED}
    assert broken == {404, 410, 451}
    assert {401, 403, 418, 429, 999} <= blocked
    assert all(v in (BROKEN, BLOCKED) for v in STATUS_VERDICTS.values())


def test_accepted_codes_count_as_ok() -> None:
    """A per-host accepted code (a bot wall the user trusts) turns into ok."""
    assert verdict_for_status(403, accepted=frozenset({403})) == OK
    assert verdict_for_status(404, accepted=frozenset({403})) == BROKEN


def test_broken_is_always_definitive_and_inconclusive_never() -> None:
    """Every broken verdict is definitive; no blocked, error or skipped verdict is."""
    for table in (STATUS_VERDICTS, REASON_VERDICTS):
        for v in table.values():
            if v.status is Status.BROKEN:
                assert v.definitive
            if v.status in (Status.BLOCKED, Status.ERROR, Status.SKIPPED):
                assert not v.definitive


def test_every_reason_has_a_verdict_and_a_text() -> None:
    """The reason table and the detail texts are exhaustive over ``Reason``."""
    assert set(REASON_VERDICTS) == set(Reason)
    assert set(REASON_TEXT) == set(Reason)


REASON_CASES = [
    (Reason.TIMEOUT, ERROR),
    (Reason.CONNECT, ERROR),
    (Reason.CONNECT_TIMEOUT, ERROR),
    (Reason.PROXY, ERROR),
    (Reason.TLS, ERROR),
    (Reason.PROTOCOL, ERROR),
    (Reason.TOO_MANY_REDIRECTS, ERROR),
    (Reason.RATE_LIMITED, BLOCKED),
    (Reason.PRIVATE_ADDRESS, SKIPPED),
    (Reason.EXCLUDED, SKIPPED),
    (Reason.UNSUPPORTED_SCHEME, SKIPPED),
    (Reason.DOI_NOT_REGISTERED, BROKEN),
    (Reason.REPO_MISSING, BROKEN),
    (Reason.REPO_DISABLED, BROKEN),
    (Reason.PATH_MISSING, BROKEN),
    (Reason.REPO_RENAMED, REDIRECTED),
    (Reason.REPO_FOUND, OK),
    (Reason.DOI_REGISTERED, OK),
]


@pytest.mark.parametrize(("reason", "expected"), REASON_CASES, ids=[r.value for r, _ in REASON_CASES])
def test_reasons_map_to_documented_verdicts(reason: Reason, expected: verdict.Verdict) -> None:
    """Transport failures are inconclusive errors; per-kind findings are definitive."""
    assert verdict_for_reason(reason) == expected


def test_dns_failure_is_broken_only_with_network_proof() -> None:
    """A name that does not resolve is an error while offline is possible, and broken once the network is proven."""
    assert verdict_for_reason(Reason.DNS, network_up=False) == ERROR
    assert verdict_for_reason(Reason.DNS, network_up=True) == BROKEN
    assert Reason.DNS in CONNECT_LEVEL


def _wrapped(outer: type[Exception], inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer("wrapped") from exc
    except Exception as exc:
        return exc


EXCEPTION_CASES = [
    (httpx.ConnectTimeout("t"), Reason.CONNECT_TIMEOUT),
    (httpx.ReadTimeout("t"), Reason.TIMEOUT),
    (httpx.PoolTimeout("t"), Reason.TIMEOUT),
    (httpx.ConnectError("refused"), Reason.CONNECT),
    (httpx.ProxyError("502"), Reason.PROXY),
    (httpx.RemoteProtocolError("dropped"), Reason.PROTOCOL),
    (httpx.ReadError("reset"), Reason.PROTOCOL),
    (httpx.UnsupportedProtocol("ftp"), Reason.UNSUPPORTED_SCHEME),
    (httpx.InvalidURL("bad"), Reason.INVALID_URL),
    (_wrapped(httpx.ConnectError, socket.gaierror(-2, "Name or service not known")), Reason.DNS),
    (_wrapped(httpx.ConnectError, ssl.SSLCertVerificationError("bad cert")), Reason.TLS),
    (socket.gaierror(-3, "Temporary failure"), Reason.DNS),
    (ConnectionResetError(), Reason.PROTOCOL),
]


@pytest.mark.parametrize(
    ("exc", "expected"), EXCEPTION_CASES, ids=[f"{type(e).__name__}-{r.value}" for e, r in EXCEPTION_CASES]
)
def test_exceptions_are_classified_through_their_causes(exc: BaseException, expected: Reason) -> None:
    """httpx exceptions map to reasons, looking through the wrapping for DNS and TLS causes."""
    assert classify_exception(exc) is expected


SAME = [
    ("http://a.org/x", "https://a.org/x"),
    ("https://a.org/x", "https://a.org/x/"),
    ("https://a.org/X", "https://a.org/x"),
    ("https://A.org/x", "https://www.a.org/x"),
    ("https://a.org/docs/", "https://a.org/docs/index.html"),
    ("https://doi.org/10.1/x", "https://publisher.example/article/1"),
]
DIFFERENT = [
    ("https://a.org/x", "https://a.org/y"),
    ("https://a.org/x", "https://b.org/x"),
    ("https://a.org/x", "https://a.org/"),
    ("https://a.org/x?p=1", "https://a.org/x?p=2"),
    ("https://a.org/x", "http://a.org/x"),
]


@pytest.mark.parametrize(("a", "b"), SAME, ids=[f"{a}->{b}" for a, b in SAME])
def test_same_resource_redirects(a: str, b: str) -> None:
    """Scheme upgrades, trailing slashes, case, www and doi.org to a publisher keep the same resource."""
    assert is_same_resource(a, b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT, ids=[f"{a}->{b}" for a, b in DIFFERENT])
def test_other_resource_redirects(a: str, b: str) -> None:
    """A new path, host or query (or an https downgrade) is another resource."""
    assert not is_same_resource(a, b)


def test_only_permanent_moves_to_another_resource_are_redirected() -> None:
    """301/308 to another resource is ``redirected``; temporary or same-resource hops stay ``ok``."""
    assert verdict_for_redirects("https://a.org/x", ((301, "https://a.org/y"),)) == REDIRECTED
    assert verdict_for_redirects("https://a.org/x", ((308, "https://b.org/x"),)) == REDIRECTED
    assert verdict_for_redirects("https://a.org/x", ((302, "https://a.org/login"),)) == OK
    assert (
        verdict_for_redirects("http://a.org/x", ((301, "https://a.org/x"), (301, "https://a.org/x/"))) == OK
    )
    assert verdict_for_redirects("https://doi.org/10.1/x", ((302, "https://pub.example/a"),)) == OK
    chain = ((301, "https://a.org/x/"), (301, "https://a.org/new/"))
    assert verdict_for_redirects("https://a.org/x", chain) == REDIRECTED
