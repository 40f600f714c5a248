"""The sample catalog's web, simulated: every public name it links to, served locally through a proxy.

A local forward proxy routes every host the catalog names (github.com,
api.github.com, doi.org, the project pages...) to one TLS virtual-host server
with certificates from a throwaway trustme CA.  Setting ``HTTPS_PROXY``,
``HTTP_PROXY`` and ``SSL_CERT_FILE`` (``SampleWeb.env``) is all it takes: linkaudit
runs with its real default settings and public API bases, and nothing leaves
this machine.

What the simulated web says (so tests and the README example can rely on it):
- every repository the catalog names exists, except the garbled ones; their
  real names exist (``OliverRensu/Shunted-Transformer``, ``nutellamok/...``,
  ``megvii-research/mdistiller``), so the checker can offer "did you mean";
- DOI ``10.1109/CVPR52688.2022.01011`` is not registered; every other one is;
- a home page whose ``~`` was garbled into ``-`` is 404, the ``~`` one exists;
- with ``variety=True``: one repository is archived, one renamed, and one site
  answers 403 to robots (a bot wall): the other sections of a report.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import trustme
from testweb import FakeDoi, FakeGitHub, Proxy, Request, Response, Server, TestWeb, VirtualHosts

from linkaudit.classify import doi_of, github_repo
from linkaudit.model import Extraction, Kind

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cvpr-2022-list06.md"
MISSING_DOI = "10.1109/cvpr52688.2022.01011"
REAL_NAMES = ("OliverRensu/Shunted-Transformer", "nutellamok/DemystifyingNTK", "megvii-research/mdistiller")
ARCHIVED = "microsoft/Swin-Transformer"
RENAMED = ("hustvl/TopFormer", "hustvl/TopFormer-v2")
BOT_WALL_HOST = "www.kaggle.com"


@dataclass
class SampleWeb:
    """The running simulated web: its state, and the environment that routes linkaudit to it."""

    github: FakeGitHub
    doi: FakeDoi
    proxy: Proxy
    hosts: VirtualHosts
    env: dict[str, str]


def _catch_all(variety: bool) -> Callable[[Request], object]:
    async def app(req: Request) -> Response:
        """Every other page exists, except a home page whose '~' was garbled into '-' (and a bot wall)."""
        if variety and req.host == BOT_WALL_HOST:
            return Response(403, {"content-type": "text/html"}, b"<html>Please verify you are a human</html>")
        if req.path.startswith("/-"):
            return Response(404)
        return Response(200, {"content-type": "text/html"}, b"<html>page</html>")

    return app


def start_sample_web(
    extraction: Extraction, testweb: TestWeb, serve: Callable[..., Server], workdir: Path, *, variety: bool = False
) -> SampleWeb:
    """Start the simulated web for ``extraction``'s links; the caller sets ``env`` and stops ``proxy``."""
    links = extraction.links
    names = sorted({urlsplit(link.url).hostname or "" for link in links} | {"api.github.com"})
    github, doi = FakeGitHub(), FakeDoi()
    for link in links:
        repo = github_repo(link.url)
        if link.kind is Kind.GITHUB and repo is not None and repo[1] is not None and not link.suggestions:
            full = f"{repo[0]}/{repo[1]}"
            if variety and full == RENAMED[0]:
                continue
            inside = "/" + "/".join(urlsplit(link.url).path.strip("/").split("/")[2:])
            paths = ("/tree/main", "/blob/main/README.md") + ((inside,) if inside != "/" else ())
            github.add(full, archived=variety and full == ARCHIVED, paths=paths)
        name = doi_of(link.url)
        if name is not None and name.lower() != MISSING_DOI:
            doi.registered[name.lower()] = f"https://ieeexplore.ieee.org/document/{9880000 + len(doi.registered)}"
    for existing in REAL_NAMES:
        github.add(existing)
    if variety:
        github.add(RENAMED[1])
        github.rename(*RENAMED)

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    context.set_alpn_protocols(["http/1.1"])
    bundle = workdir / "sample-web-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    hosts = VirtualHosts(
        {"api.github.com": github.api, "github.com": github.web, "doi.org": doi}, default=_catch_all(variety)
    )
    tls = serve(hosts, tls=context)
    plain = serve(hosts)
    routes = {f"{h}:443": ("127.0.0.1", tls.port) for h in names}
    routes.update({f"{h}:80": ("127.0.0.1", plain.port) for h in names})
    proxy = Proxy(routes)
    testweb.call(proxy.start())
    env = {"HTTPS_PROXY": proxy.url, "HTTP_PROXY": proxy.url, "SSL_CERT_FILE": str(bundle)}
    return SampleWeb(github=github, doi=doi, proxy=proxy, hosts=hosts, env=env)
