"""The bench instruments still run: each script at a tiny size prints its table and exits 0.

Not a timing test: the numbers are not looked at, only that the instruments work (``bench/README.md``
is where numbers live).  Everything stays on loopback; lychee is left out (it is the bench extra).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CASES = {
    "audit": (["bench/audit.py", "--links", "40", "--hosts", "3", "--latency", "0.002", "--no-lychee",
               "--progress", "--run-timeout", "60"], ["wall/ideal", "progress (one more linkaudit run"]),
    "extract": (["bench/extract.py", "--papers", "400", "--repeat", "1", "--variant", "unique", "--no-lychee"],
                ["linkaudit extract (CLI)", "floor"]),
    "extract-collection": (["bench/extract.py", "--variant", "collection", "--pages", "3", "--page-papers", "50",
                            "--repeat", "1", "--no-lychee"], ["3 files of 50 papers"]),
    "nightly": (["bench/nightly.py", "--links", "60", "--hosts", "3", "--nights", "2", "--fail-every", "10"],
                ["history MB"]),
    "history": (["bench/history.py", "--links", "300", "--runs", "4"], ["bytes per link per run"]),
    "history-upgrade": (["bench/history.py", "--links", "200", "--runs", "3", "--upgrade-from", "HEAD"],
                        ["upgrade by this tree"]),
    "github": (["bench/github.py", "--repos", "30", "--latency", "0.002"], ["token"]),
    "doi": (["bench/doi.py", "--dois", "60", "--batch", "25", "--doi-latency", "0.001", "--crossref-latency", "0.001"],
            ["DOIs/query"]),
    "ab": (["bench/ab.py", "--runs", "1", "--", "extract", "examples/cvpr-2022-list06.md", "--format", "json"],
           ["working tree / HEAD"]),
    "ab-instructions": (["bench/ab.py", "--instructions", "--", "--version"],
                        ["working tree / HEAD: instructions"]),
}
NEEDS = {"ab-instructions": "valgrind"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bench_script_runs(case: str) -> None:
    argv, expected = CASES[case]
    if case in NEEDS and shutil.which(NEEDS[case]) is None:
        pytest.skip(f"{NEEDS[case]} is not installed")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    for text in expected:
        assert text in done.stdout, done.stdout[-2000:]
