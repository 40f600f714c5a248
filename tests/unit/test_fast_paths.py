"""The extractor's fast paths give exactly what the general paths they skip would give."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from linkaudit import catalog, find
from linkaudit.classify import PLAIN_URL_RE, split_plain_url
from linkaudit.extract import extract_text
from linkaudit.find import find_in_text
from linkaudit.hosts import SCHEMELESS_TLDS, nearest_code_host
from linkaudit.model import (
    CodeClaim,
    Confidence,
    Extraction,
    Kind,
    Link,
    LinkKey,
    Paper,
    RawLink,
    Repair,
    SourceRef,
)
from linkaudit.repair import RepairedLink, is_valid_host, repair_garbled, repair_link
from linkaudit.report.extraction import link_record, link_to_dict, paper_record, paper_to_dict, render_json

URL_TEXT = st.builds(
    lambda scheme, host, rest, tail: f"{scheme}://{host}{rest}{tail}",
    st.sampled_from(["http", "https", "HTTPS", "hxxp"]),
    st.sampled_from(["github.com", "x.github.io", "Diff-AE.github.io", "gitlab.com", "glthub.com", "example.org",
                     "a.b.verylongtld", "github.comlx.abcdef", "doi.org", "1.2.3.4", "ex-ample.co.uk",
                     "127.0.0.2:41145", "example.org:8080", "example.org:99999", "999.1.1.1:0", "github.com:443",
                     "1.2.3.4.5", "x.github.io:80", "example.org:"]),
    st.lists(st.sampled_from([*"/abcAB09-_.~?#=&()%:@[]!", ".git", ".GIT", "/tree/main", " "]), max_size=12).map("".join),
    st.sampled_from(["", ".", ",", ").", ".,", ";", "_", "*", ")", "]", "'"]),
)


# The fast path's pattern as it was (no port): URLs with a port, and IPv4 hosts, went the general path.
_FIRST_CLEAN_URL_RE = re.compile(r"https?://(?P<host>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?:[/?#][!-~]*)?")


def _first_fast_path(raw: RawLink) -> RepairedLink | None:
    """``repair_link`` as it was before the fast path took URLs with a tail or a ``.github.io`` host.

    That fast path is kept as it was, including one case where it differs from the general path:
    a host such as ``github.comlx.abcdef`` (a glued code host before a 4 to 6 letter TLD outside
    the list) is left alone instead of being split.
    """
    text = raw.text
    clean = _FIRST_CLEAN_URL_RE.fullmatch(text) if raw.hint != "doi" else None
    if clean is not None:
        host = clean.group("host")
        tld = host.rsplit(".", 1)[-1].lower()
        if ((text[-1].isalnum() or text[-1] == "/") and ".git" not in text
                and (tld in SCHEMELESS_TLDS or (2 <= len(tld) <= 6 and tld.isalpha()))
                and nearest_code_host(host) is None and is_valid_host(host)):
            return RepairedLink(url=text, original=text, source=raw.source, paper_id=raw.paper_id, repairs=(),
                                confidence=Confidence.HIGH)
    return repair_garbled(raw)


@settings(max_examples=500)
@given(URL_TEXT, st.sampled_from(["url", "spaced", "schemeless"]))
def test_clean_url_fast_path_repairs_as_before(text: str, hint: str) -> None:
    """A clean URL, maybe with sentence punctuation after it, comes out as it did before (the general path)."""
    raw = RawLink(text, SourceRef("p.md", 3), "7", hint)
    assert repair_link(raw) == _first_fast_path(raw)


def test_every_sample_link_repairs_as_the_general_path(sample_text: str) -> None:
    """On the real catalog, the fast path and the general path agree for every candidate."""
    raws = find_in_text(sample_text, path="s.md")
    assert len(raws) == 302
    for raw in raws:
        assert repair_link(raw) == repair_garbled(raw), raw.text


PLAIN_URL = st.builds(
    lambda scheme, host, rest: f"{scheme}://{host}{rest}",
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[A-Za-z0-9.-]{1,20}(?::[0-9]{1,5})?", fullmatch=True),
    st.one_of(st.just(""), st.builds(lambda first, tail: first + tail, st.sampled_from(list("/?#")),
                                     st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=30))),
)


@settings(max_examples=1000)
@given(PLAIN_URL)
def test_plain_url_split_equals_urlsplit(url: str) -> None:
    """A plain URL is split as urlsplit splits it, host lower-cased without its trailing dot."""
    plain = PLAIN_URL_RE.fullmatch(url)
    assert plain is not None
    parts = urlsplit(url)
    assert split_plain_url(plain) == (parts, (parts.hostname or "").rstrip("."))


# Text where the look-behind of the old DOI pattern and "//" before dots matter (words longer than the reach too).
ANCHOR_TEXT = st.lists(
    st.sampled_from([*"10./-_a x\n:", "10.1234/", "//", "https://", "doi:", "x.org", ".com", " ", "\t", "w" * 120]),
    max_size=40,
).map("".join)
LOOKBEHIND_DOI_RE = re.compile(r"(?<![\w./-])10\.\d{4,9}/(?=\S)")
# A URL word as find._anchors reads it off its "//" matches: from a "//" up to a space, tab or newline.
URL_WORD_RE = re.compile(r"//[^ \t\n]*")


@settings(max_examples=1000)
@given(ANCHOR_TEXT)
def test_doi_pattern_equals_the_leading_look_behind_form(text: str) -> None:
    """The DOI pattern with its look-behind after the literal matches where the leading look-behind did."""
    assert [m.span() for m in find.DOI_RE.finditer(text)] == [m.span() for m in LOOKBEHIND_DOI_RE.finditer(text)]


@settings(max_examples=1000)
@given(ANCHOR_TEXT)
def test_url_words_decide_dots_as_looking_back_did(text: str) -> None:
    """A dot inside a "//" word (within reach) is exactly a dot with "//" before it in its word."""
    words = [m.span() for m in URL_WORD_RE.finditer(text)]
    for dot in (i for i, ch in enumerate(text) if ch == "."):
        word = bisect_right([end for _, end in words], dot)
        if word < len(words) and words[word][0] <= dot:
            if dot - words[word][0] <= find.URL_WORD_REACH:  # beyond the reach, _anchors asks _after_slashes
                assert find._after_slashes(text, dot)
        else:
            assert not find._after_slashes(text, dot)


def _host_anchors_by_bisect(text: str, lo: int, hi: int) -> list[tuple[int, int, int, str]]:
    """The host anchors of ``find._anchors`` as they were found: every dot, then the "//" words' spans bisected."""
    words = [m.span() for m in URL_WORD_RE.finditer(text, lo, hi)]
    starts, ends = [start for start, _ in words], [end for _, end in words]
    found = []
    for pattern in find.DOT_TLD_RES:
        for m in pattern.finditer(text, lo, hi):
            dot = m.start()
            word = bisect_right(ends, dot)
            if word < len(words) and starts[word] <= dot and (
                    dot - starts[word] <= find.URL_WORD_REACH or find._after_slashes(text, dot)):
                continue
            anchor = find._host_anchor(text, m)
            if anchor is not None:
                found.append(anchor)
    return sorted(found)


