"""Integration tests of the generic web check against real local servers: statuses, redirects, retries,
politeness, network-down detection, the SSRF guard, deduplication and progress."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest
from checkkit import closed_port, make_link, make_settings, run_check
from testweb import Origin, Server

from linkaudit.check import check_links, transport
from linkaudit.config import HostSettings, RetrySettings
from linkaudit.errors import NetworkUnavailable
from linkaudit.model import CheckResult, Kind, Repair, Status

STATUS_CASES = [
    (200, Status.OK, True),
    (204, Status.OK, True),
    (404, Status.BROKEN, True),
    (410, Status.BROKEN, True),
    (451, Status.BROKEN, True),
    (401, Status.BLOCKED, False),
    (403, Status.BLOCKED, False),
    (418, Status.BLOCKED, False),
    (429, Status.BLOCKED, False),
    (999, Status.BLOCKED, False),
    (500, Status.ERROR, False),
    (503, Status.ERROR, False),
]


@pytest.mark.parametrize(
    ("code", "status", "definitive"), STATUS_CASES, ids=[str(c[0]) for c in STATUS_CASES]
)
def test_status_codes(origin: Server, code: int, status: Status, definitive: bool) -> None:
    """Each answer from a real server gets the documented status, definitive flag and HTTP code."""
    url = f"{origin.url}/status/{code}"
    result = run_check([make_link(url)], make_settings())[url]
    assert (result.status, result.definitive, result.http_status) == (status, definitive, code)
    assert result.detail


def test_all_statuses_in_one_run(origin: Server) -> None:
    """A mixed run reports every link once, each with its own verdict, with timestamps and durations."""
    urls = [f"{origin.url}/status/{code}" for code, _, _ in STATUS_CASES]
    results = run_check([make_link(u) for u in urls], make_settings())
    assert {results[u].status for u in urls} == {s for _, s, _ in STATUS_CASES}
    for result in results.values():
        assert result.checked_at and result.checked_at.endswith("Z")
        assert result.elapsed_ms is not None and result.elapsed_ms >= 0


def test_retries_a_flaky_server_until_it_answers(origin: Server) -> None:
    """A server failing twice with 503 is retried and the link is ok after three attempts."""
    url = f"{origin.url}/flaky/2?id=retry"
    result = run_check([make_link(url)], make_settings())[url]
    assert (result.status, result.attempts) == (Status.OK, 3)


def test_gives_up_after_the_attempt_budget(origin: Server) -> None:
    """A server that keeps failing is an inconclusive error after exactly ``attempts`` tries."""
    url = f"{origin.url}/flaky/9?id=never"
    result = run_check([make_link(url)], make_settings())[url]
    assert (result.status, result.definitive, result.http_status, result.attempts) == (
        Status.ERROR,
        False,
        503,
        3,
    )
    assert origin.counts["HEAD /flaky/9"] == 3


def test_404_is_not_retried(origin: Server) -> None:
    """A 404 is asked once with HEAD and once with GET (to rule out a HEAD quirk), never retried."""
    url = f"{origin.url}/status/404"
    run_check([make_link(url)], make_settings())
    assert origin.counts["HEAD /status/404"] == 1
    assert origin.counts["GET /status/404"] == 1
    assert origin.counts["GET /status/410"] == 0


def test_dropped_connection_is_retried(origin: Server) -> None:
    """A connection closed without an answer is retried; one that always drops is an error, not broken."""
    once, always = f"{origin.url}/drop/1?id=d", f"{origin.url}/drop"
    results = run_check([make_link(once), make_link(always)], make_settings())
    assert (results[once].status, results[once].attempts) == (Status.OK, 2)
    assert (results[always].status, results[always].definitive) == (Status.ERROR, False)
    assert results[always].attempts == 3


def test_timeout_is_an_error(origin: Server) -> None:
    """A server slower than the timeout is an inconclusive error after its retries."""
    url = f"{origin.url}/slow?delay=1.5"
    retry = RetrySettings(attempts=2, initial_wait=0, max_wait=0, jitter=0)
    result = run_check([make_link(url)], make_settings(timeout=0.3, retry=retry))[url]
    assert (result.status, result.definitive, result.attempts) == (Status.ERROR, False, 2)
    assert "timed out" in result.detail


def test_slow_drip_body_does_not_hold_the_check(origin: Server) -> None:
    """A page that answers at once but drips its body is judged on its status within about one timeout."""
    url = f"{origin.url}/drip"
    started = time.monotonic()
    result = run_check([make_link(url)], make_settings(timeout=0.5))[url]
    assert result.status is Status.OK
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("mode", ["seconds", "date", "reset"])
def test_retry_after_is_honoured(origin: Server, mode: str) -> None:
    """A 429 with Retry-After (seconds or HTTP date) or x-ratelimit-reset is waited out, then the link is ok."""
    after = 2 if mode == "date" else 1  # an HTTP date has whole-second resolution
    url = f"{origin.url}/ratelimit?after={after}&id={mode}&mode={mode}"
    started = time.monotonic()
    result = run_check([make_link(url)], make_settings())[url]
    elapsed = time.monotonic() - started
    assert (result.status, result.attempts) == (Status.OK, 2)
    assert 0.5 <= elapsed < 4.5


def test_retry_after_past_the_cap_is_blocked_without_stalling(origin: Server) -> None:
    """A Retry-After beyond max_retry_after ends as blocked at once; the host's other links are not asked."""
    first = f"{origin.url}/ratelimit?after=3600&times=99&id=cap"
    others = [f"{origin.url}/status/200?n={i}" for i in range(3)]
    settings = make_settings(host_concurrency=1)
    started = time.monotonic()
    results = run_check([make_link(first), *(make_link(u) for u in others)], settings)
    assert time.monotonic() - started < 3
    assert (results[first].status, results[first].definitive) == (Status.BLOCKED, False)
    assert "3600" in results[first].detail
    assert origin.requests == 1  # the host's other links were answered from the refusal, unasked
    for url in others:
        assert (results[url].status, results[url].definitive) == (Status.BLOCKED, False)
        assert "rate limited" in results[url].detail


