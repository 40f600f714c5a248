"""Integration tests of the DOI checker against a fake doi.org handle API and a fake Crossref."""

from __future__ import annotations

from dataclasses import replace

from checkkit import DoiWeb, closed_port, make_link, make_settings, paper, run_check
from testweb import Server

from linkaudit.config import DoiSettings, Settings
from linkaudit.model import Kind, Status


def test_registered_doi_is_ok(doiweb: DoiWeb) -> None:
    """A DOI the handle API knows (responseCode 1) is ok, with its target URL, and no publisher page is fetched."""
    doiweb.doi.registered["10.1109/cvpr52688.2022.01009"] = "https://ieeexplore.ieee.org/document/9879001/"
    url = "https://doi.org/10.1109/CVPR52688.2022.01009"
    result = run_check([make_link(url)], make_settings(doi=doiweb))[url]
    assert (result.status, result.definitive, result.http_status) == (Status.OK, True, 200)
    assert result.kind is Kind.DOI
    assert result.doi is not None and result.doi.registered
    assert result.doi.target == "https://ieeexplore.ieee.org/document/9879001/"
    assert doiweb.doi.paths == ["/api/handles/10.1109/CVPR52688.2022.01009"]


def test_unknown_doi_is_broken(doiweb: DoiWeb) -> None:
    """A DOI the handle API does not know (responseCode 100, HTTP 404) is broken and definitive."""
    url = "https://doi.org/10.1109/CVPR.2099.99999"
    result = run_check([make_link(url)], make_settings(doi=doiweb))[url]
    assert (result.status, result.definitive, result.http_status) == (Status.BROKEN, True, 404)
    assert result.doi is not None and not result.doi.registered
    assert doiweb.doi_server.counts["GET /api/handles/10.1109/CVPR.2099.99999"] == 1  # a 404 is never retried


def test_doi_with_special_characters_is_encoded(doiweb: DoiWeb) -> None:
    """DOIs with characters such as '#', '?' or spaces reach the handle API intact."""
    doi = "10.1002/(SICI)1097-4636(199711)37:2<216::AID-JBM11>3.0.CO;2-O"
    doiweb.doi.registered[doi.lower()] = "https://example.org/sici"
    url = f"https://doi.org/{doi}"
    result = run_check([make_link(url)], make_settings(doi=doiweb))[url]
    assert result.status is Status.OK
    assert doiweb.doi.paths == [f"/api/handles/{doi}"]


def test_unreachable_handle_api_is_an_error_not_broken(origin: Server) -> None:
    """When doi.org cannot be reached while other hosts answer, DOIs are inconclusive errors."""
    url = "https://doi.org/10.1000/xyz"
    dead = f"http://127.0.0.1:{closed_port()}"
    settings = make_settings(doi=None)
    settings = replace(settings, doi=DoiSettings(api=dead, crossref_api=dead))
    results = run_check([make_link(url), make_link(f"{origin.url}/status/200")], settings)
    assert (results[url].status, results[url].definitive) == (Status.ERROR, False)
    assert "doi.org" in results[url].detail


def test_handle_api_errors_are_inconclusive(doiweb: DoiWeb) -> None:
    """An answer without a handle responseCode (a misconfigured base answering a 404 page) is an error."""
    url = "https://doi.org/10.1000/xyz"
    settings = replace(make_settings(doi=doiweb), doi=DoiSettings(api=f"{doiweb.doi_server.url}/wrong"))
    result = run_check([make_link(url)], settings)[url]
    assert (result.status, result.definitive) == (Status.ERROR, False)


def test_crossref_title_is_compared_with_the_papers(doiweb: DoiWeb) -> None:
    """With Crossref on, the title is fetched (with mailto) and compared with the citing paper's title."""
    doiweb.doi.registered["10.1000/match"] = "https://example.org/a"
    doiweb.doi.registered["10.1000/differ"] = "https://example.org/b"
    doiweb.doi.registered["10.1000/datacite"] = "https://example.org/c"
    doiweb.crossref.titles["10.1000/match"] = "The Flag Median and FlagIRLS"
    doiweb.crossref.titles["10.1000/differ"] = "Something Else Entirely About Graphs"
    settings = make_settings(doi=doiweb)
    settings = replace(settings, doi=replace(settings.doi, crossref=True, mailto="maintainer@example.org"))
    links = [
        make_link("https://doi.org/10.1000/match", paper="1"),
        make_link("https://doi.org/10.1000/differ", paper="2"),
        make_link("https://doi.org/10.1000/datacite", paper="3"),
    ]
    papers = [
        paper("1", "The flag median and FlagIRLS."),
        paper("2", "Learning Fair Classifiers"),
        paper("3", "X"),
    ]
    results = run_check(links, settings, papers=papers)
    match, differ, datacite = (results[link.url] for link in links)
    assert match.doi is not None and match.doi.title_matches is True
    assert match.papers[0].title == "The flag median and FlagIRLS."
    assert differ.doi is not None and differ.doi.title_matches is False
    assert differ.status is Status.OK
    assert "title differs" in differ.detail
    assert datacite.doi is not None and datacite.doi.title is None and datacite.doi.title_matches is None
    assert all(q.get("mailto") == "maintainer@example.org" for q in doiweb.crossref.queries)
    assert all("mailto:maintainer@example.org" in agent for agent in doiweb.crossref.agents)


