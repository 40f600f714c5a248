"""The extractor on the real catalog page: counts, ties to papers, repairs, claims, no invented links."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from linkaudit.extract import extract_paths
from linkaudit.model import CodeClaim, Confidence, Extraction, Kind


@pytest.fixture(scope="module")
def extraction() -> Extraction:
    """The sample extracted once for the whole module."""
    return extract_paths([str(Path(__file__).parent.parent.parent / "examples" / "cvpr-2022-list06.md")])


def _by_paper(extraction: Extraction, paper: str) -> list:
    return [link for link in extraction.links if link.paper_id == paper and link.kind is not Kind.DOI]


def test_two_hundred_papers_with_fields(extraction: Extraction) -> None:
    """All 200 papers are parsed with id, title, authors, venue, DOI and heading line."""
    assert len(extraction.papers) == 200
    first = extraction.papers[0]
    assert (first.id, first.title, first.venue, first.doi) == (
        "1000", "The Flag Median and FlagIRLS", "cvpr 2022", "10.1109/CVPR52688.2022.01009"
    )
    assert first.authors == ("Nathan Mankovich", "Emily J. King", "Chris Peterson", "Michael Kirby")
    assert first.source.line == 1
    assert extraction.papers[-1].id == "1199"
    assert all(p.doi and p.venue and p.authors and p.title for p in extraction.papers)
    assert len({p.id for p in extraction.papers}) == 200


def test_two_hundred_doi_links(extraction: Extraction) -> None:
    """Every paper's DOI is a link of kind doi with the doi.org URL and a lower-cased key."""
    dois = [link for link in extraction.links if link.kind is Kind.DOI]
    assert len(dois) == 200
    assert len({link.paper_id for link in dois}) == 200
    link = dois[0]
    assert link.url == "https://doi.org/10.1109/CVPR52688.2022.01009"
    assert link.key == "doi:10.1109/cvpr52688.2022.01009"


def test_code_and_project_links_found_once_per_paper(extraction: Extraction) -> None:
    """102 code/project links across 98 papers, none duplicated within a paper."""
    code = [link for link in extraction.links if link.kind is not Kind.DOI]
    assert len(code) == 102
    assert len({link.paper_id for link in code}) == 98
    pairs = Counter((link.paper_id, link.url) for link in code)
    assert max(pairs.values()) == 1
    assert len(_by_paper(extraction, "1058")) == 3
    assert len(_by_paper(extraction, "1057")) == 2
    assert len(_by_paper(extraction, "1177")) == 2


def test_no_invented_links(extraction: Extraction) -> None:
    """No w3.org namespace, no prose domain (amazon.com in 1197, alphamatting.com in 1132)."""
    urls = [link.url for link in extraction.links]
    assert not [u for u in urls if "w3.org" in u]
    assert _by_paper(extraction, "1197") == []
    assert _by_paper(extraction, "1132")[0].url == "https://dongdong93.github.io/RMat/"
    assert len(_by_paper(extraction, "1132")) == 1
    assert all(u.startswith(("http://", "https://")) for u in urls)


@pytest.mark.parametrize(
    ("paper", "url", "rules", "line"),
    [
        ("1058", "https://github.com/megvii-research/DynamicMLPForFinegrained", {"scheme", "host-typo"}, 849),
        ("1089", "https://github.com/MaxwellYaoNi/LCSAGAN", {"host-typo"}, 1312),
        ("1121", "https://github.com/lslrh/CPSL", {"spaced-url"}, 1782),
        ("1189", "https://github.com/MengLcool/AdaViT", {"spaced-url"}, 2778),
        ("1073", "https://github.com/zengwang430521/TCFormer", {"trailing-git"}, 1065),
        ("1150", "https://github.com/Euphoria16/Shapley-NAS", {"trailing-git"}, 2199),
        ("1094", "https://masked-generative-image-transformer.github.io", {"missing-scheme"}, 1387),
        ("1102", "http://gauravparmar.com/sam_inversion", {"missing-scheme"}, 1504),
        ("1108", "https://git.io/RePaint", {"missing-scheme"}, 1588),
        ("1018", "http://fallen-object.csail.mit.edu", {"trailing-punctuation"}, 272),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isdigit() else None,
)
def test_real_garbles_repaired(extraction: Extraction, paper: str, url: str, rules: set, line: int) -> None:
    """Each garbled link of the sample is repaired on its real line with the expected rules."""
    matches = [link for link in _by_paper(extraction, paper) if link.url == url]
    assert len(matches) == 1, [link.url for link in _by_paper(extraction, paper)]
    assert rules <= {r.rule for r in matches[0].repairs}
    assert matches[0].source.line == line


@pytest.mark.parametrize(
    ("paper", "suggestion"),
    [
        ("1049", "https://github.com/OliverRen/Shunted-Transformer"),
        ("1147", "https://github.com/nutellamok/DemystifyingNTK"),
        ("1156", "https://github.com/megvii-research/mdistiller"),
        ("1059", "https://www.nec-labs.com/~mas/DYMU"),
    ],
)
def test_suspect_links_get_low_confidence_and_suggestions(extraction: Extraction, paper: str, suggestion: str) -> None:
    """Links that cannot be repaired with certainty are low-confidence with the right candidate suggested."""
    (link,) = _by_paper(extraction, paper)
    assert link.confidence is Confidence.LOW
    assert suggestion in link.suggestions
    assert link.notes


def test_footnote_links_tied_to_their_paper(extraction: Extraction) -> None:
    """URLs standing on their own line after <sup> tags belong to the paper above them."""
    (link,) = _by_paper(extraction, "1169")
    assert link.url == "https://github.com/facebookresearch/HRViT"
    assert link.source.line == 2486
    urls = {link.url for link in _by_paper(extraction, "1177")}
    assert urls == {
        "https://github.com/huawei-noah/noah-research",
        "https://gitee.com/mindspore/models/tree/master/research/cv/TokenFusion",
    }


def test_code_claims(extraction: Extraction) -> None:
    """Exactly the five papers that claim code without a link are flagged; 98 are linked."""
    claims = Counter(p.code for p in extraction.papers)
    assert claims[CodeClaim.LINKED] == 98
    assert sorted(p.id for p in extraction.papers if p.code is CodeClaim.CLAIMED_NO_LINK) == [
        "1072", "1084", "1173", "1187", "1198"
    ]


def test_high_confidence_for_clean_links(extraction: Extraction) -> None:
    """Clean links stay high-confidence; only the garbled or suspect ones are lowered."""
    lowered = sorted(link.paper_id for link in extraction.links if link.confidence is not Confidence.HIGH)
    assert lowered == ["1049", "1058", "1059", "1089", "1121", "1147", "1156", "1189"]


def test_clean_doi_fast_path_matches_the_general_pipeline(sample_text: str) -> None:
    """Clean doi.org URLs skip repair and classification, with exactly the result the full pipeline gives."""
    from linkaudit.classify import classify_url
    from linkaudit.extract import CLEAN_DOI_URL_RE
    from linkaudit.find import find_in_text
    from linkaudit.repair import repair_link

    checked = 0
    for raw in find_in_text(sample_text, path="x.md"):
        if CLEAN_DOI_URL_RE.fullmatch(raw.text):
            repaired = repair_link(raw)
            assert repaired is not None and repaired.url == raw.text and repaired.repairs == ()
            assert classify_url(repaired.url) == (Kind.DOI, "doi:" + raw.text.split("/", 3)[3].lower())
            checked += 1
    assert checked == 200
