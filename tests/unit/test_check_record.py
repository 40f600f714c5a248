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


def test_a_cached_result_keeps_every_field_and_takes_this_runs_citations() -> None:
    """``audit._with_cached``: a cached OK keeps each stored field; citations, the original text, repairs and
    confidence come from this run's links (two citing papers here), and it is marked from the cache."""
    from linkaudit.audit import _with_cached
    from linkaudit.model import Extraction, Paper

    key = LinkKey("github:o/r")
    cached = CheckResult(
        key=key, url="https://github.com/o/r", kind=Kind.GITHUB, status=Status.OK, definitive=True, http_status=200,
        final_url="https://github.com/o/r", redirects=("https://github.com/o/r",), attempts=0, detail="stored",
        repo=RepoInfo(archived=True, stars=5), doi=DoiInfo(registered=True), suggestions=("https://github.com/o/q",),
        original="old text", repairs=(), confidence=Confidence.HIGH, checked_at="2026-11-30T03:00:00Z",
        elapsed_ms=17, from_cache=False,
    )
    links = [
        Link(url="https://github.com/o/r", original="githb.com/o/r.", kind=Kind.GITHUB, key=key, paper_id=pid,
             source=SourceRef("c.md", line), repairs=(Repair("host-typo", "githb -> github"),),
             confidence=Confidence.MEDIUM)
        for pid, line in (("7", 12), ("9", 40))
    ]
    papers = tuple(Paper(id=pid, title=f"Paper {pid}", authors=(), venue=None, doi=None, source=SourceRef("c.md", 1))
                   for pid in ("7", "9"))
    fresh = CheckResult(key=LinkKey("web:a.org"), url="https://a.org", kind=Kind.WEB, status=Status.BROKEN,
                        definitive=True)
    out = _with_cached([fresh], {key: cached}, links, Extraction(papers=papers, links=tuple(links)))
    assert [r.key for r in out] == sorted([key, fresh.key])
    final = next(r for r in out if r.key == key)
    from_run = {"papers", "original", "repairs", "confidence", "from_cache"}
    for field in dataclasses.fields(CheckResult):
        if field.name not in from_run:
            assert getattr(final, field.name) == getattr(cached, field.name), field.name
    assert [(c.paper, c.line, c.title) for c in final.papers] == [("7", 12, "Paper 7"), ("9", 40, "Paper 9")]
    assert final.original == "githb.com/o/r." and final.repairs == links[0].repairs
    assert final.confidence is Confidence.MEDIUM and final.from_cache is True
