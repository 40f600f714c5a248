"""End to end: the sample catalog's extracted links checked against the simulated web, reached through a proxy.

Every public name the catalog links to resolves, through a local forward
proxy, to one TLS virtual-host server (certificates from a trustme CA): a fake
GitHub (API and pages), a fake doi.org, and a catch-all web.  The checker runs
with its real default settings; nothing leaves this machine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from checkkit import run_check
from samplekit import MISSING_DOI, SAMPLE, start_sample_web
from testweb import Server, TestWeb

from linkaudit.config import RetrySettings, Settings
from linkaudit.extract import extract_paths
from linkaudit.model import Kind, Status

FAST = RetrySettings(attempts=2, initial_wait=0, max_wait=0, jitter=0, max_retry_after=5)


def test_sample_catalog_end_to_end(
    testweb: TestWeb, serve: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample's 300 links are checked once per key: DOIs at the handle API, repositories in one GraphQL
    batch, garbled links resolved to their existing suggestions, and nothing inconclusive."""
    extraction = extract_paths([str(SAMPLE)])
    links = extraction.links
    web = start_sample_web(extraction, testweb, serve, tmp_path)
    github, proxy = web.github, web.proxy
    for name, value in web.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_sample")
    try:
        results = run_check(links, Settings(retry=FAST), papers=extraction.papers)
    finally:
        testweb.call(proxy.stop())

    assert len(results) == len({link.key for link in links})
    statuses = Counter(r.status for r in results.values())
    assert statuses[Status.ERROR] == 0 and statuses[Status.BLOCKED] == 0, statuses
    broken = {url for url, r in results.items() if r.status is Status.BROKEN}
    assert f"https://doi.org/{MISSING_DOI}".lower() in {u.lower() for u in broken}
    by_key = {r.key: r for r in results.values()}
    assert by_key["github:oliverrensulshunted-transformer"].suggestions == (
        "https://github.com/OliverRensu/Shunted-Transformer",
    )
    assert by_key["github:nute11amok/demystifyingntk"].suggestions == (
        "https://github.com/nutellamok/DemystifyingNTK",
    )
    assert by_key["github:megviiresearch/mdistiller"].suggestions == (
        "https://github.com/megvii-research/mdistiller",
    )
    assert by_key["web:www.nec-labs.com/-mas/DYMU"].suggestions == ("https://www.nec-labs.com/~mas/DYMU",)
    assert all(r.papers and r.papers[0].title for r in results.values() if r.kind is Kind.DOI)
    assert (
        github.graphql_queries <= 2
    )  # the repositories in one batch, the garbled links' candidates in another
    assert not any(path.startswith("/repos/") for path, _ in github.authorizations)