HOST_TEXT = st.lists(
    st.sampled_from(["//", "https://", "x.org", ".com", ".io", "github.comIa", ",org", "\uff0eorg", " ", "\n", "\t",
                     "see ", "a", "-", "/", "w" * 150, "github", "x.github.io/y", "."]),
    max_size=40,
).map("".join)


@settings(max_examples=1500)
@given(HOST_TEXT, st.integers(0, 3))
def test_host_anchors_outside_url_words_equal_the_bisect_form(text: str, cut: int) -> None:
    """Searching dots only outside "//" words (and past the reach inside them) finds the anchors every dot
    with its word looked up found, on the whole text and on a stretch starting at a line start."""
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    lo = starts[min(cut, len(starts) - 1)]
    for a, b in ((0, len(text)), (lo, len(text))):
        hosts = [anchor for anchor in find._anchors(text, a, b) if anchor[3] == "host"]
        assert hosts == _host_anchors_by_bisect(text, a, b)


SLASHES_RE = re.compile(r"/[ \t]?/")
SINGLE_SLASH_RE = re.compile(r":/(?![ \t]?/)")


def _outside_url_words(text: str, lo: int, hi: int) -> list[tuple[int, int, bool]]:
    """(start, end, deep) of the stretches of ``text[lo:hi]`` where a dot may begin a host name.

    The stretches between the words that hold "//" (``URL_WORD_RE``) have ``deep`` False; the part of
    such a word beyond ``find.URL_WORD_REACH`` characters from its start has ``deep`` True (a dot there is a
    URL's only when ``_after_slashes`` says so).  A dot of a word within the reach is in none.
    ``find._anchors`` computes the same in its pass over the slashes; this is the reference it is tested with.
    """
    ranges: list[tuple[int, int, bool]] = []
    previous = lo
    for m in URL_WORD_RE.finditer(text, lo, hi):
        word_start, word_end = m.span()
        if word_start > previous:
            ranges.append((previous, word_start, False))
        if word_end - word_start > find.URL_WORD_REACH + 1:
            ranges.append((word_start + find.URL_WORD_REACH + 1, word_end, True))
        previous = word_end
    if hi > previous:
        ranges.append((previous, hi, False))
    return ranges


