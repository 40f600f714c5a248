"""Code claims: a paper's abstract + its links -> ``CodeClaim``.

``linked`` when the abstract carries any code/project link; ``claimed-no-link``
when it says code, models or data *are* or *will be* available/released but
gives no usable link ("available at here.", "available online"); else ``none``.
Mentions of other people's public data ("on two publicly available datasets")
are not claims: the pattern needs a copula or "make ... available".
"""

from __future__ import annotations

import re

from .model import CodeClaim

_TAG_RE = re.compile(r"<[^>]{0,400}>")
_SUBJECT = (
    r"(?:source\s+)?codes?|implementations?|models?|checkpoints?|weights|datasets?|data|software|toolbox|"
    r"library|benchmark|project|demos?|pre-?trained\s+models?|it|them|all"
)
_COPULA = r"(?:is|are|will\s+be|would\s+be|shall\s+be|has\s+been|have\s+been|to\s+be|can\s+be|be)"
CLAIM_RES = (
    # "Code and models are available at here.", "The code will be made publicly available."
    re.compile(
        rf"\b(?:{_SUBJECT})\b(?!-)[^.;]{{0,80}}?\b{_COPULA}\s+(?:made\s+)?(?:(?:publicly|freely|openly|fully)\s+)?"
        r"(?:available|released|open[- ]?sourced|public)\b",
        re.IGNORECASE,
    ),
    # "we will make it publicly available", "we make our code and data available"
    re.compile(
        r"\bmake\s+(?:(?:it|them|our|the|all|this|these|both|code|codes|source|models?|data|datasets?|and|"
        r"pre-?trained|implementation)\s+){1,6}(?:(?:publicly|freely|openly)\s+)?available\b",
        re.IGNORECASE,
    ),
)
_NEGATION_RE = re.compile(r"\b(?:not|never|no|none|neither|nor|no longer|un-?available)\b", re.IGNORECASE)


# Every claim holds one of these words.  They are found with str.find on the lower-cased text (a
# case-insensitive regex alternation over every abstract is ~50x slower); only the text around each
# is searched with the full patterns.
_PREDICATE_WORDS = ("availab", "releas", "open-sourc", "open sourc", "opensourc", "public")
_PREDICATE_WORDS_NOT_SOURCE = tuple(word for word in _PREDICATE_WORDS if "sourc" not in word)
_CODE_COLON_RE = re.compile(r"codes?\s*(?::|is\s+at|are\s+at)\s")


def _positions(lower: str, word: str) -> list[int]:
    found, start = [], 0
    while (index := lower.find(word, start)) != -1:
        found.append(index)
        start = index + 1
    return found


def claims_code(abstract: str) -> bool:
    """True when the abstract says the authors' code/models/data are or will be available."""
    text = _TAG_RE.sub(" ", abstract) if "<" in abstract else abstract
    lower = text.lower()
    # the three spellings of "open source" need "sourc": one scan instead of three for most abstracts
    words = _PREDICATE_WORDS if "sourc" in lower else _PREDICATE_WORDS_NOT_SOURCE
    for word in words:
        for index in _positions(lower, word):
            window = text[max(0, index - 160):index + 40]
            # the second pattern needs "make" (in any case), which most windows lack
            for pattern in CLAIM_RES if "make" in window.lower() else CLAIM_RES[:1]:
                for match in pattern.finditer(window):
                    if not _NEGATION_RE.search(match.group()):
                        return True
    for index in _positions(lower, "code"):
        if (index == 0 or not lower[index - 1].isalnum()) and _CODE_COLON_RE.match(lower, index):
            return True
    return False


def code_claim(abstract: str, *, has_link: bool) -> CodeClaim:
    """The paper's ``CodeClaim`` from its abstract and whether any code/project link was found in it."""
    if has_link:
        return CodeClaim.LINKED
    return CodeClaim.CLAIMED_NO_LINK if claims_code(abstract) else CodeClaim.NONE
