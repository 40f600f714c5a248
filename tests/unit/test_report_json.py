"""Tests for the JSON report (``linkaudit.report/1``): contract, schema, determinism, reading back."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reportkit import CATALOG, result, sample_report

from linkaudit.errors import InputError
from linkaudit.model import (
    CheckResult,
    Citation,
    Confidence,
    DoiInfo,
    HistoryEntry,
    Kind,
    LinkKey,
    Repair,
    RepoInfo,
    Report,
    Status,
)
from linkaudit.report import json as report_json

SCHEMA_PATH = Path(report_json.__file__).resolve().parent.parent / "schemas" / "report.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    """A validator for the shipped report schema."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_file_is_a_valid_json_schema(validator: jsonschema.Draft202012Validator) -> None:
    """The shipped schema is itself a valid draft 2020-12 JSON Schema titled with the contract name."""
    assert validator.schema["title"] == "linkaudit.report/1"


def test_rendered_report_validates_against_schema(validator: jsonschema.Draft202012Validator) -> None:
    """A report with every status, kind facts, history and repairs validates against the schema."""
    validator.validate(json.loads(report_json.render(sample_report())))


def test_empty_report_validates_against_schema(validator: jsonschema.Draft202012Validator) -> None:
    """A report with no results (and no run facts) is still a valid document with zero counts."""
    doc = json.loads(report_json.render(Report(results=())))
    validator.validate(doc)
    assert doc["summary"]["total"] == 0
    assert set(doc["summary"]["by_status"].values()) == {0}


def test_schema_lists_exactly_the_rendered_result_fields(validator: jsonschema.Draft202012Validator) -> None:
    """Every field the renderer writes is required by the schema and vice versa (no silent drift)."""
    doc = json.loads(report_json.render(sample_report()))
    result_schema = validator.schema["$defs"]["result"]
    assert set(result_schema["required"]) == set(doc["results"][0]) == set(result_schema["properties"])
    assert set(validator.schema["required"]) == set(doc)


def test_document_carries_schema_and_run_facts() -> None:
    """The document names its schema and keeps the run's start, duration and sources."""
    doc = json.loads(report_json.render(sample_report()))
    assert doc["schema"] == "linkaudit.report/1"
    assert doc["started_at"] == "2026-11-20T03:00:00Z"
    assert doc["duration_s"] == 12.5
    assert doc["sources"] == [CATALOG]


def test_summary_counts_per_status_kind_and_kind_status() -> None:
    """The summary counts results per status, per kind, per kind×status and totals definitive failures."""
    summary = json.loads(report_json.render(sample_report()))["summary"]
    assert summary["total"] == 9
    assert summary["by_status"] == {"ok": 3, "redirected": 1, "broken": 2, "blocked": 1, "error": 1, "skipped": 1}
    assert summary["by_kind"]["github"] == 4 and summary["by_kind"]["gitlab"] == 0
    assert summary["by_kind_status"]["doi"] == {"ok": 1, "redirected": 0, "broken": 1, "blocked": 0, "error": 0,
                                                "skipped": 0}
    assert set(summary["by_kind_status"]) == {"doi", "github", "web"}
    assert summary["definitive_failures"] == 2
    assert summary["inconclusive"] == 2


def _sorted_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    names = [name for name, _ in pairs]
    assert names == sorted(names), names
    return dict(pairs)


def test_results_sorted_by_key_and_map_keys_sorted() -> None:
    """Results come in key order and every object's keys are sorted, so two runs diff cleanly."""
    text = report_json.render(sample_report())
    doc = json.loads(text, object_pairs_hook=_sorted_pairs)
    keys = [r["key"] for r in doc["results"]]
    assert keys == sorted(keys)


def test_one_line_per_result_so_a_changed_link_is_a_one_line_diff() -> None:
    """Each result sits on its own line: changing one link's status changes exactly one line."""
    report = sample_report()
    changed = dataclasses.replace(report, results=(
        dataclasses.replace(report.results[2], detail="changed"), *report.results[:2], *report.results[3:]))
    before, after = report_json.render(report).splitlines(), report_json.render(changed).splitlines()
    assert len(before) == len(after)
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 1
    assert sum(line.startswith('    {"attempts"') for line in before) == len(report.results)


