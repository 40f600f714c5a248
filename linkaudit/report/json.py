"""Report stage, JSON format: ``Report`` <-> the versioned ``linkaudit.report/1`` document.

``render(report) -> str`` writes the document (schema in
``linkaudit/schemas/report.schema.json``, described in ``docs/reports.md``):
results sorted by key, map keys sorted, so two runs diff cleanly.
``report_from_dict`` / ``load_report`` read one back (for ``linkaudit report``,
``diff`` and ``merge``); a bad file is an ``InputError`` with one clear line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..errors import InputError
from ..model import (
    REPORT_SCHEMA,
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
from .summary import history_by_key, papers_without_code_links, sorted_results, summarize

T = TypeVar("T")


def _repo_dict(repo: RepoInfo | None) -> dict[str, Any] | None:
    if repo is None:
        return None
    return {
        "archived": repo.archived,
        "renamed_to": repo.renamed_to,
        "stars": repo.stars,
        "pushed_at": repo.pushed_at,
        "empty": repo.empty,
        "disabled": repo.disabled,
    }


def _doi_dict(doi: DoiInfo | None) -> dict[str, Any] | None:
    if doi is None:
        return None
    return {"registered": doi.registered, "target": doi.target, "title": doi.title, "title_matches": doi.title_matches}


def result_dict(result: CheckResult, entry: HistoryEntry | None) -> dict[str, Any]:
    """One ``results[]`` item of ``linkaudit.report/1`` (history fields from ``entry``, null without one)."""
    citations = sorted(result.papers, key=lambda c: (c.path, c.line, c.paper or ""))
    return {
        "url": result.url,
        "kind": result.kind.value,
        "key": result.key,
        "papers": [{"id": c.paper, "path": c.path, "line": c.line, "title": c.title} for c in citations],
        "status": result.status.value,
        "definitive": result.definitive,
        "http_status": result.http_status,
        "final_url": result.final_url,
        "redirects": list(result.redirects),
        "attempts": result.attempts,
        "detail": result.detail,
        "repo": _repo_dict(result.repo),
        "doi": _doi_dict(result.doi),
        "suggestions": list(result.suggestions),
        "original": result.original,
        "repairs": [{"rule": r.rule, "detail": r.detail} for r in result.repairs],
        "confidence": result.confidence.value,
        "checked_at": result.checked_at,
        "elapsed_ms": result.elapsed_ms,
        "from_cache": result.from_cache,
        "first_seen": entry.first_seen if entry else None,
        "last_ok": entry.last_ok if entry else None,
        "consecutive_failures": entry.consecutive_failures if entry else None,
        "first_failed": entry.first_failed if entry else None,
    }


def report_dict(report: Report, *, with_results: bool = True) -> dict[str, Any]:
    """The whole ``linkaudit.report/1`` document as plain JSON values (``results`` left out if not wanted)."""
    summary = summarize(report)
    doc: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "started_at": report.started_at,
        "duration_s": None if report.duration_s is None else round(report.duration_s, 3),
        "interrupted": report.interrupted,
        "sources": sorted(set(report.sources)),
        "summary": {
            "total": summary.total,
            "by_status": dict(summary.by_status),
            "by_kind": dict(summary.by_kind),
            "by_kind_status": {k: dict(v) for k, v in summary.by_kind_status.items()},
            "definitive_failures": summary.definitive_failures,
            "inconclusive": summary.inconclusive,
        },
        "papers_without_code_links": [
            {"id": p.id, "title": p.title, "path": p.source.path, "line": p.source.line}
            for p in papers_without_code_links(report)
        ],
    }
    if with_results:
        history = history_by_key(report)
        doc["results"] = [result_dict(r, history.get(r.key)) for r in sorted_results(report)]
    return doc


_ENCODE = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode  # one encoder for every item
_STR: Callable[[str], str] = json.encoder.encode_basestring  # the C string encoder


def _s(value: str | None) -> str:
    return "null" if value is None else _STR(value)


def _i(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def _b(value: bool | None) -> str:
    return "null" if value is None else ("true" if value else "false")


def _string_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(map(_STR, values)) + "]"


def result_line(result: CheckResult, entry: HistoryEntry | None) -> str:
    """``_ENCODE(result_dict(result, entry))``, written out field by field (three times faster).

    The report of a 100,000-link audit spends most of its time here; building
    a dict per result and sorting its keys was 60 % of writing the JSON.  The
    fields are written in sorted-key order with ``json``'s own separators and
    string encoder, and a test pins the text equal to the general encoder's
    for every kind of field value (tests/unit/test_report_json.py).
    """
    citations = result.papers
    if len(citations) > 1:
        citations = tuple(sorted(citations, key=lambda c: (c.path, c.line, c.paper or "")))
    papers = ", ".join(
        f'{{"id": {_s(c.paper)}, "line": {_i(c.line)}, "path": {_STR(c.path)}, "title": {_s(c.title)}}}'
        for c in citations
    )
    repairs = ", ".join(f'{{"detail": {_STR(r.detail)}, "rule": {_STR(r.rule)}}}' for r in result.repairs)
    repo = result.repo
    repo_text = "null" if repo is None else (
        f'{{"archived": {_b(repo.archived)}, "disabled": {_b(repo.disabled)}, "empty": {_b(repo.empty)}, '
        f'"pushed_at": {_s(repo.pushed_at)}, "renamed_to": {_s(repo.renamed_to)}, "stars": {_i(repo.stars)}}}'
    )
    doi = result.doi
    doi_text = "null" if doi is None else (
        f'{{"registered": {_b(doi.registered)}, "target": {_s(doi.target)}, "title": {_s(doi.title)}, '
        f'"title_matches": {_b(doi.title_matches)}}}'
    )
    if entry is None:
        first_seen = last_ok = first_failed = failures = "null"
    else:
        first_seen, last_ok = _s(entry.first_seen), _s(entry.last_ok)
        first_failed, failures = _s(entry.first_failed), _i(entry.consecutive_failures)
    return (
        f'{{"attempts": {_i(result.attempts)}, "checked_at": {_s(result.checked_at)}, '
        f'"confidence": {_STR(result.confidence)}, "consecutive_failures": {failures}, '
        f'"definitive": {_b(result.definitive)}, "detail": {_STR(result.detail)}, "doi": {doi_text}, '
        f'"elapsed_ms": {_i(result.elapsed_ms)}, "final_url": {_s(result.final_url)}, '
        f'"first_failed": {first_failed}, "first_seen": {first_seen}, "from_cache": {_b(result.from_cache)}, '
        f'"http_status": {_i(result.http_status)}, "key": {_STR(result.key)}, "kind": {_STR(result.kind)}, '
        f'"last_ok": {last_ok}, "original": {_s(result.original)}, "papers": [{papers}], '
        f'"redirects": {_string_list(result.redirects)}, "repairs": [{repairs}], "repo": {repo_text}, '
        f'"status": {_STR(result.status)}, "suggestions": {_string_list(result.suggestions)}, '
        f'"url": {_STR(result.url)}}}'
    )


def _member_lines(head: str, value: Any, comma: str) -> Iterator[str]:
    if isinstance(value, list) and value:
        yield head + "["
        last = len(value) - 1
        for j, item in enumerate(value):
            yield f"    {_ENCODE(item)}{',' if j < last else ''}"
        yield "  ]" + comma
    elif isinstance(value, dict) and value:
        yield head + json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).replace("\n", "\n  ") + comma
    else:
        yield head + _ENCODE(value) + comma


def dump_document(doc: Mapping[str, Any]) -> str:
    """JSON text of ``doc`` with sorted keys, laid out for line diffs: one line per item of a top-level list.

    Two runs that differ in one link differ in one line.  It is also fast:
    the stdlib's C encoder only serves ``json.dumps`` without ``indent``.
    """
    names = sorted(doc)
    lines = ["{"]
    for i, name in enumerate(names):
        lines.extend(_member_lines(f"  {json.dumps(name)}: ", doc[name], "," if i < len(names) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def iter_lines(report: Report) -> Iterator[str]:
    """The lines of ``render(report)``, one result at a time (a 100,000-link report never sits whole in memory)."""
    head = report_dict(report, with_results=False)
    history = history_by_key(report)
    results = sorted_results(report)
    names = sorted([*head, "results"])
    yield "{"
    for i, name in enumerate(names):
        comma = "," if i < len(names) - 1 else ""
        key = f"  {json.dumps(name)}: "
        if name != "results":
            yield from _member_lines(key, head[name], comma)
        elif not results:
            yield key + "[]" + comma
        else:
            yield key + "["
            last = len(results) - 1
            for j, result in enumerate(results):
                yield f"    {result_line(result, history.get(result.key))}{',' if j < last else ''}"
            yield "  ]" + comma
    yield "}"


def render(report: Report) -> str:
    """The ``linkaudit.report/1`` document: keys sorted, one line per result in key order, newline-terminated."""
    return "\n".join(iter_lines(report)) + "\n"


# --- reading back -------------------------------------------------------------------------------


class _Bad(ValueError):
    """A field of the document is missing or has the wrong type; ``str`` names the field."""


def _field(data: Mapping[str, Any], name: str, kind: type[T] | tuple[type, ...], where: str,
           *, default: Any = ..., nullable: bool = False) -> Any:
    label = f"{where}.{name}" if where else name
    if name not in data:
        if default is ...:
            raise _Bad(f"{label} is missing")
        return default
    value = data[name]
    if value is None and nullable:
        return None
    # bool is an int in Python; a JSON true is never a count or a line number
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise _Bad(f"{label} must be a number, got {value!r}")
    if not isinstance(value, kind):
        raise _Bad(f"{label} has the wrong type ({type(value).__name__})")
    return value


def _enum(data: Mapping[str, Any], name: str, cls: Callable[[str], T], where: str, *, default: Any = ...) -> T:
    value = _field(data, name, str, where, default=default)
    try:
        return cls(value)
    except ValueError:
        raise _Bad(f"{where}.{name}: unknown value {value!r}") from None  # where is never empty here


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Bad(f"{where} must be an object")
    return value


def _strings(data: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
    items = _field(data, name, list, where, default=[])
    if not all(isinstance(i, str) for i in items):
        raise _Bad(f"{where + '.' if where else ''}{name} must be a list of strings")
    return tuple(items)


def _result_from_dict(data: Mapping[str, Any], where: str) -> tuple[CheckResult, HistoryEntry | None]:
    key = LinkKey(_field(data, "key", str, where))
    citations = []
    for i, item in enumerate(_field(data, "papers", list, where, default=[])):
        c = _mapping(item, f"{where}.papers[{i}]")
        w = f"{where}.papers[{i}]"
        citations.append(Citation(
            paper=_field(c, "id", str, w, default=None, nullable=True),
            path=_field(c, "path", str, w),
            line=_field(c, "line", int, w),
            title=_field(c, "title", str, w, default=None, nullable=True),
        ))
    repo = data.get("repo")
    repo_info = None
    if repo is not None:
        r = _mapping(repo, f"{where}.repo")
        w = f"{where}.repo"
        repo_info = RepoInfo(
            archived=_field(r, "archived", bool, w, default=False),
            renamed_to=_field(r, "renamed_to", str, w, default=None, nullable=True),
            stars=_field(r, "stars", int, w, default=None, nullable=True),
            pushed_at=_field(r, "pushed_at", str, w, default=None, nullable=True),
            empty=_field(r, "empty", bool, w, default=False),
            disabled=_field(r, "disabled", bool, w, default=False),
        )
    doi = data.get("doi")
    doi_info = None
    if doi is not None:
        d = _mapping(doi, f"{where}.doi")
        w = f"{where}.doi"
        doi_info = DoiInfo(
            registered=_field(d, "registered", bool, w),
            target=_field(d, "target", str, w, default=None, nullable=True),
            title=_field(d, "title", str, w, default=None, nullable=True),
            title_matches=_field(d, "title_matches", bool, w, default=None, nullable=True),
        )
    repairs = []
    for i, item in enumerate(_field(data, "repairs", list, where, default=[])):
        rp = _mapping(item, f"{where}.repairs[{i}]")
        repairs.append(Repair(rule=_field(rp, "rule", str, f"{where}.repairs[{i}]"),
                              detail=_field(rp, "detail", str, f"{where}.repairs[{i}]", default="")))
    result = CheckResult(
        key=key,
        url=_field(data, "url", str, where),
        kind=_enum(data, "kind", Kind, where),
        status=_enum(data, "status", Status, where),
        definitive=_field(data, "definitive", bool, where),
        http_status=_field(data, "http_status", int, where, default=None, nullable=True),
        final_url=_field(data, "final_url", str, where, default=None, nullable=True),
        redirects=_strings(data, "redirects", where),
        attempts=_field(data, "attempts", int, where, default=0),
        detail=_field(data, "detail", str, where, default=""),
        repo=repo_info,
        doi=doi_info,
        suggestions=_strings(data, "suggestions", where),
        papers=tuple(citations),
        original=_field(data, "original", str, where, default=None, nullable=True),
        repairs=tuple(repairs),
        confidence=_enum(data, "confidence", Confidence, where, default="high"),
        checked_at=_field(data, "checked_at", str, where, default=None, nullable=True),
        elapsed_ms=_field(data, "elapsed_ms", int, where, default=None, nullable=True),
        from_cache=_field(data, "from_cache", bool, where, default=False),
    )
    failures = _field(data, "consecutive_failures", int, where, default=None, nullable=True)
    first_seen = _field(data, "first_seen", str, where, default=None, nullable=True)
    last_ok = _field(data, "last_ok", str, where, default=None, nullable=True)
    first_failed = _field(data, "first_failed", str, where, default=None, nullable=True)
    entry = None
    if failures is not None or first_seen or last_ok or first_failed:
        entry = HistoryEntry(key=key, first_seen=first_seen, last_ok=last_ok,
                             consecutive_failures=failures or 0, first_failed=first_failed)
    return result, entry


def report_from_dict(data: Mapping[str, Any]) -> Report:
    """Rebuild a ``Report`` from a parsed ``linkaudit.report/1`` document.

    Raises ``ValueError`` naming the first bad field (``load_report`` turns it
    into an ``InputError``).  The summary is not read: it is recomputed from
    the results, so it can never disagree with them.
    """
    data = _mapping(data, "the document")
    schema = data.get("schema")
    if schema != REPORT_SCHEMA:
        raise ValueError(f"schema is {schema!r}, expected {REPORT_SCHEMA!r}")
    results, history = [], []
    for i, item in enumerate(_field(data, "results", list, "")):
        result, entry = _result_from_dict(_mapping(item, f"results[{i}]"), f"results[{i}]")
        results.append(result)
        if entry is not None:
            history.append(entry)
    papers = []
    for i, item in enumerate(_field(data, "papers_without_code_links", list, "", default=[])):
        p = _mapping(item, f"papers_without_code_links[{i}]")
        w = f"papers_without_code_links[{i}]"
        papers.append(Paper(
            id=_field(p, "id", str, w), title=_field(p, "title", str, w, default=""), authors=(), venue=None,
            doi=None, source=SourceRef(_field(p, "path", str, w), _field(p, "line", int, w)),
            code=CodeClaim.CLAIMED_NO_LINK,
        ))
    duration = _field(data, "duration_s", (int, float), "", default=None, nullable=True)
    return Report(
        results=tuple(results),
        papers=tuple(papers),
        sources=_strings(data, "sources", ""),
        started_at=_field(data, "started_at", str, "", default=None, nullable=True),
        duration_s=None if duration is None else float(duration),
        history=tuple(history),
        interrupted=_field(data, "interrupted", bool, "", default=False),
    )


def load_report(path: str) -> Report:
    """Read a saved ``linkaudit.report/1`` file; ``InputError`` (one line naming the file) if it is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a directory, expected a JSON report") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a text file (expected a JSON report)") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a {REPORT_SCHEMA} document (the top level is not an object)")
    if data.get("schema") != REPORT_SCHEMA:
        raise InputError(f"{path}: not a {REPORT_SCHEMA} document (schema is {data.get('schema')!r})")
    try:
        return report_from_dict(data)
    except ValueError as exc:
        raise InputError(f"{path}: invalid {REPORT_SCHEMA} document: {exc}") from exc
