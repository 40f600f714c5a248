"""Integration tests of the GitHub checker against a fake GitHub API (REST + GraphQL) and a fake github.com."""

from __future__ import annotations

from dataclasses import replace

import pytest
from checkkit import GitHubWeb, make_link, make_settings, run_check
from testweb import Server

from linkaudit.config import GitHubSettings, RetrySettings
from linkaudit.model import Kind, Status

TOKEN = "ghp_testtoken_never_leaks"


def _catalog(github: GitHubWeb) -> None:
    state = github.state
    state.add("acme/ok", stars=7)
    state.add("acme/archived", archived=True)
    state.add("acme/disabled", disabled=True)
    state.add("acme/empty", empty=True)
    state.add("NewOwner/new-name")
    state.rename("oldowner/old-name", "NewOwner/new-name")


KINDS = ["token", "no-token"]


@pytest.fixture(params=KINDS)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with a GITHUB_TOKEN (GraphQL) and without one (REST)."""
    if request.param == "token":
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    return str(request.param)


def test_repository_states(github: GitHubWeb, mode: str) -> None:
    """Existing, archived, empty, disabled, missing and renamed repositories get their status and RepoInfo."""
    _catalog(github)
    names = ["acme/ok", "acme/archived", "acme/disabled", "acme/empty", "acme/missing", "oldowner/old-name"]
    links = [make_link(f"https://github.com/{n}") for n in names]
    results = run_check(links, make_settings(github=github))
    by = {n: results[f"https://github.com/{n}"] for n in names}
    assert by["acme/ok"].status is Status.OK
    assert by["acme/ok"].repo is not None and by["acme/ok"].repo.stars == 7
    assert by["acme/ok"].repo.pushed_at == "2024-01-02T03:04:05Z"
    assert by["acme/archived"].status is Status.OK and by["acme/archived"].repo.archived  # type: ignore[union-attr]
    assert by["acme/empty"].status is Status.OK and by["acme/empty"].repo.empty  # type: ignore[union-attr]
    assert (by["acme/disabled"].status, by["acme/disabled"].definitive) == (Status.BROKEN, True)
    assert by["acme/disabled"].repo is not None and by["acme/disabled"].repo.disabled
    assert (by["acme/missing"].status, by["acme/missing"].definitive) == (Status.BROKEN, True)
    renamed = by["oldowner/old-name"]
    assert (renamed.status, renamed.definitive) == (Status.REDIRECTED, True)
    assert renamed.final_url == "https://github.com/NewOwner/new-name"
    assert renamed.repo is not None and renamed.repo.renamed_to == "NewOwner/new-name"
    assert github.web.requests == 0  # the API answered everything; no page fetches


def test_graphql_batches_of_at_most_batch_size(github: GitHubWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a token, 150 repositories take two GraphQL queries (100 + 50 aliases) and no REST calls."""
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    for i in range(150):
        github.state.add(f"org{i % 7}/repo{i}")
    links = [make_link(f"https://github.com/org{i % 7}/repo{i}") for i in range(150)]
    links.append(make_link("https://github.com/org0/missing"))
    results = run_check(links, make_settings(github=github))
    assert sum(r.status is Status.OK for r in results.values()) == 150
    assert results["https://github.com/org0/missing"].status is Status.BROKEN
    assert github.state.graphql_queries == 2
    assert sorted(github.state.graphql_aliases) == [51, 100]
    assert not github.api.seen("GET")


