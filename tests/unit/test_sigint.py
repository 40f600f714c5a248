"""Ctrl-C or SIGTERM while the checks run: the loop's signal handler cancels the checker's task at an ``await``."""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from linkaudit.errors import Terminated
from linkaudit.runner import run_checks as _run_checks


@pytest.fixture(autouse=True)
def watchdog() -> Iterator[None]:
    """A regression here hangs (a KeyboardInterrupt inside the loop's bookkeeping): fail the run instead."""
    faulthandler.dump_traceback_later(60, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture()
def default_sigint() -> Iterator[None]:
    """SIGINT handled as an interactive Python has it, whatever this test process inherited."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupt_after(delay: float, sig: int = signal.SIGINT) -> threading.Timer:
    timer = threading.Timer(delay, os.kill, (os.getpid(), sig))
    timer.start()
    return timer


async def _slow_checker(cleaned: list[str]) -> tuple[()]:
    """A checker waiting on a slow server; cancelled, it cleans up (awaiting, as closing connections does)."""
    try:
        await asyncio.sleep(30)  # a slow server: the loop sits in select with nothing due
    except asyncio.CancelledError:
        await asyncio.sleep(0.01)
        cleaned.append("closed")
        raise
    return ()


def test_sigint_cancels_the_checker_and_lets_it_clean_up(default_sigint: None) -> None:
    """The checker sees a cancellation (its clean-up runs), the caller sees KeyboardInterrupt, promptly."""
    cleaned: list[str] = []
    timer = _interrupt_after(0.2)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        _run_checks(_slow_checker(cleaned))  # type: ignore[arg-type]
    timer.join()
    assert time.monotonic() - started < 5
    assert cleaned == ["closed"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back


def test_sigint_never_lands_between_two_awaits(default_sigint: None) -> None:
    """Synchronous bookkeeping between awaits runs to its end; the cancellation comes at the next await."""
    steps: list[str] = []

    async def checker() -> tuple[()]:
        os.kill(os.getpid(), signal.SIGINT)
        for i in range(200_000):  # bytecode after bytecode: a raised KeyboardInterrupt would land here
            if i == 199_999:
                steps.append("bookkeeping done")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise
        return ()

    with pytest.raises(KeyboardInterrupt):
        _run_checks(checker())  # type: ignore[arg-type]
    assert steps == ["bookkeeping done", "cancelled"]


@pytest.mark.parametrize("stubborn", [False, True], ids=["clean-up-cancellable", "clean-up-ignores-cancel"])
def test_a_second_sigint_stops_waiting_for_the_clean_up(default_sigint: None, stubborn: bool,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A clean-up that hangs does not hold the exit: the second Ctrl-C cancels it, and one that ignores
    that too is abandoned after a moment, without asyncio's "destroyed but pending" complaint."""

    async def checker() -> tuple[()]:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C again
            try:
                await asyncio.sleep(30)  # a clean-up stuck on a dead peer
            except asyncio.CancelledError:
                if stubborn:
                    await asyncio.sleep(30)
                raise
            raise
        return ()

    timer = _interrupt_after(0.2)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        _run_checks(checker())  # type: ignore[arg-type]
    timer.join()
    assert time.monotonic() - started < (5 if stubborn else 2)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    gc.collect()
    assert not [r for r in caplog.records if "destroyed" in r.getMessage()]


def test_a_finished_run_returns_its_results_and_restores_the_handler(default_sigint: None) -> None:
    async def checker() -> tuple[str, ...]:
        await asyncio.sleep(0)
        return ("done",)

    assert _run_checks(checker()) == ("done",)  # type: ignore[arg-type,comparison-overlap]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_sigint_stays_ignored() -> None:
    """Started under ``nohup`` or as a background job, the audit keeps ignoring SIGINT as it was told."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:

        async def checker() -> tuple[str, ...]:
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(0.05)
            return ("done",)

        assert _run_checks(checker()) == ("done",)  # type: ignore[arg-type,comparison-overlap]
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_cancellation_that_is_not_a_sigint_is_not_reported_as_one(default_sigint: None) -> None:
    async def checker() -> tuple[()]:
        asyncio.current_task().cancel()  # type: ignore[union-attr]
        await asyncio.sleep(1)
        return ()

    with pytest.raises(asyncio.CancelledError):
        _run_checks(checker())  # type: ignore[arg-type]


def test_sigterm_is_an_interrupt_too(default_sigint: None) -> None:
    """A cancelled or timed-out CI job's SIGTERM: the checker cleans up, the caller sees ``Terminated``."""
    cleaned: list[str] = []
    previous = signal.getsignal(signal.SIGTERM)
    timer = _interrupt_after(0.2, signal.SIGTERM)
    with pytest.raises(Terminated):
        _run_checks(_slow_checker(cleaned))  # type: ignore[arg-type]
    timer.join()
    assert cleaned == ["closed"]
    assert signal.getsignal(signal.SIGTERM) == previous
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