def test_head_refused_falls_back_to_get(origin: Server) -> None:
    """HEAD answered 405 (or a lying 404) is asked again with GET, which decides."""
    no_head, lies, both = f"{origin.url}/no-head", f"{origin.url}/head-lies", f"{origin.url}/get-only-404"
    results = run_check([make_link(no_head), make_link(lies), make_link(both)], make_settings())
    assert results[no_head].status is Status.OK
    assert results[lies].status is Status.OK
    assert (results[both].status, results[both].http_status) == (Status.BROKEN, 404)
    assert origin.counts["GET /no-head"] == 1


def test_permanent_redirect_elsewhere_is_redirected(origin: Server) -> None:
    """A 301 to another resource is ``redirected`` with the final URL and the chain."""
    url = f"{origin.url}/redirect/301?to=/status/200"
    result = run_check([make_link(url)], make_settings())[url]
    assert result.status is Status.REDIRECTED and result.definitive
    assert result.final_url == f"{origin.url}/status/200"
    assert result.redirects == (f"{origin.url}/status/200",)


def test_same_resource_and_temporary_redirects_are_ok(origin: Server) -> None:
    """A trailing-slash 301 and a temporary 302 chain stay ``ok``, with the chain recorded."""
    slash, chain = f"{origin.url}/page", f"{origin.url}/chain/3"
    results = run_check([make_link(slash), make_link(chain)], make_settings())
    assert results[slash].status is Status.OK
    assert results[slash].final_url == f"{origin.url}/page/"
    assert results[chain].status is Status.OK
    assert len(results[chain].redirects) == 3


def test_redirect_to_a_broken_page_is_broken(origin: Server) -> None:
    """Following a redirect to a 404 reports the link broken."""
    url = f"{origin.url}/redirect/302?to=/status/404"
    result = run_check([make_link(url)], make_settings())[url]
    assert (result.status, result.http_status) == (Status.BROKEN, 404)


def test_redirect_loop_stops_at_the_limit(origin: Server) -> None:
    """A redirect loop is cut after max_redirects hops and reported as an inconclusive error."""
    url = f"{origin.url}/loop"
    result = run_check([make_link(url)], make_settings(max_redirects=4))[url]
    assert (result.status, result.definitive) == (Status.ERROR, False)
    assert len(result.redirects) == 4
    assert origin.counts["HEAD /loop"] == 5


def test_per_host_limit_measured_at_the_server(serve: Callable[..., Server]) -> None:
    """No server ever sees more requests in flight than its host limit; the global cap bounds the sum."""
    a, b = serve(Origin()), serve(Origin(), host="127.0.0.2")
    links = [make_link(f"{a.url}/slow?delay=0.1&n={i}") for i in range(24)]
    links += [make_link(f"{b.url}/slow?delay=0.1&n={i}") for i in range(24)]
    settings = make_settings(
        host_concurrency=3, concurrency=5, hosts=(HostSettings(host="127.0.0.2", concurrency=2),)
    )
    results = run_check(links, settings)
    assert all(r.status is Status.OK for r in results.values())
    assert a.peak == 3
    assert b.peak == 2


def test_min_interval_spaces_requests(origin: Server) -> None:
    """A per-host minimum interval spaces the requests to that host."""
    links = [make_link(f"{origin.url}/status/200?n={i}") for i in range(5)]
    started = time.monotonic()
    run_check(links, make_settings(min_interval=0.1))
    assert time.monotonic() - started >= 0.35


