"""Unit tests for check/retry.py: what is retried, how long we wait, when we stop, and attempt counting."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
import pytest

from linkaudit.check.retry import (
    NEVER_RETRY_STATUSES,
    RETRYABLE_REASONS,
    backoff_seconds,
    build_retrying,
    call_with_retries,
    is_retryable,
    is_retryable_answer,
)
from linkaudit.check.verdict import Reason
from linkaudit.config import RetrySettings

ZERO = RetrySettings(attempts=3, initial_wait=0.0, max_wait=0.0, jitter=0.0, max_retry_after=5.0)


@dataclass(frozen=True)
class Answer:
    """A stand-in HTTP answer with the two fields the retrying reads."""

    status: int
    retry_after: float | None = None


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504], ids=str)
def test_transient_statuses_are_retryable(code: int) -> None:
    """429 and passing 5xx are retried."""
    assert is_retryable(code)


@pytest.mark.parametrize("code", [200, 301, 400, 401, 403, 404, 410, 451, 501, 505, 999], ids=str)
def test_definitive_and_client_statuses_are_not_retryable(code: int) -> None:
    """Answers that cannot change by asking again (404, 410, other 4xx, 501) are not retried."""
    assert not is_retryable(code)


def test_never_retry_set_holds_404_and_410() -> None:
    """The never-retry table names exactly the definitive 404 and 410."""
    assert frozenset({404, 410}) == NEVER_RETRY_STATUSES
    assert not is_retryable_answer(Answer(404, retry_after=1.0))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ReadTimeout("t"), True),
        (httpx.ConnectTimeout("t"), True),
        (httpx.ConnectError("refused"), True),
        (httpx.RemoteProtocolError("reset"), True),
        (httpx.ReadError("reset"), True),
        (httpx.InvalidURL("bad"), False),
        (httpx.UnsupportedProtocol("ftp"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_transport_failures(exc: Exception, expected: bool) -> None:
    """Timeouts, resets and connect failures are retried; malformed URLs are not."""
    assert is_retryable(exc) is expected


def test_cancellation_and_bugs_are_never_retried() -> None:
    """A cancelled task (tenacity sees CancelledError) or a programming error is not a failed request."""
    assert not is_retryable(asyncio.CancelledError())
    assert not is_retryable(KeyboardInterrupt())
    assert not is_retryable(TypeError("bug"))


def test_cancellation_stops_a_retrying_request() -> None:
    """Cancelling a task inside a retried attempt ends it at once instead of starting another attempt."""
    calls = 0

    async def attempt() -> object:
        nonlocal calls
        calls += 1
        await asyncio.sleep(10)
        return Answer(200)

    async def main() -> None:
        task = asyncio.ensure_future(build_retrying(ZERO)(attempt))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(main())
    assert calls == 1
    assert time.monotonic() - started < 2


def test_dns_and_tls_failures_are_not_retried() -> None:
    """Name resolution and TLS failures do not heal within a retry's wait."""
    assert Reason.DNS not in RETRYABLE_REASONS
    assert Reason.TLS not in RETRYABLE_REASONS
    assert not is_retryable(Reason.DNS)
    assert is_retryable(Reason.TIMEOUT)


def test_server_requested_wait_makes_a_rate_limit_retryable() -> None:
    """A 403 carrying a wait (GitHub's secondary limit) is retried; a bare 403 is not."""
    assert is_retryable_answer(Answer(403, retry_after=1.0))
    assert not is_retryable_answer(Answer(403))


