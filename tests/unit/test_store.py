"""Tests for the SQLite history and cache: runs over time, the cache rules, and a database that must not be lost."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reportkit import result

from linkaudit import store as store_module
from linkaudit import storerows
from linkaudit.errors import StoreError
from linkaudit.model import CheckResult, DoiInfo, HistoryEntry, Kind, LinkKey, RepoInfo, Status
from linkaudit.store import SCHEMA_VERSION, Store, open_store

A, B = LinkKey("github:a/ok"), LinkKey("github:b/flaky")


def _run(store: Store, day: int, statuses: dict[LinkKey, Status]) -> dict[LinkKey, HistoryEntry]:
    """Record one simulated nightly run on 2026-11-<day> and return the history by key."""
    started = f"2026-11-{day:02d}T03:00:00Z"
    results = [dataclasses.replace(result(key, status), checked_at=f"2026-11-{day:02d}T03:00:10Z")
               for key, status in statuses.items()]
    entries = store.record_run(results, started_at=started, sources=("cat.md",))
    return {e.key: e for e in entries}


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh history database in a temporary directory (closed after the test)."""
    with open_store(tmp_path / ".linkaudit" / "history.db") as opened:
        yield opened


def test_history_new_then_failing_three_runs_then_fixed(store: Store) -> None:
    """A link seen new, broken three runs in a row, then fixed: streak, first_failed and last_ok follow it."""
    first = _run(store, 18, {A: Status.OK, B: Status.BROKEN})
    assert first[B].first_seen == "2026-11-18T03:00:00Z"
    assert (first[B].consecutive_failures, first[B].first_failed) == (1, "2026-11-18T03:00:10Z")
    assert first[A].last_ok == "2026-11-18T03:00:10Z" and first[A].consecutive_failures == 0

    _run(store, 19, {A: Status.OK, B: Status.BROKEN})
    third = _run(store, 20, {A: Status.OK, B: Status.BROKEN})
    assert third[B].consecutive_failures == 3
    assert third[B].first_failed == "2026-11-18T03:00:10Z"
    assert third[B].last_ok is None
    assert third[B].first_seen == "2026-11-18T03:00:00Z"

    fixed = _run(store, 21, {A: Status.OK, B: Status.OK})
    assert (fixed[B].consecutive_failures, fixed[B].first_failed) == (0, None)
    assert fixed[B].last_ok == "2026-11-21T03:00:10Z"
    assert store.history([B])[B] == fixed[B]


def test_inconclusive_runs_neither_extend_nor_end_a_streak(store: Store) -> None:
    """blocked/error runs leave the failure streak as it was; redirected (a working link) ends it."""
    _run(store, 1, {B: Status.BROKEN})
    assert _run(store, 2, {B: Status.BLOCKED})[B].consecutive_failures == 1
    assert _run(store, 3, {B: Status.ERROR})[B].consecutive_failures == 1
    again = _run(store, 4, {B: Status.BROKEN})[B]
    assert (again.consecutive_failures, again.first_failed) == (2, "2026-11-01T03:00:10Z")
    assert _run(store, 5, {B: Status.REDIRECTED})[B].consecutive_failures == 0


def test_a_new_streak_gets_a_new_first_failed(store: Store) -> None:
    """After a fix, the next breakage starts a new streak dated from its own run."""
    _run(store, 1, {B: Status.BROKEN})
    _run(store, 2, {B: Status.OK})
    entry = _run(store, 3, {B: Status.BROKEN})[B]
    assert (entry.consecutive_failures, entry.first_failed) == (1, "2026-11-03T03:00:10Z")


def test_record_run_returns_entries_in_key_order(store: Store) -> None:
    """record_run returns one entry per link, sorted by key."""
    entries = store.record_run([result("web:z.org"), result("doi:10.1/a"), result("github:m/n")],
                               started_at="2026-11-01T00:00:00Z")
    assert [e.key for e in entries] == ["doi:10.1/a", "github:m/n", "web:z.org"]


def test_history_of_unknown_keys_is_empty(store: Store) -> None:
    """history() leaves out keys it has never seen and lists every link when asked for all."""
    _run(store, 1, {A: Status.OK})
    assert store.history([LinkKey("web:never.org")]) == {}
    assert set(store.history()) == {A}


