"""Fixtures for the checker's integration tests: the simulated web (real local servers on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from checkkit import DoiWeb, GitHubWeb
from testweb import FakeCrossref, FakeDoi, FakeGitHub, Origin, Server, TestWeb


@pytest.fixture(scope="session")
def testweb() -> Iterator[TestWeb]:
    """The background loop hosting every server of the session."""
    web = TestWeb()
    yield web
    web.close()


@pytest.fixture()
def serve(testweb: TestWeb) -> Iterator[Callable[..., Server]]:
    """Start servers for one test; they stop when it ends."""
    yield testweb.serve
    testweb.stop_all()


@pytest.fixture()
def origin(serve: Callable[..., Server]) -> Server:
    """A generic origin (``/status/<code>``, ``/redirect``, ``/slow``, ``/flaky``...) on 127.0.0.1."""
    return serve(Origin())


@pytest.fixture()
def github(serve: Callable[..., Server]) -> GitHubWeb:
    """A fake GitHub API (REST + GraphQL) and a fake github.com, sharing one state."""
    state = FakeGitHub()
    return GitHubWeb(state, serve(state.api), serve(state.web))


@pytest.fixture()
def doiweb(serve: Callable[..., Server]) -> DoiWeb:
    """A fake doi.org handle API and a fake Crossref."""
    doi, crossref = FakeDoi(), FakeCrossref()
    return DoiWeb(doi, crossref, serve(doi), serve(crossref))
