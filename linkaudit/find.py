"""Finding: catalog text -> ``RawLink`` candidates (text as written, possibly garbled).

One pass of one compiled pattern over the whole text finds every place a
link may start: a scheme, garbled or not (``https://``, ``httpsr//``,
``ht tps: / /``, ``http:/``); ``www.``; a DOI; a scheme-less host name.  The
Python code then only looks at those places: where the link ends (balanced
brackets, spaced-out garbles), and whether a scheme-less name is a link at
all.  Markdown links, ``<autolinks>``, ``href=``/``src=`` attributes,
``\\url{}``/``\\href{}{}`` and footnote links are all covered, because the
URL inside each is found where it stands.

Never invents links: namespace URIs in ``xmlns`` attributes, e-mail
addresses, file names (``model.pth``, ``train.py``) and domains merely named
in prose (``amazon.com listings``) are not candidates.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence

from .hosts import SCHEMELESS_TLDS, SHORTLINK_HOSTS, nearest_code_host
from .model import RawLink, SourceRef
from .repair import LOOKALIKE_RE, LOOKALIKE_TABLE, ZERO_WIDTH_MARK

_TLD_ALT = "|".join(sorted(SCHEMELESS_TLDS, key=len, reverse=True))
_SP = r"[ \t]"
_LABEL = r"[a-z0-9\ue000](?:[a-z0-9\ue000-]{0,62}[a-z0-9\ue000])?"

TRIGGER = re.compile(
    rf"""
    (?P<scheme>(?<![a-z0-9])h{_SP}?t{_SP}?t?{_SP}?p(?:{_SP}?s)?(?:{_SP}?[:;]{_SP}?/{_SP}?/?|r?{_SP}?/{_SP}?/))
  | (?P<doi>(?<![\w./-])(?:doi:{_SP}?)?10\.\d{{4,9}}/(?=[^\s]))
  | (?P<host>(?<![\w@./:%+~=\ue000-]){_LABEL}(?:\.{_LABEL})*(?:\.|,)(?:{_TLD_ALT}|corn|con)(?![a-z0-9\ue000-]))
    """,
    re.IGNORECASE | re.VERBOSE,
)

# Characters a URL path may hold here (brackets are balanced later; braces and backslashes end LaTeX).
PATH_RE = re.compile(r"[^\s<>\"'`{}|\\^\[\]]*")
HOST_RE = re.compile(r"[\w.,\-\ue000]+(?::\d+)?", re.ASCII | re.IGNORECASE)
NAMESPACE_ATTR_RE = re.compile(r"xmlns(?::[\w-]+)?\s*=\s*[\"']?$", re.IGNORECASE)
# Words after which a bare domain name (no path) is offered as a link: "available at x.org", "page: x.org".
CUE_RE = re.compile(r"(?:\b(?:at|via|visit|see)|:)\s*$", re.IGNORECASE)
SHORT_FRAGMENT_RE = re.compile(r"[ \t]([A-Za-z0-9]{1,2}[.,;:!?)]*)(?=\s|$)")


def normalise_lookalikes(text: str) -> str:
    """``text`` with look-alike characters mapped to ASCII one to one (same length, same offsets)."""
    return text.translate(LOOKALIKE_TABLE) if LOOKALIKE_RE.search(text) else text


class LineIndex:
    """Offsets -> 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self._starts = [0]
        self._starts.extend(m.end() for m in re.finditer("\n", text))

    def line(self, offset: int) -> int:
        """The 1-based line holding ``offset``."""
        return bisect_right(self._starts, offset)


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end == -1 else end


def _spaced_extent(text: str, pos: int, limit: int) -> int:
    """End of a spaced-out URL (``gi thub. com/ lslrh/CPSL``) whose scheme ends at ``pos``."""
    slash = text.find("/", pos, min(limit, pos + 80))
    if slash == -1:
        match = HOST_RE.match(text, pos)
        return match.end() if match else pos
    host = text[pos:slash]
    joined = re.sub(r"[ \t]+", "", host)
    if not re.fullmatch(r"[\w.,\- \t\ue000]+", host, re.ASCII) or not _plausible_host(joined):
        match = HOST_RE.match(text, pos)
        return match.end() if match else pos
    end = slash
    while end < limit:
        match = PATH_RE.match(text, end, limit)
        end = match.end() if match else end
        if end >= limit or text[end] not in " \t":
            break
        after = end
        while after < limit and text[after] in " \t":
            after += 1
        if after < limit and (text[end - 1] == "/" or text[after] == "/"):
            end = after
            continue
        # a lone fragment split off the last path segment: "AdaVi T."
        fragment = SHORT_FRAGMENT_RE.match(text, end, limit)
        if fragment and text[end - 1].isalnum():
            end = fragment.end(1)
        break
    return end


