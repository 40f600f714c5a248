"""`linkaudit audit` end to end through the CLI, against real local servers: exit codes, reports, history,
the failure policy, shards and merge, network down, bad input."""

from __future__ import annotations

import gc
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from checkkit import closed_port
from testweb import Request, Response, Server

from linkaudit.cli import main

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "linkaudit" / "schemas" / "report.schema.json").read_text())


class Switchboard:
    """An origin whose paths answer the status a test sets (default 200), so runs can differ."""

    def __init__(self) -> None:
        self.status: dict[str, int] = {}

    async def __call__(self, req: Request) -> Response:
        """Answer the status chosen for this path."""
        return Response(self.status.get(req.path, 200), {"content-type": "text/html"}, b"<html></html>")


@pytest.fixture()
def board(serve: Callable[..., Server]) -> tuple[Switchboard, Server]:
    """A switchboard origin on 127.0.0.1."""
    app = Switchboard()
    return app, serve(app)


def _catalog(tmp_path: Path, base: str, paths: list[str]) -> Path:
    entries = []
    for i, path in enumerate(paths):
        entries.append(
            f"## [{i}] Paper {i}\n\n**Authors**: *A. Author*\n\n**Conference**: *test 2026*\n\n"
            f"**Abstract**:\n\nCode is available at {base}{path}.\n\n----\n"
        )
    catalog = tmp_path / "catalog.md"
    catalog.write_text("\n".join(entries))
    return catalog


def _config(tmp_path: Path, **extra: object) -> Path:
    config = tmp_path / "config.yaml"
    lines = [
        "allow_private_hosts: true",
        "timeout: 3.0",
        "retry: {attempts: 2, initial_wait: 0.0, max_wait: 0.0, jitter: 0.0}",
        f"history_path: {tmp_path / 'history.db'}",
        f"reports_dir: {tmp_path / 'reports'}",
    ]
    lines += [f"{key}: {json.dumps(value)}" for key, value in extra.items()]
    config.write_text("\n".join(lines) + "\n")
    return config


def _audit(catalog: Path, config: Path, *flags: str) -> tuple[int, dict]:
    code = main(["audit", str(catalog), "--config", str(config), "--quiet", *flags])
    report = json.loads((Path(config).parent / "reports" / f"{catalog.stem}.json").read_text())
    return code, report


def test_ok_run_writes_valid_reports_and_exits_0(board: tuple[Switchboard, Server], tmp_path: Path) -> None:
    """All links ok: exit 0, a schema-valid JSON report and a markdown report land in the reports dir."""
    _, server = board
    catalog = _catalog(tmp_path, server.url, ["/a", "/b"])
    code, report = _audit(catalog, _config(tmp_path))
    assert code == 0
    jsonschema.validate(report, SCHEMA)
    assert [r["status"] for r in report["results"]] == ["ok", "ok"]
    assert report["results"][0]["papers"][0]["id"] == "0"
    markdown = (tmp_path / "reports" / "catalog.md").read_text()
    assert "linkaudit" in markdown and "| **all** |" in markdown


def test_history_across_runs_and_failure_policy(board: tuple[Switchboard, Server], tmp_path: Path) -> None:
    """new -> broken for three runs (exit 1 only from the third with fail_after_runs: 3) -> fixed (exit 0)."""
    app, server = board
    catalog = _catalog(tmp_path, server.url, ["/stable", "/flaps"])
    config = _config(tmp_path, policy={"fail_after_runs": 3}, cache_ttl=0, history_keep_runs=2)
    code, report = _audit(catalog, config)
    assert code == 0
    app.status["/flaps"] = 404
    codes, failures = [], []
    for _ in range(3):
        code, report = _audit(catalog, config)
        codes.append(code)
        broken = next(r for r in report["results"] if r["url"].endswith("/flaps"))
        failures.append(broken["consecutive_failures"])
        assert broken["status"] == "broken" and broken["definitive"] is True
    assert codes == [0, 0, 1]
    assert failures == [1, 2, 3]  # counted over four runs though only two runs' rows are kept
    assert "broken for 3 runs" in (tmp_path / "reports" / "catalog.md").read_text()
    with sqlite3.connect(tmp_path / "history.db") as db:
        assert db.execute("SELECT count(*), count(DISTINCT run_id) FROM checks").fetchone() == (4, 2)
    app.status["/flaps"] = 200
    code, report = _audit(catalog, config)
    fixed = next(r for r in report["results"] if r["url"].endswith("/flaps"))
    assert code == 0 and fixed["status"] == "ok" and fixed["consecutive_failures"] == 0


