"""Data-driven tests of the finder, the repair rules and the classifier (tests/data/repair_vectors.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linkaudit.extract import extract_text

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "repair_vectors.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", VECTORS["links"], ids=[c["id"] for c in VECTORS["links"]])
def test_garbled_link_is_found_and_repaired(case: dict) -> None:
    """Each garbled text yields exactly one link with the expected URL, rules, kind, key and confidence."""
    _, links = extract_text(case["text"], "vector.md")
    assert len(links) == 1, [link.url for link in links]
    link = links[0]
    assert link.url == case["url"]
    assert [r.rule for r in link.repairs] == case["rules"]
    assert link.kind.value == case["kind"]
    assert link.key == case["key"]
    assert link.confidence.value == case["confidence"]
    assert link.original.strip() in case["text"].replace("\\", "\\")
    if "suggestion" in case:
        assert case["suggestion"] in link.suggestions
        assert link.notes


@pytest.mark.parametrize("case", VECTORS["noise"], ids=[c["id"] for c in VECTORS["noise"]])
def test_noise_is_never_a_link(case: dict) -> None:
    """Namespaces, prose domains, file names, e-mail addresses and math never become links."""
    _, links = extract_text(case["text"], "noise.md")
    assert [link.url for link in links] == []


def test_repaired_url_is_idempotent() -> None:
    """Feeding each repaired URL back through the extractor changes nothing and records no repair."""
    for case in VECTORS["links"]:
        _, links = extract_text(case["url"], "again.md")
        assert [link.url for link in links] == [case["url"]], case["id"]
        assert [r.rule for r in links[0].repairs if r.rule != "missing-scheme"] == [], case["id"]