def _plausible_host(host: str) -> bool:
    """A joined host looks like a real name: a code host (maybe misspelt) or a name with a known TLD."""
    host = host.lower().replace(",", ".").replace(ZERO_WIDTH_MARK, "").rstrip(".")
    if nearest_code_host(host) is not None:
        return True
    labels = host.split(".")
    return len(labels) >= 2 and all(labels) and labels[-1] in SCHEMELESS_TLDS


def _balanced_end(text: str, start: int, end: int) -> int:
    """Shrink ``[start, end)`` so that closing brackets stay balanced (markdown ``[x](url)``)."""
    depth = 0
    for i in range(start, end):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                return i
            depth -= 1
    return end


def _is_namespace(text: str, start: int) -> bool:
    return bool(NAMESPACE_ATTR_RE.search(text, max(0, start - 40), start))


def find_in_text(text: str, *, path: str, papers: Sequence[tuple[int, str]] = ()) -> list[RawLink]:
    """Every link candidate in ``text`` (already look-alike-normalised or not), in order.

    ``papers`` lists (offset of the paper's heading, paper id), sorted; a
    candidate belongs to the last paper starting before it.  ``path`` is only
    recorded in each ``SourceRef``.
    """
    norm = normalise_lookalikes(text)
    index = LineIndex(norm)
    paper_offsets = [offset for offset, _ in papers]
    found: list[RawLink] = []
    consumed = 0
    for match in TRIGGER.finditer(norm):
        start = match.start()
        if start < consumed:
            continue
        kind = match.lastgroup
        limit = _line_end(norm, start)
        if kind == "scheme":
            if _is_namespace(norm, start):
                consumed = _balanced_end(norm, start, PATH_RE.match(norm, start).end())
                continue
            scheme_end = match.end()
            if re.search(r"[ \t]", match.group()):
                end = _spaced_extent(norm, scheme_end, limit)
                hint = "spaced"
            else:
                host = HOST_RE.match(norm, scheme_end)
                end = host.end() if host else scheme_end
                if end < limit and norm[end] in "/?#":
                    end = PATH_RE.match(norm, end).end()
                elif host and end < limit and norm[end] in " \t" and _spaced_host_follows(norm, scheme_end, limit):
                    end = _spaced_extent(norm, scheme_end, limit)
                hint = "url"
            if end == scheme_end:
                continue
            end = _balanced_end(norm, start, end)
        elif kind == "doi":
            end = _balanced_end(norm, start, PATH_RE.match(norm, match.end()).end())
            hint = "doi"
        else:
            end, hint = _schemeless_extent(norm, match, limit)
            if end is None:
                continue
        consumed = end
        raw = text[start:end]
        offset = start
        paper_id = papers[bisect_right(paper_offsets, offset) - 1][1] if papers and offset >= paper_offsets[0] else None
        found.append(RawLink(text=raw, source=SourceRef(path, index.line(offset)), paper_id=paper_id, hint=hint))
    return found


def _spaced_host_follows(text: str, pos: int, limit: int) -> bool:
    """After an unspaced scheme, is the host itself spaced out (``https://gi thub.com/x``)?"""
    slash = text.find("/", pos, min(limit, pos + 40))
    if slash == -1:
        return False
    host = text[pos:slash]
    return bool(re.fullmatch(r"[\w.\- \t]+", host, re.ASCII)) and nearest_code_host(re.sub(r"\s+", "", host)) is not None


def _schemeless_extent(text: str, match: re.Match[str], limit: int) -> tuple[int | None, str]:
    """End of a scheme-less link starting with a host name, or None when the name is not a link."""
    start, end = match.start(), match.end()
    host = match.group().lower().replace(ZERO_WIDTH_MARK, "")
    has_path = end < limit and text[end] == "/" and end + 1 < limit and not text[end + 1].isspace()
    code_host = nearest_code_host(host.replace(",", ".")) or host.replace(",", ".")
    is_code = code_host.endswith(("github.com", "github.io", "gitlab.com", "gitlab.io", "gitee.com", "huggingface.co"))
    if "," in host and not is_code:
        return None, ""
    tld = code_host.rsplit(".", 1)[-1]
    if tld not in SCHEMELESS_TLDS and not is_code:
        return None, ""
    if not has_path:
        cue = CUE_RE.search(text, max(0, start - 12), start)
        if not ((is_code and "." in code_host.split(".", 1)[1]) or host.startswith("www.") or cue):
            return None, ""
        if code_host in ("github.com", "gitlab.com", "gitee.com"):
            return None, ""  # the bare site name in prose ("hosted on GitHub.com")
    elif code_host in SHORTLINK_HOSTS or is_code or host.startswith("www."):
        pass
    elif not _looks_like_web_path(text, end, limit):
        return None, ""
    if has_path:
        end = _balanced_end(text, start, PATH_RE.match(text, end).end())
    return end, "schemeless"


def _looks_like_web_path(text: str, pos: int, limit: int) -> bool:
    """``example.com/abc`` is a link; ``e.g./x`` or ``1.5/2`` is not: the path must start with a word character."""
    return pos + 1 < limit and (text[pos + 1].isalnum() or text[pos + 1] in "~_-")
