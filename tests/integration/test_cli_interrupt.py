"""Ctrl-C or SIGTERM during an audit: a real `linkaudit` process keeps the results it already has."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from testweb import Origin, Server


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_keeps_results_so_far(serve: Callable[..., Server], tmp_path: Path, sig: int, code: int) -> None:
    """SIGINT (Ctrl-C) or SIGTERM (a cancelled CI job) mid-run exits 130 or 143 with no traceback, and the
    report holds the finished links, marked interrupted; the history records no run."""
    fast, slow = serve(Origin()), serve(Origin())
    lines = [f"- {fast.url}/status/200?n={i}" for i in range(3)]
    lines += [f"- {slow.url}/slow?delay=20&n={i}" for i in range(2)]
    catalog = tmp_path / "list.md"
    catalog.write_text("# links\n\n" + "\n".join(lines) + "\n")
    config = tmp_path / "config.yaml"
    config.write_text(f"allow_private_hosts: true\ntimeout: 30.0\nreports_dir: {tmp_path / 'reports'}\n"
                      f"history_path: {tmp_path / 'history.db'}\n")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    # A child inherits an ignored SIGINT (this suite run as a background job); give it a handled one.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "linkaudit", "audit", str(catalog), "--config", str(config), "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(slow.seen(path_prefix="/slow")) < 2:
        time.sleep(0.05)
    time.sleep(0.3)  # the fast links are long done by now
    process.send_signal(sig)
    try:
        _, err = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == code, err
    assert "Traceback" not in err
    report = json.loads((tmp_path / "reports" / "list.json").read_text())
    assert report["interrupted"] is True
    assert sorted(r["status"] for r in report["results"]) == ["ok", "ok", "ok"]
    with sqlite3.connect(tmp_path / "history.db") as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (0,)  # an interrupted run is no history
