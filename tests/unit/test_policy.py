"""Tests for the failure policy: which results fail a run (exit 1), with history and the previous run."""

from __future__ import annotations

from pathlib import Path

import pytest
from reportkit import result, sample_report

from linkaudit.config import PolicySettings
from linkaudit.model import HistoryEntry, LinkKey, Report, Status
from linkaudit.policy import failing_results
from linkaudit.store import open_store

KEY = LinkKey("github:b/broken")


def _report(status: Status = Status.BROKEN) -> Report:
    return Report(results=(result(KEY, status), result("github:a/ok")))


def _history(runs: int) -> dict[LinkKey, HistoryEntry]:
    return {KEY: HistoryEntry(KEY, consecutive_failures=runs, first_failed="2026-11-18T03:00:00Z")}


def test_default_policy_fails_on_broken_only() -> None:
    """By default only broken links fail the run; blocked, error, redirected and skipped never do."""
    failing = failing_results(sample_report(), {}, PolicySettings())
    assert [r.key for r in failing] == ["doi:10.1109/cvpr.2022.99999", "github:gone/repo"]


def test_inconclusive_results_never_fail_even_if_listed() -> None:
    """blocked and error are never definitive, so listing them in fail_on changes nothing."""
    policy = PolicySettings(fail_on=("broken", "blocked", "error"))
    failing = failing_results(sample_report(), {}, policy)
    assert {r.status for r in failing} == {Status.BROKEN}


def test_redirected_can_be_made_to_fail() -> None:
    """A definitive status other than broken fails at once when fail_on lists it."""
    policy = PolicySettings(fail_on=("broken", "redirected"), fail_after_runs=3)
    failing = failing_results(sample_report(), {}, policy)
    assert [r.key for r in failing] == ["github:old/name"]


@pytest.mark.parametrize(
    ("runs", "after", "fails"),
    [
        pytest.param(1, 1, True, id="first-run-default"),
        pytest.param(1, 3, False, id="one-of-three"),
        pytest.param(2, 3, False, id="two-of-three"),
        pytest.param(3, 3, True, id="three-of-three"),
        pytest.param(7, 3, True, id="long-broken"),
        pytest.param(None, 2, False, id="no-history-counts-as-one"),
    ],
)
def test_fail_after_runs(runs: int | None, after: int, fails: bool) -> None:
    """A broken link fails the run only once it has been broken fail_after_runs runs in a row."""
    history = _history(runs) if runs is not None else {}
    failing = failing_results(_report(), history, PolicySettings(fail_after_runs=after))
    assert bool(failing) is fails


@pytest.mark.parametrize(
    ("previous", "runs", "after", "fails"),
    [
        pytest.param(None, 1, 1, True, id="no-previous-run"),
        pytest.param({}, 1, 1, True, id="not-in-previous-run"),
        pytest.param({KEY: "ok"}, 1, 1, True, id="was-ok"),
        pytest.param({KEY: "blocked"}, 1, 1, True, id="was-inconclusive"),
        pytest.param({KEY: "broken"}, 2, 1, False, id="already-broken"),
        pytest.param({KEY: "broken"}, 3, 3, True, id="crosses-threshold-now"),
        pytest.param({KEY: "broken"}, 4, 3, False, id="crossed-last-run"),
        pytest.param({KEY: "broken"}, None, 1, False, id="broken-before-without-history"),
    ],
)
def test_only_new(previous: dict[LinkKey, str] | None, runs: int | None, after: int, fails: bool) -> None:
    """With only_new, a link fails the run only on the run it starts failing the policy."""
    history = _history(runs) if runs is not None else {}
    policy = PolicySettings(only_new=True, fail_after_runs=after)
    assert bool(failing_results(_report(), history, policy, previous)) is fails


def test_results_are_in_key_order() -> None:
    """Failing results come back sorted by key whatever the report order."""
    report = Report(results=(result("web:z.org", Status.BROKEN), result("doi:10.1/a", Status.BROKEN)))
    assert [r.key for r in failing_results(report, {}, PolicySettings())] == ["doi:10.1/a", "web:z.org"]


def test_policy_with_the_store_over_three_runs(tmp_path: Path) -> None:
    """With fail_after_runs=3 and the real history, a link fails on the third broken run and not before."""
    policy = PolicySettings(fail_after_runs=3, only_new=True)
    outcomes = []
    with open_store(tmp_path / "h.db") as store:
        for day in (1, 2, 3, 4):
            report = _report()
            previous = store.previous_run_statuses()
            history = {e.key: e for e in store.record_run(report.results, started_at=f"2026-11-0{day}T00:00:00Z")}
            outcomes.append(bool(failing_results(report, history, policy, previous)))
    assert outcomes == [False, False, True, False]
