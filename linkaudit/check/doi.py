"""DOI check: a DOI link -> ``CheckResult`` with ``DoiInfo``, asking doi.org's handle API.

Stage: check.  Input: ``Link`` of kind ``doi`` (plus, optionally, the citing
paper's title).  Output: ``CheckResult``.  ``GET {doi.api}/api/handles/<doi>``
answers ``responseCode`` 1 (registered, HTTP 200) or 100 (not found, HTTP
404); publisher pages are never fetched (many answer 403/418 to any
non-browser).  With ``doi.crossref`` on, the title is fetched from Crossref
(``mailto`` joins the polite pool) and compared with the paper's.

With ``doi.crossref_batch`` N, DOIs are first asked of Crossref N at a time
(``GET {crossref_api}/works?filter=doi:A,doi:B,...``, ``lookup_batch``): a DOI
Crossref lists is registered (Crossref registers DOIs, so that is as definitive
as doi.org's answer) and its title and target come with it.  Listing is only
ever taken as a yes: a DOI missing from the answer may be registered with
another agency (DataCite, mEDRA, JaLC), so it is asked at doi.org as without
batching, and so is every DOI of a query that failed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import quote, unquote, urlencode, urlsplit

from ..config import Settings
from ..model import CheckResult, DoiInfo, Link, Status
from .fetch import Failed, Fetcher
from .http import status_text
from .verdict import ERROR, REASON_TEXT, Reason, verdict_for_reason, verdict_for_status

DOI_SAFE = "/:;()[]._-<>"
"""Characters left as they are in the handle API path (the rest is percent-encoded)."""

TITLE_MATCH_RATIO = 0.85
"""Similarity (difflib ratio of normalised titles) from which a Crossref title matches the paper's."""

CROSSREF_FIELDS = "DOI,title,resource"
"""The fields a batch query asks Crossref for (``select``): enough to say registered, and the title and target."""

HANDLE_REGISTERED = (1, 200)
"""``responseCode`` values of a registered handle (200: registered, but no value of the asked type)."""
HANDLE_NOT_FOUND = 100


def doi_of_link(link: Link) -> str | None:
    """The DOI a link names: from its key (``doi:...``) or the path of a doi.org URL."""
    path = unquote(urlsplit(link.url).path).lstrip("/")
    if path.startswith("10."):
        return path
    if link.key.startswith("doi:") and link.key[4:].startswith("10."):
        return link.key[4:]
    return None


def batchable(doi: str) -> bool:
    """Whether ``doi`` can stand in a Crossref ``filter=doi:...`` list (whose items are separated by commas)."""
    return "," not in doi and not any(ch.isspace() for ch in doi)


@dataclass(frozen=True, slots=True)
class CrossrefWork:
    """What a Crossref batch query says of one DOI it lists."""

    title: str | None
    target: str | None


def normalise_title(title: str) -> str:
    """Lower-case words only: ``"A  Title: Part-2."`` -> ``"a title part 2"``."""
    return " ".join(re.findall(r"[^\W_]+", title.lower()))


def titles_match(found: str, expected: str) -> bool:
    """Whether two titles name the same work (ignoring case, punctuation and small differences)."""
    a, b = normalise_title(found), normalise_title(expected)
    if not a or not b:
        return False
    if a == b or a in b or b in a:
        return True
    return difflib.SequenceMatcher(None, a, b).ratio() >= TITLE_MATCH_RATIO


