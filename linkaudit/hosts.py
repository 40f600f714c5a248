"""Static knowledge about hosts and domain names, shared by the finder, the repairer and the classifier.

No I/O.  The lists are deliberately small and explicit: they decide what a
scheme-less token like ``git.io/RePaint`` or ``foo.github.io`` means.
"""

from __future__ import annotations

from functools import lru_cache

# Code and project hosts a repair may steer a garbled host name towards.
# (registrable name, TLD) pairs; repairs never rewrite a host that is already one of these.
CODE_HOSTS: tuple[tuple[str, str], ...] = (
    ("github", "com"),
    ("github", "io"),
    ("gitlab", "com"),
    ("gitlab", "io"),
    ("gitee", "com"),
    ("huggingface", "co"),
    ("bitbucket", "org"),
    ("codeberg", "org"),
    ("sourceforge", "net"),
)

# Real hosts whose names are a small edit away from a code host: never "repair" them.
LOOKALIKE_REAL_HOSTS = frozenset(
    {
        "gitea.com", "gitea.io", "github.blog", "gitbook.com", "gitbook.io", "gitter.im", "githubusercontent.com",
        "gitlab.org", "gitee.io", "github.dev", "githubassets.com", "gitkraken.com", "gitpod.io", "gist.github.com",
    }
)

SHORTLINK_HOSTS = frozenset(
    {
        "git.io", "bit.ly", "tinyurl.com", "goo.gl", "t.co", "ow.ly", "is.gd", "buff.ly", "rb.gy", "shorturl.at",
        "tiny.cc", "cutt.ly", "s.id", "rebrand.ly", "t.ly", "v.gd", "lnkd.in", "dwz.cn", "url.cn", "aka.ms", "youtu.be",
    }
)

DOI_HOSTS = frozenset({"doi.org", "dx.doi.org", "www.doi.org"})

# Hosts that are always https: a scheme-less mention of them gets https:// with full confidence.
HTTPS_SUFFIXES = ("github.com", "github.io", "gitlab.com", "gitlab.io", "gitee.com", "huggingface.co", "git.io")

# Top-level domains accepted for scheme-less links.  Country codes that double as common
# file extensions (.py .md .sh .rs .pl .ml .so .cc .ts .js ...) are left out on purpose: a
# file name such as ``train.py`` must never become a link.  A scheme-less link also needs a
# path, a ``www.``, a known code/project host or a cue such as "at" or ":" before it.
SCHEMELESS_TLDS = frozenset(
    {
        "com", "org", "net", "edu", "gov", "io", "ai", "co", "dev", "app", "info", "xyz", "site", "page", "tech",
        "science", "cloud", "me", "us", "uk", "de", "fr", "jp", "cn", "kr", "ca", "au", "ch", "nl", "it", "es",
        "se", "no", "fi", "dk", "be", "at", "cz", "pl", "ru", "in", "br", "il", "sg", "hk", "tw", "eu", "ac",
        "ie", "nz", "pt", "gr", "hu", "ro", "tr", "ir", "mx", "ar", "cl", "za", "is", "lu", "ee", "lt", "lv",
        "si", "sk", "hr", "bg", "ua", "vn", "th", "my", "id", "ph", "pk", "sa", "ae", "eg", "ma", "ng", "ke",
        "ly", "gl", "gd", "cc", "tv", "fm", "ws", "to", "ms", "im", "la", "mobi", "biz", "online", "website",
        "space", "blog", "news", "network", "institute", "research", "university", "academy", "global",
        "world", "ninja", "studio", "design", "digital", "live", "media", "one", "top", "vip", "link", "ink",
    }
)
SCHEMELESS_TLDS = SCHEMELESS_TLDS - {"py", "md", "sh", "rs", "pl", "ml", "so", "ts", "js", "cpp", "h"}


def registrable_parts(host: str) -> tuple[str, str] | None:
    """The (name, tld) of a host's last two labels, lower-cased; None for a single label."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) < 2:
        return None
    return labels[-2], labels[-1]


def damerau_levenshtein(a: str, b: str, limit: int = 3) -> int:
    """Optimal-string-alignment distance between ``a`` and ``b``, cut off above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


# Glyphs that PDF text extraction and OCR confuse; folded before comparing a host with a code host.
_CONFUSABLES = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("0", "o"), ("1", "l"), ("|", "l"), ("!", "l"))


def fold_confusables(text: str) -> str:
    """``text`` with common OCR confusions undone (``corn`` -> ``com``, ``g1thub`` -> ``glthub``)."""
    for a, b in _CONFUSABLES:
        text = text.replace(a, b)
    return text


@lru_cache(maxsize=8192)
def nearest_code_host(host: str) -> str | None:
    """The code host that ``host`` is a typo of (``glthub.com`` -> ``github.com``), or None.

    Only the registrable name and TLD are compared; subdomains are kept
    (``yudeng.glthub.io`` -> ``yudeng.github.io``).  A host that is itself a
    code host or a known real look-alike is never rewritten.
    """
    lowered = host.lower().rstrip(".")
    parts = registrable_parts(lowered)
    if parts is None:
        return None
    name, tld = parts
    if (name, tld) in CODE_HOSTS or f"{name}.{tld}" in LOOKALIKE_REAL_HOSTS or lowered in LOOKALIKE_REAL_HOSTS:
        return None
    fname, ftld = fold_confusables(name), fold_confusables(tld)
    best: tuple[int, str, str] | None = None
    for kname, ktld in CODE_HOSTS:
        # One slip in the name (glthub, qithub); names shorter than six letters get none,
        # since too many real domains are that close to them.
        dn = damerau_levenshtein(fname, kname, 2)
        if dn > (1 if len(kname) >= 6 else 0):
            continue
        dt = 0 if ftld == ktld else damerau_levenshtein(ftld, ktld, 2)
        if dt > 1:
            continue
        # A real TLD one letter off is another site (github.co), not a garble of github.com.
        if dt == 1 and tld in SCHEMELESS_TLDS:
            continue
        if best is None or dn + dt < best[0]:
            best = (dn + dt, kname, ktld)
    if best is None:
        return None
    labels = lowered.split(".")
    return ".".join([*labels[:-2], best[1], best[2]])
