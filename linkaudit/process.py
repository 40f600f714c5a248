"""The CLI's own process: the collector paused or kept off settled objects, and an exit without a teardown.

A normal ``sys.exit`` first frees every object still alive, one by one: the
papers and links of an extraction (~13 ms for 10,000 papers), every imported
module, then runs a last garbage collection.  The operating system reclaims
all of that at once anyway.  ``exit_now`` does what matters of a normal exit
(standard streams flushed, ``atexit`` handlers run: logging's flush is one)
and then ``os._exit``.  mypy ends its process the same way, for the same
reason.  ``retain`` keeps a command's large results referenced until then,
so that they are not freed object by object when the command returns.

Only the console entry point (``cli.run``) calls these; tests call
``cli.main`` in-process, where ``retain`` with ``own_process=False`` does
nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

_RETAINED: list[object] = []


def retain(value: object, own_process: bool) -> None:
    """Keep ``value`` alive until ``exit_now`` (only in the CLI's own process)."""
    if own_process:
        _RETAINED.append(value)


@contextlib.contextmanager
def collector_paused(own_process: bool) -> Iterator[None]:
    """Pause the cyclic garbage collector (reference counting still frees everything as usual).

    An extraction creates a few hundred thousand small objects (papers, links, their strings and
    tuples) that all live until the report is written and form no reference cycles; the collector
    would walk all of them again and again as they pile up (~10 % of an extraction: 41,000 papers
    in 1.19 s instead of 1.33, medians of 6).  The switch is process-wide, so only a command that
    owns its process flips it.  On leaving, what was made moves to the permanent generation first
    (``gc.freeze``): everything allocated while the collector was off is still in its youngest
    generation, and the first allocation after ``gc.enable`` would make it walk all of that once
    (25-37 ms after 10,000 papers).
    """
    if not own_process:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


@contextlib.contextmanager
def settled_objects_frozen(enabled: bool) -> Iterator[Callable[[], None]]:
    """Yield ``settle``: it moves every object alive so far out of the cyclic collector's sight (``gc.freeze``).

    An audit's papers, links and results live until the reports are written
    and form no reference cycles, but each full collection walks all of them
    again: at 100,000 links that was ~1 s of the run (planning and report
    writing both took about twice as long).  Frozen objects are still freed by
    reference counting; on leaving, they go back under the collector
    (``gc.unfreeze``).  The freeze is process-wide, so it is done only when the
    audit owns its process (``enabled``, from ``cli.run``): inside a host
    process (the tests) it would also freeze the host's own garbage and move
    its collection, and its warnings, elsewhere.
    """
    if not enabled:
        yield lambda: None
        return
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()


def exit_now(code: int) -> NoReturn:
    """Flush stdout and stderr, run the ``atexit`` handlers, and end the process with ``code``.

    A stream that cannot be flushed any more (stdout closed early by ``| head``) is
    left as it is: what it held has no reader.  Under a profiler or a tracer
    (``python -m cProfile``, a debugger, coverage) the process exits normally
    instead, so that they can write what they gathered when ``sys.exit`` unwinds.
    """
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    gc.disable()  # nothing is left to collect: the process ends
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):  # a closed pipe, or a stream already closed
                stream.flush()
    atexit._run_exitfuncs()
    os._exit(code)
