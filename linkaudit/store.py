"""History and cache: ``CheckResult``s of each run -> the SQLite database (default ``.linkaudit/history.db``).

Inputs: the results of a run (``record_run``) and link keys (``cached_ok``,
``history``).  Outputs: ``HistoryEntry`` per link (``first_seen``,
``last_ok``, ``consecutive_failures``, ``first_failed``), cached recent OKs,
the previous run's statuses, and GitHub ETags.

Safety: the standard library's sqlite3 in WAL mode; every write is one
``BEGIN IMMEDIATE`` transaction, so a crash leaves the last complete run and a
second concurrent run waits for the lock (``busy timeout``) and, past it,
fails with a ``StoreError`` instead of corrupting anything.  The file is
marked as ours (``PRAGMA application_id``) and versioned (``PRAGMA
user_version``): a corrupt file, a foreign database or a newer schema is a
``StoreError`` naming the file, and the file is never overwritten.

What is stored is a small, stable projection of each result (status, HTTP
code, time, final URL, repo/doi facts), never a pickled ``CheckResult``.

History rules, per link and run:
- ``broken`` extends the failure streak (``consecutive_failures`` + 1; the
  streak's first run is ``first_failed``);
- ``ok`` and ``redirected`` (the link resolves) end it and set ``last_ok``;
- ``blocked``, ``error`` and ``skipped`` are inconclusive: the streak neither
  grows nor ends.
The cache serves only definitive ``ok`` verdicts obtained from the network
less than ``ttl`` seconds ago, less a scheduling allowance (``due_age``); a
failure is always checked again, and a result served from the cache never
refreshes its own age.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import StoreError
from .model import CheckResult, HistoryEntry, Kind, LinkKey, Report, Status
from .storerows import (
    LinkRow,
    advance,
    due_age,
    from_projection,
    projection,
    spread_due,
    time_or,
    to_datetime,
    utc_iso,
)

SCHEMA_VERSION = 2
"""Version of the tables below, kept in ``PRAGMA user_version``; bump it with a migration."""

APPLICATION_ID = 0x4C4B4155
"""``PRAGMA application_id`` of a linkaudit history database ("LKAU")."""

DEFAULT_BUSY_TIMEOUT = 30.0
"""Seconds a run waits for another run's write lock before giving up with a ``StoreError``."""

DEFAULT_KEEP_RUNS = 30
"""Per-run check rows are kept for this many runs (``history_keep_runs``); the per-link summary is kept forever."""

_CHUNK = 500  # keys per `IN (...)` query; well under SQLite's variable limit

_RUNS = """
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  TEXT NOT NULL,
    sources     TEXT NOT NULL,
    total       INTEGER NOT NULL
);
CREATE INDEX runs_started ON runs (started_at);
"""
_LINKS = """
CREATE TABLE links (
    key                  TEXT PRIMARY KEY,
    id                   INTEGER NOT NULL UNIQUE,
    url                  TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    first_seen           TEXT NOT NULL,
    last_seen            TEXT NOT NULL,
    last_status          TEXT NOT NULL,
    last_ok              TEXT,
    consecutive_failures INTEGER NOT NULL,
    first_failed         TEXT,
    verified_at          REAL,
    verified_status      TEXT,
    verified_definitive  INTEGER,
    verified_result      TEXT
) WITHOUT ROWID;
"""
_CHECKS = """
CREATE TABLE checks (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    link        INTEGER NOT NULL,
    status      TEXT NOT NULL,
    definitive  INTEGER NOT NULL,
    http_status INTEGER,
    checked     INTEGER,
    from_cache  INTEGER NOT NULL,
    PRIMARY KEY (run_id, link)
) WITHOUT ROWID;
"""
_ETAGS = """
CREATE TABLE etags (
    url        TEXT PRIMARY KEY,
    etag       TEXT NOT NULL,
    body       TEXT NOT NULL,
    stored_at  TEXT NOT NULL
) WITHOUT ROWID;
"""
_SCHEMA = _RUNS + _LINKS + _CHECKS + _ETAGS
"""Schema 2.  A run's row per link (``checks``) names the link by its ``links.id`` and dates the verdict in
seconds after the run's ``started_at``; the key, URL and kind are the link's ``links`` row's.  That is
~23 bytes per link and run, where schema 1 repeated the key, URL, kind and an ISO time in each row (~128
bytes: 41,000 links at 30 kept runs came to 176 MB, now 44 MB; ``bench/history.py``)."""

