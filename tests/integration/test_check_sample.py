"""End to end: the sample catalog's extracted links checked against the simulated web, reached through a proxy.

Every public name the catalog links to resolves, through a local forward
proxy, to one TLS virtual-host server (certificates from a trustme CA): a fake
GitHub (API and pages), a fake doi.org, and a catch-all web.  The checker runs
with its real default settings; nothing leaves this machine.
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trustme
from checkkit import run_check
from testweb import FakeDoi, FakeGitHub, Proxy, Request, Response, Server, TestWeb, VirtualHosts

from linkaudit.classify import doi_of, github_repo
from linkaudit.config import RetrySettings, Settings
from linkaudit.extract import extract_paths
from linkaudit.model import Kind, Status

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cvpr-2022-list06.md"
FAST = RetrySettings(attempts=2, initial_wait=0, max_wait=0, jitter=0, max_retry_after=5)
MISSING_DOI = "10.1109/cvpr52688.2022.01011"


async def catch_all(req: Request) -> Response:
    """Every other page exists, except a home page whose '~' was garbled into '-'."""
    if req.path.startswith("/-"):
        return Response(404)
    return Response(200, {"content-type": "text/html"}, b"<html>page</html>")


def test_sample_catalog_end_to_end(
    testweb: TestWeb, serve: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample's 300 links are checked once per key: DOIs at the handle API, repositories in one GraphQL
    batch, garbled links resolved to their existing suggestions, and nothing inconclusive."""
    extraction = extract_paths([str(SAMPLE)])
    links = extraction.links
    hosts = sorted({urlsplit(link.url).hostname or "" for link in links} | {"api.github.com"})
    github, doi = FakeGitHub(), FakeDoi()
    for link in links:
        repo = github_repo(link.url)
        if link.kind is Kind.GITHUB and repo is not None and repo[1] is not None and not link.suggestions:
            github.add(f"{repo[0]}/{repo[1]}")
        name = doi_of(link.url)
        if name is not None and name.lower() != MISSING_DOI:
            doi.registered[name.lower()] = f"https://ieeexplore.ieee.org/document/{len(doi.registered)}"
    for existing in (
        "OliverRensu/Shunted-Transformer",
        "nutellamok/DemystifyingNTK",
        "megvii-research/mdistiller",
    ):
        github.add(existing)

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hosts).configure_cert(context)
    context.set_alpn_protocols(["http/1.1"])
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    web = VirtualHosts(
        {"api.github.com": github.api, "github.com": github.web, "doi.org": doi}, default=catch_all
    )
    tls = serve(web, tls=context)
    plain = serve(web)
    routes = {f"{h}:443": ("127.0.0.1", tls.port) for h in hosts}
    routes.update({f"{h}:80": ("127.0.0.1", plain.port) for h in hosts})
    proxy = Proxy(routes)
    testweb.call(proxy.start())
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
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
