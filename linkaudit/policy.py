"""Failure policy: ``Report`` + history + ``PolicySettings`` -> the results that fail the run (exit 1).

Rules, all of which must hold for a result to fail the run:

1. its status is in ``policy.fail_on`` (default: ``broken``) and it is
   ``definitive`` (``blocked`` and ``error`` never are, whatever fail_on says);
2. for ``broken``: it has been broken ``policy.fail_after_runs`` runs in a row
   (``HistoryEntry.consecutive_failures`` *after* recording this run, as
   ``Store.record_run`` returns it; a link without history counts as broken
   for one run).  Other statuses have no streak and fail at once;
3. with ``policy.only_new``: it was not already failing the policy in the
   previous run (``previous`` maps key -> that run's status; None or an
   absent key means new).  With ``fail_after_runs`` N, "already failing"
   means broken for N runs before this one, so a link fails exactly on the
   run it crosses the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping

from .config import PolicySettings
from .model import CheckResult, HistoryEntry, LinkKey, Report, Status


def broken_runs(result: CheckResult, history: Mapping[LinkKey, HistoryEntry]) -> int:
    """How many runs in a row ``result``'s link has been broken, this one included (1 without history)."""
    entry = history.get(result.key)
    return max(entry.consecutive_failures, 1) if entry is not None else 1


def _fails_now(result: CheckResult, history: Mapping[LinkKey, HistoryEntry], policy: PolicySettings) -> bool:
    if not result.definitive or result.status.value not in policy.fail_on:
        return False
    if result.status is Status.BROKEN:
        return broken_runs(result, history) >= policy.fail_after_runs
    return True


def _failed_before(result: CheckResult, history: Mapping[LinkKey, HistoryEntry], policy: PolicySettings,
                   previous: Mapping[LinkKey, str] | None) -> bool:
    if previous is None or previous.get(result.key) != result.status.value:
        return False
    if result.status is Status.BROKEN:
        entry = history.get(result.key)
        # the previous run saw it broken; without a streak on record, that is one run
        before = entry.consecutive_failures - 1 if entry is not None else 1
        return before >= policy.fail_after_runs
    return True


def failing_results(report: Report, history: Mapping[LinkKey, HistoryEntry], policy: PolicySettings,
                    previous: Mapping[LinkKey, str] | None = None) -> tuple[CheckResult, ...]:
    """The results that make the run fail under ``policy``, in key order (empty: exit 0)."""
    failing = []
    for result in sorted(report.results, key=lambda r: (r.key, r.url)):
        if not _fails_now(result, history, policy):
            continue
        if policy.only_new and _failed_before(result, history, policy, previous):
            continue
        failing.append(result)
    return tuple(failing)
