"""Per-host politeness and reachability: ``HostGate`` per host, rate-limit headers, network proof.

Stage: check.  Inputs: ``Settings`` (per-host concurrency and interval),
response status codes and headers.  Outputs: gates that bound concurrent
requests per host, space them by a minimum interval, pause a host after a
429 / ``Retry-After`` / exhausted ``x-ratelimit-remaining`` (up to
``retry.max_retry_after``; past it the host is *refused* for the rest of the
wait so its links come back ``blocked`` instead of stalling the run), and a
``NetworkState`` that knows whether this run has proof the network is up.

A host key is the lower-cased host name, plus ``:port`` when the URL names a
non-default port (two servers on one machine are two hosts).
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

from ..config import Settings
from .proxies import redacted
from .verdict import CONNECT_LEVEL, Reason

DEFAULT_PORTS = {"http": 80, "https": 443}

GIVE_UP_AFTER_HOSTS = 16
"""With no answer from anywhere yet, this many distinct hosts failing to connect or resolve means offline."""

EPOCH_THRESHOLD = 1_000_000_000.0
"""An ``x-ratelimit-reset`` above this is a Unix time (GitHub); below it, a number of seconds."""


_ORIGIN = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([A-Za-z0-9._~-]*)(?::([0-9]{1,5}))?(?=[/?#]|\Z)")
"""The origin of a URL whose host is a plain ASCII name or IPv4 address, with no user info."""


def split_origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of ``url``: exactly ``urlsplit``'s ``scheme``, ``hostname or ""`` and ``port``.

    Every link is split several times on its way through the checker (gate,
    guard, verdict), so the common shape takes one regex match instead of
    ``urlsplit`` and its properties; anything else (user info, IPv6, non-ASCII,
    stray whitespace) goes to ``urlsplit`` itself.  Raises ``ValueError`` for a
    port out of range, as ``SplitResult.port`` does.
    """
    match = _ORIGIN.match(url)
    if match is not None:
        scheme, host, port_text = match.groups()
        port = int(port_text) if port_text else None
        if port is None or port <= 65535:
            return scheme.lower(), host.lower(), port
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port


def split_origin_lenient(url: str) -> tuple[str, str, int | None]:
    """``split_origin``, with None for a port out of range (where only the host matters)."""
    try:
        return split_origin(url)
    except ValueError:
        parts = urlsplit(url)
        return parts.scheme, parts.hostname or "", None


def host_key(url: str) -> str:
    """The gate key of ``url``: lower-cased host, plus ``:port`` for a non-default port."""
    scheme, host, port = split_origin_lenient(url)
    host = host.rstrip(".")
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        return f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    return host


def host_name(key: str) -> str:
    """The bare host name of a gate key (for the per-host settings, which ignore ports)."""
    if key.startswith("["):
        return key[1:].split("]", 1)[0]
    return key.rsplit(":", 1)[0] if key.count(":") == 1 else key


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or an HTTP date); None if absent or invalid."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    wall = time.time() if now is None else now
    return max(0.0, when.timestamp() - wall)


