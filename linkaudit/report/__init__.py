"""Report stage: ``Report`` -> text, one module per format, each a pure ``render(report) -> str``.

``Format`` is the ``--format`` enum; ``render(report, fmt)`` dispatches to the
module named in ``RENDERERS`` (imported on first use, so ``linkaudit --help``
and ``extract`` never load rich).  A test checks that every ``Format`` member
has a renderer.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable
from typing import cast

from ..model import Report


class Format(enum.StrEnum):
    """The output formats of ``linkaudit audit|report --format``."""

    JSON = "json"
    MARKDOWN = "markdown"
    JUNIT = "junit"
    TABLE = "table"
    GITHUB = "github"


RENDERERS: dict[Format, str] = {
    Format.JSON: "linkaudit.report.json",
    Format.MARKDOWN: "linkaudit.report.markdown",
    Format.JUNIT: "linkaudit.report.junit",
    Format.TABLE: "linkaudit.report.table",
    Format.GITHUB: "linkaudit.report.github",
}
"""The module whose ``render(report) -> str`` produces each format."""


def renderer(fmt: Format) -> Callable[[Report], str]:
    """The ``render`` function for ``fmt``."""
    module = importlib.import_module(RENDERERS[Format(fmt)])
    return cast(Callable[[Report], str], module.render)


def render(report: Report, fmt: Format) -> str:
    """Render ``report`` in ``fmt`` (markdown with its default 65,536-character cut)."""
    return renderer(fmt)(report)