def _anchors_by_separate_scans(text: str, lo: int, hi: int) -> list[tuple[int, int, int, str]]:
    """``find._anchors`` as it was before its slash pass found "//", "/ /", ":/" and the URL words at once:
    a scan per pattern, the URL words by URL_WORD_RE, every dot character searched range by range."""
    found: list[tuple[int, int, int, str]] = []
    for m in SLASHES_RE.finditer(text, lo, hi):
        s = m.start()
        if text.startswith("https:", s - 6) or text.startswith("http:", s - 5):
            begin = s - 6 if text[s - 2] == "s" else s - 5
            if begin == 0 or not text[begin - 1].isascii() or not text[begin - 1].isalnum():
                found.append((begin, m.end(), 0, "scheme"))
                continue
        scheme = find.SCHEME_BEFORE_RE.search(text, max(0, s - 14), s)
        if scheme:
            found.append((scheme.start(), m.end(), 0, "scheme"))
    for m in SINGLE_SLASH_RE.finditer(text, lo, hi):
        scheme = find.SCHEME_BEFORE_RE.search(text, max(0, m.start() - 13), m.start() + 1)
        if scheme:
            found.append((scheme.start(), m.end(), 0, "scheme"))
    for m in find.DOI_RE.finditer(text, lo, hi):
        prefix = (find.DOI_PREFIX_RE.search(text, max(0, m.start() - 5), m.start())
                  if "doi" in text[max(0, m.start() - 5):m.start()].lower() else None)
        found.append((prefix.start() if prefix else m.start(), m.end(), 1, "doi"))
    ranges = _outside_url_words(text, lo, hi)
    for pattern in find.DOT_TLD_RES:
        for range_start, range_end, deep in ranges:
            for m in pattern.finditer(text, range_start, range_end):
                anchor = find._host_anchor(text, m)
                if anchor is not None and not (deep and find._after_slashes(text, m.start())):
                    found.append(anchor)
    found.sort()
    return found


SLASH_TEXT = st.lists(
    st.sampled_from(["//", "/", "/ /", "/\t/", ":/", "http:/", "https:/ /", "ht tp: / /", "httpsr//", "h", "s", ":",
                     " ", "\n", "\t", "x.org", ",com", ",org", "\uff0eorg", "\u3002io", "github.comIa", ".", ",", "10.1234/",
                     "doi:", "w" * 150, "-", "see "]),
    max_size=40,
).map("".join)


@settings(max_examples=3000)
@given(SLASH_TEXT, st.integers(0, 3))
def test_anchors_equal_the_separate_scans(text: str, cut: int) -> None:
    """One slash pass (schemes, spaced schemes, ":/", URL words) and whole-stretch scans of the rare dot
    characters find exactly the anchors of a scan per pattern, on the whole text and on a stretch."""
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    lo = starts[min(cut, len(starts) - 1)]
    for a, b in ((0, len(text)), (lo, len(text)), (0, lo)):
        assert find._anchors(text, a, b) == _anchors_by_separate_scans(text, a, b)


def test_anchors_equal_the_separate_scans_on_the_sample(sample_text: str) -> None:
    """The same on the real sample page and on it with every dot of its URLs' hosts made a comma or a
    full-width dot (those searches then have matches inside and outside URL words)."""
    garbled = re.sub(r"(?<=[a-z])\.(?=(?:com|org|io|net)\b)", lambda m: ",\uff0e\u3002"[m.start() % 3], sample_text)
    for text in (sample_text, garbled):
        assert find._anchors(text, 0, len(text)) == _anchors_by_separate_scans(text, 0, len(text))