def test_backoff_is_exponential_and_capped() -> None:
    """initial × 2^(n-1), capped at max_wait, plus at most ``jitter``."""
    settings = RetrySettings(initial_wait=0.5, max_wait=3.0, jitter=0.0)
    assert [backoff_seconds(settings, n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    jittery = RetrySettings(initial_wait=1.0, max_wait=10.0, jitter=0.5)
    assert all(1.0 <= backoff_seconds(jittery, 1) <= 1.5 for _ in range(50))


def _run(settings: RetrySettings, outcomes: list[object]) -> tuple[object, int]:
    calls = 0

    async def attempt() -> object:
        nonlocal calls
        outcome = outcomes[min(calls, len(outcomes) - 1)]
        calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def main() -> object:
        return await build_retrying(settings)(attempt)

    try:
        result: object = asyncio.run(main())
    except Exception as exc:
        result = exc
    return result, calls


def test_retries_until_success_and_counts_attempts() -> None:
    """Two 503s then a 200 take three attempts and return the 200."""
    result, calls = _run(ZERO, [Answer(503), Answer(503), Answer(200)])
    assert result == Answer(200)
    assert calls == 3


def test_gives_back_the_last_answer_after_the_attempt_budget() -> None:
    """When retries run out the last answer is returned (not an exception), after exactly ``attempts`` tries."""
    result, calls = _run(ZERO, [Answer(503)])
    assert result == Answer(503)
    assert calls == 3


def test_404_is_asked_once() -> None:
    """A definitive answer is never repeated."""
    result, calls = _run(ZERO, [Answer(404)])
    assert result == Answer(404)
    assert calls == 1


def test_exceptions_are_reraised_after_the_budget() -> None:
    """A persistent timeout is re-raised as itself after ``attempts`` tries."""
    result, calls = _run(ZERO, [httpx.ReadTimeout("slow")])
    assert isinstance(result, httpx.ReadTimeout)
    assert calls == 3


def test_wait_past_the_cap_stops_at_once() -> None:
    """A Retry-After longer than max_retry_after stops retrying immediately, returning the 429."""
    started = time.monotonic()
    result, calls = _run(ZERO, [Answer(429, retry_after=3600.0)])
    assert result == Answer(429, retry_after=3600.0)
    assert calls == 1
    assert time.monotonic() - started < 1.0


def test_retry_after_within_the_cap_is_honoured() -> None:
    """A short Retry-After is waited for even when the backoff is zero."""
    started = time.monotonic()
    result, calls = _run(ZERO, [Answer(429, retry_after=0.3), Answer(200)])
    assert result == Answer(200)
    assert calls == 2
    assert time.monotonic() - started >= 0.25


def test_total_time_budget_stops_retrying() -> None:
    """A wait that would cross ``total_time`` is not taken."""
    settings = RetrySettings(
        attempts=10, initial_wait=0.0, max_wait=0.0, jitter=0.0, max_retry_after=60, total_time=0.5
    )
    result, calls = _run(settings, [Answer(503, retry_after=2.0)])
    assert result == Answer(503, retry_after=2.0)
    assert calls == 1


def _run_fast_path(settings: RetrySettings, outcomes: list[object]) -> tuple[object, int]:
    calls = 0

    async def attempt() -> object:
        nonlocal calls
        outcome = outcomes[min(calls, len(outcomes) - 1)]
        calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    try:
        result: object = asyncio.run(call_with_retries(settings, attempt))  # type: ignore[arg-type]
    except Exception as exc:
        result = exc
    return result, calls


def test_fast_path_asks_once_when_the_first_answer_is_final() -> None:
    """A first answer that needs no retry is returned after one call."""
    assert _run_fast_path(ZERO, [Answer(200)]) == (Answer(200), 1)
    assert _run_fast_path(ZERO, [Answer(404)]) == (Answer(404), 1)


def test_fast_path_replays_the_first_outcome_into_tenacity() -> None:
    """A retryable first answer or exception is not asked twice: tenacity continues from it, within the budget."""
    assert _run_fast_path(ZERO, [Answer(503), Answer(200)]) == (Answer(200), 2)
    assert _run_fast_path(ZERO, [Answer(503)]) == (Answer(503), 3)
    result, calls = _run_fast_path(ZERO, [httpx.ConnectError("refused")])
    assert isinstance(result, httpx.ConnectError) and calls == 3
    result, calls = _run_fast_path(ZERO, [TypeError("bug")])
    assert isinstance(result, TypeError) and calls == 1


def test_fast_path_honours_a_first_retry_after() -> None:
    """The first answer's Retry-After is waited for before the second attempt; one past the cap stops at once."""
    started = time.monotonic()
    assert _run_fast_path(ZERO, [Answer(429, retry_after=0.3), Answer(200)]) == (Answer(200), 2)
    assert time.monotonic() - started >= 0.25
    assert _run_fast_path(ZERO, [Answer(429, retry_after=999.0)]) == (Answer(429, retry_after=999.0), 1)


def test_single_attempt_setting_never_retries() -> None:
    """``attempts: 1`` means one try, whatever the answer."""
    one = RetrySettings(attempts=1, initial_wait=0, max_wait=0, jitter=0)
    assert _run_fast_path(one, [Answer(503), Answer(200)]) == (Answer(503), 1)