def test_output_is_independent_of_input_order() -> None:
    """Shuffling results, citations and history does not change a single byte of the output."""
    report = sample_report()
    two_citations = dataclasses.replace(report.results[0], papers=(Citation("9", "z.md", 1), Citation("1", "a.md", 5)))
    base = dataclasses.replace(report, results=(two_citations, *report.results[1:]))
    shuffled = list(base.results)
    random.Random(4).shuffle(shuffled)
    shuffled[shuffled.index(two_citations)] = dataclasses.replace(
        two_citations, papers=tuple(reversed(two_citations.papers)))
    other = dataclasses.replace(base, results=tuple(shuffled), history=tuple(reversed(base.history)))
    assert report_json.render(base) == report_json.render(other)


def test_history_fields_come_from_report_history() -> None:
    """A result's first_seen/last_ok/consecutive_failures/first_failed come from its history entry, else null."""
    doc = json.loads(report_json.render(sample_report()))
    by_key = {r["key"]: r for r in doc["results"]}
    broken = by_key["doi:10.1109/cvpr.2022.99999"]
    assert (broken["consecutive_failures"], broken["first_failed"]) == (3, "2026-11-18T03:00:00Z")
    assert broken["last_ok"] == "2026-11-17T03:00:00Z"
    assert by_key["web:example.org/slow"]["consecutive_failures"] is None


def test_result_fields_carry_citations_repairs_and_kind_facts() -> None:
    """Citations, the text as written, repairs, confidence, suggestions and repo/doi facts are all emitted."""
    doc = json.loads(report_json.render(sample_report()))
    gone = next(r for r in doc["results"] if r["key"] == "github:gone/repo")
    assert gone["papers"] == [{"id": "1003", "path": CATALOG, "line": 52, "title": "Gone"}]
    assert gone["original"] == "https: //github.com/gone/repo"
    assert gone["repairs"] == [{"rule": "space-in-scheme", "detail": "removed a space after 'https:'"}]
    assert gone["confidence"] == "medium"
    assert gone["suggestions"] == ["https://github.com/gone/repo2"]
    renamed = next(r for r in doc["results"] if r["key"] == "github:old/name")
    assert renamed["repo"]["renamed_to"] == "new/name"


def test_papers_without_code_links_lists_only_claims() -> None:
    """Only papers whose code claim is claimed-no-link are listed, with id, title, path and line."""
    doc = json.loads(report_json.render(sample_report()))
    assert doc["papers_without_code_links"] == [
        {"id": "1008", "title": "Code | soon *maybe*", "path": CATALOG, "line": 100}]


def test_round_trip_through_report_from_dict_is_exact() -> None:
    """Reading a rendered document back and rendering it again gives the same text."""
    text = report_json.render(sample_report())
    assert report_json.render(report_json.report_from_dict(json.loads(text))) == text