def test_host_anchors_at_the_edge_of_the_reach() -> None:
    """Dots around URL_WORD_REACH characters into a "//" word, with and without another "//" before them."""
    reach = find.URL_WORD_REACH
    for k in range(reach - 6, reach + 6):
        for text in (f"//{'a' * k}.com/x", f"//{'a' * k}(x.com", f"//{'a' * (k - 2)}(x.com", f"see //{'a' * k}x.github.io y",
                     f"//a//{'b' * k}(z.org z.org", f"//{'c' * (k - 10)}//{'d' * 8}(e.io"):
            hosts = [anchor for anchor in find._anchors(text, 0, len(text)) if anchor[3] == "host"]
            assert hosts == _host_anchors_by_bisect(text, 0, len(text)), (k, text)


STRINGS = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=300)
@given(STRINGS, st.lists(STRINGS, max_size=3), st.one_of(st.none(), STRINGS), st.integers(1, 10**6),
       st.sampled_from(list(CodeClaim)), st.sampled_from(list(Kind)), st.sampled_from(list(Confidence)),
       st.lists(st.tuples(STRINGS, STRINGS), max_size=2))
def test_records_equal_the_json_encoder(text: str, items: list[str], maybe: str | None, line: int, code: CodeClaim,
                                        kind: Kind, confidence: Confidence, repairs: list[tuple[str, str]]) -> None:
    """Records built field by field are byte for byte what json's encoder makes of the record dicts."""
    encode = json.JSONEncoder(ensure_ascii=False).encode
    paper = Paper(id=text, title=text[::-1], authors=tuple(items), venue=maybe, doi=maybe, source=SourceRef(text, line),
                  code=code, url=maybe)
    assert paper_record(paper) == encode(paper_to_dict(paper))
    link = Link(url=text, original=text + "x", kind=kind, key=LinkKey(text), paper_id=maybe, source=SourceRef(text, line),
                repairs=tuple(Repair(r, d) for r, d in repairs), confidence=confidence, suggestions=tuple(items),
                notes=tuple(items[:1]))
    assert link_record(link) == encode(link_to_dict(link))


def test_document_equals_the_dict_rendering(sample_text: str) -> None:
    """The whole JSON document is what the former dict-per-record rendering wrote."""
    papers, links = extract_text(sample_text, "s.md")
    extraction = Extraction(papers=papers, links=links, warnings=("w",))
    encode = json.JSONEncoder(ensure_ascii=False).encode
    from linkaudit.report.extraction import summarize

    head = {"schema": "linkaudit.extract/1", "summary": summarize(extraction), "warnings": ["w"]}
    parts = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in head.items()]
    parts.append('  "papers": [\n    ' + ",\n    ".join(encode(paper_to_dict(p)) for p in papers) + "\n  ]")
    parts.append('  "links": [\n    ' + ",\n    ".join(encode(link_to_dict(x)) for x in links) + "\n  ]")
    assert render_json(extraction) == "{\n" + ",\n".join(parts) + "\n}\n"
    empty = Extraction(papers=(), links=())
    assert json.loads(render_json(empty))["papers"] == [] and '"links": []\n}' in render_json(empty)


def _clean_inline_by_marks(text: str) -> str:
    """``catalog._clean_inline`` as it was: each mark tried in turn, longest first."""
    text = text.strip()
    for mark in {"*": ("***", "**", "*"), "_": ("__", "_")}.get(text[:1], ()):
        if len(text) > 2 * len(mark) and text.startswith(mark) and text.endswith(mark):
            return text[len(mark):-len(mark)].strip()
    return text


@settings(max_examples=2000)
@given(st.lists(st.sampled_from([*"*_ \tax", "**", "***", "__", "Nathan Mankovich, Emily J. King"]), max_size=12)
       .map("".join))
def test_emphasis_stripped_as_mark_by_mark(value: str) -> None:
    """A field value loses the same emphasis as when each mark was tried in turn."""
    assert catalog._clean_inline(value) == _clean_inline_by_marks(value)