class DoiChecker:
    """Checks DOIs at the handle API, optionally reading their titles from Crossref."""

    def __init__(
        self, fetcher: Fetcher, settings: Settings, *, title_for: Callable[[Link], str | None]
    ) -> None:
        self._fetcher = fetcher
        self._settings = settings
        self._api = settings.doi.api.rstrip("/")
        self._crossref = settings.doi.crossref_api.rstrip("/")
        self._title_for = title_for
        self._unlisted: set[str] = set()
        """Lower-cased DOIs a batch query answered without: no title to ask Crossref for."""

    async def check(self, link: Link) -> CheckResult:
        """The verdict on a DOI link."""
        base = _unknown(link)
        doi = doi_of_link(link)
        if doi is None:
            verdict = verdict_for_reason(Reason.INVALID_URL)
            return _set(
                base, verdict.status, verdict.definitive, detail=f"{REASON_TEXT[Reason.INVALID_URL]}: no DOI"
            )
        url = f"{self._api}/api/handles/{quote(doi, safe=DOI_SAFE)}?type=URL"
        try:
            reply = await self._fetcher.request(
                "GET", url, headers={"Accept": "application/json"}, read_body=True, guard=False
            )
        except Failed as failure:
            # the handle API being unreachable says nothing about the DOI
            return _set(
                base, ERROR.status, False, detail=f"doi.org: {failure.detail}", attempts=failure.attempts
            )
        body = reply.json()
        code = body.get("responseCode") if isinstance(body, dict) else None
        if reply.status == 200 and code in HANDLE_REGISTERED:
            assert isinstance(body, dict)
            title, attempts, compared = None, reply.attempts, False
            if self._settings.doi.crossref and doi.lower() not in self._unlisted:
                title, extra = await self._crossref_title(doi)
                attempts, compared = attempts + extra, True
            return self._registered(link, target=_url_value(body), title=title, compared=compared,
                                    detail=REASON_TEXT[Reason.DOI_REGISTERED], attempts=attempts)
        if code == HANDLE_NOT_FOUND:
            verdict = verdict_for_reason(Reason.DOI_NOT_REGISTERED)
            return _set(
                base,
                verdict.status,
                verdict.definitive,
                detail=REASON_TEXT[Reason.DOI_NOT_REGISTERED],
                code=reply.status,
                attempts=reply.attempts,
                doi=DoiInfo(registered=False),
            )
        verdict = verdict_for_status(reply.status)
        if verdict.definitive:
            verdict = ERROR  # a 404 page without responseCode 100 is a misconfigured API base, not a verdict
        return _set(
            base,
            verdict.status,
            verdict.definitive,
            detail=f"doi.org handle API: {status_text(reply.status)} ({REASON_TEXT[Reason.UNEXPECTED_ANSWER]})",
            code=reply.status,
            attempts=reply.attempts,
        )

    async def lookup_batch(self, dois: Sequence[str]) -> tuple[dict[str, CrossrefWork] | None, int]:
        """(Crossref's works among ``dois`` by lower-cased DOI, or None when the query failed; attempts)."""
        params = {"filter": ",".join(f"doi:{doi}" for doi in dois), "rows": str(len(dois)),
                  "select": CROSSREF_FIELDS}
        headers = {"Accept": "application/json"}
        mailto = self._settings.doi.mailto
        if mailto:
            params["mailto"] = mailto
            headers["User-Agent"] = f"{self._settings.user_agent} mailto:{mailto}"
        url = f"{self._crossref}/works?{urlencode(params, safe='/:@,')}"  # the rest percent-encoded
        try:
            reply = await self._fetcher.request("GET", url, headers=headers, read_body=True, guard=False)
        except Failed as failure:
            return None, failure.attempts
        body = reply.json()
        message = body.get("message") if reply.status == 200 and isinstance(body, dict) else None
        items = message.get("items") if isinstance(message, dict) else None
        if not isinstance(items, list):
            return None, reply.attempts
        works: dict[str, CrossrefWork] = {}
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("DOI"), str):
                works[item["DOI"].lower()] = CrossrefWork(title=_first_title(item), target=_primary_url(item))
        self._unlisted.update(doi.lower() for doi in dois if doi.lower() not in works)
        return works, reply.attempts

    def from_crossref(self, link: Link, work: CrossrefWork, attempts: int) -> CheckResult:
        """The verdict on a DOI link that a Crossref batch query listed: registered."""
        return self._registered(link, target=work.target, title=work.title, compared=self._settings.doi.crossref,
                                detail=f"{REASON_TEXT[Reason.DOI_REGISTERED]} (listed by Crossref)", attempts=attempts)

    def _registered(self, link: Link, *, target: str | None, title: str | None, compared: bool, detail: str,
                    attempts: int) -> CheckResult:
        """A registered DOI's result; ``compared``: the title check ran (``title`` is Crossref's, None if it has none)."""
        info = DoiInfo(registered=True, target=target)
        if compared:
            expected = self._title_for(link)
            matches = titles_match(title, expected) if title and expected else None
            info = DoiInfo(registered=True, target=target, title=title, title_matches=matches)
            if matches is False:
                detail += f"; Crossref title differs from the paper's: {title!r}"
        verdict = verdict_for_reason(Reason.DOI_REGISTERED)
        return _set(_unknown(link), verdict.status, verdict.definitive, detail=detail, code=200, attempts=attempts,
                    doi=info)

    async def _crossref_title(self, doi: str) -> tuple[str | None, int]:
        """(title or None, attempts) from Crossref; None when Crossref does not know the DOI or fails."""
        mailto = self._settings.doi.mailto
        url = f"{self._crossref}/works/{quote(doi, safe=DOI_SAFE)}"
        headers = {"Accept": "application/json"}
        if mailto:
            url += f"?mailto={quote(mailto, safe='@.')}"
            headers["User-Agent"] = f"{self._settings.user_agent} mailto:{mailto}"
        try:
            reply = await self._fetcher.request("GET", url, headers=headers, read_body=True, guard=False)
        except Failed as failure:
            return None, failure.attempts
        body = reply.json()
        if reply.status != 200 or not isinstance(body, dict):
            return None, reply.attempts
        message = body.get("message")
        return (_first_title(message) if isinstance(message, dict) else None), reply.attempts


def _first_title(work: dict[str, object]) -> str | None:
    titles = work.get("title")
    if isinstance(titles, list) and titles and isinstance(titles[0], str):
        return " ".join(titles[0].split())
    return None


def _primary_url(work: dict[str, object]) -> str | None:
    resource = work.get("resource")
    primary = resource.get("primary") if isinstance(resource, dict) else None
    url = primary.get("URL") if isinstance(primary, dict) else None
    return url if isinstance(url, str) else None


def _unknown(link: Link) -> CheckResult:
    """The result ``_set`` fills in: an inconclusive error until a verdict is known."""
    return CheckResult(key=link.key, url=link.url, kind=link.kind, status=Status.ERROR, definitive=False)


def _url_value(body: dict[str, object]) -> str | None:
    values = body.get("values")
    if not isinstance(values, list):
        return None
    for value in values:
        if isinstance(value, dict) and value.get("type") == "URL":
            data = value.get("data")
            if isinstance(data, dict) and isinstance(data.get("value"), str):
                return str(data["value"])
    return None


def _set(
    base: CheckResult,
    status: Status,
    definitive: bool,
    *,
    detail: str,
    code: int | None = None,
    attempts: int = 0,
    doi: DoiInfo | None = None,
) -> CheckResult:
    return replace(
        base,
        status=status,
        definitive=definitive,
        detail=detail,
        http_status=code,
        attempts=attempts,
        doi=doi,
    )
