"""Hand-built ``Report``s for the report, history, policy, diff and merge tests (no checker involved)."""

from __future__ import annotations

from linkaudit.model import (
    CheckResult,
    Citation,
    CodeClaim,
    Confidence,
    DoiInfo,
    HistoryEntry,
    Kind,
    LinkKey,
    Paper,
    Repair,
    RepoInfo,
    Report,
    SourceRef,
    Status,
)

CATALOG = "catalogs/cvpr.md"

_DEFINITIVE = {Status.OK: True, Status.REDIRECTED: True, Status.BROKEN: True, Status.BLOCKED: False,
               Status.ERROR: False, Status.SKIPPED: True}


def result(key: str, status: Status = Status.OK, *, kind: Kind | None = None, url: str | None = None,
           line: int = 10, paper: str | None = "1000", title: str | None = "A paper", **extra: object) -> CheckResult:
    """A ``CheckResult`` with sensible defaults: kind and URL derived from the key, one citation."""
    prefix, _, rest = key.partition(":")
    kind = kind or Kind(prefix if prefix in {k.value for k in Kind} else "web")
    if url is None:
        url = {"github": f"https://github.com/{rest}", "doi": f"https://doi.org/{rest}"}.get(prefix, f"https://{rest}")
    fields: dict[str, object] = {
        "http_status": {Status.OK: 200, Status.BROKEN: 404, Status.REDIRECTED: 301, Status.BLOCKED: 403,
                        Status.ERROR: 503, Status.SKIPPED: None}[status],
        "attempts": 1,
        "papers": (Citation(paper, CATALOG, line, title),),
        "checked_at": "2026-11-20T03:00:05Z",
    }
    fields.update(extra)
    return CheckResult(key=LinkKey(key), url=url, kind=kind, status=status,
                       definitive=_DEFINITIVE[status], **fields)  # type: ignore[arg-type]


def sample_report() -> Report:
    """A report exercising every status, several kinds, tricky text, history, repairs and a no-link claim."""
    results = (
        result("doi:10.1109/cvpr.2022.01009", kind=Kind.DOI, line=7, paper="1000", title="The Flag Median",
               doi=DoiInfo(registered=True, target="https://ieeexplore.ieee.org/document/1")),
        result("doi:10.1109/cvpr.2022.99999", Status.BROKEN, kind=Kind.DOI, line=27, paper="1001",
               title="Fair | Classifiers `with` ticks\nand a newline", detail="DOI not registered",
               doi=DoiInfo(registered=False)),
        result("github:naver-ai/cgl_fairness", line=28, paper="1001", title="Learning Fair Classifiers",
               repo=RepoInfo(stars=40, pushed_at="2022-06-01T00:00:00Z")),
        result("github:old/name", Status.REDIRECTED, line=40, paper="1002", title="Renamed repo",
               final_url="https://github.com/new/name", repo=RepoInfo(renamed_to="new/name")),
        result("github:gone/repo", Status.BROKEN, line=52, paper="1003", title="Gone",
               detail="repository not found", suggestions=("https://github.com/gone/repo2",),
               original="https: //github.com/gone/repo",
               repairs=(Repair("space-in-scheme", "removed a space after 'https:'"),),
               confidence=Confidence.MEDIUM),
        result("github:frozen/code", line=64, paper="1004", title="Frozen",
               repo=RepoInfo(archived=True, stars=3, pushed_at="2021-01-01T00:00:00Z")),
        result("web:example.org/blocked", Status.BLOCKED, line=70, paper="1005", title="Bot wall",
               detail="403 after 3 attempts (bot wall)", attempts=3),
        result("web:example.org/slow", Status.ERROR, line=80, paper="1006", title="Slow", detail="timeout",
               http_status=None, attempts=3),
        result("web:localhost/x", Status.SKIPPED, line=90, paper="1007", title="Private",
               detail="private address"),
    )
    papers = (
        Paper("1000", "The Flag Median", (), "cvpr 2022", None, SourceRef(CATALOG, 1), CodeClaim.NONE),
        Paper("1008", "Code | soon *maybe*", (), "cvpr 2022", None, SourceRef(CATALOG, 100),
              CodeClaim.CLAIMED_NO_LINK),
    )
    history = (
        HistoryEntry(LinkKey("doi:10.1109/cvpr.2022.99999"), first_seen="2026-11-01T03:00:00Z",
                     last_ok="2026-11-17T03:00:00Z", consecutive_failures=3, first_failed="2026-11-18T03:00:00Z"),
        HistoryEntry(LinkKey("github:gone/repo"), first_seen="2026-11-20T03:00:00Z", consecutive_failures=1,
                     first_failed="2026-11-20T03:00:00Z"),
        HistoryEntry(LinkKey("doi:10.1109/cvpr.2022.01009"), first_seen="2026-11-01T03:00:00Z",
                     last_ok="2026-11-20T03:00:00Z"),
    )
    return Report(results=results, papers=papers, sources=(CATALOG,), started_at="2026-11-20T03:00:00Z",
                  duration_s=12.5, history=history)
