"""Scheduling: which queued check starts next, so the busiest host never waits behind idle ones.

Stage: check.  Input: jobs (coroutine factories) tagged with the host key
they mostly talk to; the global concurrency; each host's limit and earliest
start time.  Output: all jobs run, at most ``concurrency`` at once and at most
the host's limit per host.

Why not ``gather`` behind semaphores: the wall time of a run is bounded by
the host with the most links (it can only go ``limit`` at a time).  Starting
jobs in input order lets small hosts take the global slots while the big one
waits; here, a free slot always goes to the eligible host with the most jobs
left (a heap keyed by queue length), which keeps the critical path busy from
the first moment.  Jobs submitted while running (follow-ups) join their
host's queue.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable

Job = Callable[[], Awaitable[None]]


class Scheduler:
    """Runs jobs with a global cap and per-host caps, most-loaded host first."""

    def __init__(
        self,
        *,
        concurrency: int,
        limit: Callable[[str], int],
        interval: Callable[[str], float],
        ready_at: Callable[[str], float],
    ) -> None:
        self._concurrency = max(1, concurrency)
        self._limit = limit
        self._interval = interval
        self._ready_at = ready_at
        self._queues: dict[str, deque[Job]] = {}
        self._running_per_host: dict[str, int] = {}
        self._not_before: dict[str, float] = {}
        self._running = 0
        self._heap: list[tuple[int, int, str]] = []
        self._seq = itertools.count()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._done: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self.started = 0

    def submit(self, host: str, job: Job) -> None:
        """Queue ``job`` under ``host``; it starts when the scheduler gives that host a slot."""
        queue = self._queues.get(host)
        if queue is None:
            queue = self._queues[host] = deque()
        queue.append(job)
        if self._done is not None:  # before ``run`` the heap is built once, one entry per host
            self._push(host)
            self._pump()

    def pending(self) -> int:
        """Jobs queued and not started."""
        return sum(len(q) for q in self._queues.values())

    def _push(self, host: str) -> None:
        heapq.heappush(self._heap, (-len(self._queues[host]), next(self._seq), host))

    def _take(self, now: float) -> tuple[str, Job] | None:
        """The next job to start (from the eligible host with the most jobs left), its slot taken; None if none."""
        heap = self._heap
        while self._running < self._concurrency and heap:
            negative, _, host = heap[0]
            queue = self._queues.get(host)
            if not queue or -negative != len(queue):
                heapq.heappop(heap)  # stale entry: a fresher one for this host is (or will be) in the heap
                continue
            if self._running_per_host.get(host, 0) >= self._limit(host):
                heapq.heappop(heap)  # full: pushed again when one of its jobs finishes
                continue
            start_at = max(self._ready_at(host), self._not_before.get(host, 0.0))
            if start_at > now:
                heapq.heappop(heap)
                self._wake_at(host, start_at - now)
                continue
            heapq.heappop(heap)
            job = queue.popleft()
            interval = self._interval(host)
            if interval > 0:
                self._not_before[host] = now + interval
            if queue:
                self._push(host)
            self._running += 1
            self._running_per_host[host] = self._running_per_host.get(host, 0) + 1
            self.started += 1
            return host, job
        return None

    def _pump(self) -> None:
        now = time.monotonic()
        while (picked := self._take(now)) is not None:
            task: asyncio.Task[None] = asyncio.ensure_future(self._work(*picked))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._settle()

    def _settle(self) -> None:
        """Finish ``run`` once nothing runs and nothing is left (or after an error, once everything stopped)."""
        done = self._done
        if done is None or done.done():
            return
        if self._error is not None or (not self._running and not self._timers and not self.pending()):
            done.set_result(None)  # after an error ``run`` waits for the cancelled workers itself

    def _wake_at(self, host: str, delay: float) -> None:
        if host in self._timers:
            return
        loop = asyncio.get_running_loop()
        self._timers[host] = loop.call_later(delay, self._wake, host)

    def _wake(self, host: str) -> None:
        self._timers.pop(host, None)
        if self._queues.get(host):
            self._push(host)
        self._pump()

    def _release(self, host: str) -> None:
        self._running -= 1
        self._running_per_host[host] -= 1

    async def _work(self, host: str, job: Job) -> None:
        """Run ``job``, then keep taking the next job in this same task while there is one.

        Going on in the finished job's task (instead of a done-callback that
        starts a new task) sends the next request of a busy host two event-loop
        rounds sooner: under load each round waits behind every other ready
        callback, and the busiest host's round trips are the run's critical path.
        """
        while True:
            try:
                await job()
            except BaseException as exc:
                self._release(host)
                cancelled = isinstance(exc, asyncio.CancelledError)
                if not cancelled and self._error is None:
                    self._error = exc
                    self._stop()
                self._settle()
                if cancelled:
                    raise
                return
            self._release(host)
            if self._error is not None:
                self._settle()
                return
            if self._queues.get(host):
                self._push(host)
            picked = self._take(time.monotonic())
            if picked is None:
                self._settle()
                return
            host, job = picked

    def _stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._queues.clear()
        self._heap.clear()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._settle()

    async def run(self) -> None:
        """Run until every job (including ones submitted meanwhile) has finished; re-raise the first error."""
        self._done = asyncio.get_running_loop().create_future()
        for host, queue in self._queues.items():
            if queue:
                self._push(host)
        self._pump()
        try:
            await self._done
        except BaseException:
            self._stop()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            raise
        if self._tasks:  # workers returning after their last job, or cancelled after an error
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._error is not None:
            raise self._error
