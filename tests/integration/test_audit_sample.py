"""The sample catalog audited end to end by the CLI, against its simulated web reached through a proxy.

Set ``LINKAUDIT_WRITE_EXAMPLE=docs/example-report.md`` to also copy the
generated markdown report there (that is how the README's example is made).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from samplekit import ARCHIVED, BOT_WALL_HOST, MISSING_DOI, RENAMED, start_sample_web
from testweb import Server, TestWeb

from linkaudit.cli import main
from linkaudit.extract import extract_paths

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = "examples/cvpr-2022-list06.md"
TOKEN = "ghp_sampleTOKEN0123456789"


def test_sample_audit_through_the_cli(testweb: TestWeb, serve: Callable[..., Server], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`linkaudit audit` of the sample: exit 1 for the definitive breakage, every section of the report filled,
    suggestions that exist, nothing inconclusive but the bot wall, and the token in no output."""
    monkeypatch.chdir(ROOT)
    extraction = extract_paths([SAMPLE])
    web = start_sample_web(extraction, testweb, serve, tmp_path, variety=True)
    for name, value in web.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"history_path: {tmp_path / 'history.db'}\nreports_dir: {tmp_path / 'reports'}\n"
        "retry: {attempts: 2, initial_wait: 0.0, max_wait: 0.0, jitter: 0.0}\n"
    )
    try:
        code = main(["audit", SAMPLE, "--config", str(config)])
    finally:
        testweb.call(web.proxy.stop())
    out, err = capsys.readouterr()
    assert code == 1, err

    report_json = (tmp_path / "reports" / "cvpr-2022-list06.json").read_text()
    report_md = (tmp_path / "reports" / "cvpr-2022-list06.md").read_text()
    report = json.loads(report_json)
    jsonschema.validate(report, json.loads((ROOT / "linkaudit" / "schemas" / "report.schema.json").read_text()))
    results = {r["key"]: r for r in report["results"]}
    assert len(results) == len({link.key for link in extraction.links}) == 301
    statuses = Counter(r["status"] for r in results.values())
    assert statuses["error"] == 0 and statuses["blocked"] == 1, statuses  # the bot wall

    assert results[f"doi:{MISSING_DOI}"]["status"] == "broken"
    shunted = results["github:oliverrensulshunted-transformer"]
    assert shunted["status"] == "broken"
    assert shunted["suggestions"] == ["https://github.com/OliverRensu/Shunted-Transformer"]
    renamed = results[f"github:{RENAMED[0].lower()}"]
    assert renamed["status"] == "redirected" and renamed["repo"]["renamed_to"] == RENAMED[1]
    assert results[f"github:{ARCHIVED.lower()}"]["repo"]["archived"] is True
    assert all(r["status"] == "blocked" for r in results.values() if BOT_WALL_HOST in r["url"])
    assert results["github:megvii-research/dynamicmlpforfinegrained"]["original"].startswith("httpsr//glthub")

    for section in ("## Broken links", "## Redirected", "## Archived", "## Repairs applied",
                    "claim code", "<details>"):
        assert section in report_md, section
    assert "OliverRensu/Shunted-Transformer" in report_md
    for text in (out, err, report_json, report_md):
        assert TOKEN not in text
    # the token went to the GitHub API host only
    assert {host for host, _, auth in web.hosts.log if auth} == {"api.github.com"}

    target = os.environ.get("LINKAUDIT_WRITE_EXAMPLE")
    if target:
        shutil.copyfile(tmp_path / "reports" / "cvpr-2022-list06.md", ROOT / target)
