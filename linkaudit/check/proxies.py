"""Proxies: which proxy the environment sets for a URL (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``).

Stage: check.  Input: a scheme and a host, and the environment.  Output:
the proxy URL or None.  A custom httpx transport turns off httpx's own
reading of these variables, so ``transport.HostRouter`` asks here, with
httpx's semantics (``NO_PROXY`` host suffixes, ``*``, IP networks, ports).
"""

from __future__ import annotations

import ipaddress
from urllib.request import getproxies


def _bypassed(host: str, no_proxy: str) -> bool:
    host = host.lower().strip("[]")
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry = entry.split("://", 1)[-1]
        if entry.startswith("[") or entry.count(":") > 1:
            entry = entry.strip("[]")
        elif ":" in entry:
            entry = entry.split(":", 1)[0]
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            network = None
        if network is not None:
            try:
                if ipaddress.ip_address(host) in network:
                    return True
            except ValueError:
                pass
            continue
        bare = entry.lstrip(".").lstrip("*").lstrip(".")
        if host == bare or host.endswith("." + bare):
            return True
    return False


def proxy_for(scheme: str, host: str) -> str | None:
    """The proxy URL the environment sets for ``scheme://host``, or None (none set, or NO_PROXY bypass)."""
    proxies = getproxies()
    url = proxies.get(scheme.lower()) or proxies.get("all")
    if not url:
        return None
    if _bypassed(host, proxies.get("no", "")):
        return None
    return url if "://" in url else f"http://{url}"


def redacted(proxy: str) -> str:
    """``proxy`` without its user name and password (``http://user:secret@host:3128`` -> ``http://host:3128``)."""
    scheme, sep, rest = proxy.partition("://")
    if not sep:
        scheme, rest = "", proxy
    authority, slash, path = rest.partition("/")
    host = authority.rpartition("@")[2]
    return f"{scheme}{sep}{host}{slash}{path}".rstrip("/")
