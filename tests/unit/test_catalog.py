"""Catalog parsing and input decoding: the variations a real catalog has."""

from __future__ import annotations

import pytest

from linkaudit.catalog import parse_catalog
from linkaudit.errors import InputError
from linkaudit.extract import decode_bytes, extract_text
from linkaudit.model import CodeClaim

ENTRY = """## [{id}] {title}

**Authors**: *Ada Lovelace, Charles Babbage*

**Conference**: *{venue}*

**URL**: [{url}]({url})

**Abstract**:

{abstract}

----
"""


def _entry(id: str = "7", title: str = "A Title", venue: str = "iclr 2021",
           url: str = "https://doi.org/10.1000/xyz", abstract: str = "Nothing here.") -> str:
    return ENTRY.format(id=id, title=title, venue=venue, url=url, abstract=abstract)


def test_fields_and_lines() -> None:
    """Id, title, authors, venue, DOI and the heading's line are read from a standard entry."""
    text = "# Catalog\n\n" + _entry() + "\n" + _entry(id="8", title="Second")
    spans = parse_catalog(text, "c.md")
    assert [s.paper.id for s in spans] == ["7", "8"]
    paper = spans[0].paper
    assert paper.title == "A Title"
    assert paper.authors == ("Ada Lovelace", "Charles Babbage")
    assert paper.venue == "iclr 2021"
    assert paper.doi == "10.1000/xyz"
    assert paper.source.line == 3
    assert spans[1].paper.source.line == 3 + _entry().count("\n") + 1


def test_openreview_url_is_a_web_link_not_a_doi() -> None:
    """A proceedings/OpenReview URL line gives no DOI but is still a link of the paper."""
    papers, links = extract_text(_entry(url="https://openreview.net/forum?id=abc123"), "c.md")
    assert papers[0].doi is None
    assert papers[0].url == "https://openreview.net/forum?id=abc123"
    assert [(link.kind.value, link.paper_id) for link in links] == [("web", "7")]
    assert papers[0].code is CodeClaim.NONE


def test_other_heading_levels_and_missing_fields() -> None:
    """Any heading level works and missing fields are simply absent."""
    text = "### [0] Only a title\n\nSome text with https://github.com/a/b.\n\n#### [1] Another\n"
    papers, links = extract_text(text, "c.md")
    assert [(p.id, p.title, p.authors, p.venue, p.doi) for p in papers] == [
        ("0", "Only a title", (), None, None), ("1", "Another", (), None, None)
    ]
    assert [(link.paper_id, link.url) for link in links] == [("0", "https://github.com/a/b")]
    assert papers[0].code is CodeClaim.LINKED


def test_plain_markdown_file_links_have_no_paper() -> None:
    """An awesome list or README yields its links with paper None."""
    text = "# Awesome\n\n- [Repo](https://github.com/x/y)\n- <https://example.org/page>\n"
    papers, links = extract_text(text, "README.md")
    assert papers == ()
    assert [(link.paper_id, link.url, link.source.line) for link in links] == [
        (None, "https://github.com/x/y", 3), (None, "https://example.org/page", 4)
    ]


def test_crlf_bom_and_invalid_utf8_are_tolerated() -> None:
    """CRLF line ends, a BOM and invalid bytes decode (with a warning for the bytes), lines stay right."""
    raw = ("\ufeff" + _entry(abstract="Code: https://github.com/a/b")).replace("\n", "\r\n").encode("utf-8")
    raw = raw.replace(b"Nothing", b"No\xffthing") + b"caf\xe9\r\n"
    text, warnings = decode_bytes(raw, "c.md")
    assert "\r" not in text and not text.startswith("\ufeff")
    assert len(warnings) == 1 and "c.md" in warnings[0]
    papers, links = extract_text(text, "c.md")
    assert papers[0].id == "7" and papers[0].source.line == 1
    assert [link.source.line for link in links] == [7, 11]


def test_utf16_with_bom_is_text() -> None:
    """A UTF-16 file with a BOM is decoded, not rejected as binary."""
    text, warnings = decode_bytes(_entry().encode("utf-16"), "c.md")
    assert text.startswith("## [7]") and warnings == ()


def test_stray_control_byte_is_still_text() -> None:
    """A backspace left by a mangled \\beta does not make the file binary."""
    text, _ = decode_bytes(_entry(abstract="with \x08eta = 0.5 and https://github.com/a/b").encode(), "c.md")
    _, links = extract_text(text, "c.md")
    assert [link.url for link in links][-1] == "https://github.com/a/b"


@pytest.mark.parametrize("data", [b"\x00\x01\x02ELF" * 100, bytes(range(0, 32)) * 50], ids=["nul", "controls"])
def test_binary_is_rejected(data: bytes) -> None:
    """Binary input raises InputError naming the path."""
    with pytest.raises(InputError, match=r"bin\.dat"):
        decode_bytes(data, "bin.dat")


@pytest.mark.parametrize(
    ("abstract", "claim"),
    [
        ("The code will be made publicly available.", CodeClaim.CLAIMED_NO_LINK),
        ("Code and models are available at here.", CodeClaim.CLAIMED_NO_LINK),
        ("An efficient implementation of the algorithm is available online.", CodeClaim.CLAIMED_NO_LINK),
        ("We will make it publicly available.", CodeClaim.CLAIMED_NO_LINK),
        ("We evaluate on two publicly available datasets.", CodeClaim.NONE),
        ("In the data-free case where no real images are available.", CodeClaim.NONE),
        ("The code is not available for commercial reasons.", CodeClaim.NONE),
        ("Code is available at https://github.com/a/b.", CodeClaim.LINKED),
    ],
)
def test_code_claims(abstract: str, claim: CodeClaim) -> None:
    """Claims need a subject and 'is/are/will be available' or 'make ... available'; data mentions do not count."""
    papers, _ = extract_text(_entry(abstract=abstract), "c.md")
    assert papers[0].code is claim


def test_url_field_that_urllib_rejects_does_not_crash() -> None:
    """A **URL** field like 'http://]' (urllib: invalid IPv6) yields no DOI and no crash (found by fuzzing)."""
    papers, links = extract_text("## [1] T\n**URL**: http://]\n", "c.md")
    assert papers[0].doi is None and links == ()