def test_cache_serves_recent_definitive_oks_only(store: Store) -> None:
    """cached_ok returns links verified ok within the TTL, as from_cache results; failures never."""
    ok = result(A, Status.OK, repo=RepoInfo(stars=5), checked_at="2026-11-20T03:00:00Z")
    broken = result(B, Status.BROKEN, checked_at="2026-11-20T03:00:00Z")
    blocked = result(LinkKey("web:x.org/blocked"), Status.BLOCKED, checked_at="2026-11-20T03:00:00Z")
    store.record_run([ok, broken, blocked], started_at="2026-11-20T03:00:00Z")
    cached = store.cached_ok([A, B, blocked.key], ttl=3600, now="2026-11-20T03:30:00Z")
    assert set(cached) == {A}
    hit = cached[A]
    assert hit.from_cache and hit.status is Status.OK and hit.definitive and hit.attempts == 0
    assert (hit.url, hit.http_status, hit.repo, hit.checked_at) == (ok.url, 200, RepoInfo(stars=5),
                                                                    "2026-11-20T03:00:00Z")
    assert store.cached_ok([A], ttl=3600, now="2026-11-20T04:00:01Z") == {}
    assert store.cached_ok([A], ttl=0, now="2026-11-20T03:00:01Z") == {}


def test_a_daily_job_rechecks_what_the_previous_night_verified(store: Store) -> None:
    """Under the default 24 h TTL, a run a day later re-checks every link, however late the scheduler ran either.

    Links verified at 04:25-04:55 (a 30-minute run that started late) are all due at 04:24 the next day,
    instead of the early ones being re-checked and the late ones served; a re-run that afternoon is served.
    """
    verified = [result(LinkKey(f"web:x.org/{m}"), Status.OK, checked_at=f"2026-11-20T04:{m:02d}:00Z")
                for m in range(25, 56, 5)]
    store.record_run(verified, started_at="2026-11-20T04:25:00Z")
    keys = [r.key for r in verified]
    assert store.cached_ok(keys, ttl=86_400, now="2026-11-21T04:24:00Z") == {}
    assert set(store.cached_ok(keys, ttl=86_400, now="2026-11-20T16:00:00Z")) == set(keys)
    assert store_module.due_age(86_400) == 82_800 and store_module.due_age(7 * 86_400) == 7 * 86_400 - 3600
    assert store_module.due_age(240) == 230  # a short TTL gives up 1/24 of itself
    # a weekly TTL: due on the seventh night, even when that run starts 15 minutes earlier than the last one
    assert store.cached_ok(keys, ttl=7 * 86_400, now="2026-11-27T04:10:00Z") == {}
    assert set(store.cached_ok(keys, ttl=7 * 86_400, now="2026-11-26T04:24:00Z")) == set(keys)


def test_spread_cache_rechecks_a_share_of_the_links_each_night(store: Store) -> None:
    """With spread, 700 links verified by one run come due over the next week, not all on the seventh night.

    A daily job (04:23, plus a scheduler delay of up to 40 minutes) re-checks what is due and records it;
    after the first period each night re-checks about a seventh, and no link goes unchecked for more than
    1.5 periods and a night.
    """
    ttl = 7 * 86_400
    keys = [LinkKey(f"web:x.org/{i}") for i in range(700)]
    start = 1_763_612_580.0  # 2025-11-20T04:23:00Z
    store.record_run([result(k, Status.OK, checked_at=store_module.utc_iso(start)) for k in keys],
                     started_at=store_module.utc_iso(start))
    # without spread, the links all come due together, on the seventh night
    assert len(store.cached_ok(keys, ttl=ttl, now=start + 6 * 86_400 + 600)) == 700
    assert store.cached_ok(keys, ttl=ttl, now=start + 7 * 86_400) == {}
    last_checked = dict.fromkeys(keys, start)
    due_per_night = []
    rechecked_by_night_11: set[LinkKey] = set()
    for night in range(1, 29):
        now = start + night * 86_400 + (night * 7919) % 2400  # a different delay each night
        served = store.cached_ok(keys, ttl=ttl, now=now, spread=True)
        due = [k for k in keys if k not in served]
        due_per_night.append(len(due))
        for key in due:
            # due 0.5-1.5 periods after its check, caught by the first nightly run from then on
            assert ttl / 2 - 3600 <= now - last_checked[key] <= 1.5 * ttl + 86_400 + 2400
            last_checked[key] = now
            if night <= 11:
                rechecked_by_night_11.add(key)
        store.record_run([result(k, Status.OK, checked_at=store_module.utc_iso(now)) for k in due],
                         started_at=store_module.utc_iso(now))
    assert due_per_night[:3] == [0, 0, 0]  # no link before half a period
    assert rechecked_by_night_11 == set(keys)  # every link within 1.5 periods and a night
    assert all(50 <= n <= 150 for n in due_per_night[11:]), due_per_night  # a seventh (100) a night, give or take


