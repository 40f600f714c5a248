"""Repair: ``RawLink`` (text as written) -> ``RepairedLink`` (absolute http(s) URL + what changed), or None.

Each rule is named; every change it makes is recorded as a ``Repair(rule,
detail)`` so a maintainer can see "as written -> repaired".  Rules only undo
garbles that PDF extraction and copy-editing produce; they never guess a
different resource.  Guesses go into *suggestions* instead (``suggest.py``),
for the checker to try.

Confidence: ``high`` when only deterministic clean-ups were needed (sentence
punctuation, look-alike characters, a mangled scheme), ``medium`` when the
text was re-assembled or a host name was corrected by edit distance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .classify import split_url
from .hosts import HTTPS_SUFFIXES, SCHEMELESS_TLDS, nearest_code_host
from .model import Confidence, RawLink, Repair, SourceRef
from .records import fast_init

# Look-alike characters mapped to ASCII, one to one (the finder relies on equal lengths).
ZERO_WIDTH_MARK = "\ue000"
LOOKALIKES = {
    "\uff1a": ":", "\uff0f": "/", "\uff0e": ".", "\u3002": ".", "\uff0c": ",", "\u2044": "/", "\u2215": "/",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-", "\ufe63": "-",
    "\uff0d": "-", "\uff5e": "~", "\u02dc": "~", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
    "\u200b": ZERO_WIDTH_MARK, "\u200c": ZERO_WIDTH_MARK, "\u200d": ZERO_WIDTH_MARK,
    "\u2060": ZERO_WIDTH_MARK, "\ufeff": ZERO_WIDTH_MARK, "\u00ad": ZERO_WIDTH_MARK,
}
LOOKALIKE_TABLE = str.maketrans(LOOKALIKES)
LOOKALIKE_RE = re.compile("[" + "".join(LOOKALIKES) + "]")

SCHEME_RE = re.compile(r"^(?P<scheme>h+[ \t]*t+[ \t]*t?[ \t]*p+(?:[ \t]*s)?)(?P<sep>[ \t]*[:;]|r)?[ \t]*(?P<slashes>/[ \t]*/?/?|\\\\)", re.I)
TRAILING_PUNCT = ".,;:!?'\"*_>`"
PAIRS = {")": "(", "]": "[", "}": "{"}
HOST_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
IPV4_RE = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
CODE_REPO_HOSTS = ("github.com", "gitlab.com", "gitee.com", "bitbucket.org", "codeberg.org")
GLUED_HOST_RE = re.compile(r"^((?:www\.)?(?:github|gitlab|gitee)\.com|huggingface\.co)[Il1i|]([A-Za-z0-9][\w.-]*)$", re.I)


def is_valid_tld(host: str) -> bool:
    """The host ends in a TLD accepted for links (see ``hosts.SCHEMELESS_TLDS``)."""
    return host.rsplit(".", 1)[-1].lower() in SCHEMELESS_TLDS


@fast_init
@dataclass(frozen=True, slots=True)
class RepairedLink:
    """A URL after repair: absolute http(s), with the record of what was changed."""

    url: str
    original: str
    source: SourceRef
    paper_id: str | None
    repairs: tuple[Repair, ...]
    confidence: Confidence


def _lower(a: Confidence, b: Confidence) -> Confidence:
    order = (Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW)
    return a if order.index(a) >= order.index(b) else b


def strip_trailing(url: str) -> tuple[str, str]:
    """Split ``url`` into (url, removed tail): sentence punctuation and unbalanced closing brackets."""
    end = len(url)
    while end > 0:
        ch = url[end - 1]
        if ch in TRAILING_PUNCT or (ch in PAIRS and url[:end].count(ch) > url[:end].count(PAIRS[ch])):
            end -= 1
        else:
            break
    return url[:end], url[end:]


@lru_cache(maxsize=4096)
def is_valid_host(host: str) -> bool:
    """True for a syntactically valid DNS name with a plausible TLD, or an IPv4 address.

    Internationalised names (``bücher.example``) are checked in their ASCII (IDNA) form.
    """
    host = host.lower().rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return False
    if IPV4_RE.match(host) or host == "localhost":
        return True
    labels = host.split(".")
    if len(labels) < 2 or not all(HOST_LABEL_RE.match(label) for label in labels):
        return False
    tld = labels[-1]
    return (tld.isalpha() and len(tld) >= 2) or tld.startswith("xn--")


def default_scheme(host: str) -> str:
    """The scheme to add to a scheme-less link: https for hosts known to serve only https, else http."""
    host = host.lower()
    return "https" if any(host == s or host.endswith("." + s) for s in HTTPS_SUFFIXES) else "http"


CLEAN_URL_RE = re.compile(r"https?://(?P<host>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::(?P<port>\d{1,5}))?(?:[/?#][!-~]*)?")


# Project-page hosts whose names hold ".git" (``x.github.io``) but are no repository hosts: the
# clone-suffix rule never applies to them, nor can the slash-as-letter rule (their TLD is valid).
_PAGES_SUFFIXES = (".github.io", ".gitlab.io")


def _is_clean(url: str, host: str, port: str | None) -> bool:
    """Fast path: a well-formed URL that no rule would change (most links in a catalog).

    A port is kept as written by the general path too, unless past 65535 (urllib refuses it: no link).
    """
    if port is not None and int(port) > 65535:
        return False
    last = url[-1]
    if not (last.isalnum() or last == "/") or (".git" in url and not host.lower().endswith(_PAGES_SUFFIXES)):
        return False
    tld = host.rsplit(".", 1)[-1].lower()
    return (tld in SCHEMELESS_TLDS or (2 <= len(tld) <= 6 and tld.isalpha()) or IPV4_RE.match(host) is not None) and (
        nearest_code_host(host) is None and is_valid_host(host)
    )


# Last characters ``strip_trailing`` may remove.
_STRIPPABLE = frozenset(TRAILING_PUNCT + "".join(PAIRS))


def repair_link(raw: RawLink) -> RepairedLink | None:
    """Repair the text the finder saw into an absolute http(s) URL; None when it is not a link after all."""
    text = raw.text
    if raw.hint == "doi":
        return _repair_doi(raw)
    # Fast path: a clean URL, maybe followed by sentence punctuation ("... at https://github.com/a/b.").
    # The tail is plain ASCII: the general path removes it, and changes nothing else unless one of
    # its rules applies (``_general_rule_applies``).  A clean URL without a tail takes the fast path
    # as it always has, even in the two cases where the general path would differ.
    url, tail = strip_trailing(text) if text and text[-1] in _STRIPPABLE else (text, "")
    clean = CLEAN_URL_RE.fullmatch(url)
    if clean and _is_clean(url, clean["host"], clean["port"]) and not (tail and _general_rule_applies(url, clean["host"])):
        return RepairedLink(url=url, original=text, source=raw.source, paper_id=raw.paper_id,
                            repairs=(Repair("trailing-punctuation", f"removed trailing '{tail}'"),) if tail else (),
                            confidence=Confidence.HIGH)
    return repair_garbled(raw)


def _general_rule_applies(url: str, host: str) -> bool:
    """A rule of the general path changes this clean URL: slash-as-letter (``github.comlx.abcdef``,
    a code host glued to a segment before a short TLD outside the list) or trailing-git (``.GIT``
    in any case; ``_is_clean`` only excludes a lower-case ``.git``)."""
    glued = GLUED_HOST_RE.match(host) is not None and not is_valid_tld(host)
    return glued or (host.lower() in CODE_REPO_HOSTS and ".git" in url.lower())


def repair_garbled(raw: RawLink) -> RepairedLink | None:
    """The general path of ``repair_link``: every rule in turn (``repair_link`` skips it for clean URLs)."""
    text = raw.text
    repairs: list[Repair] = []
    confidence = Confidence.HIGH
    if raw.hint == "doi":
        return _repair_doi(raw)

    if LOOKALIKE_RE.search(text):
        fixed = text.translate(LOOKALIKE_TABLE).replace(ZERO_WIDTH_MARK, "")
        chars = sorted({f"U+{ord(c):04X}" for c in text if c in LOOKALIKES})
        repairs.append(Repair("unicode-lookalike", f"replaced look-alike characters {', '.join(chars)}"))
        text = fixed

    if re.search(r"\s", text):
        joined = re.sub(r"\s+", "", text)
        repairs.append(Repair("spaced-url", f"removed spaces: '{text.strip()}' -> '{joined}'"))
        confidence = _lower(confidence, Confidence.MEDIUM)
        text = joined

    text, tail = strip_trailing(text)
    if tail:
        repairs.append(Repair("trailing-punctuation", f"removed trailing '{tail}'"))

    match = SCHEME_RE.match(text)
    if match:
        scheme = "https" if match.group("scheme").lower().replace(" ", "").endswith("s") else "http"
        written = match.group(0)
        rest = text[match.end():].lstrip("/")
        if written.lower() != f"{scheme}://":
            repairs.append(Repair("scheme", f"'{written}' -> '{scheme}://'"))
        text = f"{scheme}://{rest}"
    elif re.match(r"^[a-z][a-z0-9+.-]*:", text, re.I) and not re.match(r"^[\w.-]+:\d", text):
        return None  # mailto:, ftp:, javascript: ... are not ours to check
    else:
        host_guess = re.split(r"[/?#]", text, maxsplit=1)[0].replace(",", ".")
        glued_guess = GLUED_HOST_RE.match(host_guess)
        host_guess = glued_guess.group(1) if glued_guess else host_guess
        scheme = default_scheme(nearest_code_host(host_guess) or host_guess)
        repairs.append(Repair("missing-scheme", f"added '{scheme}://'"))
        text = f"{scheme}://{text}"

    scheme, _, rest = text.partition("://")
    host_end = len(rest)
    for sep in "/?#":
        idx = rest.find(sep)
        if idx != -1:
            host_end = min(host_end, idx)
    host, path = rest[:host_end], rest[host_end:]
    if "@" in host:  # user-info is never part of a catalog link; an e-mail address is not a link
        return None
    if "," in host:
        fixed_host = host.replace(",", ".")
        repairs.append(Repair("host-punctuation", f"'{host}' -> '{fixed_host}'"))
        confidence = _lower(confidence, Confidence.MEDIUM)
        host = fixed_host
    hostname, _, port = host.partition(":")
    if port and not port.isdigit():
        return None
    glued = GLUED_HOST_RE.match(hostname)
    if glued and not is_valid_tld(hostname):
        # github.comIowner/repo: the slash after the host was read as a letter
        hostname, path = glued.group(1), "/" + glued.group(2) + path
        repairs.append(Repair("slash-as-letter", f"'{glued.group(0)}' -> '{hostname}{path.split('/', 2)[0]}/"
                                                 f"{glued.group(2)}'"))
        confidence = _lower(confidence, Confidence.MEDIUM)
    corrected = nearest_code_host(hostname)
    if corrected is not None:
        repairs.append(Repair("host-typo", f"'{hostname}' -> '{corrected}'"))
        confidence = _lower(confidence, Confidence.MEDIUM)
        hostname = corrected
    hostname = hostname.rstrip(".")
    if not is_valid_host(hostname):
        return None
    tld = hostname.rsplit(".", 1)[-1].lower()
    if not IPV4_RE.match(hostname) and hostname != "localhost" and tld not in SCHEMELESS_TLDS and len(tld) > 6:
        return None

    if hostname.lower() in CODE_REPO_HOSTS:
        segments = path.split("/")
        # github.com/owner/repo.git (also before /tree/...): the clone suffix is not part of the page
        if len(segments) >= 3 and segments[2].lower().endswith(".git") and len(segments[2]) > 4:
            segments[2] = segments[2][:-4]
            repairs.append(Repair("trailing-git", "removed '.git'"))
            path = "/".join(segments)
            path, tail = strip_trailing(path)
            if tail:
                repairs.append(Repair("trailing-punctuation", f"removed trailing '{tail}'"))

    url = f"{scheme}://{hostname}{':' + port if port else ''}{path}"
    try:
        parts = split_url(url)[0]
        _ = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return RepairedLink(
        url=url,
        original=raw.text,
        source=raw.source,
        paper_id=raw.paper_id,
        repairs=tuple(repairs),
        confidence=confidence,
    )


DOI_TEXT_RE = re.compile(r"^(?:doi:\s*)?(10\.\d{4,9}/\S+)$", re.I)


def _repair_doi(raw: RawLink) -> RepairedLink | None:
    """A DOI written as text (``doi:10.1/x`` or ``10.1/x``) -> its doi.org URL."""
    text, tail = strip_trailing(raw.text.strip())
    match = DOI_TEXT_RE.match(text)
    if not match:
        return None
    repairs = (Repair("trailing-punctuation", f"removed trailing '{tail}'"),) if tail else ()
    return RepairedLink(
        url=f"https://doi.org/{match.group(1)}",
        original=raw.text,
        source=raw.source,
        paper_id=raw.paper_id,
        repairs=repairs,
        confidence=Confidence.HIGH,
    )