def test_crossref_is_not_asked_by_default(doiweb: DoiWeb) -> None:
    """Crossref is opt-in: a default run asks only the handle API."""
    doiweb.doi.registered["10.1000/x"] = "https://example.org/x"
    run_check([make_link("https://doi.org/10.1000/x")], make_settings(doi=doiweb))
    assert doiweb.crossref_server.requests == 0


def test_dois_cited_twice_are_asked_once(doiweb: DoiWeb) -> None:
    """Two papers citing one DOI (in different spellings of the same key) cost one handle lookup."""
    doiweb.doi.registered["10.1000/x"] = "https://example.org/x"
    links = [
        make_link("https://doi.org/10.1000/X", paper="1"),
        make_link("https://doi.org/10.1000/x", paper="2"),
    ]
    results = run_check(links, make_settings(doi=doiweb))
    assert len(results) == 1
    assert len(next(iter(results.values())).papers) == 2
    assert doiweb.doi_server.requests == 1


def _batched(doiweb: DoiWeb, size: int, **doi: object) -> Settings:
    settings = make_settings(doi=doiweb)
    return replace(settings, doi=replace(settings.doi, crossref_batch=size, **doi))


def test_crossref_batches_ask_about_many_dois_per_query(doiweb: DoiWeb) -> None:
    """With crossref_batch, 120 DOIs Crossref lists cost 3 queries of up to 50 and no handle lookup; those it does
    not list (another agency's, or none at all) are asked at doi.org, which decides registered or broken."""
    crossref_dois = [f"10.1109/CVPR.2022.{i:05d}" for i in range(120)]
    for doi in crossref_dois:
        doiweb.crossref.titles[doi.lower()] = f"Paper {doi}"
        doiweb.crossref.targets[doi.lower()] = f"https://ieeexplore.ieee.org/{doi}"
    doiweb.doi.registered["10.5281/zenodo.123"] = "https://zenodo.org/record/123"  # DataCite: not in Crossref
    links = [make_link(f"https://doi.org/{doi}") for doi in crossref_dois]
    links += [make_link("https://doi.org/10.5281/zenodo.123"), make_link("https://doi.org/10.9999/missing")]
    results = run_check(links, _batched(doiweb, 50, mailto="maintainer@example.org"))
    assert [len(batch) for batch in doiweb.crossref.batches] == [50, 50, 22]
    listed = results["https://doi.org/10.1109/CVPR.2022.00007"]
    assert (listed.status, listed.definitive, listed.http_status) == (Status.OK, True, 200)
    assert "listed by Crossref" in listed.detail
    assert listed.doi is not None and listed.doi.registered
    assert listed.doi.target == "https://ieeexplore.ieee.org/10.1109/CVPR.2022.00007"
    assert listed.doi.title is None  # titles only with the title check on
    zenodo = results["https://doi.org/10.5281/zenodo.123"]
    assert (zenodo.status, zenodo.definitive) == (Status.OK, True) and "Crossref" not in zenodo.detail
    missing = results["https://doi.org/10.9999/missing"]
    assert (missing.status, missing.definitive) == (Status.BROKEN, True)
    assert sorted(doiweb.doi.paths) == ["/api/handles/10.5281/zenodo.123", "/api/handles/10.9999/missing"]
    assert all(q.get("mailto") == "maintainer@example.org" for q in doiweb.crossref.queries)
    assert all("mailto:maintainer@example.org" in agent for agent in doiweb.crossref.agents)
    assert all(q.get("select") == "DOI,title,resource" for q in doiweb.crossref.queries)


