"""Retries: which failures deserve another try, and the only tenacity ``AsyncRetrying`` factory.

Stage: check.  Input: ``RetrySettings``; outcomes (a status code, an
exception or a ``Reason``).  Output: ``is_retryable`` answers and
``AsyncRetrying`` objects.  Retried: timeouts, dropped/reset connections,
connect failures, 5xx and 429 (and any answer that carries a server-requested
wait, such as a secondary rate limit).  Never retried: definitive answers
(404, 410), name-resolution failures, TLS failures, other 4xx.

A server-requested wait (``Retry-After``, ``x-ratelimit-reset``) is honoured
when it fits under ``max_retry_after``; past it the retrying stops at once and
hands back the last answer, which the verdict turns into ``blocked``.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from tenacity import AsyncRetrying, RetryCallState
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from ..config import RetrySettings
from .verdict import Reason, classify_exception, is_transport_failure

T = TypeVar("T", bound="RetryHint")

RETRYABLE_REASONS: frozenset[Reason] = frozenset(
    {Reason.TIMEOUT, Reason.CONNECT_TIMEOUT, Reason.CONNECT, Reason.PROXY, Reason.PROTOCOL}
)
"""Transport failures worth another try; DNS and TLS failures are not (they do not heal in seconds)."""

NEVER_RETRY_STATUSES: frozenset[int] = frozenset({404, 410})
"""Definitive answers: asking again cannot change them."""

NOT_RETRYABLE_5XX: frozenset[int] = frozenset({501, 505})
"""Server errors that describe the request (not implemented, version unsupported), not a passing fault."""


class RetryHint(Protocol):
    """What the retrying needs to know about one answer."""

    @property
    def status(self) -> int:
        """The HTTP status code."""
        ...

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked us to wait before the next request, if it asked."""
        ...


def is_retryable_status(code: int) -> bool:
    """True for 429 and passing server errors (5xx except 501/505); never for 404/410."""
    if code in NEVER_RETRY_STATUSES:
        return False
    return code == 429 or (500 <= code <= 599 and code not in NOT_RETRYABLE_5XX)


def is_retryable(outcome: int | BaseException | Reason) -> bool:
    """Whether ``outcome`` (a status code, an exception or a named reason) deserves another try."""
    if isinstance(outcome, Reason):
        return outcome in RETRYABLE_REASONS
    if isinstance(outcome, BaseException):
        # never a cancellation, Ctrl-C or a bug: tenacity catches BaseException, so this filter matters
        return is_transport_failure(outcome) and classify_exception(outcome) in RETRYABLE_REASONS
    return is_retryable_status(outcome)


def is_retryable_answer(answer: RetryHint) -> bool:
    """Whether an HTTP answer should be asked again: a retryable status, or a server-requested wait."""
    return is_retryable_status(answer.status) or (
        answer.retry_after is not None and answer.status not in NEVER_RETRY_STATUSES and answer.status >= 400
    )


def _server_wait(state: RetryCallState) -> float | None:
    outcome = state.outcome
    if outcome is None or outcome.failed:
        return None
    result = outcome.result()
    value = getattr(result, "retry_after", None)
    return float(value) if value is not None else None


def backoff_seconds(settings: RetrySettings, retry_number: int, *, jitter: bool = True) -> float:
    """The exponential backoff before retry ``retry_number`` (1-based): initial × 2^(n-1), capped, plus jitter."""
    base: float = settings.initial_wait * 2.0 ** max(0, retry_number - 1)
    extra = random.uniform(0, settings.jitter) if jitter and settings.jitter > 0 else 0.0
    return min(base, settings.max_wait) + extra


class _Wait(wait_base):
    """Exponential backoff with jitter, or the server's requested wait when that is longer."""

    def __init__(self, settings: RetrySettings) -> None:
        self._settings = settings

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = backoff_seconds(self._settings, retry_state.attempt_number)
        server = _server_wait(retry_state)
        return max(wait, server) if server is not None else wait


class _Stop(stop_base):
    """Stop after the attempt budget, past the total time, or when the server asks for too long a wait."""

    def __init__(self, settings: RetrySettings) -> None:
        self._settings = settings

    def __call__(self, retry_state: RetryCallState) -> bool:
        settings = self._settings
        if retry_state.attempt_number >= settings.attempts:
            return True
        server = _server_wait(retry_state)
        if server is not None and server > settings.max_retry_after:
            return True
        upcoming = max(server or 0.0, backoff_seconds(settings, retry_state.attempt_number, jitter=False))
        return (retry_state.seconds_since_start or 0.0) + upcoming > settings.total_time


class _Retry(retry_base):
    """Retry retryable exceptions and retryable answers."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is None:
            return False
        if outcome.failed:
            exc = outcome.exception()
            return exc is not None and is_retryable(exc)
        return is_retryable_answer(outcome.result())


def _last_outcome(retry_state: RetryCallState) -> Any:
    """When retrying stops, hand back the last answer (or re-raise the last exception)."""
    assert retry_state.outcome is not None
    return retry_state.outcome.result()


def build_retrying(settings: RetrySettings) -> AsyncRetrying:
    """A fresh ``AsyncRetrying`` for one request (tenacity keeps per-call state, so never share one)."""
    return AsyncRetrying(
        stop=_Stop(settings),
        wait=_Wait(settings),
        retry=_Retry(),
        reraise=True,
        retry_error_callback=_last_outcome,
    )


async def call_with_retries(settings: RetrySettings, attempt: Callable[[], Awaitable[T]]) -> T:
    """Await ``attempt()``, retrying through ``build_retrying`` only when its first outcome is retryable.

    Most requests succeed at once; building and driving an ``AsyncRetrying``
    costs ~0.1 ms, so the first try runs bare.  When it needs a retry, its
    outcome is replayed as tenacity's first attempt (no second request), so
    attempt numbering, waits (``Retry-After``) and stop rules are tenacity's.
    """
    first: T | None = None
    failure: BaseException | None = None
    try:
        first = await attempt()
    except Exception as exc:
        if not is_retryable(exc) or settings.attempts <= 1:
            raise
        failure = exc
    else:
        if settings.attempts <= 1 or not is_retryable_answer(first):
            return first
    replayed = False

    async def again() -> T:
        nonlocal replayed
        if not replayed:
            replayed = True
            if failure is not None:
                raise failure
            assert first is not None
            return first
        return await attempt()

    result: T = await build_retrying(settings)(again)
    return result
