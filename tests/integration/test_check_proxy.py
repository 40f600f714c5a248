"""Integration tests through a local forward proxy with a throwaway CA: HTTPS_PROXY, SSL_CERT_FILE, NO_PROXY.

The proxy maps public names (api.github.com, github.com, doi.org, example.org)
to local TLS servers presenting certificates from a trustme CA, so the
default API bases are exercised without any traffic leaving this machine.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from checkkit import closed_port, make_link, run_check
from testweb import FakeDoi, FakeGitHub, Origin, Proxy, Server, TestWeb, VirtualHosts

from linkaudit.config import RetrySettings, Settings
from linkaudit.errors import NetworkUnavailable
from linkaudit.model import Status

NAMES = ("api.github.com", "github.com", "doi.org", "example.org")
TOKEN = "ghp_proxy_test_token"
FAST = RetrySettings(attempts=2, initial_wait=0, max_wait=0, jitter=0, max_retry_after=5)


@dataclass
class ProxiedWeb:
    """The public names behind the proxy, and the proxy itself."""

    proxy: Proxy
    hosts: VirtualHosts
    tls_server: Server
    plain_origin: Server
    github: FakeGitHub
    doi: FakeDoi


@pytest.fixture()
def proxied(
    testweb: TestWeb, serve: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ProxiedWeb]:
    """A TLS virtual-host server for the public names, reachable only through a forward proxy."""
    ca = trustme.CA()
    cert = ca.issue_cert(*NAMES)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    context.set_alpn_protocols(["http/1.1"])
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    github, doi, origin = FakeGitHub(), FakeDoi(), Origin()
    hosts = VirtualHosts(
        {"api.github.com": github.api, "github.com": github.web, "doi.org": doi, "example.org": origin}
    )
    tls_server = serve(hosts, tls=context)
    plain_origin = serve(Origin())
    routes = {f"{name}:443": ("127.0.0.1", tls_server.port) for name in NAMES}
    routes["example.org:80"] = ("127.0.0.1", plain_origin.port)
    proxy = Proxy(routes)
    testweb.call(proxy.start())
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    yield ProxiedWeb(proxy, hosts, tls_server, plain_origin, github, doi)
    testweb.call(proxy.stop())


def test_default_endpoints_through_the_proxy(proxied: ProxiedWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    """With HTTPS_PROXY and SSL_CERT_FILE set, GitHub, doi.org and web links are checked through CONNECT tunnels."""
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    proxied.github.add("acme/ok")
    proxied.doi.registered["10.1000/ok"] = "https://example.org/paper"
    links = [
        make_link("https://github.com/acme/ok/blob/main/README.md"),
        make_link("https://github.com/acme/missing"),
        make_link("https://doi.org/10.1000/ok"),
        make_link("https://doi.org/10.1000/gone"),
        make_link("https://example.org/status/200"),
        make_link("https://example.org/status/404"),
    ]
    results = run_check(links, Settings(retry=FAST))  # the real defaults: public API bases, no private hosts
    statuses = {url: r.status for url, r in results.items()}
    assert statuses == {
        "https://github.com/acme/ok/blob/main/README.md": Status.OK,
        "https://github.com/acme/missing": Status.BROKEN,
        "https://doi.org/10.1000/ok": Status.OK,
        "https://doi.org/10.1000/gone": Status.BROKEN,
        "https://example.org/status/200": Status.OK,
        "https://example.org/status/404": Status.BROKEN,
    }
    assert set(proxied.proxy.connects) == {f"{name}:443" for name in NAMES}
    for host, _path, auth in proxied.hosts.log:
        assert (auth == f"Bearer {TOKEN}") == (host == "api.github.com"), (host, _path)


def test_plain_http_through_the_proxy(proxied: ProxiedWeb) -> None:
    """An http:// link goes through HTTP_PROXY as an absolute-form request."""
    url = "http://example.org/status/410"
    result = run_check([make_link(url)], Settings(retry=FAST))[url]
    assert result.status is Status.BROKEN
    assert proxied.proxy.forwards == [url]
    assert proxied.plain_origin.counts["HEAD /status/410"] == 1


def test_http_to_https_upgrade_is_the_same_resource(proxied: ProxiedWeb) -> None:
    """A permanent redirect from http:// to the same https:// page is ok, with the chain recorded."""
    url = "http://example.org/to-https"
    result = run_check([make_link(url)], Settings(retry=FAST))[url]
    assert (result.status, result.definitive) == (Status.OK, True)
    assert result.final_url == "https://example.org/to-https"
    assert proxied.proxy.connects == ["example.org:443"]


def test_no_proxy_bypasses_the_proxy(
    proxied: ProxiedWeb, origin: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host listed in NO_PROXY is reached directly."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    url = f"{origin.url}/status/200"
    result = run_check([make_link(url)], Settings(retry=FAST, allow_private_hosts=True))[url]
    assert result.status is Status.OK
    assert origin.requests == 1
    assert proxied.proxy.connects == [] and proxied.proxy.forwards == []


def test_proxy_refusing_means_network_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the proxy itself refuses connections, nothing is reported broken: the run is NetworkUnavailable,
    and its one line names the proxy (without the credentials in HTTPS_PROXY)."""
    port = closed_port()
    monkeypatch.setenv("HTTPS_PROXY", f"http://ci-user:s3cret-pass@127.0.0.1:{port}")
    links = [
        make_link("https://example.org/a"),
        make_link("https://doi.org/10.1000/x"),
        make_link("https://github.com/a/b"),
    ]
    with pytest.raises(NetworkUnavailable) as caught:
        run_check(links, Settings(retry=FAST))
    message = str(caught.value)
    assert f"through the proxy http://127.0.0.1:{port}:" in message
    assert "s3cret" not in message and "ci-user" not in message


def test_host_the_proxy_cannot_reach_is_an_error(proxied: ProxiedWeb) -> None:
    """A host the proxy cannot reach (502 to CONNECT) is an inconclusive error, not broken: names are the proxy's."""
    dead, live = "https://no-such-site.example/x", "https://example.org/status/200"
    results = run_check([make_link(dead), make_link(live)], Settings(retry=FAST))
    assert results[live].status is Status.OK
    assert (results[dead].status, results[dead].definitive) == (Status.ERROR, False)


def test_ssrf_guard_still_applies_to_redirects_through_the_proxy(proxied: ProxiedWeb) -> None:
    """A public page redirecting to a metadata address is skipped at that hop, and the address is never asked."""
    url = "https://example.org/redirect/302?to=http://169.254.169.254/latest/meta-data/"
    result = run_check([make_link(url)], Settings(retry=FAST))[url]
    assert result.status is Status.SKIPPED
    assert proxied.proxy.forwards == []
