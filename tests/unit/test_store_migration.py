"""A schema-1 history database (written by linkaudit before schema 2) is upgraded in place, losing nothing.

The fixture ``tests/data/history-v1.db`` and the answers schema 1 gave for it
(``history-v1.expected.json``) were made by ``tests/data/make_history_v1.py`` with the schema-1 package.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import threading
from pathlib import Path
from types import ModuleType

import pytest
from reportkit import result

from linkaudit.errors import StoreError
from linkaudit.model import LinkKey, Status
from linkaudit.store import SCHEMA_VERSION, open_store

DATA = Path(__file__).resolve().parent.parent / "data"


def _load_fixture_script() -> ModuleType:
    """``make_history_v1.py``, whose ``answers`` made the expected answers: the test asks the same questions."""
    spec = importlib.util.spec_from_file_location("make_history_v1", DATA / "make_history_v1.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_answers = _load_fixture_script().answers


@pytest.fixture()
def v1_db(tmp_path: Path) -> Path:
    path = tmp_path / "history.db"
    shutil.copyfile(DATA / "history-v1.db", path)
    return path


def _tables(path: Path) -> tuple[int, list[str]]:
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        names = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    finally:
        conn.close()
    return version, names


def test_fixture_is_schema_1(v1_db: Path) -> None:
    """The fixture really is the old layout (the key and URL repeated in every run row)."""
    version, _ = _tables(v1_db)
    conn = sqlite3.connect(v1_db)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(checks)")]
    conn.close()
    assert version == 1 and {"key", "url", "kind", "checked_at"} <= set(columns)


def test_upgrade_answers_exactly_what_schema_1_answered(v1_db: Path) -> None:
    """History, streaks, the previous run (latest and before a date), the cache and ETags are unchanged."""
    expected = json.loads((DATA / "history-v1.expected.json").read_text(encoding="utf-8"))
    with open_store(v1_db) as store:
        assert store.upgraded_from == 1
        assert _answers(store) == expected
    version, names = _tables(v1_db)
    assert version == SCHEMA_VERSION == 2
    assert names == ["checks", "etags", "links", "runs", "sqlite_sequence"]
    with open_store(v1_db) as store:  # reopening an upgraded file is a no-op
        assert store.upgraded_from is None
        assert _answers(store) == expected


def test_upgraded_history_goes_on(v1_db: Path) -> None:
    """After the upgrade a run extends the old streaks, adds new links and prunes the oldest runs."""
    with open_store(v1_db, keep_runs=3) as store:
        before = store.history()
        entries = {e.key: e for e in store.record_run(
            [result("web:gone.example/x", Status.BROKEN, checked_at="2026-11-06T03:00:09Z"),
             result("github:a/ok"), result("web:new.example/y", Status.BROKEN)],
            started_at="2026-11-06T03:00:00Z")}
        gone = LinkKey("web:gone.example/x")
        assert entries[gone].consecutive_failures == before[gone].consecutive_failures + 1 == 6
        assert entries[gone].first_failed == before[gone].first_failed
        assert entries[LinkKey("web:new.example/y")].consecutive_failures == 1
        assert store.previous_run_statuses() == {gone: "broken", LinkKey("github:a/ok"): "ok",
                                                 LinkKey("web:new.example/y"): "broken"}
        report = store.previous_run_report()
        assert report is not None
        assert {r.key: r.checked_at for r in report.results}[gone] == "2026-11-06T03:00:09Z"
        assert len(store.history()) == len(before) + 1
    conn = sqlite3.connect(v1_db)
    runs = [r[0] for r in conn.execute("SELECT started_at FROM runs ORDER BY id")]
    ids = conn.execute("SELECT count(*), count(DISTINCT id), count(DISTINCT key) FROM links").fetchone()
    conn.close()
    assert runs == ["2026-11-04T03:00:00Z", "2026-11-05T03:00:00Z", "2026-11-06T03:00:00Z"]
    assert ids == (8, 8, 8)


def test_upgrade_waits_for_the_lock_and_leaves_schema_1_when_it_cannot(v1_db: Path) -> None:
    """While another run holds the write lock past the timeout, the upgrade fails cleanly: the file stays schema 1."""
    before = v1_db.read_bytes()
    holder = sqlite3.connect(v1_db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked by another linkaudit run"):
            open_store(v1_db, timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _tables(v1_db)[0] == 1
    assert v1_db.read_bytes() == before
    with open_store(v1_db) as store:  # and the next run upgrades it
        assert LinkKey("github:a/ok") in store.history()


def test_upgrade_that_fails_midway_is_rolled_back(v1_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A statement of the migration failing (here, an injected error) leaves every schema-1 table as it was."""
    from linkaudit import store as store_module

    script = store_module._MIGRATIONS[1]
    broken = script.replace("DROP TABLE links_1;", "SELECT no_such_function();")
    monkeypatch.setitem(store_module._MIGRATIONS, 1, broken)
    conn = sqlite3.connect(v1_db)
    rows_before = conn.execute("SELECT * FROM checks ORDER BY run_id, key").fetchall()
    conn.close()
    with pytest.raises(StoreError, match=r"upgrade the history from schema 1 to 2 .*; the upgrade was rolled back"):
        open_store(v1_db)
    version, names = _tables(v1_db)
    conn = sqlite3.connect(v1_db)
    rows_after = conn.execute("SELECT * FROM checks ORDER BY run_id, key").fetchall()
    conn.close()
    assert version == 1 and names == ["checks", "etags", "links", "runs", "sqlite_sequence"]
    assert rows_after == rows_before


def test_two_runs_opening_a_schema_1_file_at_once_upgrade_it_once(v1_db: Path) -> None:
    """The second opener waits for the first one's upgrade and then finds schema 2 (no double migration)."""
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            with open_store(v1_db) as store:
                store.history()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _tables(v1_db)[0] == SCHEMA_VERSION


def test_schema_2_rows_are_small(tmp_path: Path) -> None:
    """A run adds ~25-35 bytes per link (schema 1: ~110), and a plain page's cached projection is short."""
    path = tmp_path / "h.db"
    with open_store(path) as store:
        for night in range(1, 4):
            store.record_run([result(f"web:host{i % 7}.example/papers/{i}/code") for i in range(3000)],
                             started_at=f"2026-11-{night:02d}T03:00:00Z")
    conn = sqlite3.connect(path)
    try:
        sizes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table")
    blob = conn.execute("SELECT verified_result FROM links LIMIT 1").fetchone()[0]
    conn.close()
    assert sizes["checks"] / (3 * 3000) < 40
    assert json.loads(blob) == {"checked_at": "2026-11-20T03:00:05Z", "http_status": 200}