def test_load_report_reads_a_saved_file(tmp_path: Path) -> None:
    """load_report rebuilds results, papers and history from a file written by render."""
    path = tmp_path / "r.json"
    path.write_text(report_json.render(sample_report()), encoding="utf-8")
    report = report_json.load_report(str(path))
    assert len(report.results) == 9
    assert {e.key for e in report.history} >= {LinkKey("github:gone/repo")}
    assert report.papers[0].id == "1008"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "no such file", id="missing"),
        pytest.param("{not json", "invalid JSON at line 1", id="invalid-json"),
        pytest.param('["a list"]', "not a linkaudit.report/1 document", id="not-an-object"),
        pytest.param('{"schema": "linkaudit.extract/1", "papers": []}', "schema is 'linkaudit.extract/1'",
                     id="wrong-schema"),
        pytest.param('{"schema": "linkaudit.report/1"}', "results is missing", id="no-results"),
        pytest.param('{"schema": "linkaudit.report/1", "results": [{"key": "k", "url": "u", "kind": "ftp", '
                     '"status": "ok", "definitive": true}]}', "results[0].kind: unknown value 'ftp'",
                     id="bad-kind"),
        pytest.param('{"schema": "linkaudit.report/1", "results": [{"key": "k", "url": "u", "kind": "web", '
                     '"status": "ok", "definitive": true, "papers": [{"path": "a", "line": "3"}]}]}',
                     "results[0].papers[0].line has the wrong type", id="bad-line"),
    ],
)
def test_load_report_errors_are_one_clear_line(tmp_path: Path, content: str | None, message: str) -> None:
    """A missing file, invalid JSON, a wrong schema or a bad field is an InputError naming the file, on one line."""
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as info:
        report_json.load_report(str(path))
    text = str(info.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_load_report_rejects_a_binary_file(tmp_path: Path) -> None:
    """A binary file is an InputError, not a UnicodeDecodeError traceback."""
    path = tmp_path / "r.json"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(InputError, match="not a text file"):
        report_json.load_report(str(path))


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_results = st.builds(
    result,
    key=st.from_regex(r"(github|doi|web):[a-z0-9./_-]{1,20}", fullmatch=True),
    status=st.sampled_from(list(Status)),
    line=st.integers(1, 10_000),
    paper=st.none() | _text,
    title=st.none() | _text,
    detail=_text,
    confidence=st.sampled_from(list(Confidence)),
    suggestions=st.lists(_text, max_size=2).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(results=st.lists(_results, max_size=6, unique_by=lambda r: r.key), failures=st.integers(0, 5))
def test_any_report_validates_and_round_trips(results: list, failures: int) -> None:
    """For arbitrary results (any text, any status) the document validates and reads back to the same text."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    history = tuple(HistoryEntry(r.key, first_seen="2026-01-01T00:00:00Z", consecutive_failures=failures)
                    for r in results[:2])
    report = Report(results=tuple(results), history=history, sources=("b.md", "a.md"))
    text = report_json.render(report)
    jsonschema.validate(json.loads(text), schema)
    assert report_json.render(report_json.report_from_dict(json.loads(text))) == text
    assert json.loads(text)["summary"]["by_kind"][Kind.WEB.value] == sum(r.kind is Kind.WEB for r in results)


def test_streamed_lines_equal_the_rendered_document() -> None:
    """iter_lines (used to stream reports to disk) yields exactly the lines of render and of dump_document."""
    from reportkit import sample_report

    from linkaudit.report.json import dump_document, iter_lines, render, report_dict

    report = sample_report()
    assert "\n".join(iter_lines(report)) + "\n" == render(report) == dump_document(report_dict(report))



_text = st.one_of(st.none(), st.text(max_size=12))
_tuples = st.lists(st.text(max_size=8), max_size=3).map(tuple)
_results = st.builds(
    CheckResult,
    key=st.text(max_size=20).map(LinkKey),
    url=st.text(max_size=20),
    kind=st.sampled_from(list(Kind)),
    status=st.sampled_from(list(Status)),
    definitive=st.booleans(),
    http_status=st.one_of(st.none(), st.integers(100, 999)),
    final_url=_text,
    redirects=_tuples,
    attempts=st.integers(0, 9),
    detail=st.text(max_size=30),
    repo=st.one_of(st.none(), st.builds(
        RepoInfo, archived=st.booleans(), renamed_to=_text, stars=st.one_of(st.none(), st.integers(0, 10**6)),
        pushed_at=_text, empty=st.booleans(), disabled=st.booleans())),
    doi=st.one_of(st.none(), st.builds(
        DoiInfo, registered=st.booleans(), target=_text, title=_text, title_matches=st.one_of(st.none(), st.booleans()))),
    suggestions=_tuples,
    papers=st.lists(st.builds(Citation, paper=_text, path=st.text(max_size=6), line=st.integers(0, 10**6),
                              title=_text), max_size=4).map(tuple),
    original=_text,
    repairs=st.lists(st.builds(Repair, rule=st.text(max_size=8), detail=st.text(max_size=12)), max_size=3).map(tuple),
    confidence=st.sampled_from(list(Confidence)),
    checked_at=_text,
    elapsed_ms=st.one_of(st.none(), st.integers(0, 10**7)),
    from_cache=st.booleans(),
)
_entries = st.one_of(st.none(), st.builds(
    HistoryEntry, key=st.just(LinkKey("k")), first_seen=_text, last_ok=_text,
    consecutive_failures=st.integers(0, 99), first_failed=_text))


@settings(max_examples=300, deadline=None)
@given(_results, _entries)
def test_fast_result_line_equals_the_general_encoder(value: CheckResult, entry: HistoryEntry | None) -> None:
    """``result_line`` writes exactly what ``json`` makes of ``result_dict`` (any text, nulls, nested facts)."""
    general = report_json._ENCODE(report_json.result_dict(value, entry))
    assert report_json.result_line(value, entry) == general


def test_fast_result_line_covers_every_result_field() -> None:
    """Every ``CheckResult`` field reaches the JSON line (a new field must be added to ``result_line`` too)."""
    fields = {f.name for f in dataclasses.fields(CheckResult)}
    line = json.loads(report_json.result_line(result("web:x"), None))
    assert fields - set(line) == set()