def test_spread_slots_are_fixed_by_the_key() -> None:
    """A key's slot is the same on every machine and run; due 0.5-1.5 TTLs after verification."""
    due = store_module.spread_due("web:x.org/1", 1000.0, 100.0)
    assert due == store_module.spread_due("web:x.org/1", 1000.0, 100.0)
    assert 1050.0 <= due < 1150.0
    assert store_module.spread_due("web:x.org/1", due, 100.0) == due + 100.0  # re-checked at its slot: one TTL on
    slots = {round(store_module.spread_due(f"k{i}", 0.0, 100.0) % 100.0) for i in range(500)}
    assert len(slots) > 90  # spread over the period


def test_a_cached_result_never_refreshes_its_own_age(store: Store) -> None:
    """Recording a result that came from the cache keeps the original verification time for the TTL."""
    store.record_run([result(A, Status.OK, checked_at="2026-11-20T00:00:00Z")], started_at="2026-11-20T00:00:00Z")
    cached = store.cached_ok([A], ttl=7200, now="2026-11-20T01:00:00Z")[A]
    store.record_run([cached], started_at="2026-11-20T01:00:00Z")
    assert store.cached_ok([A], ttl=7200, now="2026-11-20T02:30:00Z") == {}
    assert store.history([A])[A].consecutive_failures == 0


def test_a_failure_after_an_ok_empties_the_cache(store: Store) -> None:
    """Once a link is checked broken, its older ok is no longer served."""
    store.record_run([result(A, Status.OK, checked_at="2026-11-20T00:00:00Z")], started_at="2026-11-20T00:00:00Z")
    store.record_run([result(A, Status.BROKEN, checked_at="2026-11-20T00:10:00Z")],
                     started_at="2026-11-20T00:10:00Z")
    assert store.cached_ok([A], ttl=86_400, now="2026-11-20T00:20:00Z") == {}


def test_previous_run_statuses_and_report(store: Store) -> None:
    """The previous run's statuses (latest, or latest before a time) and its projection as a Report."""
    assert store.previous_run_statuses() == {} and store.previous_run_report() is None
    _run(store, 1, {A: Status.OK, B: Status.BROKEN})
    _run(store, 2, {A: Status.OK, B: Status.OK})
    assert store.previous_run_statuses() == {A: "ok", B: "ok"}
    assert store.previous_run_statuses(before="2026-11-02T03:00:00Z") == {A: "ok", B: "broken"}
    old = store.previous_run_report(before="2026-11-02T03:00:00Z")
    assert old is not None and old.started_at == "2026-11-01T03:00:00Z" and old.sources == ("cat.md",)
    assert [(r.key, r.status) for r in old.results] == [(A, Status.OK), (B, Status.BROKEN)]


def test_old_runs_are_pruned(tmp_path: Path) -> None:
    """Per-run rows are kept for keep_runs runs; per-link history is kept forever."""
    with open_store(tmp_path / "h.db", keep_runs=2) as store:
        for day in range(1, 6):
            _run(store, day, {A: Status.BROKEN})
        assert store.history([A])[A].consecutive_failures == 5
    conn = sqlite3.connect(tmp_path / "h.db")
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM checks").fetchone()[0] == 2
    conn.close()


