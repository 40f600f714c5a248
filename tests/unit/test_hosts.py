"""Unit tests for check/hosts.py (gates, rate-limit headers, network state), check/ssrf.py and check/schedule.py."""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import itertools
import time

import pytest

from linkaudit.check.hosts import (
    GIVE_UP_AFTER_HOSTS,
    HostGate,
    HostGates,
    NetworkState,
    host_key,
    parse_reset,
    parse_retry_after,
    rate_limit_delay,
)
from linkaudit.check.proxies import proxy_for, redacted
from linkaudit.check.schedule import Scheduler
from linkaudit.check.ssrf import AddressGuard, is_private_ip, is_private_literal
from linkaudit.check.verdict import Reason
from linkaudit.config import HostSettings, Settings


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://Example.ORG/x", "example.org"),
        ("https://example.org:443/x", "example.org"),
        ("http://example.org:80/x", "example.org"),
        ("http://127.0.0.1:8080/x", "127.0.0.1:8080"),
        ("https://example.org:8443/", "example.org:8443"),
        ("http://[::1]:9000/", "[::1]:9000"),
    ],
)
def test_host_key_is_lowercase_host_plus_nondefault_port(url: str, key: str) -> None:
    """Gates are keyed by the lower-cased host, plus the port when it is not the scheme's default."""
    assert host_key(url) == key


def test_retry_after_seconds_and_http_date() -> None:
    """Retry-After is read as delay-seconds or as an HTTP date; garbage is ignored."""
    now = time.time()
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30, abs=1.5)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_ratelimit_reset_epoch_or_delta() -> None:
    """x-ratelimit-reset is a Unix time (GitHub) or, when small, a number of seconds."""
    now = 1_700_000_000.0
    assert parse_reset(str(int(now + 42)), now=now) == pytest.approx(42)
    assert parse_reset("17", now=now) == 17.0
    assert parse_reset("x", now=now) is None


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (429, {"retry-after": "7"}, 7.0),
        (429, {}, 0.0),
        (503, {"retry-after": "3"}, 3.0),
        (503, {}, None),
        (403, {}, None),
        (403, {"retry-after": "60"}, 60.0),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"}, 30.0),
        (200, {"retry-after": "5"}, None),
    ],
    ids=["429-ra", "429-bare", "503-ra", "503-bare", "403-bare", "403-secondary", "403-exhausted", "200"],
)
def test_rate_limit_delay(status: int, headers: dict[str, str], expected: float | None) -> None:
    """Only rate-limit answers yield a server-requested wait (429, 503+Retry-After, GitHub's 403 limits)."""
    assert rate_limit_delay(status, headers) == expected


def test_gate_bounds_concurrency_and_spaces_requests() -> None:
    """A gate never lets more than its limit in, and spaces starts by its minimum interval."""

    async def main() -> tuple[int, list[float]]:
        gate = HostGate("h", limit=2, min_interval=0.05)
        starts: list[float] = []

        async def one() -> None:
            async with gate:
                starts.append(time.monotonic())
                await asyncio.sleep(0.01)

        await asyncio.gather(*(one() for _ in range(5)))
        return gate.peak, starts

    peak, starts = asyncio.run(main())
    assert peak <= 2
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.04 for gap in gaps)


def test_gate_pauses_within_cap_and_refuses_past_it() -> None:
    """A short server wait pauses the host; a wait past the cap refuses it so links come back blocked at once."""
    gate = HostGate("h", limit=4)
    assert gate.observe(429, {"retry-after": "1"}, max_wait=5) == 1.0
    assert gate.ready_at() > time.monotonic() + 0.5
    assert gate.refusal() is None
    gate.observe(429, {"retry-after": "600"}, max_wait=5)
    refusal = gate.refusal()
    assert refusal is not None and "600 s" in refusal


def test_gate_honours_an_exhausted_budget_on_a_success() -> None:
    """``x-ratelimit-remaining: 0`` on a 200 holds the next request until the reset."""
    gate = HostGate("api", limit=4)
    reset = str(int(time.time() + 3600))
    assert gate.observe(200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}, max_wait=60) is None
    assert gate.refusal() is not None


def test_gate_never_overspends_a_known_budget() -> None:
    """With ``x-ratelimit-remaining: N`` known, at most N requests are in flight; the rest wait, then get refused."""

    async def main() -> tuple[int, int, list[str]]:
        gate = HostGate("api", limit=8)
        reset = str(int(time.time() + 3600))
        server = [3]  # what the server still allows; it counts a request when the request arrives
        outcomes: list[str] = []

        async def one() -> None:
            async with gate:
                if gate.refusal() is not None:
                    outcomes.append("refused")
                    return
                server[0] -= 1
                left = server[0]
                outcomes.append("sent" if left >= 0 else "overspent")
                await asyncio.sleep(0.02)
                gate.observe(200, {"x-ratelimit-remaining": str(max(0, left)), "x-ratelimit-reset": reset},
                             max_wait=60)

        gate.observe(200, {"x-ratelimit-remaining": "3", "x-ratelimit-reset": reset}, max_wait=60)
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(10))), timeout=5)
        return gate.peak, outcomes.count("sent"), outcomes

    peak, sent, outcomes = asyncio.run(main())
    assert sent == 3 and peak <= 3
    assert outcomes.count("refused") == 7


