"""Property tests of the finder and the repairer (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkaudit.extract import extract_text
from linkaudit.model import RawLink, SourceRef
from linkaudit.repair import repair_link

# Text biased towards the characters links and garbles are made of.
URLISH = st.text(
    alphabet=st.sampled_from([*list("htps:/. ,;()[]<>\"'-_~#?=&githubcomio1lI0\n\t\\{}"), "\u200b", "：", "‐"]),
    max_size=120,
)
CLEAN_URL = st.builds(
    lambda host, tld, owner, repo: f"https://{host}.{tld}/{owner}/{repo}",
    st.from_regex(r"[a-z][a-z0-9]{2,12}", fullmatch=True),
    st.sampled_from(["com", "org", "net", "io", "edu"]),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,10}[A-Za-z0-9]", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,15}[A-Za-z0-9]", fullmatch=True),
)


# Catalog-shaped fragments, so the fuzzing also reaches headings, fields and footnotes.
FRAGMENTS = st.lists(
    st.one_of(
        URLISH,
        st.sampled_from(["https://", "ht tps: / / ", "github.com/", "## [1] T\n", "**URL**: ", "**Authors**: *",
                         "10.1109/", "www.", "git.io/", ".github.io", "](", "<sup>1</sup>\n", "]", "[", "xmlns=\""]),
    ),
    max_size=30,
).map("".join)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), URLISH, FRAGMENTS))
def test_extractor_never_crashes_and_emits_absolute_urls(text: str) -> None:
    """On arbitrary text the extractor returns, and every link is absolute http(s)."""
    _, links = extract_text(text, "fuzz.md")
    for link in links:
        assert link.url.startswith(("http://", "https://"))
        assert not any(c.isspace() for c in link.url)


@settings(max_examples=200)
@given(CLEAN_URL)
def test_repairing_a_clean_url_changes_nothing(url: str) -> None:
    """A clean absolute URL comes out unchanged, with no repair recorded."""
    repaired = repair_link(RawLink(url, SourceRef("p", 1), None, "url"))
    assert repaired is not None
    assert repaired.url == url
    assert repaired.repairs == ()


@settings(max_examples=200)
@given(CLEAN_URL, st.sampled_from([".", ",", ";", ").", ".,"]))
def test_repair_is_idempotent(url: str, tail: str) -> None:
    """Repairing the output of a repair changes nothing more."""
    once = repair_link(RawLink(url + tail, SourceRef("p", 1), None, "url"))
    assert once is not None
    twice = repair_link(RawLink(once.url, SourceRef("p", 1), None, "url"))
    assert twice is not None and twice.url == once.url and twice.repairs == ()


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=".,\uff0e\u3002\uff0c"),
               max_size=200))
def test_text_without_a_dot_yields_no_links(text: str) -> None:
    """Every link needs a host with a dot (or a comma read for one): text without them yields nothing."""
    _, links = extract_text(text, "prose.md")
    assert links == ()