def test_etags_are_stored_and_replaced(store: Store) -> None:
    """An ETag and its body are kept per URL, and a newer one replaces the old."""
    url = "https://api.github.com/repos/a/b"
    assert store.get_etag(url) is None
    store.put_etag(url, 'W/"1"', "{}")
    store.put_etag(url, 'W/"2"', '{"x": 1}')
    assert store.get_etag(url) == ('W/"2"', '{"x": 1}')


def test_database_is_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    """A new database carries the schema version and the application id, in WAL journal mode."""
    path = tmp_path / "h.db"
    open_store(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    open_store(path).close()  # reopening an existing database works


def test_corrupt_file_is_an_error_and_left_untouched(tmp_path: Path) -> None:
    """A file that is not a SQLite database gives a clear StoreError and is not overwritten."""
    path = tmp_path / "history.db"
    content = b"this is not a database\n" * 200
    path.write_bytes(content)
    with pytest.raises(StoreError, match="corrupt") as info:
        open_store(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    assert path.read_bytes() == content


def test_damaged_pages_are_an_error_and_left_untouched(tmp_path: Path) -> None:
    """A database whose pages were damaged fails with a StoreError when read, not a traceback."""
    path = tmp_path / "history.db"
    with open_store(path) as store:
        store.record_run([result(f"web:x.org/{i}") for i in range(400)], started_at="2026-11-01T00:00:00Z")
    data = bytearray(path.read_bytes())
    data[4096:len(data)] = b"\xa5" * (len(data) - 4096)  # keep the header page, smash the rest
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupt"), open_store(path) as store:
        store.history()
    assert path.read_bytes() == bytes(data)


def test_newer_schema_is_an_error_and_left_untouched(tmp_path: Path) -> None:
    """A database from a newer linkaudit (higher user_version) is refused, naming both versions."""
    path = tmp_path / "history.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        open_store(path)
    assert path.read_bytes() == before


def test_foreign_database_is_an_error_and_left_untouched(tmp_path: Path) -> None:
    """Some other program's SQLite file is never taken over."""
    path = tmp_path / "history.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a linkaudit history database"):
        open_store(path)
    assert path.read_bytes() == before


def test_missing_database_without_create(tmp_path: Path) -> None:
    """open_store(create=False) on a missing file is a StoreError and creates nothing."""
    with pytest.raises(StoreError, match="no history database"):
        open_store(tmp_path / "none.db", create=False)
    assert not (tmp_path / "none.db").exists()


def test_directory_instead_of_file(tmp_path: Path) -> None:
    """A history path that is a directory gives a clear StoreError."""
    with pytest.raises(StoreError, match="is a directory"):
        open_store(tmp_path)


def test_second_run_fails_cleanly_when_the_lock_is_held_too_long(tmp_path: Path) -> None:
    """While another run holds the write lock past the busy timeout, recording fails with a clear StoreError."""
    path = tmp_path / "h.db"
    open_store(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with open_store(path, timeout=0.2) as store:
            started = time.monotonic()
            with pytest.raises(StoreError, match="locked by another linkaudit run"):
                store.record_run([result(A)], started_at="2026-11-01T00:00:00Z")
            assert time.monotonic() - started >= 0.15  # it waited before giving up
            assert store.history() == {}  # reads still work in WAL mode
    finally:
        other.execute("ROLLBACK")
        other.close()
    with open_store(path) as store:
        store.record_run([result(A)], started_at="2026-11-01T00:00:00Z")  # and the database is fine


def test_second_run_waits_for_a_short_lock(tmp_path: Path) -> None:
    """A run that finds the lock held briefly waits for it and then records normally."""
    path = tmp_path / "h.db"
    open_store(path).close()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: (other.execute("COMMIT"), other.close()))
    release.start()
    with open_store(path, timeout=10) as store:
        store.record_run([result(A)], started_at="2026-11-01T00:00:00Z")
        assert A in store.history()
    release.join()


def test_concurrent_writers_never_corrupt(tmp_path: Path) -> None:
    """Several runs recording at once all land, whole, and the database passes its integrity check."""
    path = tmp_path / "h.db"
    open_store(path).close()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with open_store(path, timeout=30) as store:
                for day in range(1, 6):
                    results = [result(f"web:w{n}.org/{i}", Status.BROKEN) for i in range(50)]
                    store.record_run(results, started_at=f"2026-11-{day:02d}T00:00:0{n}Z")
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 20
    assert conn.execute("SELECT count(*) FROM checks").fetchone()[0] == 20 * 50
    conn.close()
    with open_store(path) as store:
        assert {e.consecutive_failures for e in store.history().values()} == {5}


def test_a_crash_mid_run_leaves_the_last_complete_run(tmp_path: Path) -> None:
    """A process killed in the middle of recording leaves no half-written run behind."""
    path = tmp_path / "h.db"
    with open_store(path) as store:
        store.record_run([result(A)], started_at="2026-11-01T00:00:00Z")
    script = f"""
import os, sqlite3
conn = sqlite3.connect({str(path)!r}, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO runs (started_at, sources, total) VALUES ('2026-11-02T00:00:00Z', '[]', 1)")
conn.execute("UPDATE links SET consecutive_failures = 99")
os._exit(9)  # die without commit or close, like a killed run
"""
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 9
    with open_store(path) as store:
        assert store.history()[A].consecutive_failures == 0
        assert store.previous_run_report() is not None
        assert store.previous_run_report().started_at == "2026-11-01T00:00:00Z"


def _projection_dict(result: CheckResult) -> dict[str, Any]:
    """A verified result's projection as a dict: what ``storerows.projection`` must encode, byte for byte."""
    data: dict[str, Any] = {}
    if result.http_status is not None:
        data["http_status"] = result.http_status
    if result.final_url is not None:
        data["final_url"] = result.final_url
    if result.redirects:
        data["redirects"] = list(result.redirects)
    if result.detail:
        data["detail"] = result.detail
    if result.checked_at is not None:
        data["checked_at"] = result.checked_at
    repo = result.repo
    if repo is not None:
        data["repo"] = {
            "archived": repo.archived, "renamed_to": repo.renamed_to, "stars": repo.stars,
            "pushed_at": repo.pushed_at, "empty": repo.empty, "disabled": repo.disabled,
        }
    doi = result.doi
    if doi is not None:
        data["doi"] = {
            "registered": doi.registered, "target": doi.target, "title": doi.title,
            "title_matches": doi.title_matches,
        }
    return data


OPTIONAL_TEXT = st.none() | st.text(max_size=12)
RESULTS = st.builds(
    CheckResult,
    key=st.just(LinkKey("web:x.org/a")), url=st.just("https://x.org/a"), kind=st.just(Kind.WEB),
    status=st.just(Status.OK), definitive=st.just(True),
    http_status=st.none() | st.integers(100, 599), final_url=OPTIONAL_TEXT,
    redirects=st.lists(st.text(max_size=8), max_size=3).map(tuple), detail=st.text(max_size=12),
    checked_at=OPTIONAL_TEXT,
    repo=st.none() | st.builds(RepoInfo, archived=st.booleans(), renamed_to=OPTIONAL_TEXT,
                               stars=st.none() | st.integers(-1, 10**12), pushed_at=OPTIONAL_TEXT,
                               empty=st.booleans(), disabled=st.booleans()),
    doi=st.none() | st.builds(DoiInfo, registered=st.booleans(), target=OPTIONAL_TEXT, title=OPTIONAL_TEXT,
                              title_matches=st.none() | st.booleans()),
)


@settings(max_examples=500)
@given(RESULTS)
def test_projection_is_the_sorted_encoding_of_its_dict(value: CheckResult) -> None:
    """The hand-built projection is byte for byte json.dumps(sort_keys=True) of the same fields, and reads back."""
    assert storerows.projection(value) == storerows.ENCODE_SORTED(_projection_dict(value))
    back = storerows.from_projection(value.key, value.kind.value, json.loads(storerows.projection(value)), url=value.url)
    assert (back.http_status, back.final_url, back.redirects, back.detail, back.checked_at, back.repo, back.doi) == (
        value.http_status, value.final_url, value.redirects, value.detail, value.checked_at, value.repo, value.doi)