def test_gate_budget_keeps_the_lowest_count_of_a_window() -> None:
    """Answers arriving out of order cannot raise the count; past the reset the count is forgotten."""
    gate = HostGate("api", limit=8)
    gate.observe(200, {"x-ratelimit-remaining": "5", "x-ratelimit-reset": "0.05"}, max_wait=60)
    gate.observe(200, {"x-ratelimit-remaining": "7", "x-ratelimit-reset": "0.05"}, max_wait=60)
    assert gate.budget() == 5
    time.sleep(0.06)
    assert gate.budget() is None
    gate.observe(200, {"x-ratelimit-remaining": "59", "x-ratelimit-reset": "3600"}, max_wait=60)
    assert gate.budget() == 59


def test_gate_with_no_request_in_flight_does_not_wait_on_an_empty_budget() -> None:
    """An empty budget without a reset time never deadlocks: with nothing in flight the request goes out."""

    async def main() -> int:
        gate = HostGate("api", limit=2)
        gate.observe(200, {"x-ratelimit-remaining": "0"}, max_wait=60)
        async with gate:
            return gate.in_flight

    assert asyncio.run(asyncio.wait_for(main(), timeout=2)) == 1


def test_gates_use_per_host_settings() -> None:
    """Per-host overrides (exact or ``*.suffix``) set a gate's limit and interval; others get the defaults."""
    settings = Settings(
        host_concurrency=8,
        hosts=(
            HostSettings(host="slow.org", concurrency=2, min_interval=0.5),
            HostSettings(host="*.edu", concurrency=3),
        ),
    )
    gates = HostGates(settings)
    assert (gates.get("slow.org").limit, gates.get("slow.org").min_interval) == (2, 0.5)
    assert gates.get("cs.uni.edu").limit == 3
    assert gates.get("other.org:8080").limit == 8
    assert gates.for_url("https://SLOW.org/x") is gates.get("slow.org")


def test_network_state_needs_an_answer_as_proof() -> None:
    """Connect-level failures alone mean offline; any answer below 500 proves the network is up."""
    state = NetworkState()
    state.note_attempt()
    state.note_failure("a.org", Reason.DNS, "no")
    assert state.is_down() and not state.proven
    state.note_answer(503)
    assert state.reached and not state.proven and not state.is_down()
    state.note_answer(404)
    assert state.proven


def test_network_state_gives_up_after_many_dead_hosts() -> None:
    """With nothing answering, enough distinct hosts failing to connect means this machine is offline."""
    state = NetworkState()
    for i in range(GIVE_UP_AFTER_HOSTS - 1):
        state.note_failure(f"h{i}.org", Reason.DNS, "no")
    assert not state.should_give_up()
    state.note_failure("last.org", Reason.CONNECT, "refused")
    assert state.should_give_up()
    assert "16 hosts" in state.summary()
    state.note_failure("t.org", Reason.TIMEOUT, "slow")
    assert not state.should_give_up()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("app.localhost", True),
        ("metadata.google.internal", True),
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("192.168.0.1", True),
        ("172.16.5.4", True),
        ("169.254.169.254", True),
        ("100.100.100.200", True),
        ("0.0.0.0", True),
        ("::1", True),
        ("[::1]", True),
        ("fe80::1", True),
        ("fd00::1", True),
        ("::ffff:127.0.0.1", True),
        ("8.8.8.8", False),
        ("2606:4700::1111", False),
        ("example.org", None),
    ],
)
def test_private_literals(host: str, expected: bool | None) -> None:
    """Loopback, private, link-local, metadata and CGNAT literals are private; names need DNS."""
    assert is_private_literal(host) is expected


