"""Running the checker's coroutine: a fresh event loop, and what Ctrl-C and SIGTERM do meanwhile.

A helper of the audit stage (``audit.py`` calls ``run_checks``).  It touches no files and prints
nothing; an interrupt leaves it as ``KeyboardInterrupt`` (SIGTERM: ``errors.Terminated``), after the
checker has been cancelled and has closed its connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Coroutine
from typing import Any

from .errors import Terminated
from .model import CheckResult

SECOND_SIGNAL_GRACE_S = 1.0
"""After a second Ctrl-C, how long the checker's interrupted clean-up may still take."""


def run_checks(
    coro: Coroutine[Any, Any, tuple[CheckResult, ...]], event_loop: str = "asyncio"
) -> tuple[CheckResult, ...]:
    """Run the checker on a fresh event loop.

    Unlike ``asyncio.run`` this does not wait for the default executor: on an
    offline machine, ``getaddrinfo`` threads stuck on an unreachable resolver
    would otherwise hold the exit for seconds after the run already knows the
    network is down.  Ctrl-C cancels the checker (which closes its client) and
    surfaces as ``KeyboardInterrupt``, SIGTERM as ``Terminated``; a second
    signal stops waiting for that clean-up.  The loop is chosen by the
    ``event_loop`` setting (asyncio by default; uvloop optional).
    """
    from .check import new_event_loop

    try:
        loop = new_event_loop(event_loop)
    except BaseException:
        coro.close()
        raise
    task = loop.create_task(coro)
    signals = _SignalsCancel(loop, task)
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        if signals.received is not None:
            raise signals.interrupt() from None
        raise
    except KeyboardInterrupt:
        if signals.received is None:  # raised where it landed (no handler of ours): let the checker clean up
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        elif not task.done():  # a second signal: the clean-up it interrupted gets a moment, no more
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.wait([task], timeout=SECOND_SIGNAL_GRACE_S))
            if not task.done():  # abandoned on purpose: no "Task was destroyed but it is pending!" at exit
                task._log_destroy_pending = False  # type: ignore[attr-defined]
        raise
    finally:
        signals.restore()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class _SignalsCancel:
    """While the checks run, SIGINT (Ctrl-C) and SIGTERM cancel the checker's task instead of killing or
    raising wherever they land.

    A ``KeyboardInterrupt`` raised at an arbitrary bytecode can land inside a
    worker task or the loop's own bookkeeping; a signal handler on the loop
    (as ``asyncio.Runner`` has for SIGINT) cancels the one task at an
    ``await``, and the loop's wakeup fd wakes a ``select`` that is waiting for
    a slow server.  SIGTERM (a CI job cancelled or past its time limit) would
    otherwise end the process at once, without the results so far; here it
    is an interrupt too (``Terminated``, exit 143).  A second signal raises at
    once.  Nothing is installed for a signal that is ignored (``nohup``, a
    background job), off the main thread, or where the loop has no signal
    support.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        self.received: int | None = None
        self._loop = loop
        self._task = task
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in self.SIGNALS:
            previous = signal.getsignal(sig)
            if previous in (signal.SIG_IGN, None):
                continue
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            self._previous[sig] = previous

    def interrupt(self) -> KeyboardInterrupt:
        """The exception that stands for the signal received."""
        return Terminated() if self.received == signal.SIGTERM else KeyboardInterrupt()

    def _on_signal(self, sig: int) -> None:
        if self.received is None and not self._task.done():
            self.received = sig
            self._task.cancel()
            return
        self.received = self.received or sig
        raise self.interrupt()

    def restore(self) -> None:
        """Give each signal back to the handler it had before."""
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            with contextlib.suppress(Exception):
                self._loop.remove_signal_handler(sig)
            signal.signal(sig, handler)