def test_smaller_batch_size_is_respected(github: GitHubWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    """``github.batch_size`` bounds the aliases per query."""
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    for i in range(25):
        github.state.add(f"o/r{i}")
    settings = make_settings(github=github)
    settings = replace(settings, github=replace(settings.github, batch_size=10))
    run_check([make_link(f"https://github.com/o/r{i}") for i in range(25)], settings)
    assert sorted(github.state.graphql_aliases) == [5, 10, 10]


def test_token_goes_only_to_the_api_host(
    github: GitHubWeb, origin: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token is sent to the GraphQL endpoint, never to github.com pages or other hosts, nor in any detail."""
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    github.state.add("acme/ok")
    links = [
        make_link("https://github.com/acme/ok/tree/main/src"),
        make_link("https://github.com/acme"),
        make_link(f"{origin.url}/status/200"),
        make_link(f"{origin.url}/redirect/302?to={github.web.url}/acme/ok"),
    ]
    results = run_check(links, make_settings(github=github))
    api_auth = {auth for _, auth in github.state.authorizations}
    assert api_auth == {f"Bearer {TOKEN}"}
    for server in (github.web, origin):
        assert server.log, "the test should have reached this server"
        assert all("authorization" not in r.headers for r in server.log)
    for result in results.values():
        assert TOKEN not in result.detail


def test_rest_without_token_sends_no_authorization(github: GitHubWeb) -> None:
    """Without a token, REST is asked, anonymously."""
    github.state.add("acme/ok")
    result = run_check([make_link("https://github.com/acme/ok")], make_settings(github=github))
    assert result["https://github.com/acme/ok"].status is Status.OK
    assert github.state.authorizations == [("/repos/acme/ok", "")]
    assert github.state.graphql_queries == 0


def test_rest_rename_follows_the_repositories_redirect(github: GitHubWeb) -> None:
    """A renamed repository's 301 to /repositories/{id} is followed and reported as redirected."""
    _catalog(github)
    result = run_check([make_link("https://github.com/oldowner/old-name")], make_settings(github=github))
    renamed = result["https://github.com/oldowner/old-name"]
    assert renamed.status is Status.REDIRECTED
    assert github.api.counts["GET /repositories/1005"] == 1


def test_exhausted_rest_budget_falls_back_to_the_web(github: GitHubWeb) -> None:
    """When the unauthenticated budget runs out, the github.com page answers instead (404 missing, 301 renamed, 451)."""
    _catalog(github)
    github.state.rest_budget = 2
    names = ["acme/ok", "acme/archived", "acme/disabled", "acme/empty", "acme/missing", "oldowner/old-name"]
    results = run_check(
        [make_link(f"https://github.com/{n}") for n in names],
        make_settings(github=github, host_concurrency=1),
    )
    by = {n: results[f"https://github.com/{n}"] for n in names}
    assert by["acme/ok"].status is Status.OK
    assert by["acme/missing"].status is Status.BROKEN
    assert by["acme/disabled"].status is Status.BROKEN
    assert by["oldowner/old-name"].status is Status.REDIRECTED
    assert by["oldowner/old-name"].final_url == "https://github.com/NewOwner/new-name"
    assert len(github.api.seen("GET", "/repos/")) == 2  # the budget, and not one request more
    assert github.web.requests >= 3
    assert all(r.status is not Status.ERROR for r in results.values())


def test_concurrent_rest_lookups_never_overspend_the_budget(github: GitHubWeb) -> None:
    """Eight lookups in flight at once stop at the budget: no request is answered 403, the rest go to the web."""
    names = [f"acme/r{i}" for i in range(40)]
    for name in names:
        github.state.add(name)
    github.state.rest_budget = 10
    results = run_check([make_link(f"https://github.com/{n}") for n in names],
                        make_settings(github=github, host_concurrency=8))
    assert all(r.status is Status.OK for r in results.values())
    assert len(github.api.seen("GET", "/repos/")) == 10
    assert github.web.requests == 30


def test_graphql_secondary_rate_limit_is_waited_out(
    github: GitHubWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 403 with Retry-After from GraphQL (secondary limit) is honoured, then the batch succeeds."""
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    github.state.add("acme/ok")
    github.state.graphql_status = [403]
    github.state.graphql_retry_after = "1"
    result = run_check([make_link("https://github.com/acme/ok")], make_settings(github=github))
    assert result["https://github.com/acme/ok"].status is Status.OK
    assert github.state.graphql_queries == 2


def test_graphql_failure_falls_back_to_rest(github: GitHubWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    """When GraphQL keeps failing (e.g. 502), each repository is asked through REST instead."""
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    _catalog(github)
    github.state.graphql_status = [502, 502, 502]
    results = run_check(
        [make_link("https://github.com/acme/ok"), make_link("https://github.com/acme/missing")],
        make_settings(github=github),
    )
    assert results["https://github.com/acme/ok"].status is Status.OK
    assert results["https://github.com/acme/missing"].status is Status.BROKEN
    assert github.api.counts["GET /repos/acme/ok"] == 1


def test_paths_inside_a_repository_are_checked_on_the_web(github: GitHubWeb, mode: str) -> None:
    """A /tree/ or /blob/ link also gets its path checked: a missing path is broken, the repo info kept."""
    github.state.add("acme/one")
    github.state.add("acme/two")
    good = "https://github.com/acme/one/blob/main/README.md"
    bad = "https://github.com/acme/two/tree/no-such-branch"
    results = run_check([make_link(good), make_link(bad)], make_settings(github=github))
    assert results[good].status is Status.OK
    assert (results[bad].status, results[bad].definitive) == (Status.BROKEN, True)
    assert results[bad].repo is not None
    assert "path" in results[bad].detail
    assert github.web.counts["HEAD /acme/one/blob/main/README.md"] == 1


def test_path_in_a_missing_repository_is_broken_without_a_page_fetch(github: GitHubWeb) -> None:
    """A path in a repository that does not exist is broken after the API answer alone."""
    url = "https://github.com/acme/nothing/tree/main"
    result = run_check([make_link(url)], make_settings(github=github))[url]
    assert result.status is Status.BROKEN
    assert github.web.requests == 0


def test_owner_only_link_with_suggestions(github: GitHubWeb, mode: str) -> None:
    """An owner-only link whose slash was garbled gets its candidates checked; only existing ones are suggested."""
    github.state.add("OliverRen/Shunted-Transformer")
    url = "https://github.com/OliverRenShunted-Transformer"
    candidates = [
        "https://github.com/OliverRen/Shunted-Transformer",
        "https://github.com/OliverRenS/hunted-Transformer",
        "https://github.com/Oliver/RenShunted-Transformer",
    ]
    result = run_check([make_link(url, suggestions=candidates)], make_settings(github=github))[url]
    assert result.status is Status.BROKEN
    assert result.suggestions == ("https://github.com/OliverRen/Shunted-Transformer",)
    if mode == "token":
        assert github.state.graphql_queries == 1  # all candidates in one batch
        assert github.state.graphql_aliases == [3]


def test_broken_repository_gets_hyphen_variants_of_known_owners(github: GitHubWeb) -> None:
    """A missing repository whose owner matches another cited owner up to hyphens is offered under that owner."""
    github.state.add("megvii-research/NAFNet")
    github.state.add("megvii-research/other")
    links = [
        make_link("https://github.com/megviiresearch/NAFNet"),
        make_link("https://github.com/megvii-research/other"),
    ]
    results = run_check(links, make_settings(github=github))
    broken = results["https://github.com/megviiresearch/NAFNet"]
    assert broken.status is Status.BROKEN
    assert broken.suggestions == ("https://github.com/megvii-research/NAFNet",)


def test_unreachable_api_is_an_error_not_broken(github: GitHubWeb, origin: Server) -> None:
    """When the API and github.com fail while other hosts answer, repositories are errors, never broken."""
    github.state.add("acme/ok")
    settings = make_settings(github=github)
    dead = "http://127.0.0.1:9"
    settings = replace(settings, github=GitHubSettings(api=dead, graphql=f"{dead}/graphql", web=dead))
    results = run_check(
        [make_link("https://github.com/acme/ok"), make_link(f"{origin.url}/status/200")], settings
    )
    repo = results["https://github.com/acme/ok"]
    assert (repo.status, repo.definitive) == (Status.ERROR, False)


def test_github_web_rate_limit_is_blocked(github: GitHubWeb) -> None:
    """With the API exhausted and github.com answering 429, the repository is blocked (inconclusive)."""
    github.state.add("acme/ok")
    github.state.rest_budget = 0
    github.state.web_status["/acme/ok"] = 429
    retry = RetrySettings(attempts=2, initial_wait=0, max_wait=0, jitter=0)
    result = run_check([make_link("https://github.com/acme/ok")], make_settings(github=github, retry=retry))
    assert result["https://github.com/acme/ok"].status is Status.BLOCKED


def test_shortlink_to_a_renamed_repository(github: GitHubWeb, origin: Server) -> None:
    """A shortlink resolving to a renamed repository is checked through the API and reported redirected."""
    _catalog(github)
    short = f"{origin.url}/redirect/301?to=https://github.com/oldowner/old-name"
    result = run_check([make_link(short, kind=Kind.SHORTLINK, key="short:x")], make_settings(github=github))[
        short
    ]
    assert result.status is Status.REDIRECTED
    assert result.kind is Kind.SHORTLINK
    assert result.repo is not None and result.repo.renamed_to == "NewOwner/new-name"
    assert result.redirects[0] == "https://github.com/oldowner/old-name"


class _Etags:
    """An in-memory ETag store (the history store plays this part in `linkaudit audit`)."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[str, str]] = {}

    def get_etag(self, url: str) -> tuple[str, str] | None:
        """The stored (etag, body) of ``url``."""
        return self.items.get(url)

    def put_etag(self, url: str, etag: str, body: str) -> None:
        """Remember ``url``'s ETag and body."""
        self.items[url] = (etag, body)


def test_rest_etags_make_unchanged_repositories_free(github: GitHubWeb) -> None:
    """A second run sends If-None-Match; the 304s cost no rate-limit budget and keep the repository facts."""
    github.state.add("acme/ok", stars=7)
    github.state.add("acme/frozen", archived=True)
    github.state.rest_budget = 2
    etags = _Etags()
    links = [make_link("https://github.com/acme/ok"), make_link("https://github.com/acme/frozen")]
    first = run_check(links, make_settings(github=github), etags=etags)
    assert github.state.rest_budget == 0 and len(etags.items) == 2
    second = run_check(links, make_settings(github=github), etags=etags)
    assert github.state.not_modified == 2 and github.state.rest_budget == 0
    for url in ("https://github.com/acme/ok", "https://github.com/acme/frozen"):
        assert second[url].status is Status.OK and second[url].repo == first[url].repo
    assert second["https://github.com/acme/frozen"].repo.archived is True
    assert not github.web.log  # no fallback to the pages was needed