def parse_reset(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds until an ``x-ratelimit-reset`` (a Unix time, or a delay for small values); None if invalid."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if number > EPOCH_THRESHOLD:
        wall = time.time() if now is None else now
        return max(0.0, number - wall)
    return max(0.0, number)


def is_budget_exhausted(headers: Mapping[str, str]) -> bool:
    """True when ``x-ratelimit-remaining`` says no request is left in the current window."""
    remaining = headers.get("x-ratelimit-remaining")
    return remaining is not None and remaining.strip() == "0"


def rate_limit_delay(status: int, headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait before asking again, or None when the answer is not a rate limit.

    429 and 503 with ``Retry-After``; 403 or 429 with ``Retry-After`` or an
    exhausted ``x-ratelimit-remaining`` (GitHub's primary and secondary limits);
    a 429 without either header gives 0 (plain exponential backoff applies).
    ``headers`` must have lower-case names.
    """
    retry_after = parse_retry_after(headers.get("retry-after"), now=now)
    exhausted = is_budget_exhausted(headers)
    if status not in (403, 429, 503):
        return None
    if status == 503 and retry_after is None:
        return None
    if status == 403 and retry_after is None and not exhausted:
        return None
    if retry_after is not None:
        return retry_after
    if exhausted:
        reset = parse_reset(headers.get("x-ratelimit-reset"), now=now)
        if reset is not None:
            return reset
    return 0.0 if status == 429 else None


class HostGate:
    """Bounds concurrent requests to one host, spaces them, and pauses or refuses the host when it asks.

    Use as ``async with gate:`` around one request.  ``in_flight`` and ``peak``
    count requests inside the gate.
    """

    __slots__ = (
        "_budget",
        "_budget_changed",
        "_budget_until",
        "_next_start",
        "_paused_until",
        "_refused_until",
        "_sem",
        "in_flight",
        "key",
        "limit",
        "min_interval",
        "peak",
        "refused_detail",
        "requests",
        "unreachable",
    )

    def __init__(self, key: str, *, limit: int, min_interval: float = 0.0) -> None:
        self.key = key
        self.limit = max(1, limit)
        self.min_interval = max(0.0, min_interval)
        self._sem = asyncio.Semaphore(self.limit)
        self._next_start = 0.0
        self._paused_until = 0.0
        self._refused_until = 0.0
        self.refused_detail = ""
        self.in_flight = 0
        self.peak = 0
        self.requests = 0
        self.unreachable: tuple[Reason, str] | None = None
        """The connect-level failure that made this host unreachable in this run, if any."""
        self._budget: int | None = None
        self._budget_until = 0.0
        self._budget_changed: asyncio.Event | None = None

    def budget(self) -> int | None:
        """Requests the host still allows in its current rate-limit window (``x-ratelimit-remaining``), if it said."""
        if self._budget is not None and self._budget_until and time.monotonic() >= self._budget_until:
            self._budget = None  # the window was reset
            self._budget_until = 0.0
        return self._budget

    def _over_budget(self) -> bool:
        """True while every request the host still allows is already in flight (and it is not refused)."""
        budget = self.budget()
        return budget is not None and self.in_flight >= budget and self.refusal() is None

    async def __aenter__(self) -> HostGate:
        await self._sem.acquire()
        try:
            while True:
                now = time.monotonic()
                wait = max(self._next_start, self._paused_until) - now
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                if not self._over_budget() or not self.in_flight:
                    break  # nothing in flight to wait for: the server's answer will say how long to hold
                # the host's remaining budget is reserved by the requests in flight: another one would
                # overspend it, so wait for one of them to come back (with the host's next count)
                if self._budget_changed is None:
                    self._budget_changed = asyncio.Event()
                self._budget_changed.clear()
                await self._budget_changed.wait()
        except BaseException:
            self._sem.release()
            raise
        self._next_start = now + self.min_interval
        self.in_flight += 1
        self.requests += 1
        self.peak = max(self.peak, self.in_flight)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.in_flight -= 1
        self._sem.release()
        if self._budget_changed is not None:
            self._budget_changed.set()

    def ready_at(self) -> float:
        """The monotonic time from which a new request may start (interval and pauses considered)."""
        return max(self._next_start, self._paused_until)

    def pause(self, seconds: float) -> None:
        """Hold every request to this host for ``seconds`` (a server-requested wait within the cap)."""
        self._paused_until = max(self._paused_until, time.monotonic() + max(0.0, seconds))

    def refuse(self, seconds: float, detail: str) -> None:
        """Answer every request to this host as rate limited for ``seconds`` (a wait past the cap)."""
        self._refused_until = max(self._refused_until, time.monotonic() + max(0.0, seconds))
        self.refused_detail = detail

    def refusal(self) -> str | None:
        """The reason requests are refused right now, or None when the host may be asked."""
        if self._refused_until and time.monotonic() < self._refused_until:
            return self.refused_detail
        return None

    def observe(self, status: int, headers: Mapping[str, str], *, max_wait: float) -> float | None:
        """Adjust to an answer's rate-limit signals; returns the server-requested wait, if any.

        A wait within ``max_wait`` pauses the host; a longer one refuses it
        until then.  An exhausted budget on a successful answer does the same
        for the next request (GitHub sends ``x-ratelimit-remaining: 0`` on the
        last allowed call).
        """
        self._note_budget(headers)
        delay = rate_limit_delay(status, headers)
        if delay is None and status < 400 and is_budget_exhausted(headers):
            reset = parse_reset(headers.get("x-ratelimit-reset"))
            if reset is not None and reset > 0:
                self._hold(reset, max_wait, "request budget exhausted")
            return None
        if delay is not None and delay > 0:
            self._hold(delay, max_wait, "rate limited")
        return delay

    def _note_budget(self, headers: Mapping[str, str]) -> None:
        """Track ``x-ratelimit-remaining``: the lowest count seen until the window's ``x-ratelimit-reset``.

        Answers to concurrent requests arrive in any order, so within one
        window the smallest count is the freshest; past the reset time the
        count is forgotten and the next answer starts the new window.
        """
        text = headers.get("x-ratelimit-remaining")
        if text is None:
            return
        try:
            remaining = max(0, int(text.strip()))
        except ValueError:
            return
        current = self.budget()
        if current is not None:
            self._budget = min(current, remaining)
            return
        self._budget = remaining
        reset = parse_reset(headers.get("x-ratelimit-reset"))
        self._budget_until = time.monotonic() + reset if reset is not None else 0.0

    def _hold(self, seconds: float, max_wait: float, what: str) -> None:
        if seconds <= max_wait:
            self.pause(seconds)
        else:
            self.refuse(
                seconds,
                f"{what} by {self.key} for {seconds:.0f} s (more than max_retry_after {max_wait:g} s)",
            )


class HostGates:
    """One ``HostGate`` per host key, created on first use from the settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._gates: dict[str, HostGate] = {}

    def get(self, key: str) -> HostGate:
        """The gate of host key ``key``."""
        gate = self._gates.get(key)
        if gate is None:
            name = host_name(key)
            gate = HostGate(
                key,
                limit=self._settings.effective_concurrency(name),
                min_interval=self._settings.effective_min_interval(name),
            )
            self._gates[key] = gate
        return gate

    def for_url(self, url: str) -> HostGate:
        """The gate of ``url``'s host."""
        return self.get(host_key(url))

    def all(self) -> tuple[HostGate, ...]:
        """Every gate created so far."""
        return tuple(self._gates.values())


@dataclass(slots=True)
class NetworkState:
    """What this run knows about the network (mutable, owned by one run, never leaves ``check/``)."""

    proven: bool = False
    """An HTTP answer below 500 arrived: name-resolution failures are real, not this machine being offline."""
    reached: bool = False
    """Anything answered at all (an HTTP answer, or a failure after a connection was made)."""
    attempted: int = 0
    """Requests sent (or tried)."""
    first_failure: str = ""
    """The first connect-level failure, for the one-line 'network unavailable' message."""

    failed_hosts: set[str] = field(default_factory=set)
    """Hosts whose requests failed at connect level (name resolution, refused, proxy)."""
    dns_pending: set[str] = field(default_factory=set)
    """Keys of links whose host did not resolve before the network was proven up (decided at the end)."""

    def note_attempt(self) -> None:
        """A request is about to be sent."""
        self.attempted += 1

    def note_answer(self, status: int) -> None:
        """An HTTP answer arrived."""
        self.reached = True
        if status < 500:
            self.proven = True

    def note_failure(self, host: str, reason: Reason, detail: str, *, proxy: str | None = None) -> None:
        """A request failed for good (after its retries); ``proxy``: the proxy it went through, if any."""
        if reason in CONNECT_LEVEL:
            self.failed_hosts.add(host)
            if not self.first_failure:
                through = f" through the proxy {redacted(proxy)}" if proxy else ""
                self.first_failure = f"{host}{through}: {detail}"
        else:
            self.reached = True

    def is_down(self) -> bool:
        """True when requests (or name lookups) were tried and nothing at all answered."""
        return (self.attempted > 0 or bool(self.failed_hosts)) and not self.reached

    def should_give_up(self) -> bool:
        """True when so many hosts failed at connect level, with nothing answering, that this machine is offline."""
        return not self.reached and len(self.failed_hosts) >= GIVE_UP_AFTER_HOSTS

    def summary(self) -> str:
        """One line for ``NetworkUnavailable``."""
        count = len(self.failed_hosts)
        hosts = f"{count} host{'s' if count != 1 else ''}"
        first = f" (first: {self.first_failure})" if self.first_failure else ""
        return f"no host could be reached: {hosts} failed to resolve or connect{first}"