def test_private_ip_covers_mapped_addresses() -> None:
    """An IPv4-mapped IPv6 address is judged by its IPv4 part."""
    assert is_private_ip(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert not is_private_ip(ipaddress.ip_address("::ffff:8.8.8.8"))


def test_guard_allows_everything_when_private_hosts_are_allowed() -> None:
    """``allow_private_hosts`` turns the guard off."""
    assert asyncio.run(AddressGuard(allow_private=True).is_blocked("127.0.0.1", 80, proxied=False)) is False
    assert asyncio.run(AddressGuard(allow_private=False).is_blocked("127.0.0.1", 80, proxied=False)) is True


def test_guard_does_not_resolve_names_behind_a_proxy() -> None:
    """With a proxy, a name is the proxy's to resolve: no local DNS lookup (which could fail offline)."""
    assert (
        asyncio.run(AddressGuard(allow_private=False).is_blocked("nosuch.invalid", 443, proxied=True))
        is False
    )


def test_proxy_for_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY/HTTP_PROXY apply per scheme, ALL_PROXY as a fallback, NO_PROXY bypasses hosts, domains and nets."""
    assert proxy_for("https", "example.org") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.internal.org,10.0.0.0/8,exact.com")
    assert proxy_for("https", "example.org") == "http://proxy:3128"
    assert proxy_for("http", "example.org") is None
    assert proxy_for("https", "a.internal.org") is None
    assert proxy_for("https", "10.2.3.4") is None
    assert proxy_for("https", "exact.com") is None
    assert proxy_for("https", "sub.exact.com") is None
    assert proxy_for("https", "notexact.com") == "http://proxy:3128"
    monkeypatch.setenv("ALL_PROXY", "proxy2:8080")
    assert proxy_for("http", "example.org") == "http://proxy2:8080"
    monkeypatch.setenv("NO_PROXY", "*")
    assert proxy_for("https", "example.org") is None


def test_scheduler_serves_the_busiest_host_first_within_limits() -> None:
    """Free slots go to the host with the most jobs left; per-host and global caps are never exceeded."""

    async def main() -> tuple[list[str], dict[str, int], int]:
        order: list[str] = []
        running: dict[str, int] = {}
        peak: dict[str, int] = {}
        total = {"now": 0, "peak": 0}

        def job(host: str) -> object:
            async def run() -> None:
                order.append(host)
                running[host] = running.get(host, 0) + 1
                peak[host] = max(peak.get(host, 0), running[host])
                total["now"] += 1
                total["peak"] = max(total["peak"], total["now"])
                await asyncio.sleep(0.01)
                running[host] -= 1
                total["now"] -= 1

            return run

        scheduler = Scheduler(
            concurrency=6, limit=lambda h: 3, interval=lambda h: 0.0, ready_at=lambda h: 0.0
        )
        for i in range(5):
            scheduler.submit(f"small{i}", job(f"small{i}"))  # type: ignore[arg-type]
        for _ in range(20):
            scheduler.submit("big", job("big"))  # type: ignore[arg-type]
        await scheduler.run()
        return order, peak, total["peak"]

    order, peak, global_peak = asyncio.run(main())
    assert order[:3] == ["big", "big", "big"]
    assert len(order) == 25
    assert max(peak.values()) <= 3
    assert global_peak <= 6


def test_scheduler_runs_follow_up_jobs_and_reraises_errors() -> None:
    """Jobs submitted while running are run too; the first error stops the run and is re-raised."""

    async def main() -> list[str]:
        seen: list[str] = []
        scheduler = Scheduler(
            concurrency=2, limit=lambda h: 1, interval=lambda h: 0.0, ready_at=lambda h: 0.0
        )

        async def follow() -> None:
            seen.append("follow")

        async def first() -> None:
            seen.append("first")
            scheduler.submit("b", follow)

        scheduler.submit("a", first)
        await scheduler.run()
        return seen

    assert asyncio.run(main()) == ["first", "follow"]

    async def failing() -> None:
        scheduler = Scheduler(
            concurrency=2, limit=lambda h: 1, interval=lambda h: 0.0, ready_at=lambda h: 0.0
        )

        async def boom() -> None:
            raise RuntimeError("boom")

        async def slow() -> None:
            await asyncio.sleep(5)

        scheduler.submit("a", boom)
        scheduler.submit("b", slow)
        await scheduler.run()

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(failing())
    assert time.monotonic() - started < 2


def test_scheduler_respects_a_host_interval() -> None:
    """A host with a minimum interval gets its jobs started that far apart."""

    async def main() -> list[float]:
        starts: list[float] = []
        scheduler = Scheduler(
            concurrency=4, limit=lambda h: 4, interval=lambda h: 0.05, ready_at=lambda h: 0.0
        )

        async def job() -> None:
            starts.append(time.monotonic())

        for _ in range(4):
            scheduler.submit("h", job)
        await scheduler.run()
        return starts

    starts = asyncio.run(main())
    assert all(b - a >= 0.04 for a, b in itertools.pairwise(starts))


@pytest.mark.parametrize(("proxy", "shown"), [
    ("http://127.0.0.1:3128", "http://127.0.0.1:3128"),
    ("http://user:secret@proxy.corp:8080", "http://proxy.corp:8080"),
    ("https://token@proxy.corp/", "https://proxy.corp"),
    ("socks5://u:p%40ss@10.0.0.1:1080/x", "socks5://10.0.0.1:1080/x"),
    ("proxy.corp:3128", "proxy.corp:3128"),
    ("user:pw@proxy.corp:3128", "proxy.corp:3128"),
])
def test_a_proxy_is_shown_without_its_credentials(proxy: str, shown: str) -> None:
    assert redacted(proxy) == shown


def test_the_first_failure_names_the_proxy_it_went_through() -> None:
    state = NetworkState()
    state.note_failure("doi.org", Reason.CONNECT, "connection refused", proxy="http://u:pw@127.0.0.1:9")
    state.note_failure("github.com", Reason.CONNECT, "connection refused")
    assert state.summary() == ("no host could be reached: 2 hosts failed to resolve or connect "
                               "(first: doi.org through the proxy http://127.0.0.1:9: connection refused)")
