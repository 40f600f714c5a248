"""Parallel extraction: one large catalog's text -> the ``extract_text`` result, from forked workers.

A helper of the extraction stage (``extract.extract_paths`` calls it for big inputs).  The decoded
text is cut at paper headings into stretches (``cut_points``); the first is extracted here, the
others in child processes forked for them, a few consecutive stretches each.  A child shares the
text copy-on-write and sends each stretch as soon as it is done, packed as plain tuples (pickling
the frozen dataclasses themselves costs ~4x more, most of it here), so this process unpacks the
first ones while the child still works on its last.  ``join_stretches`` puts them together in
order, exactly as ``extract_text(text, path)`` would have found them; when a file's papers repeat
an id across stretches, it extracts the whole text here instead.

Only a single-threaded process forks (fork and threads do not mix), only on Linux (where fork is
the usual way to start a worker), and only for texts of at least ``extract.PARALLEL_MIN_CHARS``.
A child that fails (an exception, a signal, an out-of-memory kill) costs time, never a different
result: the stretches it did not send are extracted here, where an error surfaces as it would in
a serial run.  An interrupt (Ctrl-C) or an error here kills the children before it propagates.
This module starts processes and passes data between them; it reads and writes no files.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import os
import pickle
import signal
import struct
import sys
from collections.abc import Callable, Iterator, Sequence

from .catalog import next_heading
from .extract import Stretch, extract_stretch, extract_text
from .model import CodeClaim, Confidence, Kind, Link, LinkKey, Paper, Repair, SourceRef

FIRST_SHARE = 0.5
"""The share of the text this process extracts itself when two work."""
PARTS_PER_CHILD = 4
"""Stretches a child extracts and sends one at a time: this process unpacks the first ones while the
child still works on its last (unpacking is ~7 % of the work, and only the last part's waits)."""

_KINDS = {kind.value: kind for kind in Kind}
_CONFIDENCES = {confidence.value: confidence for confidence in Confidence}
_CLAIMS = {claim.value: claim for claim in CodeClaim}


def available_workers() -> int:
    """How many processes may extract: the CPUs this process may run on, or 1 where it must not fork."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return 1
    threading = sys.modules.get("threading")  # not imported: no threads started from Python
    if threading is not None and threading.active_count() > 1:
        return 1
    return len(os.sched_getaffinity(0))


def cut_points(text: str, parts: int, first_share: float = FIRST_SHARE) -> list[int]:
    """Offsets ``[0, c1, ..., len(text)]`` cutting ``text`` at paper headings into up to ``parts`` stretches.

    The first stretch gets ``first_share`` of the text, the others equal shares of the rest; each
    cut is moved forward to the next heading (``extract_stretch`` needs a paper's block whole).
    """
    bounds = [0]
    for k in range(1, parts):
        target = int(len(text) * (first_share + (1 - first_share) * (k - 1) / (parts - 1)))
        cut = next_heading(text, max(target, bounds[-1] + 1))
        if cut is None:
            break
        bounds.append(cut)
    bounds.append(len(text))
    return bounds


def extract_parallel(text: str, path: str, *, workers: int) -> tuple[tuple[Paper, ...], tuple[Link, ...]]:
    """``extract_text(text, path)``, computed by ``workers`` processes (this one and forked children)."""
    parts = 1 + (workers - 1) * PARTS_PER_CHILD
    bounds = cut_points(text, parts, FIRST_SHARE if workers == 2 else 1 / workers)
    stretches = list(itertools.pairwise(bounds))
    if len(stretches) < 2:
        return extract_text(text, path)
    rest = stretches[1:]
    size = -(-len(rest) // (workers - 1))  # each child gets consecutive stretches
    groups = [rest[i:i + size] for i in range(0, len(rest), size)]
    children: list[_Child | None] = []
    try:
        for group in groups:
            try:
                children.append(_fork(functools.partial(_send_stretches, text, path, group)))
            except OSError:  # no process (or memory file) to be had: this process extracts the group
                children.append(None)
        results = [extract_stretch(text, path, start=stretches[0][0], end=stretches[0][1])]
        for child, group in zip(children, groups, strict=True):
            received = 0
            for packed in child.receive() if child is not None else ():
                results.append(_unpack(packed, path))
                received += 1
            # a failed child: the stretches it did not send, here (an error then surfaces as in a serial run)
            results.extend(extract_stretch(text, path, start=start, end=end) for start, end in group[received:])
    finally:  # also on Ctrl-C or an error here: no child outlives this call
        for child in children:
            if child is not None:
                child.close()
    return join_stretches(text, path, bounds, results)


def join_stretches(text: str, path: str, bounds: Sequence[int],
                   stretches: Sequence[Stretch]) -> tuple[tuple[Paper, ...], tuple[Link, ...]]:
    """The stretches (extracted independently, cut at ``bounds``) joined into ``extract_text``'s result.

    Two things reach across a cut: links are de-duplicated per paper id, so papers with the same
    id in two stretches need one pass over the whole text; and a stretch whose first candidate
    follows ``](`` is compared with the last candidate before it (``[url](url)``), so it is
    extracted again knowing that candidate when it would be dropped.  Both are rare.
    """
    seen_ids: set[str] = set()
    for stretch in stretches:
        ids = {paper.id for paper in stretch.papers}
        if not seen_ids.isdisjoint(ids):
            return extract_text(text, path)
        seen_ids |= ids
    papers: list[Paper] = []
    links: list[Link] = []
    after: str | None = None
    for k, stretch in enumerate(stretches):
        if stretch.bracketed_first is not None and stretch.bracketed_first == after:
            stretch = extract_stretch(text, path, start=bounds[k], end=bounds[k + 1], after=after)
        papers.extend(stretch.papers)
        links.extend(stretch.links)
        after = stretch.last_candidate if stretch.last_candidate is not None else after
    return tuple(papers), tuple(links)


# A stretch as plain tuples of strings and numbers; the path is the parent's, enums travel as values.
_PackedPaper = tuple[str, str, tuple[str, ...], str | None, str | None, int, str, str | None]
_PackedLink = tuple[str, str, str, str, str | None, int, tuple[tuple[str, str], ...], str, tuple[str, ...],
                    tuple[str, ...]]
_Packed = tuple[list[_PackedPaper], list[_PackedLink], str | None, str | None]


def _send_stretches(text: str, path: str, group: Sequence[tuple[int, int]], send: Callable[[bytes], None]) -> None:
    """In a child: extract each stretch and send it at once, packed and pickled."""
    line = 1 + text.count("\n", 0, group[0][0])  # then counted stretch by stretch
    for start, end in group:
        stretch = extract_stretch(text, path, start=start, end=end, start_line=line)
        send(pickle.dumps(_pack(stretch), protocol=pickle.HIGHEST_PROTOCOL))
        line += text.count("\n", start, end)


def _pack(stretch: Stretch) -> _Packed:
    papers: list[_PackedPaper] = [
        (p.id, p.title, p.authors, p.venue, p.doi, p.source.line, p.code.value, p.url) for p in stretch.papers
    ]
    links: list[_PackedLink] = [
        (link.url, link.original, link.kind.value, link.key, link.paper_id, link.source.line,
         tuple((r.rule, r.detail) for r in link.repairs), link.confidence.value, link.suggestions, link.notes)
        for link in stretch.links
    ]
    return papers, links, stretch.bracketed_first, stretch.last_candidate


def _unpack(packed: _Packed, path: str) -> Stretch:
    papers, links, bracketed_first, last_candidate = packed
    return Stretch(
        papers=tuple(
            Paper(id=id_, title=title, authors=authors, venue=venue, doi=doi, source=SourceRef(path, line),
                  code=_CLAIMS[code], url=url)
            for id_, title, authors, venue, doi, line, code, url in papers
        ),
        links=tuple(
            Link(url=url, original=original, kind=_KINDS[kind], key=LinkKey(key), paper_id=paper_id,
                 source=SourceRef(path, line),
                 repairs=tuple(Repair(rule, detail) for rule, detail in repairs) if repairs else (),
                 confidence=_CONFIDENCES[confidence], suggestions=suggestions, notes=notes)
            for url, original, kind, key, paper_id, line, repairs, confidence, suggestions, notes in links
        ),
        bracketed_first=bracketed_first,
        last_candidate=last_candidate,
    )


class _Child:
    """A forked worker: its pid, the pipe its notes come through and the memory file its stretches are in.

    A stretch (~0.5 MB pickled) goes into an in-memory file and only a note (offset, size) through
    the pipe: written into the pipe itself, it would block the child until this process reads,
    which it does only after its own stretch.
    """

    def __init__(self, pid: int, notes: int, store: int) -> None:
        self._pid = pid
        self._notes = notes
        self._store = store
        self._reaped = False

    def receive(self) -> Iterator[_Packed]:
        """The child's stretches as it sends them, then its exit; fewer when it failed on the way."""
        with open(self._notes, "rb", closefd=False) as notes:
            while len(note := notes.read(_NOTE.size)) == _NOTE.size:  # a note comes after its stretch is whole
                offset, size = _NOTE.unpack(note)
                data = os.pread(self._store, size, offset)
                if len(data) != size:
                    break
                packed: _Packed = pickle.loads(data)
                yield packed
        os.waitpid(self._pid, 0)
        self._reaped = True

    def close(self) -> None:
        """Close the pipe and the file; kill and reap the child unless it was reaped (its pid may be reused after)."""
        for fd in (self._notes, self._store):
            with contextlib.suppress(OSError):
                os.close(fd)
        if not self._reaped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            self._reaped = True


_NOTE = struct.Struct(">QQ")
"""A sent stretch: its offset and size in the child's memory file."""


def _fork(work: Callable[[Callable[[bytes], None]], None]) -> _Child:
    """Run ``work(send)`` in a forked child, then exit it; ``send`` hands a result over (``_Child.receive``)."""
    read_fd, write_fd = os.pipe()
    try:
        store = os.memfd_create("linkaudit-stretches", os.MFD_CLOEXEC)
        try:
            pid = os.fork()
        except OSError:
            os.close(store)
            raise
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:  # the child: never returns
        status = 1
        try:
            os.close(read_fd)
            # the cyclic GC would only walk the parent's objects (copying their pages): the child is short-lived
            gc.disable()
            sent = 0

            def send(data: bytes) -> None:
                nonlocal sent
                view = memoryview(data)
                while view:
                    view = view[os.pwrite(store, view, sent + len(data) - len(view)):]
                os.write(write_fd, _NOTE.pack(sent, len(data)))
                sent += len(data)

            work(send)
            status = 0
        except BaseException:  # any failure (an interrupt too): the parent extracts the rest itself
            pass
        finally:
            os._exit(status)  # no atexit handlers, no flushing of stdio buffers inherited from the parent
    os.close(write_fd)
    return _Child(pid, read_fd, store)