def test_history_of_an_older_schema_is_upgraded_and_said_so(board: tuple[Switchboard, Server], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A schema-1 history (an older linkaudit's) is upgraded by the run, which says so in one line, and goes on."""
    _, server = board
    shutil.copyfile(Path(__file__).resolve().parents[1] / "data" / "history-v1.db", tmp_path / "history.db")
    catalog = _catalog(tmp_path, server.url, ["/a"])
    code, report = _audit(catalog, _config(tmp_path))
    assert code == 0 and report["results"][0]["status"] == "ok"
    err = capsys.readouterr().err
    assert f"upgraded the history {tmp_path / 'history.db'} from schema 1 to 2" in err
    with sqlite3.connect(tmp_path / "history.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert db.execute("SELECT count(*) FROM links").fetchone()[0] == 8  # the fixture's 7 and the new one
    _audit(catalog, _config(tmp_path))
    assert "upgraded" not in capsys.readouterr().err  # once only


@pytest.mark.parametrize("spread", [False, True])
def test_cache_serves_recent_oks_but_rechecks_failures(board: tuple[Switchboard, Server], tmp_path: Path,
                                                       spread: bool) -> None:
    """A second run serves the ok link from the cache and checks the broken one again; --no-cache checks all.

    With ``cache_spread`` too: a link verified a moment ago is before its slot.
    """
    app, server = board
    app.status["/gone"] = 410
    catalog = _catalog(tmp_path, server.url, ["/fine", "/gone"])
    config = _config(tmp_path, cache_spread=spread)
    assert _audit(catalog, config)[0] == 1
    server.reset_stats()
    code, report = _audit(catalog, config)
    assert code == 1
    assert {r["url"].rsplit("/", 1)[1]: r["from_cache"] for r in report["results"]} == {"fine": True, "gone": False}
    assert [r.path for r in server.log] == ["/gone"] * len(server.log) and server.log
    server.reset_stats()
    _audit(catalog, config, "--no-cache")
    assert {r.path for r in server.log} == {"/fine", "/gone"}


def test_json_on_stdout_and_report_rerender(board: tuple[Switchboard, Server], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """--format json prints the saved report itself; `linkaudit report` re-renders it as JUnit without the network."""
    app, server = board
    app.status["/x"] = 404
    catalog = _catalog(tmp_path, server.url, ["/x"])
    code = main(["audit", str(catalog), "--config", str(_config(tmp_path)), "--format", "json", "--quiet"])
    out = capsys.readouterr().out
    assert code == 1 and json.loads(out)["schema"] == "linkaudit.report/1"
    assert out == (tmp_path / "reports" / "catalog.json").read_text(encoding="utf-8")
    assert gc.get_freeze_count() == 0  # the objects frozen during the audit are back under the collector
    server.reset_stats()
    code = main(["report", str(tmp_path / "reports" / "catalog.json"), "--format", "junit"])
    out = capsys.readouterr().out
    assert code == 0 and out.lstrip().startswith("<?xml") and "<failure" in out
    assert server.log == []


def test_shards_merge_into_the_full_report(board: tuple[Switchboard, Server], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """--shard 1/2 and 2/2 check disjoint shares of the keys; merge joins them into the whole audit."""
    _, server = board
    catalog = _catalog(tmp_path, server.url, [f"/p{i}" for i in range(12)])
    config = _config(tmp_path)
    parts = []
    for index in (1, 2):
        assert main(["audit", str(catalog), "--config", str(config), "--quiet", "--no-history",
                     "--shard", f"{index}/2"]) == 0
        parts.append(tmp_path / "reports" / f"catalog.shard-{index}-of-2.json")
    keys = [{r["key"] for r in json.loads(p.read_text())["results"]} for p in parts]
    assert keys[0] and keys[1] and not keys[0] & keys[1]
    capsys.readouterr()
    assert main(["merge", *map(str, parts)]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert {r["key"] for r in merged["results"]} == keys[0] | keys[1]
    assert len(merged["results"]) == 12


def test_network_down_exits_3_and_reports_nothing_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """When no host at all answers, audit says so in one line and exits 3; no report calls anything broken."""
    port = closed_port()
    catalog = _catalog(tmp_path, f"http://127.0.0.1:{port}", ["/a", "/b"])
    code = main(["audit", str(catalog), "--config", str(_config(tmp_path)), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3
    assert "network unavailable" in err and "Traceback" not in err
    assert not (tmp_path / "reports" / "catalog.json").exists()


def test_private_addresses_are_skipped_by_default(board: tuple[Switchboard, Server], tmp_path: Path) -> None:
    """Without --allow-private, a loopback link is skipped (SSRF guard) and never requested."""
    _, server = board
    catalog = _catalog(tmp_path, server.url, ["/secret"])
    config = tmp_path / "plain.yaml"
    config.write_text(f"history_path: {tmp_path / 'h.db'}\nreports_dir: {tmp_path / 'reports'}\n")
    code, report = _audit(catalog, config)
    assert code == 0
    assert report["results"][0]["status"] == "skipped"
    assert server.log == []


def test_reports_never_overwrite_a_users_file(board: tuple[Switchboard, Server], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A file in the reports dir that linkaudit did not write is kept, with a one-line error and exit 2."""
    _, server = board
    catalog = _catalog(tmp_path, server.url, ["/a"])
    (tmp_path / "reports").mkdir()
    notes = tmp_path / "reports" / "catalog.md"
    notes.write_text("# my own notes\n")
    code = main(["audit", str(catalog), "--config", str(_config(tmp_path)), "--quiet"])
    assert code == 2 and "not written by linkaudit" in capsys.readouterr().err
    assert notes.read_text() == "# my own notes\n"


def test_a_large_report_of_its_own_is_replaced(board: tuple[Switchboard, Server], tmp_path: Path) -> None:
    """A second run replaces its JSON report even when the results push the schema key far from the top."""
    _, server = board
    catalog = _catalog(tmp_path, server.url, [f"/p{i}" for i in range(40)])
    config = _config(tmp_path, event_loop="asyncio")
    code, _ = _audit(catalog, config, "--no-cache")
    assert code == 0
    assert (tmp_path / "reports" / "catalog.json").read_text().find('"schema"') > 4096
    code, report = _audit(catalog, config, "--no-cache")
    assert code == 0 and len(report["results"]) == 40
