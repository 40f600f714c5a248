"""Parallel extraction: the text cut at paper headings, stretches in forked workers, joined exactly as serial."""

from __future__ import annotations

import itertools
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkaudit import extract, parallel
from linkaudit.catalog import next_heading
from linkaudit.extract import extract_paths, extract_stretch, extract_text
from linkaudit.parallel import FIRST_SHARE, join_stretches, plan_parts

SAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "cvpr-2022-list06.md"
HEADING = re.compile(r"^(#{1,6}[ \t]+\[)(\d+)(\])", re.MULTILINE)


def _catalog(sample_text: str, copies: int) -> str:
    """The sample repeated with fresh paper ids (as bench/extract.py builds its catalog)."""
    counter = iter(range(10**9))
    copy = sample_text.rstrip("\n") + "\n\n"
    return "".join(HEADING.sub(lambda m: f"{m[1]}{next(counter)}{m[3]}", copy) for _ in range(copies))


def cut_points(text: str, parts: int, first_share: float = FIRST_SHARE) -> list[int]:
    """Offsets ``[0, c1, ..., len(text)]`` of the parts ``plan_parts`` cuts one text into."""
    return [0, *(part[-1][2] for part in plan_parts([text], parts, first_share))] if text else [0, 0]


def extract_parallel(text: str, path: str, *, workers: int) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """One text through ``parallel.extract_sources``."""
    return parallel.extract_sources([(path, text)], workers=workers)[0]


def _headings(text: str) -> list[int]:
    offsets, at = [], next_heading(text, 0)
    while at is not None:
        offsets.append(at)
        at = next_heading(text, at + 1)
    return offsets