def test_excluded_and_not_included_links_are_skipped(origin: Server) -> None:
    """Exclude patterns and a non-matching include list make links ``skipped`` without a request."""
    excluded, other, kept = (
        f"{origin.url}/status/404?x",
        f"{origin.url}/status/500",
        f"{origin.url}/status/200",
    )
    settings = make_settings(exclude=(r"\?x$",), include=(r"/status/(200|404)",))
    results = run_check([make_link(excluded), make_link(other), make_link(kept)], settings)
    assert (results[excluded].status, results[other].status, results[kept].status) == (
        Status.SKIPPED,
        Status.SKIPPED,
        Status.OK,
    )
    assert not results[excluded].definitive
    assert origin.counts["HEAD /status/500"] == 0


def test_unsupported_scheme_is_skipped() -> None:
    """A non-http(s) URL is skipped, not broken."""
    url = "ftp://ftp.example.org/pub/file"
    result = run_check([make_link(url, kind=Kind.WEB, key="web:ftp")], make_settings())[url]
    assert result.status is Status.SKIPPED


def test_ssrf_guard_skips_private_addresses(origin: Server) -> None:
    """Without --allow-private, loopback, localhost, link-local and metadata addresses are skipped unasked."""
    urls = [
        f"{origin.url}/status/200",
        f"http://localhost:{origin.port}/status/200",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://10.0.0.1/admin",
        "http://metadata.google.internal/computeMetadata/v1/",
    ]
    results = run_check([make_link(u) for u in urls], make_settings(allow_private_hosts=False))
    for url in urls:
        assert results[url].status is Status.SKIPPED, url
        assert "allow-private" in results[url].detail
    assert origin.requests == 0


def test_ssrf_guard_checks_names_that_resolve_to_private_addresses(origin: Server) -> None:
    """A host name that resolves to a private address is skipped too (DNS is consulted when no proxy is set)."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        pytest.skip("this machine's own name does not resolve")
    if not any(a.startswith("127.") or a == "::1" for a in addresses):
        pytest.skip("this machine's own name does not resolve to loopback")
    url = f"http://{name}:{origin.port}/status/200"
    result = run_check([make_link(url)], make_settings(allow_private_hosts=False))[url]
    assert result.status is Status.SKIPPED
    assert origin.requests == 0


def test_dead_host_among_live_ones_is_broken(origin: Server) -> None:
    """A host name that does not resolve is broken when other hosts answered (the network is up)."""
    live, dead = f"{origin.url}/status/200", "http://no-such-host.invalid/paper"
    results = run_check([make_link(dead), make_link(live)], make_settings())
    assert results[live].status is Status.OK
    assert (results[dead].status, results[dead].definitive) == (Status.BROKEN, True)
    assert "resolve" in results[dead].detail


def test_network_down_when_nothing_resolves() -> None:
    """When no host resolves, the run raises NetworkUnavailable instead of reporting links broken."""
    links = [make_link(f"https://host{i}.invalid/x") for i in range(4)]
    with pytest.raises(NetworkUnavailable, match="no host could be reached"):
        run_check(links, make_settings())


def test_network_down_is_detected_by_the_ssrf_guards_own_lookups() -> None:
    """With the SSRF guard on (the default), failing name lookups alone still mean NetworkUnavailable."""
    links = [make_link(f"https://guarded{i}.invalid/x") for i in range(3)]
    with pytest.raises(NetworkUnavailable):
        run_check(links, make_settings(allow_private_hosts=False))


def test_network_down_when_every_port_is_closed() -> None:
    """When every host refuses connections (and the APIs too), the run raises NetworkUnavailable."""
    links = [make_link(f"http://127.0.0.1:{closed_port()}/x{i}") for i in range(3)]
    links.append(make_link("https://doi.org/10.1000/xyz"))
    links.append(make_link("https://github.com/owner/repo"))
    with pytest.raises(NetworkUnavailable):
        run_check(links, make_settings())


def test_network_down_gives_up_early_on_many_dead_hosts() -> None:
    """Offline with many hosts, the run stops after a few dead hosts instead of trying them all."""
    links = [make_link(f"https://site{i}.invalid/{j}") for i in range(60) for j in range(3)]
    started = time.monotonic()
    with pytest.raises(NetworkUnavailable):
        run_check(links, make_settings())
    assert time.monotonic() - started < 10


def test_unresolvable_host_is_not_broken_without_proof(origin: Server) -> None:
    """When the only other host timed out (reached but no answer), a DNS failure stays an inconclusive error."""
    slow, dead = f"{origin.url}/slow?delay=1", "http://gone.invalid/x"
    retry = RetrySettings(attempts=1, initial_wait=0, max_wait=0, jitter=0)
    results = run_check([make_link(slow), make_link(dead)], make_settings(timeout=0.2, retry=retry))
    assert results[slow].status is Status.ERROR
    assert (results[dead].status, results[dead].definitive) == (Status.ERROR, False)


def test_refused_connection_is_an_error_not_broken(origin: Server) -> None:
    """A host refusing connections while others answer is an inconclusive error."""
    live, refused = f"{origin.url}/status/200", f"http://127.0.0.1:{closed_port()}/x"
    results = run_check([make_link(live), make_link(refused)], make_settings())
    assert (results[refused].status, results[refused].definitive) == (Status.ERROR, False)


def test_duplicates_are_checked_once_and_cite_every_paper(origin: Server) -> None:
    """Links sharing a key are checked once; the result cites every paper and keeps the first link's repairs."""
    url = f"{origin.url}/status/200"
    first = replace(make_link(url, paper="7", line=10), repairs=(Repair("r", "d"),))
    second = make_link(url, paper="8", line=20, path="other.md")
    results = asyncio.run(check_links([first, second], make_settings()))
    assert len(results) == 1
    result = results[0]
    assert [(c.paper, c.path, c.line) for c in result.papers] == [
        ("7", "catalog.md", 10),
        ("8", "other.md", 20),
    ]
    assert result.repairs == (Repair("r", "d"),)
    assert origin.counts["HEAD /status/200"] == 1


