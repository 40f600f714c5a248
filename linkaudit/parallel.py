"""Parallel extraction: catalog texts -> their ``extract_text`` results, from forked workers.

A helper of the extraction stage (``extract.extract_paths`` calls it for big inputs: one large
file, or many files that are large together, as a collection of a few hundred pages is).  The
decoded texts, one after the other, are cut into parts of about equal size (``plan_parts``); a cut
inside a file falls on a paper heading, so a part is a run of pieces, each a whole file or a
stretch of one.  The first part is extracted here, the others in child processes forked for them,
a few consecutive parts each.  A child shares the
text copy-on-write and sends each stretch as soon as it is done, packed as plain tuples (pickling
the frozen dataclasses themselves costs ~4x more, most of it here), so this process unpacks the
first ones while the child still works on its last.  ``join_stretches`` puts each file's stretches
together in order, exactly as ``extract_text(text, path)`` would have found them; when a file's
papers repeat an id across stretches, it extracts that whole text here instead.

Only a single-threaded process forks (fork and threads do not mix), only on Linux (where fork is
the usual way to start a worker), and only for texts of at least ``extract.PARALLEL_MIN_CHARS``
together.  A child that fails (an exception, a signal, an out-of-memory kill) costs time, never a
different result: the pieces it did not send are extracted here, where an error surfaces as it
would in a serial run.  An interrupt (Ctrl-C) or an error here kills the children before it propagates.
This module starts processes and passes data between them; it reads and writes no files.
"""

from __future__ import annotations

import bisect
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
"""Parts a child extracts and sends one at a time: this process unpacks the first ones while the
child still works on its last (unpacking is ~7 % of the work, and only the last part's waits)."""

Source = tuple[str, str]
"""An input as ``extract_text`` takes it: (path, decoded text)."""
Piece = tuple[int, int, int]
"""(index of the source, start, end): a whole text or a stretch of it cut at paper headings."""

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


def plan_parts(texts: Sequence[str], parts: int, first_share: float = FIRST_SHARE) -> list[list[Piece]]:
    """``texts``, one after the other, cut into up to ``parts`` parts of pieces, in order.

    The first part gets ``first_share`` of all the characters, the others equal shares of the
    rest.  A cut inside a text is moved forward to the next paper heading (``extract_stretch``
    needs a paper's block whole) or to the text's end.  The pieces of a text are consecutive and
    cover it; an empty text is in none.
    """
    starts = list(itertools.accumulate(map(len, texts), initial=0))
    total = starts[-1]
    cuts = [0]
    for k in range(1, parts):
        target = max(int(total * (first_share + (1 - first_share) * (k - 1) / (parts - 1))), cuts[-1] + 1)
        if target >= total:
            break
        index = bisect.bisect_right(starts, target) - 1  # the text the target falls in
        local = target - starts[index]
        heading = next_heading(texts[index], local) if local > 0 else 0
        cut = starts[index] + (len(texts[index]) if heading is None else heading)
        if cut >= total:
            break
        if cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(total)
    plan: list[list[Piece]] = []
    for lo, hi in itertools.pairwise(cuts):
        pieces = []
        index = bisect.bisect_right(starts, lo) - 1  # the first text with characters at lo
        while index < len(texts) and starts[index] < hi:
            begin, end = starts[index], starts[index + 1]
            if max(lo, begin) < min(hi, end):
                pieces.append((index, max(lo, begin) - begin, min(hi, end) - begin))
            index += 1
        plan.append(pieces)
    return [pieces for pieces in plan if pieces]


def extract_sources(sources: Sequence[Source], *, workers: int) -> list[tuple[tuple[Paper, ...], tuple[Link, ...]]]:
    """``extract_text(text, path)`` of each source, in order, computed by ``workers`` processes."""
    texts = [text for _, text in sources]
    parts = 1 + (workers - 1) * PARTS_PER_CHILD
    plan = plan_parts(texts, parts, FIRST_SHARE if workers == 2 else 1 / workers)
    if len(plan) < 2:
        return [extract_text(text, path) for path, text in sources]
    rest = plan[1:]
    size = -(-len(rest) // (workers - 1))  # each child gets consecutive parts
    groups = [list(itertools.chain.from_iterable(rest[i:i + size])) for i in range(0, len(rest), size)]
    found: dict[Piece, Stretch] = {}
    children: list[_Child | None] = []
    try:
        for group in groups:
            try:
                children.append(_fork(functools.partial(_send_stretches, sources, group)))
            except OSError:  # no process (or memory file) to be had: this process extracts the group
                children.append(None)
        for piece in plan[0]:
            found[piece] = _extract_piece(sources, piece)
        for child, group in zip(children, groups, strict=True):
            for piece, packed in child.receive() if child is not None else ():
                found[piece] = _unpack(packed, sources[piece[0]][0])
            # a failed child: the pieces it did not send, here (an error then surfaces as in a serial run)
            for piece in group:
                if piece not in found:
                    found[piece] = _extract_piece(sources, piece)
    finally:  # also on Ctrl-C or an error here: no child outlives this call
        for child in children:
            if child is not None:
                child.close()
    by_source: list[list[Piece]] = [[] for _ in sources]
    for piece in itertools.chain.from_iterable(plan):
        by_source[piece[0]].append(piece)
    results = []
    for (path, text), pieces in zip(sources, by_source, strict=True):
        if not pieces:  # an empty text
            results.append(extract_text(text, path))
            continue
        bounds = [pieces[0][1], *(end for _, _, end in pieces)]
        results.append(join_stretches(text, path, bounds, [found[piece] for piece in pieces]))
    return results


def _extract_piece(sources: Sequence[Source], piece: Piece, start_line: int | None = None) -> Stretch:
    path, text = sources[piece[0]]
    return extract_stretch(text, path, start=piece[1], end=piece[2], start_line=start_line)


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


def _send_stretches(sources: Sequence[Source], group: Sequence[Piece], send: Callable[[bytes], None]) -> None:
    """In a child: extract each piece and send it at once, packed and pickled with the piece it is."""
    lines: dict[int, tuple[int, int]] = {}  # source -> (offset, its line number): counted piece by piece
    for piece in group:
        index, start, _ = piece
        text = sources[index][1]
        offset, line = lines.get(index, (0, 1))
        line += text.count("\n", offset, start)
        stretch = _extract_piece(sources, piece, start_line=line)
        send(pickle.dumps((piece, _pack(stretch)), protocol=pickle.HIGHEST_PROTOCOL))
        lines[index] = (start, line)


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

    def receive(self) -> Iterator[tuple[Piece, _Packed]]:
        """The child's pieces as it sends them, then its exit; fewer when it failed on the way."""
        with open(self._notes, "rb", closefd=False) as notes:
            while len(note := notes.read(_NOTE.size)) == _NOTE.size:  # a note comes after its stretch is whole
                offset, size = _NOTE.unpack(note)
                data = os.pread(self._store, size, offset)
                if len(data) != size:
                    break
                sent: tuple[Piece, _Packed] = pickle.loads(data)
                yield sent
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
