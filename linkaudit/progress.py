"""Progress reporting, decoupled from the engine.

The checker calls a ``Progress``; it never imports rich.  The terminal view
(``report/terminal.py``) and the quiet CI log are implementations.
"""

from __future__ import annotations

from typing import Protocol

from .model import CheckResult


class Progress(Protocol):
    """Receives the checker's progress events."""

    def start(self, total: int) -> None:
        """Called once with the number of unique links to check."""

    def advance(self, result: CheckResult) -> None:
        """Called once per finished link."""

    def finish(self) -> None:
        """Called once at the end, also after an interruption."""


class NullProgress:
    """A ``Progress`` that ignores everything."""

    def start(self, total: int) -> None:
        """Ignore the start."""

    def advance(self, result: CheckResult) -> None:
        """Ignore a result."""

    def finish(self) -> None:
        """Ignore the end."""