_LINK_FIELDS = ("key, url, kind, first_seen, last_seen, last_status, last_ok, consecutive_failures, first_failed, "
                "verified_at, verified_status, verified_definitive, verified_result")

_MIGRATIONS: dict[int, str] = {
    1: "ALTER TABLE links RENAME TO links_1;\nALTER TABLE checks RENAME TO checks_1;\n" + _LINKS + _CHECKS + f"""
CREATE TEMP TABLE ids_1 (id INTEGER PRIMARY KEY, key TEXT NOT NULL);
INSERT INTO ids_1 (key) SELECT key FROM links_1 ORDER BY key;
INSERT INTO links (id, {_LINK_FIELDS})
    SELECT i.id, {", ".join("l." + name.strip() for name in _LINK_FIELDS.split(","))}
    FROM ids_1 i CROSS JOIN links_1 l ON l.key = i.key;
DROP TABLE ids_1;
INSERT INTO checks (run_id, link, status, definitive, http_status, checked, from_cache)
    SELECT c.run_id, l.id, c.status, c.definitive, c.http_status,
           CAST(strftime('%s', c.checked_at) AS INTEGER) - CAST(strftime('%s', r.started_at) AS INTEGER),
           c.from_cache
    FROM checks_1 c JOIN runs r ON r.id = c.run_id JOIN links l ON l.key = c.key;
DROP TABLE checks_1;
DROP TABLE links_1;
""",
}
"""Schema N -> N + 1, run in order inside the opening transaction.  1 -> 2 keeps every link with all its fields
(numbered in key order, through a temporary table: window functions would need SQLite 3.25, one release more
than the upserts of schema 1) and every kept run's rows with their status, code and time (schema 1 wrote a
link's row with each of its run rows, so each run row finds its link)."""


