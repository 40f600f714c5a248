"""Each kind of link under its own cache TTL (``cache_ttl_by_kind``), against a real history database."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from reportkit import result

from linkaudit.audit import cached_results
from linkaudit.config import Settings
from linkaudit.extract import extract_text
from linkaudit.model import Kind, Link, LinkKey, SourceRef, Status
from linkaudit.store import open_store, utc_iso

CATALOG = """# 0. A paper

**URL**: https://doi.org/10.1109/CVPR52688.2022.01009

**Abstract**: Code is at https://github.com/naver-ai/cgl_fairness and the project page is
https://example.org/project.
"""
VERIFIED = "2026-11-01T03:00:10Z"
DAY = 86_400.0


def _links() -> tuple[Link, ...]:
    _, links = extract_text(CATALOG, "catalog.md")
    assert sorted(link.kind for link in links) == [Kind.DOI, Kind.GITHUB, Kind.WEB]
    return links


def _served(tmp_path: Path, settings: Settings, now: str) -> set[Kind]:
    links = _links()
    with open_store(tmp_path / "history.db") as store:
        if not store.history():
            store.record_run([dataclasses.replace(result(link.key, kind=link.kind, url=link.url), checked_at=VERIFIED)
                              for link in links], started_at="2026-11-01T03:00:00Z")
        served = cached_results(store, links, settings, now=now)
    return {link.kind for link in links if link.key in served}


def test_without_per_kind_ttls_every_kind_expires_together(tmp_path: Path) -> None:
    assert _served(tmp_path, Settings(), "2026-11-01T12:00:00Z") == {Kind.DOI, Kind.GITHUB, Kind.WEB}
    assert _served(tmp_path, Settings(), "2026-11-04T03:00:00Z") == set()


def test_a_long_doi_ttl_keeps_serving_dois_after_the_others_expired(tmp_path: Path) -> None:
    """Three days on, with a day's TTL and 30 days for DOIs, only the DOI is served from the history."""
    settings = Settings(cache_ttl=DAY, cache_ttl_by_kind={"doi": 30 * DAY})
    assert _served(tmp_path, settings, "2026-11-04T03:00:00Z") == {Kind.DOI}
    assert _served(tmp_path, settings, "2026-12-02T03:00:00Z") == set()  # 31 days on, the DOI is due too
    spread = dataclasses.replace(settings, cache_spread=True)  # its slot is at least 15 days after verification
    assert _served(tmp_path, spread, "2026-11-04T03:00:00Z") == {Kind.DOI}


def test_a_zero_ttl_checks_that_kind_every_run(tmp_path: Path) -> None:
    settings = Settings(cache_ttl_by_kind={"web": 0.0})
    assert _served(tmp_path, settings, "2026-11-01T03:30:00Z") == {Kind.DOI, Kind.GITHUB}


def test_dois_spread_over_a_month_while_the_other_links_are_checked_every_night(tmp_path: Path) -> None:
    """cache_ttl_by_kind {doi: 30 days} with cache_spread [doi], night after night on a daily job: no DOI is
    asked again before half the month, then about a thirtieth of them each night, every one within 1.5
    months; every web link is checked every night."""
    source = SourceRef("catalog.md", 1)
    dois = [Link(url=f"https://doi.org/10.1109/x.{i}", original="", kind=Kind.DOI,
                 key=LinkKey(f"doi:10.1109/x.{i}"), paper_id=None, source=source) for i in range(1500)]
    pages = [Link(url=f"https://x.org/{i}", original="", kind=Kind.WEB, key=LinkKey(f"web:x.org/{i}"),
                  paper_id=None, source=source) for i in range(200)]
    links = dois + pages
    settings = Settings(cache_ttl_by_kind={"doi": 30 * DAY}, cache_spread=("doi",))
    start = 1_793_593_380.0  # 2026-11-01T04:23:00Z
    doi_checks, page_checks = [], []
    last = dict.fromkeys((link.key for link in dois), start)
    with open_store(tmp_path / "history.db") as store:
        for night in range(0, 61):
            now = start + night * DAY + (night * 7919) % 2400  # the scheduler a few minutes late, differently each night
            served = cached_results(store, links, settings, now=now) if night else {}
            due = [link for link in links if link.key not in served]
            doi_checks.append(sum(link.kind is Kind.DOI for link in due))
            page_checks.append(sum(link.kind is Kind.WEB for link in due))
            for link in due:
                if link.kind is Kind.DOI and night:
                    assert 15 * DAY - 3600 <= now - last[link.key] <= 45 * DAY + DAY + 2400
                    last[link.key] = now
            store.record_run([result(link.key, Status.OK, kind=link.kind, url=link.url, checked_at=utc_iso(now))
                              for link in due], started_at=utc_iso(now))
    assert page_checks == [200] * 61
    assert doi_checks[0] == 1500 and doi_checks[1:15] == [0] * 14
    assert all(15 <= n <= 110 for n in doi_checks[46:]), doi_checks  # a thirtieth (50) a night, give or take
    assert sum(doi_checks[1:47]) >= 1500  # every DOI asked again within 1.5 months and a night