def _no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.mark.parametrize("workers", [2, 3, 4], ids=["2-workers", "3-workers", "4-workers"])
def test_parallel_extraction_equals_serial(sample_text: str, tmp_path: Path, workers: int,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A catalog above the threshold gives exactly the serial extraction: papers, links, lines, ids, order."""
    path = tmp_path / "big.md"
    path.write_text(_catalog(sample_text, 4), encoding="utf-8")
    monkeypatch.setattr(extract, "PARALLEL_MIN_CHARS", 100_000)
    serial = extract_paths([str(path)], workers=1)
    assert extract_paths([str(path)], workers=workers) == serial
    assert len(serial.papers) == 800 and serial.papers[-1].source.line > 10_000
    assert _no_children_left()


def test_default_workers_split_a_big_file(sample_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default inputs over the threshold go to as many processes as CPUs (at least two), small ones to none."""
    calls: list[tuple[int, int]] = []
    real = parallel.extract_sources

    def counted(sources: list[tuple[str, str]], *, workers: int) -> list[tuple[tuple[object, ...], ...]]:
        calls.append((len(sources), workers))
        return real(sources, workers=workers)  # type: ignore[return-value]

    monkeypatch.setattr(parallel, "extract_sources", counted)
    monkeypatch.setattr(parallel, "available_workers", lambda: 2)
    monkeypatch.setattr(extract, "PARALLEL_MIN_CHARS", 100_000)
    big, small = tmp_path / "big.md", tmp_path / "small.md"
    big.write_text(_catalog(sample_text, 2), encoding="utf-8")
    small.write_text(sample_text[:50_000], encoding="utf-8")
    assert extract_paths([str(big), str(small)]) == extract_paths([str(big), str(small)], workers=1)
    assert calls == [(2, 2)]  # both files, in one batch, in two processes
    calls.clear()
    assert len(extract_paths([str(small)]).papers) > 0
    assert calls == []


def test_cuts_fall_on_headings(sample_text: str) -> None:
    """Every cut is a paper heading; the first stretch gets about its share; bounds only increase."""
    text = _catalog(sample_text, 2)
    heads = set(_headings(text))
    bounds = cut_points(text, 4, 0.4)
    assert bounds[0] == 0 and bounds[-1] == len(text) and bounds == sorted(set(bounds))
    assert set(bounds[1:-1]) <= heads and len(bounds) == 5
    assert 0.39 < bounds[1] / len(text) < 0.42
    assert cut_points("no headings here\n" * 10, 2) == [0, 170]


# The first 80 papers of the sample (its garbles among them) and a few catalog-shaped oddities.
CUT_TEXT = SAMPLE.read_text(encoding="utf-8")[:120_000] + (
    "\n## [1] again\n**URL**: [x](https://a.org/x)\nhttps://a.org/x\n## [y] ](https://a.org/x)\n"
    "### [z] 10.1000/xyz. and git.io/abc\n#### [1] https://github.com/a/b\n"
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_cuts_at_headings_join_to_the_serial_result(data: st.DataObject) -> None:
    """Stretches cut at any headings, extracted alone and joined, equal the extraction of the whole."""
    text = CUT_TEXT
    heads = [h for h in _headings(text) if h > 0]
    cuts = sorted(data.draw(st.sets(st.sampled_from(heads), max_size=6)))
    bounds = [0, *cuts, len(text)]
    stretches = [extract_stretch(text, "s.md", start=a, end=b) for a, b in itertools.pairwise(bounds)]
    assert join_stretches(text, "s.md", bounds, stretches) == extract_text(text, "s.md")


def test_same_paper_id_in_two_stretches() -> None:
    """Links are de-duplicated per paper id across the whole file: repeated ids across a cut still join exactly."""
    text = "## [1] A\nhttps://a.org/x\n\n## [2] B\nhttps://b.org/y\n\n## [1] C\nhttps://a.org/x\n"
    cut = text.index("## [1] C")
    stretches = [extract_stretch(text, "d.md", end=cut), extract_stretch(text, "d.md", start=cut)]
    naive = [link for stretch in stretches for link in stretch.links]
    serial = extract_text(text, "d.md")
    assert len(naive) == 3 and len(serial[1]) == 2  # the repeated (paper, url) is dropped serially
    assert join_stretches(text, "d.md", [0, cut, len(text)], stretches) == serial


def test_markdown_repeat_across_a_cut() -> None:
    """A stretch's first link written as "](url)" repeating the last link before the cut is dropped, as serially."""
    text = "## [1] A\nsee https://a.org/x\n## [2] B ](https://a.org/x) and https://b.org/y\n"
    cut = text.index("## [2]")
    stretches = [extract_stretch(text, "m.md", end=cut), extract_stretch(text, "m.md", start=cut)]
    assert stretches[1].bracketed_first == "https://a.org/x" == stretches[0].last_candidate
    serial = extract_text(text, "m.md")
    assert [link.url for link in serial[1]] == ["https://a.org/x", "https://b.org/y"]
    assert join_stretches(text, "m.md", [0, cut, len(text)], stretches) == serial


@pytest.mark.parametrize("failure", ["exception", "killed", "killed-after-one"])
def test_a_failed_worker_costs_time_not_results(sample_text: str, failure: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that raises or dies (at once, or after sending a stretch) costs time, not results."""
    real = parallel._send_stretches

    def broken(sources: list[tuple[str, str]], group: list[tuple[int, int, int]], send: Callable[[bytes], None]) -> None:
        if failure == "killed-after-one":
            real(sources, group[:1], send)
        if failure.startswith("killed"):
            os.kill(os.getpid(), signal.SIGKILL)
        raise RuntimeError("worker bug")

    monkeypatch.setattr(parallel, "_send_stretches", broken)
    text = _catalog(sample_text, 2)
    assert extract_parallel(text, "f.md", workers=3) == extract_text(text, "f.md")
    assert _no_children_left()


def test_no_process_to_fork_means_serial(sample_text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """When fork fails (no process to be had), this process extracts every stretch: same result, no leaked pipe."""

    def no_fork() -> int:
        raise BlockingIOError("Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    text = _catalog(sample_text, 2)
    before = len(os.listdir("/proc/self/fd"))
    assert extract_parallel(text, "n.md", workers=3) == extract_text(text, "n.md")
    assert len(os.listdir("/proc/self/fd")) == before


def test_interrupt_kills_the_workers(sample_text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while this process extracts its own stretch propagates at once, and no worker outlives it."""
    real = parallel.extract_stretch

    def own_stretch_interrupted(text: str, path: str, *, start: int = 0, end: int | None = None,
                                start_line: int | None = None, after: str | None = None) -> extract.Stretch:
        if start == 0:
            raise KeyboardInterrupt
        return real(text, path, start=start, end=end, start_line=start_line, after=after)

    def slow_worker(sources: list[tuple[str, str]], group: list[tuple[int, int, int]],
                    send: Callable[[bytes], None]) -> None:
        time.sleep(60)

    monkeypatch.setattr(parallel, "extract_stretch", own_stretch_interrupted)
    monkeypatch.setattr(parallel, "_send_stretches", slow_worker)
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        extract_parallel(_catalog(sample_text, 2), "i.md", workers=2)
    assert time.monotonic() - began < 10
    assert _no_children_left()


def test_small_input_and_threads_stay_in_process(sample_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Below the threshold nothing forks; with other threads running, the worker count is 1."""

    def no_fork() -> int:
        raise AssertionError("forked")

    monkeypatch.setattr(os, "fork", no_fork)
    assert len(extract_paths([str(sample_path)]).papers) == 200
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert parallel.available_workers() == 1
    finally:
        stop.set()
        thread.join()


# -- many files: a collection of catalog pages, extracted together ------------------------------------

# Texts a collection holds: pages cut from the sample (ids restart in each), an empty file, one without
# headings, one whose first paper has no heading line before it, and CUT_TEXT's oddities.
_PAGES = [
    SAMPLE.read_text(encoding="utf-8")[:40_000],
    "",
    "no headings, just https://example.org/a and 10.1000/xyz.\n",
    SAMPLE.read_text(encoding="utf-8")[40_000:90_000],
    CUT_TEXT,
    "## [0] Lone\n**URL**: [d](https://doi.org/10.1000/1)\n\nCode: https://github.com/a/b.\n",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_plan_over_many_texts_covers_each_text_at_headings(data: st.DataObject) -> None:
    """Whatever the parts and share: a text's pieces are consecutive, cover it, and cut only at headings."""
    texts = data.draw(st.lists(st.sampled_from(_PAGES), min_size=1, max_size=8))
    parts = data.draw(st.integers(min_value=1, max_value=12))
    share = data.draw(st.floats(min_value=0.05, max_value=0.95))
    plan = parallel.plan_parts(texts, parts, share)
    assert 1 <= len(plan) <= parts or not any(texts)
    pieces = [piece for part in plan for piece in part]
    assert pieces == sorted(pieces)  # in order: text by text, stretch by stretch
    for index, text in enumerate(texts):
        mine = [(start, end) for i, start, end in pieces if i == index]
        if not text:
            assert mine == []
            continue
        assert mine[0][0] == 0 and mine[-1][1] == len(text)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(mine))
        heads = set(_headings(text)) | {len(text)}
        assert {end for _, end in mine} <= heads


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_many_texts_in_parallel_equal_each_extracted_alone(data: st.DataObject) -> None:
    """Two to four processes over a drawn collection: each text's result is its own serial extraction."""
    texts = data.draw(st.lists(st.sampled_from(_PAGES), min_size=1, max_size=6))
    workers = data.draw(st.integers(min_value=2, max_value=4))
    sources = [(f"page{i}.md", text) for i, text in enumerate(texts)]
    assert parallel.extract_sources(sources, workers=workers) == [extract_text(t, p) for p, t in sources]
    assert _no_children_left()


def test_a_collection_of_small_pages_is_extracted_in_parallel(sample_text: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages each far below the threshold but over it together (170 pages of a venue's years) fork workers,
    and the extraction is the serial one; in batches too."""
    pages = tmp_path / "catalog"
    pages.mkdir()
    for k in range(12):  # pages of 50 papers, ids from 0 in each, as a real collection has
        chunk = sample_text[: len(sample_text) // 4]
        (pages / f"list{k:02d}.md").write_text(chunk, encoding="utf-8")
    forks: list[int] = []
    real_fork = parallel._fork

    def counted_fork(work: Callable[[Callable[[bytes], None]], None]) -> object:
        forks.append(1)
        return real_fork(work)

    monkeypatch.setattr(parallel, "_fork", counted_fork)
    monkeypatch.setattr(parallel, "available_workers", lambda: 2)
    monkeypatch.setattr(extract, "PARALLEL_MIN_CHARS", 200_000)
    serial = extract_paths([str(pages)], workers=1)
    assert forks == []
    assert extract_paths([str(pages)]) == serial
    assert forks == [1]
    assert len({paper.source.path for paper in serial.papers}) == 12
    forks.clear()
    monkeypatch.setattr(extract, "BATCH_CHARS", 400_000)  # three or four pages a batch
    assert extract_paths([str(pages)]) == serial
    assert len(forks) >= 2
    assert _no_children_left()


@pytest.mark.parametrize("failure", ["exception", "killed-after-one"])
def test_a_failed_worker_over_many_files_costs_time_not_results(failure: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = parallel._send_stretches

    def broken(sources: list[tuple[str, str]], group: list[tuple[int, int, int]], send: Callable[[bytes], None]) -> None:
        if failure == "killed-after-one":
            real(sources, group[:1], send)
            os.kill(os.getpid(), signal.SIGKILL)
        raise RuntimeError("worker bug")

    monkeypatch.setattr(parallel, "_send_stretches", broken)
    sources = [(f"p{i}.md", text) for i, text in enumerate(_PAGES * 2)]
    assert parallel.extract_sources(sources, workers=3) == [extract_text(t, p) for p, t in sources]
    assert _no_children_left()