class Store:
    """An open history database; use as a context manager (``with open_store(path) as store:``)."""

    def __init__(self, conn: sqlite3.Connection, path: str, *, timeout: float,
                 keep_runs: int = DEFAULT_KEEP_RUNS) -> None:
        """Wrap an already-validated connection; use ``open_store`` instead."""
        self._conn = conn
        self._lock = threading.Lock()
        self.path = path
        """The database file."""
        self.timeout = timeout
        """Seconds to wait for another run's lock."""
        self.keep_runs = keep_runs
        """How many runs keep their per-link check rows."""
        self.upgraded_from: int | None = None
        """The schema version this opening upgraded the file from (None: it was current or new)."""

    # -- plumbing -------------------------------------------------------------------------------

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (WAL is checkpointed by SQLite when the last connection closes)."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _guard(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _store_error(self.path, exc, action=action, timeout=self.timeout) from exc

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it or nothing (a crash or an exception rolls it back)."""
        with self._guard(action) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _rows(self, conn: sqlite3.Connection, sql: str, keys: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            yield from conn.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)

    # -- the cache ------------------------------------------------------------------------------

    def cached_ok(self, keys: Iterable[LinkKey], *, ttl: float, now: datetime | str | float | None = None,
                  spread: bool = False) -> dict[LinkKey, CheckResult]:
        """Recent definitive OKs among ``keys``: verified from the network less than ``due_age(ttl)`` before ``now``.

        With ``spread``, a link is served until its own slot instead (``spread_due``, less the same
        scheduling allowance).  The results have ``from_cache=True``, ``attempts=0`` and no citations
        (the caller attaches them).  Failures are never served.
        """
        wanted = sorted(set(keys))
        if ttl <= 0 or not wanted:
            return {}
        moment = to_datetime(now).timestamp()
        allowance = ttl - due_age(ttl)
        # with spread, a link can be fresh up to 1.5 ttl after it was verified: those rows are read, then sorted out
        oldest = moment - (1.5 * ttl - allowance if spread else due_age(ttl))
        sql = ("SELECT key, url, kind, verified_result, verified_at FROM links WHERE key IN ({marks}) "
               "AND verified_status = 'ok' AND verified_definitive = 1 AND verified_at >= ?")
        out: dict[LinkKey, CheckResult] = {}
        with self._guard("read the cache") as conn:
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i:i + _CHUNK]
                query = sql.format(marks=",".join("?" * len(chunk)))
                for key, url, kind, blob, verified in conn.execute(query, [*chunk, oldest]):
                    if spread and moment >= spread_due(key, verified, ttl) - allowance:
                        continue
                    try:
                        out[LinkKey(key)] = from_projection(key, kind, json.loads(blob), url=url)
                    except (ValueError, TypeError, KeyError):
                        continue  # an unreadable cache row only costs a re-check
        return out

    # -- history --------------------------------------------------------------------------------

    def record_run(self, results: Sequence[CheckResult], *, started_at: str,
                   sources: Sequence[str] = ()) -> tuple[HistoryEntry, ...]:
        """Record one run's results in one transaction; return each link's updated history, by key.

        ``started_at`` (ISO 8601) dates the run; a result's own ``checked_at``,
        when set, dates its verdict.
        """
        run_time = utc_iso(started_at)
        run_epoch = to_datetime(run_time).timestamp()
        latest = {r.key: r for r in results}  # one verdict per key; the checker already deduplicates
        keys = sorted(latest)
        entries: list[HistoryEntry] = []
        with self._write("record the run") as conn:
            cursor = conn.execute("INSERT INTO runs (started_at, sources, total) VALUES (?, ?, ?)",
                                  (run_time, json.dumps(sorted(set(sources))), len(keys)))
            run_id = int(cursor.lastrowid or 0)
            ids: dict[str, int] = {}
            previous: dict[str, LinkRow] = {}
            for key, link_id, *row in self._rows(
                    conn, "SELECT key, id, first_seen, last_ok, consecutive_failures, first_failed "
                          "FROM links WHERE key IN ({marks})", keys):
                ids[key] = link_id
                previous[key] = LinkRow(*row)
            next_id = int(conn.execute("SELECT coalesce(max(id), 0) FROM links").fetchone()[0]) + 1
            check_rows, link_rows = [], []
            for key in keys:
                result = latest[key]
                when, epoch = time_or(result.checked_at, run_time)
                entry = advance(previous.get(key), result, key=key, run_time=run_time, when=when)
                entries.append(entry)
                link_id = ids.get(key)
                if link_id is None:
                    link_id = next_id
                    next_id += 1
                status = result.status
                status_value, definitive, cached = status.value, int(result.definitive), int(result.from_cache)
                verified: tuple[Any, ...] = (None, None, None, None)
                if not cached:
                    # only a definitive ok is ever served again, so only its projection is worth storing
                    verified = (epoch, status_value, definitive,
                                projection(result) if status is Status.OK and definitive else None)
                link_rows.append((link_id, key, result.url, result.kind.value, entry.first_seen, run_time,
                                  status_value, entry.last_ok, entry.consecutive_failures,
                                  entry.first_failed, *verified, cached))
                check_rows.append((run_id, link_id, status_value, definitive, result.http_status,
                                   int(epoch - run_epoch), cached))
            # a cached verdict keeps the verification it came from (its age must keep growing)
            conn.executemany(
                """INSERT INTO links (id, key, url, kind, first_seen, last_seen, last_status, last_ok,
                       consecutive_failures, first_failed, verified_at, verified_status, verified_definitive,
                       verified_result)
                   VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                   ON CONFLICT (key) DO UPDATE SET
                       url = excluded.url, kind = excluded.kind, last_seen = excluded.last_seen,
                       last_status = excluded.last_status, last_ok = excluded.last_ok,
                       consecutive_failures = excluded.consecutive_failures, first_failed = excluded.first_failed,
                       verified_at = CASE WHEN ?15 THEN verified_at ELSE excluded.verified_at END,
                       verified_status = CASE WHEN ?15 THEN verified_status ELSE excluded.verified_status END,
                       verified_definitive = CASE WHEN ?15 THEN verified_definitive
                                                  ELSE excluded.verified_definitive END,
                       verified_result = CASE WHEN ?15 THEN verified_result ELSE excluded.verified_result END
                """, link_rows)
            conn.executemany(
                "INSERT INTO checks (run_id, link, status, definitive, http_status, checked, from_cache) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", check_rows)
            conn.execute("DELETE FROM runs WHERE id <= ?", (run_id - self.keep_runs,))
        return tuple(entries)

    def history(self, keys: Iterable[LinkKey] | None = None) -> dict[LinkKey, HistoryEntry]:
        """The history of ``keys`` (every known link when None); unknown keys are absent."""
        select = "SELECT key, first_seen, last_ok, consecutive_failures, first_failed FROM links"
        with self._guard("read the history") as conn:
            if keys is None:
                rows: Iterable[tuple[Any, ...]] = conn.execute(select + " ORDER BY key")
            else:
                rows = list(self._rows(conn, select + " WHERE key IN ({marks})", sorted(set(keys))))
            return {LinkKey(k): HistoryEntry(LinkKey(k), first, ok, fails, failed)
                    for k, first, ok, fails, failed in rows}

    def _previous_run(self, conn: sqlite3.Connection, before: str | None) -> tuple[int, str, str] | None:
        if before is None:
            row = conn.execute("SELECT id, started_at, sources FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        else:
            row = conn.execute("SELECT id, started_at, sources FROM runs WHERE started_at < ? "
                               "ORDER BY started_at DESC, id DESC LIMIT 1", (utc_iso(before),)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    def previous_run_statuses(self, *, before: str | None = None) -> dict[LinkKey, str]:
        """Status per key in the latest recorded run (or the latest that started before ``before``); {} if none.

        Call it before ``record_run`` to compare a run with the one before it.
        """
        with self._guard("read the previous run") as conn:
            run = self._previous_run(conn, before)
            if run is None:
                return {}
            # links scanned in key order, each looked up in the run by primary key: no index walk per row
            return {LinkKey(k): s for k, s in conn.execute(
                "SELECT l.key, c.status FROM links l CROSS JOIN checks c ON c.run_id = ? AND c.link = l.id",
                (run[0],))}

    def previous_run_report(self, *, before: str | None = None) -> Report | None:
        """The latest recorded run (or the latest before ``before``) as a ``Report`` of its stored projection.

        A result's URL and kind are its link's as last recorded (a key's URL differs between runs at most
        in spelling: the key is the normalised link).
        """
        with self._guard("read the previous run") as conn:
            run = self._previous_run(conn, before)
            if run is None:
                return None
            # the links in key order (the table's own, so the ORDER BY costs no sort), each looked up in the run
            rows = conn.execute("SELECT l.key, l.url, l.kind, c.status, c.definitive, c.http_status, c.checked, "
                                "c.from_cache FROM links l CROSS JOIN checks c ON c.run_id = ? AND c.link = l.id "
                                "ORDER BY l.key", (run[0],)).fetchall()
        try:
            start = to_datetime(run[1]).timestamp()
            times: dict[int, str] = {}  # a run's verdicts share a few thousand distinct seconds at most
            results = []
            for k, url, kind, status, definitive, code, checked, cached in rows:
                offset = checked or 0
                when = times.get(offset)
                if when is None:
                    when = times[offset] = utc_iso(start + offset)
                results.append(CheckResult(key=LinkKey(k), url=url, kind=Kind(kind), status=Status(status),
                                           definitive=bool(definitive), http_status=code, checked_at=when,
                                           from_cache=bool(cached)))
            sources = tuple(json.loads(run[2]))
        except (ValueError, TypeError) as exc:
            raise StoreError(f"{self.path}: unreadable run record ({exc}); the file was left untouched") from exc
        return Report(results=tuple(results), sources=sources, started_at=run[1])

    # -- GitHub ETags ---------------------------------------------------------------------------

    def get_etag(self, url: str) -> tuple[str, str] | None:
        """The stored ``(etag, body)`` of an API ``url``, to send ``If-None-Match`` and reuse the body on 304."""
        with self._guard("read an ETag") as conn:
            row = conn.execute("SELECT etag, body FROM etags WHERE url = ?", (url,)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def put_etag(self, url: str, etag: str, body: str) -> None:
        """Remember the ``etag`` and ``body`` of an API response."""
        with self._write("store an ETag") as conn:
            conn.execute("INSERT INTO etags (url, etag, body, stored_at) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, body = excluded.body, "
                         "stored_at = excluded.stored_at", (url, etag, body, utc_iso()))


def _store_error(path: str, exc: sqlite3.Error, *, action: str, timeout: float) -> StoreError:
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreError(f"{path}: history database is locked by another linkaudit run (waited {timeout:g} s "
                          f"to {action}); try again when it has finished")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return StoreError(f"{path}: history database is corrupt ({exc}); it was left untouched: move it away "
                          "or set history_path to start a new history")
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM", "SQLITE_FULL")):
        return StoreError(f"{path}: cannot {action} in the history database ({exc})")
    return StoreError(f"{path}: history database error while trying to {action} ({exc})")


def open_store(path: str | Path, *, timeout: float = DEFAULT_BUSY_TIMEOUT, create: bool = True,
               keep_runs: int = DEFAULT_KEEP_RUNS) -> Store:
    """Open (and with ``create``, create) the history database at ``path``.

    Raises ``StoreError`` when the file is corrupt, not a linkaudit database,
    from a newer linkaudit, locked past ``timeout`` seconds, or (without
    ``create``) missing.  An existing file is never overwritten.
    """
    name = str(path)
    file = Path(path)
    if file.is_dir():
        raise StoreError(f"{name}: is a directory, expected the history database file")
    if not file.exists():
        if not create:
            raise StoreError(f"{name}: no history database here (a `linkaudit audit` run creates it)")
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{name}: cannot create the history directory ({exc.strerror or exc})") from exc
    try:
        conn = sqlite3.connect(name, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise _store_error(name, exc, action="open", timeout=timeout) from exc
    try:
        upgraded_from = _prepare(conn, name)
    except StoreError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise _store_error(name, exc, action="open", timeout=timeout) from exc
    store = Store(conn, name, timeout=timeout, keep_runs=keep_runs)
    store.upgraded_from = upgraded_from
    return store


def _prepare(conn: sqlite3.Connection, name: str) -> int | None:
    """Check that ``conn`` is a linkaudit database of a version we understand; create or upgrade its tables.

    Returns the version the file was upgraded from, or None.
    """
    # reading the header first: a file that is not SQLite fails here, before anything is written
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    _check_version(conn, name, version)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    if version == SCHEMA_VERSION:
        return None
    conn.execute("BEGIN IMMEDIATE")
    try:
        # another run may have created or upgraded the tables while we waited for the lock
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        _check_version(conn, name, version)
        upgraded = version if 0 < version < SCHEMA_VERSION else None
        if version == 0:
            _run_script(conn, _SCHEMA)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        while 0 < version < SCHEMA_VERSION:
            try:
                _run_script(conn, _MIGRATIONS[version])
            except sqlite3.Error as exc:
                error = _store_error(name, exc, action=f"upgrade the history from schema {version} to {version + 1}",
                                     timeout=conn.execute("PRAGMA busy_timeout").fetchone()[0] / 1000)
                raise StoreError(f"{error}; the upgrade was rolled back and the file is as it was") from exc
            version += 1
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    if upgraded is not None:
        # the old rows' pages are free now; without this the file would keep its size until new runs refill it
        # (it fails while another connection reads, or when the disk lacks room for the copy: later runs
        # then reuse the free pages)
        with contextlib.suppress(sqlite3.Error):
            conn.execute("VACUUM")
    return upgraded


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Each statement of ``script`` in the current transaction (``executescript`` would commit it first)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _check_version(conn: sqlite3.Connection, name: str, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(f"{name}: history database has schema version {version}, newer than this linkaudit "
                         f"understands ({SCHEMA_VERSION}); upgrade linkaudit or use another history_path "
                         "(the file was left untouched)")
    app = int(conn.execute("PRAGMA application_id").fetchone()[0])
    if version == 0:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        if tables or app not in (0, APPLICATION_ID):
            raise StoreError(f"{name}: not a linkaudit history database (it holds other tables: "
                             f"{', '.join(sorted(tables)[:3]) or 'none'}); it was left untouched")
    elif app != APPLICATION_ID:
        raise StoreError(f"{name}: not a linkaudit history database (application id {app:#x}); "
                         "it was left untouched")
