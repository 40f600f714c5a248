"""Tests for how the checker files a result: every field of the checker's verdict survives, the link's own facts win."""

from __future__ import annotations

import dataclasses

from linkaudit.check import _Run
from linkaudit.config import load_settings
from linkaudit.model import (
    CheckResult,
    Confidence,
    DoiInfo,
    Kind,
    Link,
    LinkKey,
    Repair,
    RepoInfo,
    SourceRef,
    Status,
)
from linkaudit.progress import NullProgress


def test_record_keeps_every_field_of_the_verdict() -> None:
    """``_record`` copies each verdict field and takes key, url, kind, citations and repairs from the link."""
    key = LinkKey("github:o/r")
    link = Link(url="https://github.com/o/r", original="githb.com/o/r.", kind=Kind.GITHUB, key=key, paper_id="7",
                source=SourceRef("c.md", 12), repairs=(Repair("host-typo", "githb -> github"),),
                confidence=Confidence.MEDIUM)
    verdict = CheckResult(
        key=LinkKey("other"), url="https://elsewhere", kind=Kind.WEB, status=Status.REDIRECTED, definitive=True,
        http_status=301, final_url="https://github.com/o/r2", redirects=("https://github.com/o/r2",), attempts=3,
        detail="moved", repo=RepoInfo(archived=True, stars=5), doi=DoiInfo(registered=True),
        suggestions=("https://github.com/o/r3",), from_cache=True,
    )
    run = _Run(load_settings(None, {}), NullProgress(), {key: [link]}, papers=())
    run._record(link, verdict, started=0.0)
    final = run.results[key]
    from_link = {"key", "url", "kind", "papers", "original", "repairs", "confidence", "checked_at", "elapsed_ms"}
    for field in dataclasses.fields(CheckResult):
        if field.name not in from_link:
            assert getattr(final, field.name) == getattr(verdict, field.name), field.name
    assert (final.key, final.url, final.kind) == (key, link.url, Kind.GITHUB)
    assert final.original == link.original and final.repairs == link.repairs
    assert final.confidence is Confidence.MEDIUM
    assert [(c.paper, c.path, c.line) for c in final.papers] == [("7", "c.md", 12)]
    assert final.checked_at is not None and final.elapsed_ms is not None