def test_results_are_sorted_and_progress_is_reported(origin: Server) -> None:
    """Results come sorted by key; progress hears start(total), one advance per key, then finish."""
    events: list[object] = []

    class Recorder:
        def start(self, total: int) -> None:
            events.append(("start", total))

        def advance(self, result: CheckResult) -> None:
            events.append(result.key)

        def finish(self) -> None:
            events.append("finish")

    links = [make_link(f"{origin.url}/status/{c}") for c in (404, 200, 503)]
    results = asyncio.run(check_links(links + links[:1], make_settings(), progress=Recorder()))
    assert [r.key for r in results] == sorted(r.key for r in results)
    assert events[0] == ("start", 3)
    assert events[-1] == "finish"
    assert sorted(events[1:-1]) == sorted(r.key for r in results)  # type: ignore[type-var]


def test_user_agent_and_accept_headers(origin: Server) -> None:
    """Requests carry linkaudit's honest User-Agent and a browser-like Accept header, and no Authorization."""
    run_check([make_link(f"{origin.url}/status/200")], make_settings())
    request = origin.log[0]
    assert request.headers["user-agent"].startswith("linkaudit/")
    assert "text/html" in request.headers["accept"]
    assert "authorization" not in request.headers


def test_shortlink_resolves_then_checks_the_target(origin: Server) -> None:
    """A shortlink is resolved and its target checked as its own kind; a dead shortlink is broken."""
    good = f"{origin.url}/redirect/301?to=/status/200"
    dead = f"{origin.url}/status/404?short"
    results = run_check(
        [
            make_link(good, kind=Kind.SHORTLINK, key="short:good"),
            make_link(dead, kind=Kind.SHORTLINK, key="short:dead"),
        ],
        make_settings(),
    )
    assert results[good].status is Status.OK
    assert results[good].kind is Kind.SHORTLINK
    assert results[good].final_url == f"{origin.url}/status/200"
    assert "resolves to" in results[good].detail
    assert results[dead].status is Status.BROKEN


def test_suggestions_report_only_candidates_that_exist(origin: Server) -> None:
    """A broken link's suggestions are checked; only the ones that answer ok are reported."""
    url = f"{origin.url}/status/404?garbled"
    good, bad = f"{origin.url}/status/200?fixed", f"{origin.url}/status/404?other"
    link = make_link(url, suggestions=[bad, good])
    result = run_check([link], make_settings())[url]
    assert result.status is Status.BROKEN
    assert result.suggestions == (good,)
    no_check = run_check([link], make_settings(check_suggestions=False))[url]
    assert no_check.suggestions == ()


def test_idle_host_pools_are_closed_past_the_limit(
    serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With many hosts, the router closes least recently used idle pools (their connections) and reopens on demand."""
    monkeypatch.setattr(transport, "MAX_IDLE_POOLS", 1)
    monkeypatch.setattr(transport, "EVICT_BATCH", 1)
    servers = [serve(Origin()) for _ in range(4)]

    async def main() -> list[int]:
        router = transport.HostRouter(make_settings())
        sizes = []
        async with httpx.AsyncClient(transport=router) as client:
            for server in [*servers, servers[0]]:
                response = await client.get(f"{server.url}/status/200")
                assert response.status_code == 200
                sizes.append(len(router._pools))
        return sizes

    sizes = asyncio.run(main())
    assert max(sizes) <= 2
    assert servers[0].requests == 2
