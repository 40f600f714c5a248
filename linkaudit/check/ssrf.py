"""SSRF guard: a link (or a redirect hop) must not make linkaudit fetch a private address.

Stage: check.  Input: a URL's host (and whether a proxy will carry the
request).  Output: whether the host is private: ``localhost``, loopback,
private (RFC 1918, ULA), link-local, cloud metadata endpoints, shared/CGNAT,
multicast, reserved or unspecified addresses.  Literal addresses and well-known
names are judged without I/O; other names are resolved once per run (cached),
unless a proxy carries the request: then the proxy resolves names, not us.
The guard and the connections share the run's ``Resolver``, so the addresses
judged here are the ones connected to (no second lookup to rebind).
"""

from __future__ import annotations

import asyncio
import ipaddress

from .netio import Resolver

PRIVATE_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
"""Host names that always mean this machine or a cloud metadata service."""

PRIVATE_SUFFIXES = (".localhost", ".internal")

EXTRA_PRIVATE_NETWORKS = (
    ipaddress.ip_network("100.64.0.0/10"),  # shared address space; Alibaba's metadata is 100.100.100.200
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("198.18.0.0/15"),
    ipaddress.ip_network("fd00:ec2::/32"),  # AWS IMDS over IPv6
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_private_ip(ip: IPAddress) -> bool:
    """True for any address a public link must never lead to."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return is_private_ip(ip.ipv4_mapped)
    if (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    ):
        return True
    return any(ip in net for net in EXTRA_PRIVATE_NETWORKS)


def parse_ip(host: str) -> IPAddress | None:
    """The address of an IP-literal host (brackets and zone ids tolerated), else None."""
    text = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_private_literal(host: str) -> bool | None:
    """True/False when ``host`` alone decides it (an IP literal or a well-known name); None when DNS must tell."""
    name = host.lower().rstrip(".")
    if name in PRIVATE_NAMES or name.endswith(PRIVATE_SUFFIXES):
        return True
    ip = parse_ip(name)
    if ip is not None:
        return is_private_ip(ip)
    return None


class AddressGuard:
    """Decides, once per host and run, whether requests to a host are allowed.

    ``check`` raises ``socket.gaierror`` when the name does not resolve (the
    caller turns that into a DNS failure, exactly as if the request had failed).
    """

    def __init__(self, *, allow_private: bool, resolver: Resolver | None = None) -> None:
        self._allow_private = allow_private
        self._resolver = resolver or Resolver()
        self._cache: dict[str, asyncio.Future[bool]] = {}

    async def is_blocked(self, host: str, port: int, *, proxied: bool) -> bool:
        """True when ``host`` is private and private hosts are not allowed."""
        if self._allow_private:
            return False
        literal = is_private_literal(host)
        if literal is not None:
            return literal
        if proxied:
            return False
        key = host.lower()
        future = self._cache.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._cache[key] = future
            try:
                addresses = await self._resolver.resolve(host, port)
            except OSError as exc:
                future.set_exception(exc)
                future.exception()  # mark retrieved: every caller re-raises it below
            except BaseException:
                del self._cache[key]
                future.cancel()
                raise
            else:
                ips = (parse_ip(str(address[0])) for _, address in addresses)
                future.set_result(any(ip is None or is_private_ip(ip) for ip in ips))
        return await asyncio.shield(future)
