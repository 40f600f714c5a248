"""HTTP/1.1 messages for the lean client: a response head parsed, its body framing and keep-alive decided, a request written.

Stage: check (pure functions of ``h1``).  Input: the bytes of a response head
(without its blank line) and the request's method; header lists of
``(name, value)`` bytes.  Output: status, HTTP minor version and headers; how
the body is delimited (RFC 9112 section 6.3); whether the connection may carry
another request; the bytes of a request, with header injection refused.
"""

from __future__ import annotations

import re

import httpx

_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d)[ \t]+(\d{3})(?:[ \t].*)?", re.DOTALL)
_NO_BODY = frozenset({204, 304})

NONE, LENGTH, CHUNKED, UNTIL_CLOSE = 0, 1, 2, 3
"""How an answer's body is delimited."""


def _tokens(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    """The comma-separated, lower-cased tokens of every ``name`` header."""
    tokens: list[bytes] = []
    for key, value in headers:
        if key.lower() == name:
            tokens.extend(t.strip().lower() for t in value.split(b","))
    return [t for t in tokens if t]


def parse_head(head: bytes) -> tuple[int, int, list[tuple[bytes, bytes]]]:
    """(status, minor HTTP version, headers) of a response head without its final blank line.

    Tolerant where servers are sloppy: bare LF line ends, blank lines before
    the status line, folded header lines, spaces around names, lines without a
    colon (dropped).  Raises ``httpx.RemoteProtocolError`` when the status line
    is not HTTP/1.x.
    """
    lines = head.lstrip(b"\r\n").split(b"\n")
    match = _STATUS_LINE.fullmatch(lines[0].rstrip(b"\r"))
    if match is None or match.group(1) != b"1":
        raise httpx.RemoteProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: list[tuple[bytes, bytes]] = []
    for raw in lines[1:]:
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if line[:1] in (b" ", b"\t"):  # obsolete line folding: a continuation of the previous value
            if headers:
                name, value = headers[-1]
                headers[-1] = (name, value + b" " + line.strip())
            continue
        name, sep, value = line.partition(b":")
        name = name.strip()
        if sep and name:
            headers.append((name, value.strip()))
    return int(match.group(3)), int(match.group(2)), headers


def body_framing(method: str, status: int, headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """(how the body is delimited, its length for ``LENGTH``) per RFC 9112 section 6.3."""
    if method == "HEAD" or status < 200 or status in _NO_BODY:
        return NONE, 0
    codings = _tokens(headers, b"transfer-encoding")
    if codings:
        return (CHUNKED, 0) if codings[-1] == b"chunked" else (UNTIL_CLOSE, 0)
    lengths = {v.strip() for k, v in headers if k.lower() == b"content-length" for v in v.split(b",")}
    if not lengths:
        return UNTIL_CLOSE, 0
    if len(lengths) > 1 or not all(v.isdigit() for v in lengths):
        raise httpx.RemoteProtocolError(f"invalid Content-Length: {sorted(lengths)!r}")
    length = int(lengths.pop())
    return (LENGTH, length) if length else (NONE, 0)


def wants_keep_alive(minor: int, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the server lets the connection carry another request (HTTP/1.1 default, 1.0 opt-in)."""
    options = _tokens(headers, b"connection")
    if b"close" in options:
        return False
    return minor >= 1 or b"keep-alive" in options


def serialize_request(method: str, target: bytes, header_block: bytes, content: bytes | None) -> bytes:
    """The bytes of one request: its line, the header block (each line CRLF-ended), a blank line, the body."""
    head = b"%s %s HTTP/1.1\r\n%s\r\n" % (method.encode("ascii"), target, header_block)
    return head + content if content else head


def header_block(headers: list[tuple[bytes, bytes]]) -> bytes:
    """``Name: value`` lines; raises ``httpx.LocalProtocolError`` for a CR, LF or NUL (header injection)."""
    lines = []
    for name, value in headers:
        if not name or any(c in name for c in b"\r\n\0: \t") or any(c in value for c in b"\r\n\0"):
            raise httpx.LocalProtocolError(f"invalid request header {name!r}")
        lines.append(b"%s: %s\r\n" % (name, value))
    return b"".join(lines)
