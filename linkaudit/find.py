"""Finding: catalog text -> ``RawLink`` candidates (text as written, possibly garbled).

Three fast scans over the whole text find every place a link may stand, each
anchored on a literal so the regex engine skips ahead at C speed:

* ``//`` (or ``/ /``), then a look back for a scheme, garbled or not
  (``https://``, ``httpsr//``, ``https//``, ``ht tps: / /``); ``:/`` for ``http:/``;
* ``10.NNNN/`` for a DOI written as text;
* ``.tld`` for a scheme-less host name (``git.io/RePaint``, ``x.github.io``,
  ``www.example.org``), then a walk back to the start of the name; dots inside
  a word holding ``//`` (a URL with a scheme: most dots) are told apart by the
  spans of such words.

Python only looks at those places: where the link ends (balanced brackets,
spaced-out garbles) and whether a scheme-less name is a link at all.  A
stretch of the text that starts and ends at line starts can be searched alone
(``find_candidates``), with the candidates a search of the whole text finds in it.
Markdown links, ``<autolinks>``, ``href=``/``src=``, ``\\url{}``/``\\href{}{}``
and footnote links are covered because the URL inside each is found where it
stands.  Look-alike characters (full-width colon, Unicode hyphens, zero-width
spaces) are tolerated here and normalised by the repairer.

Never invents links: namespace URIs in ``xmlns`` attributes, e-mail
addresses, file names (``model.pth``, ``train.py``) and domains merely named
in prose (``amazon.com listings``) are not candidates.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from .hosts import SCHEMELESS_TLDS, SHORTLINK_HOSTS, nearest_code_host
from .model import RawLink, SourceRef
from .repair import GLUED_HOST_RE

_ZW = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_HYPHENS = "\u2010\u2011\u2012\u2013\u2212\ufe63\uff0d"

# "//" or "/ /" (a scheme's end, spaced or not), or the slash of ":/" without a second one ("http:/x"):
# one pattern starting with the literal "/", so one pass of the regex engine finds all three.
SLASH_ANCHOR_RE = re.compile(r"/(?:[ \t]?/|(?<=:/)(?![ \t]?/))")
BLANK_RE = re.compile(r"[ \t]")
# Not inside a URL or a longer number: the character before "10." is no word character, "." "/" or "-".
# The look-behind comes after the literal so the regex engine can still skip ahead to each "10." (a
# leading look-behind makes it try every position of the text: 0.3 s of a 16 MB catalog).
DOI_RE = re.compile(r"10\.(?<![\w./-]10\.)\d{4,9}/(?=\S)")
# A URL word runs from a "//" up to a space, tab or newline (WORD_REST_RE is its part after the "//");
# URL_WORD_REACH is how far back from a dot that "//" is looked for.
WORD_REST_RE = re.compile(r"[^ \t\n]*")
URL_WORD_REACH = 300
# A dot (or a comma or full-width dot read for one) before a possible TLD.  One pattern per character:
# a pattern that starts with a literal is searched at C speed, a character class is ~6x slower.
HOST_DOTS = (".", ",", "\uff0e", "\u3002")
DOT_TLD_RES = tuple(re.compile(rf"{re.escape(dot)}([a-zA-Z]{{2,}})(?![\w{_HYPHENS}-])") for dot in HOST_DOTS)
# A scheme just before an anchor, read backwards from the anchor (``\Z`` = at the anchor).
SCHEME_BEFORE_RE = re.compile(
    r"(?<![A-Za-z0-9])h[ \t]?t[ \t]?t?[ \t]?p(?:[ \t]?s)?(?:[ \t]?[:;\uff1a]|r)?[ \t]?\Z", re.IGNORECASE
)
DOI_PREFIX_RE = re.compile(r"doi:[ \t]?\Z", re.IGNORECASE)

# Characters a URL path may hold here (brackets are balanced later; braces and backslashes end LaTeX).
PATH_RE = re.compile(r"[^\s<>\"'`{}|\\^\[\]]*")
HOST_RE = re.compile(rf"[\w.,\-{_ZW}{_HYPHENS}\uff0e]+(?::\d+)?")
HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._" + _ZW + _HYPHENS)
NAMESPACE_ATTR_RE = re.compile(r"xmlns(?::[\w-]+)?\s*=\s*[\"']?\Z", re.IGNORECASE)
# Words after which a bare domain name (no path) is offered as a link: "available at x.org", "page: x.org".
CUE_RE = re.compile(r"(?:\b(?:at|via|visit|see)|:)\s*\Z", re.IGNORECASE)
SHORT_FRAGMENT_RE = re.compile(r"[ \t]([A-Za-z0-9]{1,2}[.,;:!?)]*)(?=\s|$)")
# Characters that, right before a host name, mean it is part of something else (a path, an address, a word).
NOT_BEFORE_HOST = frozenset("@/.:%+~=\\" + _HYPHENS)
CODE_SUFFIXES = ("github.com", "github.io", "gitlab.com", "gitlab.io", "gitee.com", "huggingface.co")


class LineCursor:
    """Line numbers and line ends for offsets visited in increasing order.

    It counts newlines between consecutive offsets and finds each line's end
    once, so a pass over the text is linear and holds no per-line table (a
    table of a 100,000-paper catalog's line starts cost ~100 MB at its peak).
    """

    def __init__(self, text: str, start: int = 0, line: int | None = None) -> None:
        self._text = text
        self._offset = start
        self._line = 1 + text.count("\n", 0, start) if line is None else line  # the line of ``start``
        self._end = -1

    def advance(self, offset: int) -> None:
        """Move to ``offset`` (never backwards)."""
        self._line += self._text.count("\n", self._offset, offset)
        self._offset = offset
        if offset > self._end:
            end = self._text.find("\n", offset)
            self._end = len(self._text) if end == -1 else end

    @property
    def line(self) -> int:
        """The 1-based line of the current offset."""
        return self._line

    @property
    def line_end(self) -> int:
        """The offset of the newline ending the current line (the text's length on the last line)."""
        return self._end


def _clean_host(host: str) -> str:
    host = host.lower().replace(",", ".").replace("\uff0e", ".").replace("\u3002", ".")
    for ch in _ZW:
        host = host.replace(ch, "")
    for ch in _HYPHENS:
        host = host.replace(ch, "-")
    return host.rstrip(".")


@lru_cache(maxsize=4096)
def _plausible_host(host: str) -> bool:
    """A joined host looks like a real name: a code host (maybe misspelt) or a name with a known TLD."""
    host = _clean_host(host)
    if nearest_code_host(host) is not None:
        return True
    labels = host.split(".")
    return len(labels) >= 2 and all(labels) and labels[-1] in SCHEMELESS_TLDS


def _spaced_extent(text: str, pos: int, limit: int) -> int:
    """End of a spaced-out URL (``gi thub. com/ lslrh/CPSL``) whose scheme ends at ``pos``."""
    slash = text.find("/", pos, min(limit, pos + 80))
    if slash == -1:
        match = HOST_RE.match(text, pos, limit)
        return match.end() if match else pos
    host = text[pos:slash]
    if not re.fullmatch(rf"[\w.,\- \t{_ZW}{_HYPHENS}]+", host) or not _plausible_host(re.sub(r"[ \t]+", "", host)):
        match = HOST_RE.match(text, pos, limit)
        return match.end() if match else pos
    end = slash
    while end < limit:
        end = PATH_RE.match(text, end, limit).end()  # type: ignore[union-attr]
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


def _spaced_host_follows(text: str, pos: int, limit: int) -> bool:
    """After an unspaced scheme, is the host itself spaced out (``https://gi thub.com/x``)?"""
    slash = text.find("/", pos, min(limit, pos + 40))
    if slash == -1:
        return False
    host = text[pos:slash]
    return bool(re.fullmatch(r"[\w.\- \t]+", host)) and nearest_code_host(re.sub(r"\s+", "", host)) is not None


def _balanced_end(text: str, start: int, end: int) -> int:
    """Shrink ``[start, end)`` so that closing brackets stay balanced (markdown ``[x](url)``)."""
    close = text.find(")", start, end)
    if close == -1:
        return end
    if text.find("(", start, close) == -1:  # the common "(url)" of a markdown link
        return close
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


def _scheme_extent(text: str, start: int, scheme_end: int, limit: int) -> tuple[int, str]:
    """End of a URL whose (possibly garbled) scheme spans ``[start, scheme_end)``."""
    if BLANK_RE.search(text, start, scheme_end):
        return _spaced_extent(text, scheme_end, limit), "spaced"
    host = HOST_RE.match(text, scheme_end, limit)
    end = host.end() if host else scheme_end
    if end < limit and text[end] in "/?#":
        end = PATH_RE.match(text, end, limit).end()  # type: ignore[union-attr]
    elif host and end < limit and text[end] in " \t" and _spaced_host_follows(text, scheme_end, limit):
        return _spaced_extent(text, scheme_end, limit), "spaced"
    return end, "url"


def _schemeless_extent(text: str, start: int, host_end: int, limit: int) -> int | None:
    """End of a scheme-less link whose host name spans ``[start, host_end)``, or None when it is no link."""
    host = _clean_host(text[start:host_end])
    if GLUED_HOST_RE.match(host):  # github.comIowner/repo: the repairer splits it
        return _balanced_end(text, start, PATH_RE.match(text, host_end, limit).end())  # type: ignore[union-attr]
    has_path = host_end + 1 < limit and text[host_end] == "/" and not text[host_end + 1].isspace()
    code_host = nearest_code_host(host) or host
    is_code = code_host.endswith(CODE_SUFFIXES)
    if "," in text[start:host_end] and not is_code:
        return None
    if not is_code and code_host.rsplit(".", 1)[-1] not in SCHEMELESS_TLDS:
        return None
    if not has_path:
        cue = CUE_RE.search(text, max(0, start - 12), start)
        if code_host in ("github.com", "gitlab.com", "gitee.com", "huggingface.co"):
            return None  # the bare site name in prose ("hosted on GitHub.com")
        if not ((is_code and code_host.count(".") >= 2) or host.startswith("www.") or cue):
            return None
        return host_end
    if not (code_host in SHORTLINK_HOSTS or is_code or host.startswith("www.")):
        # "example.com/abc" is a link; "e.g./x" or "1.5/2" is not: the path must start with a word character
        nxt = text[host_end + 1]
        if not (nxt.isalnum() or nxt in "~_-"):
            return None
    return _balanced_end(text, start, PATH_RE.match(text, host_end, limit).end())  # type: ignore[union-attr]


def _host_start(text: str, dot: int) -> int:
    """Walk back from a host's last dot to the first character of the host name."""
    i = dot
    lo = max(0, dot - 253)
    while i > lo and text[i - 1] in HOST_CHARS:
        i -= 1
    while i < dot and text[i] in "._-" + _HYPHENS:
        i += 1
    return i


def _glued_code_host(text: str, dot: int, tld: str) -> bool:
    """``github.comIowner``: a code host whose following slash was read as a letter."""
    if len(tld) <= 3 or tld[:3] != "com" or tld[3] not in "il":
        return False
    return text[max(0, dot - 6):dot].lower().endswith(("github", "gitlab", "gitee"))


def _anchors(text: str, lo: int, hi: int) -> list[tuple[int, int, int, str]]:
    """(start, anchor end, kind order, kind) of every place in ``text[lo:hi]`` a link may start, in text order.

    ``lo`` and ``hi`` are line starts (or the text's ends): no anchor spans a newline, so a stretch
    gets exactly the anchors a scan of the whole text finds in it (the scans look behind ``lo``).
    """
    found: list[tuple[int, int, int, str]] = []
    # One pass over the slashes finds "//", "/ /" and ":/" (each a possible scheme's end) and, from the
    # "//"s, the URL words holding them: a dot in such a word, within URL_WORD_REACH of its start, is its
    # URL's and no host anchor.  The stretches where dots may begin a host name are kept as (start, end,
    # deep): between the words (deep False), and the part of a word beyond the reach (deep True: a dot
    # there is a URL's only when ``_after_slashes`` says so).
    ranges: list[tuple[int, int, bool]] = []
    previous = lo  # where the stretch after the last word starts
    word_end = -1  # the end of the last word
    for m in SLASH_ANCHOR_RE.finditer(text, lo, hi):
        s, e = m.span()
        if e - s == 1:  # ":/" not followed by a second slash ("http:/x")
            scheme = SCHEME_BEFORE_RE.search(text, max(0, s - 14), s)
            if scheme:
                found.append((scheme.start(), e, 0, "scheme"))
            continue
        # a word starts at a "//" outside the last word: at this match, or after the blank of "/ /"
        word_start = s if e - s == 2 else s + 2
        if word_start >= word_end and text.startswith("//", word_start, hi):
            word_end = WORD_REST_RE.match(text, word_start + 2, hi).end()  # type: ignore[union-attr]
            if word_start > previous:
                ranges.append((previous, word_start, False))
            if word_end - word_start > URL_WORD_REACH + 1:
                ranges.append((word_start + URL_WORD_REACH + 1, word_end, True))
            previous = word_end
        # fast path for the common, clean schemes; the regex handles the garbles
        if text.startswith("https:", s - 6) or text.startswith("http:", s - 5):
            begin = s - 6 if text[s - 2] == "s" else s - 5
            if begin == 0 or not text[begin - 1].isascii() or not text[begin - 1].isalnum():
                found.append((begin, e, 0, "scheme"))
                continue
        scheme = SCHEME_BEFORE_RE.search(text, max(0, s - 14), s)
        if scheme:
            found.append((scheme.start(), e, 0, "scheme"))
    if hi > previous:
        ranges.append((previous, hi, False))
    for m in DOI_RE.finditer(text, lo, hi):
        prefix = (DOI_PREFIX_RE.search(text, max(0, m.start() - 5), m.start())
                  if "doi" in text[max(0, m.start() - 5):m.start()].lower() else None)
        found.append((prefix.start() if prefix else m.start(), m.end(), 1, "doi"))
    # Most dots of a catalog sit inside a URL with a scheme ("//" earlier in the same word) and are no
    # host anchors: the dots are searched only in the ranges, and inside a word only past URL_WORD_REACH,
    # where a dot is a URL's when "//" stands before it in its word (``_after_slashes``).  (Looking back
    # from every dot used to cost more than all the other scans together; skipping the dots of URL words
    # by their spans, one bisect each, still cost 0.3-0.6 us for each of the 32,000 dots of a
    # 10,000-paper catalog's URLs.)  The other dot characters are rare in URLs and everywhere: they are
    # searched in the whole stretch at once (a search per range costs a call per range) and each match
    # is then looked up in the ranges.
    range_starts: list[int] | None = None
    for dot_char, pattern in zip(HOST_DOTS, DOT_TLD_RES, strict=True):
        if text.find(dot_char, lo, hi) == -1:  # the full-width dots are rare: skip their scans
            continue
        if dot_char == ".":
            matches = [(m, deep) for range_start, range_end, deep in ranges
                       for m in pattern.finditer(text, range_start, range_end)]
        else:
            if range_starts is None:
                range_starts = [start for start, _, _ in ranges]
            matches = []
            for m in pattern.finditer(text, lo, hi):
                at = bisect_right(range_starts, m.start()) - 1
                if at >= 0 and m.start() < ranges[at][1]:
                    matches.append((m, ranges[at][2]))
        for m, deep in matches:
            anchor = _host_anchor(text, m)
            if anchor is not None and not (deep and _after_slashes(text, m.start())):
                found.append(anchor)
    found.sort()
    return found


def _host_anchor(text: str, m: re.Match[str]) -> tuple[int, int, int, str] | None:
    """The host anchor of a ``DOT_TLD_RES`` match outside a URL word, or None when its name is no host.

    The "TLD" must be a known one (or a typo of "com", or the letter a glued ``github.comIowner`` has
    for its slash), and the name must start after a character that cannot precede a host.
    """
    dot = m.start()
    tld = m.group(1).lower()
    if tld not in SCHEMELESS_TLDS and tld not in ("corn", "con", "cm") and not _glued_code_host(text, dot, tld):
        return None
    start = _host_start(text, dot)
    if start == dot or (start > 0 and (text[start - 1] in NOT_BEFORE_HOST or text[start - 1].isalnum())):
        return None
    return (start, m.end(), 2, "host")


def _after_slashes(text: str, dot: int) -> bool:
    """A dot with "//" before it in the same word (within ``URL_WORD_REACH``): part of a URL with a scheme.

    Inside a URL word (from a "//" up to a blank) that is true up to ``URL_WORD_REACH`` characters from the word's
    start, and outside such words it is false; beyond the reach it is checked here.
    """
    lo = max(0, dot - URL_WORD_REACH)
    word_start = max(text.rfind(" ", lo, dot), text.rfind("\n", lo, dot), text.rfind("\t", lo, dot))
    return text.find("//", max(word_start, lo), dot) != -1


def _is_namespace(text: str, start: int) -> bool:
    if text.find("xmlns", max(0, start - 40), start) == -1:
        return False
    return bool(NAMESPACE_ATTR_RE.search(text, max(0, start - 40), start))


@dataclass(frozen=True, slots=True)
class Candidates:
    """The link candidates of one stretch of a text (``find_candidates``)."""

    links: tuple[RawLink, ...]
    bracketed_first: str | None
    """The first candidate's text when it stands right after ``](``: a ``[url](url)`` whose link text
    ended the stretch before would have dropped it (see ``after``)."""


def find_in_text(text: str, *, path: str, papers: Sequence[tuple[int, str]] = ()) -> list[RawLink]:
    """Every link candidate in ``text``, in order.

    ``papers`` lists (offset of the paper's heading, paper id), sorted; a
    candidate belongs to the last paper starting before it.  ``path`` is only
    recorded in each ``SourceRef``.
    """
    return list(find_candidates(text, path=path, papers=papers).links)


def find_candidates(
    text: str,
    *,
    path: str,
    papers: Sequence[tuple[int, str]] = (),
    start: int = 0,
    end: int | None = None,
    start_line: int | None = None,
    after: str | None = None,
) -> Candidates:
    """The candidates of ``find_in_text`` that start in ``text[start:end]``.

    ``start`` and ``end`` are line starts (or the text's ends); ``papers`` are the papers starting
    in the stretch, except that candidates before the first of them belong to no paper only when
    ``start`` is 0; ``start_line`` is the line number of ``start`` (counted when not given).
    ``after`` is the last candidate before ``start``: the one a ``[url](url)`` repeat is compared
    with (None: there is none, or it is not known).
    """
    end = len(text) if end is None else end
    cursor = LineCursor(text, start, start_line)
    # the paper of each candidate: candidates come in text order, so the index only moves forward
    paper_offsets = [offset for offset, _ in papers]
    next_paper = 0
    paper_id = None
    found: list[RawLink] = []
    last_text = after
    bracketed_first = None
    consumed = 0
    for begin, anchor_end, _, kind in _anchors(text, start, end):
        if begin < consumed:
            continue
        cursor.advance(begin)
        limit = cursor.line_end
        if kind == "scheme":
            if _is_namespace(text, begin):
                consumed = PATH_RE.match(text, begin, limit).end()  # type: ignore[union-attr]
                continue
            stop, hint = _scheme_extent(text, begin, anchor_end, limit)
            if stop == anchor_end:
                continue
            stop = _balanced_end(text, begin, stop)
        elif kind == "doi":
            stop = _balanced_end(text, begin, PATH_RE.match(text, anchor_end, limit).end())  # type: ignore[union-attr]
            hint = "doi"
        else:
            schemeless_end = _schemeless_extent(text, begin, anchor_end, limit)
            if schemeless_end is None:
                continue
            stop, hint = schemeless_end, "schemeless"
        consumed = stop
        raw = text[begin:stop]
        if begin >= 2 and text[begin - 2:begin] == "](":
            if raw == last_text:
                continue  # [url](url): the link text repeats the target
            if not found:
                bracketed_first = raw
        while next_paper < len(papers) and paper_offsets[next_paper] <= begin:
            paper_id = papers[next_paper][1]
            next_paper += 1
        found.append(RawLink(text=raw, source=SourceRef(path, cursor.line), paper_id=paper_id, hint=hint))
        last_text = raw
        if hint == "url" and text.startswith("](", stop) and text.startswith(raw, stop + 2) \
                and text.startswith(")", stop + 2 + len(raw)) and "(" not in raw and ")" not in raw:
            # [url](url), the way most catalogs write their DOIs: the target, scanned, would end at its ")"
            # and be dropped as a repeat, consuming itself; it is skipped at once instead
            consumed = stop + 2 + len(raw)
    return Candidates(links=tuple(found), bracketed_first=bracketed_first)