def test_a_failed_crossref_query_falls_back_to_doi_org(doiweb: DoiWeb) -> None:
    """Crossref answering an error says nothing about the DOIs: each is asked at doi.org as without batching."""
    doiweb.crossref.list_status = 400
    for i in range(3):
        doiweb.crossref.titles[f"10.1000/{i}"] = "T"
        doiweb.doi.registered[f"10.1000/{i}"] = f"https://example.org/{i}"
    links = [make_link(f"https://doi.org/10.1000/{i}") for i in range(3)] + [make_link("https://doi.org/10.1000/gone")]
    results = run_check(links, _batched(doiweb, 50))
    assert len(doiweb.crossref.batches) == 1
    assert [results[link.url].status for link in links] == [Status.OK, Status.OK, Status.OK, Status.BROKEN]
    assert all("Crossref" not in results[link.url].detail for link in links)
    assert len(doiweb.doi.paths) == 4


def test_unreachable_crossref_falls_back_to_doi_org(doiweb: DoiWeb) -> None:
    """Crossref down (connection refused) while doi.org answers: every DOI still gets doi.org's verdict."""
    doiweb.doi.registered["10.1000/a"] = "https://example.org/a"
    settings = _batched(doiweb, 50)
    settings = replace(settings, doi=replace(settings.doi, crossref_api=f"http://127.0.0.1:{closed_port()}"))
    links = [make_link("https://doi.org/10.1000/a"), make_link("https://doi.org/10.1000/b")]
    results = run_check(links, settings)
    assert [results[link.url].status for link in links] == [Status.OK, Status.BROKEN]


def test_batched_titles_are_compared_without_more_queries(doiweb: DoiWeb) -> None:
    """With the title check on too, the batch's titles are compared: no per-DOI Crossref request."""
    doiweb.crossref.titles["10.1000/match"] = "The Flag Median and FlagIRLS"
    doiweb.crossref.titles["10.1000/differ"] = "Something Else Entirely About Graphs"
    links = [make_link("https://doi.org/10.1000/match", paper="1"), make_link("https://doi.org/10.1000/differ", paper="2")]
    papers = [paper("1", "The flag median and FlagIRLS."), paper("2", "Learning Fair Classifiers")]
    results = run_check(links, _batched(doiweb, 50, crossref=True), papers=papers)
    match, differ = (results[link.url] for link in links)
    assert match.doi is not None and match.doi.title == "The Flag Median and FlagIRLS" and match.doi.title_matches
    assert differ.doi is not None and differ.doi.title_matches is False and "title differs" in differ.detail
    assert len(doiweb.crossref.queries) == 1 and doiweb.doi.paths == []


def test_a_doi_the_batch_did_not_list_is_not_asked_of_crossref_again(doiweb: DoiWeb) -> None:
    """With the title check on, a DOI the batch query answered without goes to doi.org alone: Crossref said it has
    no record of it, so no per-DOI title request follows; a failed batch leaves the title request to be made."""
    doiweb.doi.registered["10.5281/zenodo.1"] = "https://zenodo.org/record/1"
    doiweb.crossref.titles["10.1000/listed"] = "Listed"
    links = [make_link("https://doi.org/10.5281/zenodo.1"), make_link("https://doi.org/10.1000/listed")]
    results = run_check(links, _batched(doiweb, 50, crossref=True))
    assert all(results[link.url].status is Status.OK for link in links)
    assert len(doiweb.crossref.queries) == 1  # the batch only
    doiweb.crossref.list_status = 500
    doiweb.crossref.queries.clear()
    results = run_check(links[:1], _batched(doiweb, 50, crossref=True))
    assert results[links[0].url].status is Status.OK
    assert len(doiweb.crossref.queries) == 3 + 1  # the batch, tried 3 times (FAST_RETRY), then the title


def test_dois_a_crossref_filter_cannot_hold_go_to_doi_org(doiweb: DoiWeb) -> None:
    """A DOI with a comma would split the filter list: it is asked at doi.org directly."""
    doi = "10.1000/a,b"
    doiweb.doi.registered[doi] = "https://example.org/ab"
    doiweb.crossref.titles["10.1000/plain"] = "T"
    sici = "10.1002/(SICI)1097-4636(199711)37:2<216::AID-JBM11>3.0.CO;2-O&x=1?y#z"  # reaches Crossref intact
    doiweb.crossref.titles[sici.lower()] = "T"
    links = [make_link(f"https://doi.org/{doi}"), make_link("https://doi.org/10.1000/plain"),
             make_link(f"https://doi.org/{sici.replace('#', '%23').replace('?', '%3F')}")]
    results = run_check(links, _batched(doiweb, 50))
    assert doiweb.crossref.batches == [["10.1000/plain", sici]]
    assert results[f"https://doi.org/{doi}"].status is Status.OK
    assert all("listed by Crossref" in results[link.url].detail for link in links[1:])
    assert doiweb.doi.paths == [f"/api/handles/{doi}"]
