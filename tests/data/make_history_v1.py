"""Write ``history-v1.db`` and ``history-v1.expected.json``: a schema-1 history and what schema 1 answered.

Run with the package as of schema 1 first on the path (the fixtures in this directory were made from
``git archive be23e67 linkaudit``)::

    git archive be23e67 linkaudit | tar -x -C /tmp/v1
    PYTHONPATH=/tmp/v1 python tests/data/make_history_v1.py tests/data

``tests/unit/test_store_migration.py`` opens a copy with the current package and compares its answers
with the expected ones: the upgrade must not change what the history says.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from linkaudit.model import CheckResult, DoiInfo, Kind, LinkKey, RepoInfo, Status
from linkaudit.store import SCHEMA_VERSION, open_store

NOW = "2026-11-05T04:00:00Z"


def _result(key: str, status: Status, day: int, **extra: object) -> CheckResult:
    kind = Kind(key.split(":", 1)[0]) if key.split(":", 1)[0] in {k.value for k in Kind} else Kind.WEB
    url = {"github": "https://github.com/", "doi": "https://doi.org/"}.get(kind.value, "https://")
    fields: dict[str, object] = {
        "http_status": {Status.OK: 200, Status.BROKEN: 404, Status.REDIRECTED: 301, Status.BLOCKED: 403,
                        Status.ERROR: None}[status],
        "checked_at": f"2026-11-{day:02d}T03:{day:02d}:17Z",
        "definitive": status in (Status.OK, Status.BROKEN, Status.REDIRECTED),
    }
    fields.update(extra)
    return CheckResult(key=LinkKey(key), url=url + key.split(":", 1)[1], kind=kind, status=status,
                       **fields)  # type: ignore[arg-type]


def main(out: Path) -> None:
    assert SCHEMA_VERSION == 1, "run this with the schema-1 package first on PYTHONPATH"
    db = out / "history-v1.db"
    db.unlink(missing_ok=True)
    with open_store(db, keep_runs=3) as store:
        for day in range(1, 6):
            results = [
                _result("github:a/ok", Status.OK, day,
                        repo=RepoInfo(archived=day >= 4, stars=12, pushed_at="2026-10-01T00:00:00Z")),
                _result("github:b/flaky", Status.BROKEN if day % 2 else Status.OK, day),
                _result("doi:10.1109/cvpr.2022.01009", Status.OK, day,
                        doi=DoiInfo(registered=True, target="https://ieeexplore.ieee.org/document/1",
                                    title="The Flag Median", title_matches=True)),
                _result("web:example.org/moved", Status.REDIRECTED, day, final_url="https://example.org/new",
                        redirects=("https://example.org/new",), detail="moved permanently"),
                _result("web:blocked.example/x", Status.BLOCKED, day, detail="403 (a bot wall)"),
                _result("web:gone.example/x", Status.BROKEN, day),
            ]
            if day >= 3:  # a link that joins the catalog later, and one served from the cache
                results.append(_result("web:late.example/é?q=1", Status.ERROR, day, checked_at=None,
                                       detail="timed out"))
                results[2] = CheckResult(**{**{f: getattr(results[2], f) for f in results[2].__slots__},
                                            "from_cache": True, "checked_at": "2026-11-02T03:02:17Z"})
            store.record_run(results, started_at=f"2026-11-{day:02d}T03:00:00Z", sources=(f"cat{day}.md",))
        store.put_etag("https://api.github.com/repos/a/ok", 'W/"abc"', '{"full_name": "a/ok"}')
        expected = answers(store)
    # closing the store checkpointed the WAL into the file: it is complete on its own, and stays in WAL
    # mode, as every schema-1 history is
    assert not Path(f"{db}-wal").exists()
    (out / "history-v1.expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


def answers(store: object) -> dict[str, object]:
    """What the store answers, as JSON values (the migration test calls this with the current package)."""
    from dataclasses import asdict

    def plain(value: object) -> object:
        return json.loads(json.dumps(asdict(value), default=str))  # type: ignore[call-overload]

    history = store.history()  # type: ignore[attr-defined]
    previous = store.previous_run_report()  # type: ignore[attr-defined]
    before = store.previous_run_report(before="2026-11-04T12:00:00Z")  # type: ignore[attr-defined]
    cached = store.cached_ok(list(history), ttl=5 * 86400, now=NOW)  # type: ignore[attr-defined]
    return {
        "history": {k: plain(v) for k, v in history.items()},
        "previous_statuses": store.previous_run_statuses(),  # type: ignore[attr-defined]
        "previous_report": plain(previous),
        "report_before_day_4": plain(before),
        "cached_ok": {k: plain(v) for k, v in cached.items()},
        "etag": list(store.get_etag("https://api.github.com/repos/a/ok")),  # type: ignore[attr-defined]
    }


if __name__ == "__main__":
    main(Path(sys.argv[1]))
